"""Relative radiometric normalisation of the after date to the before date.

Two acquisitions of the same ground differ by sensor gain, sun angle and atmosphere. Over
ground that did not change, each band of the after date is close to a linear function of the
same band of the before date::

    after_k ~ gain_k * before_k + offset_k

The fit must ignore the pixels that did change -- new construction, and above all the
seasonal crop <-> bare-soil swap, which can move *most* pixels of a farmland scene (a summer
before date and a winter after date). A fit that trusts the majority of pixels then locks onto
"crop became soil" as if it were the radiometric difference. What does hold is that the
radiometric relation is one line over the **whole brightness range** (water, vegetation,
built-up all lie on it), while a land-cover transition is one spot in (before, after) space.

The fit runs on a pixel sample drawn on a regular lattice of the whole grid (so it does not
depend on how the grid is chunked):

1. **consensus start** -- the sample is clustered in the joint 8-D (before, after) space
   (k-means, fixed seed), each cluster being one kind of transition (crop -> crop,
   crop -> soil, water -> water, ...). Every pair of clusters proposes a per-band line through
   their medians; a cluster supports a line when its medians lie on it in all four bands
   (within 4 robust sigmas of the within-cluster difference spread). The line whose supporters
   span the widest range of before values wins (not the one with the most pixels).
2. **iterative trimming** from that start, on the supporting clusters: a pixel is an inlier when
   its residual is within ``k`` robust sigmas (1.4826 x MAD) in all four bands at once;
3. an **orthogonal (total least squares) line** per band on the inliers, symmetric in the two
   dates and not biased toward gain 1 by the noise of the before date (as ordinary least
   squares is); gains are kept within :data:`GAIN_RANGE`.

This is the pseudo-invariant-feature idea (Schott et al. 1988; IR-MAD, Canty & Nielsen 2008)
with the invariant set found by consensus across transition classes.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.cluster.vq import kmeans2, vq

__all__ = ["GAIN_RANGE", "sample_stride", "fit_gain_offset", "apply_gain_offset",
           "robust_standardise_params", "robust_standardise", "relative_correction"]

#: Gains a relative normalisation may find. Two dates of comparable products differ by a few
#: to some tens of percent; a fitted gain outside this range means the scene changed too much
#: for a line to exist (real farmland across seasons: the red bands of two NAIP years are
#: uncorrelated), and stretching one date by it would manufacture change.
GAIN_RANGE = (0.67, 1.5)


def sample_stride(height: int, width: int, target: int = 250_000) -> int:
    """Step of the regular sampling lattice giving about ``target`` pixels for the fit.

    Parameters
    ----------
    height, width
        Grid shape.
    target
        Wanted number of sampled pixels.

    Returns
    -------
    int
        ``s >= 1``; sample pixels are those with ``row % s == 0 and col % s == 0``.
    """
    return max(1, int(math.ceil(math.sqrt(height * width / max(target, 1)))))


def _tls_line(x: np.ndarray, y: np.ndarray, gain_range: tuple[float, float]) -> tuple[float, float]:
    """Orthogonal-regression line ``y = g x + o``, the gain clamped to ``gain_range``.

    Gain 1 and the mean offset when the data fix no slope (no spread, no positive correlation).
    """
    mx, my = float(x.mean()), float(y.mean())
    dx, dy = x - mx, y - my
    sxx, syy, sxy = float(dx @ dx), float(dy @ dy), float(dx @ dy)
    if sxy <= 0 or sxx <= 0:
        return 1.0, my - mx
    gain = (syy - sxx + math.sqrt((syy - sxx) ** 2 + 4.0 * sxy * sxy)) / (2.0 * sxy)
    if not math.isfinite(gain):
        return 1.0, my - mx
    gain = min(max(gain, gain_range[0]), gain_range[1])
    return gain, my - gain * mx


def _cluster_start(
    b: np.ndarray, a: np.ndarray, n_clusters: int, seed: int, gain_range: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Consensus line across joint (before, after) clusters; None when it cannot be formed.

    Returns the start gains, offsets and the boolean pixel selection of the supporting clusters.
    """
    nb, n = b.shape
    joint = np.concatenate([b, a]).T
    step = max(1, n // 20_000)
    train = joint[::step]
    if np.unique(train, axis=0).shape[0] < 3:
        return None
    k = min(n_clusters, np.unique(train, axis=0).shape[0])
    centroids, _ = kmeans2(train, k, iter=15, minit="++", rng=np.random.default_rng(seed))
    labels, _ = vq(joint, centroids, check_finite=False)
    ids = [c for c in range(k) if np.count_nonzero(labels == c) >= max(20, n // 1000)]
    if len(ids) < 2:
        return None
    med_b = np.array([np.median(b[:, labels == c], axis=1) for c in ids])  # (m, bands)
    med_a = np.array([np.median(a[:, labels == c], axis=1) for c in ids])
    spread = np.array([1.4826 * np.median(np.abs((a - b)[:, labels == c]
                                                 - np.median((a - b)[:, labels == c], axis=1)[:, None]),
                                          axis=1) for c in ids])
    sigma = np.maximum(np.median(spread, axis=0), 1e-6 * (np.abs(b).mean(axis=1) + 1.0))
    full_range = np.ptp(med_b, axis=0) + 1e-12
    best, best_key = None, None
    m = len(ids)
    for i in range(m):
        for j in range(i + 1, m):
            db = med_b[j] - med_b[i]
            if np.any(np.abs(db) < 3 * sigma):
                continue  # the two clusters do not fix a slope in every band
            g = (med_a[j] - med_a[i]) / db
            if np.any(g < gain_range[0]) or np.any(g > gain_range[1]):
                continue
            o = med_a[i] - g * med_b[i]
            support = np.all(np.abs(med_a - (g * med_b + o)) <= 4 * sigma, axis=1)
            span = float(np.sum(np.ptp(med_b[support], axis=0) / full_range))
            key = (round(span, 9), int(support.sum()))
            if best_key is None or key > best_key:
                best, best_key = (g, o, support), key
    if best is None:
        return None
    g, o, support = best
    chosen = np.isin(labels, np.asarray(ids)[support])
    return g.astype(np.float64), o.astype(np.float64), chosen


def fit_gain_offset(
    before: np.ndarray,
    after: np.ndarray,
    *,
    k: float = 3.0,
    max_iter: int = 30,
    n_clusters: int = 12,
    seed: int = 0,
    gain_range: tuple[float, float] = GAIN_RANGE,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Robust per-band ``after = gain * before + offset`` from jointly valid sample pixels.

    Parameters
    ----------
    before, after
        ``(bands, n)`` arrays of the same pixels in both dates, all finite.
    k
        Inlier limit in robust sigmas, applied to every band at once.
    max_iter
        Maximum number of trim-and-refit rounds.
    n_clusters, seed
        Joint clusters of the consensus start and the k-means seed (deterministic).
    gain_range
        Plausible gains; a fit outside is clamped (see :data:`GAIN_RANGE`).

    Returns
    -------
    gains, offsets : numpy.ndarray
        ``(bands,)`` float64.
    n_inliers : int
        Pixels used by the final fit.
    """
    b = np.asarray(before, dtype=np.float64)
    a = np.asarray(after, dtype=np.float64)
    if b.shape != a.shape or b.ndim != 2:
        raise ValueError(f"before and after must be (bands, n) of the same shape, got {b.shape} and {a.shape}")
    nb, n = b.shape
    if n == 0:
        return np.ones(nb), np.zeros(nb), 0
    start = _cluster_start(b, a, n_clusters, seed, gain_range) if n >= 100 else None
    if start is None:
        gains, offsets, inliers = np.ones(nb), np.median(a - b, axis=1), np.ones(n, dtype=bool)
    else:
        gains, offsets, inliers = start
    # the noise floor of the MAD: never trim exactly-fitting data to nothing
    floor = 1e-6 * (np.abs(b).mean(axis=1) + 1.0)
    for _ in range(max_iter):
        resid = a - (gains[:, None] * b + offsets[:, None])
        centre = np.median(resid[:, inliers], axis=1)
        sigma = 1.4826 * np.median(np.abs(resid[:, inliers] - centre[:, None]), axis=1)
        sigma = np.maximum(sigma, floor)
        z = np.max(np.abs(resid - centre[:, None]) / sigma[:, None], axis=0)
        new = z <= k
        if new.sum() < max(10, nb + 1):
            break
        for i in range(nb):
            gains[i], offsets[i] = _tls_line(b[i, new], a[i, new], gain_range)
        if np.array_equal(new, inliers):
            break
        inliers = new
    return gains, offsets, int(inliers.sum())


def apply_gain_offset(after: np.ndarray, gains: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Bring the after date onto the before date's radiometry: ``(after - offset) / gain``.

    Parameters
    ----------
    after
        ``(bands, ...)`` array; NaN (invalid) stays NaN.
    gains, offsets
        ``(bands,)`` from :func:`fit_gain_offset`.

    Returns
    -------
    numpy.ndarray
        Same shape, float32.
    """
    shape = (-1,) + (1,) * (after.ndim - 1)
    g = np.asarray(gains, dtype=np.float32).reshape(shape)
    o = np.asarray(offsets, dtype=np.float32).reshape(shape)
    return ((after.astype(np.float32, copy=False) - o) / g).astype(np.float32, copy=False)


def robust_standardise_params(sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band centre (median) and scale (interquartile range) of a pixel sample.

    Order statistics only (``method="nearest"``: every value is one of the sample's own
    values, never an interpolation between two), so multiplying the DN by any constant
    multiplies centre and scale by exactly that constant and the standardised image of
    :func:`robust_standardise` is bit-identical (DN x 257 gives the same features).

    Parameters
    ----------
    sample
        ``(bands, n)`` finite values of one date.

    Returns
    -------
    centre, scale : numpy.ndarray
        ``(bands,)`` float64; a band whose interquartile range is 0 gets the full range as
        scale, and 1 when that is 0 too (a constant band standardises to 0).
    """
    x = np.asarray(sample, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"sample must be (bands, n), got {x.shape}")
    nb = x.shape[0]
    if x.shape[1] == 0:
        return np.zeros(nb), np.ones(nb)
    q = np.percentile(x, [0, 25, 50, 75, 100], axis=1, method="nearest")
    centre = q[2]
    scale = q[3] - q[1]
    full = q[4] - q[0]
    scale = np.where(scale > 0, scale, np.where(full > 0, full, 1.0))
    return centre.astype(np.float64), scale.astype(np.float64)


def robust_standardise(image: np.ndarray, centre: np.ndarray, scale: np.ndarray,
                       fill: float = 0.0) -> np.ndarray:
    """``(image - centre) / scale`` per band, computed in float64, returned as float32.

    Parameters
    ----------
    image
        ``(bands, ...)`` DN; NaN (no data) becomes ``fill``.
    centre, scale
        ``(bands,)`` from :func:`robust_standardise_params`.
    fill
        Value written where the input is not finite.

    Returns
    -------
    numpy.ndarray
        Same shape, float32.
    """
    shape = (-1,) + (1,) * (np.ndim(image) - 1)
    c = np.asarray(centre, dtype=np.float64).reshape(shape)
    s = np.asarray(scale, dtype=np.float64).reshape(shape)
    z = (np.asarray(image, dtype=np.float64) - c) / s
    z[~np.isfinite(z)] = fill
    return z.astype(np.float32)


def relative_correction(before_z: np.ndarray, after_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gain/offset of the standardised after date on the standardised before date.

    Per-date standardisation alone assumes both dates hold the same mix of surfaces; when a
    large part of the scene changed (a sixth of it harvested, a new district), the median and
    IQR of the after date move and every unchanged pixel seems to change a little. The
    consensus fit of :func:`fit_gain_offset` (no-change pixels picked across land-cover
    transitions, the pseudo-invariant-feature idea of IR-MAD) on the standardised samples
    gives the residual relation; the after date is then ``(z_after - offset) / gain``.
    The inputs are standardised values, identical for any linear rescale of the DN, so the
    correction is too.

    Parameters
    ----------
    before_z, after_z
        ``(bands, n)`` standardised values of the same valid sample pixels.

    Returns
    -------
    gains, offsets : numpy.ndarray
        ``(bands,)`` float64 (1 and 0 when the sample is too small).
    """
    nb = before_z.shape[0]
    if before_z.shape[1] < 100:
        return np.ones(nb), np.zeros(nb)
    gains, offsets, _ = fit_gain_offset(before_z, after_z)
    return gains, offsets
