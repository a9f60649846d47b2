"""Co-registration check of the two dates: phase correlation on brightness.

Two acquisitions delivered "on the same grid" are often off by a pixel or two (orthorectified
with different DEMs or control points). Every edge then reads as change. The shift of the
after date relative to the before date is measured with sub-pixel phase correlation
(``skimage.registration.phase_cross_correlation``, Guizar-Sicairos et al. 2008) on the
brightness of one or more windows of the scene, and the pipeline moves the after date by the
rounded shift (whole pixels, at most :data:`detection.learned.MAX_SHIFT_PX`) before scoring.
The remaining sub-pixel part is left to the features (smoothing, a shift-tolerant difference).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Shift", "brightness", "estimate_shift"]


@dataclass(frozen=True)
class Shift:
    """A measured shift of the after date onto the before date.

    Attributes
    ----------
    dy, dx
        Sub-pixel translation that registers after onto before
        (``after_corrected[y, x] = after[y - dy, x - dx]``).
    error
        Phase-correlation error (0 = perfect match, 1 = none).
    applied
        The whole-pixel ``(dy, dx)`` applied, ``(0, 0)`` when below half a pixel, unreliable or
        larger than the maximum.
    windows
        Number of windows the estimate is the median of.
    """

    dy: float
    dx: float
    error: float
    applied: tuple[int, int]
    windows: int

    def as_dict(self) -> dict[str, object]:
        """JSON-serialisable view for the run statistics."""
        return {"dy_px": round(self.dy, 3), "dx_px": round(self.dx, 3), "error": round(self.error, 4),
                "applied_px": [int(self.applied[0]), int(self.applied[1])], "windows": self.windows}


def brightness(image: np.ndarray) -> np.ndarray:
    """Mean of the first three bands, each standardised on its own finite pixels; NaN -> 0."""
    x = np.asarray(image, dtype=np.float64)[:3]
    out = np.zeros(x.shape[1:], dtype=np.float64)
    ok = np.isfinite(x).all(axis=0)
    if not ok.any():
        return out
    for band in x:
        v = band[ok]
        sd = float(v.std()) or 1.0
        out += np.where(ok, (band - float(v.mean())) / sd, 0.0)
    return out / x.shape[0]


def estimate_shift(before_windows: list[np.ndarray], after_windows: list[np.ndarray], *,
                   max_shift: int = 3, max_error: float = 0.85, max_error_agreed: float = 0.97,
                   max_spread: float = 0.5) -> Shift:
    """Shift of the after date onto the before date, the median over windows.

    Parameters
    ----------
    before_windows, after_windows
        Matching ``(bands, rows, cols)`` windows of both dates (DN, NaN = no data); windows
        smaller than 32 x 32 or with under half of their pixels valid are skipped.
    max_shift
        Largest whole-pixel shift applied; a larger measured shift is reported, not applied.
    max_error
        A single-window estimate with a larger phase-correlation error is not applied.
    max_error_agreed
        The same for an estimate whose windows agree (at least two, within ``max_spread``):
        a scene with much real change (a season apart) has a high error even when its
        windows all find the same shift, and agreement is the better evidence.
    max_spread
        With several windows, estimates whose windows disagree by more than this many
        pixels (largest distance from the median) are not applied.

    Returns
    -------
    Shift
    """
    from skimage.registration import phase_cross_correlation

    found = []
    for b, a in zip(before_windows, after_windows):
        b = np.asarray(b)
        a = np.asarray(a)
        if min(b.shape[-2:]) < 32:
            continue
        ok = np.isfinite(b[:3]).all(axis=0) & np.isfinite(a[:3]).all(axis=0)
        if ok.mean() < 0.5:
            continue
        lb, la = brightness(b), brightness(a)
        if float(lb.std()) == 0.0 or float(la.std()) == 0.0:
            continue
        shift, error, _ = phase_cross_correlation(lb, la, upsample_factor=10, normalization=None)
        found.append((float(shift[0]), float(shift[1]), float(error)))
    if not found:
        return Shift(0.0, 0.0, 1.0, (0, 0), 0)
    arr = np.array(found)
    dy, dx, err = (float(v) for v in np.median(arr, axis=0))
    applied = (int(np.round(dy)), int(np.round(dx)))
    agreed = len(found) > 1 and float(np.max(np.abs(arr[:, :2] - [dy, dx]))) <= max_spread
    limit = max_error_agreed if agreed else max_error
    if (len(found) > 1 and not agreed) or err > limit or max(abs(applied[0]), abs(applied[1])) > max_shift:
        applied = (0, 0)
    return Shift(dy, dx, err, applied, len(found))
