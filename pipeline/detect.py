"""The detection stage: before/after tiles -> change polygons ("patches"), streamed with dask.

Thin orchestration of :mod:`detection.compose` over the lazy arrays of
:mod:`pipeline.imagery`; every step is bounded in memory by the chunk size, and the imagery
is read in full once (steps 1 and 2 read a decimated lattice or a few windows):

1. **sample** pixels for the scene statistics (chunk-independent): on an image of at most
   :data:`SAMPLE_LATTICE_MAX_PIXELS` a regular lattice of pixels (which reads every chunk), on
   a larger one the windows of :func:`sample_windows`, each read alone
   (``normalisation_sample`` in the statistics says which); and read up to three fixed windows
   of both dates for the co-registration check; the scene statistics of the configured score
   come from these (:func:`detection.compose.scene_statistics`, :mod:`detection.register`);
2. **threshold statistics** (methods that need the score histogram,
   :func:`detection.compose.needs_histogram`): on an image of at most
   :data:`detection.compose.EXACT_THRESHOLD_MAX_PIXELS` the score of every pixel (the
   registered method mapped with its declared overlap,
   :func:`detection.chunked.registered_score_array`) is computed once and kept in memory
   (5 bytes a pixel with the valid mask) for step 3, so the threshold is exactly the
   whole-image one; on a larger image the histogram comes from the windows of
   :func:`detection.compose.threshold_windows`, each read alone, grown by the score's depth
   and scored (``threshold_sample`` in the statistics says which). Then
   :func:`detection.compose.choose_threshold`;
3. **one pass**: score (unless kept from step 2), **threshold, clean** with overlap between
   chunks and **vectorise** per chunk (the valid / nodata / cloud pixel counts are taken in the
   same pass), join pieces across chunk borders, then the object filter (minimum area,
   hysteresis core; :func:`detection.compose.object_filter`) and number the polygons in raster
   order of their first pixel; then the object test on the after date's segments
   (:func:`detection.compose.segment_filter`), reading each patch's window of the after date.

The dask scheduler is whatever is active (threads by default, a ``distributed.Client`` when
one is set up by the caller). Tasks hold paths, not open files.
"""
from __future__ import annotations

import math
import os
import sys
import threading
import time
import warnings
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import dask
import geopandas as gpd
import numpy as np
from rasterio.errors import NotGeoreferencedWarning

from detection.chunked import (
    clean_array,
    components_tasks,
    histogram_array,
    registered_score_array,
    source_window,
    window_reader,
)
from detection.compose import (
    EXACT_THRESHOLD_MAX_PIXELS,
    HIST_BINS,
    SceneStats,
    Settings,
    _windows,
    choose_threshold,
    expand_window,
    needs_histogram,
    object_filter,
    segment_filter,
    resolve_min_area,
    scene_statistics,
    score_depth,
    threshold_windows,
    window_counts,
)
from detection.normalize import sample_stride
from detection.registry import get_method
from detection.threshold import histogram_edges
from detection.vectorize import merge_components, source_ids, to_map_coordinates
from pipeline.config import BANDS, DetectionConfig, ImageryConfig
from pipeline.errors import ConfigError, InputFileError
from pipeline.imagery import Imagery, open_imagery

__all__ = ["COLUMNS", "DetectionSetupError", "detect_patches", "detect_on_imagery",
           "settings_from_config", "check_model", "model_record"]


class DetectionSetupError(ConfigError):
    """The configured detection cannot run on this imagery (e.g. a NIR method, no NIR)."""

COLUMNS = ["source_id", "mean_score", "geometry"]
#: pixels sampled for the scene statistics
SAMPLE_TARGET = 250_000
#: an image up to this many pixels takes its statistics sample on the regular lattice of
#: :func:`detection.normalize.sample_stride` (which reads every chunk: a full read); a larger
#: one from :data:`SAMPLE_WINDOW_PX` windows spread over the grid, read alone (the committed
#: sample world, 1.4 Mpx, is well under it)
SAMPLE_LATTICE_MAX_PIXELS = 4_000_000
#: largest side of a statistics window, pixels
SAMPLE_WINDOW_PX = 128
#: fewer valid pixels than this in the windows: the lattice after all (mostly empty grids)
SAMPLE_MIN_WINDOW_PIXELS = SAMPLE_TARGET // 10


