"""The compiled loops of detection, in one module so that numba caches them on disk.

numba compiles a function at its first call and, with ``cache=True``, keeps the machine code in
``__pycache__`` for the next process, but only for functions defined at a module's top level
(a function built inside another is a new object in every process: it was compiled again each
time, 1.2 s, and its cache grew by one entry per run). Importing this module imports numba
(0.3 s); the modules using it import it at their first call.

* :func:`walk_trees`: :func:`detection.trees.predict_proba`'s walk of LightGBM trees;
* :func:`touched_pixels` (with :func:`_root_of`, :func:`_pixels_of`):
  :func:`detection.graph_segments.touched_segment_pixels`'s Felzenszwalb walk;
* :func:`fill_polygon`: :func:`detection.objects.rasterize_polygon`'s scanline fill.
"""
from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["fill_polygon", "touched_pixels", "walk_trees"]


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


@numba.njit(nogil=True, cache=True)
def fill_polygon(x, y, ring_ends, inv, out):
    """Set ``out[row, col] = 1`` (``(h, w)`` uint8) for the pixels that GDAL's rasterizer burns
    for one polygon (``rasterio.features.rasterize``, ``all_touched=False``): those whose centre
    lies inside, an edge along a row of centres counting as GDAL counts it (see
    :func:`detection.objects.rasterize_polygon`).

    ``x``, ``y``: the vertices of every ring, one ring after another (closed or not);
    ``ring_ends``: where each ring ends in them; ``inv``: ``(x0, sx, y0, sy)``, a vertex lies at
    pixel column ``x0 + x * sx``, row ``y0 + y * sy`` (GDAL's inverse geotransform, ``sx, sy > 0``).

    GDAL's scanline rule: on the line through the centres of row ``r`` (``r + 0.5``), an edge
    counts if its lower end lies on or below the line and its upper end above it; the crossings,
    sorted, bound spans whose pixels run from ``floor(a + 0.5)`` to ``floor(b + 0.5) - 1``. An edge
    lying along the line is burnt on its own when it runs towards -x in the ring taken clockwise
    (GDAL takes every ring clockwise, holes too: measured against rasterio, tested).
    """
    h, w = out.shape
    n = x.shape[0]
    if n == 0:
        return
    px = np.empty(n, np.float64)
    py = np.empty(n, np.float64)
    for i in range(n):
        px[i] = inv[0] + x[i] * inv[1]
        py[i] = inv[2] + y[i] * inv[3]
    # each ring's turn: +1 clockwise (x right, y up, as shapely's is_ccw), -1 anticlockwise
    turn = np.ones(ring_ends.shape[0], np.int64)
    start = 0
    for r in range(ring_ends.shape[0]):
        end = ring_ends[r]
        twice_area = 0.0
        for i in range(start, end):
            j = start if i == end - 1 else i + 1
            twice_area += x[i] * y[j] - x[j] * y[i]
        if twice_area > 0.0:
            turn[r] = -1
        start = end
    low, high = py[0], py[0]
    for i in range(1, n):
        low = min(low, py[i])
        high = max(high, py[i])
    first = max(int(low), 0)  # C's cast: towards zero
    last = min(int(high), h - 1)
    cuts = np.empty(n, np.float64)
    for row in range(first, last + 1):
        centre = row + 0.5
        k = 0
        start = 0
        for r in range(ring_ends.shape[0]):
            end = ring_ends[r]
            for i in range(start, end):
                a = end - 1 if i == start else i - 1
                y1, y2 = py[a], py[i]
                if (y1 < centre and y2 < centre) or (y1 > centre and y2 > centre):
                    continue
                if y1 < y2:
                    x1, x2 = px[a], px[i]
                elif y1 > y2:
                    y1, y2 = y2, y1
                    x1, x2 = px[i], px[a]
                else:
                    # along the line: burnt when it runs towards -x, the ring taken clockwise
                    if (px[a] - px[i]) * turn[r] > 0.0:
                        c0 = max(int(math.floor(min(px[a], px[i]) + 0.5)), 0)
                        c1 = min(int(math.floor(max(px[a], px[i]) + 0.5)), w)
                        for c in range(c0, c1):
                            out[row, c] = 1
                    continue
                if y1 <= centre < y2:
                    cuts[k] = math.floor((centre - y1) * (x2 - x1) / (y2 - y1) + x1 + 0.5)
                    k += 1
            start = end
        cuts[:k].sort()
        for i in range(0, k - 1, 2):
            c0 = max(int(cuts[i]), 0)
            c1 = min(int(cuts[i + 1]), w)
            for c in range(c0, c1):
                out[row, c] = 1
