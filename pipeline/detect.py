"""The detection stage: before/after tiles -> change polygons ("patches"), streamed with dask.

Three passes over the imagery, each bounded in memory by the chunk size:

1. **sample** a regular lattice of pixels (chunk-independent) and count valid / nodata / cloud
   pixels; fit the after-to-before gain/offset per band (:mod:`detection.normalize`);
2. **histogram** the change score (:mod:`detection.score`) of valid pixels and choose the
   threshold (Otsu with a floor, or the fixed number; :mod:`detection.threshold`);
3. **threshold, clean** with overlap between chunks (:mod:`detection.clean`) and **vectorise**
   per chunk, then join pieces across chunk borders and number the polygons in raster order of
   their first pixel (:mod:`detection.vectorize`).

The dask scheduler is whatever is active (threads by default, a ``distributed.Client`` when
one is set up by the caller). Tasks hold paths, not open files.
"""
from __future__ import annotations

import sys
import time
import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import dask
import geopandas as gpd
import numpy as np
from rasterio.errors import NotGeoreferencedWarning

from detection.chunked import clean_array, components_tasks, score_array, score_histogram
from detection.normalize import fit_gain_offset, sample_stride
from detection.score import reflectance_scale
from detection.threshold import choose_threshold
from detection.vectorize import merge_components, source_ids, to_map_coordinates
from pipeline.config import BANDS, DetectionConfig, ImageryConfig
from pipeline.imagery import Imagery, open_imagery

__all__ = ["COLUMNS", "detect_patches", "detect_on_imagery"]

COLUMNS = ["source_id", "mean_score", "geometry"]
#: pixels sampled for the radiometric normalisation
SAMPLE_TARGET = 250_000


@contextmanager
def _step(label: str, enabled: bool) -> Iterator[None]:
    """Announce a compute on stderr and show dask's progress bar (local schedulers)."""
    if not enabled:
        yield
        return
    from dask.diagnostics import ProgressBar

    print(f"detect: {label}", file=sys.stderr, flush=True)
    with ProgressBar(out=sys.stderr, minimum=1.0):
        yield


