"""Cleaning the thresholded change mask: morphological opening, then closing.

Opening (erosion then dilation with a digital disk of ``opening_radius_px``, :func:`disk`) removes specks and
one-pixel bridges; closing (dilation then erosion with a disk of ``closing_radius_px``) fills
pinholes and narrow gaps. Invalid pixels are never change: they are removed before the
opening and again at the end, so the closing cannot bridge a patch into a cloud or nodata gap.

Border rule (the same for a whole grid and for one chunk with its overlap): outside the grid
is "no change" for the opening and "change" for the erosion of the closing, so the closing
never eats a patch that touches the grid edge (scipy's default would) and the opening removes
what it removes anywhere else.

The result at a pixel depends on input pixels up to :func:`clean_depth` away, which is the
overlap to give ``dask.array.map_overlap`` (with ``boundary="none"``, so a chunk on the grid
edge sees the real edge) for the chunked result to equal the whole-grid one.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["disk", "clean_depth", "clean_mask"]


def disk(radius: int) -> np.ndarray:
    """Boolean digital disk of the given radius, ``(2r+1, 2r+1)``.

    The pixels whose centres lie within ``r + 1/2`` of the centre (``x² + y² <= r² + r``): the
    3x3 square for ``r = 1``, 5x5 without its corners for ``r = 2``. Unlike the ``x² + y² <= r²``
    disk (a cross for ``r = 1``), an opening with it keeps the corners of rectangular
    buildings, so a clean rectangle keeps its exact area. Radius 0 is one pixel.
    """
    r = int(radius)
    if r < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    return (x * x + y * y) <= r * r + r


def _square_pass(m: np.ndarray, axis: int, border: bool, combine) -> np.ndarray:
    """Each pixel combined (``np.logical_and`` / ``np.logical_or``) with its two neighbours along
    ``axis``; outside the array is ``border``."""
    out = m.copy()
    lead = [slice(None)] * m.ndim
    before, after, first, last = (list(lead) for _ in range(4))
    before[axis], after[axis] = slice(None, -1), slice(1, None)
    combine(out[tuple(after)], m[tuple(before)], out=out[tuple(after)])
    combine(out[tuple(before)], m[tuple(after)], out=out[tuple(before)])
    if m.shape[axis]:
        first[axis], last[axis] = 0, -1
        combine(out[tuple(first)], border, out=out[tuple(first)])
        combine(out[tuple(last)], border, out=out[tuple(last)])
    return out


def _erode(m: np.ndarray, radius: int, *, border: bool) -> np.ndarray:
    """Binary erosion by :func:`disk` (``border``: the value outside the array). The 3x3 square of
    radius 1 is two passes of three pixels, one along each axis (the same result as scipy's
    ``binary_erosion``, several times faster); other radii are scipy's."""
    if radius == 1:
        return _square_pass(_square_pass(m, 0, border, np.logical_and), 1, border, np.logical_and)
    return ndimage.binary_erosion(m, structure=disk(radius), border_value=int(border))


def _dilate(m: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by :func:`disk`, nothing outside the array (as :func:`_erode`)."""
    if radius == 1:
        return _square_pass(_square_pass(m, 0, False, np.logical_or), 1, False, np.logical_or)
    return ndimage.binary_dilation(m, structure=disk(radius), border_value=0)


def clean_depth(opening_radius: int, closing_radius: int) -> int:
    """Pixels of context :func:`clean_mask` needs around a chunk."""
    return 2 * int(opening_radius) + 2 * int(closing_radius)


def clean_mask(
    mask: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    opening_radius: int = 1,
    closing_radius: int = 1,
) -> np.ndarray:
    """Opening then closing of a boolean change mask, restricted to valid pixels.

    Parameters
    ----------
    mask
        ``(rows, cols)`` bool, True = change.
    valid
        Optional ``(rows, cols)`` bool; False pixels are never change.
    opening_radius, closing_radius
        Disk radii in pixels; 0 skips the operation.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` bool.
    """
    m = np.asarray(mask, dtype=bool)
    if valid is not None:
        m = m & valid
    if opening_radius > 0:
        m = _erode(m, opening_radius, border=False)
        m = _dilate(m, opening_radius)
    if closing_radius > 0:
        m = _dilate(m, closing_radius)
        m = _erode(m, closing_radius, border=True)
    if valid is not None:
        m &= valid
    return m
