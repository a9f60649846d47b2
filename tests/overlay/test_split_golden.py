"""Golden check: split_patches agrees with an independent chain of geopandas.overlay calls."""
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from overlay.split import split_patches

X0, Y0, CRS = 530000.0, 4840000.0, 4551


def random_world(seed: int):
    rng = np.random.default_rng(seed)
    counties = gpd.GeoDataFrame(
        {"county_code": ["220201", "220202"], "county_name": ["甲", "乙"]},
        geometry=[shapely.Polygon([(X0, Y0), (X0 + 600, Y0), (X0 + 450, Y0 + 1000), (X0, Y0 + 1000)]),
                  shapely.Polygon([(X0 + 600, Y0), (X0 + 1000, Y0), (X0 + 1000, Y0 + 1000),
                                   (X0 + 450, Y0 + 1000)])], crs=CRS)
    xs, ys = np.meshgrid(np.arange(0, 1000, 50.0) + X0, np.arange(0, 1000, 25.0) + Y0)
    parcels = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + 50, ys.ravel() + 25)
    farmland = gpd.GeoDataFrame(geometry=parcels[rng.random(len(parcels)) < 0.6], crs=CRS)
    ax, ay = rng.uniform(X0, X0 + 900, 15), rng.uniform(Y0, Y0 + 900, 15)
    approved = gpd.GeoDataFrame(geometry=shapely.box(ax, ay, ax + 80, ay + 60), crs=CRS)
    px, py = rng.uniform(X0, X0 + 950, 120), rng.uniform(Y0, Y0 + 950, 120)
    patches = gpd.GeoDataFrame({"source_id": [f"P{i}" for i in range(120)]},
                               geometry=shapely.box(px, py, px + rng.uniform(15, 50, 120),
                                                    py + rng.uniform(15, 50, 120)), crs=CRS)
    return patches, counties, farmland, approved


def naive(patches, counties, farmland, approved) -> pd.DataFrame:
    pieces = gpd.overlay(patches, counties, how="intersection", keep_geom_type=True)
    pieces["area_m2"] = pieces.area
    farm = gpd.overlay(pieces, farmland, how="intersection", keep_geom_type=True)
    farm = farm.dissolve(["source_id", "county_code"]).reset_index()
    farm["farmland_m2"] = farm.area
    union = gpd.GeoDataFrame(geometry=[approved.union_all()], crs=CRS)
    legal = gpd.overlay(farm[["source_id", "county_code", "geometry"]], union, how="intersection",
                        keep_geom_type=True)
    legal["legal_farmland_m2"] = legal.area
    keys = ["source_id", "county_code"]
    out = pieces[keys + ["area_m2"]].merge(farm[keys + ["farmland_m2"]], on=keys, how="left") \
        .merge(legal[keys + ["legal_farmland_m2"]], on=keys, how="left").fillna(0.0)
    return out.set_index(keys).sort_index()


def test_agrees_with_geopandas_overlay():
    for seed in (1, 2, 3):
        patches, counties, farmland, approved = random_world(seed)
        ours = split_patches(patches, counties, farmland, farmland.iloc[:0], approved, year=2025)
        ours = ours.set_index(["source_id", "county_code"]).sort_index()
        ref = naive(patches, counties, farmland, approved)
        ref = ref[ref.area_m2 >= 0.01]
        assert list(ours.index) == list(ref.index)
        for col in ("area_m2", "farmland_m2", "legal_farmland_m2"):
            assert np.allclose(ours[col], ref[col], rtol=0, atol=0.011), col
