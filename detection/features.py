"""Per-pixel features of new construction between two dates, for the learned detector.

What the features describe, and why they transfer between sensors and places
-------------------------------------------------------------------------------
Both dates are first standardised on their own (:func:`detection.normalize.robust_standardise`:
per band ``(DN - median) / IQR`` over the valid pixels of the whole scene, order statistics
only). Everything below is computed from those standardised bands ``z`` (red, green, blue,
optional NIR), so a linear rescale of the DN of a date (the same image stored as DN x 257)
gives bit-identical features, and no feature reads an absolute reflectance.

Per date (prefix ``b_`` before, ``a_`` after) on the brightness ``L = mean(z_r, z_g, z_b)``:

* ``L``, ``cb = z_b - L``, ``cr = z_r - L``: brightness and the two chroma axes, smoothed;
* ``std_s``, ``std_l``: local standard deviation of ``L`` (texture) at two scales;
* ``grad``: gradient magnitude (Gaussian derivative), smoothed;
* ``wth{n}`` / ``wthmin{n}``: white top-hats of ``L`` with line structuring elements of length
  ``n`` metres in four directions, mean and minimum over the directions. This is the
  morphological building index of Huang & Zhang (2012, IEEE JSTARS 5(1)) with plain openings
  instead of openings by reconstruction (which are not local and could not be chunked):
  a bright object shorter than ``n`` in every direction (a roof) is removed by every opening
  (high mean and min), a road only by the openings across it (high mean, low min), a field
  larger than ``n`` by none (0);
* ``bth{n}`` / ``bthmin{n}``: the black top-hats (closings), the shadow counterpart (MSI):
  dark compact objects -- shadows cast by new buildings, dark roofs on bright ground.

Change (prefix ``d_`` difference, ``r_`` log ratio of the after to the before value):
``d_L``, ``d_cb``, ``d_cr``; ``r_`` of texture, gradient and every top-hat (new structure
appears where there was none); ``mag{s}``: magnitude of the smoothed colour-difference vector
at three scales; ``tol_s``/``tol_l``: a misregistration-tolerant difference (the smallest
colour difference to any of the 3 x 3 neighbours of the other date, so a 1-px shift of an
unchanged edge reads 0), smoothed; ``ctx_wth``/``ctx_bth``: top-hat change over a wider area
(a new building has new shadow beside it).

Scales are in metres, turned into pixels with the pixel size (at least half a pixel), so the
same building gives comparable features at 0.5 m and at 2 m; lines longer than
:data:`MAX_LINE_PX` pixels are shortened (at very fine resolution the largest scale is cut).

Neighbourhood and chunking
--------------------------
Every operation is local and computed directly per output pixel (Gaussian filters by direct
correlation, grey openings/closings as minima/maxima, no running sums or FFTs), so the value
of a pixel depends only on input pixels at most :func:`feature_depth` away, computed the same
way whatever block it is in. ``dask.array.map_overlap`` with that depth (and
``boundary="none"``) therefore gives bit-identical features for any chunking. Scipy's
``mode="reflect"`` border only ever acts at the real grid edge.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from detection.morphology import line_closing, line_footprint, line_opening

__all__ = [
    "FeatureSpec",
    "DEFAULT_SPEC",
    "MAX_LINE_PX",
    "feature_names",
    "feature_depth",
    "feature_stack",
    "line_footprint",
]

#: longest line structuring element, pixels (bounds the cost at very fine resolution)
MAX_LINE_PX = 41
_TRUNCATE = 3.0  # Gaussian kernels reach 3 sigma
_EPS = 0.05  # added to non-negative texture/top-hat values before a log ratio (z units)


@dataclass(frozen=True)
class FeatureSpec:
    """The scales of the feature stack, in metres.

    Attributes
    ----------
    smooth_m
        Smoothing of brightness / chroma and of the top-hats.
    texture_m
        The two scales of the local standard deviation (small, large).
    gradient_m
        Scale of the Gaussian gradient and of its smoothing.
    lines_m
        Lengths of the line structuring elements of the top-hats.
    magnitude_m
        Scales of the colour-difference magnitude.
    tolerant_m
        Smoothing of the misregistration-tolerant difference (small, large).
    context_m
        Scale of the top-hat change context.
    """

    smooth_m: float = 1.0
    texture_m: tuple[float, float] = (1.5, 4.0)
    gradient_m: tuple[float, float] = (1.0, 2.0)
    lines_m: tuple[float, ...] = (10.0, 20.0, 40.0)
    magnitude_m: tuple[float, ...] = (1.0, 3.0, 8.0)
    tolerant_m: tuple[float, float] = (1.0, 4.0)
    context_m: float = 4.0


DEFAULT_SPEC = FeatureSpec()

_DATE_KEYS = ("L", "cb", "cr", "std_s", "std_l", "grad")
_CHANGE_RATIO = ("std_s", "std_l", "grad")


def _sigma(metres: float, pixel_size_m: float) -> float:
    return max(0.5, float(metres) / float(pixel_size_m))


def _reach(sigma: float) -> int:
    """Pixels a scipy Gaussian of ``sigma`` with ``truncate=3`` reaches."""
    return int(_TRUNCATE * sigma + 0.5)


def _line_px(metres: float, pixel_size_m: float) -> int:
    n = int(round(float(metres) / float(pixel_size_m)))
    n = max(3, min(MAX_LINE_PX, n))
    return n if n % 2 == 1 else n + 1


def feature_names(spec: FeatureSpec = DEFAULT_SPEC) -> list[str]:
    """Names of the feature stack's layers, in order."""
    lines = [f"{int(m)}" for m in spec.lines_m]
    per_date = list(_DATE_KEYS)
    for n in lines:
        per_date += [f"wth{n}", f"wthmin{n}", f"bth{n}", f"bthmin{n}"]
    names = []
    for k in per_date:
        names += [f"a_{k}", f"b_{k}"]
    names += ["d_L", "d_cb", "d_cr"]
    names += [f"r_{k}" for k in _CHANGE_RATIO]
    for n in lines:
        names += [f"r_wth{n}", f"r_bth{n}", f"r_wthmin{n}"]
    names += [f"mag{int(m)}" for m in spec.magnitude_m]
    names += ["tol_s", "tol_l", "ctx_wth", "ctx_bth"]
    return names


