"""overlay.verified: the decisive county figures on tiny known cases.

One county 220202 with six pieces of 1000 m² farmland each (suspected: 600 m² illegal each,
400 m² legal), one verdict value per piece, and a county 220204 without verdicts:

| piece | PDLX       | numerator | denominator |
|-------|------------|-----------|-------------|
| A1    | 违法        | 600       | 1000        |
| A2    | 违法 WFMJ 250 | 250     | 1000        |
| A3    | 合法        | 0         | 1000        |
| A4    | 伪变化      | 0         | 0           |
| A5    | 设施农用地  | 0         | 0           |
| A6    | 临时用地    | 0         | 0           |
| A7    | 其他        | 600       | 1000 (unverified) |
| A8    | (empty)     | 600       | 1000 (unverified) |
"""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from overlay.accounting import Thresholds
from overlay.contracts import COUNTY_COLUMNS, RUN_COUNTY_COLUMNS, UNRECTIFIED_COLUMNS, VERDICT_COLUMNS
from overlay.verdicts import apply_verdicts
from overlay.verified import (decisive_pieces, decisive_ratios, key_project_mask, level_counts,
                              previous_unrectified)

COUNTIES = pd.DataFrame({"county_code": ["220202", "220204", "220211"],
                         "county_name": ["昌邑区", "船营区", "丰满区"]})
VERDICTS = {"A1": ("illegal", math.nan), "A2": ("illegal", 250.0), "A3": ("legal", math.nan),
            "A4": ("false_change", math.nan), "A5": ("facility_agriculture", math.nan),
            "A6": ("temporary_use", math.nan), "A7": ("other", math.nan), "A8": (None, math.nan)}


def pieces() -> gpd.GeoDataFrame:
    rows = []
    for i, jcbh in enumerate([*VERDICTS, "B1", "B2"]):
        rows.append({"patch_id": jcbh, "source_id": jcbh, "county_code": "220202" if jcbh[0] == "A" else "220204",
                     "county_name": "x", "area_m2": 1000.0, "farmland_m2": 1000.0,
                     "basic_farmland_m2": 500.0, "approved_m2": 400.0, "legal_farmland_m2": 400.0,
                     "illegal_farmland_m2": 600.0, "illegal_basic_farmland_m2": 300.0, "other_m2": 0.0,
                     "status": "partly_legal"})
    geoms = [shapely.box(546000 + 100 * i, 4857000, 546000 + 100 * i + 40, 4857025) for i in range(len(rows))]
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=4551)


def verdict_table(verdicts: dict, rectification: dict | None = None) -> pd.DataFrame:
    rows = []
    for n, (jcbh, (code, wfmj)) in enumerate(verdicts.items(), start=1):
        rows.append({"patch_id": jcbh, "county_code": None, "verdict": code, "wfmj_m2": wfmj,
                     "rectification": (rectification or {}).get(jcbh), "remarks": None, "verifier": None,
                     "verified_on": None, "photos": None, "source_file": "back.xlsx", "row": n + 1})
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


@pytest.fixture
def verified() -> gpd.GeoDataFrame:
    return apply_verdicts(pieces(), verdict_table(VERDICTS))


T = Thresholds()


def test_every_verdict_value_on_numerator_and_denominator(verified):
    d = decisive_pieces(verified).set_index("patch_id")
    expected = {"A1": (600, 1000), "A2": (250, 1000), "A3": (0, 1000), "A4": (0, 0), "A5": (0, 0),
                "A6": (0, 0), "A7": (600, 1000), "A8": (600, 1000), "B1": (600, 1000)}
    for jcbh, (numerator, denominator) in expected.items():
        assert (d.loc[jcbh, "illegal_farmland_m2"], d.loc[jcbh, "farmland_m2"]) == (numerator, denominator), jcbh
    # farmland = legal + illegal per piece in the decisive picture (and the overlay's stays as it was)
    assert np.allclose(d.farmland_m2, d.legal_farmland_m2 + d.illegal_farmland_m2)
    assert (verified.farmland_m2 == verified.legal_farmland_m2 + verified.illegal_farmland_m2).all()
    # basic farmland: gone with the construction, none illegal when legal, capped at WFMJ
    assert d.loc["A4", "basic_farmland_m2"] == 0 and d.loc["A1", "basic_farmland_m2"] == 500
    assert d.loc["A3", "illegal_basic_farmland_m2"] == 0
    assert d.loc["A2", "illegal_basic_farmland_m2"] == 250
    assert d.loc["A1", "illegal_basic_farmland_m2"] == 300 and d.loc["A7", "illegal_basic_farmland_m2"] == 300


