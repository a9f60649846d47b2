"""Generate the national benchmark world: a synthetic country on the real county boundaries.

Usage (from the repository root)::

    .venv/bin/python -m bench.national.world OUT_DIR [--scale F] [--seed N]

writes into ``OUT_DIR``:

- ``counties.gpkg`` (layer ``counties``: ``XZQDM`` 6-digit code as text, ``XZQMC`` name,
  ``SHENG``/``SHI`` province and city names), EPSG:4490;
- ``farmland.gpkg`` (layer ``farmland``: ``BSM``, ``DLBM`` 0101/0102/0103, ``DLMC``, ``ZLDWDM``,
  ``TBMJ``), about 1.19 million parcels at scale 1;
- ``basic_farmland.gpkg`` (layer ``basic_farmland``): a subset of the farmland parcels, same geometry;
- ``approved.gpkg`` (layer ``approved``: ``PZWH``, ``PZLX``, ``PZRQ``): approvals, some overlapping
  each other, some nested, some approved but not built on;
- ``patches.gpkg`` (layer ``patches``: ``JCBH`` unique, ``XZQDM``, ``XZQMC``, ``TBMJ``, ``QSX``, ``HSX``),
  about 200,000 received patches at scale 1, about 1,000 of them straddling county boundaries;
- ``truth_ratios.csv``: per county the occupied / legal / illegal / basic farmland m², the number of
  pieces, the ratio and the level, known by construction (see below);
- ``national.yaml``: a landcheck run config (patches mode) for this world;
- ``world.json``: parameters, counts and generation timings.

The county boundaries are ``../shared/data/china_admin/china_counties_wgs84.gpkg`` (2,875 counties).
Their coordinates are WGS84; this world declares them CGCS2000 (EPSG:4490) unchanged, as the national
layers come: the two datums differ by well under a metre, which does not matter for a synthetic world,
and every area below is measured from the coordinates as written, so the truth is exact in EPSG:4490.

``--scale F`` (0 < F <= 1) keeps the ``round(2875 * F)`` counties whose centroids are nearest to
central China (113.5E 34.5N), with the same densities per county as at scale 1, so a small world is
a representative, contiguous piece of the whole one (border patches included).

How the truth is constructed, and why it is exact
-------------------------------------------------
Everything lives on one global lattice of 0.001 x 0.001 degree cells (about 1 ha): cell ``(i, j)`` is
``[i * 0.001, (i + 1) * 0.001] x [j * 0.001, (j + 1) * 0.001]``, every corner computed as an integer
times the step, so neighbouring cells share exact vertices.

- Farmland parcels are lattice cells in rectangular blocks placed in each county. A cell wholly inside
  its county is a parcel as is; a cell crossing the county boundary is clipped to the part the county
  owns (where county polygons overlap, the county with the smaller code owns the overlap, as landcheck
  rules) and exploded into polygons. Parcels never overlap. Basic farmland is whole blocks of parcels.
- An interior patch is a polygon strictly inside one unclipped farmland cell (a margin of 6 % of the
  cell on every side), so it lies inside one county and inside one parcel: its farmland part is the
  patch itself. Its area is measured in the county's CGCS2000 3-degree Gauss-Krüger zone (EPSG:4534 +
  (CM - 75) / 3, CM = 3 * round(lon / 3) of the county centroid, clamped to 75..135) exactly as landcheck
  measures it: project the vertices, take the planar area.
- Approvals are lattice-aligned rectangles: a legal patch's cell (sometimes with a patch-free
  neighbour), a second approval overlapping half of it (sometimes), patch-free cells approved but not
  built on. Cells with patches are never touched by an approval of another cell, so every patch is
  entirely inside an approval (legal) or entirely outside all (illegal) ...
- ... except the partly legal patches: a 6-vertex rectangle cut by the edge of an approval that
  ends inside the cell, where the approval has vertices exactly at the two points where it crosses the
  patch's edges. The legal part is then the quadrilateral of four patch vertices (no intersection point
  is computed by anyone), measured by projecting those four vertices. Some of these carry a second
  approval nested inside the first (landcheck then unions overlapping approvals).
- Non-farmland patches sit in cells that are no parcel: they count as pieces, not in the ratio.
- Border patches: a lattice cell through which the shared boundary of two counties X and Y passes
  (validated: no third county, no gap, each side at least 15 % of the cell). The cell's part in each
  county, set back from the county line by 0.00005 degrees (3-5 m, a mitred negative buffer), is a
  parcel, F_X and F_Y; the patch is the cell grown by 0.00003 degrees (about 3 m). The patch covers
  both parcels entirely and each parcel lies metres inside its county, so the patch's farmland in X is
  F_X and in Y is F_Y whatever CRS the patch is cut in, each measured in its own county's zone. The
  3x3 cells around a border cell carry no other farmland, patch or approval. About a quarter are
  wholly covered by an approval (legal), the rest illegal.

  Why the setback: a boundary edge is straight in EPSG:4490 in the county layer but straight in metres
  once landcheck projects it to the zone and cuts there, so a parcel clipped to the county line in
  EPSG:4490 is split by landcheck with centimetre offsets along long boundary segments (up to 0.75 m²
  of a parcel moved to the neighbour in a test world, the two counties' sum unchanged). Which split is
  "right" is a convention, not something a truth known by construction should depend on.

So every county figure is a sum of areas of polygons whose vertices are all in the written files; only
floating-point summation order can differ from landcheck's (far below the CSV's 0.01 m² rounding).
Counties get target levels (none, interview, accountability; about 2 % with no occupied farmland:
no patch at all, or non-farmland patches only); the illegal patches are then chosen per county to
approach the target ratio, and the truth is computed from the result, not from the target.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

REPO = Path(__file__).resolve().parents[2]
DEFAULT_COUNTIES = REPO.parent / "shared" / "data" / "china_admin" / "china_counties_wgs84.gpkg"

YEAR = 2025
CRS_4490 = "EPSG:4490"
STEP = 0.001                    # lattice step, degrees
KEY_BITS = 17                   # key = (i << 17) | j ; j < 90 / STEP < 2**17
INSET = 0.06                    # interior patch margin inside its cell, share of the cell
BORDER_GROW = 0.00003           # border patch = cell grown by this (degrees, about 3 m)
BORDER_APPROVAL_GROW = 0.00006  # a legal border patch's approval = cell grown by this
MIN_SIDE_SHARE = 0.15           # each side of a border cell holds at least this share of it
BORDER_SETBACK = 0.00005        # border parcels keep this far (degrees, 3-5 m) from the county line

PARCELS_PER_COUNTY = 325.0      # mean target per county at scale 1 (blocks overshoot: 1.19 M in all)
PATCHES_PER_COUNTY = 70.8       # mean interior patches per county at scale 1
BORDER_PATCHES = 1000           # at scale 1
NONFARM_SHARE = 0.08            # of a county's patches, on no farmland
PARTIAL_SHARE = 0.06            # of farmland patches, partly legal
LEGAL_BORDER_SHARE = 0.25
BASIC_BLOCK_SHARE = 0.45
NOT_BUILT_SHARE = 0.06          # patch-free farmland cells approved but not built on (of parcels)
CENTRE = (113.5, 34.5)

ROLE_SHARES = {"none": 0.61, "interview": 0.17, "accountability": 0.20, "no_ratio": 0.02}
THRESHOLDS = {"interview": 0.10, "accountability": 0.15}

DLBM = np.array(["0101", "0102", "0103"])
DLMC = np.array(["水田", "水浇地", "旱地"])
PZLX = np.array(["农用地转用", "土地征收", "供地", "设施农用地备案", "临时用地"])


# --------------------------------------------------------------------------------------- helpers
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def zone_epsg(lon: np.ndarray) -> np.ndarray:
    """CGCS2000 3-degree GK zone (CM variant, EPSG:4534..4554) nearest to each longitude."""
    cm = 3 * np.floor(np.asarray(lon, dtype=float) / 3.0 + 0.5).astype(np.int64)
    cm = np.clip(cm, 75, 135)
    return 4534 + (cm - 75) // 3


def keys_of(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return (np.asarray(i, dtype=np.int64) << KEY_BITS) | np.asarray(j, dtype=np.int64)


def ij_of(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys = np.asarray(keys, dtype=np.int64)
    return keys >> KEY_BITS, keys & ((1 << KEY_BITS) - 1)


def cell_boxes(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    return shapely.box(i * STEP, j * STEP, (i + 1) * STEP, (j + 1) * STEP)


def neighbourhood(keys: np.ndarray, radius: int) -> np.ndarray:
    """Keys of the (2r+1)^2 cells around each key (unique, sorted)."""
    i, j = ij_of(keys)
    d = np.arange(-radius, radius + 1)
    di, dj = np.meshgrid(d, d, indexing="ij")
    return np.unique(keys_of((i[:, None] + di.ravel()).ravel(), (j[:, None] + dj.ravel()).ravel()))


def isin_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0 or len(values) == 0:
        return np.zeros(len(values), dtype=bool)
    pos = np.searchsorted(sorted_keys, values)
    pos = np.minimum(pos, len(sorted_keys) - 1)
    return sorted_keys[pos] == values


def zone_areas(geoms: np.ndarray, epsg: np.ndarray) -> np.ndarray:
    """Planar area (m²) of each EPSG:4490 geometry projected to its zone, as landcheck measures."""
    out = np.zeros(len(geoms))
    for code in np.unique(epsg):
        sel = epsg == code
        projected = gpd.GeoSeries(geoms[sel], crs=CRS_4490).to_crs(epsg=int(code)).values
        out[sel] = shapely.area(projected)
    return out


def classify(ratio: float) -> str:
    if ratio is None or not math.isfinite(ratio):
        return "no_ratio"
    if ratio >= THRESHOLDS["accountability"]:
        return "accountability"
    if ratio >= THRESHOLDS["interview"]:
        return "interview"
    return "none"


def sample_in(geom, n: int, rng: np.random.Generator, tries: int = 8) -> np.ndarray:
    """Up to ``n`` uniform random points (x, y) inside ``geom`` (prepared), by rejection."""
    minx, miny, maxx, maxy = shapely.bounds(geom)
    got = []
    have = 0
    for _ in range(tries):
        m = max(64, 4 * (n - have))
        x = rng.uniform(minx, maxx, m)
        y = rng.uniform(miny, maxy, m)
        ok = shapely.contains_xy(geom, x, y)
        got.append(np.column_stack([x[ok], y[ok]]))
        have += int(ok.sum())
        if have >= n:
            break
    pts = np.concatenate(got) if got else np.empty((0, 2))
    return pts[:n]


# --------------------------------------------------------------------------------------- counties
def read_counties(path: Path) -> gpd.GeoDataFrame:
    frame = pyogrio.read_dataframe(path, columns=["adcode", "province", "city", "district"])
    frame = frame.set_crs(CRS_4490, allow_override=True)  # WGS84 coordinates declared CGCS2000
    frame["adcode"] = frame["adcode"].astype(str).str.strip()
    frame = frame.sort_values("adcode", kind="stable").reset_index(drop=True)
    geoms = frame.geometry.values
    cent = shapely.centroid(geoms)
    frame["lon"] = shapely.get_x(cent)
    frame["lat"] = shapely.get_y(cent)
    km2 = shapely.area(geoms) * 111.32 ** 2 * np.cos(np.radians(frame["lat"].to_numpy()))
    w = np.sqrt(km2)
    lo, hi = np.quantile(w, [0.05, 0.95])
    w = np.clip(w, lo, hi)
    frame["weight"] = w / w.mean()          # relative density, normalised over the whole country
    frame["epsg"] = zone_epsg(frame["lon"].to_numpy())
    return frame


def select_counties(frame: gpd.GeoDataFrame, scale: float) -> gpd.GeoDataFrame:
    n = len(frame) if scale >= 1 else max(12, int(round(len(frame) * scale)))
    if n >= len(frame):
        return frame.copy()
    d = np.hypot((frame["lon"] - CENTRE[0]) * np.cos(np.radians(CENTRE[1])), frame["lat"] - CENTRE[1])
    keep = np.sort(np.argsort(d.to_numpy(), kind="stable")[:n])
    return frame.iloc[keep].reset_index(drop=True)


# --------------------------------------------------------------------------------------- border cells
def find_border_cells(world: gpd.GeoDataFrame, all_counties: gpd.GeoDataFrame, n_wanted: int,
                      excluded: set[int], rng: np.random.Generator) -> list[dict]:
    """Lattice cells through which the shared boundary of two world counties passes, validated."""
    geoms = world.geometry.values
    codes = world["adcode"].to_numpy()
    all_geoms = all_counties.geometry.values
    all_tree = shapely.STRtree(all_geoms)
    all_index = {c: k for k, c in enumerate(all_counties["adcode"].to_numpy())}
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = (a < b) & ~np.isin(a, list(excluded)) & ~np.isin(b, list(excluded))
    a, b = a[keep], b[keep]
    if len(a) == 0 or n_wanted <= 0:
        return []
    coords_cache: dict[int, np.ndarray] = {}
    taken: set[int] = set()
    found: list[dict] = []
    attempts = 0
    for _pass in range(4):
        for p in rng.permutation(len(a)):
            if len(found) >= n_wanted:
                return found
            x_idx, y_idx = int(a[p]), int(b[p])
            if x_idx not in coords_cache:
                coords_cache[x_idx] = shapely.get_coordinates(geoms[x_idx])
            coords = coords_cache[x_idx]
            on_y = shapely.intersects_xy(geoms[y_idx], coords[:, 0], coords[:, 1])
            cand = coords[on_y]
            if len(cand) == 0:
                continue
            for _t in range(3):
                attempts += 1
                x, y = cand[rng.integers(len(cand))]
                i, j = int(math.floor(x / STEP)), int(math.floor(y / STEP))
                near = neighbourhood(keys_of(np.array([i]), np.array([j])), 2)
                if any(int(k) in taken for k in near):
                    continue
                cell = cell_boxes(np.array([i]), np.array([j]))[0]
                grown = shapely.box(i * STEP - BORDER_GROW, j * STEP - BORDER_GROW,
                                    (i + 1) * STEP + BORDER_GROW, (j + 1) * STEP + BORDER_GROW)
                hits = set(all_tree.query(grown, predicate="intersects").tolist())
                if hits != {all_index[codes[x_idx]], all_index[codes[y_idx]]}:
                    continue
                window = shapely.box(*(np.array(grown.bounds) + [-STEP, -STEP, STEP, STEP]))
                lx = shapely.intersection(geoms[x_idx], window)
                ly = shapely.intersection(geoms[y_idx], window)
                # x has the smaller code (a < b in code order): it owns any overlap
                ox, oy = lx, shapely.difference(ly, lx)
                fx, fy = shapely.intersection(cell, ox), shapely.intersection(cell, oy)
                if shapely.get_type_id(fx) != 3 or shapely.get_type_id(fy) != 3:
                    continue
                ca = shapely.area(cell)
                if min(shapely.area(fx), shapely.area(fy)) < MIN_SIDE_SHARE * ca:
                    continue
                if abs(shapely.area(fx) + shapely.area(fy) - ca) > 1e-9 * ca:
                    continue
                # set the parcels back from the county line (see the module docstring)
                fx = shapely.buffer(fx, -BORDER_SETBACK, join_style="mitre")
                fy = shapely.buffer(fy, -BORDER_SETBACK, join_style="mitre")
                if shapely.get_type_id(fx) != 3 or shapely.get_type_id(fy) != 3 or \
                        min(shapely.area(fx), shapely.area(fy)) < 0.5 * MIN_SIDE_SHARE * ca:
                    continue
                ga = shapely.area(grown)
                covered = shapely.area(shapely.intersection(grown, ox)) + \
                    shapely.area(shapely.intersection(grown, oy))
                if abs(covered - ga) > 1e-9 * ga:
                    continue
                taken.update(int(k) for k in near)
                found.append({"i": i, "j": j, "x": x_idx, "y": y_idx, "fx": fx, "fy": fy,
                              "patch": grown})
                break
    log(f"    border cells: {len(found)} of {n_wanted} wanted ({attempts} attempts)")
    return found


# --------------------------------------------------------------------------------------- per county
def county_layout(geom, earlier: list, n_parcels: int, n_farm: int, n_nonfarm: int,
                  forbidden: np.ndarray, rng: np.random.Generator) -> dict:
    """Farmland blocks, patch cells and not-built approval cells of one county."""
    shapely.prepare(geom)
    for e in earlier:
        shapely.prepare(e)
    have = np.empty(0, dtype=np.int64)
    parcel_geoms: list[np.ndarray] = []
    parcel_basic: list[np.ndarray] = []
    inside_keys: list[np.ndarray] = []
    inside_basic: list[np.ndarray] = []
    count = 0
    for _round in range(6):
        need = n_parcels - count
        if need <= 0:
            break
        n_blocks = max(1, int(math.ceil(need / 85)))
        anchors = sample_in(geom, n_blocks, rng)
        if len(anchors) == 0:
            break
        bw = rng.integers(5, 15, len(anchors))
        bh = rng.integers(5, 15, len(anchors))
        basic_block = rng.random(len(anchors)) < BASIC_BLOCK_SHARE
        ks, bids = [], []
        for k, (x, y) in enumerate(anchors):
            i0 = int(math.floor(x / STEP)) - int(bw[k]) // 2
            j0 = int(math.floor(y / STEP)) - int(bh[k]) // 2
            ii, jj = np.meshgrid(np.arange(i0, i0 + bw[k]), np.arange(j0, j0 + bh[k]), indexing="ij")
            ks.append(keys_of(ii.ravel(), jj.ravel()))
            bids.append(np.full(ii.size, k))
        keys = np.concatenate(ks)
        bid = np.concatenate(bids)
        keys, first = np.unique(keys, return_index=True)
        bid = bid[first]
        ok = ~isin_sorted(keys, forbidden) & ~np.isin(keys, have)
        keys, bid = keys[ok], bid[ok]
        if len(keys) == 0:
            continue
        i, j = ij_of(keys)
        boxes = cell_boxes(i, j)
        touch_earlier = np.zeros(len(keys), dtype=bool)
        for e in earlier:
            touch_earlier |= shapely.intersects(e, boxes)
        inside = shapely.contains_properly(geom, boxes) & ~touch_earlier
        meets = shapely.intersects(geom, boxes)
        crossing = meets & ~inside
        parcel_geoms.append(boxes[inside])
        parcel_basic.append(basic_block[bid[inside]])
        inside_keys.append(keys[inside])
        inside_basic.append(basic_block[bid[inside]])
        count += int(inside.sum())
        for k in np.unique(bid[crossing]):
            sel = crossing & (bid == k)
            window = shapely.box(*shapely.total_bounds(boxes[sel]))
            local = shapely.intersection(geom, window)
            for e in earlier:
                if shapely.intersects(e, window):
                    local = shapely.difference(local, shapely.intersection(e, window))
            clipped = shapely.intersection(boxes[sel], local)
            parts = shapely.get_parts(clipped)
            parts = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 1e-10)]
            parcel_geoms.append(parts)
            parcel_basic.append(np.full(len(parts), basic_block[k]))
            count += len(parts)
        have = np.concatenate([have, keys[meets]])
    inside_k = np.concatenate(inside_keys) if inside_keys else np.empty(0, dtype=np.int64)
    inside_b = np.concatenate(inside_basic) if inside_basic else np.empty(0, dtype=bool)
    # patch cells: at most half of the unclipped cells, so that free cells remain for approvals
    n_farm = min(n_farm, len(inside_k) // 2)
    pick = rng.permutation(len(inside_k))
    farm_sel = pick[:n_farm]
    rest = pick[n_farm:]
    n_not_built = int(round(NOT_BUILT_SHARE * len(inside_k)))
    not_built = inside_k[rest[:n_not_built]]
    # non-farmland patch cells: cells wholly owned by the county, no parcel of it, not forbidden
    nonfarm = np.empty(0, dtype=np.int64)
    if n_nonfarm > 0:
        pts = sample_in(geom, 3 * n_nonfarm + 8, rng)
        if len(pts):
            keys = keys_of(np.floor(pts[:, 0] / STEP).astype(np.int64),
                           np.floor(pts[:, 1] / STEP).astype(np.int64))
            keys = pd.unique(keys)
            keys = keys[~np.isin(keys, have) & ~isin_sorted(keys, forbidden)]
            if len(keys):
                boxes = cell_boxes(*ij_of(keys))
                ok = shapely.contains_properly(geom, boxes)
                for e in earlier:
                    ok &= ~shapely.intersects(e, boxes)
                nonfarm = keys[ok][:n_nonfarm]
    return {
        "parcels": np.concatenate(parcel_geoms) if parcel_geoms else np.empty(0, dtype=object),
        "parcel_basic": np.concatenate(parcel_basic) if parcel_basic else np.empty(0, dtype=bool),
        "farm_keys": inside_k[farm_sel], "farm_basic": inside_b[farm_sel],
        "nonfarm_keys": nonfarm, "not_built": not_built,
    }


# --------------------------------------------------------------------------------------- patches
def octagons(i: np.ndarray, j: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A chamfered rectangle strictly inside each cell (margin INSET)."""
    n = len(i)
    u = rng.uniform(0.30, 0.85, n)
    v = rng.uniform(0.30, 0.85, n)
    ox = INSET + rng.random(n) * (1 - 2 * INSET - u)
    oy = INSET + rng.random(n) * (1 - 2 * INSET - v)
    x0 = i * STEP + ox * STEP
    y0 = j * STEP + oy * STEP
    x1 = x0 + u * STEP
    y1 = y0 + v * STEP
    c = rng.uniform(0.05, 0.25, (n, 4)) * np.minimum(u, v)[:, None] * STEP
    xs = np.column_stack([x0 + c[:, 0], x1 - c[:, 1], x1, x1, x1 - c[:, 2], x0 + c[:, 3], x0, x0,
                          x0 + c[:, 0]])
    ys = np.column_stack([y0, y0, y0 + c[:, 1], y1 - c[:, 2], y1, y1, y1 - c[:, 3], y0 + c[:, 0], y0])
    return shapely.polygons(np.stack([xs, ys], axis=-1))


