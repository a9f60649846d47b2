"""A per-pixel change score for NEW CONSTRUCTION from two 4-band (blue, green, red, NIR) dates.

Physical reasoning
------------------
What the enforcement check looks for is land that became an artificial surface: concrete,
asphalt, steel or plastic roofing. In the visible-NIR bands such surfaces are

* **bright in blue** -- concrete, cement and painted/coated steel reflect 0.15-0.35 in blue,
  while the covers they replace absorb it: chlorophyll (crop, grass, forest: ~0.03) and the
  iron oxides of soil (~0.05-0.10, soils are darkest in blue);
* **spectrally flat or bluish across the visible** -- red about equal to or below blue, whereas
  soil reflectance climbs steeply from blue to red (iron oxides), so ``(R - B) / (R + B)`` is
  ~0.2-0.4 for soil and ~0-0.1 for concrete, below 0 for blue roofs;
* **not vegetated** -- NDVI below ~0.15.

The seasonal swap of farmland between green crop and bare soil changes brightness a lot (all
visible bands rise when a crop is harvested), so "got brighter" alone is not construction. It
fails the second test: the after state is red-sloped soil. A soil -> crop swap lowers blue and
ends vegetated. So the score is a **fuzzy AND** of "blue got brighter" and "the after surface
looks artificial"::

    score = max(B_after - B_before, 0)            # blue reflectance gained, 0..1
            * clip((0.35 - NDVI_after) / 0.20, 0, 1)   # 1 when not vegetated (NDVI <= 0.15)
            * clip((0.20 - RED_after) / 0.10, 0, 1)    # 1 when not red-sloped (RED <= 0.10)

with ``RED = (R - B) / (R + B)`` the visible slope of the after date. Reflectance is
``DN / scale`` (see :func:`reflectance_scale`). The blue gain compares the dates, so it is taken
after bringing the after date onto the before date (:mod:`detection.normalize`): a pure
gain/offset difference scores 0 and a byte-identical pair scores exactly 0. The two after-state
tests are band ratios of the after date *as delivered*: they need no normalisation, and a poor
one (real scenes where most of the land changed) cannot turn a green field grey. The score is in blue-reflectance units: 0.1 means the
blue band gained 10 % reflectance on a surface that now looks artificial, which is what the
``min_threshold`` floor (default 0.08) reads as. Invalid pixels (NaN, cloud) score 0.

Limits, kept on purpose: red clay-tile and red-brick roofs are red-sloped and score low (four
bands cannot tell them from soil without texture); pale sand/limestone exposed by earthworks
is flat and bright and scores high (a real construction site usually starts like that); dark
asphalt laid on dark ground gains little blue. Water and shadows are not special-cased: they
gain no blue.

Every operation is elementwise IEEE arithmetic, so the value of a pixel does not depend on the
chunk it is computed in.
"""
from __future__ import annotations

import numpy as np

from detection.normalize import apply_gain_offset

__all__ = [
    "NDVI_VEGETATED",
    "NDVI_BARE",
    "RED_SOIL",
    "RED_FLAT",
    "reflectance_scale",
    "normalized_difference",
    "construction_score",
]

#: NDVI from which a surface counts as fully vegetated (membership 0).
NDVI_VEGETATED = 0.35
#: NDVI up to which a surface counts as fully bare (membership 1).
NDVI_BARE = 0.15
#: visible slope (R - B) / (R + B) from which a surface counts as soil (membership 0).
RED_SOIL = 0.20
#: visible slope up to which a surface counts as spectrally flat (membership 1).
RED_FLAT = 0.10

BLUE, GREEN, RED, NIR = 0, 1, 2, 3


def reflectance_scale(dtype: str | np.dtype, p99: float | None = None) -> float:
    """DN value that stands for reflectance 1.0, guessed from the tile data type.

    ``uint8`` imagery is full-scale 255; other integer types are taken as reflectance x 10000
    (Sentinel-2 L2A, GF/ZY L2 products); floating point is taken as reflectance unless its 99th
    percentile ``p99`` is above 2 (then x 10000 as well).

    Parameters
    ----------
    dtype
        Data type of the tiles.
    p99
        99th percentile of the visible bands, for floating-point tiles.
    """
    dt = np.dtype(dtype)
    if dt == np.uint8:
        return 255.0
    if np.issubdtype(dt, np.integer):
        return 10000.0
    if p99 is not None and p99 > 2.0:
        return 10000.0
    return 1.0


def normalized_difference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(x - y) / (x + y)``, 0 where ``x + y <= 0``; float32."""
    x = x.astype(np.float32, copy=False)
    y = y.astype(np.float32, copy=False)
    s = x + y
    out = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.float32)
    np.divide(x - y, s, out=out, where=s > 0)
    return out


def _ramp_down(x: np.ndarray, full: float, zero: float) -> np.ndarray:
    """1 for ``x <= full``, 0 for ``x >= zero``, linear between; float32."""
    return np.clip((np.float32(zero) - x) / np.float32(zero - full), 0, 1).astype(np.float32)


def construction_score(
    before: np.ndarray,
    after: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    scale: float = 10000.0,
    gains: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
) -> np.ndarray:
    """Per-pixel new-construction score (see the module docstring).

    Parameters
    ----------
    before, after
        ``(4, rows, cols)`` blue, green, red, NIR in DN, each date as delivered. NaN marks an
        invalid pixel.
    valid
        Optional ``(rows, cols)`` bool; pixels outside it score 0.
    scale
        DN per unit reflectance of the before date (:func:`reflectance_scale`).
    gains, offsets
        ``after = gain * before + offset`` per band (:func:`detection.normalize.fit_gain_offset`);
        the blue gain is measured after bringing ``after`` onto ``before`` with them. The
        after-state tests (NDVI, visible slope) are ratios of the after date itself, so an
        imperfect normalisation cannot turn a green field into a grey one.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` float32, >= 0, 0 where invalid.
    """
    if before.shape != after.shape or before.ndim != 3 or before.shape[0] != 4:
        raise ValueError(f"before/after must both be (4, rows, cols), got {before.shape} and {after.shape}")
    blue_after = after[BLUE:BLUE + 1]
    if gains is not None and offsets is not None:
        blue_after = apply_gain_offset(blue_after, np.asarray(gains)[BLUE:BLUE + 1],
                                       np.asarray(offsets)[BLUE:BLUE + 1])
    inv = np.float32(1.0 / scale)
    blue_gain = (blue_after[0].astype(np.float32) - before[BLUE].astype(np.float32)) * inv
    not_veg = _ramp_down(normalized_difference(after[NIR], after[RED]), NDVI_BARE, NDVI_VEGETATED)
    not_soil = _ramp_down(normalized_difference(after[RED], after[BLUE]), RED_FLAT, RED_SOIL)
    score = np.maximum(blue_gain, np.float32(0)) * not_veg * not_soil
    ok = np.isfinite(score)
    if valid is not None:
        ok &= valid
    return np.where(ok, score, np.float32(0)).astype(np.float32, copy=False)