def test_county_figures_both_pictures(verified):
    r = decisive_ratios(verified, COUNTIES, T).set_index("county_code")
    assert list(decisive_ratios(verified, COUNTIES, T).columns) == list(RUN_COUNTY_COLUMNS)
    a = r.loc["220202"]
    # decisive: 600 + 250 + 0 + 600 + 600 over 1000 * 5 (A4-A6 leave both)
    assert (a.illegal_farmland_m2, a.occupied_farmland_m2) == (2050, 5000)
    assert a.ratio == pytest.approx(0.41) and a.level == "accountability"
    assert a.legal_farmland_m2 + a.illegal_farmland_m2 == a.occupied_farmland_m2
    # suspected: 8 x 600 over 8 x 1000
    assert (a.suspected_illegal_farmland_m2, a.suspected_occupied_farmland_m2) == (4800, 8000)
    assert a.suspected_ratio == pytest.approx(0.6) and a.suspected_level == "accountability"
    assert (a.n_verified, a.verified_share, a.complete) == (6, 0.75, False)
    b = r.loc["220204"]  # no verdicts: the overlay's figure stands, incomplete
    assert b.ratio == b.suspected_ratio == pytest.approx(0.6) and (b.n_verified, b.complete) == (0, False)
    c = r.loc["220211"]  # no pieces: no ratio, nothing to verify
    assert c.level == "no_ratio" and math.isnan(c.ratio) and c.complete and math.isnan(c.verified_share)
    assert set(r.level_reason) == {"ratio"} and r.severe_impact_reason.isna().all()
    assert r.previous_ratio.isna().all() and r.ratio_change.isna().all()
    assert (r.previous_unrectified_n == 0).all()


def test_a_verdict_moves_a_county_below_the_interview_threshold():
    table = verdict_table({"B1": ("legal", math.nan), "B2": ("illegal", 80.0)})
    r = decisive_ratios(apply_verdicts(pieces(), table), COUNTIES, T).set_index("county_code")
    b = r.loc["220204"]
    assert (b.illegal_farmland_m2, b.occupied_farmland_m2) == (80, 2000)
    assert b.ratio == pytest.approx(0.04) and b.level == "none" and b.suspected_level == "accountability"
    assert b.complete and b.verified_share == 1.0
    assert r.loc["220202", "rank"] == 1 and r.loc["220204", "rank"] == 2


def test_all_false_changes_leave_no_ratio():
    table = verdict_table({"B1": ("false_change", math.nan), "B2": ("temporary_use", math.nan)})
    b = decisive_ratios(apply_verdicts(pieces(), table), COUNTIES, T).set_index("county_code").loc["220204"]
    assert b.occupied_farmland_m2 == 0 and math.isnan(b.ratio) and b.level == "no_ratio"
    assert pd.isna(b["rank"]) and b.suspected_level == "accountability"


def test_severe_impact_puts_a_county_at_accountability_whatever_its_ratio():
    table = verdict_table({"B1": ("legal", math.nan), "B2": ("legal", math.nan)})
    verified = apply_verdicts(pieces(), table)
    r = decisive_ratios(verified, COUNTIES, T,
                        severe_impact={"220204": "群众反映强烈", "220211": "无图斑也可问责"}).set_index("county_code")
    b = r.loc["220204"]
    assert b.ratio == 0 and b.level == "accountability" and b.level_reason == "severe_impact"
    assert b.severe_impact_reason == "群众反映强烈" and b["rank"] == 2  # the rank stays the ratio's
    assert r.loc["220211", "level"] == "accountability" and math.isnan(r.loc["220211", "ratio"])
    assert r.loc["220202", "level_reason"] == "ratio" and pd.isna(r.loc["220202", "severe_impact_reason"])
    with pytest.raises(ValueError, match="severe impact county 999999 is not a county"):
        decisive_ratios(verified, COUNTIES, T, severe_impact={"999999": "x"})


def test_key_project_deduction_by_jcbh_and_by_polygon(verified):
    p = verified.copy()
    p["key_project"] = key_project_mask(p, ["A2", "A4", "ZZZ"])
    r = decisive_ratios(p, COUNTIES, T).set_index("county_code")
    # A2 contributes its verified 250; A4 (伪变化) has nothing left to deduct
    assert r.loc["220202", "key_project_illegal_m2"] == 250
    assert r.loc["220202", "after_deduction_ratio"] == pytest.approx((2050 - 250) / 5000)
    assert r.loc["220202", "ratio"] == pytest.approx(2050 / 5000)  # the ratio itself is not changed
    assert r.loc["220204", "after_deduction_ratio"] == pytest.approx(0.6)
    # a polygon over A1 entirely and 40 % of A7 (piece 6: x 546600..546640): A1 only
    layer = gpd.GeoDataFrame(geometry=[shapely.box(545990, 4856990, 546050, 4857030),
                                       shapely.box(546624, 4856990, 546700, 4857030)], crs=4551).to_crs(4490)
    mask = key_project_mask(verified, [], layer)
    assert list(verified.patch_id[mask]) == ["A1"]
    assert list(verified.patch_id[key_project_mask(verified, [], layer, min_share=0.3)]) == ["A1", "A7"]


