"""Overlay benchmark: landcheck's split/measure against a naive geopandas.overlay chain.

Run one side per process so peak memory (max RSS) is that side's own:

    python bench/overlay_bench.py landcheck --patches 20000 --parcels 80000
    python bench/overlay_bench.py naive     --patches 20000 --parcels 80000

Prints one JSON line: seconds (wall), CPU seconds (steadier than wall time on a shared
machine), peak RSS, and the county totals (to check both agree).
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


def world(n_patches: int, n_parcels: int, seed: int = 7):
    """Four 10 km counties, a farmland coverage of strip parcels, basic farmland, approvals, patches."""
    rng = np.random.default_rng(seed)
    side = 20000.0
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
    parcels = shapely.box(x0.ravel(), y0.ravel(), x1.ravel(), y1.ravel())
    keep = rng.random(len(parcels)) < 0.7  # 70% of the land is farmland
    farmland = gpd.GeoDataFrame(geometry=parcels[keep], crs=CRS)
    basic = farmland.iloc[::3].reset_index(drop=True)
    ax, ay = rng.uniform(X0, X0 + side, 2000), rng.uniform(Y0, Y0 + side, 2000)
    approved = gpd.GeoDataFrame(geometry=shapely.box(ax, ay, ax + rng.uniform(50, 300, 2000),
                                                     ay + rng.uniform(50, 300, 2000)), crs=CRS)
    px, py = rng.uniform(X0, X0 + side - 100, n_patches), rng.uniform(Y0, Y0 + side - 100, n_patches)
    patches = gpd.GeoDataFrame({"source_id": [f"D{i:06d}" for i in range(n_patches)]},
                               geometry=shapely.box(px, py, px + rng.uniform(20, 80, n_patches),
                                                    py + rng.uniform(20, 80, n_patches)), crs=CRS)
    # patches may overlap each other; each is measured on its own, as in practice
    return patches, counties, farmland, basic, approved


def run_landcheck(patches, counties, farmland, basic, approved) -> pd.DataFrame:
    from overlay.split import split_patches

    pieces = split_patches(patches, counties, farmland, basic, approved, year=2025)
    return pieces.groupby("county_code")[["area_m2", "farmland_m2", "illegal_farmland_m2"]].sum()


def run_naive(patches, counties, farmland, basic, approved) -> pd.DataFrame:
    """What an analyst would script: chained geopandas.overlay, then group sums."""
    pieces = gpd.overlay(patches, counties, how="intersection", keep_geom_type=True)
    pieces["piece"] = np.arange(len(pieces))
    pieces["area_m2"] = pieces.area
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
    table["illegal_farmland_m2"] = table.farmland_m2 - table.legal_m2
    return table.groupby("county_code")[["area_m2", "farmland_m2", "illegal_farmland_m2"]].sum()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("side", choices=["landcheck", "naive"])
    parser.add_argument("--patches", type=int, default=20000)
    parser.add_argument("--parcels", type=int, default=80000)
    args = parser.parse_args()
    layers = world(args.patches, args.parcels)
    start, cpu_start = time.perf_counter(), time.process_time()
    totals = (run_landcheck if args.side == "landcheck" else run_naive)(*layers)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"side": args.side, "patches": args.patches, "parcels": len(layers[2]),
                      "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2),
                      "peak_rss_mb": round(peak_mb, 1),
                      "totals": {k: {c: round(v, 2) for c, v in row.items()}
                                 for k, row in totals.to_dict("index").items()}}))


if __name__ == "__main__":
    main()
