"""The new-construction score on the spectra of the sample world (DN = reflectance x 10000)."""
from __future__ import annotations

import numpy as np
import pytest

from detection.score import construction_score, normalized_difference, reflectance_scale

SPECTRA = {
    "crop": (300, 600, 400, 3500),
    "soil": (900, 1200, 1500, 2000),
    "grass": (250, 500, 300, 3000),
    "water": (600, 500, 300, 150),
    "built": (1500, 1550, 1600, 1800),
    "concrete": (2800, 2900, 3000, 3100),
    "steel": (3000, 2400, 1800, 2000),
}


def pixel(name: str, shift=(0, 0, 0, 0)) -> np.ndarray:
    """A (4, 1, 1) image of one spectrum."""
    return (np.asarray(SPECTRA[name], dtype=np.float32) + np.asarray(shift, dtype=np.float32))[:, None, None]


def score(before: str, after: str, b_shift=(0, 0, 0, 0), a_shift=(0, 0, 0, 0)) -> float:
    return float(construction_score(pixel(before, b_shift), pixel(after, a_shift), scale=10000.0)[0, 0])


@pytest.mark.parametrize("ground", ["crop", "soil", "grass"])
@pytest.mark.parametrize("new", ["concrete", "steel"])
def test_new_construction_scores_high(ground, new):
    assert score(ground, new) > 0.15


@pytest.mark.parametrize("before,after", [
    ("crop", "soil"), ("soil", "crop"), ("grass", "soil"), ("soil", "grass"),
    ("crop", "crop"), ("built", "built"), ("water", "water"), ("concrete", "concrete"),
    ("concrete", "crop"),  # demolition / re-farming is not new construction
])
def test_seasonal_unchanged_and_removal_score_zero(before, after):
    assert score(before, after) == 0.0


def test_seasonal_swap_with_worst_field_variation_stays_below_floor():
    # the darkest crop and the bluest, least red soil the sample's +-150 variation allows
    worst = score("crop", "soil", b_shift=(-150, 0, 0, 0), a_shift=(150, 0, -150, 0))
    assert worst < 0.08


def test_identical_images_score_exactly_zero():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 10000, size=(4, 20, 30)).astype(np.float32)
    assert not construction_score(img, img.copy()).any()


def test_invalid_pixels_score_zero():
    before = np.repeat(pixel("crop"), 3, axis=2)
    after = np.repeat(pixel("concrete"), 3, axis=2)
    after[:, 0, 1] = np.nan
    valid = np.array([[True, True, False]])
    out = construction_score(before, after, valid)
    assert out[0, 0] > 0.15 and out[0, 1] == 0 and out[0, 2] == 0


def test_score_is_in_reflectance_units_whatever_the_scale():
    b8 = pixel("crop") / 10000 * 255
    a8 = pixel("concrete") / 10000 * 255
    assert construction_score(b8, a8, scale=255.0)[0, 0] == pytest.approx(score("crop", "concrete"), rel=1e-5)


def test_normalized_difference_guards_zero_sum():
    assert normalized_difference(np.array([0.0, 3.0]), np.array([0.0, 1.0])).tolist() == [0.0, 0.5]


def test_reflectance_scale_from_dtype():
    assert reflectance_scale("uint8") == 255.0
    assert reflectance_scale("uint16") == 10000.0
    assert reflectance_scale("int16") == 10000.0
    assert reflectance_scale("float32", p99=0.4) == 1.0
    assert reflectance_scale("float32", p99=3500.0) == 10000.0


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError):
        construction_score(np.zeros((4, 2, 2)), np.zeros((3, 2, 2)))


def test_gain_offset_difference_scores_zero_once_normalised():
    gains = np.array([1.05, 1.06, 1.07, 1.04])
    offsets = np.array([80.0, 60.0, 120.0, 100.0])
    before = np.concatenate([pixel(n) for n in SPECTRA], axis=2)  # (4, 1, 7)
    after = before * gains[:, None, None].astype(np.float32) + offsets[:, None, None].astype(np.float32)
    out = construction_score(before, after, gains=gains, offsets=offsets)
    assert np.abs(out).max() < 1e-6
    # without normalisation the +80 DN blue offset alone would read as change on grey surfaces
    assert construction_score(before, after).max() > 0.005


def test_after_state_tests_use_the_after_date_as_delivered():
    # a bluish green crop (blue 2300) after soil: blue gained, but the field is green
    before = pixel("soil")
    after = pixel("crop") + np.float32(2000) * np.array([1, 0, 0, 0], dtype=np.float32)[:, None, None]
    zero = np.zeros(4)
    assert construction_score(before, after, gains=np.ones(4), offsets=zero)[0, 0] == 0.0
    # a wildly wrong NIR gain would make the normalised crop look bare (NIR 3500 -> 350);
    # the NDVI test reads the after date as delivered, so the score stays 0
    bad_gains = np.array([1.0, 1.0, 1.0, 10.0])
    assert construction_score(before, after, gains=bad_gains, offsets=zero)[0, 0] == 0.0
