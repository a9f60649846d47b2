"""Overlay benchmark: landcheck's split/measure against a naive geopandas.overlay chain.

Run one side per process so peak memory (max RSS) is that side's own:

    python bench/overlay_bench.py landcheck --patches 20000 --parcels 80000
    python bench/overlay_bench.py naive     --patches 20000 --parcels 80000 [--shapes realistic]

Prints one JSON line: seconds (wall), CPU seconds (steadier than wall time on a shared
machine), peak RSS, and the county totals (to check both agree).

``--shapes rect`` (the default, the rows measured so far): every patch and parcel is a
rectangle, so every parcel x patch pair has a convex side. ``--shapes realistic``: patches
are staircase polygons traced from pixel blobs on a 2 m grid, as ``detection.vectorize``
makes them (concave, some with holes), and the parcels a coverage of irregular polygons (a
perturbed grid whose shared edges carry identical vertices on both sides; about a third convex).
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

X0, Y0, CRS = 530000.0, 4840000.0, 4551
SIDE = 20000.0  # m, the four counties' square
PIXEL = 2.0  # m, the pixel of the realistic patches
CELL_PX = 44  # pixels of the tile each realistic patch is drawn in (patches up to 84 m)
SLIVER_M2 = 0.01  # overlay.split.SLIVER_M2: a measured part under this is none (both sides)


def world(n_patches: int, n_parcels: int, seed: int = 7, shapes: str = "rect"):
    """Four 10 km counties, a farmland coverage of parcels, basic farmland, approvals, patches.

    ``shapes``: ``rect`` (rectangles) or ``realistic`` (see the module docstring).
    """
    if shapes not in ("rect", "realistic"):
        raise ValueError(f"shapes must be 'rect' or 'realistic', got {shapes!r}")
    rng = np.random.default_rng(seed)
    side = SIDE
    counties = gpd.GeoDataFrame(
        {"county_code": ["220201", "220202", "220203", "220204"], "county_name": ["甲", "乙", "丙", "丁"]},
        geometry=[shapely.box(X0 + i * 10000, Y0 + j * 10000, X0 + (i + 1) * 10000, Y0 + (j + 1) * 10000)
                  for j in range(2) for i in range(2)], crs=CRS)
    cols = int(np.sqrt(n_parcels * 2))
    rows = max(1, n_parcels // cols)
    w, h = side / cols, side / rows
    # neighbours share their corner coordinates exactly, as in a topologically built parcel layer
    ex, ey = np.arange(cols + 1) * w + X0, np.arange(rows + 1) * h + Y0
    x0, y0 = np.meshgrid(ex[:-1], ey[:-1])
    x1, y1 = np.meshgrid(ex[1:], ey[1:])
    if shapes == "realistic":
        parcels = irregular_coverage(ex, ey, np.random.default_rng(seed + 1))
    else:
        parcels = shapely.box(x0.ravel(), y0.ravel(), x1.ravel(), y1.ravel())
    keep = rng.random(len(parcels)) < 0.7  # 70% of the land is farmland
    farmland = gpd.GeoDataFrame(geometry=parcels[keep], crs=CRS)
    basic = farmland.iloc[::3].reset_index(drop=True)
    ax, ay = rng.uniform(X0, X0 + side, 2000), rng.uniform(Y0, Y0 + side, 2000)
    approved = gpd.GeoDataFrame(geometry=shapely.box(ax, ay, ax + rng.uniform(50, 300, 2000),
                                                     ay + rng.uniform(50, 300, 2000)), crs=CRS)
    px, py = rng.uniform(X0, X0 + side - 100, n_patches), rng.uniform(Y0, Y0 + side - 100, n_patches)
    if shapes == "realistic":
        geoms = pixel_patches(n_patches, np.random.default_rng(seed + 2))
    else:
        geoms = shapely.box(px, py, px + rng.uniform(20, 80, n_patches), py + rng.uniform(20, 80, n_patches))
    patches = gpd.GeoDataFrame({"source_id": [f"D{i:06d}" for i in range(n_patches)]},
                               geometry=geoms, crs=CRS)
    # patches may overlap each other; each is measured on its own, as in practice
    return patches, counties, farmland, basic, approved


def irregular_coverage(ex: np.ndarray, ey: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Irregular parcels covering the grid of edges ``ex`` x ``ey`` without gaps or overlaps.

    Every interior grid node is moved by up to 15 % of a cell, and every interior cell edge
    gets a middle vertex moved across it by up to 15 % of a cell (half the edges are left
    straight), so each parcel has four to eight vertices and sides that bend in or out: about
    a third are convex. Neighbours take the same nodes and middle vertex of the edge they share,
    so the layer is a clean coverage, as a topologically built parcel layer is.
    """
    cols, rows = len(ex) - 1, len(ey) - 1
    w, h = ex[1] - ex[0], ey[1] - ey[0]
    nx, ny = np.meshgrid(ex, ey)  # (rows + 1, cols + 1) nodes
    inner = np.zeros(nx.shape, dtype=bool)
    inner[1:-1, 1:-1] = True
    nx = nx + inner * rng.uniform(-0.15, 0.15, nx.shape) * w
    ny = ny + inner * rng.uniform(-0.15, 0.15, ny.shape) * h

    def bent(shape: tuple[int, int], interior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which edges bend (half the interior ones), and by how much (fraction of a cell)."""
        which = interior & (rng.random(shape) < 0.5)
        return which, which * rng.uniform(-0.15, 0.15, shape)

    # middle vertices of the horizontal edges (rows + 1, cols), moved in y; of the vertical
    # (rows, cols + 1), in x. A straight edge has none (its first corner, repeated, then removed:
    # a middle point would be collinear only up to rounding, and the parcel no longer convex)
    which, by = bent((rows + 1, cols), np.pad(np.ones((rows - 1, cols), dtype=bool), ((1, 1), (0, 0))))
    hx = np.where(which, (nx[:, :-1] + nx[:, 1:]) / 2, nx[:, :-1])
    hy = np.where(which, (ny[:, :-1] + ny[:, 1:]) / 2 + by * h, ny[:, :-1])
    which, by = bent((rows, cols + 1), np.pad(np.ones((rows, cols - 1), dtype=bool), ((0, 0), (1, 1))))
    vx = np.where(which, (nx[:-1, :] + nx[1:, :]) / 2 + by * w, nx[:-1, :])
    vy = np.where(which, (ny[:-1, :] + ny[1:, :]) / 2, ny[:-1, :])
    # counter-clockwise from the lower left corner: corner, middle of the side, corner, ...
    ring = [(nx[:-1, :-1], ny[:-1, :-1]), (hx[:-1], hy[:-1]), (nx[:-1, 1:], ny[:-1, 1:]),
            (vx[:, 1:], vy[:, 1:]), (nx[1:, 1:], ny[1:, 1:]), (hx[1:], hy[1:]),
            (nx[1:, :-1], ny[1:, :-1]), (vx[:, :-1], vy[:, :-1]), (nx[:-1, :-1], ny[:-1, :-1])]
    coords = np.stack([np.stack([x.ravel(), y.ravel()], axis=-1) for x, y in ring], axis=1)
    return shapely.remove_repeated_points(shapely.polygons(coords))  # straight edges: 4 to 8 vertices


def pixel_patches(n: int, rng: np.random.Generator, library: int = 20000, batch: int = 500) -> np.ndarray:
    """``n`` staircase polygons traced from random pixel blobs, as detection vectorises them.

    A library of ``min(n, library)`` blobs is drawn (:func:`_pixel_blobs`); each patch is one
    of them turned by a multiple of 90 degrees and / or mirrored (exact on the pixel grid, so
    8 shapes per blob) and placed at a random 2 m pixel of the world.
    """
    blobs = _pixel_blobs(min(n, library), rng, batch)
    pick = rng.integers(0, len(blobs), n)
    geoms = blobs[pick]  # a new array: set_coordinates below fills it with new geometries
    xy, idx = shapely.get_coordinates(geoms, return_index=True)
    xy = xy - CELL_PX / 2  # about the tile's centre (integers)
    swap, sx, sy = rng.random(n) < 0.5, rng.choice([-1.0, 1.0], n), rng.choice([-1.0, 1.0], n)
    xy = np.where(swap[idx, None], xy[:, ::-1], xy) * np.stack([sx, sy], axis=1)[idx]
    span = int((SIDE - CELL_PX * PIXEL) / PIXEL)
    gx, gy = rng.integers(0, span, n), rng.integers(0, span, n)
    xy = np.stack([X0 + (gx[idx] + CELL_PX / 2 + xy[:, 0]) * PIXEL,
                   Y0 + (gy[idx] + CELL_PX / 2 + xy[:, 1]) * PIXEL], axis=1)
    return shapely.normalize(shapely.set_coordinates(geoms, xy))


def _pixel_blobs(n: int, rng: np.random.Generator, batch: int) -> np.ndarray:
    """``n`` blobs traced in pixel coordinates of a :data:`CELL_PX` tile (y up).

    Each blob is an ellipse of random size (10-40 px of 2 m across, so 20-80 m), elongation
    and direction whose radius is bent by smoothed noise, thresholded; its largest
    4-connected component is traced (``rasterio.features.shapes``) and put in
    ``detection.vectorize``'s canonical form (collinear vertices removed, normalised). Blobs
    are concave and some have holes. ``batch`` tiles are drawn at a time in one mosaic.
    """
    from affine import Affine
    from rasterio import features
    from scipy import ndimage

    four = ndimage.generate_binary_structure(2, 1)
    out = np.empty(n, dtype=object)
    per_row = 25
    yy, xx = (np.mgrid[0:CELL_PX, 0:CELL_PX] - (CELL_PX - 1) / 2).astype(np.float32)
    done = 0
    while done < n:
        k = min(batch, n - done)
        a = (2 / rng.uniform(10, 40, k)).astype(np.float32)[:, None, None]
        b = a / rng.uniform(0.6, 1.0, k).astype(np.float32)[:, None, None]
        turn = rng.uniform(0, np.pi, k)
        c, s = np.cos(turn).astype(np.float32)[:, None, None], np.sin(turn).astype(np.float32)[:, None, None]
        u, v = (c * xx + s * yy) * a, (c * yy - s * xx) * b
        bent = 1 + 2 * ndimage.gaussian_filter(rng.standard_normal((k, CELL_PX, CELL_PX), dtype=np.float32),
                                               (0, 2.5, 2.5))
        blob = (bent > 0) & (u * u + v * v < bent * bent)
        blob[:, [0, -1], :] = False  # keep tiles apart in the mosaic
        blob[:, :, [0, -1]] = False
        blob[:, CELL_PX // 2, CELL_PX // 2] = True  # never empty
        rows = -(-k // per_row)
        pad = np.zeros((rows * per_row, CELL_PX, CELL_PX), dtype=bool)
        pad[:k] = blob
        mosaic = pad.reshape(rows, per_row, CELL_PX, CELL_PX).transpose(0, 2, 1, 3) \
            .reshape(rows * CELL_PX, per_row * CELL_PX)
        labels, m = ndimage.label(mosaic, structure=four)
        # the tile of each component (tiles are apart), and the largest component of each tile
        sizes = np.bincount(labels.ravel(), minlength=m + 1)[1:]
        objects = ndimage.find_objects(labels)
        tile = np.array([(sl[0].start // CELL_PX) * per_row + sl[1].start // CELL_PX for sl in objects])
        order = np.lexsort((-sizes, tile))  # by tile, largest first
        best = order[np.r_[True, tile[order][1:] != tile[order][:-1]]]
        keep = np.zeros(m + 1, dtype=np.int32)
        keep[best + 1] = tile[best] + 1  # traced value = tile + 1
        traced = keep[labels]
        geoms = np.empty(k, dtype=object)
        for geojson, value in features.shapes(traced, mask=traced > 0, connectivity=4,
                                              transform=Affine(1.0, 0.0, 0.0, 0.0, 1.0, 0.0)):
            geoms[int(value) - 1] = shapely.geometry.shape(geojson)
        t = np.arange(k)
        xy, idx = shapely.get_coordinates(geoms, return_index=True)
        xy = xy - np.stack([(t % per_row) * CELL_PX, (t // per_row) * CELL_PX], axis=1)[idx]
        xy[:, 1] = CELL_PX - xy[:, 1]  # mosaic rows grow downwards, map y upwards
        geoms = shapely.set_coordinates(geoms, xy)
        out[done:done + k] = shapely.normalize(shapely.simplify(geoms, 0.0, preserve_topology=True))
        done += k
    return out


def _snap(value: pd.Series, whole: pd.Series) -> pd.Series:
    """Under :data:`SLIVER_M2` is none; within :data:`SLIVER_M2` of the whole is the whole."""
    value = value.where(value >= SLIVER_M2, 0.0)
    return value.where(whole - value >= SLIVER_M2, whole)


def run_landcheck(patches, counties, farmland, basic, approved) -> pd.DataFrame:
    from overlay.split import split_patches

    pieces = split_patches(patches, counties, farmland, basic, approved, year=2025)
    return pieces.groupby("county_code")[["area_m2", "farmland_m2", "illegal_farmland_m2"]].sum()


def run_naive(patches, counties, farmland, basic, approved) -> pd.DataFrame:
    """What an analyst would script: chained geopandas.overlay, then group sums.

    With landcheck's reporting rule for slivers (:data:`SLIVER_M2`), so that both sides mean
    the same thing: irregular shapes make true parts of a few mm² that landcheck reports as
    none (or a piece's farmland within a sliver of the whole as all of it).
    """
    pieces = gpd.overlay(patches, counties, how="intersection", keep_geom_type=True)
    pieces["area_m2"] = pieces.area
    pieces = pieces[pieces.area_m2 >= SLIVER_M2].reset_index(drop=True)
    pieces["piece"] = np.arange(len(pieces))
    farm = gpd.overlay(pieces, farmland, how="intersection", keep_geom_type=True)
    farm = farm.dissolve("piece").reset_index()  # a piece may cover several parcels
    farm["farmland_m2"] = farm.area
    approved_union = gpd.GeoDataFrame(geometry=[approved.union_all()], crs=approved.crs)
    legal = gpd.overlay(farm[["piece", "geometry"]], approved_union, how="intersection",
                        keep_geom_type=True)
    legal["legal_m2"] = legal.area
    table = pieces[["piece", "county_code", "area_m2"]] \
        .merge(farm[["piece", "farmland_m2"]], on="piece", how="left") \
        .merge(legal.groupby("piece").legal_m2.sum().reset_index(), on="piece", how="left").fillna(0.0)
    table["farmland_m2"] = _snap(table.farmland_m2, table.area_m2)
    table["legal_m2"] = _snap(table.legal_m2, table.farmland_m2)
    table["illegal_farmland_m2"] = table.farmland_m2 - table.legal_m2
    return table.groupby("county_code")[["area_m2", "farmland_m2", "illegal_farmland_m2"]].sum()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("side", choices=["landcheck", "naive"])
    parser.add_argument("--patches", type=int, default=20000)
    parser.add_argument("--parcels", type=int, default=80000)
    parser.add_argument("--shapes", choices=["rect", "realistic"], default="rect",
                        help="rectangles (default) or pixel-traced patches on irregular parcels")
    args = parser.parse_args()
    layers = world(args.patches, args.parcels, shapes=args.shapes)
    start, cpu_start = time.perf_counter(), time.process_time()
    totals = (run_landcheck if args.side == "landcheck" else run_naive)(*layers)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"side": args.side, "shapes": args.shapes, "patches": args.patches,
                      "parcels": len(layers[2]),
                      "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2),
                      "peak_rss_mb": round(peak_mb, 1),
                      "totals": {k: {c: round(v, 2) for c, v in row.items()}
                                 for k, row in totals.to_dict("index").items()}}))


if __name__ == "__main__":
    main()
