"""samplegen.patches: the planted cases, where they sit, and the levels they give."""
from __future__ import annotations

import itertools

import pandas as pd
import pytest
import shapely

from samplegen.frame import MARGIN_M, PIXEL_M
from samplegen.layout import BASIC_FILE, RATIOS_FILE, TRUTH_FILE
from samplegen.patches import CASES, MATERIALS
from tests.samplegen.helpers import design, level, ratios, read


def test_patches_on_grid_sized_and_apart(world):
    patches = read(world[0] / TRUTH_FILE, "planted_patches")
    assert patches.crs.to_epsg() == 4551
    assert list(patches.columns) == ["truth_id", "kind", "case", "material", "area_m2",
                                     "geometry"]
    assert patches["truth_id"].is_unique and patches["truth_id"].str.fullmatch(r"T\d{3}").all()
    assert set(patches["kind"]) == {"construction"}
    for geom in patches.geometry:
        assert geom.is_valid and geom.geom_type == "Polygon"
        xy = shapely.get_coordinates(geom)
        assert (xy % 2 == 0).all(), "vertex off the 2 m grid"
        assert 600 <= geom.area <= 6000
    distances = [a.distance(b) for a, b in itertools.combinations(patches.geometry, 2)]
    assert min(distances) >= MARGIN_M


def test_every_material_is_planted_about_equally_often(world):
    patches = read(world[0] / TRUTH_FILE, "planted_patches")
    counts = patches["material"].value_counts()
    assert set(counts.index) == set(MATERIALS)
    assert counts.max() - counts.min() <= 1, dict(counts)
    assert world[1]["materials"] == dict(counts)


def test_every_case_is_planted(world):
    patches = read(world[0] / TRUTH_FILE, "planted_patches")
    assert set(patches["case"]) == set(CASES)
    assert (patches["case"] == "county_border").sum() == 1


def test_border_patch_straddles_exactly_two_counties(world):
    d = design(world[0])
    for row in d["patches"].itertuples():
        touched = {code: row.geometry.intersection(c) for code, c in d["counties"].items()
                   if row.geometry.intersection(c).area > 0.01}
        if row.case == "county_border":
            assert len(touched) == 2, row.truth_id
            for piece in touched.values():  # farmland on both sides
                assert piece.intersection(d["farmland"]).area > 100
        else:
            assert len(touched) == 1, row.truth_id


def test_cases_sit_on_the_land_they_name(world):
    d = design(world[0])
    basic = shapely.union_all(read(world[0] / BASIC_FILE).geometry.values)
    for row in d["patches"].itertuples():
        geom = row.geometry
        farm = geom.intersection(d["farmland"]).area / geom.area
        approved = geom.intersection(d["approved"]).area / geom.area
        on_basic = geom.intersection(basic).area / geom.area
        # farmland is stored in EPSG:4490: shares come back within 1e-6 of 0 or 1
        farm_all, farm_none = abs(farm - 1) < 1e-6, farm < 1e-6
        none_approved, none_basic = approved < 1e-6, on_basic < 1e-6
        expected = {
            "farmland_unapproved": farm_all and none_approved and none_basic,
            "farmland_approved": farm_all and abs(approved - 1) < 1e-6 and none_basic,
            "farmland_partly_approved": farm_all and 0.1 < approved < 0.9 and none_basic,
            "basic_farmland_unapproved": abs(on_basic - 1) < 1e-6 and none_approved,
            "off_farmland": farm_none and geom.distance(d["farmland"]) >= MARGIN_M,
            "partly_on_farmland": 0.2 < farm < 0.8 and none_approved,
            "county_border": farm_all and none_approved,
        }[row.case]
        assert expected, f"{row.truth_id} ({row.case}): farmland {farm:.2f} approved {approved:.2f}"


@pytest.mark.parametrize("grow_m", [-PIXEL_M, PIXEL_M])
def test_levels_survive_one_pixel_row_more_or_less(world, grow_m):
    d = design(world[0])
    expected = pd.read_csv(world[0] / RATIOS_FILE, dtype={"county_code": str}).set_index(
        "county_code")["level"]
    moved = d["patches"].geometry.buffer(grow_m, join_style="mitre")
    for code, ratio in ratios(d, moved).items():
        assert level(ratio) == expected[code], (code, ratio)