def test_rectified_illegal_area(verified):
    table = verdict_table(VERDICTS, rectification={"A1": "rectified", "A2": "in_progress"})
    r = decisive_ratios(apply_verdicts(pieces(), table), COUNTIES, T).set_index("county_code")
    assert r.loc["220202", "rectified_illegal_m2"] == 600
    assert r.loc["220204", "rectified_illegal_m2"] == 0


def test_previous_year_and_unrectified(verified):
    last = apply_verdicts(pieces(), verdict_table(
        {"A1": ("illegal", math.nan), "A2": ("illegal", 250.0), "A3": ("legal", math.nan),
         "B1": ("illegal", math.nan)}, rectification={"A1": "rectified", "A2": "not_rectified"}))
    last["year"] = 2024
    unrectified = previous_unrectified(last)
    assert list(unrectified.columns) == list(UNRECTIFIED_COLUMNS)
    # A1 rectified, A3 legal: out; A2 (250), B1 and the unverified A4-A8, B2 (overlay 600) stay
    assert list(unrectified.patch_id) == ["A2", "A4", "A5", "A6", "A7", "A8", "B1", "B2"]
    assert unrectified.set_index("patch_id").loc["A2", "illegal_farmland_m2"] == 250
    assert unrectified.set_index("patch_id").loc["A2", "rectification"] == "not_rectified"
    assert pd.isna(unrectified.set_index("patch_id").loc["A4", "verdict"])
    previous = pd.DataFrame({"county_code": ["220202", "220204"], "ratio": [0.5, math.nan],
                             "level": ["accountability", "no_ratio"]})
    r = decisive_ratios(verified, COUNTIES, T, previous_ratios=previous,
                        unrectified=unrectified).set_index("county_code")
    assert r.loc["220202", "previous_ratio"] == 0.5 and r.loc["220202", "previous_level"] == "accountability"
    assert r.loc["220202", "ratio_change"] == pytest.approx(0.41 - 0.5)
    assert math.isnan(r.loc["220204", "ratio_change"]) and r.loc["220204", "previous_level"] == "no_ratio"
    assert pd.isna(r.loc["220211", "previous_level"])
    assert (r.loc["220202", "previous_unrectified_n"], r.loc["220202", "previous_unrectified_m2"]) == \
        (6, 250 + 5 * 600)
    assert (r.loc["220204", "previous_unrectified_n"], r.loc["220211", "previous_unrectified_n"]) == (2, 0)


def test_an_older_run_without_verdict_columns():
    old = pieces().drop(columns="geometry")
    table = previous_unrectified(old)
    assert len(table) == len(old) and table.verdict.isna().all() and table.rectification.isna().all()


def test_no_verdicts_means_the_same_figures_twice():
    verified = apply_verdicts(pieces(), verdict_table({}))
    r = decisive_ratios(verified, COUNTIES, T)
    for col in ("occupied_farmland_m2", "illegal_farmland_m2"):
        assert (r[col] == r[f"suspected_{col}"]).all()
    assert r["level"].tolist() == r["suspected_level"].tolist()
    assert level_counts(r) == {"accountability": 2, "interview": 0, "none": 0, "no_ratio": 1}
    assert list(r.columns[:len(COUNTY_COLUMNS)]) == list(COUNTY_COLUMNS)


def test_unverified_pieces_are_refused():
    with pytest.raises(ValueError, match="apply the verdicts first"):
        decisive_pieces(pieces())


def test_a_failed_county_is_listed_without_figures_after_every_ranked_county(verified):
    r = decisive_ratios(verified, COUNTIES, T, failed={"220204": "BadVectorError: farmland.gpkg: bad"})
    assert list(r["county_code"]) == ["220202", "220211", "220204"]  # never left out
    lost = r.set_index("county_code").loc["220204"]
    assert lost.level == lost.suspected_level == "failed" and lost.level_reason == "failed"
    assert lost.failure_reason == "BadVectorError: farmland.gpkg: bad"
    assert math.isnan(lost.ratio) and pd.isna(lost["rank"]) and math.isnan(lost.illegal_farmland_m2)
    assert level_counts(r)["failed"] == 1 and level_counts(r)["no_ratio"] == 1
    ok = r.set_index("county_code").loc["220202"]
    assert ok.failure_reason is None and ok.ratio == pytest.approx(0.41)