def partial_patches(i: np.ndarray, j: np.ndarray, rng: np.random.Generator) -> dict:
    """Rectangles cut by an approval edge: patch (6 vertices), legal quad, approval, nested approval."""
    n = len(i)
    u = rng.uniform(0.35, 0.85, n)
    v = rng.uniform(0.35, 0.85, n)
    ox = INSET + rng.random(n) * (1 - 2 * INSET - u)
    oy = INSET + rng.random(n) * (1 - 2 * INSET - v)
    cx0, cy0 = i * STEP, j * STEP
    cx1, cy1 = (i + 1) * STEP, (j + 1) * STEP
    px0, py0 = cx0 + ox * STEP, cy0 + oy * STEP
    px1, py1 = px0 + u * STEP, py0 + v * STEP
    f = rng.uniform(0.25, 0.75, n)
    vertical = rng.random(n) < 0.5      # cut by a vertical (x = const) or horizontal edge
    low_side = rng.random(n) < 0.5      # the approval is on the low (left / bottom) side
    patch, quad, appr, nested = (np.empty(n, dtype=object) for _ in range(4))
    for k in range(n):   # a few thousand at scale 1
        if vertical[k]:
            c = px0[k] + f[k] * (px1[k] - px0[k])
            a0, a1, b0, b1, q0, q1 = px0[k], px1[k], py0[k], py1[k], cx0[k], cx1[k]
            r0, r1 = cy0[k], cy1[k]
        else:
            c = py0[k] + f[k] * (py1[k] - py0[k])
            a0, a1, b0, b1, q0, q1 = py0[k], py1[k], px0[k], px1[k], cy0[k], cy1[k]
            r0, r1 = cx0[k], cx1[k]
        # in (a, b) coordinates: a is cut at c; patch [a0, a1] x [b0, b1]; cell [q0, q1] x [r0, r1]
        pts = [(a0, b0), (c, b0), (a1, b0), (a1, b1), (c, b1), (a0, b1)]
        if low_side[k]:
            legal = [(a0, b0), (c, b0), (c, b1), (a0, b1)]
            ap = [(q0, r0), (c, r0), (c, b0), (c, b1), (c, r1), (q0, r1)]
            m = (a0 + c) / 2
            ne = [(q0 + 0.02 * STEP, r0 + 0.02 * STEP), (m, r0 + 0.02 * STEP), (m, r1 - 0.02 * STEP),
                  (q0 + 0.02 * STEP, r1 - 0.02 * STEP)]
        else:
            legal = [(c, b0), (a1, b0), (a1, b1), (c, b1)]
            ap = [(c, r0), (q1, r0), (q1, r1), (c, r1), (c, b1), (c, b0)]
            m = (c + a1) / 2
            ne = [(m, r0 + 0.02 * STEP), (q1 - 0.02 * STEP, r0 + 0.02 * STEP),
                  (q1 - 0.02 * STEP, r1 - 0.02 * STEP), (m, r1 - 0.02 * STEP)]
        if not vertical[k]:
            pts = [(y, x) for x, y in pts]
            legal = [(y, x) for x, y in legal]
            ap = [(y, x) for x, y in ap]
            ne = [(y, x) for x, y in ne]
        patch[k] = shapely.orient_polygons(shapely.Polygon(pts))
        quad[k] = shapely.Polygon(legal)
        appr[k] = shapely.orient_polygons(shapely.Polygon(ap))
        nested[k] = shapely.orient_polygons(shapely.Polygon(ne))
    return {"patch": patch, "legal": quad, "approval": appr, "nested": nested,
            "with_nested": rng.random(n) < 0.3}


