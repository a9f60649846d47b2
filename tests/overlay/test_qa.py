"""Checks on the inputs the accounting relies on: overlapping patches and counties."""
import geopandas as gpd
import pytest
import shapely

from overlay.qa import overlapping_counties

X0, Y0 = 546000.0, 4857000.0


def box(x1, y1, x2, y2):
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def counties(*geoms, codes=None):
    codes = codes or [f"22020{i + 1}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"county_code": codes, "county_name": codes}, geometry=list(geoms),
                            crs=4551)


def test_overlapping_counties_measured_in_m2_smaller_code_first():
    layer = counties(box(0, 0, 100, 100), box(90, 0, 200, 100), box(200, 0, 300, 100),
                     codes=["220203", "220201", "220202"])
    out = overlapping_counties(layer)
    assert out.to_dict("records") == [
        {"county_code_a": "220201", "county_code_b": "220203", "overlap_m2": pytest.approx(1000.0)}]


def test_touching_counties_do_not_overlap():
    layer = counties(box(0, 0, 100, 100), box(100, 0, 200, 100))
    assert overlapping_counties(layer).empty


def test_overlap_in_geographic_crs_is_measured_in_metres():
    layer = counties(box(0, 0, 100, 100), box(50, 0, 200, 100)).to_crs(4490)
    out = overlapping_counties(layer)
    assert len(out) == 1
    assert out.overlap_m2.iloc[0] == pytest.approx(5000.0, rel=1e-5)  # straight edges bend slightly in 4490


def test_slivers_below_the_minimum_are_ignored():
    layer = counties(box(0, 0, 100, 100), box(99.9999, 0, 200, 100))
    assert overlapping_counties(layer, min_area_m2=0.1).empty
    assert len(overlapping_counties(layer, min_area_m2=0.001)) == 1


def test_a_county_inside_another_overlaps_by_its_whole_area():
    # an enclave drawn on top of its surrounding county (interiors meet, no boundary crosses)
    layer = counties(box(0, 0, 300, 300), box(100, 100, 200, 200), box(300, 0, 400, 300))
    out = overlapping_counties(layer)
    assert out.to_dict("records") == [
        {"county_code_a": "220201", "county_code_b": "220202", "overlap_m2": pytest.approx(10000.0)}]
