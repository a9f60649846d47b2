"""Applying field verdicts: every verdict's effect on the ratio's numerator and denominator.

A tiny world measured by the overlay, figures computed by hand (EPSG:4551, metres):

- county 220201: x 546000-546100, county 220202: x 546100-546200 (y 4857000-4857100);
- farmland: the lower half of both (y < 4857050); approvals: the strip x < 546020.

| patch | box (x, y)                    | county | area | farmland | legal | illegal |
|-------|-------------------------------|--------|------|----------|-------|---------|
| P1    | 546010-546040, 4857010-030    | 220201 | 600  | 600      | 200   | 400     |
| P2    | 546050-546070, 4857040-060    | 220201 | 400  | 200      | 0     | 200     |
| P3    | 546060-546080, 4857070-090    | 220201 | 400  | 0        | 0     | 0       |
| P4    | 546090-546110, 4857010-030    | 220201 | 200  | 200      | 0     | 200     |
|       |                               | 220202 | 200  | 200      | 0     | 200     |

Suspected county 220201: illegal 800 / occupied 1000; 220202: 200 / 200.
"""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from overlay import contracts as c
from overlay.split import split_patches
from overlay.verdicts import (Problem, apply_verdicts, check_verdicts, resolve_effects,
                              verification_progress)

CRS = 4551


@pytest.fixture(scope="module")
def world():
    counties = gpd.GeoDataFrame(
        {"county_code": ["220201", "220202"], "county_name": ["甲县", "乙县"]},
        geometry=[shapely.box(546000, 4857000, 546100, 4857100),
                  shapely.box(546100, 4857000, 546200, 4857100)], crs=CRS)
    farmland = gpd.GeoDataFrame(geometry=[shapely.box(546000, 4857000, 546200, 4857050)], crs=CRS)
    approved = gpd.GeoDataFrame(geometry=[shapely.box(546000, 4857000, 546020, 4857100)], crs=CRS)
    patches = gpd.GeoDataFrame(
        {"source_id": ["P1", "P2", "P3", "P4"]},
        geometry=[shapely.box(546010, 4857010, 546040, 4857030),
                  shapely.box(546050, 4857040, 546070, 4857060),
                  shapely.box(546060, 4857070, 546080, 4857090),
                  shapely.box(546090, 4857010, 546110, 4857030)], crs=CRS)
    pieces = split_patches(patches, counties, farmland, farmland.iloc[:0], approved, year=2025,
                           official_ids=True)
    return pieces, counties


def figures(pieces: pd.DataFrame, jcbh: str, county: str = "220201") -> tuple[float, float, float]:
    row = pieces[(pieces.patch_id == jcbh) & (pieces.county_code == county)].iloc[0]
    return row.farmland_m2, row.legal_farmland_m2, row.illegal_farmland_m2


def test_the_world_is_as_computed_by_hand(world):
    pieces, _ = world
    assert figures(pieces, "P1") == pytest.approx((600, 200, 400))
    assert figures(pieces, "P2") == pytest.approx((200, 0, 200))
    assert figures(pieces, "P3") == pytest.approx((0, 0, 0))
    assert figures(pieces, "P4") == pytest.approx((200, 0, 200))
    assert figures(pieces, "P4", "220202") == pytest.approx((200, 0, 200))


def table(*rows) -> pd.DataFrame:
    """A checked verdict table from (JCBH, county or None, verdict code or None, WFMJ or NaN)."""
    return pd.DataFrame([{
        "patch_id": j, "county_code": county, "verdict": v, "wfmj_m2": w, "rectification": None,
        "remarks": None, "verifier": None, "verified_on": None, "photos": None,
        "source_file": "r.xlsx", "row": i + 2,
    } for i, (j, county, v, w) in enumerate(rows)], columns=list(c.VERDICT_COLUMNS))


def county_sums(verified: pd.DataFrame, county: str = "220201") -> tuple[float, float]:
    """(numerator, denominator) of the county's verified ratio."""
    part = verified[verified.county_code == county]
    return (float(part.verified_illegal_farmland_m2.sum()), float(part.verified_farmland_m2.sum()))


