"""The compiled loops of detection, in one module so that numba caches them on disk.

numba compiles a function at its first call and, with ``cache=True``, keeps the machine code in
``__pycache__`` for the next process, but only for functions defined at a module's top level
(a function built inside another is a new object in every process: it was compiled again each
time, 1.2 s, and its cache grew by one entry per run). Importing this module imports numba
(0.3 s); the modules using it import it at their first call.

* :func:`walk_trees`: :func:`detection.trees.predict_proba`'s walk of LightGBM trees;
* :func:`touched_pixels` (with :func:`_root_of`, :func:`_pixels_of`):
  :func:`detection.graph_segments.touched_segment_pixels`'s Felzenszwalb walk.
"""
from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["touched_pixels", "walk_trees"]


@numba.njit(nogil=True, cache=True)
def walk_trees(features, node, threshold, value, root, depth, sigmoid, step, zero, out):
    """Probabilities of ``features[:, i]`` into ``out[i]`` (see :mod:`detection.trees`):
    ``step`` pixels at a time go through each tree in ``depth[t]`` branch-free steps."""
    n = features.shape[1]
    at = np.zeros(step, np.int32)
    score = np.zeros(step, np.float64)
    for p0 in range(0, n, step):
        m = min(n, p0 + step) - p0
        for j in range(m):
            score[j] = 0.0
        for t in range(root.shape[0]):
            for j in range(m):
                at[j] = root[t]
            for _ in range(depth[t]):
                for j in range(m):
                    k = at[j]
                    word = node[k]
                    x = features[word & 0xFF, p0 + j]
                    if x != x or abs(x) <= zero:  # as LightGBM reads a matrix
                        x = np.float32(0.0)
                    at[j] = (word >> 8) + (1 if x > threshold[k] else 0)
            for j in range(m):
                score[j] += value[at[j]]
        for j in range(m):
            out[p0 + j] = 1.0 / (1.0 + math.exp(-sigmoid * score[j]))


@numba.njit(nogil=True, cache=True)
def _root_of(parent, x):
    r = x
    while parent[r] != r:
        r = parent[r]
    while parent[x] != r:  # point the path at the root
        up = parent[x]
        parent[x] = r
        x = up
    return r


@numba.njit(nogil=True, cache=True)
def _pixels_of(e, h, w):
    """The two pixels of edge ``e`` in skimage's order of the 8-neighbourhood edges."""
    horizontal = h * (w - 1)
    if e < horizontal:
        r, c = e // (w - 1), e % (w - 1)
        return r * w + c + 1, r * w + c
    e -= horizontal
    vertical = (h - 1) * w
    if e < vertical:
        r, c = e // w, e % w
        return (r + 1) * w + c, r * w + c
    e -= vertical
    diagonal = (h - 1) * (w - 1)
    if e < diagonal:
        r, c = e // (w - 1), e % (w - 1)
        return (r + 1) * w + c + 1, r * w + c
    e -= diagonal
    r, c = e // (w - 1), e % (w - 1)
    return r * w + c + 1, (r + 1) * w + c


@numba.njit(nogil=True, cache=True)
def touched_pixels(order, weight, h, w, k, min_size, patch):
    """Pixels of the segments touched by ``patch`` (see :mod:`detection.graph_segments`):
    edges joined in ``order`` when ``weight < min(float32(inner + k / size))`` of both sides,
    then segments under ``min_size`` joined along the same order."""
    n = h * w
    parent = np.arange(n)
    size = np.ones(n, np.int64)
    inner = np.zeros(n)
    for i in range(order.shape[0]):
        e = order[i]
        a, b = _pixels_of(e, h, w)
        s0 = _root_of(parent, a)
        s1 = _root_of(parent, b)
        if s0 == s1:
            continue
        t0 = np.float32(inner[s0] + k / size[s0])
        t1 = np.float32(inner[s1] + k / size[s1])
        if weight[e] < min(t0, t1):
            parent[s1] = s0
            size[s0] += size[s1]
            inner[s0] = weight[e]
    for i in range(order.shape[0]):
        a, b = _pixels_of(order[i], h, w)
        s0 = _root_of(parent, a)
        s1 = _root_of(parent, b)
        if s0 != s1 and (size[s0] < min_size or size[s1] < min_size):
            parent[s1] = s0
            size[s0] += size[s1]
    counted = np.zeros(n, np.bool_)
    total = 0
    for p in range(n):
        if patch[p]:
            r = _root_of(parent, p)
            if not counted[r]:
                counted[r] = True
                total += size[r]
    return total
