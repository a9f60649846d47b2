"""County jobs (paths and windows, read where they run) give the same pieces as the whole-layer path."""
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from overlay.split import split_patches
from pipeline.config import CountyLayerConfig, LayerConfig
from pipeline.county_run import Sources, plan_jobs, run_county
from pipeline.layers import open_source, read_counties, read_patches, read_polygons

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample_tiles"
KEY = ["source_id", "county_code"]
MEASURES = ["area_m2", "farmland_m2", "basic_farmland_m2", "approved_m2", "legal_farmland_m2",
            "illegal_farmland_m2", "illegal_basic_farmland_m2", "other_m2"]


def with_patch_columns(patches: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = patches.copy()
    out["origin"], out["mean_score"] = "received", np.nan
    out["before_date"], out["after_date"] = "2024-10-15", "2025-10-12"
    return out[["source_id", "origin", "mean_score", "before_date", "after_date", "geometry"]]


def run_by_county(counties_cfg, patches, farmland_cfg, basic_cfg, approved_cfg, work: Path):
    work.mkdir(exist_ok=True)
    patches_path = work / "patches.gpkg"
    with_patch_columns(patches).to_file(patches_path, layer="patches")
    sources = Sources(
        counties=open_source(counties_cfg, "counties"),
        patches=open_source(LayerConfig(patches_path, "patches"), "patches", index_dir=work),
        farmland=open_source(farmland_cfg, "farmland", index_dir=work),
        basic_farmland=open_source(basic_cfg, "basic_farmland", index_dir=work),
        approved=open_source(approved_cfg, "approved", index_dir=work),
    )
    counties, _ = read_counties(counties_cfg, with_fid=True)
    jobs = plan_jobs(counties, sources, year=2025)
    results = [run_county(job) for job in jobs]
    parts = [r.pieces.to_crs(4490) for r in results if len(r.pieces)]
    return pd.concat(parts, ignore_index=True), results


def compare(ours: pd.DataFrame, eager: pd.DataFrame) -> None:
    a = ours.set_index(KEY).sort_index()
    b = eager.set_index(KEY).sort_index()
    assert list(a.index) == list(b.index)
    np.testing.assert_allclose(a[MEASURES].to_numpy(float), b[MEASURES].to_numpy(float), atol=1e-6)
    assert (a["patch_id"] == b["patch_id"]).all()
    assert (a["status"] == b["status"]).all()


def test_county_jobs_equal_the_whole_layer_overlay_on_the_sample(tmp_path):
    counties_cfg = CountyLayerConfig(SAMPLE / "vectors" / "counties.gpkg", "counties")
    farmland_cfg = LayerConfig(SAMPLE / "vectors" / "farmland.gpkg", "farmland")
    basic_cfg = LayerConfig(SAMPLE / "vectors" / "basic_farmland.shp")  # no spatial index: copied
    approved_cfg = LayerConfig(SAMPLE / "vectors" / "approved.gpkg", "approved")
    from pipeline.config import PatchesConfig
    patches, _ = read_patches(PatchesConfig(SAMPLE / "truth" / "truth.gpkg", "planted_patches",
                                            id_field="truth_id"))
    ours, results = run_by_county(counties_cfg, patches, farmland_cfg, basic_cfg, approved_cfg,
                                  tmp_path / "work")
    counties, _ = read_counties(counties_cfg)
    eager = split_patches(with_patch_columns(patches), counties, read_polygons(farmland_cfg, "farmland")[0],
                          read_polygons(basic_cfg, "basic_farmland")[0],
                          read_polygons(approved_cfg, "approved")[0], year=2025)
    assert len(ours) > 20
    compare(ours, eager)
    # each job read only its own window: no county read the whole farmland layer
    total = open_source(farmland_cfg, "farmland").features
    assert all(r.features_read.get("farmland", 0) < total for r in results if len(r.pieces))


def test_county_jobs_keep_border_and_overlap_rules(tmp_path):
    """Counties given in degrees that overlap by a strip; farmland as a Shapefile in the zone CRS;
    patches across the border: each piece measured once, the overlap going to the smaller code."""
    x0, y0 = 126.50, 43.80
    d = 0.01
    counties = gpd.GeoDataFrame(
        {"XZQDM": ["220202", "220201", "220203"], "XZQMC": ["乙", "甲", "丙"]},
        geometry=[shapely.box(x0 + d - 0.0005, y0, x0 + 2 * d, y0 + d),  # overlaps 220201
                  shapely.box(x0, y0, x0 + d, y0 + d),
                  shapely.box(x0, y0 + d, x0 + 2 * d, y0 + 2 * d)], crs=4490)
    counties.to_file(tmp_path / "counties.gpkg", layer="counties")
    rng = np.random.default_rng(5)
    zone = 4530  # CGCS2000 GK zone with central meridian 126E
    box_zone = gpd.GeoSeries([shapely.box(x0, y0, x0 + 2 * d, y0 + 2 * d)], crs=4490).to_crs(zone)
    minx, miny, maxx, maxy = box_zone.total_bounds
    cells = [shapely.box(x, y, x + 100, y + 100) for x in np.arange(minx, maxx, 100)
             for y in np.arange(miny, maxy, 100)]
    farmland = gpd.GeoDataFrame(geometry=[c for c in cells if rng.random() < 0.7], crs=zone)
    farmland.to_file(tmp_path / "farmland.shp")
    farmland.iloc[::4].to_file(tmp_path / "basic.gpkg")
    approved = gpd.GeoDataFrame(geometry=[shapely.box(x0 + 0.004, y0 + 0.004, x0 + 0.012, y0 + 0.012)],
                                crs=4490)
    approved.to_file(tmp_path / "approved.gpkg")
    centres = gpd.GeoSeries(gpd.points_from_xy(rng.uniform(x0, x0 + 2 * d, 150),
                                               rng.uniform(y0, y0 + 2 * d, 150)), crs=4490)
    border = gpd.GeoSeries(gpd.points_from_xy(np.full(10, x0 + d), np.linspace(y0, y0 + 2 * d, 10)),
                           crs=4490)
    points = pd.concat([centres, border], ignore_index=True).to_crs(zone)
    patches = gpd.GeoDataFrame({"source_id": [f"P{i:03d}" for i in range(len(points))]},
                               geometry=points.buffer(rng.uniform(15, 60, len(points))).values, crs=zone)
    cfgs = (CountyLayerConfig(tmp_path / "counties.gpkg", "counties"), LayerConfig(tmp_path / "farmland.shp"),
            LayerConfig(tmp_path / "basic.gpkg"), LayerConfig(tmp_path / "approved.gpkg"))
    ours, _ = run_by_county(cfgs[0], patches, *cfgs[1:], tmp_path / "work")
    eager = split_patches(with_patch_columns(patches), read_counties(cfgs[0])[0],
                          read_polygons(cfgs[1], "farmland")[0], read_polygons(cfgs[2], "basic")[0],
                          read_polygons(cfgs[3], "approved")[0], year=2025)
    compare(ours, eager)
    # every patch inside the counties is measured exactly once across counties
    cover = shapely.union_all(counties.to_crs(zone).geometry.values)
    inside = patches[patches.within(cover)]
    whole = inside.set_index("source_id").area
    summed = ours.groupby("source_id")["area_m2"].sum().loc[whole.index]
    assert len(whole) > 100
    assert ours.groupby("source_id")["county_code"].nunique().max() >= 2  # some patches straddle
    np.testing.assert_allclose(summed.to_numpy(), whole.loc[summed.index].to_numpy(), rtol=1e-9, atol=1e-4)


def test_bounds_in_builds_one_transformer_per_crs_pair_and_gives_the_same_box(monkeypatch):
    import overlay.crs as crs_mod
    import pipeline.county_run as county_run
    from pyproj import CRS, Transformer

    wkt = CRS.from_epsg(4490).to_wkt()
    box = (113.1, 34.2, 113.4, 34.5)
    direct = Transformer.from_crs(CRS.from_epsg(4490), CRS.from_epsg(4547), always_xy=True) \
        .transform_bounds(*box, densify_pts=21)
    crs_mod._cached_transformer.cache_clear()
    built = []
    real = Transformer.from_crs
    monkeypatch.setattr(crs_mod.Transformer, "from_crs",
                        staticmethod(lambda s, d, **kw: built.append((s, d)) or real(s, d, **kw)))
    for _ in range(3):
        assert county_run.bounds_in(box, wkt, "EPSG:4547") == tuple(float(v) for v in direct)
    assert county_run.bounds_in(box, wkt, wkt) == box  # same CRS: unchanged, nothing built
    assert [(s.to_epsg(), d.to_epsg()) for s, d in built] == [(4490, 4547)]
