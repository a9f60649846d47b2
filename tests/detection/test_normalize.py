"""Robust gain/offset fit: recovers the radiometric difference despite large seasonal change."""
from __future__ import annotations

import numpy as np
import pytest

from detection.normalize import apply_gain_offset, fit_gain_offset, sample_stride

SPECTRA = {
    "crop": (300, 600, 400, 3500),
    "soil": (900, 1200, 1500, 2000),
    "grass": (250, 500, 300, 3000),
    "water": (600, 500, 300, 150),
    "built": (1500, 1550, 1600, 1800),
    "concrete": (2800, 2900, 3000, 3100),
}
GAIN = np.array([1.04, 1.06, 1.08, 1.05])
OFFSET = np.array([50.0, 100.0, 150.0, 80.0])


def world(n: int, p: list[float], swap: float, seed: int = 0):
    """(4, n) before/after samples; a fraction ``swap`` of crop/soil swaps seasonally."""
    rng = np.random.default_rng(seed)
    names = np.array(["crop", "soil", "grass", "water", "built"])
    cls_b = rng.choice(names, n, p=p).astype("<U10")
    cls_a = cls_b.copy()
    u = rng.random(n)
    cls_a[(cls_b == "crop") & (u < swap)] = "soil"
    cls_a[(cls_b == "soil") & (u < swap)] = "crop"
    cls_a[u > 0.99] = "concrete"
    var = rng.uniform(-150, 150, (4, n))
    spec = lambda c: np.array([SPECTRA[x] for x in c], dtype=float).T  # noqa: E731
    before = spec(cls_b) + var + rng.normal(0, 40, (4, n))
    after = (spec(cls_a) + var + rng.normal(0, 40, (4, n))) * GAIN[:, None] + OFFSET[:, None]
    return before, after


@pytest.mark.parametrize("swap", [0.0, 0.3, 1.0])
def test_recovers_gain_offset_even_when_most_farmland_swaps(swap):
    # 70 % of the pixels are farmland; with swap=1.0 the unchanged pixels are a 30 % minority
    before, after = world(60_000, [0.45, 0.25, 0.15, 0.05, 0.10], swap)
    gains, offsets, n = fit_gain_offset(before, after)
    np.testing.assert_allclose(gains, GAIN, atol=0.01)
    np.testing.assert_allclose(offsets, OFFSET, atol=25)
    assert n > 1000


def test_identical_data_gives_identity():
    before, _ = world(5000, [0.45, 0.25, 0.15, 0.05, 0.10], 0.0)
    gains, offsets, _ = fit_gain_offset(before, before.copy())
    np.testing.assert_allclose(gains, 1.0, atol=1e-9)
    np.testing.assert_allclose(offsets, 0.0, atol=1e-6)


def test_degenerate_inputs_do_not_crash():
    g, o, n = fit_gain_offset(np.zeros((4, 0)), np.zeros((4, 0)))
    assert g.tolist() == [1, 1, 1, 1] and o.tolist() == [0, 0, 0, 0] and n == 0
    flat = np.full((4, 500), 100.0)
    g, o, _ = fit_gain_offset(flat, flat + 7)
    np.testing.assert_allclose(g, 1.0)
    np.testing.assert_allclose(o, 7.0)


def test_apply_inverts_the_model_and_keeps_nan():
    before = np.array([[[100.0, np.nan]], [[200.0, 1.0]], [[300.0, 1.0]], [[400.0, 1.0]]], dtype=np.float32)
    after = before * GAIN[:, None, None] + OFFSET[:, None, None]
    back = apply_gain_offset(after, GAIN, OFFSET)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, before, rtol=1e-5)
    assert np.isnan(back[0, 0, 1])


def test_sample_stride():
    assert sample_stride(100, 100, 250_000) == 1
    assert sample_stride(50_000, 50_000, 250_000) == 100


def test_gain_is_clamped_when_the_dates_are_unrelated():
    rng = np.random.default_rng(3)
    before = rng.uniform(100, 3000, (4, 5000))
    after = rng.uniform(100, 3000, (4, 5000))  # no relation at all
    gains, offsets, _ = fit_gain_offset(before, after)
    assert np.all(gains >= 0.67) and np.all(gains <= 1.5)
