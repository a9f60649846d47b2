"""Object-level test on segments of the after date: is a patch an object, or a piece of a field?

A new roof, yard or road is an object of its own in the after image: graph segmentation of the
after date (Felzenszwalb & Huttenlocher 2004, the segments of ``skimage.segmentation.felzenszwalb``
measured by :func:`detection.graph_segments.touched_segment_pixels`) gives it segments that the
patch mostly covers. The largest false alarms on farmland are fragments of a
whole field that changed (harvested, ploughed, gone bare and bright): the patch is the part of
the field where the probability happened to cross the threshold, and the after-date segment it
lies in is the whole field, many times larger than the patch.

:func:`segment_coverage` measures, for one patch, the share of the after-date segments it
touches that it covers; :func:`patch_windows` gives the window of the after date each patch is
judged on (the patch's box plus :data:`WINDOW_MARGIN` times its extent on each side, so the
result does not depend on chunks or tiles; a window three times the patch's extent costs a third of
one five times it, with the same results in the replay). A patch is dropped below
:data:`MIN_SEGMENT_COVERAGE`. Chosen with ``bench/quick_segments.py`` (docs/benchmarks.md):
on the held-out eastern half of NAIP North Dakota it took the pairs at or under 1 % flagged from
39 to 42 of 45 at an unchanged LEVIR F1.

A window above :data:`MAX_WINDOW_PX` is segmented block-averaged (:func:`decimation`,
:func:`block_mean`), the patch rasterised on the same coarser pixels: segmentation costs about a
microsecond a pixel, and on a 144 Mpx pair of real texture the whole windows of a few hundred
field-sized patches took 154 s, against 40 s for the GDAL chain's whole detection. A cap of
256 x 256 px gave the same ``make eval`` NAIP figures and one LEVIR false alarm fewer; the cap of
8,192 px (about 90 x 90) the same NAIP figures again and LEVIR precision 0.51 -> 0.53 at the
same recall and F1 (``min_area_m2: auto``), with the same decision on every patch of the 144 Mpx
pair in half the time (docs/benchmarks.md, 2026-11-22).
"""
from __future__ import annotations

import math
import threading
from typing import Callable

import numpy as np

from detection.graph_segments import touched_segment_pixels

__all__ = [
    "MAX_WINDOW_PX",
    "MIN_SEGMENT_COVERAGE",
    "SEGMENT_MIN_M2",
    "SEGMENT_SCALE",
    "SEGMENT_SIGMA",
    "WINDOW_MARGIN",
    "block_mean",
    "coverage_of_patches",
    "decimation",
    "patch_windows",
    "rasterize_polygon",
    "segment_coverage",
    "stretch_limits",
]

#: Felzenszwalb scale (larger = larger segments), on bands stretched to 0-1
SEGMENT_SCALE = 50.0
#: Gaussian pre-smoothing of the segmentation, pixels
SEGMENT_SIGMA = 0.8
#: smallest segment, m² (at least 4 pixels)
SEGMENT_MIN_M2 = 25.0
#: a patch covering less than this share of its after-date segments is a piece of a larger change
MIN_SEGMENT_COVERAGE = 0.15
#: the window of a patch reaches this many times the patch's extent beyond its box on each side
WINDOW_MARGIN = 1.0
#: the window reaches at least this many pixels beyond the patch's box
MIN_MARGIN_PX = 16
#: a larger window is segmented block-averaged by the smallest whole factor that brings it under
#: this many pixels (segmentation costs about a microsecond a pixel: without a cap, the windows of
#: a few field-sized patches cost more than the rest of detection; chosen on the real pairs, see
#: the module docstring)
MAX_WINDOW_PX = 8192
#: patches judged one after another in one GDAL environment (threads take batches in turn)
JUDGED_PER_BATCH = 16
#: patches are judged in the row-major order of their windows' centres on a lattice of this step
JUDGING_LATTICE_PX = 1024


