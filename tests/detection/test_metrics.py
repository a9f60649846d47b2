"""Confusion counts, pooled scores and flagged share on hand-made masks; the published
LEVIR-CD predictions as a check on real data."""
from __future__ import annotations

import numpy as np
import pytest

from detection.metrics import (
    Confusion,
    confusion,
    count_patches,
    f1,
    flagged_share,
    pool,
    pooled_scores,
    precision,
    recall,
)


def _mask(rows: list[str]) -> np.ndarray:
    return np.array([[ch == "x" for ch in r] for r in rows])


def test_confusion_counts_on_a_hand_made_mask():
    pred = _mask(["xx..",
                  "x...",
                  "...."])
    label = _mask(["x...",
                   "x..x",
                   "...."])
    c = confusion(pred, label)
    assert c == Confusion(tp=2, fp=1, fn=1, tn=8)
    assert c.total == 12
    assert precision(c) == pytest.approx(2 / 3)
    assert recall(c) == pytest.approx(2 / 3)
    assert f1(c) == pytest.approx(2 / 3)


def test_ignored_pixels_are_not_counted():
    pred = _mask(["xx", "x."])
    label = _mask(["x.", ".x"])
    ignore = _mask(["..", "xx"])  # the bottom row is nodata
    assert confusion(pred, label, ignore) == Confusion(tp=1, fp=1, fn=0, tn=0)


def test_pooling_sums_counts_before_the_ratios():
    a = Confusion(tp=9, fp=1, fn=0, tn=0)    # F1 0.947 on its own
    b = Confusion(tp=0, fp=0, fn=90, tn=10)  # F1 0 on its own
    s = pooled_scores([a, b])
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (9, 1, 90, 10)
    assert s["precision"] == pytest.approx(0.9)
    assert s["recall"] == pytest.approx(9 / 99)
    assert s["f1"] == pytest.approx(18 / 109)  # not the mean of per-pair F1s
    assert pool([]) == Confusion(0, 0, 0, 0)


def test_zero_denominators():
    nothing = Confusion(tp=0, fp=0, fn=0, tn=5)        # no change, none predicted: perfect
    assert (precision(nothing), recall(nothing), f1(nothing)) == (1.0, 1.0, 1.0)
    missed = Confusion(tp=0, fp=0, fn=4, tn=5)         # change, none predicted
    assert (precision(missed), recall(missed), f1(missed)) == (1.0, 0.0, 0.0)
    false_alarm = Confusion(tp=0, fp=3, fn=0, tn=5)    # no change, some predicted
    assert (precision(false_alarm), recall(false_alarm), f1(false_alarm)) == (0.0, 1.0, 0.0)


def test_inputs_must_be_boolean_and_the_same_shape():
    with pytest.raises(TypeError):
        confusion(np.zeros((2, 2), np.uint8), np.zeros((2, 2), bool))
    with pytest.raises(ValueError):
        confusion(np.zeros((2, 2), bool), np.zeros((2, 3), bool))


def test_flagged_share():
    pred = _mask(["xx..", "...."])
    assert flagged_share(pred) == pytest.approx(2 / 8)
    valid = _mask(["x.xx", "xxxx"])  # one flagged pixel is outside the scene
    assert flagged_share(pred, valid) == pytest.approx(1 / 7)
    assert flagged_share(pred, np.zeros_like(pred)) == 0.0


def test_count_patches_is_four_connected_with_a_minimum_size():
    pred = _mask(["xx...x",
                  "xx..x.",
                  "......",
                  "xxx..."])
    assert count_patches(pred) == 4           # the diagonal pair is two patches
    assert count_patches(pred, min_pixels=3) == 2
    assert count_patches(np.zeros((3, 3), bool)) == 0


def test_published_bit_predictions_score_high_on_levir_samples(shared_data):
    from PIL import Image

    folder = shared_data / "levir_cd_samples"
    preds = sorted((folder / "published_predictions" / "BIT").glob("*.png"))
    if not preds:
        pytest.skip("no published BIT predictions in levir_cd_samples")
    counts = []
    for p in preds:
        pred = np.asarray(Image.open(p)) == 255
        label = np.asarray(Image.open(folder / "label" / p.name)) == 255
        counts.append(confusion(pred, label))
    scores = pooled_scores(counts)
    assert scores["f1"] > 0.85
    assert scores["tp"] + scores["fp"] + scores["fn"] + scores["tn"] == 256 * 256 * len(preds)