def feature_depth(pixel_size_m: float, spec: FeatureSpec = DEFAULT_SPEC) -> int:
    """Pixels of context :func:`feature_stack` needs around a block (exact chunking).

    Parameters
    ----------
    pixel_size_m
        Ground pixel size.
    spec
        The feature scales.
    """
    p = float(pixel_size_m)
    sm = _reach(_sigma(spec.smooth_m, p))
    pre = _reach(_sigma(0.5 * spec.smooth_m, p))
    reaches = [sm]
    reaches += [_reach(_sigma(t, p)) for t in spec.texture_m]
    g0, g1 = (_sigma(t, p) for t in spec.gradient_m)
    reaches.append(_reach(g0) + _reach(g1))
    top = max(_line_px(m, p) - 1 for m in spec.lines_m)  # opening = erosion + dilation
    reaches.append(pre + top + sm)
    reaches += [_reach(_sigma(m, p)) for m in spec.magnitude_m]
    reaches += [1 + _reach(_sigma(t, p)) for t in spec.tolerant_m]
    mid = _line_px(spec.lines_m[len(spec.lines_m) // 2], p) - 1
    reaches.append(pre + mid + sm + _reach(_sigma(spec.context_m, p)))
    return int(max(reaches))


def _gauss(x: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(x, sigma, mode="reflect", truncate=_TRUNCATE)


def _local_std(x: np.ndarray, sigma: float) -> np.ndarray:
    m = _gauss(x, sigma)
    m2 = _gauss(x * x, sigma)
    return np.sqrt(np.maximum(m2 - m * m, 0.0))


def _date_features(z: np.ndarray, p: float, spec: FeatureSpec) -> dict[str, np.ndarray]:
    L = (z[0] + z[1] + z[2]) / np.float32(3.0)
    s = _sigma(spec.smooth_m, p)
    f: dict[str, np.ndarray] = {
        "L": _gauss(L, s),
        "cb": _gauss(z[2] - L, s),
        "cr": _gauss(z[0] - L, s),
        "std_s": _local_std(L, _sigma(spec.texture_m[0], p)),
        "std_l": _local_std(L, _sigma(spec.texture_m[1], p)),
    }
    g = ndimage.gaussian_gradient_magnitude(L, _sigma(spec.gradient_m[0], p), mode="reflect",
                                            truncate=_TRUNCATE)
    f["grad"] = _gauss(g, _sigma(spec.gradient_m[1], p))
    base = _gauss(L, _sigma(0.5 * spec.smooth_m, p))
    for m in spec.lines_m:
        n = _line_px(m, p)
        white = np.empty((4,) + L.shape, dtype=np.float32)
        black = np.empty((4,) + L.shape, dtype=np.float32)
        for d in range(4):
            white[d] = base - line_opening(base, n, d)
            black[d] = line_closing(base, n, d) - base
        key = f"{int(m)}"
        f[f"wth{key}"] = _gauss(white.mean(axis=0), s)
        f[f"wthmin{key}"] = _gauss(white.min(axis=0), s)
        f[f"bth{key}"] = _gauss(black.mean(axis=0), s)
        f[f"bthmin{key}"] = _gauss(black.min(axis=0), s)
    return f


def _log_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    eps = np.float32(_EPS)
    return np.log((np.maximum(a, 0) + eps) / (np.maximum(b, 0) + eps))


def feature_stack(
    before: np.ndarray,
    after: np.ndarray,
    pixel_size_m: float,
    spec: FeatureSpec = DEFAULT_SPEC,
) -> np.ndarray:
    """The feature stack of one block (see the module docstring).

    Parameters
    ----------
    before, after
        ``(bands, rows, cols)`` standardised bands in the order red, green, blue (a NIR band
        after them is accepted and not used: the classifier is trained on RGB), finite
        everywhere (invalid pixels filled, e.g. with 0, by the caller).
    pixel_size_m
        Ground pixel size in metres.
    spec
        The feature scales.

    Returns
    -------
    numpy.ndarray
        ``(len(feature_names(spec)), rows, cols)`` float32.
    """
    b = np.asarray(before, dtype=np.float32)
    a = np.asarray(after, dtype=np.float32)
    if b.shape != a.shape or b.ndim != 3 or b.shape[0] < 3:
        raise ValueError(f"before/after must both be (>=3, rows, cols), got {b.shape} and {a.shape}")
    p = float(pixel_size_m)
    if not (p > 0 and math.isfinite(p)):
        raise ValueError(f"pixel_size_m must be positive, got {pixel_size_m}")
    fb = _date_features(b, p, spec)
    fa = _date_features(a, p, spec)
    out: dict[str, np.ndarray] = {}
    for k in fa:
        out[f"a_{k}"] = fa[k]
        out[f"b_{k}"] = fb[k]
    for k in ("L", "cb", "cr"):
        out[f"d_{k}"] = fa[k] - fb[k]
    for k in _CHANGE_RATIO:
        out[f"r_{k}"] = _log_ratio(fa[k], fb[k])
    for m in spec.lines_m:
        key = f"{int(m)}"
        for t in ("wth", "bth", "wthmin"):
            out[f"r_{t}{key}"] = _log_ratio(fa[f"{t}{key}"], fb[f"{t}{key}"])
    diff = a[:3] - b[:3]
    for m in spec.magnitude_m:
        s = _sigma(m, p)
        sm = np.stack([_gauss(diff[k], s) for k in range(3)])
        out[f"mag{int(m)}"] = np.sqrt((sm * sm).sum(axis=0))
    rows, cols = a.shape[1:]
    padded = np.pad(b[:3], ((0, 0), (1, 1), (1, 1)), mode="edge")
    best = None
    for dy in range(3):
        for dx in range(3):
            d = np.abs(a[:3] - padded[:, dy:dy + rows, dx:dx + cols]).sum(axis=0)
            best = d if best is None else np.minimum(best, d)
    out["tol_s"] = _gauss(best, _sigma(spec.tolerant_m[0], p))
    out["tol_l"] = _gauss(best, _sigma(spec.tolerant_m[1], p))
    mid = f"{int(spec.lines_m[len(spec.lines_m) // 2])}"
    c = _sigma(spec.context_m, p)
    out["ctx_wth"] = _gauss(fa[f"wth{mid}"] - fb[f"wth{mid}"], c)
    out["ctx_bth"] = _gauss(fa[f"bth{mid}"] - fb[f"bth{mid}"], c)
    del fa, fb, diff, padded, best  # from here on each feature is held by ``out`` alone
    names = feature_names(spec)
    stack = np.empty((len(names), rows, cols), dtype=np.float32)
    for i, n in enumerate(names):
        stack[i] = out.pop(n)  # released as it is copied: the block's features are held once
    return stack