# P1 alone gets a verdict; P2 and P4 stay unverified (illegal 200 + 200, occupied 200 + 200).
@pytest.mark.parametrize("pdlx, wfmj, p1, numerator, denominator, counts", [
    ("违法", math.nan, (400, 200), 800, 1000, True),     # the farmland part outside approvals
    ("违法", 500.0, (500, 100), 900, 1000, True),        # WFMJ: illegal 500, the rest of 600 legal
    ("违法", 100.0, (100, 500), 500, 1000, True),        # WFMJ below the overlay's figure
    ("合法", math.nan, (0, 600), 400, 1000, True),       # legal: denominator only
    ("伪变化", math.nan, (0, 0), 400, 400, False),       # not construction: leaves both
    ("设施农用地", math.nan, (0, 0), 400, 400, False),
    ("临时用地", math.nan, (0, 0), 400, 400, False),
    ("其他", math.nan, (400, 200), 800, 1000, True),     # unverified: the overlay's figure stands
    (None, math.nan, (400, 200), 800, 1000, True),       # PDLX empty: unverified
])
def test_every_verdict_on_numerator_and_denominator(world, pdlx, wfmj, p1, numerator, denominator,
                                                    counts):
    pieces, _ = world
    code = c.verdict_of(pdlx).code if pdlx else None
    verified = apply_verdicts(pieces, table(("P1", None, code, wfmj)))
    row = verified[verified.patch_id == "P1"].iloc[0]
    assert (row.verified_illegal_farmland_m2, row.verified_legal_farmland_m2) == pytest.approx(p1)
    assert row.verified_farmland_m2 == pytest.approx(sum(p1))
    assert bool(row.counts_as_construction) is counts
    assert row.verdict == code
    expected_effect = c.VERDICT_BY_CODE[code].default_effect if code else c.EFFECT_UNVERIFIED
    assert row.effect == expected_effect
    assert county_sums(verified) == pytest.approx((numerator, denominator))
    # the overlay's own figures are untouched
    assert figures(verified, "P1") == pytest.approx((600, 200, 400))


def test_no_verdicts_keeps_the_suspected_figures(world):
    pieces, _ = world
    verified = apply_verdicts(pieces, table())
    assert county_sums(verified) == pytest.approx((800, 1000))
    assert county_sums(verified, "220202") == pytest.approx((200, 200))
    assert set(verified.effect) == {c.EFFECT_UNVERIFIED}
    assert verified.verdict.isna().all() and verified.verdict_source.isna().all()
    assert list(verified.columns[-len(c.VERIFIED_COLUMNS):]) == list(c.VERIFIED_COLUMNS)


def test_non_farmland_patch_judged_illegal_adds_nothing(world):
    pieces, _ = world
    verified = apply_verdicts(pieces, table(("P3", None, "illegal", math.nan)))
    row = verified[verified.patch_id == "P3"].iloc[0]
    assert (row.verified_illegal_farmland_m2, row.verified_farmland_m2) == (0, 0)
    assert county_sums(verified) == pytest.approx((800, 1000))


def test_wfmj_is_capped_at_the_farmland_part(world):
    pieces, _ = world
    verified = apply_verdicts(pieces, table(("P1", None, "illegal", 600.4)))
    row = verified[verified.patch_id == "P1"].iloc[0]
    assert (row.verified_illegal_farmland_m2, row.verified_legal_farmland_m2) == pytest.approx((600, 0))


def test_straddling_patch_row_without_county_applies_to_both_pieces(world):
    pieces, _ = world
    verified = apply_verdicts(pieces, table(("P4", None, "false_change", math.nan)))
    assert county_sums(verified) == pytest.approx((600, 800))
    assert county_sums(verified, "220202") == pytest.approx((0, 0))


def test_straddling_patch_row_with_county_applies_to_that_piece(world):
    pieces, _ = world
    verified = apply_verdicts(pieces, table(("P4", "220202", "legal", math.nan),
                                            ("P4", "220201", "illegal", 150.0)))
    assert county_sums(verified, "220202") == pytest.approx((0, 200))
    assert county_sums(verified) == pytest.approx((400 + 200 + 150, 1000))


def test_effects_can_be_configured(world):
    pieces, _ = world
    effects = resolve_effects({"临时用地": "illegal", "other": "legal"})
    verified = apply_verdicts(pieces, table(("P1", None, "temporary_use", math.nan),
                                            ("P2", None, "other", math.nan)), effects)
    assert figures(verified, "P1") == pytest.approx((600, 200, 400))
    p1 = verified[verified.patch_id == "P1"].iloc[0]
    p2 = verified[verified.patch_id == "P2"].iloc[0]
    assert (p1.effect, p1.verified_illegal_farmland_m2) == ("illegal", pytest.approx(400))
    assert (p2.effect, p2.verified_illegal_farmland_m2, p2.verified_legal_farmland_m2) == \
        ("legal", 0, pytest.approx(200))
    with pytest.raises(ValueError, match="effect 'void'"):
        resolve_effects({"违法": "void"})


def test_same_verdict_twice_is_accepted_and_the_first_row_decides(world):
    pieces, _ = world
    verified = apply_verdicts(pieces, table(("P1", None, None, math.nan),
                                            ("P1", None, "legal", math.nan),
                                            ("P1", None, "legal", math.nan)))
    assert verified[verified.patch_id == "P1"].iloc[0].verdict_source == "r.xlsx row 3"


def test_apply_refuses_what_check_reports(world):
    pieces, _ = world
    with pytest.raises(ValueError, match="two different verdicts"):
        apply_verdicts(pieces, table(("P1", None, "legal", math.nan), ("P1", None, "illegal", math.nan)))
    with pytest.raises(ValueError, match="no piece"):
        apply_verdicts(pieces, table(("P9", None, "legal", math.nan)))