def detect_patches(
    imagery: ImageryConfig,
    detection: DetectionConfig,
    *,
    progress: bool = True,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Detect new-construction patches from the configured before/after tiles.

    Parameters
    ----------
    imagery
        Tiles, band indexes and cloud masks of both dates.
    detection
        Threshold, clean-up radii, minimum area and chunk size.
    progress
        Print the steps and dask progress bars on stderr.

    Returns
    -------
    patches : geopandas.GeoDataFrame
        Columns ``source_id, mean_score, geometry`` in the imagery grid's CRS, ordered by
        ``source_id``.
    stats : dict
        JSON-serialisable detection statistics (threshold, normalisation, pixel counts,
        polygons before/after the minimum-area filter, area dropped, grid, timings).

    Raises
    ------
    InputFileError, BadRasterError
        A tile or mask is missing or unusable (checked before any computation).
    """
    img = open_imagery(imagery, detection.chunk_px, max_grid_pixels=detection.max_grid_pixels)
    return detect_on_imagery(img, detection, progress=progress)


def detect_on_imagery(
    img: Imagery,
    detection: DetectionConfig,
    *,
    progress: bool = True,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """:func:`detect_patches` on already opened imagery."""
    grid = img.grid
    timings: dict[str, float] = {}
    data_valid = img.data_valid
    valid = data_valid & ~img.cloud

    # -- pass 1: sample for the normalisation, pixel counts
    t = time.perf_counter()
    stride = sample_stride(grid.height, grid.width, SAMPLE_TARGET)
    with _step("sampling pixels for the radiometric normalisation", progress):
        sb, sa, sv, n_data, n_cloud = dask.compute(
            img.before[:, ::stride, ::stride], img.after[:, ::stride, ::stride],
            valid[::stride, ::stride], data_valid.sum(), (data_valid & img.cloud).sum(),
        )
    sb, sa = sb[:, sv], sa[:, sv]
    gains, offsets, n_inliers = fit_gain_offset(sb, sa)
    p99 = float(np.percentile(sb[:3], 99)) if sb.size else None
    scale = reflectance_scale(img.before_dtype, p99)
    timings["sample_s"] = time.perf_counter() - t

    score = score_array(img.before, img.after, valid, gains, offsets, scale)

    # -- pass 2: threshold
    t = time.perf_counter()
    if isinstance(detection.threshold, str):
        counts, edges = score_histogram(score, valid)
        with _step("score histogram for the threshold", progress):
            (counts,) = dask.compute(counts)
        threshold, otsu = choose_threshold(detection.threshold, detection.min_threshold, counts, edges)
    else:
        threshold, otsu = choose_threshold(detection.threshold, detection.min_threshold)
    timings["threshold_s"] = time.perf_counter() - t

    # -- pass 3: mask, clean, vectorise per chunk; merge
    t = time.perf_counter()
    change = (score > np.float32(threshold)) & valid
    cleaned = clean_array(change, valid, detection.opening_radius_px, detection.closing_radius_px)
    tasks = components_tasks(cleaned, score)
    with _step("thresholding, cleaning and vectorising", progress), warnings.catch_warnings():
        # rasterio's shapes() in worker threads now and then emits a spurious
        # NotGeoreferencedWarning (a race inside rasterio; the coordinates are right). The filter is
        # set here, in the one thread that starts the compute, not in the workers.
        warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
        chunks = dask.compute(*tasks)
    comps = merge_components(list(chunks))
    timings["vectorise_s"] = time.perf_counter() - t

    # -- minimum area, ids, map coordinates
    areas = comps.pixels * grid.pixel_area
    keep = areas >= detection.min_area_m2 * (1 - 1e-12)
    kept = comps.select(keep)
    geoms = to_map_coordinates(kept.geometries, grid.transform)
    patches = gpd.GeoDataFrame(
        {"source_id": source_ids(len(kept)), "mean_score": kept.mean_scores.astype(np.float64)},
        geometry=gpd.GeoSeries(geoms, crs=grid.crs), crs=grid.crs,
    )[COLUMNS]

    total = grid.height * grid.width
    n_data, n_cloud = int(n_data), int(n_cloud)
    stats: dict[str, Any] = {
        "threshold": float(threshold),
        "threshold_method": "otsu" if otsu is not None else "fixed",
        "otsu_threshold": otsu,
        "min_threshold": float(detection.min_threshold),
        "gains": {b: float(g) for b, g in zip(BANDS, gains)},
        "offsets": {b: float(o) for b, o in zip(BANDS, offsets)},
        "normalisation_sample_pixels": int(sv.sum()),
        "normalisation_inlier_pixels": int(n_inliers),
        "normalisation_sample_stride": int(stride),
        "reflectance_scale": float(scale),
        "pixels_total": int(total),
        "pixels_valid": n_data - n_cloud,
        "pixels_nodata": int(total - n_data),
        "pixels_cloud": n_cloud,
        "pixels_changed": int(comps.pixels.sum()),
        "pixels_changed_kept": int(kept.pixels.sum()),
        "polygons_before_min_area": int(len(comps)),
        "polygons_after_min_area": int(len(kept)),
        "polygons_dropped": int(len(comps) - len(kept)),
        "area_dropped_m2": float(areas[~keep].sum()),
        "area_kept_m2": float(areas[keep].sum()),
        "min_area_m2": float(detection.min_area_m2),
        "grid_height": int(grid.height),
        "grid_width": int(grid.width),
        "grid_res": [float(r) for r in grid.res],
        "grid_crs": grid.crs.to_string(),
        "grid_transform": [float(v) for v in tuple(grid.transform)[:6]],
        "chunk_px": int(detection.chunk_px),
        "n_chunks": int(len(tasks)),
        "tiles_before": int(img.n_tiles[0]),
        "tiles_after": int(img.n_tiles[1]),
        "seconds": {k: round(v, 3) for k, v in timings.items()},
    }
    return patches, stats
