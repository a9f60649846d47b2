"""Pixel-level change-detection metrics: confusion counts, pooled precision / recall / F1.

Everything here is a pure function of boolean arrays.

Pooling
-------
Scores over a labelled *set* of pairs are **pooled**: the confusion counts of every pair are
summed first and precision, recall and F1 are computed once from the sums
(:func:`pooled_scores`). This is the convention of the LEVIR-CD literature and of the reference
figures in ``../shared/data/README.md``; it weights each pair by its number of pixels, and a
pair without any change (no positives in the label) still counts through its false positives.
The mean of per-pair F1 is a different, noisier number and is not computed here.

Zero denominators
-----------------
* precision ``tp / (tp + fp)`` with nothing predicted (``tp + fp == 0``) is **1.0** -- no
  prediction, so no wrong prediction;
* recall ``tp / (tp + fn)`` with nothing to find (``tp + fn == 0``) is **1.0** -- nothing was
  missed;
* F1 ``2 tp / (2 tp + fp + fn)`` (the harmonic mean of the two, written so it needs no special
  case when ``tp == 0``) is **1.0** when ``2 tp + fp + fn == 0``, i.e. nothing to find and
  nothing predicted, a perfect answer; otherwise it is 0.0 whenever ``tp == 0``.

So a method that predicts nothing on a set that has change gets precision 1, recall 0, F1 0,
and one that predicts nothing on a pair without change gets 1 / 1 / 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
from scipy import ndimage

__all__ = [
    "Confusion",
    "confusion",
    "pool",
    "precision",
    "recall",
    "f1",
    "pooled_scores",
    "flagged_share",
    "count_patches",
]


@dataclass(frozen=True)
class Confusion:
    """Pixel confusion counts of a change mask against a label.

    Attributes
    ----------
    tp
        Change predicted and labelled.
    fp
        Change predicted, not labelled.
    fn
        Change labelled, not predicted.
    tn
        Neither.
    """

    tp: int
    fp: int
    fn: int
    tn: int

    def __add__(self, other: "Confusion") -> "Confusion":
        if not isinstance(other, Confusion):
            return NotImplemented
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def total(self) -> int:
        """Pixels counted (``tp + fp + fn + tn``)."""
        return self.tp + self.fp + self.fn + self.tn

    def as_dict(self) -> dict[str, int]:
        """``{"tp": .., "fp": .., "fn": .., "tn": ..}`` (JSON-serialisable)."""
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn}


def _bool2d(a: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != bool:
        raise TypeError(f"{what} must be a bool array, got {a.dtype}")
    return a


def confusion(predicted: np.ndarray, label: np.ndarray, ignore: np.ndarray | None = None) -> Confusion:
    """Confusion counts of a predicted change mask against a label mask.

    Parameters
    ----------
    predicted
        Bool array, True = change predicted.
    label
        Bool array of the same shape, True = change in the reference.
    ignore
        Optional bool array of the same shape; True pixels (nodata, outside the scene) are not
        counted at all.

    Returns
    -------
    Confusion

    Raises
    ------
    TypeError
        An input is not boolean (a 0/255 label must be converted by the caller, so that the
        label convention is decided in one visible place).
    ValueError
        The shapes differ.
    """
    p = _bool2d(predicted, "predicted")
    t = _bool2d(label, "label")
    if p.shape != t.shape:
        raise ValueError(f"predicted {p.shape} and label {t.shape} differ in shape")
    if ignore is not None:
        keep = ~_bool2d(ignore, "ignore")
        if keep.shape != p.shape:
            raise ValueError(f"ignore {keep.shape} and predicted {p.shape} differ in shape")
        p, t = p[keep], t[keep]
    tp = int(np.count_nonzero(p & t))
    n_p = int(np.count_nonzero(p))
    n_t = int(np.count_nonzero(t))
    fp, fn = n_p - tp, n_t - tp
    tn = int(p.size) - tp - fp - fn
    return Confusion(tp, fp, fn, tn)


def pool(counts: Iterable[Confusion]) -> Confusion:
    """Sum of confusion counts (``Confusion(0, 0, 0, 0)`` for none)."""
    total = Confusion(0, 0, 0, 0)
    for c in counts:
        total = total + c
    return total


def precision(c: Confusion) -> float:
    """``tp / (tp + fp)``; 1.0 when nothing is predicted (see the module docstring)."""
    d = c.tp + c.fp
    return 1.0 if d == 0 else c.tp / d


def recall(c: Confusion) -> float:
    """``tp / (tp + fn)``; 1.0 when nothing is labelled (see the module docstring)."""
    d = c.tp + c.fn
    return 1.0 if d == 0 else c.tp / d


def f1(c: Confusion) -> float:
    """``2 tp / (2 tp + fp + fn)``; 1.0 when nothing is predicted nor labelled."""
    d = 2 * c.tp + c.fp + c.fn
    return 1.0 if d == 0 else 2 * c.tp / d


def pooled_scores(counts: Iterable[Confusion]) -> dict[str, float | int]:
    """Pooled precision, recall and F1 of a set of pairs, with the summed counts.

    Parameters
    ----------
    counts
        One :class:`Confusion` per pair.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` (floats) and ``tp``, ``fp``, ``fn``, ``tn`` (ints).
    """
    c = pool(counts)
    return {"precision": precision(c), "recall": recall(c), "f1": f1(c), **c.as_dict()}


def flagged_share(predicted: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Share of the scene flagged as change: flagged valid pixels / valid pixels.

    Parameters
    ----------
    predicted
        Bool change mask.
    valid
        Optional bool mask of the pixels that form the scene (data in both dates); all pixels
        when omitted. Flagged pixels outside it are not counted.

    Returns
    -------
    float
        In ``[0, 1]``; 0.0 for an empty scene.
    """
    p = _bool2d(predicted, "predicted")
    if valid is None:
        return float(np.count_nonzero(p)) / p.size if p.size else 0.0
    v = _bool2d(valid, "valid")
    if v.shape != p.shape:
        raise ValueError(f"valid {v.shape} and predicted {p.shape} differ in shape")
    n = int(np.count_nonzero(v))
    return float(np.count_nonzero(p & v)) / n if n else 0.0


def count_patches(predicted: np.ndarray, min_pixels: int = 1) -> int:
    """Number of 4-connected change components of at least ``min_pixels`` pixels.

    4-connectivity is what :mod:`detection.vectorize` uses to make polygons, so for the
    landcheck detector this is its patch count after the minimum area.

    Parameters
    ----------
    predicted
        2-D bool change mask.
    min_pixels
        Smallest component counted (e.g. ``ceil(min_area_m2 / pixel_area)``).

    Returns
    -------
    int
    """
    p = _bool2d(predicted, "predicted")
    if p.ndim != 2:
        raise ValueError(f"predicted must be 2-D, got {p.shape}")
    labels, n = ndimage.label(p, structure=ndimage.generate_binary_structure(2, 1))
    if n == 0:
        return 0
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return int(np.count_nonzero(sizes >= int(min_pixels)))
