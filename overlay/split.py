"""Split patches by county and measure each piece against farmland, basic farmland and approvals.

All functions are pure over GeoDataFrames. The unit of work is one county
(:class:`CountyTask`): it carries only the features that touch that county, so
tasks can be mapped in any order, on any dask worker, with the same result.

Within a task everything is projected to the county's CGCS2000 3-degree
Gauss-Krüger zone and areas are in m². Where two county polygons overlap (real
boundary layers do, by centimetres to metres), the overlap goes to the county
with the smaller code, so no area is counted in two counties.

Every piece gets its patch's monitoring number JCBH as ``patch_id``
(:func:`assign_patch_ids`): a received patch keeps its official number; any
other patch is numbered from where it lies, so that no other patch, added or
removed, can change it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame, GeoSeries
from geopandas.array import from_shapely
from pyproj import CRS

from overlay.contracts import MEASURE_COLUMNS, collision_suffix, location_codes, make_jcbhs
from overlay.crs import (CGCS2000_GEOGRAPHIC, epsg_crs, gk3_epsg_for_lons, reprojected,
                         zone_epsg_for_geometries)

__all__ = [
    "SLIVER_M2",
    "CountyTask",
    "county_tasks",
    "split_county",
    "measure_pieces",
    "representative_points",
    "assign_patch_ids",
    "unassigned_parts",
    "split_patches",
    "combine_pieces",
]

SLIVER_M2 = 0.01
"""Measured parts smaller than this (m²) are numerical slivers and count as zero."""

_REP_X, _REP_Y = "_rep_x", "_rep_y"
"""Columns carrying each piece's patch representative point (see :func:`representative_points`)
from :func:`split_county` to :func:`assign_patch_ids`, which drops them."""


@dataclass(frozen=True)
class CountyTask:
    """Everything needed to split and measure the patches of one county.

    Geometries may be in any CRS; :func:`split_county` projects them to ``epsg``.
    ``earlier_counties`` are the neighbours with a smaller code that touch the
    county's patches: their area is removed from this county's pieces.
    """

    county_code: str
    county_name: str
    epsg: int
    county: GeoSeries
    earlier_counties: GeoSeries
    patches: GeoDataFrame
    farmland: GeoSeries
    basic_farmland: GeoSeries
    approved: GeoSeries


def _query(layer: GeoDataFrame | GeoSeries, geoms: GeoSeries) -> np.ndarray:
    """Indexes of ``layer`` features intersecting any of ``geoms`` (given in any CRS)."""
    if len(layer) == 0 or len(geoms) == 0:
        return np.empty(0, dtype=np.int64)
    target = geoms.to_crs(layer.crs) if geoms.crs != layer.crs else geoms
    hits = layer.sindex.query(target.values, predicate="intersects")[1]
    return np.unique(hits)


def _query_boxes(layer: GeoDataFrame, bounds: np.ndarray, geoms: GeoSeries) -> np.ndarray:
    """Indexes of ``layer`` features whose box shares an area with the box of any of ``geoms``.

    ``bounds`` are the layer's feature bounds. A superset of the features that can share an
    area with ``geoms`` (only those count in :func:`measure_pieces`), found from the index
    and the boxes alone, without a GEOS predicate per pair.
    """
    if len(layer) == 0 or len(geoms) == 0:
        return np.empty(0, dtype=np.int64)
    target = geoms.to_crs(layer.crs) if geoms.crs != layer.crs else geoms
    gi, li = layer.sindex.query(target.values)
    hits = li[_boxes_overlap(shapely.bounds(target.values)[gi], bounds[li])]
    if 8 * len(hits) < len(layer):  # few hits in a large layer (one of many counties)
        return np.unique(hits)
    seen = np.zeros(len(layer), dtype=bool)
    seen[hits] = True
    return np.flatnonzero(seen)


def county_tasks(
    patches: GeoDataFrame,
    counties: GeoDataFrame,
    farmland: GeoDataFrame,
    basic_farmland: GeoDataFrame,
    approved: GeoDataFrame,
) -> list[CountyTask]:
    """One task per county that has at least one patch touching it.

    ``counties`` needs ``county_code`` and ``county_name`` columns; ``patches``
    a ``source_id`` column. Each task holds only the features it needs.
    """
    counties = counties.reset_index(drop=True)
    zones = zone_epsg_for_geometries(counties)
    patches_in_counties = patches.geometry.to_crs(counties.crs) if patches.crs != counties.crs \
        else patches.geometry
    pairs = counties.sindex.query(patches_in_counties.values, predicate="intersects")
    layers = {"farmland": farmland, "basic_farmland": basic_farmland, "approved": approved}
    bounds = {name: shapely.bounds(layer.geometry.values).reshape(-1, 4) for name, layer in layers.items()}
    tasks = []
    for ci in np.unique(pairs[1]):
        county = counties.iloc[[ci]]
        patch_idx = np.unique(pairs[0][pairs[1] == ci])
        county_patches = patches.iloc[patch_idx]
        code = str(county["county_code"].iloc[0])
        neighbours = counties.iloc[_query(counties, county_patches.geometry)]
        earlier = neighbours[neighbours["county_code"].astype(str) < code]
        tasks.append(CountyTask(
            county_code=code,
            county_name=str(county["county_name"].iloc[0]),
            epsg=int(zones[ci]),
            county=county.geometry,
            earlier_counties=earlier.geometry,
            patches=county_patches,
            **{name: layer.geometry.iloc[_query_boxes(layer, bounds[name], county_patches.geometry)]
               for name, layer in layers.items()},
        ))
    return tasks


def _padded_box(bounds: np.ndarray) -> shapely.Polygon:
    """The bounding box grown by 5% on each side: a clip window that no patch edge lies on."""
    minx, miny, maxx, maxy = bounds
    pad = 0.05 * max(maxx - minx, maxy - miny) + 1e-9
    return shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal parts of each geometry (drops lines/points left by intersections)."""
    out = geoms.copy()
    mixed = shapely.get_type_id(out) == 7  # GeometryCollection
    for i in np.flatnonzero(mixed):
        parts = shapely.get_parts(out[i])
        polys = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
        out[i] = shapely.union_all(polys) if len(polys) else shapely.Polygon()
    lines = np.isin(shapely.get_type_id(out), (0, 1, 2, 4, 5))
    out[lines] = shapely.Polygon()
    return out