# --------------------------------------------------------------------------------------- the world
def generate(out_dir: Path, *, scale: float = 1.0, seed: int = 8,
             counties_path: Path = DEFAULT_COUNTIES) -> dict:
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0])

    t = time.perf_counter()
    all_counties = read_counties(counties_path)
    world = select_counties(all_counties, scale)
    n_counties = len(world)
    geoms = world.geometry.values
    codes = world["adcode"].to_numpy()
    log(f"[1] {n_counties} counties (scale {scale})")

    # roles: target levels, and the counties with no occupied farmland
    roles = rng.choice(list(ROLE_SHARES), size=n_counties, p=list(ROLE_SHARES.values()))
    if n_counties >= 12:   # at least two of each kind of no-ratio county, and each level
        fixed = rng.choice(n_counties, 8, replace=False)
        roles[fixed[:4]] = "no_ratio"
        roles[fixed[4:6]] = "interview"
        roles[fixed[6:8]] = "accountability"
    no_ratio = np.flatnonzero(roles == "no_ratio")
    nonfarm_only = set(no_ratio[::2].tolist())        # patches, none on farmland
    empty = set(no_ratio[1::2].tolist())              # no patch at all
    target = np.zeros(n_counties)
    u = rng.random(n_counties)
    target[roles == "none"] = 0.08 * u[roles == "none"]
    target[roles == "interview"] = 0.11 + 0.03 * u[roles == "interview"]
    target[roles == "accountability"] = 0.17 + 0.43 * u[roles == "accountability"]
    exact_zero = (roles == "none") & (rng.random(n_counties) < 0.05)   # all legal
    all_illegal = (roles == "accountability") & (rng.random(n_counties) < 0.05)
    target[exact_zero] = 0.0
    target[all_illegal] = 1.0
    timings["read counties"] = time.perf_counter() - t

    # border cells first: their neighbourhoods are kept free of everything else
    t = time.perf_counter()
    n_border = int(round(BORDER_PATCHES * min(scale, 1.0)))
    border = find_border_cells(world, all_counties, n_border, set(no_ratio.tolist()), rng)
    border_keys = keys_of(np.array([b["i"] for b in border], dtype=np.int64),
                          np.array([b["j"] for b in border], dtype=np.int64))
    forbidden = neighbourhood(border_keys, 1) if len(border) else np.empty(0, dtype=np.int64)
    timings["border cells"] = time.perf_counter() - t
    log(f"[2] {len(border)} border cells ({timings['border cells']:.1f} s)")

    # per county: blocks of farmland, patch cells
    t = time.perf_counter()
    tree = shapely.STRtree(geoms)
    pa, pb = tree.query(geoms, predicate="intersects")
    earlier_of: dict[int, list[int]] = {}
    for x, y in zip(pa.tolist(), pb.tolist()):
        if y < x:                                   # codes are sorted: smaller index, smaller code
            earlier_of.setdefault(x, []).append(y)
    parcels, parcel_county, parcel_basic = [], [], []
    farm_i, farm_j, farm_county, farm_basic = [], [], [], []
    nf_keys, nf_county, nb_keys = [], [], []
    for c in range(n_counties):
        crng = np.random.default_rng([seed, int(codes[c])])
        w = float(world["weight"].iloc[c])
        n_par = int(round(PARCELS_PER_COUNTY * w))
        n_pat = int(round(PATCHES_PER_COUNTY * w * (0.7 + 0.6 * crng.random())))
        if c in empty:
            n_farm, n_nf = 0, 0
        elif c in nonfarm_only:
            n_farm, n_nf = 0, max(3, n_pat // 10)
        else:
            n_nf = int(round(NONFARM_SHARE * n_pat))
            n_farm = max(1, n_pat - n_nf)
        lay = county_layout(geoms[c], [geoms[e] for e in earlier_of.get(c, [])], n_par, n_farm, n_nf,
                            forbidden, crng)
        parcels.append(lay["parcels"])
        parcel_county.append(np.full(len(lay["parcels"]), c))
        parcel_basic.append(lay["parcel_basic"])
        fi, fj = ij_of(lay["farm_keys"])
        farm_i.append(fi)
        farm_j.append(fj)
        farm_county.append(np.full(len(fi), c))
        farm_basic.append(lay["farm_basic"])
        nf_keys.append(lay["nonfarm_keys"])
        nf_county.append(np.full(len(lay["nonfarm_keys"]), c))
        nb_keys.append(lay["not_built"])
        if (c + 1) % 250 == 0:
            log(f"    {c + 1}/{n_counties} counties laid out ({time.perf_counter() - t:.0f} s)")
    parcels = np.concatenate(parcels)
    parcel_county = np.concatenate(parcel_county)
    parcel_basic = np.concatenate(parcel_basic).astype(bool)
    farm_i, farm_j = np.concatenate(farm_i), np.concatenate(farm_j)
    farm_county = np.concatenate(farm_county)
    farm_basic = np.concatenate(farm_basic).astype(bool)
    nf_keys, nf_county = np.concatenate(nf_keys), np.concatenate(nf_county)
    nb_keys = np.concatenate(nb_keys)
    timings["farmland blocks"] = time.perf_counter() - t
    log(f"[3] {len(parcels)} parcels, {len(farm_i)} farmland patch cells, {len(nf_keys)} non-farmland "
        f"({timings['farmland blocks']:.1f} s)")

    # border parcels
    for b in border:
        for side, geom in (("x", b["fx"]), ("y", b["fy"])):
            b[f"basic_{side}"] = bool(rng.random() < BASIC_BLOCK_SHARE)
        b["legal"] = bool(rng.random() < LEGAL_BORDER_SHARE)
    if border:
        bp = np.array([g for b in border for g in (b["fx"], b["fy"])], dtype=object)
        parcels = np.concatenate([parcels, bp])
        parcel_county = np.concatenate([parcel_county, [c for b in border for c in (b["x"], b["y"])]])
        parcel_basic = np.concatenate([parcel_basic,
                                       [v for b in border for v in (b["basic_x"], b["basic_y"])]])

    # patch geometry ------------------------------------------------------------------------------
    t = time.perf_counter()
    prng = np.random.default_rng([seed, 1])
    n_fp = len(farm_i)
    is_partial = np.zeros(n_fp, dtype=bool)
    per_county = np.bincount(farm_county, minlength=n_counties)
    eligible = ~np.isin(farm_county, np.flatnonzero(exact_zero | all_illegal | (per_county < 20)
                                                   | (target < 0.03)))
    is_partial[eligible & (prng.random(n_fp) < PARTIAL_SHARE)] = True
    farm_geom = np.empty(n_fp, dtype=object)
    farm_geom[~is_partial] = octagons(farm_i[~is_partial], farm_j[~is_partial], prng)
    part = partial_patches(farm_i[is_partial], farm_j[is_partial], prng)
    farm_geom[is_partial] = part["patch"]
    nfi, nfj = ij_of(nf_keys)
    nf_geom = octagons(nfi, nfj, prng)
    epsg_of = world["epsg"].to_numpy()
    farm_area = zone_areas(farm_geom, epsg_of[farm_county])
    legal_part = np.zeros(n_fp)
    legal_part[is_partial] = zone_areas(part["legal"], epsg_of[farm_county[is_partial]])
    nf_area = zone_areas(nf_geom, epsg_of[nf_county])

    # legal / illegal: per county, approach the target ratio from below. Partly legal patches and
    # border pieces are fixed first; whole patches are then made illegal, in random order, while
    # they fit in what is left of the county's budget.
    border_total = np.zeros(n_counties)
    border_illegal = np.zeros(n_counties)
    b_fx = b_fy = None
    if border:
        bx = np.array([b["x"] for b in border])
        by = np.array([b["y"] for b in border])
        b_fx = zone_areas(np.array([b["fx"] for b in border], dtype=object), epsg_of[bx])
        b_fy = zone_areas(np.array([b["fy"] for b in border], dtype=object), epsg_of[by])
        b_legal = np.array([b["legal"] for b in border])
        for county, area in ((bx, b_fx), (by, b_fy)):
            np.add.at(border_total, county, area)
            np.add.at(border_illegal, county, np.where(b_legal, 0.0, area))
    full_legal = np.zeros(n_fp, dtype=bool)
    order = np.lexsort((prng.random(n_fp), farm_county))
    starts = np.flatnonzero(np.r_[True, farm_county[order][1:] != farm_county[order][:-1]])
    ends = np.r_[starts[1:], len(order)]
    for s, e in zip(starts, ends):
        idx = order[s:e]
        c = farm_county[idx[0]]
        total = farm_area[idx].sum() + border_total[c]
        fixed = (farm_area[idx] - legal_part[idx])[is_partial[idx]].sum() + border_illegal[c]
        full = idx[~is_partial[idx]]
        budget = target[c] * total - fixed
        legal_flags = np.ones(len(full), dtype=bool)
        used = 0.0
        for k, a in enumerate(farm_area[full].tolist()):
            if target[c] >= 1.0 or used + a <= budget:
                legal_flags[k] = False
                used += a
        full_legal[full] = legal_flags
    timings["patches"] = time.perf_counter() - t
    log(f"[4] patches shaped and measured ({timings['patches']:.1f} s)")

    # approvals -----------------------------------------------------------------------------------
    t = time.perf_counter()
    arng = np.random.default_rng([seed, 2])
    occupied = np.unique(np.concatenate([keys_of(farm_i, farm_j), nf_keys, forbidden]))

    def free(keys):
        return ~isin_sorted(keys, occupied)

    appr_geoms, appr_kind = [], []
    # legal whole patches: their cell, sometimes with the patch-free right neighbour
    li, lj = farm_i[full_legal], farm_j[full_legal]
    right = keys_of(li + 1, lj)
    wide = free(right) & (arng.random(len(li)) < 0.3)
    appr_geoms.append(shapely.box(li * STEP, lj * STEP, (li + 1 + wide) * STEP, (lj + 1) * STEP))
    appr_kind.append(np.full(len(li), 0))
    # a second approval overlapping the upper half of the cell and the free cell above
    up = free(keys_of(li, lj + 1)) & (arng.random(len(li)) < 0.25)
    appr_geoms.append(shapely.box(li[up] * STEP, (lj[up] + 0.5) * STEP, (li[up] + 1) * STEP,
                                  (lj[up] + 1.5) * STEP))
    appr_kind.append(np.full(int(up.sum()), 1))
    # partly legal patches: the cut approval, sometimes a nested one
    appr_geoms.append(part["approval"])
    appr_kind.append(np.full(len(part["approval"]), 2))
    appr_geoms.append(part["nested"][part["with_nested"]])
    appr_kind.append(np.full(int(part["with_nested"].sum()), 3))
    # approved, not built: patch-free farmland cells, some with a free neighbour, some overlapping
    bi, bj = ij_of(nb_keys)
    wide = free(keys_of(bi + 1, bj)) & (arng.random(len(bi)) < 0.4)
    appr_geoms.append(shapely.box(bi * STEP, bj * STEP, (bi + 1 + wide) * STEP, (bj + 1) * STEP))
    appr_kind.append(np.full(len(bi), 4))
    over = wide & (arng.random(len(bi)) < 0.3)
    appr_geoms.append(shapely.box((bi[over] + 0.5) * STEP, (bj[over] + 0.25) * STEP,
                                  (bi[over] + 1.5) * STEP, (bj[over] + 0.75) * STEP))
    appr_kind.append(np.full(int(over.sum()), 5))
    # approved non-farmland construction
    nf_legal = arng.random(len(nf_keys)) < 0.3
    appr_geoms.append(cell_boxes(nfi[nf_legal], nfj[nf_legal]))
    appr_kind.append(np.full(int(nf_legal.sum()), 6))
    # legal border patches
    bl = [b for b in border if b["legal"]]
    if bl:
        bi2 = np.array([b["i"] for b in bl])
        bj2 = np.array([b["j"] for b in bl])
        g = BORDER_APPROVAL_GROW
        appr_geoms.append(shapely.box(bi2 * STEP - g, bj2 * STEP - g, (bi2 + 1) * STEP + g,
                                      (bj2 + 1) * STEP + g))
        appr_kind.append(np.full(len(bl), 7))
    approvals = np.concatenate(appr_geoms)
    approvals = shapely.orient_polygons(approvals)
    appr_kind = np.concatenate(appr_kind)
    timings["approvals"] = time.perf_counter() - t
    log(f"[5] {len(approvals)} approvals ({timings['approvals']:.1f} s)")

    # truth ---------------------------------------------------------------------------------------
    t = time.perf_counter()
    legal_m2 = np.where(is_partial, legal_part, np.where(full_legal, farm_area, 0.0))
    pieces = [pd.DataFrame({
        "county": farm_county, "farmland_m2": farm_area, "legal_m2": legal_m2,
        "illegal_m2": farm_area - legal_m2, "basic": farm_basic,
    }), pd.DataFrame({
        "county": nf_county, "farmland_m2": 0.0, "legal_m2": 0.0, "illegal_m2": 0.0, "basic": False,
    })]
    border_patch_geoms = np.array([b["patch"] for b in border], dtype=object)
    if border:
        bx = np.array([b["x"] for b in border])
        by = np.array([b["y"] for b in border])
        fx, fy = b_fx, b_fy
        legal = np.array([b["legal"] for b in border])
        for county, area, basic in ((bx, fx, [b["basic_x"] for b in border]),
                                    (by, fy, [b["basic_y"] for b in border])):
            pieces.append(pd.DataFrame({"county": county, "farmland_m2": area,
                                        "legal_m2": np.where(legal, area, 0.0),
                                        "illegal_m2": np.where(legal, 0.0, area),
                                        "basic": np.asarray(basic, dtype=bool)}))
    pieces = pd.concat(pieces, ignore_index=True)
    pieces["basic_m2"] = np.where(pieces["basic"], pieces["farmland_m2"], 0.0)
    pieces["illegal_basic_m2"] = np.where(pieces["basic"], pieces["illegal_m2"], 0.0)
    pieces["is_illegal"] = pieces["illegal_m2"] > 0
    g = pieces.groupby("county")
    sums = pd.DataFrame({
        "n_patches": g.size(),
        "n_illegal_patches": g["is_illegal"].sum(),
        "occupied_farmland_m2": g["farmland_m2"].sum(),
        "legal_farmland_m2": g["legal_m2"].sum(),
        "illegal_farmland_m2": g["illegal_m2"].sum(),
        "basic_farmland_m2": g["basic_m2"].sum(),
        "illegal_basic_farmland_m2": g["illegal_basic_m2"].sum(),
    }).reindex(range(n_counties))
    sums[["n_patches", "n_illegal_patches"]] = sums[["n_patches", "n_illegal_patches"]].fillna(0).astype(int)
    sums = sums.fillna(0.0)
    truth = pd.DataFrame({"county_code": codes, "county_name": world["district"].fillna("").to_numpy(),
                          "zone_epsg": epsg_of, "target_role": roles, "target_ratio": target})
    truth = pd.concat([truth, sums.reset_index(drop=True)], axis=1)
    occ = truth["occupied_farmland_m2"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        truth["ratio"] = np.where(occ > 0, truth["illegal_farmland_m2"].to_numpy() / occ, np.nan)
    truth["level"] = [classify(r) for r in truth["ratio"]]
    truth.to_csv(out_dir / "truth_ratios.csv", index=False, float_format="%.17g")
    timings["truth"] = time.perf_counter() - t

    # write ---------------------------------------------------------------------------------------
    t = time.perf_counter()
    wrng = np.random.default_rng([seed, 3])
    county_frame = gpd.GeoDataFrame({
        "XZQDM": codes, "XZQMC": world["district"].fillna("").to_numpy(),
        "SHENG": world["province"].fillna("").to_numpy(), "SHI": world["city"].fillna("").to_numpy(),
    }, geometry=geoms, crs=CRS_4490)
    _write(county_frame, out_dir / "counties.gpkg", "counties")

    parcel_epsg = epsg_of[parcel_county]
    kind = wrng.integers(0, 3, len(parcels))
    farmland = gpd.GeoDataFrame({
        "BSM": np.arange(1, len(parcels) + 1, dtype=np.int64),
        "DLBM": DLBM[kind], "DLMC": DLMC[kind],
        "ZLDWDM": codes[parcel_county],
        "TBMJ": np.round(zone_areas(parcels, parcel_epsg), 2),
    }, geometry=parcels, crs=CRS_4490)
    _write(farmland, out_dir / "farmland.gpkg", "farmland")
    basic = farmland[parcel_basic].copy()
    basic = basic.rename(columns={"BSM": "JBNTBSM"})
    _write(basic, out_dir / "basic_farmland.gpkg", "basic_farmland")
    n_basic = len(basic)
    del farmland, basic

    appr_frame = gpd.GeoDataFrame({
        "PZWH": [f"PZ{YEAR}{k:07d}" for k in range(1, len(approvals) + 1)],
        "PZLX": PZLX[np.where(appr_kind == 6, 3, wrng.integers(0, 3, len(approvals)))],
        "PZRQ": pd.Timestamp(f"{YEAR - 1}-01-01").normalize()
        + pd.to_timedelta(wrng.integers(0, 600, len(approvals)), unit="D"),
    }, geometry=approvals, crs=CRS_4490)
    appr_frame["PZRQ"] = appr_frame["PZRQ"].dt.strftime("%Y-%m-%d")
    _write(appr_frame, out_dir / "approved.gpkg", "approved")
    del appr_frame

    # patches: interior (farm, non-farm) numbered per county; border ones after
    p_geom = np.concatenate([farm_geom, nf_geom])
    p_county = np.concatenate([farm_county, nf_county])
    p_area = np.concatenate([farm_area, nf_area])
    shuffle = wrng.permutation(len(p_geom))
    p_geom, p_county, p_area = p_geom[shuffle], p_county[shuffle], p_area[shuffle]
    o = np.argsort(p_county, kind="stable")
    seq = np.empty(len(o), dtype=np.int64)
    cs = p_county[o]
    first = np.r_[0, np.flatnonzero(cs[1:] != cs[:-1]) + 1]
    run_start = np.repeat(first, np.diff(np.r_[first, len(cs)]))
    seq[o] = np.arange(len(o)) - run_start + 1
    jcbh = [f"{codes[c]}{YEAR}{s:06d}" for c, s in zip(p_county, seq)]
    if border:
        bx = np.array([b["x"] for b in border])
        b_area = zone_areas(border_patch_geoms, epsg_of[bx])
        jcbh += [f"{codes[b['x']]}{YEAR}9{k:05d}" for k, b in enumerate(border, start=1)]
        p_geom = np.concatenate([p_geom, border_patch_geoms])
        p_county = np.concatenate([p_county, bx])
        p_area = np.concatenate([p_area, b_area])
    qsx = pd.Timestamp(f"{YEAR - 1}-10-01") + pd.to_timedelta(wrng.integers(0, 60, len(p_geom)), unit="D")
    hsx = pd.Timestamp(f"{YEAR}-09-01") + pd.to_timedelta(wrng.integers(0, 60, len(p_geom)), unit="D")
    patches = gpd.GeoDataFrame({
        "JCBH": jcbh, "XZQDM": codes[p_county], "XZQMC": world["district"].fillna("").to_numpy()[p_county],
        "TBMJ": np.round(p_area, 2), "QSX": qsx.strftime("%Y-%m-%d"), "HSX": hsx.strftime("%Y-%m-%d"),
    }, geometry=p_geom, crs=CRS_4490)
    assert patches["JCBH"].is_unique
    _write(patches, out_dir / "patches.gpkg", "patches")
    n_patches = len(patches)
    del patches
    write_config(out_dir)
    timings["write"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_start

    levels = truth["level"].value_counts().to_dict()
    summary = {
        "scale": scale, "seed": seed, "counties_source": str(counties_path),
        "counties": n_counties, "farmland_parcels": int(len(parcels)), "basic_farmland_parcels": n_basic,
        "approvals": int(len(approvals)), "patches": n_patches, "border_patches": len(border),
        "partly_legal_patches": int(is_partial.sum()), "non_farmland_patches": int(len(nf_geom)),
        "pieces": int(truth["n_patches"].sum()),
        "levels": {k: int(levels.get(k, 0)) for k in ("accountability", "interview", "none", "no_ratio")},
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "files_bytes": {p.name: p.stat().st_size for p in sorted(out_dir.glob("*.gpkg"))},
    }
    (out_dir / "world.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    log(f"[6] written in {timings['write']:.1f} s; total {timings['total']:.1f} s")
    return summary


def _write(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    if path.exists():
        path.unlink()
    # a fixed gpkg_contents.last_change: the same seed and scale give byte-identical files
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": f"{YEAR}-01-01T00:00:00.000Z"})
    t = time.perf_counter()
    pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG")
    log(f"    wrote {path.name}: {len(frame)} features, {path.stat().st_size / 1e6:.0f} MB "
        f"({time.perf_counter() - t:.1f} s)")


CONFIG = """\
# The national benchmark world (bench/national/world.py); regenerate rather than edit.
# Received patches on the real county boundaries; truth in truth_ratios.csv.
year: {year}
layers:
  counties:
    path: counties.gpkg
    layer: counties
    code_field: XZQDM
    name_field: XZQMC
  farmland:
    path: farmland.gpkg
    layer: farmland
  basic_farmland:
    path: basic_farmland.gpkg
    layer: basic_farmland
  approved:
    path: approved.gpkg
    layer: approved
patches:
  path: patches.gpkg
  layer: patches
  id_field: JCBH
detection:
  min_area_m2: 400
thresholds:
  interview: {interview}
  accountability: {accountability}
  interview_rule: reaches
  accountability_rule: reaches
output: run
"""


def write_config(out_dir: Path) -> Path:
    path = out_dir / "national.yaml"
    path.write_text(CONFIG.format(year=YEAR, **THRESHOLDS), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.national.world", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--scale", type=float, default=1.0, help="share of the 2,875 counties (0 < F <= 1)")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--counties", type=Path, default=DEFAULT_COUNTIES,
                        help="china_counties_wgs84.gpkg (default: ../shared/data/china_admin/)")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    if not args.counties.is_file():
        parser.error(f"county boundaries not found: {args.counties}")
    summary = generate(args.out_dir, scale=args.scale, seed=args.seed, counties_path=args.counties)
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
