"""Areas of pairwise polygon intersections, measured without building the intersections.

``area(g ∩ f)`` for any two polygonal geometries (holes and several parts allowed): ``f`` is cut
into weighted convex pieces once (itself when convex, else the signed triangle fans of its
rings, or its Delaunay triangles when large: :func:`convex_pieces`), and every ring of ``g`` is
clipped by each piece whose box shares area with the ring's box (Sutherland-Hodgman, exact for a
convex clip and a ring of any shape: a concave ring may keep zero-width bridges along the clip's
edges, which add no area). The pieces' weighted indicators add up to ``f``'s, and the holes of
``g`` lie inside its exterior rings, so

    area(g ∩ f) = Σ_pieces weight * Σ_rings ±area(ring ∩ piece)   (+ exterior, - hole).

The loop is a numba kernel (:func:`_overlap_kernel`): one pass over the pairs, no geometry
objects. Coordinates are taken relative to each piece's first vertex, so the shoelace sums keep
their precision (errors of about 1e-9 m² on parcels of a few hundred metres).
"""
from __future__ import annotations

import numba
import numpy as np
import shapely

__all__ = ["convex_pieces", "overlap_areas"]

_POLYGON = 3


@numba.njit(nogil=True, cache=True)
def _clip(a, b, d, n, piece, sign, ox, oy):
    """The ring ``a[:n]`` (relative to ``ox, oy``) cut by each edge's half-plane of the convex
    polygon ``piece`` (absolute, orientation ``sign``: +1 counter-clockwise, -1 clockwise).
    Returns (vertex count, a, b, d) with the result in ``a``; the work buffers ``a``, ``b``,
    ``d`` are grown here when too small. A count of 0: nothing left."""
    m = piece.shape[0]
    for j in range(m):
        ax, ay = piece[j, 0] - ox, piece[j, 1] - oy
        k = j + 1 if j + 1 < m else 0
        ex, ey = piece[k, 0] - ox - ax, piece[k, 1] - oy - ay
        inside = 0
        for i in range(n):
            d[i] = sign * (ex * (a[i, 1] - ay) - ey * (a[i, 0] - ax))
            if d[i] >= 0.0:
                inside += 1
        if inside == n:
            continue  # the whole ring is on the inner side of this edge
        if inside == 0:
            return 0, a, b, d
        if b.shape[0] < 2 * n + 2:  # at most a vertex and a crossing per edge
            grown = np.empty((4 * n + 8, 2))
            grown[:n] = a[:n]
            a = grown
            b = np.empty((4 * n + 8, 2))
            d = np.concatenate((d[:n], np.empty(3 * n + 8)))
        count = 0
        for i in range(n):
            i2 = i + 1 if i + 1 < n else 0
            if d[i] >= 0.0:
                b[count, 0] = a[i, 0]
                b[count, 1] = a[i, 1]
                count += 1
            if (d[i] >= 0.0) != (d[i2] >= 0.0):
                t = d[i] / (d[i] - d[i2])
                b[count, 0] = a[i, 0] + t * (a[i2, 0] - a[i, 0])
                b[count, 1] = a[i, 1] + t * (a[i2, 1] - a[i, 1])
                count += 1
        a, b = b, a
        n = count
    return n, a, b, d


@numba.njit(nogil=True, cache=True)
def _clipped_ring_area(ring, piece, sign, second, second_sign, a, b, d):
    """Area of the region of the closed ring ``ring`` (open vertex list) inside the convex
    polygon ``piece`` (orientation ``sign``) and, unless it has no vertex, inside the convex
    polygon ``second`` too. ``a``, ``b``, ``d``: work buffers (see :func:`_clip`); returned."""
    ox, oy = piece[0, 0], piece[0, 1]
    n = ring.shape[0]
    if a.shape[0] < 2 * n + 2:
        a = np.empty((4 * n + 8, 2))
        b = np.empty((4 * n + 8, 2))
        d = np.empty(4 * n + 8)
    for i in range(n):
        a[i, 0] = ring[i, 0] - ox
        a[i, 1] = ring[i, 1] - oy
    n, a, b, d = _clip(a, b, d, n, piece, sign, ox, oy)
    if n > 0 and second.shape[0] > 0:
        n, a, b, d = _clip(a, b, d, n, second, second_sign, ox, oy)
    twice = 0.0
    for i in range(n):
        i2 = i + 1 if i + 1 < n else 0
        twice += a[i, 0] * a[i2, 1] - a[i2, 0] * a[i, 1]
    return abs(twice) / 2.0, a, b, d


@numba.njit(nogil=True, cache=True)
def _shares_area(box, other):
    """Whether two (minx, miny, maxx, maxy) boxes share an area (not only an edge)."""
    return (min(box[2], other[2]) > max(box[0], other[0])
            and min(box[3], other[3]) > max(box[1], other[1]))


