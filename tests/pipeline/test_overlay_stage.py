"""The county-by-county overlay stage gives the whole-layer overlay's pieces, and resumes."""
from pathlib import Path

import numpy as np
import pandas as pd

from overlay.split import combine_pieces, county_tasks, split_county
from pipeline import layers
from pipeline.config import load_config
from pipeline.overlay_stage import overlay_by_county, run_key
from pipeline.run import load_patches

REPO = Path(__file__).resolve().parents[2]
MEASURES = ["area_m2", "farmland_m2", "basic_farmland_m2", "approved_m2", "legal_farmland_m2",
            "illegal_farmland_m2", "illegal_basic_farmland_m2", "other_m2"]


def whole_layer_pieces(config, patches):
    counties, _ = layers.read_counties(config.counties)
    farmland, _ = layers.read_polygons(config.farmland, "farmland")
    basic, _ = layers.read_polygons(config.basic_farmland, "basic_farmland")
    approved, _ = layers.read_polygons(config.approved, "approved")
    tasks = county_tasks(patches, counties, farmland, basic, approved)
    return combine_pieces([split_county(t) for t in tasks], year=config.year, template=patches,
                          official_ids=True)


def test_county_stage_equals_whole_layer_overlay_on_the_sample_truth(tmp_path):
    config = load_config(REPO / "configs" / "sample_truth.yaml", output=tmp_path / "out")
    patches, _ = load_patches(config, progress=False)
    stage = overlay_by_county(config, patches, tmp_path / "work", progress=False, log=lambda s: None)
    assert not stage.failures
    eager = whole_layer_pieces(config, patches)
    a = stage.pieces.set_index(["patch_id", "county_code"]).sort_index()
    b = eager.set_index(["patch_id", "county_code"]).sort_index()
    assert list(a.index) == list(b.index)
    np.testing.assert_allclose(a[MEASURES].to_numpy(float), b[MEASURES].to_numpy(float), atol=1e-6)
    assert (a["year"] == config.year).all()
    assert stage.pieces.crs == eager.crs
    assert {r.role for r in stage.layer_reports} == {"counties", "farmland", "basic_farmland", "approved"}
    assert set(stage.county_seconds) == set(stage.pieces["county_code"])


def test_county_stage_resumes_from_its_checkpoints(tmp_path):
    config = load_config(REPO / "configs" / "sample_truth.yaml", output=tmp_path / "out")
    patches, _ = load_patches(config, progress=False)
    first = overlay_by_county(config, patches, tmp_path / "work", progress=False, log=lambda s: None)
    lines = []
    again = overlay_by_county(config, patches, tmp_path / "work", progress=False, log=lines.append)
    assert again.resumed_counties == len(first.county_seconds) and "resuming" in lines[0]
    pd.testing.assert_frame_equal(pd.DataFrame(first.pieces.drop(columns="geometry")),
                                  pd.DataFrame(again.pieces.drop(columns="geometry")))
    assert run_key(config) == run_key(load_config(REPO / "configs" / "sample_truth.yaml"))


def test_combined_pieces_are_each_countys_pieces_reprojected_and_sorted():
    """combine_results: every county's pieces in one CRS (EPSG:4490 across zones, the zone when
    all share one), coordinates bit for bit those of to_crs, sorted by county and JCBH, the year
    after the county's name."""
    from types import SimpleNamespace

    import geopandas as gpd
    import shapely
    from geopandas.testing import assert_geodataframe_equal

    from pipeline.overlay_stage import combine_results

    rng = np.random.default_rng(5)

    def county(code: str, lon: float, n: int, epsg: int) -> gpd.GeoDataFrame:
        x, y = lon + rng.uniform(0, 0.3, n), 30 + rng.uniform(0, 0.3, n)
        frame = gpd.GeoDataFrame({"county_code": code, "county_name": f"县{code}",
                                  "patch_id": [f"{code}-{i:03d}" for i in rng.permutation(n)],
                                  "source_id": [f"S{i}" for i in range(n)],
                                  "area_m2": rng.uniform(10, 900, n)},
                                 geometry=shapely.buffer(shapely.points(x, y), 0.001, quad_segs=2),
                                 crs=4490)
        return frame.to_crs(epsg)

    zones = [county("450101", 108.1, 7, 4524), county("450102", 108.4, 5, 4524),
             county("530101", 102.2, 6, 4522), county("330101", 120.1, 4, 4527)]
    results = [SimpleNamespace(pieces=p) for p in zones[::-1]] + [SimpleNamespace(pieces=zones[0].iloc[:0])]
    got = combine_results(results, 2026, None)
    want = gpd.GeoDataFrame(pd.concat([p.to_crs(4490) for p in zones[::-1]], ignore_index=True), crs=4490)
    want = want.sort_values(["county_code", "patch_id", "source_id"], kind="stable").reset_index(drop=True)
    want.insert(want.columns.get_loc("county_name") + 1, "year", 2026)
    assert_geodataframe_equal(got, want, check_less_precise=False)
    assert shapely.equals_exact(got.geometry.values, want.geometry.values, tolerance=0).all()
    # one zone: the pieces stay in it, untouched
    same = combine_results([SimpleNamespace(pieces=p) for p in zones[:2]], 2026, None)
    assert same.crs.equals(zones[0].crs) and len(same) == 12
