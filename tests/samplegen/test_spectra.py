"""samplegen.spectra: the materials and surfaces look like what they are."""
from __future__ import annotations

import numpy as np
from shapely.geometry import box

from samplegen.features import Feature
from samplegen.spectra import (DN_STEP, FALSE_CHANGE_CLASSES, LAND_COVER, MATERIAL_CLASSES,
                               SPECTRA, finish, spectra_tables)


def test_material_spectra_have_their_shapes():
    b, g, r, n = MATERIAL_CLASSES["red_tile"]
    assert r > g > b and r / b > 2 and 2000 < n < 3500  # red-sloped, NIR moderate
    b, g, r, n = MATERIAL_CLASSES["blue_steel"]
    assert b > g > r
    assert min(MATERIAL_CLASSES["white_steel"]) > 3000
    b, g, r, n = MATERIAL_CLASSES["grey_concrete"]
    assert abs(r - b) / (r + b) < 0.1 and b < g < r < n
    assert max(MATERIAL_CLASSES["asphalt"]) < 1000
    b, g, r, n = MATERIAL_CLASSES["earthworks"]
    soil = LAND_COVER["bare"]
    assert r > g > b and b > soil[0] and r > soil[2]  # soil-like slope, brighter than soil


def test_false_change_surfaces():
    crop, stubble, ploughed = (LAND_COVER[c] for c in ("crop", "stubble", "ploughed"))
    ndvi = {name: (v[3] - v[2]) / (v[3] + v[2]) for name, v in
            (("crop", crop), ("stubble", stubble), ("ploughed", ploughed))}
    assert ndvi["crop"] > 0.6 and ndvi["stubble"] < 0.3 and ndvi["ploughed"] < 0.3
    assert sum(stubble) > sum(crop[:3]) and sum(ploughed[:3]) < sum(stubble[:3])
    film = FALSE_CHANGE_CLASSES["plastic_film"]
    assert min(film) > 2000  # bright like a roof
    assert set(SPECTRA) == set(LAND_COVER) | set(MATERIAL_CLASSES) | set(FALSE_CHANGE_CLASSES)


def test_a_feature_keeps_its_variation_when_its_class_stays():
    features = [Feature(box(0, 0, 2, 2), "red_tile", "red_tile", (1.2, 0.9)),
                Feature(box(0, 0, 2, 2), "crop", "stubble")]
    tables = spectra_tables(features, np.random.default_rng(0))
    base = np.asarray(SPECTRA["red_tile"], np.float32)
    variation = tables.dn["before"][1] / 1.2 - base
    np.testing.assert_allclose(tables.dn["after"][1] / 0.9 - base, variation, atol=0.05)
    assert np.abs(variation).max() <= 150
    assert tables.texture["before"][2] == 0 and tables.texture["after"][2] in (1, 2)


def test_finish_rounds_to_steps_and_zeroes_nodata():
    dn = np.full((4, 2, 3), 1234.0, dtype=np.float32)
    valid = np.array([[True, True, False], [True, True, True]])
    out = finish(dn, valid, np.random.default_rng(1), None)
    assert out.dtype == np.uint16 and (out % DN_STEP == 0).all()
    assert (out[:, 0, 2] == 0).all() and (out[:, valid] > 0).all()
    assert np.abs(out[:, valid].astype(int) - 1234).max() <= 150