@numba.njit(nogil=True, cache=True)
def _overlap_kernel(pair_geom, pair_feat, pair_third, ring_xy, ring_start, ring_sign, ring_box, geom_first,
                    geom_rings, piece_xy, piece_start, piece_sign, piece_weight, piece_box, feat_first,
                    feat_pieces, third_xy, third_start, third_sign, third_weight, third_box, third_first,
                    third_pieces, out):
    """``out[k]`` = area of geometry ``pair_geom[k]`` ∩ feature ``pair_feat[k]`` (∩ third
    feature ``pair_third[k]`` unless it is -1): see the module."""
    a = np.empty((256, 2))
    b = np.empty((256, 2))
    d = np.empty(256)
    none = np.empty((0, 2))
    for k in range(pair_geom.shape[0]):
        g, f, h = pair_geom[k], pair_feat[k], pair_third[k]
        total = 0.0
        for q in range(feat_first[f], feat_first[f + 1]):
            p = feat_pieces[q]
            if piece_sign[p] == 0.0:
                continue  # a degenerate piece has no area
            piece = piece_xy[piece_start[p]:piece_start[p + 1]]
            seconds = 1 if h < 0 else third_first[h + 1] - third_first[h]
            for u in range(seconds):
                second, second_sign, weight = none, 1.0, piece_weight[p]
                if h >= 0:
                    w = third_pieces[third_first[h] + u]
                    if third_sign[w] == 0.0 or not _shares_area(third_box[w], piece_box[p]):
                        continue
                    second, second_sign = third_xy[third_start[w]:third_start[w + 1]], third_sign[w]
                    weight *= third_weight[w]
                for s in range(geom_first[g], geom_first[g + 1]):
                    r = geom_rings[s]
                    if not _shares_area(ring_box[r], piece_box[p]):
                        continue  # boxes sharing no area: no area in common
                    if h >= 0 and not _shares_area(ring_box[r], third_box[w]):
                        continue
                    part, a, b, d = _clipped_ring_area(ring_xy[ring_start[r]:ring_start[r + 1]], piece,
                                                       piece_sign[p], second, second_sign, a, b, d)
                    total += weight * ring_sign[r] * part
        out[k] = total


@numba.njit(nogil=True, cache=True)
def _open_runs(xy, closed):
    """Closed rings of ``closed[r]`` vertices each, one after the other in ``xy``, without their
    closing vertices: (vertices, starts)."""
    starts = np.zeros(closed.shape[0] + 1, dtype=np.int64)
    for r in range(closed.shape[0]):
        starts[r + 1] = starts[r] + closed[r] - 1
    out = np.empty((starts[-1], 2))
    at = 0
    for r in range(closed.shape[0]):
        for j in range(closed[r] - 1):
            out[starts[r] + j, 0] = xy[at + j, 0]
            out[starts[r] + j, 1] = xy[at + j, 1]
        at += closed[r]
    return out, starts


def _rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Open rings of polygonal geometries: (vertices, ring starts, +1 exterior / -1 hole, owner).

    Ring ``r`` is ``vertices[starts[r]:starts[r + 1]]`` (its closing vertex dropped), of
    geometry ``owner[r]``. A polygon without holes is read from its coordinates alone; only
    the others (holes, several parts) are taken apart into rings. Empty geometries have none.
    """
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return np.empty((0, 2)), np.zeros(1, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64)
    count = shapely.get_num_coordinates(geoms)
    simple = (shapely.get_type_id(geoms) == _POLYGON) & (shapely.get_num_interior_rings(geoms) == 0) \
        & (count > 0)
    if simple.all():  # the common case: one ring per geometry
        xy, starts = _open_runs(shapely.get_coordinates(geoms), count.astype(np.int64))
        return xy, starts, np.ones(len(geoms)), np.arange(len(geoms), dtype=np.int64)
    other = np.flatnonzero(~simple & (count > 0))
    xy_s = shapely.get_coordinates(geoms[simple])
    len_s, owner_s = count[simple], np.flatnonzero(simple)
    parts, part_of = shapely.get_parts(geoms[other], return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    exterior_o = np.r_[True, ring_of[1:] != ring_of[:-1]] if len(rings) else np.zeros(0, dtype=bool)
    areal = shapely.get_num_coordinates(rings) >= 4  # fewer than three distinct vertices: no area
    rings, ring_of, exterior_o = rings[areal], ring_of[areal], exterior_o[areal]
    xy_o, len_o = shapely.get_coordinates(rings), shapely.get_num_coordinates(rings)
    xy, starts = _open_runs(np.concatenate([xy_s, xy_o]), np.concatenate([len_s, len_o]).astype(np.int64))
    signs = np.where(np.concatenate([np.ones(len(len_s), dtype=bool), exterior_o]), 1.0, -1.0)
    owner = np.concatenate([owner_s, other[part_of[ring_of]]]).astype(np.int64)
    return xy, starts, signs, owner


def _slots(owner: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Items grouped by owner: item ``slots[k]`` for ``k`` in ``first[i]:first[i + 1]`` is owned by ``i``."""
    slots = np.argsort(owner, kind="stable")
    return slots.astype(np.int64), np.searchsorted(owner[slots], np.arange(n + 1)).astype(np.int64)


