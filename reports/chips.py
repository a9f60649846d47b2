"""Before / after image chips of the patches (举证截图): pure rendering from numpy arrays.

A chip is the small window of imagery around one patch piece, on both dates, in
true colour (red, green, blue), with the patch outline drawn. Both dates share
ONE stretch: per band, the 2nd and 98th percentiles of the valid pixels of the two
chips together map to 0 and 255. A change therefore shows as a change of colour
or brightness; it is never stretched away (a stretch per date would make a
uniformly brighter after-image look like the before-image).

This module knows nothing of files or rasters: :class:`ChipPair` carries the two
windows as arrays and the outline in pixel coordinates of the window; reading the
windows from the imagery is ``pipeline.chips_io``'s job. The field packages write
the chips as PNG (``chips/<JCBH>_before.png``, ``chips/<JCBH>_after.png``) and draw
the same stretched pixels on the printable sheet.
"""
from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "CHIP_DIR", "STRETCH_PERCENTILES", "OUTLINE_RGB", "NODATA_RGB", "ChipPair", "ChipSource",
    "StretchedPair", "stretch_limits", "stretch", "stretch_pair", "display_scale", "render_png",
    "chip_pngs", "chip_names", "safe_file_stem",
]

CHIP_DIR = "chips"
"""Folder of the chips inside a field package."""

STRETCH_PERCENTILES: tuple[float, float] = (2.0, 98.0)
"""Percentiles of the valid pixels of both dates (per band) mapped to 0 and 255."""

OUTLINE_RGB: tuple[int, int, int] = (255, 255, 0)
"""Colour of the patch outline (yellow: visible on vegetation, bare soil and red roofs)."""

NODATA_RGB: tuple[int, int, int] = (200, 200, 200)
"""Colour of pixels without data in either band (outside every tile, nodata, mask)."""

TARGET_PX = 360
"""A small chip is enlarged (whole pixels, no smoothing) to about this many pixels on its long side."""

MAX_SCALE = 16
"""Largest enlargement factor."""

MAX_PX = 1200
"""A chip larger than this on its long side is reduced (every k-th pixel) to fit."""

OUTLINE_WIDTH_PX = 2
"""Width of the outline in the PNG, in output pixels."""


@dataclass(frozen=True)
class ChipPair:
    """The imagery around one patch piece on both dates, and the piece's outline.

    Attributes
    ----------
    before, after
        ``(3, h, w)`` float arrays in the order red, green, blue; NaN = no data.
        Both have the same shape (the same window of one grid).
    rings
        The outline: every ring (exteriors and holes) as an ``(n, 2)`` array of
        ``(column, row)`` in pixels of the window, ``(0, 0)`` being the top-left
        corner of its top-left pixel (pixel edges, not centres).
    pixel_size
        Size of one pixel in metres, when known (written on the sheet).
    """

    before: np.ndarray
    after: np.ndarray
    rings: tuple[np.ndarray, ...] = field(default_factory=tuple)
    pixel_size: float | None = None

    def __post_init__(self) -> None:
        b, a = np.asarray(self.before), np.asarray(self.after)
        if b.ndim != 3 or b.shape[0] != 3:
            raise ValueError(f"before must be (3, h, w) red, green, blue, got shape {b.shape}")
        if a.shape != b.shape:
            raise ValueError(f"before {b.shape} and after {a.shape} differ in shape")
        rings = tuple(np.asarray(r, dtype=float).reshape(-1, 2) for r in self.rings)
        object.__setattr__(self, "before", b)
        object.__setattr__(self, "after", a)
        object.__setattr__(self, "rings", rings)

    @property
    def shape(self) -> tuple[int, int]:
        """``(h, w)`` of the window."""
        return int(self.before.shape[1]), int(self.before.shape[2])


ChipSource = Callable[[Any, Any], "ChipPair | None"]
"""``source(geometry, crs) -> ChipPair | None``: the chips of a piece given as a shapely
geometry in ``crs`` (anything ``pyproj.CRS`` accepts); None when the imagery does not cover it."""


@dataclass(frozen=True)
class StretchedPair:
    """Both dates of a chip stretched alike: ``(h, w, 3)`` uint8 each, and the outline.

    ``lo`` / ``hi`` are the per-band values (red, green, blue) mapped to 0 / 255;
    ``step`` says every how many pixels were kept (1 unless the window was larger
    than :data:`MAX_PX`); ``rings`` are in pixels of the (reduced) arrays.
    """

    before: np.ndarray
    after: np.ndarray
    rings: tuple[np.ndarray, ...]
    lo: np.ndarray
    hi: np.ndarray
    step: int = 1
    pixel_size: float | None = None