def stretch_limits(sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band 1st and 99th percentiles of a ``(bands, n)`` sample of the after date (NaN ignored).

    The stretch is the scene's, so a patch is segmented the same way whatever window holds it.
    """
    x = np.asarray(sample, dtype=np.float64)
    lo = np.nanpercentile(x, 1, axis=1) if x.shape[1] else np.zeros(x.shape[0])
    hi = np.nanpercentile(x, 99, axis=1) if x.shape[1] else np.ones(x.shape[0])
    lo = np.nan_to_num(lo, nan=0.0)
    hi = np.nan_to_num(hi, nan=1.0)
    return lo, np.maximum(hi, lo + 1e-6)


def patch_windows(bounds: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(m, 4)`` int windows ``row0, row1, col0, col1`` of the after date for each patch.

    Parameters
    ----------
    bounds
        ``(m, 4)`` patch boxes in grid pixel coordinates ``xmin, ymin, xmax, ymax`` (x = column).
    shape
        ``(rows, cols)`` of the grid; windows are clipped to it.
    """
    b = np.asarray(bounds, dtype=np.float64).reshape(-1, 4)
    ext = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    margin = np.maximum(np.ceil(WINDOW_MARGIN * ext), MIN_MARGIN_PX)
    c0 = np.clip(np.floor(b[:, 0] - margin), 0, shape[1])
    c1 = np.clip(np.ceil(b[:, 2] + margin), 0, shape[1])
    r0 = np.clip(np.floor(b[:, 1] - margin), 0, shape[0])
    r1 = np.clip(np.ceil(b[:, 3] + margin), 0, shape[0])
    return np.stack([r0, r1, c0, c1], axis=1).astype(np.int64)


def segment_coverage(after: np.ndarray, patch: np.ndarray, *, lo: np.ndarray, hi: np.ndarray,
                     pixel_size_m: float) -> float:
    """Share of the after-date segments touched by ``patch`` that the patch covers.

    Parameters
    ----------
    after
        ``(bands, h, w)`` after-date window (any band order, NaN = no data; the first three
        bands are used).
    patch
        ``(h, w)`` bool, the patch's pixels in the window.
    lo, hi
        Per-band stretch limits (:func:`stretch_limits`) of the first three bands.
    pixel_size_m
        Ground pixel size, for the smallest segment.

    Returns 1.0 for an empty patch (nothing to judge).
    """
    patch = np.asarray(patch, dtype=bool)
    n = int(np.count_nonzero(patch))
    if n == 0:
        return 1.0
    x = np.asarray(after[:3], dtype=np.float64)
    lo3 = np.asarray(lo, dtype=np.float64)[:3, None, None]
    hi3 = np.asarray(hi, dtype=np.float64)[:3, None, None]
    rgb = np.clip((np.nan_to_num(x, nan=0.0) - lo3) / (hi3 - lo3), 0.0, 1.0).transpose(1, 2, 0)
    min_px = max(4, int(round(SEGMENT_MIN_M2 / float(pixel_size_m) ** 2)))
    # skimage's felzenszwalb(rgb, SEGMENT_SCALE, SEGMENT_SIGMA, min_px), without its label image
    touched = touched_segment_pixels(rgb, patch, scale=SEGMENT_SCALE, sigma=SEGMENT_SIGMA,
                                     min_size=min_px)
    return float(n / touched)


def decimation(height: int, width: int) -> int:
    """The block-averaging factor of a ``height x width`` window: 1 up to :data:`MAX_WINDOW_PX`,
    else the smallest whole factor that brings it under."""
    area = int(height) * int(width)
    if area <= MAX_WINDOW_PX:
        return 1
    f = max(2, math.isqrt(area // MAX_WINDOW_PX))
    while math.ceil(height / f) * math.ceil(width / f) > MAX_WINDOW_PX:
        f += 1
    return f


def block_mean(values: np.ndarray, factor: int) -> np.ndarray:
    """``(bands, h, w)`` averaged over ``factor x factor`` blocks (the last ones partial), NaN
    ignored; a block without any valid value is NaN."""
    x = np.asarray(values, dtype=np.float64)
    if factor == 1:
        return x
    b, h, w = x.shape
    nb, mb = math.ceil(h / factor), math.ceil(w / factor)
    valid = np.isfinite(x)
    all_valid = bool(valid.all())
    padded = np.zeros((b, nb * factor, mb * factor))  # what is not a valid value adds 0
    if all_valid:
        padded[:, :h, :w] = x
        # the pixels of each block: whole blocks but for the last row and column of blocks
        rows = np.minimum(factor, h - factor * np.arange(nb))
        cols = np.minimum(factor, w - factor * np.arange(mb))
        count = np.broadcast_to(np.outer(rows, cols), (b, nb, mb))
    else:
        np.copyto(padded[:, :h, :w], x, where=valid)
        in_blocks = np.zeros(padded.shape, dtype=np.int32)
        in_blocks[:, :h, :w] = valid
        count = in_blocks.reshape(b, nb, factor, mb, factor).sum(axis=(2, 4))
    total = padded.reshape(b, nb, factor, mb, factor).sum(axis=(2, 4))
    if all_valid:
        return total / count
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def rasterize_polygon(polygon, shape: tuple[int, int], *, factor: int = 1, row0: int = 0,
                      col0: int = 0) -> np.ndarray:
    """``(h, w)`` bool: the pixels of a window that a (multi)polygon in grid pixel coordinates
    covers, as ``rasterio.features.rasterize`` burns them (``all_touched=False``).

    The window's pixel ``(i, j)`` is the grid's ``factor x factor`` block whose corner is grid
    pixel ``(row0 + factor * i, col0 + factor * j)`` (the transform ``Affine(factor, 0, col0, 0,
    factor, row0)``). A pixel is burnt when its centre lies inside, with GDAL's rule for centres
    on an edge (:func:`detection.numba_kernels.fill_polygon`): the same pixels as rasterio's call,
    tested on random polygons with holes and on every patch of a 144 Mpx pair, without a GDAL
    dataset, environment and geometry built per call (rasterio took about 1 ms a patch).
    """
    import shapely

    if polygon is not None and shapely.get_type_id(polygon) not in (-1, 3, 6):  # None, Polygon, MultiPolygon
        raise ValueError(f"rasterize_polygon takes a polygon, got {polygon.geom_type}")
    rings = _Rings.of(np.array([polygon], dtype=object))
    return rings.burn(0, shape, factor=factor, row0=row0, col0=col0)


class _Rings:
    """The ring vertices of many polygons, extracted at once (one shapely call each for all of
    them, not per polygon): polygon ``k``'s rings are ``ring_start[k]:ring_start[k + 1]``."""

    def __init__(self, x: np.ndarray, y: np.ndarray, ring_end: np.ndarray, ring_start: np.ndarray) -> None:
        self.x, self.y, self.ring_end, self.ring_start = x, y, ring_end, ring_start

    @classmethod
    def of(cls, polygons: np.ndarray) -> "_Rings":
        import shapely

        parts, part_of = shapely.get_parts(polygons, return_index=True)
        rings, ring_of = shapely.get_rings(parts, return_index=True)
        xy = shapely.get_coordinates(rings)
        ring_end = np.cumsum(shapely.get_num_coordinates(rings)).astype(np.int64)
        polygon_of_ring = part_of[ring_of]
        ring_start = np.searchsorted(polygon_of_ring, np.arange(len(polygons) + 1)).astype(np.int64)
        return cls(np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1]), ring_end, ring_start)

    def burn(self, k: int, shape: tuple[int, int], *, factor: int, row0: int, col0: int) -> np.ndarray:
        """Polygon ``k`` burnt as :func:`rasterize_polygon` burns it."""
        from detection.numba_kernels import fill_polygon

        out = np.zeros(shape, dtype=np.uint8)
        r0, r1 = self.ring_start[k], self.ring_start[k + 1]
        if r1 > r0:
            v0 = self.ring_end[r0 - 1] if r0 > 0 else 0
            v1 = self.ring_end[r1 - 1]
            f = float(factor)
            # GDAL's inverse of the window's geotransform (its no-rotation case), so that a
            # vertex on a pixel's centre line falls where GDAL's arithmetic puts it
            inv = np.array([-float(col0) / f, 1.0 / f, -float(row0) / f, 1.0 / f])
            fill_polygon(self.x[v0:v1], self.y[v0:v1], self.ring_end[r0:r1] - v0, inv, out)
        return out.view(bool)


def coverage_of_patches(geometries: np.ndarray, read_after, shape: tuple[int, int], *, lo: np.ndarray,
                        hi: np.ndarray, pixel_size_m: float, threads: int = 1,
                        on_judged: Callable[[int], None] | None = None) -> np.ndarray:
    """:func:`segment_coverage` of each patch polygon on its own after-date window.

    Parameters
    ----------
    geometries
        ``(m,)`` patch polygons in grid pixel coordinates (x = column, y = row).
    read_after
        ``read_after(row0, row1, col0, col1) -> (bands, h, w)`` float array of the after date
        (on the before date's grid, misregistration corrected); called from ``threads`` threads
        at once when ``threads > 1``.
    shape
        ``(rows, cols)`` of the grid.
    lo, hi, pixel_size_m
        As for :func:`segment_coverage`.
    threads
        Patches judged at once (each patch is independent, so the result is the same; the
        segmentation releases the GIL for most of its time: 1.7-1.9x on 2 cores).
    on_judged
        Called with ``n`` as each ``n`` more patches are judged (from the judging threads, one
        call at a time), for a progress bar.
    """
    import rasterio
    import shapely

    geoms = np.asarray(geometries, dtype=object)
    out = np.ones(len(geoms), dtype=np.float64)
    if len(geoms) == 0:
        return out
    reported = threading.Lock()
    windows = patch_windows(shapely.bounds(geoms), shape)
    rings = _Rings.of(geoms)

    def judge(i: int) -> float:
        r0, r1, c0, c1 = (int(v) for v in windows[i])
        if r1 <= r0 or c1 <= c0:
            return 1.0
        f = decimation(r1 - r0, c1 - c0)
        after = block_mean(read_after(r0, r1, c0, c1)[:3], f)  # the bands segmented
        patch = rings.burn(i, after.shape[1:], factor=f, row0=r0, col0=c0)
        return segment_coverage(after, patch, lo=lo, hi=hi, pixel_size_m=pixel_size_m * f)

    def judge_batch(batch: np.ndarray) -> list[float]:
        # one GDAL environment for the batch: entered per window read by the reader otherwise,
        # starting it looks up GDAL's data paths on disk each time
        with rasterio.Env():
            judged = [judge(i) for i in batch]
        if on_judged is not None:
            with reported:
                on_judged(len(batch))
        return judged

    # judged in the order of their windows' places on a coarse lattice, so that patches judged
    # one after another read the same part of the after date (the result is the same in any order)
    lattice = np.stack([(windows[:, 0] + windows[:, 1]) // (2 * JUDGING_LATTICE_PX),
                        (windows[:, 2] + windows[:, 3]) // (2 * JUDGING_LATTICE_PX)])
    order = np.lexsort(lattice[::-1])
    batches = [order[i:i + JUDGED_PER_BATCH] for i in range(0, len(geoms), JUDGED_PER_BATCH)]
    if threads > 1 and len(batches) > 1:
        from concurrent.futures import ThreadPoolExecutor

        workers = min(int(threads), len(batches))
        with ThreadPoolExecutor(workers, thread_name_prefix="landcheck-objects") as pool:
            out[order] = [c for batch in pool.map(judge_batch, batches) for c in batch]
    else:
        out[order] = [c for batch in map(judge_batch, batches) for c in batch]
    return out
