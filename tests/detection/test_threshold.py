"""Otsu's threshold on histograms whose split is known, and the floor."""
from __future__ import annotations

import numpy as np
import pytest

from detection.threshold import choose_threshold, histogram_edges, otsu_threshold


def test_otsu_splits_a_bimodal_histogram_between_the_modes():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0.02, 0.01, 50_000), rng.normal(0.25, 0.02, 500)])
    edges = histogram_edges()
    counts, _ = np.histogram(np.clip(values, 0, 1), bins=edges)
    t = otsu_threshold(counts, edges)
    assert 0.06 < t < 0.2
    assert np.all(values[50_000:] > t)  # every pixel of the small mode is above


def test_otsu_two_spikes_takes_the_middle_of_the_gap():
    edges = np.linspace(0, 1, 11)
    counts = np.zeros(10)
    counts[1], counts[7] = 100, 5
    assert otsu_threshold(counts, edges) == pytest.approx(0.5)  # gap bins 2..6 -> middle edge


def test_otsu_degenerate_histograms():
    edges = np.linspace(0, 1, 5)
    assert otsu_threshold(np.zeros(4), edges) == 0.0
    assert otsu_threshold(np.array([0, 9, 0, 0]), edges) == 0.0
    with pytest.raises(ValueError):
        otsu_threshold(np.zeros(4), np.linspace(0, 1, 4))


def test_floor_applies_to_otsu_not_to_a_fixed_threshold():
    edges = np.linspace(0, 1, 101)
    counts = np.zeros(100)
    counts[0], counts[2] = 1000, 1000  # Otsu splits at 0.01..0.02
    t, raw = choose_threshold("otsu", 0.08, counts, edges)
    assert raw < 0.05 and t == 0.08
    t, raw = choose_threshold(0.03, 0.08)
    assert t == 0.03 and raw is None
    with pytest.raises(ValueError):
        choose_threshold("kmeans", 0.08, counts, edges)


def test_threshold_windows_spread_inside_the_grid_without_overlap():
    from detection.compose import threshold_windows

    wins = threshold_windows((2700, 4800), 256, 8)
    assert len(wins) == 64
    cover = np.zeros((2700, 4800), dtype=np.int8)
    for r, c in wins:
        assert r.stop - r.start == c.stop - c.start == 256
        assert 0 <= r.start and r.stop <= 2700 and 0 <= c.start and c.stop <= 4800
        cover[r, c] += 1
    assert cover.max() == 1
    rows = sorted({r.start for r, _ in wins})
    assert rows[0] < 2700 / 8 and rows[-1] > 2700 * 7 / 8 - 256  # spread over the whole height
    assert threshold_windows((100, 90), 256, 8) == [(slice(0, 100), slice(0, 90))]
    assert threshold_windows((0, 50)) == []


def test_expand_window_clips_to_the_grid():
    from detection.compose import expand_window

    outer, inner = expand_window((slice(5, 20), slice(30, 40)), 8, (100, 45))
    assert outer == (slice(0, 28), slice(22, 45))
    assert inner == (slice(5, 20), slice(8, 18))


def test_otsu_of_the_windows_is_close_to_the_whole_image_otsu():
    # a large score image: fields of background scores (varying level per field) and ~2 % of
    # change blocks scattered over it; 64 windows of 64 px sample under 5 % of it
    from detection.compose import score_counts, threshold_windows

    rng = np.random.default_rng(3)
    h, w, f = 3000, 2800, 40
    levels = np.repeat(np.repeat(rng.uniform(0.0, 0.04, (h // f, w // f)), f, 0), f, 1)
    score = np.clip(levels + rng.normal(0, 0.01, (h, w)), 0, None).astype(np.float32)
    for r, c in rng.integers(0, (h - 12, w - 12), size=(1200, 2)):
        score[r:r + 12, c:c + 12] = rng.normal(0.25, 0.03, (12, 12))
    valid = rng.random((h, w)) > 0.05
    edges = histogram_edges(1000, (0.0, 1.0))
    whole = otsu_threshold(score_counts(score, valid, edges, (0.0, 1.0)), edges)
    wins = threshold_windows((h, w), 64, 8)
    counts = sum(score_counts(score[r, c], valid[r, c], edges, (0.0, 1.0)) for r, c in wins)
    assert counts.sum() < 0.05 * valid.sum()
    sampled = otsu_threshold(counts, edges)
    assert 0.06 < whole < 0.2 and 0.06 < sampled < 0.2  # both in the gap between the modes
    # Otsu takes the middle of that gap, which its sparse tails move: what matters is that the
    # two thresholds call the same pixels change
    differ = np.count_nonzero((score > whole) != (score > sampled))
    assert differ < 1e-3 * valid.sum()
