"""samplegen.false_changes: what differs between the dates but is not construction."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.features import geometry_mask
from rasterio.merge import merge

from samplegen.frame import MARGIN_M, make_frame
from samplegen.landscape import SEASON_CASES
from samplegen.layout import APPROVED_FILE, SCENE_FILE, TRUTH_FILE
from samplegen.raster import SHIFT_PX
from samplegen.spectra import GAIN, OFFSET
from samplegen.sun import SUN
from tests.samplegen.helpers import design, read, tiles

CASES = {"harvest", "ploughing", "late_harvest", "greenhouse", "water_fall", "water_rise"}


@pytest.fixture(scope="module")
def false(world):
    return read(world[0] / TRUTH_FILE, "false_changes")


def _mosaic(root, kind):
    srcs = [rasterio.open(p) for p in tiles(root, kind)]
    f = make_frame(1)
    arr, transform = merge(srcs, bounds=(f.west, f.south, f.east, f.north), nodata=0)
    for s in srcs:
        s.close()
    return arr, transform


def test_layer_fields_and_cases(false, world):
    assert false.crs.to_epsg() == 4551
    assert list(false.columns) == ["truth_id", "kind", "case", "material", "area_m2", "geometry"]
    assert set(false["kind"]) == {"false_change"}
    assert false["truth_id"].is_unique and false["truth_id"].str.fullmatch(r"F\d{3}").all()
    assert set(false["case"]) == CASES
    assert world[1]["false_changes"] == dict(false["case"].value_counts())
    assert (false.geometry.geom_type == "Polygon").all() and false.geometry.is_valid.all()


def test_false_changes_are_not_in_the_truth_ratios(false, world):
    """The truth counts construction only: no false change overlaps a construction site."""
    d = design(world[0])
    sites = shapely.union_all(d["patches"].geometry.values)
    not_fields = false[~false["case"].isin(set(SEASON_CASES.values()))]
    for row in not_fields.itertuples():  # greenhouses and water: away from construction
        assert row.geometry.distance(sites) >= MARGIN_M, row.truth_id


def test_greenhouses_are_on_farmland_under_a_facility_approval(false, world):
    d = design(world[0])
    approved = read(world[0] / APPROVED_FILE, "approved")
    facility = shapely.union_all(approved[approved["PZLX"] == "设施农用地"].geometry.values)
    greenhouses = false[false["case"] == "greenhouse"]
    assert len(greenhouses) == 3
    for row in greenhouses.itertuples():
        assert row.material == "plastic_film"
        assert d["farmland"].contains(row.geometry.buffer(-0.01)), row.truth_id
        assert facility.contains(row.geometry), row.truth_id
        others = approved[approved["PZLX"] != "设施农用地"]
        assert not others.geometry.intersects(row.geometry).any(), row.truth_id


def test_seasonal_changes_are_farmland_parcels_that_look_it(false, world):
    """Harvested fields lose their green, late-harvest fields are green only on the later date."""
    d = design(world[0])
    (before, transform), (after, _) = _mosaic(world[0], "before"), _mosaic(world[0], "after")

    def ndvi(arr, inside):
        red, nir = arr[2, inside].astype(float), arr[3, inside].astype(float)
        ok = (red > 0) & (nir > 0)
        return np.median((nir[ok] - red[ok]) / (nir[ok] + red[ok])) if ok.sum() > 100 else None

    covered = shapely.union_all([*d["patches"].geometry.values,
                                 *false[false["case"] == "greenhouse"].geometry.values])
    checked = 0
    for row in false[false["case"].isin(["harvest", "ploughing", "late_harvest"])].itertuples():
        assert d["farmland"].buffer(0.01).contains(row.geometry), row.truth_id
        if row.geometry.intersects(covered):  # partly built on or under film
            continue
        inside = ~geometry_mask([row.geometry.buffer(-6)], before.shape[1:], transform)
        then, now = ndvi(before, inside), ndvi(after, inside)
        if then is None or now is None:
            continue
        checked += 1
        if row.case == "harvest" or (row.case == "ploughing" and row.material == "ploughed"
                                     and then > 0.5):
            assert then > 0.6 and now < 0.35, (row.truth_id, row.case, then, now)
        elif row.case == "late_harvest":
            assert then < 0.35 and now > 0.6, (row.truth_id, then, now)
    assert checked > 50


def test_water_level_changes_stay_on_the_river_bank(false, world):
    d = design(world[0])
    water = false[false["case"].isin(["water_fall", "water_rise"])]
    assert set(water["material"]) == {"mudflat", "water"}
    for row in water.itertuples():
        assert row.geometry.distance(d["farmland"]) > 0, row.truth_id


def test_scene_changes_file(world):
    with open(world[0] / SCENE_FILE, encoding="utf-8") as f:
        rows = {(r["change"], r["parameter"]): float(r["value"]) for r in csv.DictReader(f)}
    assert rows[("shifted_date", "shift_east_px")] == SHIFT_PX[0]
    assert rows[("shifted_date", "shift_south_px")] == SHIFT_PX[1]
    assert rows[("different_sun", "sun_elevation_deg_after")] == SUN["after"][1]
    assert rows[("different_sun", "gain_blue")] == GAIN[0]
    assert rows[("different_sun", "offset_nir_dn")] == OFFSET[3]
    assert 0 < SHIFT_PX[1] < 1 and SHIFT_PX[0] == 1  # a sub-pixel and a whole-pixel shift