@numba.njit(nogil=True, cache=True)
def _run_boxes(xy, starts):
    """(n, 4) bounds of the vertex runs ``xy[starts[i]:starts[i + 1]]`` (none empty)."""
    out = np.empty((starts.shape[0] - 1, 4))
    for i in range(starts.shape[0] - 1):
        lo_x = hi_x = xy[starts[i], 0]
        lo_y = hi_y = xy[starts[i], 1]
        for j in range(starts[i] + 1, starts[i + 1]):
            lo_x, hi_x = min(lo_x, xy[j, 0]), max(hi_x, xy[j, 0])
            lo_y, hi_y = min(lo_y, xy[j, 1]), max(hi_y, xy[j, 1])
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = lo_x, lo_y, hi_x, hi_y
    return out


@numba.njit(nogil=True, cache=True)
def _run_signs(xy, starts):
    """Orientation of each vertex run: +1 counter-clockwise, -1 clockwise, 0 degenerate
    (shoelace sum relative to the run's first vertex)."""
    out = np.zeros(starts.shape[0] - 1)
    for i in range(starts.shape[0] - 1):
        s0, s1 = starts[i], starts[i + 1]
        ox, oy = xy[s0, 0], xy[s0, 1]
        twice = 0.0
        for j in range(s0, s1):
            k = j + 1 if j + 1 < s1 else s0
            twice += (xy[j, 0] - ox) * (xy[k, 1] - oy) - (xy[k, 0] - ox) * (xy[j, 1] - oy)
        out[i] = 1.0 if twice > 0 else (-1.0 if twice < 0 else 0.0)
    return out


