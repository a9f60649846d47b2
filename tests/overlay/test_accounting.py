import math

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from overlay.accounting import Thresholds, classify_ratio, county_ratios, passes
from overlay.split import split_patches

COUNTIES = pd.DataFrame({"county_code": ["220201", "220202", "220203"],
                         "county_name": ["甲县", "乙县", "丙县"]})


def pieces(rows):
    return pd.DataFrame(rows, columns=["county_code", "farmland_m2", "legal_farmland_m2",
                                       "illegal_farmland_m2", "basic_farmland_m2",
                                       "illegal_basic_farmland_m2"])


@pytest.mark.parametrize("illegal, reaches, exceeds", [
    (99.0, "none", "none"),
    (100.0, "interview", "none"),          # exactly 10%
    (101.0, "interview", "interview"),
    (149.0, "interview", "interview"),
    (150.0, "accountability", "interview"),  # exactly 15%
    (151.0, "accountability", "accountability"),
])
def test_threshold_boundaries(illegal, reaches, exceeds):
    table = pieces([("220201", 1000.0, 1000.0 - illegal, illegal, 0.0, 0.0)])
    both_reach = county_ratios(table, COUNTIES, Thresholds())
    both_exceed = county_ratios(table, COUNTIES, Thresholds(interview_rule="exceeds",
                                                            accountability_rule="exceeds"))
    assert both_reach.set_index("county_code").loc["220201", "ratio"] == illegal / 1000.0
    assert both_reach.set_index("county_code").loc["220201", "level"] == reaches
    assert both_exceed.set_index("county_code").loc["220201", "level"] == exceeds


def test_mixed_wording_jiangsu_style():
    # interview "exceeds" 10% (Jiangsu), accountability "reaches" 15% (Order No. 15)
    t = Thresholds(interview_rule="exceeds", accountability_rule="reaches")
    assert classify_ratio(0.10, t) == "none"
    assert classify_ratio(0.15, t) == "accountability"


def test_zero_denominator_has_no_ratio_and_no_rank():
    table = pieces([("220201", 1000.0, 900.0, 100.0, 0.0, 0.0)])
    out = county_ratios(table, COUNTIES, Thresholds()).set_index("county_code")
    for code in ("220202", "220203"):   # no patches at all
        assert math.isnan(out.loc[code, "ratio"])
        assert out.loc[code, "level"] == "no_ratio"
        assert pd.isna(out.loc[code, "rank"])
        assert out.loc[code, "occupied_farmland_m2"] == 0
    assert classify_ratio(float("nan"), Thresholds()) == "no_ratio"


def test_county_with_only_non_farmland_patches_has_no_ratio():
    table = pieces([("220202", 0.0, 0.0, 0.0, 0.0, 0.0)])
    out = county_ratios(table, COUNTIES, Thresholds()).set_index("county_code")
    assert out.loc["220202", "level"] == "no_ratio"
    assert out.loc["220202", "n_patches"] == 1


def test_rank_order_and_ties():
    table = pieces([("220201", 100.0, 80.0, 20.0, 0, 0), ("220202", 200.0, 160.0, 40.0, 0, 0),
                    ("220203", 100.0, 95.0, 5.0, 0, 0), ("220203", 100.0, 95.0, 5.0, 0, 0)])
    out = county_ratios(table, COUNTIES, Thresholds())
    assert list(out.county_code) == ["220201", "220202", "220203"]
    assert list(out["rank"]) == [1, 1, 3]
    assert out.set_index("county_code").loc["220203", "occupied_farmland_m2"] == 200.0
    assert list(out.columns[:7]) == ["county_code", "county_name", "occupied_farmland_m2",
                                     "illegal_farmland_m2", "ratio", "level", "rank"]


def test_passes_rejects_unknown_rule():
    with pytest.raises(ValueError):
        passes(0.1, 0.1, "at_least")
    with pytest.raises(ValueError):
        Thresholds(interview_rule="over")


def test_exact_ten_percent_from_geometry():
    """1000 m² of farmland occupied, 100 m² of it unapproved: exactly 10% through the overlay."""
    crs = 4551
    x0, y0 = 546000.0, 4857000.0
    b = lambda x1, y1, x2, y2: shapely.box(x0 + x1, y0 + y1, x0 + x2, y0 + y2)  # noqa: E731
    counties = gpd.GeoDataFrame({"county_code": ["220201"], "county_name": ["甲县"]},
                                geometry=[b(0, 0, 200, 200)], crs=crs)
    farmland = gpd.GeoDataFrame(geometry=[b(0, 0, 100, 100)], crs=crs)
    approved = gpd.GeoDataFrame(geometry=[b(0, 0, 90, 100)], crs=crs)
    patches = gpd.GeoDataFrame({"source_id": ["A", "B"]},
                               geometry=[b(80, 0, 100, 50), b(150, 150, 170, 170)], crs=crs)
    split = split_patches(patches, counties, farmland, farmland.iloc[:0], approved, year=2025)
    out = county_ratios(split, counties, Thresholds()).iloc[0]
    assert (out.occupied_farmland_m2, out.illegal_farmland_m2) == (1000.0, 500.0)
    assert out.ratio == 0.5 and out.level == "accountability"
    approved2 = gpd.GeoDataFrame(geometry=[b(0, 0, 98, 100)], crs=crs)
    split2 = split_patches(patches, counties, farmland, farmland.iloc[:0], approved2, year=2025)
    out2 = county_ratios(split2, counties, Thresholds()).iloc[0]
    assert out2.ratio == 0.1 and out2.level == "interview"
    out3 = county_ratios(split2, counties, Thresholds(interview_rule="exceeds")).iloc[0]
    assert out3.level == "none"
