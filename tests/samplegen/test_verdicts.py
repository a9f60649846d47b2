"""The sample's returned verdicts (samplegen/verdicts.py): still valid for the current detector, and
a `make run` on configs/sample.yaml gives the verified picture of truth/verified_ratios.csv.

If the detector is retrained, its patches (and JCBH) change and these tests fail: regenerate with
`make sample` (or `python -m samplegen data/sample_tiles --config-dir configs --verdicts-only`).
"""
from __future__ import annotations

import math
import sqlite3

import geopandas as gpd
import openpyxl
import pandas as pd
import pyogrio
import pytest

from pipeline import layers
from pipeline.config import load_config
from pipeline.run import run_pipeline
from pipeline.verdicts import check_config_verdicts
from reports.excel import (PATCH_SHEET, RANKING_HEADER_ROW, RANKING_SHEET, VERIFIED_PATCH_HEADERS,
                           VERIFIED_RANKING_HEADERS)
from samplegen.layout import COMMITTED_SAMPLE, REPO
from samplegen.verdicts import (BAD_PDLX, KEY_PROJECTS_FILE, VERDICTS_DIR, VERIFIED_PATCHES_FILE,
                                VERIFIED_RATIOS_FILE)

CONFIG = REPO / "configs" / "sample.yaml"
STALE = "the sample's returned verdicts do not fit the current detector: run `make sample`"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """`make run`: the whole pipeline on configs/sample.yaml."""
    warnings: list[str] = []
    result = run_pipeline(load_config(CONFIG, output=tmp_path_factory.mktemp("run") / "out"), progress=False,
                          log=lambda _m: None, warn=warnings.append)
    return result, warnings


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return pd.read_csv(COMMITTED_SAMPLE / VERIFIED_RATIOS_FILE, dtype={"county_code": str}) \
        .set_index("county_code")


@pytest.fixture(scope="module")
def patches_truth() -> pd.DataFrame:
    return pd.read_csv(COMMITTED_SAMPLE / VERIFIED_PATCHES_FILE, dtype={"JCBH": str, "XZQDM": str},
                       keep_default_na=False)


def test_the_sample_ships_every_kind_of_return(truth, patches_truth):
    assert sorted(truth.returned) == ["bad_row", "full", "full", "partly"]
    assert not truth.loc[truth.returned == "partly", "complete"].any()
    assert truth.loc[truth.returned == "full", "complete"].all()
    assert (patches_truth.PDLX == BAD_PDLX).sum() == 1
    assert {"违法", "合法", "伪变化", "其他", ""} <= set(patches_truth.PDLX)
    assert sorted(p.name for p in (COMMITTED_SAMPLE / VERDICTS_DIR).iterdir()) == \
        [f"{c}.zip" for c in sorted(truth.index)]
    assert len(pyogrio.read_dataframe(COMMITTED_SAMPLE / KEY_PROJECTS_FILE, layer="key_projects")) == 1


def test_committed_verdicts_fit_the_current_detection_except_the_bad_row(run, truth, patches_truth):
    result, _ = run
    config = load_config(CONFIG)
    counties, _ = layers.read_counties(config.counties)
    check = check_config_verdicts(config, compute=lambda _cfg: (result.pieces, counties))
    assert sorted(zip(result.pieces.patch_id, result.pieces.county_code)) == \
        sorted(zip(patches_truth.JCBH, patches_truth.XZQDM)), STALE
    bad = truth.index[truth.returned == "bad_row"][0]
    [problem] = check.problems
    assert problem.file.endswith(f"verdicts/{bad}.zip"), STALE
    assert problem.message.startswith(f"PDLX '{BAD_PDLX}' is not a verdict"), STALE
    assert check.n_rows == len(result.pieces)


def test_make_run_gives_the_verified_picture_of_the_truth(run, truth):
    result, warnings = run
    got = pd.read_csv(result.output / "county_ratios.csv", dtype={"county_code": str},
                      encoding="utf-8-sig").set_index("county_code")
    assert sorted(got.index) == sorted(truth.index)
    for code, want in truth.iterrows():
        row = got.loc[code]
        for col in ("ratio", "suspected_ratio", "after_deduction_ratio"):
            if math.isnan(want[col]):
                assert math.isnan(row[col]), (code, col)
            else:
                assert row[col] == pytest.approx(want[col], rel=1e-9, abs=1e-12), (code, col)
        for col in ("occupied_farmland_m2", "illegal_farmland_m2", "key_project_illegal_m2"):
            assert row[col] == pytest.approx(want[col], abs=0.01), (code, col)
        for col in ("level", "suspected_level", "level_reason", "n_verified", "complete"):
            assert row[col] == want[col], (code, col)
    # the bad row is a warning, not a failure
    assert len(warnings) == 1 and f"PDLX '{BAD_PDLX}'" in warnings[0]
    assert result.manifest["data_quality"]["verdict_problems"] == [warnings[0].split("returned verdicts: ")[1]
                                                                   .removesuffix(" (row ignored: the patch "
                                                                                 "stays unverified)")]


def test_the_reports_show_both_pictures(run):
    result, _ = run
    out = result.output
    book = openpyxl.load_workbook(out / "report.xlsx")
    ranking = [c.value for c in book[RANKING_SHEET][RANKING_HEADER_ROW]]
    assert set(VERIFIED_RANKING_HEADERS) <= set(ranking) and "违法占用耕地比例" in ranking
    assert set(VERIFIED_PATCH_HEADERS) <= {c.value for c in book[PATCH_SHEET][1]}
    html = (out / "report.html").read_text(encoding="utf-8")
    for text in ("疑似违法占用耕地比例（套合）", "核查进度", "扣减后比例", "样例：违法占地建设经媒体曝光", "仅按套合结果（疑似）"):
        assert text in html, text
    names = [name for name, _ in pyogrio.list_layers(out / "patches.gpkg")]
    assert names == ["patches", "county_ratios", "layer_styles"]  # + the default QGIS styles
    patches = gpd.read_file(out / "patches.gpkg", layer="patches")
    assert {"verdict", "effect", "verified_illegal_farmland_m2", "rectification", "key_project"} <= set(patches.columns)
    assert patches.key_project.sum() >= 1
    counties = gpd.read_file(out / "patches.gpkg", layer="county_ratios")
    assert {"suspected_ratio", "suspected_level", "complete", "after_deduction_ratio", "level_reason"} <= \
        set(counties.columns)
    with sqlite3.connect(out / "patches.gpkg") as db:  # value lists of the new code columns
        domains = set(db.execute("SELECT table_name, column_name, constraint_name FROM gpkg_data_columns"))
    assert {("patches", "verdict", "landcheck_pdlx"), ("patches", "effect", "landcheck_effect"),
            ("patches", "rectification", "landcheck_zgzt"),
            ("county_ratios", "suspected_level", "landcheck_level"),
            ("county_ratios", "level_reason", "landcheck_level_reason")} <= domains
