"""Choosing the change threshold: Otsu over a global score histogram, with a floor.

The histogram sums per-chunk (or per-window) integer counts, hence is independent of chunking:
over the whole grid for an image of up to ``detection.compose.EXACT_THRESHOLD_MAX_PIXELS``, over
the windows of ``detection.compose.threshold_windows`` for a larger one (``pipeline.detect``);
Otsu's method only needs the counts. A no-change pair
has a unimodal score histogram near 0, where Otsu still returns *some* split -- the floor
``min_threshold`` makes such a pair find nothing.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SCORE_RANGE", "SCORE_BINS", "histogram_edges", "otsu_threshold", "choose_threshold"]

#: range and number of bins of the score histogram (score is in blue-reflectance units)
SCORE_RANGE = (0.0, 1.0)
SCORE_BINS = 2000


def histogram_edges(bins: int = SCORE_BINS, value_range: tuple[float, float] = SCORE_RANGE) -> np.ndarray:
    """Bin edges of the score histogram, float64."""
    return np.linspace(value_range[0], value_range[1], bins + 1)


def otsu_threshold(counts: np.ndarray, edges: np.ndarray) -> float:
    """Otsu's threshold from a histogram.

    Parameters
    ----------
    counts
        ``(n,)`` non-negative counts.
    edges
        ``(n + 1,)`` bin edges.

    Returns
    -------
    float
        The upper edge of the last bin of the lower class: values ``> t`` form the upper
        class. ``edges[0]`` when the histogram has fewer than two non-empty bins.
    """
    counts = np.asarray(counts, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    if counts.ndim != 1 or edges.shape != (counts.size + 1,):
        raise ValueError("counts must be 1-D and edges one longer")
    if np.count_nonzero(counts) < 2:
        return float(edges[0])
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(counts)
    m0 = np.cumsum(counts * centres)
    total, mtotal = w0[-1], m0[-1]
    w1 = total - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mtotal * w0 - m0 * total) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1.0
    # several equal maxima (an empty gap between two modes): take the middle of the plateau
    best = np.flatnonzero(between == between.max())
    i = int(best[len(best) // 2])
    return float(edges[i + 1])


def choose_threshold(
    setting: str | float,
    min_threshold: float,
    counts: np.ndarray | None = None,
    edges: np.ndarray | None = None,
) -> tuple[float, float | None]:
    """The threshold a run uses.

    Parameters
    ----------
    setting
        ``"otsu"`` or a fixed number (``DetectionConfig.threshold``).
    min_threshold
        Floor for the Otsu value.
    counts, edges
        Score histogram, required for ``"otsu"``.

    Returns
    -------
    threshold : float
        Used value: pixels with score ``> threshold`` are change.
    otsu : float or None
        The raw Otsu value before the floor (None for a fixed threshold).
    """
    if isinstance(setting, str):
        if setting != "otsu":
            raise ValueError(f"threshold must be a number or 'otsu', got {setting!r}")
        if counts is None or edges is None:
            raise ValueError("the Otsu threshold needs the score histogram")
        raw = otsu_threshold(counts, edges)
        return max(raw, float(min_threshold)), raw
    return float(setting), None
