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

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame, GeoSeries
from pyproj import CRS

from overlay.contracts import MEASURE_COLUMNS, collision_suffix, location_code, make_jcbh
from overlay.crs import CGCS2000_GEOGRAPHIC, gk3_epsg_for_lon, zone_epsg_for_geometries

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
            farmland=farmland.geometry.iloc[_query(farmland, county_patches.geometry)],
            basic_farmland=basic_farmland.geometry.iloc[
                _query(basic_farmland, county_patches.geometry)],
            approved=approved.geometry.iloc[_query(approved, county_patches.geometry)],
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


def overlap_free(layer: np.ndarray) -> np.ndarray:
    """Per feature: True when it provably overlaps no other feature of ``layer``.

    GEOS's coverage validator flags every feature with an edge that lies inside another
    feature or meets a neighbour's edge without sharing its vertices. An unflagged feature
    overlaps nothing, so its intersections with a patch can be summed without a union.
    Flagging is conservative: T-junctions and nested or duplicate features are flagged
    (a nested feature's container may stay unflagged; the nested one is enough to send a
    group down the union path).
    """
    layer = np.asarray(layer, dtype=object)
    if len(layer) < 2:
        return np.ones(len(layer), dtype=bool)
    return np.asarray(shapely.is_empty(shapely.coverage_invalid_edges(layer)), dtype=bool)


@dataclass(frozen=True)
class CoveredParts:
    """Pairwise disjoint parts of some geometries inside the union of a layer.

    ``owner[k]`` is the index of the geometry that ``parts[k]`` belongs to; the parts of
    one owner do not overlap, so areas add up (:meth:`area_by_owner`).
    """

    owner: np.ndarray
    parts: np.ndarray

    def area_by_owner(self, n: int) -> np.ndarray:
        """Summed part area per owner (length ``n``)."""
        if len(self.owner) == 0:
            return np.zeros(n)
        return np.bincount(self.owner, weights=shapely.area(self.parts), minlength=n)


class Layer:
    """A layer's features with its spatial index and overlap flags, built once per task."""

    def __init__(self, geoms: np.ndarray) -> None:
        self.geoms = np.asarray(geoms, dtype=object)
        self.tree = shapely.STRtree(self.geoms)
        self.clean = overlap_free(self.geoms)
        shapely.prepare(self.geoms)


def covered_parts(geoms: np.ndarray, layer: Layer) -> CoveredParts:
    """Each geometry's part inside the union of ``layer``, as disjoint pieces (no double count).

    A geometry covered by one feature is its own part. Otherwise each (geometry, feature)
    intersection is a part when none of the features it meets can overlap another
    (:func:`overlap_free`); a feature covered by the geometry is its own part (no GEOS
    overlay). Only geometries meeting a flagged feature are unioned, as one part.
    """
    geoms = np.asarray(geoms, dtype=object)
    empty = np.empty(0, dtype=np.int64)
    if len(geoms) == 0 or len(layer.geoms) == 0:
        return CoveredParts(empty, np.empty(0, dtype=object))
    gi, li = layer.tree.query(geoms, predicate="intersects")
    if len(gi) == 0:
        return CoveredParts(empty, np.empty(0, dtype=object))
    within = shapely.covers(layer.geoms[li], geoms[gi])  # prepared layer features do the test
    inside = np.zeros(len(geoms), dtype=bool)
    inside[gi[within]] = True
    keep = ~inside[gi]
    gi, li = gi[keep], li[keep]
    owners = [np.flatnonzero(inside)]
    parts = [geoms[inside]]
    if len(gi):
        flagged = np.zeros(len(geoms), dtype=bool)
        flagged[gi[~layer.clean[li]]] = True
        # disjoint path: one part per (geometry, feature) pair
        simple = ~flagged[gi]
        sg, sl = gi[simple], li[simple]
        whole = shapely.covered_by(layer.geoms[sl], geoms[sg])
        cut = np.empty(len(sg), dtype=object)
        cut[whole] = layer.geoms[sl[whole]]
        cut[~whole] = shapely.intersection(geoms[sg[~whole]], layer.geoms[sl[~whole]])
        owners.append(sg)
        parts.append(_polygonal(cut))
        # union path: geometries meeting a feature that may overlap another
        ug, ul = gi[~simple], li[~simple]
        if len(ug):
            pieces = shapely.intersection(geoms[ug], layer.geoms[ul])
            order = np.argsort(ug, kind="stable")
            ug, pieces = ug[order], pieces[order]
            starts = np.flatnonzero(np.r_[True, ug[1:] != ug[:-1]])
            ends = np.r_[starts[1:], len(ug)]
            merged = np.array([pieces[s] if e - s == 1 else shapely.union_all(pieces[s:e])
                               for s, e in zip(starts, ends)], dtype=object)
            owners.append(ug[starts])
            parts.append(_polygonal(merged))
    owner = np.concatenate(owners).astype(np.int64)
    part = np.concatenate(parts)
    nonempty = ~shapely.is_empty(part)
    return CoveredParts(owner[nonempty], part[nonempty])


