"""How land cover becomes digital numbers: class spectra, per-feature variation and brightness,
row and mottle textures, shadows, the later date's gain / offset, the cloud, pixel noise and the
DN step.

DN = surface reflectance x 10000; bands blue, green, red, NIR.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
from scipy import ndimage

from samplegen.frame import PIXEL_M
from samplegen.scene import CLOUD_FEATHER_M
from samplegen.sun import SHADOW_FACTOR

if TYPE_CHECKING:
    from samplegen.features import Feature

__all__ = [
    "BAND_NAMES", "SPECTRA", "LAND_COVER", "MATERIAL_CLASSES", "FALSE_CHANGE_CLASSES", "CLASSES",
    "TEXTURES", "FIELD_VARIATION_DN", "NOISE_SIGMA_DN", "DN_STEP", "GAIN", "OFFSET", "CLOUD_DN",
    "CLOUD_TEXTURE_DN", "ROW_BLOCK", "FURROW_PERIOD_PX", "Tables", "spectra_tables",
    "mottle_field", "cloud_alpha", "cloud_texture", "render", "finish",
]

BAND_NAMES = ("blue", "green", "red", "nir")
#: existing land cover
LAND_COVER = {
    "crop": (300, 600, 400, 3500),             # green crop
    "stubble": (1000, 1200, 1450, 2100),       # harvested: pale beige straw and soil
    "ploughed": (550, 700, 850, 1300),         # freshly ploughed: dark, moist brown soil
    "bare": (900, 1200, 1500, 2000),           # village yards
    "vegetation": (250, 500, 300, 3000),       # forest / grass
    "water": (600, 500, 300, 150),
    "built": (1500, 1550, 1600, 1800),         # roads, lanes
}
#: new construction (and, weathered, the roofs of existing houses)
MATERIAL_CLASSES = {
    "red_tile": (700, 900, 2000, 2700),        # red clay tile: red-sloped, R > G > B, NIR moderate
    "blue_steel": (2400, 2000, 1200, 1900),    # blue coated steel (彩钢瓦): B > G > R
    "white_steel": (3600, 3750, 3800, 3900),   # white coated steel: bright, flat
    "grey_concrete": (2000, 2150, 2300, 2500),  # grey concrete: flat, slightly rising
    "asphalt": (600, 650, 700, 750),           # dark asphalt: low and flat
    "earthworks": (1500, 1900, 2400, 2800),    # bare earthworks: bright subsoil, soil-like slope
}
#: surfaces only false changes bring
FALSE_CHANGE_CLASSES = {
    "plastic_film": (2300, 2450, 2450, 2900),  # greenhouse film over crops: bright, whitish
    "mudflat": (800, 900, 1000, 1200),         # riverbed exposed by low water: wet mud and sand
}
SPECTRA = {**LAND_COVER, **MATERIAL_CLASSES, **FALSE_CHANGE_CLASSES}
CLASSES = tuple(SPECTRA)
#: per class: texture (``furrows`` = stripes along the feature's rows, ``mottle`` = smooth
#: blotches) and its amplitude (fraction of the DN)
TEXTURES = {
    "stubble": ("furrows", 0.04), "ploughed": ("furrows", 0.08), "earthworks": ("mottle", 0.10),
    "red_tile": ("mottle", 0.05), "blue_steel": ("mottle", 0.02), "white_steel": ("mottle", 0.02),
    "grey_concrete": ("mottle", 0.03), "asphalt": ("mottle", 0.03),
    "plastic_film": ("mottle", 0.04), "mudflat": ("mottle", 0.06),
}
_TEXTURE_CODES = {"furrows": (1, 2), "mottle": (3, 3)}  # (rows along x, along y)
FURROW_PERIOD_PX = 3
MOTTLE_SIGMA_PX = 1.5
FIELD_VARIATION_DN = 150
NOISE_SIGMA_DN = 25
DN_STEP = 20           # DN are stored to 0.002 reflectance: keeps noisy tiles compressible
#: after = before * gain + offset, per band: another sun and atmosphere (lower, hazier)
GAIN = (0.92, 0.93, 0.95, 0.97)
OFFSET = (150, 110, 70, 30)
CLOUD_DN = (7300, 7200, 7100, 6900)
CLOUD_TEXTURE_DN = 600
ROW_BLOCK = 512        # rows synthesised at a time


@dataclass(frozen=True)
class Tables:
    """Per feature id (row 0 = no feature): DN, texture and height look-up tables."""

    #: per date: (n + 1, 4) float32 DN, class spectrum + variation, times the feature's factor
    dn: dict[str, np.ndarray]
    #: per date: (n + 1,) texture code (0 none, 1 stripes along x, 2 along y, 3 mottle)
    texture: dict[str, np.ndarray]
    #: per date: (n + 1,) float32 texture amplitude
    amplitude: dict[str, np.ndarray]
    #: (n + 1,) float32 building height (m)
    height: np.ndarray


def spectra_tables(features: Sequence[Feature], rng: np.random.Generator) -> Tables:
    """Look-up tables of the features, by id (feature ``k`` has id ``k + 1``).

    A feature keeps its variation when its class does not change between the dates.

    Parameters
    ----------
    features : sequence of Feature
    rng : numpy.random.Generator

    Returns
    -------
    Tables
    """
    spectra = np.array([SPECTRA[c] for c in CLASSES], dtype=np.float32)
    cls = {d: np.array([CLASSES.index(getattr(f, d)) for f in features], dtype=np.int64)
           for d in ("before", "after")}
    var_before = rng.uniform(-FIELD_VARIATION_DN, FIELD_VARIATION_DN, (len(features), 4))
    var_new = rng.uniform(-FIELD_VARIATION_DN, FIELD_VARIATION_DN, (len(features), 4))
    same = (cls["before"] == cls["after"])[:, None]
    variation = {"before": var_before, "after": np.where(same, var_before, var_new)}
    factor = {d: np.array([f.factor[k] for f in features], dtype=np.float32)[:, None]
              for k, d in enumerate(("before", "after"))}
    dn, texture, amplitude = {}, {}, {}
    for date in ("before", "after"):
        table = np.zeros((len(features) + 1, 4), dtype=np.float32)
        table[1:] = (spectra[cls[date]] + variation[date]) * factor[date]
        dn[date] = table
        codes = np.zeros(len(features) + 1, dtype=np.int8)
        amps = np.zeros(len(features) + 1, dtype=np.float32)
        for k, f in enumerate(features, start=1):
            kind_amp = TEXTURES.get(getattr(f, date))
            if kind_amp is not None:
                codes[k] = _TEXTURE_CODES[kind_amp[0]][0 if f.along_x else 1]
                amps[k] = kind_amp[1]
        texture[date], amplitude[date] = codes, amps
    height = np.zeros(len(features) + 1, dtype=np.float32)
    height[1:] = [f.height_m for f in features]
    return Tables(dn=dn, texture=texture, amplitude=amplitude, height=height)


def mottle_field(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Fine blotches in about [-1, 1] (roof weathering, tracks on earthworks).

    Parameters
    ----------
    shape : tuple of int
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray of float32
    """
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), MOTTLE_SIGMA_PX)
    return np.clip(field / (2 * field.std()), -1, 1)