def _boxes(xy: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(n, 4) bounds of consecutive vertex runs ``xy[starts[i]:starts[i + 1]]`` (none empty)."""
    return _run_boxes(np.ascontiguousarray(xy, dtype=np.float64), np.asarray(starts, dtype=np.int64))


FAN_MAX_VERTICES = 64
"""A non-convex feature with more vertices than this is cut into its constrained Delaunay
triangles (GEOS) rather than fans: a fan's triangles all start at one vertex, so on a large
feature they are long and overlap, and every ring near the feature would be clipped by most of
them; Delaunay triangles are local and disjoint."""


def convex_pieces(features: np.ndarray, convex: np.ndarray) -> tuple[np.ndarray, ...]:
    """Convex pieces whose weighted sum is each polygonal feature's indicator function.

    A feature flagged ``convex`` (a polygon without holes) is its own piece, of weight 1.
    Any other is cut into the fan of triangles ``(v0, v_i, v_i+1)`` of each of its rings: the
    triangles' signed indicators add up to the ring's winding number (1 inside a
    counter-clockwise ring, -1 inside a clockwise one, 0 outside), so with weight
    ``±orientation(triangle) * orientation(ring)`` (minus for a hole) they add up to the
    feature, holes and several parts included, whatever its shape, without a GEOS call.
    Features above :data:`FAN_MAX_VERTICES` vertices are cut into their constrained Delaunay
    triangles instead (disjoint, weight 1).

    Returns (vertices, piece starts, piece weights, piece of each slot, first slot of each
    feature): the pieces of feature ``i`` are ``slots[first[i]:first[i + 1]]``, each an open
    vertex list.
    """
    features = np.asarray(features, dtype=object)
    convex = np.asarray(convex, dtype=bool)
    large = ~convex & (shapely.get_num_coordinates(features) > FAN_MAX_VERTICES)
    fanned = ~convex & ~large
    xy_c, starts_c, _, _ = _rings(features[convex])  # one ring per convex feature
    if convex.all():
        return xy_c, starts_c, np.ones(len(features)), np.arange(len(features), dtype=np.int64), \
            np.arange(len(features) + 1, dtype=np.int64)
    ring_xy, ring_start, hole_sign, ring_owner = _rings(features[fanned])
    fans = np.maximum(np.diff(ring_start) - 2, 0)  # triangles per ring
    ring_of_fan = np.repeat(np.arange(len(fans)), fans)
    i = np.arange(len(ring_of_fan)) - np.repeat(np.cumsum(fans) - fans, fans) + 1  # 1 .. size - 2
    v0 = ring_start[ring_of_fan]
    xy_f = ring_xy[np.stack([v0, v0 + i, v0 + i + 1], axis=1).ravel()]
    weight_f = (hole_sign * _signs(ring_xy, ring_start))[ring_of_fan] \
        * _signs(xy_f, 3 * np.arange(len(ring_of_fan) + 1))
    xy_d, owner_d = np.empty((0, 2)), np.zeros(0, dtype=np.int64)
    if large.any():
        triangles = shapely.constrained_delaunay_triangles(features[large])
        xy_d, owner_d = shapely.get_coordinates(triangles, return_index=True)
        xy_d, owner_d = xy_d.reshape(-1, 4, 2)[:, :3].reshape(-1, 2), owner_d[::4]
    xy = np.concatenate([xy_c, xy_f, xy_d])
    n_c, n_f, n_d = len(starts_c) - 1, len(ring_of_fan), len(owner_d)
    starts = np.concatenate([starts_c, len(xy_c) + 3 * np.arange(1, n_f + n_d + 1)])
    weights = np.concatenate([np.ones(n_c), weight_f, np.ones(n_d)])
    owner = np.concatenate([np.flatnonzero(convex), np.flatnonzero(fanned)[ring_owner[ring_of_fan]],
                            np.flatnonzero(large)[owner_d]]).astype(np.int64)
    return (xy, starts, weights, *_slots(owner, len(features)))


def _signs(xy: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Orientation of each vertex run: +1 counter-clockwise, -1 clockwise, 0 degenerate."""
    return _run_signs(np.ascontiguousarray(xy, dtype=np.float64), np.asarray(starts, dtype=np.int64))


def _prepared(features: np.ndarray, index: np.ndarray, convex: np.ndarray | None) -> tuple[np.ndarray, tuple]:
    """The features ``index`` points at, cut into pieces once: (position of each index among
    them, the kernel's piece arrays: vertices, starts, signs, weights, boxes, first, slots)."""
    used, of = np.unique(index, return_inverse=True)
    mine = np.asarray(features, dtype=object)[used]
    if convex is None:
        from overlay.split import convex_polygons
        flags = convex_polygons(mine)
    else:
        flags = np.asarray(convex, dtype=bool)[used]
    xy, starts, weights, slots, first = convex_pieces(mine, flags)
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    return of.astype(np.int64), (xy, starts, _signs(xy, starts), weights, _boxes(xy, starts), first, slots)


def overlap_areas(geoms: np.ndarray, features: np.ndarray, gi: np.ndarray, fi: np.ndarray,
                  convex: np.ndarray | None = None, *, thirds: np.ndarray | None = None,
                  ti: np.ndarray | None = None, thirds_convex: np.ndarray | None = None) -> np.ndarray:
    """Area of ``geoms[gi[k]] ∩ features[fi[k]]`` per pair, without building the intersection;
    with ``thirds`` and ``ti``, of ``geoms[gi[k]] ∩ features[fi[k]] ∩ thirds[ti[k]]``.

    All are polygonal (Polygon, MultiPolygon or empty); ``convex`` and ``thirds_convex`` (per
    feature, :func:`overlay.split.convex_polygons`) save cutting convex features into triangles
    (computed when not given). Each geometry and feature is prepared once however many pairs it
    is in.
    """
    gi, fi = np.asarray(gi, dtype=np.int64), np.asarray(fi, dtype=np.int64)
    out = np.zeros(len(gi))
    if len(gi) == 0:
        return out
    ug, g_of = np.unique(gi, return_inverse=True)
    ring_xy, ring_start, ring_sign, ring_owner = _rings(np.asarray(geoms, dtype=object)[ug])
    ring_xy = np.ascontiguousarray(ring_xy, dtype=np.float64)
    geom_rings, geom_first = _slots(ring_owner, len(ug))
    f_of, pieces = _prepared(features, fi, convex)
    if thirds is None:
        h_of = np.full(len(gi), -1, dtype=np.int64)
        third = (np.empty((0, 2)), np.zeros(1, np.int64), np.zeros(0), np.zeros(0), np.zeros((0, 4)),
                 np.zeros(1, np.int64), np.zeros(0, np.int64))
    else:
        h_of, third = _prepared(thirds, np.asarray(ti, dtype=np.int64), thirds_convex)
    _overlap_kernel(g_of.astype(np.int64), f_of, h_of, ring_xy, ring_start, ring_sign,
                    _boxes(ring_xy, ring_start), geom_first, geom_rings, *pieces, *third, out)
    return out
