"""Classic unsupervised change-detection baselines, the figures a new detector must beat.

Both take the two dates as ``(bands, H, W)`` float arrays on the same grid (any band order, the
same in both dates) and an optional ``(H, W)`` valid mask, and return an ``(H, W)`` bool change
mask that is False outside the valid pixels. They know nothing about construction: they find
*any* radiometric change, which is why they are baselines.

:func:`cva_otsu`
    Change-vector analysis: each band of each date is standardised on its own (zero mean, unit
    standard deviation over the valid pixels, which removes gain/offset differences between the
    dates), the per-pixel magnitude of the difference vector is thresholded with Otsu's method.

:func:`pca_kmeans`
    Celik, T. (2009), "Unsupervised change detection in satellite images using principal
    component analysis and k-means clustering", IEEE Geoscience and Remote Sensing Letters
    6(4), 772-776. The absolute difference image is cut into non-overlapping ``h x h`` blocks;
    PCA of those block vectors gives an eigenvector basis; every pixel's ``h x h`` neighbourhood
    is projected on the first ``S`` eigenvectors, and k-means with ``k = 2`` splits these
    feature vectors; the cluster whose pixels have the larger mean difference is "change".
    The paper works on one band; for several bands the difference image here is the magnitude
    of the per-pixel difference vector of the values as given (:func:`difference_magnitude`
    with ``standardised=False``).

Invalid pixels (False in ``valid``, or non-finite in either date) take no part in any
statistic and are never change.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.cluster.vq import kmeans2
from skimage.filters import threshold_otsu

__all__ = ["standardise", "difference_magnitude", "cva_otsu", "pca_kmeans"]


def _check(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = np.asarray(before, dtype=np.float64)
    a = np.asarray(after, dtype=np.float64)
    if b.ndim != 3 or b.shape != a.shape:
        raise ValueError(f"before and after must both be (bands, H, W), got {b.shape} and {a.shape}")
    ok = np.isfinite(b).all(axis=0) & np.isfinite(a).all(axis=0)
    if valid is not None:
        v = np.asarray(valid, dtype=bool)
        if v.shape != b.shape[1:]:
            raise ValueError(f"valid must be {b.shape[1:]}, got {v.shape}")
        ok &= v
    return b, a, ok


def standardise(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Each band to zero mean and unit standard deviation over the valid pixels.

    Parameters
    ----------
    image
        ``(bands, H, W)`` float.
    valid
        ``(H, W)`` bool; the statistics use these pixels only.

    Returns
    -------
    numpy.ndarray
        ``(bands, H, W)`` float64; 0 at invalid pixels. A constant band becomes all 0.
    """
    out = np.zeros(image.shape, dtype=np.float64)
    if not valid.any():
        return out
    for k in range(image.shape[0]):
        x = image[k][valid]
        sd = float(x.std())
        band = np.asarray(image[k], dtype=np.float64) - float(x.mean())
        if sd > 0:
            band /= sd
        out[k] = np.where(valid, band, 0.0)
    return out


def difference_magnitude(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None = None,
                         *, standardised: bool = True) -> np.ndarray:
    """Per-pixel magnitude of the change vector ``after - before``.

    Parameters
    ----------
    before, after
        ``(bands, H, W)`` float.
    valid
        Optional ``(H, W)`` bool.
    standardised
        Standardise each band of each date first (:func:`standardise`); otherwise use the
        values as given.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float64 >= 0; 0 at invalid pixels.
    """
    b, a, ok = _check(before, after, valid)
    if standardised:
        b, a = standardise(b, ok), standardise(a, ok)
    d = np.sqrt(np.sum((a - b) ** 2, axis=0))
    return np.where(ok, d, 0.0)