def _covered(geoms: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """For each geometry, its intersection with the union of ``layer`` (overlaps not double counted).

    A geometry lying within one layer feature is its own answer (the common case of a patch
    inside one parcel); only the others are intersected and unioned.
    """
    result = np.array([shapely.Polygon()] * len(geoms), dtype=object)
    if len(geoms) == 0 or len(layer) == 0:
        return result
    tree = shapely.STRtree(layer)
    inside = np.zeros(len(geoms), dtype=bool)
    inside[tree.query(geoms, predicate="within")[0]] = True
    result[inside] = geoms[inside]
    gi, li = tree.query(geoms, predicate="intersects")
    keep = ~inside[gi]
    gi, li = gi[keep], li[keep]
    if len(gi) == 0:
        return _polygonal(result)
    parts = shapely.intersection(geoms[gi], layer[li])
    order = np.argsort(gi, kind="stable")
    gi, parts = gi[order], parts[order]
    starts = np.flatnonzero(np.r_[True, gi[1:] != gi[:-1]])
    ends = np.r_[starts[1:], len(gi)]
    for s, e in zip(starts, ends):
        result[gi[s]] = parts[s] if e - s == 1 else shapely.union_all(parts[s:e])
    return _polygonal(result)


def _snap(value: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """Slivers below :data:`SLIVER_M2` become 0; a part within a sliver of its whole becomes the whole."""
    value = np.where(value < SLIVER_M2, 0.0, value)
    return np.where(whole - value < SLIVER_M2, whole, value)


def _boxes_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row of two ``(n, 4)`` bounds arrays: whether the boxes share an area (not only an edge).

    Two geometries whose boxes share no area have an intersection of zero area, so pairs
    failing this test can be skipped without changing any measured area.
    """
    return ((np.minimum(a[:, 2], b[:, 2]) > np.maximum(a[:, 0], b[:, 0]))
            & (np.minimum(a[:, 3], b[:, 3]) > np.maximum(a[:, 1], b[:, 1])))


def _box_within(inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """Per row of two ``(n, 4)`` bounds arrays: whether ``inner``'s box lies within ``outer``'s.

    A necessary condition for ``outer`` to cover ``inner``: cheap pre-filter for GEOS predicates.
    """
    return ((outer[:, 0] <= inner[:, 0]) & (outer[:, 1] <= inner[:, 1])
            & (outer[:, 2] >= inner[:, 2]) & (outer[:, 3] >= inner[:, 3]))


OVERLAP_TOLERANCE_M2 = 1e-6
"""Two features whose measured common area is at most this (a square millimetre) do not overlap,
and a feature whose area exceeds its common area with another by at most this lies within it.
Features sharing edges measure 1e-13 m² in common (rounding); what a feature within this
tolerance of another could count twice, or as basic farmland, is 1e-4 of the 0.01 m² below which
a reported part is none."""


def overlap_free(layer: np.ndarray, tree: shapely.STRtree | None = None,
                 among: np.ndarray | None = None, convex: np.ndarray | None = None) -> np.ndarray:
    """Per feature: True when it overlaps no other feature of ``layer``.

    The common area of every two features whose boxes share an area is measured
    (:func:`~overlay.overlap_areas.overlap_areas`; ``convex``: :func:`convex_polygons` of the
    layer, if known); both features of a pair with more than :data:`OVERLAP_TOLERANCE_M2` in
    common are flagged (nested and duplicate features included). An unflagged feature
    overlaps nothing, so its intersections with a patch can be summed without a union.
    Features that only touch, as the parcels of a coverage do, are overlap-free; so are those
    whose box shares no area with another's, without being measured. A feature that is not a
    polygon is flagged.

    ``among`` (a mask) asks only about overlaps between those features, as when they are the
    features meeting some patch: two features overlapping each other that both meet one patch
    are both among them. The other features are reported not overlap-free (unknown), which
    sends any use of them down the union path.
    """
    layer = np.asarray(layer, dtype=object)
    clean = np.ones(len(layer), dtype=bool) if among is None else np.asarray(among, dtype=bool).copy()
    if len(layer) == 0:
        return clean
    polygonal = _is_polygonal(layer) | shapely.is_empty(layer)
    clean &= polygonal
    if len(layer) < 2:
        return clean
    tree = shapely.STRtree(layer) if tree is None else tree
    a, b = tree.query(layer)  # pairs of features whose boxes meet
    keep = (a < b) & clean[a] & clean[b]
    a, b = a[keep], b[keep]
    bounds = shapely.bounds(layer).reshape(-1, 4)
    near = _boxes_overlap(bounds[a], bounds[b])
    a, b = a[near], b[near]
    if len(a):
        from overlay.overlap_areas import overlap_areas
        over = overlap_areas(layer, layer, a, b, convex) > OVERLAP_TOLERANCE_M2
        clean[a[over]] = False
        clean[b[over]] = False
    return clean


def _open_rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ring vertices of each polygon without holes, without the closing one: (xy, ring index)."""
    xy, ring = shapely.get_coordinates(geoms, return_index=True)
    keep = np.r_[ring[1:] == ring[:-1], False]
    return xy[keep], ring[keep]


def _cyclic_next(ring: np.ndarray) -> np.ndarray:
    """Index of each vertex's successor in its open ring (``ring`` sorted; the last wraps around)."""
    nxt = np.arange(1, len(ring) + 1)
    if len(ring):
        change = np.r_[ring[1:] != ring[:-1], True]
        nxt[change] = np.flatnonzero(np.r_[True, change[:-1]])
    return nxt


def convex_polygons(geoms: np.ndarray) -> np.ndarray:
    """Per geometry: True for a (valid) Polygon without holes whose boundary turns one way only.

    Collinear vertices are allowed. Validity is assumed (a self-crossing ring turning one way,
    a pentagram, would pass): the layers are made valid when they are read.
    """
    geoms = np.asarray(geoms, dtype=object)
    out = np.zeros(len(geoms), dtype=bool)
    cand = np.flatnonzero((shapely.get_type_id(geoms) == 3) & ~shapely.is_empty(geoms))
    cand = cand[shapely.get_num_interior_rings(geoms[cand]) == 0]
    if not len(cand):
        return out
    xy, ring = _open_rings(geoms[cand])
    nxt = _cyclic_next(ring)
    edge = xy[nxt] - xy
    turn = edge[:, 0] * edge[nxt, 1] - edge[:, 1] * edge[nxt, 0]
    left = np.bincount(ring, turn > 0, minlength=len(cand)) > 0
    right = np.bincount(ring, turn < 0, minlength=len(cand)) > 0
    out[cand] = left != right
    return out


def _no_ints() -> np.ndarray:
    return np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class CoveredParts:
    """Pairwise disjoint parts of some geometries inside the union of a layer.

    ``owner[k]`` is the index of the geometry that ``parts[k]`` belongs to; the parts of
    one owner do not overlap, so areas add up (:meth:`area_by_owner`). ``feature[k]`` is the
    layer feature ``parts[k]`` lies in (cut from it, or the whole geometry when the feature
    covers it), -1 for a union of parts of several features. Parts measured without being
    built (see :func:`covered_parts`'s ``area_only``) are listed as ``measured_owner``,
    ``measured_feature`` (the layer feature cut) and ``measured_m2``.
    """

    owner: np.ndarray
    parts: np.ndarray
    feature: np.ndarray
    measured_owner: np.ndarray = field(default_factory=_no_ints)
    measured_feature: np.ndarray = field(default_factory=_no_ints)
    measured_m2: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def area_by_owner(self, n: int) -> np.ndarray:
        """Summed part area per owner (length ``n``), built and measured-only parts alike."""
        built = np.bincount(self.owner, weights=shapely.area(self.parts), minlength=n) \
            if len(self.owner) else np.zeros(n)
        return built + self.measured_by_owner(n)

    def measured_by_owner(self, n: int, features: np.ndarray | None = None) -> np.ndarray:
        """Summed area per owner of the measured-only parts (of ``features`` only, a mask, if given)."""
        sel = slice(None) if features is None else features[self.measured_feature]
        return np.bincount(self.measured_owner[sel], weights=self.measured_m2[sel], minlength=n)


class Layer:
    """A layer's features with their boxes, spatial index and overlap flags, built once per task."""

    def __init__(self, geoms: np.ndarray) -> None:
        self.geoms = np.asarray(geoms, dtype=object)
        self.bounds = shapely.bounds(self.geoms).reshape(-1, 4)
        self.tree = shapely.STRtree(self.geoms)
        self.among: np.ndarray | None = None  # set before first use of clean: see overlap_free
        self._clean: np.ndarray | None = None
        self._convex: np.ndarray | None = None
        shapely.prepare(self.geoms)

    @property
    def clean(self) -> np.ndarray:
        """:func:`overlap_free` of the features, computed on first use."""
        if self._clean is None:
            self._clean = overlap_free(self.geoms, self.tree, self.among, self.convex)
        return self._clean

    @property
    def convex(self) -> np.ndarray:
        """:func:`convex_polygons` of the features, computed on first use."""
        if self._convex is None:
            self._convex = convex_polygons(self.geoms)
        return self._convex

    def pairs(self, geoms: np.ndarray, bounds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(geometry, feature) index pairs whose boxes share an area (``bounds``: of ``geoms``)."""
        gi, li = self.tree.query(geoms)
        bounds = shapely.bounds(geoms).reshape(-1, 4) if bounds is None else bounds
        keep = _boxes_overlap(bounds[gi], self.bounds[li])
        return gi[keep], li[keep]


def _union_by_owner(owner: np.ndarray, pieces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One union per owner of its pieces: (owners, unions), owners ascending."""
    order = np.argsort(owner, kind="stable")
    owner, pieces = owner[order], pieces[order]
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    ends = np.r_[starts[1:], len(owner)]
    merged = np.array([pieces[s] if e - s == 1 else shapely.union_all(pieces[s:e])
                       for s, e in zip(starts, ends)], dtype=object)
    return owner[starts], merged


def covered_parts(
    geoms: np.ndarray, layer: Layer,
    area_only: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> CoveredParts:
    """Each geometry's part inside the union of ``layer``, as disjoint pieces (no double count).

    Pairs whose boxes share no area are skipped (their intersection has no area). A geometry
    covered by one feature is its own part. Otherwise each (geometry, feature) intersection
    is a part when none of the features it meets can overlap another (:func:`overlap_free`);
    a feature covered by the geometry is its own part (no GEOS overlay). Only geometries
    meeting a flagged feature are unioned, as one part. GEOS predicates run only where the
    boxes allow them to hold.

    ``area_only(geometry indexes, feature indexes)`` marks the pairs whose cut part is needed
    for its area only: the area of each such polygonal pair is measured without building the
    part (:func:`~overlay.overlap_areas.overlap_areas`).
    """
    geoms = np.asarray(geoms, dtype=object)
    empty = CoveredParts(_no_ints(), np.empty(0, dtype=object), _no_ints())
    if len(geoms) == 0 or len(layer.geoms) == 0:
        return empty
    gbounds = shapely.bounds(geoms).reshape(-1, 4)
    gi, li = layer.pairs(geoms, gbounds)
    gb, lb = gbounds[gi], layer.bounds[li]
    if len(gi) == 0:
        return empty
    # a geometry covered by one feature is its own part (prepared layer features do the test)
    maybe = np.flatnonzero(_box_within(gb, lb))
    within = maybe[shapely.covers(layer.geoms[li[maybe]], geoms[gi[maybe]])]
    inside = np.zeros(len(geoms), dtype=bool)
    inside[gi[within]] = True
    covering = np.full(len(geoms), -1, dtype=np.int64)
    covering[gi[within]] = li[within]  # one feature covering each such geometry
    keep = ~inside[gi]
    gi, li, gb, lb = gi[keep], li[keep], gb[keep], lb[keep]
    owners = [np.flatnonzero(inside)]
    parts = [geoms[inside]]
    features = [covering[inside]]
    extra = None
    if len(gi):
        flagged = np.zeros(len(geoms), dtype=bool)
        flagged[gi[~layer.clean[li]]] = True
        # disjoint path: one part per (geometry, feature) pair
        simple = ~flagged[gi]
        sg, sl = gi[simple], li[simple]
        maybe = np.flatnonzero(_box_within(lb[simple], gb[simple]))
        whole = np.zeros(len(sg), dtype=bool)
        whole[maybe[shapely.covered_by(layer.geoms[sl[maybe]], geoms[sg[maybe]])]] = True
        measured = np.zeros(len(sg), dtype=bool)
        if area_only is not None:
            measured = ~whole & area_only(sg, sl)
            measured[measured] = (_is_polygonal(geoms[sg[measured]])
                                  & _is_polygonal(layer.geoms[sl[measured]]))
        if measured.any():
            from overlay.overlap_areas import overlap_areas
            mg, ml = sg[measured], sl[measured]
            extra = (mg, ml, overlap_areas(geoms, layer.geoms, mg, ml, layer.convex))
        built = ~measured
        cut = np.empty(len(sg), dtype=object)
        cut[whole] = layer.geoms[sl[whole]]
        crossing = built & ~whole
        cut[crossing] = shapely.intersection(geoms[sg[crossing]], layer.geoms[sl[crossing]])
        owners.append(sg[built])
        parts.append(_polygonal(cut[built]))
        features.append(sl[built])
        # union path: geometries meeting a feature that may overlap another
        ug, ul = gi[~simple], li[~simple]
        if len(ug):
            owner, merged = _union_by_owner(ug, shapely.intersection(geoms[ug], layer.geoms[ul]))
            owners.append(owner)
            parts.append(_polygonal(merged))
            features.append(np.full(len(owner), -1, dtype=np.int64))
    owner = np.concatenate(owners).astype(np.int64)
    part = np.concatenate(parts)
    feature = np.concatenate(features).astype(np.int64)
    nonempty = ~shapely.is_empty(part)
    kept = (owner[nonempty], part[nonempty], feature[nonempty])
    return CoveredParts(*kept) if extra is None else CoveredParts(*kept, *extra)


def _is_polygonal(geoms: np.ndarray) -> np.ndarray:
    """Per geometry: a Polygon or MultiPolygon (what :func:`~overlay.overlap_areas.overlap_areas` measures)."""
    return np.isin(shapely.get_type_id(geoms), (3, 6))


def _within_owner(inner: CoveredParts, outer: CoveredParts) -> CoveredParts:
    """Parts of parts, re-owned by the original geometries (measured-only parts included)."""
    return CoveredParts(outer.owner[inner.owner], inner.parts, inner.feature,
                        outer.owner[inner.measured_owner], inner.measured_feature, inner.measured_m2)


def _basic_parts(farm: CoveredParts, basic_layer: Layer, settled: np.ndarray,
                 in_basic: np.ndarray) -> CoveredParts:
    """The basic-farmland parts of the built farmland parts ``farm``, owned by the pieces.

    A part cut from a settled farmland feature (:func:`_quiet_features`) is all basic
    farmland (its feature lies in one basic feature) or none (no basic feature's interior
    meets its feature): no GEOS call. Only the other parts are cut by the basic layer.
    """
    known = farm.feature >= 0
    known[known] = settled[farm.feature[known]]
    whole = known.copy()
    whole[known] = in_basic[farm.feature[known]]
    rest = np.flatnonzero(~known)
    cut = covered_parts(farm.parts[rest], basic_layer)
    return CoveredParts(np.concatenate([farm.owner[whole], farm.owner[rest[cut.owner]]]),
                        np.concatenate([farm.parts[whole], cut.parts]),
                        np.concatenate([np.full(int(whole.sum()), -1, dtype=np.int64), cut.feature]))


def _quiet_features(farm: Layer, basic: Layer, approved: Layer,
                    wanted: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Per farmland feature: (settled, near an approval, inside one basic feature).

    A feature is settled when it overlaps nothing else in its layer and lies within one
    basic-farmland feature or shares no area with any (boxes sharing no area, or features
    that only touch, as neighbours of a parcel layer do), both measured as common areas
    (:func:`~overlay.overlap_areas.overlap_areas`, to :data:`OVERLAP_TOLERANCE_M2`): its parts
    are all or none basic farmland, so they need only be measured, not built. Near an
    approval: the feature's box shares an area with an approval's. ``wanted`` (a mask) limits
    the measurements to the features that matter; the others are reported unsettled.
    """
    n = len(farm.geoms)
    fi, bi = basic.pairs(farm.geoms, farm.bounds)
    if wanted is not None:
        keep = wanted[fi]
        fi, bi = fi[keep], bi[keep]
    # measured common areas: within one basic feature, or meeting one's interior
    from overlay.overlap_areas import overlap_areas
    polygonal = _is_polygonal(farm.geoms[fi]) & _is_polygonal(basic.geoms[bi])
    m2 = np.full(len(fi), np.inf)  # anything else: taken as meeting, never as within
    m2[polygonal] = overlap_areas(farm.geoms, basic.geoms, fi[polygonal], bi[polygonal], basic.convex)
    in_basic = np.zeros(n, dtype=bool)
    in_basic[fi[polygonal & (m2 >= shapely.area(farm.geoms[fi]) - OVERLAP_TOLERANCE_M2)]] = True
    meets_basic = np.zeros(n, dtype=bool)
    meets_basic[fi[m2 > OVERLAP_TOLERANCE_M2]] = True
    meets_basic &= ~in_basic
    near_approved = np.zeros(n, dtype=bool)
    near_approved[approved.pairs(farm.geoms, farm.bounds)[0]] = True
    settled = in_basic | ~meets_basic
    if wanted is not None:
        settled &= wanted
    if settled.any():
        settled &= farm.clean
    return settled, near_approved, in_basic


def _meeting(features: np.ndarray, geoms: np.ndarray) -> np.ndarray:
    """Per feature: whether its box shares an area with the box of one of ``geoms``."""
    if len(features) == 0 or len(geoms) == 0:
        return np.zeros(len(features), dtype=bool)
    gi, fi = shapely.STRtree(features).query(geoms)
    out = np.zeros(len(features), dtype=bool)
    out[fi[_boxes_overlap(shapely.bounds(geoms).reshape(-1, 4)[gi],
                          shapely.bounds(features).reshape(-1, 4)[fi])]] = True
    return out


def dissolved_overlaps(layer: Layer) -> Layer:
    """The layer with its overlapping features unioned: disjoint features covering the same ground.

    The features :func:`overlap_free` flags, and those whose box shares an area with a flagged
    one, are replaced by the parts of their union; two unflagged features never overlap, so
    the result's features do not either.
    """
    flagged = ~layer.clean
    if not flagged.any():
        return layer
    a, b = layer.tree.query(layer.geoms[flagged])
    fb = np.flatnonzero(flagged)[a]
    group = flagged.copy()
    group[b[_boxes_overlap(layer.bounds[fb], layer.bounds[b])]] = True
    merged = shapely.get_parts(shapely.union_all(layer.geoms[group]))
    return Layer(np.concatenate([layer.geoms[~group], _polygonal(merged)]))


def _measured_within(pieces: np.ndarray, farm: CoveredParts, farm_layer: Layer, layer: Layer,
                     near: np.ndarray) -> np.ndarray:
    """Per measured farmland part of ``farm`` (piece, feature), the area of it inside the
    overlap-free ``layer``: one area per (piece, feature, layer feature) triple whose three
    boxes share an area, for the parts flagged ``near``, without building any part."""
    out = np.zeros(len(farm.measured_owner))
    k = np.flatnonzero(near)
    if len(k) == 0 or len(layer.geoms) == 0:
        return out
    g, f = farm.measured_owner[k], farm.measured_feature[k]
    gb, fb = shapely.bounds(pieces[g]).reshape(-1, 4), farm_layer.bounds[f]
    common = np.column_stack([np.maximum(gb[:, :2], fb[:, :2]), np.minimum(gb[:, 2:], fb[:, 2:])])
    t, h = layer.tree.query(shapely.box(*common.T))
    sharing = _boxes_overlap(common[t], layer.bounds[h])
    t, h = t[sharing], h[sharing]
    if len(t) == 0:
        return out
    from overlay.overlap_areas import overlap_areas
    m2 = overlap_areas(pieces, farm_layer.geoms, g[t], f[t], farm_layer.convex,
                       thirds=layer.geoms, ti=h, thirds_convex=layer.convex)
    out[k] = np.bincount(t, weights=m2, minlength=len(k))
    return out


def measure_pieces(
    pieces: np.ndarray, farmland: np.ndarray, basic_farmland: np.ndarray, approved: np.ndarray
) -> pd.DataFrame:
    """Areas (m²) of each piece's parts; all inputs are shapely arrays in one projected CRS.

    Measured geometrically: the piece, its farmland part, the basic-farmland part of
    that, and the approved parts, each as disjoint pieces (:func:`covered_parts`; overlapping
    layer features are unioned, never counted twice). A farmland part that is all or none
    basic farmland (:func:`_quiet_features`) is only measured, not built, and so is its
    approved part (:func:`_measured_within`, on the approvals with overlaps dissolved).
    Derived by subtraction so that the invariants hold by construction:
    ``illegal = farmland - legal``, ``other = area - farmland``.
    """
    pieces = np.asarray(pieces, dtype=object)
    n = len(pieces)
    area = shapely.area(pieces) if n else np.zeros(0)
    farm_layer, basic_layer = Layer(farmland), Layer(basic_farmland)
    approved = np.asarray(approved, dtype=object)
    # only the approvals whose box shares area with a piece's can share area with one
    approved_layer = dissolved_overlaps(Layer(approved[_meeting(approved, pieces)]))
    wanted = np.zeros(len(farm_layer.geoms), dtype=bool)
    wanted[farm_layer.pairs(pieces)[1]] = True  # the features whose box shares area with a piece's
    farm_layer.among = wanted  # the farmland layer is cut by the pieces only
    settled, near_approved, in_basic = _quiet_features(farm_layer, basic_layer, approved_layer, wanted)

    def area_only(g: np.ndarray, f: np.ndarray) -> np.ndarray:
        """(piece, feature) pairs whose part is all or none basic farmland."""
        return settled[f]

    def everything(g: np.ndarray, f: np.ndarray) -> np.ndarray:
        return np.ones(len(g), dtype=bool)

    farm = covered_parts(pieces, farm_layer, area_only)
    farmland_m2 = _snap(farm.area_by_owner(n), area)
    basic = _basic_parts(farm, basic_layer, settled, in_basic)
    basic_m2 = _snap(basic.area_by_owner(n) + farm.measured_by_owner(n, in_basic), farmland_m2)
    measured_legal = _measured_within(pieces, farm, farm_layer, approved_layer, near_approved[farm.measured_feature])
    owner = farm.measured_owner
    legal_m2 = _snap(
        _within_owner(covered_parts(farm.parts, approved_layer, everything), farm).area_by_owner(n)
        + np.bincount(owner, weights=measured_legal, minlength=n), farmland_m2)
    basic_legal_m2 = _snap(
        _within_owner(covered_parts(basic.parts, approved_layer, everything), basic).area_by_owner(n)
        + np.bincount(owner, weights=measured_legal * in_basic[farm.measured_feature], minlength=n), basic_m2)
    approved_m2 = _snap(covered_parts(pieces, approved_layer, everything).area_by_owner(n), area)
    illegal_m2 = farmland_m2 - legal_m2
    status = np.select(
        [farmland_m2 == 0, legal_m2 == 0, illegal_m2 == 0],
        ["non_farmland", "illegal", "legal"],
        default="partly_legal",
    )
    return pd.DataFrame({
        "area_m2": area,
        "farmland_m2": farmland_m2,
        "basic_farmland_m2": basic_m2,
        "approved_m2": approved_m2,
        "legal_farmland_m2": legal_m2,
        "illegal_farmland_m2": illegal_m2,
        "illegal_basic_farmland_m2": basic_m2 - basic_legal_m2,
        "other_m2": area - farmland_m2,
        "status": status,
    })


def representative_points(patches: GeoDataFrame | GeoSeries) -> pd.DataFrame:
    """Each patch's representative point, in metres of the Gauss-Krüger zone nearest to it.

    The point is shapely's ``point_on_surface`` of the patch as given (in its own
    CRS): deterministic, always inside the patch, and a function of the patch
    alone. It is placed in the CGCS2000 3-degree zone whose central meridian is
    nearest to its longitude (the county's zone, except for a patch beyond the
    zone border of its county). Returns ``epsg``, ``x`` (easting), ``y``
    (northing), one row per patch in input order.
    """
    series = patches.geometry if isinstance(patches, GeoDataFrame) else patches
    if series.crs is None:
        raise ValueError("patches have no CRS")
    points = shapely.point_on_surface(np.asarray(series.values))
    lons = shapely.get_x(reprojected(points, series.crs, CGCS2000_GEOGRAPHIC))
    epsg = gk3_epsg_for_lons(lons)
    x, y = np.empty(len(points)), np.empty(len(points))
    for code in np.unique(epsg):
        sel = epsg == code
        zoned = reprojected(points[sel], series.crs, int(code))
        x[sel], y[sel] = shapely.get_x(zoned), shapely.get_y(zoned)
    return pd.DataFrame({"epsg": epsg, "x": x, "y": y})


NEAR_PAD_M = 10.0
"""Margin (m) around each patch's box within which layer features are kept for its county's
measurement (:func:`_near_patches`): far more than the few millimetres by which straight edges
drawn in another CRS can move when projected."""


def _near_patches(patches: GeoDataFrame | GeoSeries) -> Callable[[GeoSeries], np.ndarray]:
    """A filter giving the positions, in order, of the features of a layer whose box meets a
    patch's box grown by :data:`NEAR_PAD_M` in the layer's own CRS: the only ones that can share
    area with a piece. A county's window holds every parcel under its patches' bounds, most of
    them between the patches; they are neither projected nor indexed. The patches' boxes are
    indexed once per CRS the layers come in."""
    series = patches.geometry if isinstance(patches, GeoDataFrame) else patches
    trees: dict[str | None, shapely.STRtree] = {}

    def near(layer: GeoSeries) -> np.ndarray:
        if len(layer) == 0 or len(series) == 0:
            return np.arange(len(layer))
        key = None if layer.crs is None else (layer.crs.srs or layer.crs.to_wkt())
        if key not in trees:
            mine = np.asarray(series.values)
            if layer.crs is not None and series.crs is not None:
                mine = reprojected(mine, series.crs, layer.crs)
            pad = NEAR_PAD_M if layer.crs is None or layer.crs.is_projected else NEAR_PAD_M / 50_000.0  # degrees, generous
            b = shapely.bounds(mine).reshape(-1, 4)
            trees[key] = shapely.STRtree(shapely.box(b[:, 0] - pad, b[:, 1] - pad, b[:, 2] + pad, b[:, 3] + pad))
        return np.unique(trees[key].query(np.asarray(layer.values))[0])

    return near


def split_county(task: CountyTask) -> GeoDataFrame:
    """The measured pieces of one county's patches, in the county's zone CRS.

    Returns one row per (patch, county) piece with the columns of
    :data:`~overlay.contracts.PIECE_COLUMNS` except ``patch_id`` (see
    :func:`assign_patch_ids`), every extra column of ``task.patches``, and two
    working columns holding the whole patch's representative point, which
    :func:`combine_pieces` turns into the JCBH and drops.
    """
    crs = epsg_crs(task.epsg)
    patch_geoms = task.patches.geometry  # (a GeoDataFrame finds its geometry column on each access)
    rep = representative_points(patch_geoms)  # of the whole patch, before it is cut

    def zoned(series: GeoSeries) -> np.ndarray:
        return reprojected(np.asarray(series.values), series.crs, crs)

    geoms = zoned(patch_geoms)
    # Project whole boundaries first, then clip in the zone CRS: clipping in another CRS would
    # put new vertices on boundary edges that are straight there but not here.
    box = _padded_box(shapely.total_bounds(geoms))
    whole = shapely.union_all(zoned(task.county))
    county = shapely.intersection(whole, box)
    earlier = zoned(task.earlier_counties)
    # only earlier counties whose interior meets this one's take area from it (most only touch)
    earlier = earlier[shapely.relate_pattern(whole, earlier, "T********")] if len(earlier) else earlier
    if len(earlier):
        county = shapely.difference(county, shapely.intersection(shapely.union_all(earlier), box))
    shapely.prepare(county)
    inside = shapely.contains_properly(county, geoms)
    pieces = geoms.copy()
    pieces[~inside] = _polygonal(shapely.intersection(pieces[~inside], county))
    keep = shapely.area(pieces) >= SLIVER_M2
    pieces, rep = pieces[keep], rep[keep]
    near = _near_patches(patch_geoms[keep])

    def near_zoned(layer: GeoSeries) -> np.ndarray:
        return reprojected(np.asarray(layer.values)[near(layer)], layer.crs, crs)

    measured = measure_pieces(pieces, near_zoned(task.farmland), near_zoned(task.basic_farmland),
                              near_zoned(task.approved))
    # one frame built from its columns (the patches' own, the county after the first, the
    # measures, the working columns, the geometry as an array that carries its CRS): selecting,
    # concatenating and inserting columns frame by frame cost more than the measuring of a
    # small county
    columns: dict[str, Any] = {}
    for k, name in enumerate(c for c in task.patches.columns if c != patch_geoms.name):
        columns[name] = task.patches[name].array[keep]  # the column's own dtype
        if k == 0:
            columns["county_code"], columns["county_name"] = task.county_code, task.county_name
    columns.update({name: measured[name].array for name in measured.columns})
    columns[_REP_X], columns[_REP_Y] = rep["x"].to_numpy(), rep["y"].to_numpy()
    columns["geometry"] = from_shapely(pieces, crs=crs)
    return GeoDataFrame(pd.DataFrame(columns), geometry="geometry")


def _location_codes(pieces: pd.DataFrame) -> dict[str, str]:
    """Location code (with its collision suffix) per ``source_id``, from the representative points.

    All pieces of a patch carry the same point, so a patch straddling counties has one code.
    Patches whose points fall in the same cell are ordered north-west first by the points'
    full-precision coordinates (then ``source_id``, for identical points): the first keeps the
    bare code, the next get ``A``, ``B``, ...
    """
    sids = pieces["source_id"].astype(str).to_numpy(dtype=object)
    first = ~pd.Series(sids).duplicated().to_numpy()  # one row per patch, as all its pieces agree
    sids = sids[first]
    xs, ys = pieces[_REP_X].to_numpy()[first], pieces[_REP_Y].to_numpy()[first]
    cells = location_codes(xs.tolist(), ys.tolist())
    codes = dict(zip(sids.tolist(), cells))
    cell_id, _ = pd.factorize(np.asarray(cells, dtype=object))
    shared = np.flatnonzero(np.bincount(cell_id)[cell_id] > 1)  # only these need a suffix
    if len(shared):
        table = pd.DataFrame({"cell": cell_id[shared], "neg_y": -ys[shared], "x": xs[shared],
                              "source_id": sids[shared]})
        table = table.sort_values(["cell", "neg_y", "x", "source_id"], kind="stable")
        rank = table.groupby("cell", sort=False).cumcount()
        for sid, r in zip(table["source_id"].tolist(), rank.tolist()):
            codes[sid] += collision_suffix(r)
    return codes


def _sort_order(*keys: list[str]) -> np.ndarray:
    """Stable order of rows sorted by the string ``keys``, first key first."""
    return np.lexsort([np.asarray(k, dtype=str) for k in reversed(keys)])


def assign_patch_ids(pieces: GeoDataFrame, year: int, *, official_ids: bool = False) -> GeoDataFrame:
    """Add ``patch_id``, the JCBH, as the first column; sort by county, then JCBH.

    With ``official_ids`` (received patches read with an id field), the JCBH is the
    patch's own ``source_id``, shared by its pieces in several counties: the piece
    key is then (``patch_id``, ``county_code``). Otherwise the JCBH is
    ``<county_code><year><location code>`` (:func:`overlay.contracts.make_jcbh`)
    from the whole patch's representative point, so it depends on the patch alone
    (and on the other patches only when two share a 10 m cell, see
    :func:`_location_codes`); every piece of a patch has the same location code.
    """
    codes = pieces["county_code"].astype(str).tolist()
    sids = pieces["source_id"].astype(str).tolist()
    if official_ids:
        ids = sids
    else:
        locations = _location_codes(pieces) if len(pieces) else {}
        ids = make_jcbhs(codes, year, [locations[sid] for sid in sids])
    kept = [c for c in pieces.columns if c not in (_REP_X, _REP_Y)]
    if not len(pieces) or "patch_id" in pieces.columns:  # (pandas refuses a second patch_id)
        out = pieces[kept].copy()
        out.insert(0, "patch_id", ids)
        return out.reset_index(drop=True)
    # the sorted frame built once from its columns, each taken in order with its own dtype
    order = _sort_order(codes, ids, sids)
    columns = {"patch_id": np.asarray(ids, dtype=object)[order]}
    columns.update({c: pieces[c].array.take(order) for c in kept})
    return GeoDataFrame(pd.DataFrame(columns), geometry=pieces.geometry.name)


def unassigned_parts(patches: GeoDataFrame, counties: GeoDataFrame) -> GeoDataFrame:
    """Parts of patches that lie in no county (reported, never silently dropped).

    Computed where the pieces are measured: each patch and the counties it touches are
    projected to the patch's Gauss-Krüger zone and the difference is taken there (taking it
    in geographic coordinates and measuring it after projection leaves false slivers along
    boundaries, whose edges are straight in one CRS and not in the other). Returns
    ``source_id``, ``area_m2`` and the part's geometry in the counties' CRS, for parts of
    at least :data:`SLIVER_M2`.
    """
    empty = GeoDataFrame({"source_id": [], "area_m2": []}, geometry=[], crs=counties.crs)
    if len(patches) == 0:
        return empty
    in_counties = patches.geometry.to_crs(counties.crs) if patches.crs != counties.crs \
        else patches.geometry
    county_geoms = np.asarray(counties.geometry.values, dtype=object)
    tree = shapely.STRtree(county_geoms)
    inside = np.zeros(len(patches), dtype=bool)
    # "county contains patch" asked from the county side: GEOS prepares the query geometry,
    # and a prepared county answers for all its patches (10x faster nationally than asking
    # each small patch whether it is within a county of a million vertices)
    inside[shapely.STRtree(np.asarray(in_counties.values, dtype=object))
           .query(county_geoms, predicate="contains")[1]] = True
    candidates = np.flatnonzero(~inside)
    if len(candidates) == 0:
        return empty
    zones = representative_points(patches.iloc[candidates])["epsg"].to_numpy()
    ids, areas, rests = [], [], []
    for epsg in np.unique(zones):
        rows = candidates[zones == epsg]
        crs = CRS.from_epsg(int(epsg))
        geoms = np.asarray(patches.geometry.iloc[rows].to_crs(crs).values, dtype=object)
        touching = np.unique(tree.query(in_counties.iloc[rows].values, predicate="intersects")[1])
        cover = np.asarray(counties.geometry.iloc[touching].to_crs(crs).values, dtype=object)
        rest = _polygonal(shapely.difference(geoms, _covered(geoms, cover)))
        area = shapely.area(rest)
        keep = area >= SLIVER_M2
        ids.append(patches["source_id"].to_numpy()[rows][keep])
        areas.append(area[keep])
        rests.append(GeoSeries(rest[keep], crs=crs).to_crs(counties.crs).values)
    if not sum(len(a) for a in areas):
        return empty
    return GeoDataFrame({"source_id": np.concatenate(ids), "area_m2": np.concatenate(areas)},
                        geometry=np.concatenate(rests), crs=counties.crs)


def split_patches(
    patches: GeoDataFrame,
    counties: GeoDataFrame,
    farmland: GeoDataFrame,
    basic_farmland: GeoDataFrame,
    approved: GeoDataFrame,
    *,
    year: int,
    output_crs: CRS | int | None = None,
    official_ids: bool = False,
) -> GeoDataFrame:
    """Split every patch by county and measure it; the single-machine path.

    ``output_crs`` defaults to the zone CRS when all counties share one zone,
    else geographic CGCS2000 (EPSG:4490). Area columns are always measured in
    each county's own zone. ``official_ids``: ``source_id`` is the official JCBH
    of received patches (see :func:`assign_patch_ids`).
    """
    tasks = county_tasks(patches, counties, farmland, basic_farmland, approved)
    return combine_pieces([split_county(t) for t in tasks], year=year, output_crs=output_crs,
                          template=patches, official_ids=official_ids)


def combine_pieces(
    parts: list[GeoDataFrame], *, year: int, output_crs: CRS | int | None = None,
    template: GeoDataFrame | None = None, official_ids: bool = False,
) -> GeoDataFrame:
    """Concatenate per-county results in one CRS and assign the JCBH (:func:`assign_patch_ids`)."""
    if output_crs is None:
        crss = {p.crs for p in parts}
        output_crs = crss.pop() if len(crss) == 1 else CRS.from_epsg(4490)
    output_crs = CRS.from_user_input(output_crs)
    parts = [p.to_crs(output_crs) for p in parts if len(p)]
    if not parts:
        extra = [] if template is None else [c for c in template.columns if c != template.geometry.name]
        columns = list(dict.fromkeys(["source_id", "county_code", "county_name", *extra,
                                      *MEASURE_COLUMNS]))
        empty = GeoDataFrame({c: [] for c in columns}, geometry=[], crs=output_crs)
        empty.insert(0, "patch_id", [])
        return empty
    return assign_patch_ids(GeoDataFrame(pd.concat(parts, ignore_index=True), crs=output_crs), year,
                            official_ids=official_ids)
