"""The detection composition: score -> threshold -> clean -> components -> object filter.

The same steps run eagerly on whole numpy arrays (:func:`detect_arrays`, used by tests and
the evaluation) and chunked on dask arrays (:func:`detection.chunked`, orchestrated by
``pipeline.detect``); both call the per-block functions defined here, so they agree exactly.

Steps
-----
1. **scene statistics** from a decimated sample of both dates (:func:`scene_statistics`):
   per-band robust standardisation of each date (learned), the relative gain/offset of
   after on before (spectral), or per-band means and standard deviations (onnx: nodata fill,
   ``zscore`` inputs), and the dates' reflectance scale;
2. **co-registration**: the whole-pixel shift of the after date (:mod:`detection.register`);
3. **score** per block (:func:`score_block`, the registered method's depth as overlap);
4. **threshold** chosen per image from the score histogram (:func:`choose_threshold`): of
   every pixel, or on an image over :data:`EXACT_THRESHOLD_MAX_PIXELS` of the windows of
   :func:`threshold_windows` (:func:`window_counts`);
5. **clean** (opening, closing), **components** (4-connected) and the **object filter**
   (:func:`object_filter`): a patch is kept when it reaches the minimum area and (learned) its
   highest probability reaches the model's upper threshold (hysteresis: pixels down to the
   lower threshold grow a patch around a confident core, so a large lot comes out whole);
6. **object test on the after date** (:func:`segment_filter`, :mod:`detection.objects`): a
   patch covering under ``min_segment_coverage`` of the after-date segments it touches is a
   piece of a whole field that changed, not an object, and is dropped.

The ``onnx`` method (:mod:`detection.onnx_model`) replaces step 3 by the network's change
probability on overlapping blended tiles (no shift correction: the network sees the dates as
delivered); its automatic threshold is the model's ``landcheck.threshold`` or
:data:`ONNX_THRESHOLD`, and the object filter applies the minimum area only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from detection.clean import clean_mask
from detection.learned import LearnedModel, load_model, probability_block, shift_image
from detection.normalize import (
    fit_gain_offset,
    relative_correction,
    robust_standardise,
    robust_standardise_params,
)
from detection.objects import MIN_SEGMENT_COVERAGE, coverage_of_patches, stretch_limits
from detection.registry import get_method
from detection.score import construction_score, reflectance_scale
from detection.threshold import histogram_edges, otsu_threshold
from detection.vectorize import Components, chunk_components, merge_components

__all__ = [
    "BAND_ORDER",
    "SceneStats",
    "Settings",
    "DetectionResult",
    "scene_statistics",
    "score_block",
    "score_depth",
    "choose_threshold",
    "needs_histogram",
    "onnx_model",
    "object_filter",
    "segment_filter",
    "resolve_min_area",
    "detect_arrays",
    "EXACT_THRESHOLD_MAX_PIXELS",
    "threshold_windows",
    "expand_window",
    "score_counts",
    "window_counts",
]

#: band order of the arrays handed to the composition (the pipeline's order)
BAND_ORDER = ("blue", "green", "red", "nir")
_RGBN = [2, 1, 0, 3]  # blue, green, red, nir -> red, green, blue, nir
HIST_BINS = 1000
#: change-probability threshold of an ONNX network that declares no ``landcheck.threshold``
ONNX_THRESHOLD = 0.5


@dataclass(frozen=True)
class Settings:
    """What the composition needs from ``DetectionConfig``.

    Attributes
    ----------
    method
        Registered score name (:data:`detection.registry.METHOD_NAMES`).
    model
        Model file of the learned method (None = the shipped default).
    threshold
        ``"auto"`` (the method's per-image rule), ``"otsu"`` or a fixed number.
    min_threshold
        Floor of an automatic threshold (None = the method's default).
    opening_radius_px, closing_radius_px
        Clean-up radii.
    min_area_m2
        Minimum patch area, m², or ``"auto"`` (:func:`resolve_min_area`: 50 m² but at least
        16 pixels).
    correct_shift
        Measure and correct the misregistration of the after date.
    min_segment_coverage
        The object test on after-date segments (:func:`segment_filter`); 0 = off.
    """

    method: str = "learned"
    model: str | None = None
    threshold: str | float = "auto"
    min_threshold: float | None = None
    opening_radius_px: int = 1
    closing_radius_px: int = 1
    min_area_m2: float | str = 400.0
    correct_shift: bool = True
    min_segment_coverage: float = MIN_SEGMENT_COVERAGE


@dataclass(frozen=True)
class SceneStats:
    """Scene-wide parameters of the per-block score (from a decimated sample)."""

    method: str
    has_nir: bool
    params: dict[str, Any] = field(default_factory=dict)
    shift: tuple[int, int] = (0, 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable view."""
        return {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v)
                for k, v in self.params.items()}


def _has_nir(before: np.ndarray) -> bool:
    return before.shape[0] >= 4 and bool(np.isfinite(before[3]).any())


def scene_statistics(settings: Settings, sample_before: np.ndarray, sample_after: np.ndarray,
                     *, dtype: str = "float32", has_nir: bool = True) -> SceneStats:
    """Scene parameters from jointly valid sample pixels.

    Parameters
    ----------
    settings
        The detection settings.
    sample_before, sample_after
        ``(4, n)`` blue, green, red, NIR values of the same valid pixels (NIR may be NaN
        when absent).
    dtype
        Data type of the tiles (reflectance scale of the spectral method).
    has_nir
        Whether the scene has a NIR band.
    """
    method = get_method(settings.method)
    if method.needs_nir and not has_nir:
        raise ValueError(f"detection method {method.name!r} needs a NIR band")
    sb = np.asarray(sample_before, dtype=np.float64)
    sa = np.asarray(sample_after, dtype=np.float64)
    nb = 4 if has_nir else 3
    if method.name == "onnx":
        from detection.onnx_model import band_stats

        st = band_stats(sb[:nb], sa[:nb])
        p99 = float(np.percentile(sb[:3], 99)) if sb.size else None
        return SceneStats("onnx", has_nir, {
            "bands": list(BAND_ORDER[:nb]), "scale": float(reflectance_scale(dtype, p99)),
            "before_mean": list(st.before_mean), "before_std": list(st.before_std),
            "after_mean": list(st.after_mean), "after_std": list(st.after_std)})
    if method.name == "spectral":
        gains, offsets, n_in = fit_gain_offset(sb, sa)
        p99 = float(np.percentile(sb[:3], 99)) if sb.size else None
        return SceneStats("spectral", has_nir, {
            "gains": gains, "offsets": offsets, "inliers": int(n_in),
            "scale": float(reflectance_scale(dtype, p99))})
    rgbn = _RGBN[:nb]
    cb, sb_ = robust_standardise_params(sb[rgbn])
    ca, sa_ = robust_standardise_params(sa[rgbn])
    nrgb = min(nb, 3)
    zb = robust_standardise(sb[rgbn][:nrgb], cb[:nrgb], sb_[:nrgb])
    za = robust_standardise(sa[rgbn][:nrgb], ca[:nrgb], sa_[:nrgb])
    step = max(1, int(np.ceil(zb.shape[1] / 60_000)))
    gains, offsets = relative_correction(zb[:, ::step], za[:, ::step])
    return SceneStats("learned", has_nir, {"centre_before": cb, "scale_before": sb_,
                                           "centre_after": ca, "scale_after": sa_,
                                           "gain_after": gains, "offset_after": offsets})


def score_depth(settings: Settings, pixel_size_m: float) -> int:
    """Block overlap of :func:`score_block` for these settings."""
    if settings.method == "learned":
        from detection.learned import learned_depth

        return learned_depth(pixel_size_m, _model(settings).spec)
    if settings.method == "onnx":
        return onnx_model(settings).depth
    return get_method(settings.method).depth(pixel_size_m)


def onnx_model(settings: Settings):
    """The ONNX network of ``settings`` (opened once per process; ModelError when unusable)."""
    from detection.onnx_model import _model_for

    if not settings.model:
        raise ValueError("detection method 'onnx' needs detection.model (an .onnx file)")
    return _model_for(settings.model, 1, None)


def _model(settings: Settings) -> LearnedModel:
    return load_model(settings.model)


def score_block(before: np.ndarray, after: np.ndarray, valid: np.ndarray, *,
                settings: Settings, stats: SceneStats, pixel_size_m: float,
                scored: tuple[slice, slice] | None = None) -> np.ndarray:
    """The registered score of one block (with its overlap).

    Parameters
    ----------
    before, after
        ``(4, rows, cols)`` blue, green, red, NIR DN; NaN = no data (an absent NIR band is
        all NaN and ignored).
    valid
        ``(rows, cols)`` or ``(1, rows, cols)`` bool.
    settings, stats
        Settings and scene statistics.
    pixel_size_m
        Ground pixel size.
    scored
        The part of the block whose score the caller keeps (the block without its overlap);
        None = all. A method may then skip work whose only use is outside it (the learned
        model does not run on the overlap beyond its smoothing's reach); the score there is
        not valid.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` float32 score, 0 where invalid.
    """
    v = np.asarray(valid, dtype=bool)
    if v.ndim == 3:
        v = v[0]
    nb = 4 if stats.has_nir else 3
    if stats.method == "onnx":
        from detection.onnx_model import BandStats, predict_block

        p = stats.params
        st = BandStats(tuple(p["before_mean"]), tuple(p["before_std"]), tuple(p["after_mean"]),
                       tuple(p["after_std"]))
        prob = predict_block(np.asarray(before, dtype=np.float32)[:nb],
                             np.asarray(after, dtype=np.float32)[:nb], model_path=settings.model,
                             bands=tuple(p["bands"]), scale=p["scale"], stats=st)
        return np.where(v & np.isfinite(prob), prob, np.float32(0.0)).astype(np.float32, copy=False)
    if stats.method == "spectral":
        p = stats.params
        return construction_score(before, after, v, scale=p["scale"], gains=p["gains"],
                                  offsets=p["offsets"])
    b = np.asarray(before, dtype=np.float32)[_RGBN[:nb]]
    a = np.asarray(after, dtype=np.float32)[_RGBN[:nb]]
    p = stats.params
    return probability_block(b, a, v, model=_model(settings), centre_before=p["centre_before"],
                             scale_before=p["scale_before"], centre_after=p["centre_after"],
                             scale_after=p["scale_after"], gain_after=p.get("gain_after"),
                             offset_after=p.get("offset_after"), pixel_size_m=pixel_size_m,
                             shift=stats.shift, use_nir=stats.has_nir, scored=scored)


def needs_histogram(settings: Settings) -> bool:
    """True when :func:`choose_threshold` needs the score histogram of the image."""
    if not isinstance(settings.threshold, str):
        return False
    return not (settings.method == "onnx" and settings.threshold == "auto")


def choose_threshold(settings: Settings, counts: np.ndarray | None, edges: np.ndarray | None
                     ) -> tuple[float, dict[str, Any]]:
    """The pixel threshold of this image and how it was chosen.

    ``"auto"`` for ``onnx`` is the model's ``landcheck.threshold`` (else
    :data:`ONNX_THRESHOLD`), never below ``min_threshold`` when given; ``"otsu"`` for it is
    Otsu's threshold floored by ``min_threshold`` (0 when not given).
    ``"auto"`` for ``spectral`` is Otsu's threshold floored by ``min_threshold`` (0.08). For
    ``learned`` it is calibrated per image between the model's two thresholds: Otsu's split
    of the probability histogram, clipped to ``[threshold_low, threshold_high]`` of the model
    card (a scene whose probabilities separate cleanly gets its own split; a flat one the
    model's), and never below ``min_threshold`` when that is given. ``"otsu"`` is Otsu's
    threshold with the floor only; a number is used as is.

    Returns
    -------
    threshold : float
        Pixels with score ``> threshold`` may be change.
    info : dict
        ``threshold_method``, ``otsu_threshold`` and (learned) ``threshold_high``.
    """
    info: dict[str, Any] = {"otsu_threshold": None}
    high = None
    if settings.method == "learned":
        model = _model(settings)
        low_default, high = model.threshold_low, model.threshold_high
        floor = low_default if settings.min_threshold is None else float(settings.min_threshold)
    elif settings.method == "onnx":
        floor = 0.0 if settings.min_threshold is None else float(settings.min_threshold)
        declared = onnx_model(settings).threshold
        low_default = ONNX_THRESHOLD if declared is None else float(declared)
    else:
        floor = 0.08 if settings.min_threshold is None else float(settings.min_threshold)
        low_default = floor
    if not isinstance(settings.threshold, str):
        t = float(settings.threshold)
        info["threshold_method"] = "fixed"
    else:
        if needs_histogram(settings) and (counts is None or edges is None):
            raise ValueError("an automatic threshold needs the score histogram")
        if counts is not None and edges is not None:
            otsu = otsu_threshold(counts, edges)
            info["otsu_threshold"] = float(otsu)
        if settings.method == "onnx" and settings.threshold == "auto":
            t = max(low_default, floor)
            info["threshold_method"] = ("auto: the model's landcheck.threshold"
                                        if onnx_model(settings).threshold is not None
                                        else f"auto: {ONNX_THRESHOLD} (the model declares no threshold)")
        elif settings.threshold == "otsu" or settings.method != "learned":
            t = max(otsu, floor)
            info["threshold_method"] = "otsu"
        else:
            t = min(max(otsu, low_default, floor), max(high, floor))
            info["threshold_method"] = "auto (Otsu clipped to the model's range)"
    if high is not None:
        info["threshold_high"] = max(float(high), t)
    return float(t), info


#: ``min_area_m2: "auto"``: the smallest patch is one small rural house (this many m²) but
#: never fewer than :data:`AUTO_MIN_AREA_PX` pixels (a patch of a few pixels is not an
#: object); the same rule as the ``landcheck detect`` default for a pair (``pipeline.pair``)
AUTO_MIN_AREA_M2 = 50.0
AUTO_MIN_AREA_PX = 16


def resolve_min_area(min_area_m2: float | str | None, pixel_size_m: float) -> float:
    """The minimum patch area in m² for this pixel size.

    A number is returned as is; ``"auto"`` (or None) gives
    ``max(AUTO_MIN_AREA_M2, AUTO_MIN_AREA_PX * pixel_size_m²)``: 50 m² up to 1.77 m pixels (a
    single house is kept at 0.5 m, where the 400 m² config default removes most), 16 pixels
    beyond (64 m² at 2 m, 400 m² at 5 m).
    """
    if min_area_m2 is None or (isinstance(min_area_m2, str) and min_area_m2 == "auto"):
        return max(AUTO_MIN_AREA_M2, AUTO_MIN_AREA_PX * float(pixel_size_m) ** 2)
    if isinstance(min_area_m2, str):
        raise ValueError(f"min_area_m2 must be a number or 'auto', got {min_area_m2!r}")
    return float(min_area_m2)


#: patches at least this large must be rectilinear (:func:`object_filter`)
LARGE_LOT_M2 = 5000.0
#: smallest area / minimum-rotated-rectangle area of a large patch
MIN_RECTANGULARITY = 0.6


def object_filter(comps: Components, *, pixel_area: float, min_area_m2: float,
                  high: float | None) -> np.ndarray:
    """Boolean keep-mask of the components: minimum area, hysteresis core, large-lot shape.

    A patch of :data:`LARGE_LOT_M2` or more is kept only when it fills at least
    :data:`MIN_RECTANGULARITY` of its minimum rotated rectangle: building lots, yards and
    factory roofs are bounded by straight lines, while the large false alarms of farmland
    scenes (pond rims, eroded or flooded field parts, a lake changing colour) are not. The
    shape is measured on the merged polygon in pixel coordinates (chunk-independent).

    Parameters
    ----------
    comps
        Merged components (with ``max_scores``).
    pixel_area
        Area of one pixel, m².
    min_area_m2
        Minimum patch area, m², or ``"auto"`` (:func:`resolve_min_area`).
    high
        A component is kept only if its largest score is at least this (None: no test).
    """
    areas = comps.pixels * float(pixel_area)
    keep = areas >= resolve_min_area(min_area_m2, float(pixel_area) ** 0.5) * (1 - 1e-12)
    if high is not None and len(comps):
        keep &= comps.max_scores >= float(high)
        large = keep & (areas >= LARGE_LOT_M2)
        if large.any():
            import shapely

            g = comps.geometries[large]
            rect = shapely.area(g) / np.maximum(shapely.area(shapely.minimum_rotated_rectangle(g)), 1e-12)
            keep[np.flatnonzero(large)[rect < MIN_RECTANGULARITY]] = False
    return keep


def segment_filter(comps: Components, keep: np.ndarray, read_after: Callable[[int, int, int, int], np.ndarray],
                   shape: tuple[int, int], *, after_sample: np.ndarray, pixel_size_m: float,
                   min_coverage: float, threads: int = 1,
                   on_judged: Callable[[int], None] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The kept components that are objects of their own on the after date, and a record.

    A kept component covering less than ``min_coverage`` of the after-date segments it touches
    is dropped (:mod:`detection.objects`: a piece of a whole field that changed). Each is judged
    on its own window of the after date (``read_after(row0, row1, col0, col1)``, bands in
    :data:`BAND_ORDER`, misregistration corrected), stretched with the scene's limits from
    ``after_sample`` (``(bands, n)`` valid sample pixels), so the result is chunk-independent.
    ``threads``: patches judged at once (same result). ``on_judged(n)``: called as each ``n``
    more patches are judged (a progress bar).
    """
    info: dict[str, Any] = {"min_segment_coverage": float(min_coverage), "polygons_dropped_by_segments": 0,
                            "area_dropped_by_segments_px": 0}
    keep = np.asarray(keep, dtype=bool).copy()
    if min_coverage <= 0 or not keep.any():
        return keep, info
    lo, hi = stretch_limits(np.asarray(after_sample)[:3])
    idx = np.flatnonzero(keep)
    cov = coverage_of_patches(comps.geometries[idx], read_after, shape, lo=lo, hi=hi,
                              pixel_size_m=pixel_size_m, threads=threads, on_judged=on_judged)
    drop = idx[cov < float(min_coverage)]
    keep[drop] = False
    info["polygons_dropped_by_segments"] = int(drop.size)
    info["area_dropped_by_segments_px"] = int(comps.pixels[drop].sum())
    return keep, info


@dataclass(frozen=True)
class DetectionResult:
    """Eager detection output."""

    score: np.ndarray
    mask: np.ndarray
    components: Components
    keep: np.ndarray
    threshold: float
    stats: dict[str, Any]

    @property
    def patches_mask(self) -> np.ndarray:
        """``(H, W)`` bool: pixels of the kept patches."""
        from rasterio.features import rasterize

        kept = self.components.geometries[self.keep]
        if len(kept) == 0:
            return np.zeros(self.mask.shape, dtype=bool)
        from affine import Affine

        return rasterize(((g, 1) for g in kept), out_shape=self.mask.shape,
                         transform=Affine.identity(), fill=0, dtype="uint8").astype(bool)


def _windows(shape: tuple[int, int], size: int = 512, n: int = 3) -> list[tuple[slice, slice]]:
    """Up to ``n`` square windows along the diagonal of the grid (chunk-independent)."""
    h, w = shape
    s = min(size, h, w)
    if s < 32:
        return []
    out: list[tuple[slice, slice]] = []
    for f in ((0.25, 0.5, 0.75) if n > 1 else (0.5,)):
        r0 = int(round((h - s) * f))
        c0 = int(round((w - s) * f))
        win = (slice(r0, r0 + s), slice(c0, c0 + s))
        if win not in out:
            out.append(win)
    return out


#: an image up to this many pixels gets its threshold from the histogram of every pixel (its
#: score, 5 bytes a pixel with the valid mask, is kept in memory between the score and the
#: threshold); a larger one from :func:`threshold_windows`
EXACT_THRESHOLD_MAX_PIXELS = 16_000_000
#: side of a threshold window, pixels, and windows per side of the regular grid of windows
THRESHOLD_WINDOW_PX = 256
THRESHOLD_WINDOWS_PER_SIDE = 8


def threshold_windows(shape: tuple[int, int], size: int | None = None,
                      per_side: int | None = None) -> list[tuple[slice, slice]]:
    """A regular grid of up to ``per_side`` x ``per_side`` square windows spread over the grid.

    Window ``(i, j)`` is centred on the fractions ``((i + 0.5) / k, (j + 0.5) / k)`` of the grid
    (chunk-independent); windows never overlap and stay inside the grid. Empty for an empty
    grid; a grid smaller than the windows gets one window, the whole grid. ``size`` and
    ``per_side`` default to :data:`THRESHOLD_WINDOW_PX` and :data:`THRESHOLD_WINDOWS_PER_SIDE`.
    """
    size = THRESHOLD_WINDOW_PX if size is None else int(size)
    per_side = THRESHOLD_WINDOWS_PER_SIDE if per_side is None else int(per_side)
    h, w = (int(v) for v in shape)
    if h <= 0 or w <= 0:
        return []
    sh, sw = min(size, h), min(size, w)
    kr = max(1, min(per_side, h // sh))
    kc = max(1, min(per_side, w // sw))
    out: list[tuple[slice, slice]] = []
    for i in range(kr):
        r0 = min(max(int(round((i + 0.5) * h / kr - sh / 2)), 0), h - sh)
        for j in range(kc):
            c0 = min(max(int(round((j + 0.5) * w / kc - sw / 2)), 0), w - sw)
            out.append((slice(r0, r0 + sh), slice(c0, c0 + sw)))
    return out


def expand_window(window: tuple[slice, slice], depth: int, shape: tuple[int, int]
                  ) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """``(outer, inner)``: the window grown by ``depth`` pixels (clipped to the grid) and where
    the window lies inside it. The score of the inner pixels computed on the outer block
    equals their score on the whole grid (the score's declared depth)."""
    (rows, cols), d = window, int(depth)
    r0, c0 = max(rows.start - d, 0), max(cols.start - d, 0)
    r1, c1 = min(rows.stop + d, shape[0]), min(cols.stop + d, shape[1])
    outer = (slice(r0, r1), slice(c0, c1))
    inner = (slice(rows.start - r0, rows.stop - r0), slice(cols.start - c0, cols.stop - c0))
    return outer, inner


def score_counts(score: np.ndarray, valid: np.ndarray, edges: np.ndarray,
                 value_range: tuple[float, float]) -> np.ndarray:
    """Histogram counts (int64) of the valid scores clipped to ``value_range``."""
    lo, hi = value_range
    counts, _ = np.histogram(np.clip(score[np.asarray(valid, dtype=bool)], lo, hi), bins=edges)
    return counts.astype(np.int64, copy=False)


def window_counts(before: np.ndarray, after: np.ndarray, valid: np.ndarray,
                  inner: tuple[slice, slice], *, settings: Settings, stats: SceneStats,
                  pixel_size_m: float, edges: np.ndarray, value_range: tuple[float, float]
                  ) -> np.ndarray:
    """Score histogram counts of the ``inner`` part of one outer block (:func:`expand_window`).

    ``before``, ``after``, ``valid`` are the outer block. Every valid inner pixel is counted
    once (scores are finite and clipped into the range), so counts of several windows add up
    and their sum is the number of valid pixels sampled.
    """
    v = np.asarray(valid, dtype=bool)
    score = score_block(before, after, v, settings=settings, stats=stats, pixel_size_m=pixel_size_m,
                        scored=inner)
    return score_counts(score[inner], v[inner], edges, value_range)


def detect_arrays(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None = None, *,
                  pixel_size_m: float, settings: Settings = Settings(),
                  dtype: str = "float32", sample_stride: int = 1) -> DetectionResult:
    """The whole composition on in-memory arrays (one block).

    Parameters
    ----------
    before, after
        ``(4, H, W)`` blue, green, red, NIR DN (NIR all NaN when absent); NaN = no data.
    valid
        Optional ``(H, W)`` bool (e.g. no cloud).
    pixel_size_m
        Ground pixel size.
    settings
        Detection settings.
    dtype
        Tile data type (spectral reflectance scale).
    sample_stride
        Lattice step of the statistics sample.
    """
    from detection.register import estimate_shift

    b = np.asarray(before, dtype=np.float32)
    a = np.asarray(after, dtype=np.float32)
    has_nir = _has_nir(b) and _has_nir(a)
    bands = 4 if has_nir else 3
    ok = np.isfinite(b[:bands]).all(axis=0) & np.isfinite(a[:bands]).all(axis=0)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    s = int(sample_stride)
    sv = ok[::s, ::s]
    stats = scene_statistics(settings, b[:, ::s, ::s][:, sv], a[:, ::s, ::s][:, sv], dtype=dtype,
                             has_nir=has_nir)
    info: dict[str, Any] = {"method": settings.method}
    if settings.method == "learned" and settings.correct_shift:
        wins = _windows(ok.shape)
        sh = estimate_shift([b[:, r, c] for r, c in wins], [a[:, r, c] for r, c in wins])
        stats = SceneStats(stats.method, stats.has_nir, stats.params, sh.applied)
        info["shift"] = sh.as_dict()
    score = score_block(b, a, ok, settings=settings, stats=stats, pixel_size_m=pixel_size_m)
    method = get_method(settings.method)
    edges = histogram_edges(HIST_BINS, method.value_range)
    counts = score_counts(score, ok, edges, method.value_range)
    t, tinfo = choose_threshold(settings, counts, edges)
    info.update(tinfo)
    mask = clean_mask((score > np.float32(t)) & ok, ok, opening_radius=settings.opening_radius_px,
                      closing_radius=settings.closing_radius_px)
    comps = merge_components([chunk_components(mask, score)])
    keep = object_filter(comps, pixel_area=pixel_size_m ** 2, min_area_m2=settings.min_area_m2,
                         high=tinfo.get("threshold_high"))
    if settings.min_segment_coverage > 0 and keep.any():
        after3 = shift_image(a[:3], *stats.shift)
        keep, seg_info = segment_filter(
            comps, keep, lambda r0, r1, c0, c1: after3[:, r0:r1, c0:c1], ok.shape,
            after_sample=a[:3, ::s, ::s][:, sv], pixel_size_m=pixel_size_m,
            min_coverage=settings.min_segment_coverage)
        info.update(seg_info)
    info["scene"] = stats.as_dict()
    return DetectionResult(score, mask, comps, keep, t, info)