def cva_otsu(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Change-vector analysis of per-date standardised bands, Otsu threshold.

    Parameters
    ----------
    before, after
        ``(bands, H, W)`` float, the same bands in the same order.
    valid
        Optional ``(H, W)`` bool; non-finite pixels are invalid as well.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` bool: magnitude ``>`` Otsu's threshold (256-bin histogram of the valid
        magnitudes). All False when the valid magnitudes are all equal (e.g. identical dates).
    """
    b, a, ok = _check(before, after, valid)
    mag = difference_magnitude(b, a, ok)
    values = mag[ok]
    if values.size == 0 or float(values.max()) == float(values.min()):
        return np.zeros(ok.shape, dtype=bool)
    t = float(threshold_otsu(values, nbins=256))
    return (mag > t) & ok


def _block_vectors(diff: np.ndarray, ok: np.ndarray, h: int) -> np.ndarray:
    """Non-overlapping ``h x h`` blocks of fully valid pixels as ``(n, h*h)`` row vectors."""
    rows, cols = (diff.shape[0] // h) * h, (diff.shape[1] // h) * h
    blocks = diff[:rows, :cols].reshape(rows // h, h, cols // h, h).transpose(0, 2, 1, 3).reshape(-1, h * h)
    full = ok[:rows, :cols].reshape(rows // h, h, cols // h, h).all(axis=(1, 3)).ravel()
    return blocks[full]


def pca_kmeans(
    before: np.ndarray,
    after: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    block: int = 4,
    components: int = 3,
    seed: int = 0,
    standardised: bool = False,
) -> np.ndarray:
    """PCA-KMeans change detection (Celik 2009), see the module docstring.

    Parameters
    ----------
    before, after
        ``(bands, H, W)`` float, the same bands in the same order.
    valid
        Optional ``(H, W)`` bool; non-finite pixels are invalid as well.
    block
        ``h``: side of the non-overlapping blocks and of each pixel's neighbourhood.
    components
        ``S``: eigenvectors kept (at most ``h * h``).
    seed
        Seed of the k-means++ initialisation (the result is deterministic).
    standardised
        Difference of the values as given (default, as in the paper, and the variant that
        reproduces the reference figures) or of per-date standardised bands.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` bool, True in the cluster with the larger mean difference magnitude. All
        False when the difference image is constant over the valid pixels (e.g. identical
        dates) or has fewer valid blocks than components.

    Notes
    -----
    The projection of every pixel's neighbourhood on an eigenvector ``e`` is a correlation of
    the difference image with ``e`` reshaped to ``h x h``, computed with
    :func:`scipy.ndimage.correlate` (memory ``O(S H W)`` instead of ``O(h^2 H W)``).
    Neighbourhoods reaching past the image edge use mirrored pixels; invalid pixels inside a
    neighbourhood count as difference 0.
    """
    b, a, ok = _check(before, after, valid)
    h, s = int(block), int(components)
    if h < 1 or not 1 <= s <= h * h:
        raise ValueError(f"need block >= 1 and 1 <= components <= block**2, got {block}, {components}")
    empty = np.zeros(ok.shape, dtype=bool)
    diff = difference_magnitude(b, a, ok, standardised=standardised)
    values = diff[ok]
    if values.size == 0 or float(values.max()) == float(values.min()):
        return empty
    vectors = _block_vectors(diff, ok, h)
    if vectors.shape[0] <= s:
        return empty
    mean = vectors.mean(axis=0)
    cov = np.cov(vectors - mean, rowvar=False)
    evals, evecs = np.linalg.eigh(cov)
    basis = evecs[:, np.argsort(evals)[::-1][:s]]  # (h*h, s), largest eigenvalues first
    # scipy's correlate with origin 0 places a kernel of size h at index h // 2: the window is
    # offsets -(h // 2) .. h - 1 - h // 2 around the pixel (-2 .. 1 for h = 4)
    feats = np.empty((int(ok.sum()), s), dtype=np.float64)
    for k in range(s):
        kernel = basis[:, k].reshape(h, h)
        proj = ndimage.correlate(diff, kernel, mode="mirror")
        feats[:, k] = proj[ok] - float(mean @ basis[:, k])
    centroids, labels = kmeans2(feats, 2, iter=30, minit="++", rng=np.random.default_rng(seed))
    if np.unique(labels).size < 2:
        return empty
    change = int(np.argmax([values[labels == c].mean() for c in (0, 1)]))
    out = empty.copy()
    out[ok] = labels == change
    return out
