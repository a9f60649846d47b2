"""The compiled tree walk gives LightGBM's probabilities bit for bit, or declines the model."""
from __future__ import annotations

import dataclasses

import lightgbm as lgb
import numpy as np
import pytest

import detection.trees
from detection.learned import load_model
from detection.trees import compile_lightgbm, predict_proba


def _booster(x: np.ndarray, y: np.ndarray, **params) -> lgb.Booster:
    base = dict(objective="binary", num_leaves=15, min_data_in_leaf=5, verbose=-1, seed=1,
                deterministic=True, num_threads=1)
    base.update(params)
    rounds = base.pop("rounds", 20)
    return lgb.train(base, lgb.Dataset(x, y, free_raw_data=False), num_boost_round=rounds)


def _hard_rows(booster_text: str, n_features: int, rng: np.random.Generator) -> np.ndarray:
    """Rows whose values sit exactly on, and one float32 step either side of, the thresholds."""
    thresholds = []
    for line in booster_text.splitlines():
        if line.startswith("threshold="):
            thresholds += [float(v) for v in line.split("=", 1)[1].split()]
    t = np.float32(np.asarray(thresholds))
    near = np.concatenate([t, np.nextafter(t, np.float32(np.inf)), np.nextafter(t, np.float32(-np.inf))])
    return rng.choice(near, size=(4000, n_features)).astype(np.float32)


def test_shipped_model_probabilities_are_lightgbms_bit_for_bit(monkeypatch) -> None:
    model = load_model()
    assert model.trees is not None
    rng = np.random.default_rng(3)
    f = model.trees.n_features
    rows = np.concatenate([
        rng.normal(scale=2.0, size=(20000, f)).astype(np.float32),
        _hard_rows(model.booster.model_to_string(), f, rng),
    ])
    rows[::97, 5] = np.nan  # no-data counts as 0 in both
    rows[1::89, 7] = np.inf
    rows[2::83, 9] = -np.inf
    expected = model.booster.predict(rows, num_threads=1)
    got = predict_proba(model.trees, np.ascontiguousarray(rows.T))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)
    # a subset of the columns, in the order asked, copied in batches
    monkeypatch.setattr(detection.trees, "GATHERED_PER_BATCH", 1000)
    pick = rng.permutation(len(rows))[:3500]
    np.testing.assert_array_equal(predict_proba(model.trees, np.ascontiguousarray(rows.T), pick),
                                  expected[pick])


def test_learned_model_predict_is_the_same_with_and_without_the_compiled_trees() -> None:
    model = load_model()
    rng = np.random.default_rng(5)
    stack = rng.normal(size=(model.trees.n_features, 40, 30)).astype(np.float32)
    where = rng.random((40, 30)) > 0.4
    plain = dataclasses.replace(model, trees=None)
    for w in (None, where):
        np.testing.assert_array_equal(model.predict(stack, where=w), plain.predict(stack, where=w))


@pytest.mark.parametrize("params", [dict(), dict(objective="binary", sigmoid=1.7),
                                    dict(num_leaves=2), dict(rounds=1)])
def test_trained_binary_models_are_reproduced(params: dict) -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(3000, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] > 0.2).astype(int)
    booster = _booster(x, y, **params)
    trees = compile_lightgbm(booster.model_to_string())
    assert trees is not None
    test = np.concatenate([rng.normal(size=(5000, 6)).astype(np.float32),
                           _hard_rows(booster.model_to_string(), 6, rng)])
    np.testing.assert_array_equal(predict_proba(trees, np.ascontiguousarray(test.T)),
                                  booster.predict(test, num_threads=1))


def test_a_model_of_one_leaf_trees_is_reproduced() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 3)).astype(np.float32)
    y = np.r_[np.zeros(400), np.ones(100)].astype(int)
    booster = _booster(x, y, min_data_in_leaf=400, rounds=3)  # no split can be made
    text = booster.model_to_string()
    assert "num_leaves=1" in text
    trees = compile_lightgbm(text)
    assert trees is not None and trees.depth.max() == 0
    np.testing.assert_array_equal(predict_proba(trees, np.ascontiguousarray(x.T)),
                                  booster.predict(x, num_threads=1))


def test_models_it_cannot_reproduce_are_declined() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2000, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    # a missing-value rule (NaN in training): LightGBM sends NaN to a learned side
    x_nan = x.copy()
    x_nan[::7, 0] = np.nan
    assert compile_lightgbm(_booster(x_nan, y).model_to_string()) is None
    # a regression, not a binary classifier
    assert compile_lightgbm(_booster(x, x[:, 0], objective="regression").model_to_string()) is None
    # a categorical split
    xc = x.copy()
    xc[:, 1] = rng.integers(0, 5, size=len(x))
    yc = (xc[:, 1] == 2).astype(int)
    booster = lgb.train(dict(objective="binary", verbose=-1, min_data_in_leaf=5, num_threads=1),
                        lgb.Dataset(xc, yc, categorical_feature=[1]), num_boost_round=5)
    assert compile_lightgbm(booster.model_to_string()) is None


def test_bad_feature_shapes_are_refused() -> None:
    trees = load_model().trees
    with pytest.raises(ValueError):
        predict_proba(trees, np.zeros((3, 10), dtype=np.float32))
    with pytest.raises(IndexError):
        predict_proba(trees, np.zeros((trees.n_features, 10), dtype=np.float32), np.array([10]))