def _within_owner(inner: CoveredParts, outer: CoveredParts) -> CoveredParts:
    """Parts of parts, re-owned by the original geometries."""
    return CoveredParts(outer.owner[inner.owner], inner.parts)


def measure_pieces(
    pieces: np.ndarray, farmland: np.ndarray, basic_farmland: np.ndarray, approved: np.ndarray
) -> pd.DataFrame:
    """Areas (m²) of each piece's parts; all inputs are shapely arrays in one projected CRS.

    Measured geometrically: the piece, its farmland part, the basic-farmland part of
    that, and the approved parts, each as disjoint pieces (:func:`covered_parts`; overlapping
    layer features are unioned, never counted twice). Derived by subtraction so that the
    invariants hold by construction: ``illegal = farmland - legal``, ``other = area - farmland``.
    """
    pieces = np.asarray(pieces, dtype=object)
    n = len(pieces)
    area = shapely.area(pieces) if n else np.zeros(0)
    farm_layer, basic_layer, approved_layer = Layer(farmland), Layer(basic_farmland), Layer(approved)
    farm = covered_parts(pieces, farm_layer)
    farmland_m2 = _snap(farm.area_by_owner(n), area)
    basic = _within_owner(covered_parts(farm.parts, basic_layer), farm)
    basic_m2 = _snap(basic.area_by_owner(n), farmland_m2)
    legal_m2 = _snap(_within_owner(covered_parts(farm.parts, approved_layer), farm).area_by_owner(n),
                     farmland_m2)
    basic_legal_m2 = _snap(
        _within_owner(covered_parts(basic.parts, approved_layer), basic).area_by_owner(n), basic_m2)
    approved_m2 = _snap(covered_parts(pieces, approved_layer).area_by_owner(n), area)
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
    points = GeoSeries(shapely.point_on_surface(series.values), crs=series.crs)
    lons = shapely.get_x(points.to_crs(CRS.from_epsg(CGCS2000_GEOGRAPHIC)).values)
    epsg = np.array([gk3_epsg_for_lon(float(lon)) for lon in lons], dtype=np.int64)
    x, y = np.empty(len(points)), np.empty(len(points))
    for code in np.unique(epsg):
        sel = epsg == code
        zoned = points[sel].to_crs(CRS.from_epsg(int(code))).values
        x[sel], y[sel] = shapely.get_x(zoned), shapely.get_y(zoned)
    return pd.DataFrame({"epsg": epsg, "x": x, "y": y})