def stretch_limits(before: np.ndarray, after: np.ndarray,
                   percentiles: Sequence[float] = STRETCH_PERCENTILES) -> tuple[np.ndarray, np.ndarray]:
    """Per-band ``(lo, hi)`` from the union of the valid pixels of both dates.

    A band with no valid pixel gets ``(0, 1)``; one whose percentiles coincide
    (a flat band) gets ``hi = lo + 1``, so nothing divides by zero.
    """
    n = before.shape[0]
    lo = np.zeros(n)
    hi = np.ones(n)
    for k in range(n):
        values = np.concatenate([before[k].ravel(), after[k].ravel()]).astype(np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        lo[k], hi[k] = np.percentile(values, [percentiles[0], percentiles[1]])
        if not hi[k] > lo[k]:
            hi[k] = lo[k] + 1.0
    return lo, hi


def stretch(image: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``(3, h, w)`` floats -> ``(h, w, 3)`` uint8: linear from ``lo`` (0) to ``hi`` (255), clipped.

    A pixel where any band is not finite gets :data:`NODATA_RGB`.
    """
    img = np.asarray(image, dtype=np.float64)
    scaled = (img - lo[:, None, None]) / (hi - lo)[:, None, None] * 255.0
    out = np.clip(np.rint(np.nan_to_num(scaled, nan=0.0)), 0, 255).astype(np.uint8)
    out = np.moveaxis(out, 0, -1).copy()
    nodata = ~np.isfinite(img).all(axis=0)
    out[nodata] = NODATA_RGB
    return out


def stretch_pair(pair: ChipPair, percentiles: Sequence[float] = STRETCH_PERCENTILES) -> StretchedPair:
    """Stretch both dates of ``pair`` with the same per-band limits (see the module docstring).

    A window larger than :data:`MAX_PX` on its long side is reduced to every k-th
    pixel first (the outline is scaled alike).
    """
    h, w = pair.shape
    step = max(1, math.ceil(max(h, w) / MAX_PX))
    before = pair.before[:, ::step, ::step]
    after = pair.after[:, ::step, ::step]
    lo, hi = stretch_limits(before, after, percentiles)
    rings = tuple(r / step for r in pair.rings)
    return StretchedPair(stretch(before, lo, hi), stretch(after, lo, hi), rings, lo, hi, step,
                         None if pair.pixel_size is None else pair.pixel_size * step)


def display_scale(height: int, width: int) -> int:
    """Whole-pixel enlargement of a chip for the PNG: about :data:`TARGET_PX` on the long side."""
    side = max(1, height, width)
    return int(min(MAX_SCALE, max(1, round(TARGET_PX / side))))


def render_png(rgb: np.ndarray, rings: Sequence[np.ndarray], scale: int | None = None) -> bytes:
    """A PNG of ``rgb`` (``(h, w, 3)`` uint8) enlarged ``scale`` times with ``rings`` drawn.

    ``rings`` are in pixels of ``rgb`` (pixel edges). The PNG carries no time or
    software stamp: the same pixels give the same bytes.
    """
    from PIL import Image, ImageDraw

    h, w = rgb.shape[:2]
    s = display_scale(h, w) if scale is None else int(scale)
    big = np.repeat(np.repeat(rgb, s, axis=0), s, axis=1) if s > 1 else rgb
    image = Image.fromarray(np.ascontiguousarray(big), mode="RGB")
    draw = ImageDraw.Draw(image)
    W, H = image.size
    for ring in rings:
        if len(ring) < 2:
            continue
        pts = np.asarray(ring, dtype=float) * s
        pts[:, 0] = np.clip(pts[:, 0], 0, W - 1)
        pts[:, 1] = np.clip(pts[:, 1], 0, H - 1)
        draw.line([(float(x), float(y)) for x, y in pts], fill=OUTLINE_RGB, width=OUTLINE_WIDTH_PX,
                  joint="curve")
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def chip_pngs(stretched: StretchedPair) -> tuple[bytes, bytes]:
    """The before and after PNGs of a stretched chip, at the same enlargement."""
    h, w = stretched.before.shape[:2]
    s = display_scale(h, w)
    return render_png(stretched.before, stretched.rings, s), render_png(stretched.after, stretched.rings, s)


_UNSAFE = re.compile(r"[^0-9A-Za-z._-]")


def safe_file_stem(text: str) -> str:
    """``text`` usable as a file name on every system: characters other than ASCII letters,
    digits, ``.``, ``_`` and ``-`` become ``_`` (a JCBH made by landcheck is unchanged)."""
    stem = _UNSAFE.sub("_", str(text)).strip(".")
    return stem or "_"


def chip_names(jcbh: str) -> tuple[str, str]:
    """``("chips/<JCBH>_before.png", "chips/<JCBH>_after.png")`` (see :func:`safe_file_stem`)."""
    stem = safe_file_stem(jcbh)
    return f"{CHIP_DIR}/{stem}_before.png", f"{CHIP_DIR}/{stem}_after.png"
