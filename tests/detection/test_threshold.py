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