def cloud_alpha(cloud: np.ndarray) -> np.ndarray:
    """Cloud opacity: 0 outside the mask, rising smoothly to 1 over the feather distance.

    Parameters
    ----------
    cloud : numpy.ndarray of bool
        The cloud mask.

    Returns
    -------
    numpy.ndarray of float32
    """
    inside = ndimage.distance_transform_edt(cloud) * PIXEL_M / CLOUD_FEATHER_M
    t = np.clip(inside, 0, 1).astype(np.float32)
    return t * t * (3 - 2 * t)


def cloud_texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A smooth field in about [-1, 1] that makes the cloud lumpy.

    Parameters
    ----------
    shape : tuple of int
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray of float32
    """
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), 6)
    return np.clip(field / (3 * field.std()), -1, 1)


def render(tables: Tables, date: str, ids: np.ndarray, shadow: np.ndarray, mottle: np.ndarray,
           rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Noise-free DN of the pixels ``rows`` x ``cols`` of a scene, as (4, len(rows), len(cols)).

    Parameters
    ----------
    tables : Tables
    date : str
        Whose tables to use (``before`` or ``after``).
    ids, shadow, mottle : numpy.ndarray
        The scene's feature ids, shadow mask and mottle field (full size).
    rows, cols : numpy.ndarray of int
        Source pixel indexes (a shifted date reads its content from other pixels).

    Returns
    -------
    numpy.ndarray of float32
    """
    grid = np.ix_(rows, cols)
    f = ids[grid]
    code = tables.texture[date][f]
    stripes_x = np.cos(2 * np.pi * rows / FURROW_PERIOD_PX).astype(np.float32)[:, None]
    stripes_y = np.cos(2 * np.pi * cols / FURROW_PERIOD_PX).astype(np.float32)[None, :]
    pattern = np.where(code == 1, stripes_x,
                       np.where(code == 2, stripes_y, np.where(code == 3, mottle[grid], 0)))
    dn = tables.dn[date][f] * (1 + tables.amplitude[date][f] * pattern)[..., None]
    dn = np.where(shadow[grid][..., None], dn * np.asarray(SHADOW_FACTOR, np.float32), dn)
    return np.moveaxis(dn.astype(np.float32), -1, 0)


def finish(dn: np.ndarray, valid: np.ndarray, rng: np.random.Generator,
           cloud: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Noise-free DN of one date's rows to stored uint16.

    The later date gets ``GAIN`` and ``OFFSET`` and the cloud blended in; then noise is added
    and DN are rounded to ``DN_STEP``, 0 outside the footprint.

    Parameters
    ----------
    dn : numpy.ndarray of float32
        (4, rows, cols).
    valid : numpy.ndarray of bool
        The date's footprint over the same rows.
    rng : numpy.random.Generator
    cloud : tuple of numpy.ndarray or None
        (alpha, texture) over the same rows for the later date; None for the earlier.

    Returns
    -------
    numpy.ndarray of uint16
    """
    if cloud is not None:
        gain = np.array(GAIN, dtype=np.float32)[:, None, None]
        offset = np.array(OFFSET, dtype=np.float32)[:, None, None]
        cloud_dn = np.array(CLOUD_DN, dtype=np.float32)[:, None, None]
        alpha, texture = cloud
        cloud_top = cloud_dn + CLOUD_TEXTURE_DN * texture
        dn = (dn * gain + offset) * (1 - alpha) + cloud_top * alpha
    dn = dn + NOISE_SIGMA_DN * rng.standard_normal(dn.shape, dtype=np.float32)
    dn = np.clip(np.rint(dn / DN_STEP) * DN_STEP, DN_STEP, 65530)
    return np.where(valid, dn, 0).astype(np.uint16)
