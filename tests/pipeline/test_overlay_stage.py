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
