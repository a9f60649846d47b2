"""Training pieces on tiny synthetic pairs: augmentations, samples, a model written and loaded."""
from __future__ import annotations

import numpy as np

from detection.compose import Settings, detect_arrays
from detection.features import feature_names
from detection.learned import load_model
from detection.normalize import robust_standardise, robust_standardise_params
from detection.trainer import train_to_files
from detection.training import (
    LabelledPair,
    TrainingSettings,
    block_mean,
    pair_samples,
    paste_roofs,
    recolour_segments,
)


def tiny_pair(seed: int = 0, size: int = 64) -> LabelledPair:
    rng = np.random.default_rng(seed)
    before = np.repeat(np.repeat(rng.uniform(60, 160, size=(3, size // 8, size // 8)), 8, 1), 8, 2)
    before = np.rint(before + rng.normal(0, 3, before.shape)).astype(np.float32)
    after = before.copy()
    label = np.zeros((size, size), dtype=bool)
    label[20:32, 24:40] = True
    after[:, 20:32, 24:40] = np.array([220, 220, 215], dtype=np.float32)[:, None, None]
    return LabelledPair("tiny", "tiny", before, after, label, 0.5)


def test_standardise_is_exact_under_a_dn_rescale():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 256, size=(3, 500)).astype(np.float32)
    c1, s1 = robust_standardise_params(x)
    c2, s2 = robust_standardise_params(x * 257)
    assert np.array_equal(c2, c1 * 257) and np.array_equal(s2, s1 * 257)
    assert np.array_equal(robust_standardise(x, c1, s1), robust_standardise(x * 257, c2, s2))


def test_block_mean():
    a = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    np.testing.assert_array_equal(block_mean(a, 2)[0], [[2.5, 4.5], [10.5, 12.5]])


def test_recolour_keeps_away_from_change_and_paste_adds_labelled_roofs():
    p = tiny_pair()
    rng = np.random.default_rng(1)
    after, recoloured = recolour_segments(p.before, p.after, p.label, rng, min_px=10)
    assert not (recoloured & p.label).any()
    np.testing.assert_array_equal(after[:, p.label], p.after[:, p.label])
    after2, label2 = paste_roofs(p.after, p.label, rng, count=20, side_px=(4, 8))
    assert label2.sum() > p.label.sum() and (label2 >= p.label).all()
    assert not np.array_equal(after2[:, label2 & ~p.label], p.after[:, label2 & ~p.label])


def test_pair_samples_rows_match_features():
    settings = TrainingSettings(factors=(1,), n_pos=50, n_neg=100)
    X, y, w = pair_samples(tiny_pair(), 1, settings, np.random.default_rng(0), augmented=True)
    assert X.shape[1] == len(feature_names()) and X.shape[0] == y.size == w.size
    assert 0 < y.sum() < y.size


def test_train_to_files_writes_a_loadable_model(tmp_path):
    settings = TrainingSettings(factors=(1,), n_pos=200, n_neg=400, rounds=5,
                                params={**TrainingSettings().params, "min_data_in_leaf": 5})
    out = tmp_path / "tiny_model.txt"
    card = train_to_files([tiny_pair(0), tiny_pair(1)], out, settings=settings)
    assert out.is_file() and out.with_suffix(".json").is_file() and out.with_suffix(".md").is_file()
    model = load_model(out)
    assert model.card["features"] == card["features"]
    p = tiny_pair(2)
    nan = np.full((1,) + p.label.shape, np.nan, dtype=np.float32)
    res = detect_arrays(np.concatenate([p.before[::-1], nan]), np.concatenate([p.after[::-1], nan]),
                        pixel_size_m=0.5, settings=Settings(model=str(out), min_area_m2=0.0))
    assert res.score.shape == p.label.shape


def test_pair_factors_and_sample_share_override_the_settings():
    from detection.training import training_matrix

    settings = TrainingSettings(factors=(1, 2), n_pos=40_000, n_neg=80_000, augment=False)
    base = tiny_pair()
    full = training_matrix([base], settings)["tiny"]
    one = LabelledPair("one", "one", base.before, base.after, base.label, 0.5, factors=(1,))
    small = LabelledPair("small", "small", base.before, base.after, base.label, 0.5, factors=(1,),
                         sample_share=0.5)
    m = training_matrix([one, small], settings)
    assert m["one"][1].size < full[1].size  # one factor instead of two
    assert m["small"][1].size < m["one"][1].size  # half the budget