def test_verification_progress(world):
    pieces, counties = world
    verified = apply_verdicts(pieces, table(("P1", None, "legal", math.nan),
                                            ("P2", None, "other", math.nan),
                                            ("P4", "220202", "illegal", math.nan)))
    progress = verification_progress(verified, counties)
    assert list(progress.columns) == list(c.PROGRESS_COLUMNS)
    a, b = progress.iloc[0], progress.iloc[1]
    assert (a.county_code, a.n_pieces, a.n_verified, a.n_unverified, a.complete) == \
        ("220201", 4, 1, 3, False)
    assert a.verified_share == pytest.approx(0.25)
    assert (b.county_code, b.n_pieces, b.n_verified, b.complete, b.verified_share) == \
        ("220202", 1, 1, True, 1.0)
    empty = pd.DataFrame({"county_code": ["220299"], "county_name": ["丙县"]})
    row = verification_progress(verified, pd.concat([counties[["county_code", "county_name"]], empty]))
    assert row.iloc[2].n_pieces == 0 and bool(row.iloc[2].complete) and np.isnan(row.iloc[2].verified_share)


# ------------------------------------------------------------------------- check (pure)

def raw(*rows: dict, geometry: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame([{"source_file": "v.xlsx", "row": i + 2, **r} for i, r in enumerate(rows)])
    if geometry:
        return gpd.GeoDataFrame(frame, geometry="geometry", crs=CRS)
    return frame


def lines(problems: list[Problem]) -> list[str]:
    return [p.line() for p in problems]


def test_check_clean_rows_give_the_table(world):
    pieces, _ = world
    checked, problems = check_verdicts(raw({"JCBH": "P1", "PDLX": " 违法 ", "WFMJ": 500,
                                            "HCRQ": "2025-11-03", "ZGZT": "整改中", "HCR": "张三"},
                                           {"JCBH": "P4", "PDLX": "合法", "XZQDM": 220202}), pieces)
    assert problems == []
    assert list(checked.columns) == list(c.VERDICT_COLUMNS)
    first, second = checked.iloc[0], checked.iloc[1]
    assert (first.patch_id, first.county_code, first.verdict, first.wfmj_m2, first.rectification,
            first.verified_on, first.verifier) == ("P1", None, "illegal", 500.0, "in_progress",
                                                   "2025-11-03", "张三")
    assert (second.county_code, second.verdict) == ("220202", "legal")


def test_check_wfmj_tolerance_boundary(world):
    pieces, _ = world
    # farmland 600: tolerance 0.01 + 0.6 m²
    assert check_verdicts(raw({"JCBH": "P1", "PDLX": "违法", "WFMJ": 600.61}), pieces)[1] == []
    _, problems = check_verdicts(raw({"JCBH": "P1", "PDLX": "违法", "WFMJ": 600.62}), pieces)
    assert lines(problems) == ["v.xlsx: row 2: JCBH P1: WFMJ 600.62 m² is larger than the patch's "
                               "farmland part 600.00 m² in county 220201 (tolerance 0.61 m²)"]


def test_check_wfmj_zero_means_not_given(world):
    pieces, _ = world
    checked, problems = check_verdicts(raw({"JCBH": "P1", "PDLX": "合法", "WFMJ": 0.0}), pieces)
    assert problems == [] and math.isnan(checked.iloc[0].wfmj_m2)


def test_check_geometry_within_tolerance_in_another_crs(world):
    pieces, _ = world
    piece = pieces[pieces.patch_id == "P1"].geometry.iloc[0]
    returned = gpd.GeoDataFrame({"source_file": ["v.gpkg"], "row": [1], "JCBH": ["P1"],
                                 "PDLX": ["违法"]}, geometry=[piece], crs=CRS).to_crs(4490)
    assert check_verdicts(returned, pieces)[1] == []
    moved = returned.to_crs(CRS)
    moved["geometry"] = moved.geometry.translate(0.5, 0)  # 0.5 m: 20*0.5*2 / 600 = 3.33 %
    assert lines(check_verdicts(moved, pieces)[1]) == [
        "v.gpkg: row 1: JCBH P1: geometry moved or reshaped against the patch's piece in 220201: "
        "3.33 % of its area differs (tolerance 1.00 %), centroid moved 0.50 m (tolerance 1 m)"]
    assert check_verdicts(moved, pieces, max_reshape=0.05)[1] == []
    point = moved.copy()
    point["geometry"] = [shapely.Point(546020, 4857020)]
    assert lines(check_verdicts(point, pieces)[1]) == [
        "v.gpkg: row 1: JCBH P1: geometry is a Point, not a polygon"]


def test_check_problem_lines_stay_on_one_line(world):
    pieces, _ = world
    _, problems = check_verdicts(raw({"JCBH": "P1\nP2", "PDLX": "违\n法"}), pieces)
    assert lines(problems) == [
        "v.xlsx: row 2: JCBH 'P1\\nP2' holds control characters (a line break?)",
        "v.xlsx: row 2: PDLX '违\\n法' is not a verdict: expected one of 合法、违法、伪变化、设施农用地、临时用地、其他",
    ]
