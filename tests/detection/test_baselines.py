"""CVA + Otsu and PCA-KMeans on small synthetic pairs whose change is known by construction."""
from __future__ import annotations

import numpy as np
import pytest

from detection.baselines import cva_otsu, difference_magnitude, pca_kmeans, standardise
from detection.metrics import confusion, f1


def _scene(seed: int = 0, shape: tuple[int, int] = (64, 64)) -> np.ndarray:
    """A textured 3-band scene (smooth field plus noise), DN 0..255."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    base = 80 + 20 * np.sin(x / 7.0) + 15 * np.cos(y / 5.0)
    bands = [base + k * 10 + rng.normal(0, 3, shape) for k in range(3)]
    return np.stack(bands).astype(np.float32)


def _pair_with_square(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    before = _scene(seed)
    after = before + np.random.default_rng(seed + 1).normal(0, 3, before.shape).astype(np.float32)
    truth = np.zeros(before.shape[1:], bool)
    truth[20:36, 24:44] = True
    after[:, truth] = 240.0  # a bright new roof
    return before, after, truth


@pytest.mark.parametrize("method", [cva_otsu, pca_kmeans])
def test_a_bright_square_that_appears_is_found(method):
    before, after, truth = _pair_with_square()
    pred = method(before, after)
    assert pred.dtype == bool and pred.shape == truth.shape
    c = confusion(pred, truth)
    assert c.tp / truth.sum() > 0.9
    assert f1(c) > 0.8


@pytest.mark.parametrize("method", [cva_otsu, pca_kmeans])
def test_identical_dates_flag_nothing(method):
    scene = _scene(3)
    assert not method(scene, scene.copy()).any()


@pytest.mark.parametrize("method", [cva_otsu, pca_kmeans])
def test_invalid_pixels_are_never_change_and_nan_is_invalid(method):
    before, after, truth = _pair_with_square()
    valid = np.ones(truth.shape, bool)
    valid[:, :30] = False  # half the square is outside the valid area
    before[:, 0, 40] = np.nan
    pred = method(before, after, valid)
    assert not pred[~valid].any()
    assert not pred[0, 40]
    assert pred[20:36, 30:44].mean() > 0.9


def test_cva_is_blind_to_a_gain_and_offset_between_dates():
    before, after, truth = _pair_with_square()
    pred_plain = cva_otsu(before, after)
    pred_scaled = cva_otsu(before, 1.3 * after + 12.0)  # per-date standardisation removes it
    assert np.array_equal(pred_plain, pred_scaled)


def test_standardise_and_difference_magnitude():
    img = np.stack([np.arange(12, dtype=float).reshape(3, 4), np.full((3, 4), 5.0)])
    valid = np.ones((3, 4), bool)
    z = standardise(img, valid)
    assert z[0].mean() == pytest.approx(0) and z[0].std() == pytest.approx(1)
    assert np.all(z[1] == 0)  # a constant band becomes 0, not NaN
    a = img.copy()
    a[:, 1, 2] += np.array([3.0, 4.0])
    d = difference_magnitude(img, a, standardised=False)
    assert d[1, 2] == pytest.approx(5.0) and d.sum() == pytest.approx(5.0)


def test_pca_kmeans_rejects_bad_parameters_and_shapes():
    before, after, _ = _pair_with_square()
    with pytest.raises(ValueError):
        pca_kmeans(before, after, block=4, components=17)
    with pytest.raises(ValueError):
        cva_otsu(before, after[:2])


def test_pca_kmeans_is_deterministic():
    before, after, _ = _pair_with_square(5)
    assert np.array_equal(pca_kmeans(before, after), pca_kmeans(before, after))