@contextmanager
def _step(label: str, enabled: bool) -> Iterator[None]:
    """Announce a compute on stderr and show dask's progress bar (local schedulers; on a
    dask.distributed cluster only the pass over the pixels has a bar, :func:`_compute`'s)."""
    if not enabled:
        yield
        return
    from dask.diagnostics import ProgressBar

    print(f"detect: {label}", file=sys.stderr, flush=True)
    with ProgressBar(out=sys.stderr, minimum=1.0):
        yield


@contextmanager
def _judged_bar(total: int, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A bar of the patches judged by the object test (not a dask compute), or None."""
    if not enabled or total == 0:
        yield None
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, unit="patch", file=sys.stderr, leave=False, mininterval=0.5) as bar:
        yield bar.update


def _cluster_client():
    """The dask.distributed client ``dask.compute`` uses now (a ``--scheduler`` run's), or None."""
    if dask.config.get("scheduler", None) != "dask.distributed":
        return None
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):  # no distributed, or no client
        return None


def _compute(*collections: Any, progress: bool, unit: str) -> tuple:
    """``dask.compute(*collections)``; on a dask.distributed cluster, with a bar of the outputs
    finished (dask's local ProgressBar sees nothing of a cluster's work)."""
    client = _cluster_client() if progress else None
    if client is None:
        return dask.compute(*collections)
    from distributed import as_completed
    from tqdm.auto import tqdm

    futures = client.compute(list(collections))
    with tqdm(total=len(futures), unit=unit, file=sys.stderr, leave=False) as bar:
        for _ in as_completed(futures):
            bar.update()
    return tuple(client.gather(futures))


def settings_from_config(detection: DetectionConfig) -> Settings:
    """The composition settings of a validated ``DetectionConfig``."""
    return Settings(
        method=detection.method,
        model=str(detection.model) if detection.model is not None else None,
        threshold=detection.threshold,
        min_threshold=detection.min_threshold,
        opening_radius_px=detection.opening_radius_px,
        closing_radius_px=detection.closing_radius_px,
        min_area_m2=detection.min_area_m2,
        correct_shift=detection.correct_shift,
        min_segment_coverage=detection.min_segment_coverage,
    )


#: the object test's windows of the after date are cut from blocks of this many pixels a side,
#: each read once and shared by the threads judging patches
AFTER_BLOCK_PX = 256
#: blocks held at once, the least recently used dropped first (3 bands of float32: 0.75 MB each;
#: on the 144 Mpx pair 64 were as fast as 256, with 220 MB less at peak)
AFTER_BLOCKS_HELD = 64


def after_window_reader(img: Imagery, shift: tuple[int, int]) -> Callable[[int, int, int, int], np.ndarray]:
    """``read(row0, row1, col0, col1)``: the after date's first three bands in a window of the
    grid, misregistration-corrected like the score (``shift_image``: ``out[y, x] =
    after[y - dy, x - dx]``), NaN outside the grid. Safe to call from several threads.

    Windows are cut from :data:`AFTER_BLOCK_PX` blocks of the after date, read once and kept
    (:data:`AFTER_BLOCKS_HELD` at most): the windows of neighbouring patches overlap (on a 144 Mpx
    pair, 6,531 windows held 206 Mpx of a 144 Mpx image), and GDAL's own block cache is kept per
    open dataset, so per thread. The imagery reader gives each pixel of pixel-aligned tiles from
    that pixel's tiles alone, so a window cut from blocks has the values of the window read whole
    (a resampled tile is resampled by GDAL window by window, as in the pass over the pixels).

    (A version reading the next windows ahead on a thread pool was measured on a quiet machine,
    2026-11-22: the object test took 1.85 s with it and 1.90 s without on the 13 Mpx detection
    benchmark, within noise, so it was removed.)
    """
    dy, dx = (int(v) for v in shift)
    height, width = img.grid.shape
    read_after = window_reader(img.after)
    size = AFTER_BLOCK_PX
    held: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
    lock = threading.Lock()

    def block(i: int, j: int) -> np.ndarray:
        with lock:
            got = held.get((i, j))
            if got is not None:
                held.move_to_end((i, j))
                return got
        got = np.ascontiguousarray(read_after(slice(i * size, min((i + 1) * size, height)),
                                              slice(j * size, min((j + 1) * size, width)))[:3])
        with lock:
            held[(i, j)] = got
            while len(held) > AFTER_BLOCKS_HELD:
                held.popitem(last=False)
        return got

    def read_now(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        out = np.full((3, r1 - r0, c1 - c0), np.nan, dtype=np.float32)
        sr0, sr1 = max(r0 - dy, 0), min(r1 - dy, height)
        sc0, sc1 = max(c0 - dx, 0), min(c1 - dx, width)
        if sr1 <= sr0 or sc1 <= sc0:  # the window lies off the grid
            return out
        for i in range(sr0 // size, (sr1 - 1) // size + 1):
            for j in range(sc0 // size, (sc1 - 1) // size + 1):
                b = block(i, j)
                br0, br1 = max(sr0, i * size), min(sr1, (i + 1) * size)
                bc0, bc1 = max(sc0, j * size), min(sc1, (j + 1) * size)
                out[:, br0 + dy - r0:br1 + dy - r0, bc0 + dx - c0:bc1 + dx - c0] = \
                    b[:, br0 - i * size:br1 - i * size, bc0 - j * size:bc1 - j * size]
        return out

    return read_now


def check_model(detection: DetectionConfig, band_names: tuple[str, ...]) -> None:
    """Open the configured ONNX network and check it takes ``band_names`` (metadata only).

    Raises
    ------
    InputFileError
        The model is unusable or needs bands the imagery lacks (one line naming the model).
    """
    if detection.method != "onnx" or detection.model is None:
        return
    from detection.onnx_model import ModelError, load_change_model

    try:
        load_change_model(detection.model, threads=1, available_bands=band_names)
    except ModelError as exc:
        raise InputFileError(exc.path, exc.problem) from None


def model_record(detection: DetectionConfig) -> dict[str, Any] | None:
    """What detection.json and the manifest say of the model: path, sha256, bytes, metadata."""
    from pipeline.manifest import sha256_file

    if detection.method == "learned":
        from detection.learned import DEFAULT_MODEL, load_model

        path = Path(detection.model) if detection.model is not None else DEFAULT_MODEL
        model = load_model(detection.model)
        card = model.card
        return {"kind": "lightgbm", "path": str(path), "bytes": path.stat().st_size,
                "sha256": sha256_file(path), "model_id": model.model_id,
                "card": str(path.with_suffix(".json")),
                "card_sha256": sha256_file(path.with_suffix(".json")),
                "threshold_low": card.get("threshold_low"), "threshold_high": card.get("threshold_high")}
    if detection.method == "onnx" and detection.model is not None:
        from detection.onnx_model import load_change_model

        path = Path(detection.model)
        m = load_change_model(path, threads=1)
        return {"kind": "onnx", "path": str(path), "bytes": path.stat().st_size,
                "sha256": sha256_file(path), "convention": m.convention,
                "inputs": list(m.input_names), "output": m.output_name,
                "bands": list(m.bands) if m.bands is not None else None,
                "normalize": m.normalize, "output_kind": m.output, "tile": list(m.tile),
                "overlap": m.overlap, "threshold": m.threshold, "pixel_size_m": m.pixel_size_m,
                "metadata": dict(m.metadata)}
    return None


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
        Method, threshold, clean-up radii, minimum area and chunk size.
    progress
        Print the steps and dask progress bars on stderr.

    Returns
    -------
    patches : geopandas.GeoDataFrame
        Columns ``source_id, mean_score, geometry`` in the imagery grid's CRS, ordered by
        ``source_id``.
    stats : dict
        JSON-serialisable detection statistics (method, model id, shift found and applied,
        threshold chosen, scene statistics, pixel counts, polygons before/after the object
        filter, area dropped, grid, timings).

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
    from detection.onnx_model import ModelError

    check_model(detection, tuple(getattr(img, "band_names", BANDS)))
    try:
        return _detect_on_imagery(img, detection, progress=progress)
    except ModelError as exc:  # the network failed on the data (e.g. logits declared as probabilities)
        raise InputFileError(exc.path, exc.problem) from None


def sample_windows(shape: tuple[int, int]) -> list[tuple[slice, slice]]:
    """The windows of the statistics sample of a large image: a regular grid of squares of at
    most :data:`SAMPLE_WINDOW_PX` holding about as many pixels as the lattice would (so the fit
    costs the same), as few windows as that allows (each costs a read of the blocks it touches;
    :func:`detection.compose.threshold_windows`; chunk-independent)."""
    h, w = (int(v) for v in shape)
    stride = sample_stride(h, w, SAMPLE_TARGET)
    wanted = -(-h // stride) * -(-w // stride)  # the lattice's pixel count
    per_side = max(1, math.ceil(math.sqrt(wanted) / SAMPLE_WINDOW_PX))
    size = max(1, min(SAMPLE_WINDOW_PX, int(math.sqrt(wanted) // per_side)))
    wins = threshold_windows(shape, size, per_side)
    # a long, narrow grid fits fewer windows across: more along it, until the pixels are there
    while wins and len(wins) * size * size < 0.9 * wanted and per_side < max(h, w) // size:
        per_side += 1
        wins = threshold_windows(shape, size, per_side)
    return wins


def _statistics_sample(img: Imagery, valid: Any, shift_windows: list[tuple[slice, slice]]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray], str, int]:
    """``(before, after, valid, shift_arrays, how, stride)``: the pixels of the statistics sample
    (``(bands, n)`` with ``valid`` saying which are valid), the co-registration windows of both
    dates (before, after alternating) and how the sample was taken.

    Up to :data:`SAMPLE_LATTICE_MAX_PIXELS`: the regular lattice of ``stride`` (reads every
    chunk). Above: :func:`sample_windows` and the co-registration windows, each read alone
    (the lattice after all when the windows hold under :data:`SAMPLE_MIN_WINDOW_PIXELS` valid
    pixels and the image is not empty there).
    """
    grid = img.grid
    stride = sample_stride(grid.height, grid.width, SAMPLE_TARGET)
    how = f"lattice stride {stride}"
    shift_arrays = None
    if grid.height * grid.width > SAMPLE_LATTICE_MAX_PIXELS:
        wins = sample_windows(grid.shape)
        # the windows' arrays read alone, in one compute; valid by the imagery's own definition
        # on them (numpy: building a dask graph for each window's valid costs more than reading)
        got = dask.compute(*[source_window(x, r, c) for r, c in wins
                             for x in (img.before, img.after, img.cloud)],
                           *[source_window(x, r, c) for r, c in shift_windows
                             for x in (img.before, img.after)])
        bs, as_, cs = got[0:3 * len(wins):3], got[1:3 * len(wins):3], got[2:3 * len(wins):3]
        try:
            vs = [np.asarray(replace(img, before=b, after=a, cloud=c).valid) for b, a, c in zip(bs, as_, cs)]
        except TypeError:  # not a dataclass: the same rule as the lattice's
            vs = [np.isfinite(b).all(axis=0) & np.isfinite(a).all(axis=0) & ~c for b, a, c in zip(bs, as_, cs)]
        sv = np.concatenate([v.ravel() for v in vs])
        shift_arrays = list(got[3 * len(wins):])
        if sv.sum() >= SAMPLE_MIN_WINDOW_PIXELS:
            n_b = img.before.shape[0]
            sb = np.concatenate([b.reshape(n_b, -1) for b in bs], axis=1)
            sa = np.concatenate([a.reshape(n_b, -1) for a in as_], axis=1)
            (rows, cols), = wins[:1]
            return (sb, sa, sv, shift_arrays,
                    f"{len(wins)} windows of {rows.stop - rows.start} x {cols.stop - cols.start} px", 0)
        how = f"lattice stride {stride} (the {len(wins)} windows held {int(sv.sum())} valid pixels)"
    sb, sa, sv, *win_arrays = dask.compute(
        img.before[:, ::stride, ::stride], img.after[:, ::stride, ::stride],
        valid[::stride, ::stride],
        *([] if shift_arrays is not None
          else [x[:, r, c] for r, c in shift_windows for x in (img.before, img.after)]),
    )
    return sb, sa, sv, win_arrays if shift_arrays is None else shift_arrays, how, stride


def _window_counts(img: Imagery, settings: Settings, stats: SceneStats, pixel_size_m: float,
                   depth: int, edges: np.ndarray, value_range: tuple[float, float]
                   ) -> tuple[np.ndarray, int]:
    """Score histogram over :func:`detection.compose.threshold_windows`, and how many windows.

    Each window is read straight from the imagery's readers, grown by the score's ``depth``
    (so its pixels score as on the whole grid), scored and counted; only the windows are read.
    """
    grid_shape = img.grid.shape
    parts = []
    for win in threshold_windows(grid_shape):
        (rows, cols), inner = expand_window(win, depth, grid_shape)
        try:  # the imagery's own definition of valid, on the window's arrays
            sub = replace(img, before=source_window(img.before, rows, cols),
                          after=source_window(img.after, rows, cols),
                          cloud=source_window(img.cloud, rows, cols))
            b, a, v = sub.before, sub.after, sub.valid
        except TypeError:  # not a dataclass: slice (reads the chunks the window touches)
            b, a, v = img.before[:, rows, cols], img.after[:, rows, cols], img.valid[rows, cols]
        # one block each, graphs not optimised: dask's task fusion would give valid its own
        # copy of the window reads
        b, a, v = (x.rechunk(x.shape).to_delayed(optimize_graph=False).ravel()[0] for x in (b, a, v))
        parts.append(dask.delayed(window_counts, pure=True)(
            b, a, v, inner, settings=settings, stats=stats,
            pixel_size_m=float(pixel_size_m), edges=edges, value_range=value_range))
    counts = np.zeros(len(edges) - 1, dtype=np.int64)
    for c in dask.compute(*parts, optimize_graph=False):
        counts += c
    return counts, len(parts)


def _detect_on_imagery(img: Imagery, detection: DetectionConfig, *, progress: bool
                       ) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    from detection.register import estimate_shift

    settings = settings_from_config(detection)
    method = get_method(settings.method)
    grid = img.grid
    pixel_size = float(np.sqrt(grid.pixel_area))
    timings: dict[str, float] = {}
    data_valid = img.data_valid
    valid = data_valid & ~img.cloud

    # -- pass 1: sample for the scene statistics (a decimated lattice of a small image,
    # windows spread over a large one), co-registration windows
    t = time.perf_counter()
    wins = _windows(grid.shape) if (settings.method == "learned" and settings.correct_shift) else []
    with _step("sampling pixels for the scene statistics", progress):
        sb, sa, sv, win_arrays, sample_how, stride = _statistics_sample(img, valid, wins)
    sb, sa = sb[:, sv], sa[:, sv]
    band_names = tuple(getattr(img, "band_names", BANDS))
    has_nir = "nir" in band_names
    if method.needs_nir and not has_nir:
        raise DetectionSetupError(f"detection.method '{method.name}' needs a near-infrared band; "
                                  "the imagery has none (use method 'learned')")
    stats_scene = scene_statistics(settings, sb, sa, dtype=img.before_dtype, has_nir=has_nir)
    shift_info = None
    if wins:
        shift = estimate_shift(list(win_arrays[0::2]), list(win_arrays[1::2]))
        stats_scene = SceneStats(stats_scene.method, stats_scene.has_nir, stats_scene.params,
                                 shift.applied)
        shift_info = shift.as_dict()
    timings["sample_s"] = time.perf_counter() - t

    depth = score_depth(settings, pixel_size)
    score = registered_score_array(img.before, img.after, valid, settings=settings,
                                   stats=stats_scene, pixel_size_m=pixel_size, depth=depth)
    # pixel counts: computed with whichever step reads the imagery in full (chunks shared)
    n_data_arr, n_cloud_arr = data_valid.sum(), (data_valid & img.cloud).sum()

    # -- threshold for this image: from every pixel of a small image (its score kept in
    # memory for the pass below), from windows spread over a large one; never a full read
    t = time.perf_counter()
    counts = edges = None
    threshold_sample: str | None = None
    counted = None
    # the score kept in memory for the pass: on a dask.distributed cluster persisted data lives
    # as long as the persisted collections do, and the collections dask.optimize makes for the
    # pass name the same keys without holding them (the pass then found its inputs released)
    kept_for_the_pass: tuple = ()
    if needs_histogram(settings):
        edges = histogram_edges(HIST_BINS, method.value_range)
        if grid.height * grid.width <= EXACT_THRESHOLD_MAX_PIXELS:
            with _step("scoring every pixel for the threshold", progress):
                kept_for_the_pass = dask.persist(score, valid, n_data_arr, n_cloud_arr)
                score, valid, n_data_arr, n_cloud_arr = kept_for_the_pass
                (counts,) = dask.compute(histogram_array(score, valid, edges, method.value_range))
            threshold_sample = "whole image"
        else:
            with _step("scoring windows for the threshold", progress):
                counts, n_win = _window_counts(img, settings, stats_scene, pixel_size, depth,
                                               edges, method.value_range)
            threshold_sample = f"{n_win} windows, {int(counts.sum())} pixels"
            if counts.sum() == 0 and sv.any():  # no valid pixel in any window: whole image
                with _step("score histogram for the threshold", progress):
                    (counts,) = dask.compute(histogram_array(score, valid, edges, method.value_range))
                threshold_sample = "whole image (second read: no valid pixel in the windows)"
        counted = int(counts.sum())
    threshold, tinfo = choose_threshold(settings, counts, edges)
    timings["threshold_s"] = time.perf_counter() - t

    # -- one pass: score, mask, clean with overlap, vectorise per chunk; merge
    t = time.perf_counter()
    change = (score > np.float32(threshold)) & valid
    cleaned = clean_array(change, valid, settings.opening_radius_px, settings.closing_radius_px)
    # optimised together, then computed as delayed pieces: the chunks of the imagery (or of the
    # kept score) are read once for the components and the pixel counts
    cleaned, score, n_data_arr, n_cloud_arr = dask.optimize(cleaned, score, n_data_arr, n_cloud_arr)
    tasks = components_tasks(cleaned, score, optimize_graph=False)
    pixel_counts = [x.to_delayed(optimize_graph=False).item() for x in (n_data_arr, n_cloud_arr)]
    with _step("scoring, thresholding, cleaning and vectorising", progress), warnings.catch_warnings():
        # rasterio's shapes() in worker threads now and then emits a spurious
        # NotGeoreferencedWarning (a race inside rasterio; the coordinates are right). The filter is
        # set here, in the one thread that starts the compute, not in the workers.
        warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
        *chunks, n_data, n_cloud = _compute(*tasks, *pixel_counts, progress=progress, unit="chunk")
    del kept_for_the_pass
    comps = merge_components(list(chunks))
    timings["vectorise_s"] = time.perf_counter() - t

    # -- object filter, ids, map coordinates
    areas = comps.pixels * grid.pixel_area
    min_area_m2 = resolve_min_area(settings.min_area_m2, pixel_size)  # a number, or "auto"
    keep = object_filter(comps, pixel_area=grid.pixel_area, min_area_m2=min_area_m2,
                         high=tinfo.get("threshold_high"))
    by_area = areas >= min_area_m2 * (1 - 1e-12)
    t = time.perf_counter()
    with _step("object test on the after date's segments", progress and bool(keep.any())), \
            warnings.catch_warnings():
        # the test rasterises patches in grid pixels, on purpose; rasterio now and then reports
        # that as "no geotransform" (make run printed it once; the vectorise step filters it too)
        warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
        keep_core = keep
        read_after = after_window_reader(img, stats_scene.shift)
        with _judged_bar(int(keep.sum()), progress) as judged:
            keep, seg_info = segment_filter(comps, keep, read_after, grid.shape,
                                            after_sample=sa, pixel_size_m=pixel_size,
                                            min_coverage=settings.min_segment_coverage,
                                            threads=os.cpu_count() or 1, on_judged=judged)
    timings["segments_s"] = time.perf_counter() - t
    kept = comps.select(keep)
    geoms = to_map_coordinates(kept.geometries, grid.transform)
    patches = gpd.GeoDataFrame(
        {"source_id": source_ids(len(kept)), "mean_score": kept.mean_scores.astype(np.float64)},
        geometry=gpd.GeoSeries(geoms, crs=grid.crs), crs=grid.crs,
    )[COLUMNS]

    total = grid.height * grid.width
    n_data, n_cloud = int(n_data), int(n_cloud)
    model = model_record(detection)
    model_id = model.get("model_id") if model else None
    if settings.method == "onnx" and model is not None:
        model_id = f"{Path(model['path']).stem}@{model['sha256'][:12]}"
        from detection.compose import onnx_model

        warning = onnx_model(settings).pixel_size_warning(pixel_size) if grid.crs is not None else None
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
    stats: dict[str, Any] = {
        "method": settings.method,
        "bands": list(band_names),
        "method_description": method.description,
        "model_id": model_id,
        "model": model,
        "threshold": float(threshold),
        "threshold_method": tinfo["threshold_method"],
        "otsu_threshold": tinfo["otsu_threshold"],
        "threshold_high": tinfo.get("threshold_high"),
        "min_threshold": settings.min_threshold,
        "threshold_sample": threshold_sample,
        "threshold_sample_pixels": counted,
        "shift": shift_info,
        "score_depth_px": int(depth),
        "scene": stats_scene.as_dict(),
        "normalisation_sample": sample_how,
        "normalisation_sample_pixels": int(sv.sum()),
        "normalisation_sample_stride": int(stride) if stride else None,
        "pixels_total": int(total),
        "pixels_valid": n_data - n_cloud,
        "pixels_nodata": int(total - n_data),
        "pixels_cloud": n_cloud,
        "pixels_changed": int(comps.pixels.sum()),
        "pixels_changed_kept": int(kept.pixels.sum()),
        "polygons_before_min_area": int(len(comps)),
        "polygons_after_min_area": int(by_area.sum()),
        "polygons_dropped_by_core": int((by_area & ~keep_core).sum()),
        **seg_info,
        "polygons_kept": int(len(kept)),
        "polygons_dropped": int(len(comps) - len(kept)),
        "area_dropped_m2": float(areas[~keep].sum()),
        "area_kept_m2": float(areas[keep].sum()),
        "min_area_m2": float(min_area_m2),
        "min_area_rule": str(settings.min_area_m2) if isinstance(settings.min_area_m2, str) else "number",
        "grid_height": int(grid.height),
        "grid_width": int(grid.width),
        "grid_res": [float(r) for r in grid.res],
        "grid_crs": grid.crs.to_string() if grid.crs is not None else None,
        "grid_transform": [float(v) for v in tuple(grid.transform)[:6]],
        "chunk_px": int(detection.chunk_px),
        "n_chunks": int(len(tasks)),
        "tiles_before": int(img.n_tiles[0]),
        "tiles_after": int(img.n_tiles[1]),
        "seconds": {k: round(v, 3) for k, v in timings.items()},
    }
    if settings.method == "spectral":
        p = stats_scene.params
        stats["gains"] = {b: float(g) for b, g in zip(BANDS, p["gains"])}
        stats["offsets"] = {b: float(o) for b, o in zip(BANDS, p["offsets"])}
        stats["reflectance_scale"] = float(p["scale"])
        stats["normalisation_inlier_pixels"] = int(p["inliers"])
    return patches, stats