def split_county(task: CountyTask) -> GeoDataFrame:
    """The measured pieces of one county's patches, in the county's zone CRS.

    Returns one row per (patch, county) piece with the columns of
    :data:`~overlay.contracts.PIECE_COLUMNS` except ``patch_id`` (see
    :func:`assign_patch_ids`), every extra column of ``task.patches``, and two
    working columns holding the whole patch's representative point, which
    :func:`combine_pieces` turns into the JCBH and drops.
    """
    crs = CRS.from_epsg(task.epsg)
    rep = representative_points(task.patches)  # of the whole patch, before it is cut
    patches = task.patches.to_crs(crs)
    geoms = patches.geometry.values
    # Project whole boundaries first, then clip in the zone CRS: clipping in another CRS would
    # put new vertices on boundary edges that are straight there but not here.
    box = _padded_box(patches.total_bounds)
    county = shapely.intersection(shapely.union_all(task.county.to_crs(crs).values), box)
    if len(task.earlier_counties):
        earlier = shapely.union_all(task.earlier_counties.to_crs(crs).values)
        county = shapely.difference(county, shapely.intersection(earlier, box))
    shapely.prepare(county)
    inside = shapely.contains_properly(county, np.asarray(geoms))
    pieces = np.asarray(geoms).copy()
    pieces[~inside] = _polygonal(shapely.intersection(pieces[~inside], county))
    keep = shapely.area(pieces) >= SLIVER_M2
    patches, pieces, rep = patches[keep], pieces[keep], rep[keep]
    measured = measure_pieces(
        pieces,
        task.farmland.to_crs(crs).values,
        task.basic_farmland.to_crs(crs).values,
        task.approved.to_crs(crs).values,
    )
    extra = patches.drop(columns=patches.geometry.name).reset_index(drop=True)
    out = pd.concat([extra, measured], axis=1)
    out.insert(1, "county_code", task.county_code)
    out.insert(2, "county_name", task.county_name)
    out[_REP_X], out[_REP_Y] = rep["x"].to_numpy(), rep["y"].to_numpy()
    return GeoDataFrame(out, geometry=GeoSeries(pieces, crs=crs).values, crs=crs)


def _location_codes(pieces: pd.DataFrame) -> dict[str, str]:
    """Location code (with its collision suffix) per ``source_id``, from the representative points.

    All pieces of a patch carry the same point, so a patch straddling counties has one code.
    Patches whose points fall in the same cell are ordered north-west first by the points'
    full-precision coordinates (then ``source_id``, for identical points): the first keeps the
    bare code, the next get ``A``, ``B``, ...
    """
    patches = pieces.groupby(pieces["source_id"].astype(str), sort=False)[[_REP_X, _REP_Y]].first()
    table = pd.DataFrame({
        "cell": [location_code(x, y) for x, y in zip(patches[_REP_X], patches[_REP_Y])],
        "neg_y": -patches[_REP_Y].to_numpy(),
        "x": patches[_REP_X].to_numpy(),
        "source_id": patches.index.to_numpy(),
    })
    table = table.sort_values(["cell", "neg_y", "x", "source_id"], kind="stable")
    rank = table.groupby("cell", sort=False).cumcount()
    return {sid: cell + collision_suffix(int(r))
            for sid, cell, r in zip(table["source_id"], table["cell"], rank)}


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
    out = pieces.copy()
    codes = out["county_code"].astype(str)
    if official_ids:
        ids = out["source_id"].astype(str).tolist()
    else:
        locations = _location_codes(out) if len(out) else {}
        ids = [make_jcbh(code, year, locations[sid])
               for code, sid in zip(codes, out["source_id"].astype(str))]
    out = out.drop(columns=[c for c in (_REP_X, _REP_Y) if c in out.columns])
    out.insert(0, "patch_id", ids)
    order = pd.DataFrame({"code": codes.to_numpy(), "id": ids,
                          "source_id": out["source_id"].astype(str).to_numpy()}) \
        .sort_values(["code", "id", "source_id"], kind="stable").index
    return out.iloc[order].reset_index(drop=True)


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
    inside[tree.query(in_counties.values, predicate="within")[0]] = True
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
