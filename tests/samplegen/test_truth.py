"""samplegen.truth: the truth ratios fall in their bands and match the written layers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from samplegen.layout import PIECES_FILE, RATIOS_FILE
from tests.samplegen.helpers import CODES, design, level, ratios

LEVEL_MARGIN = 0.02  # distance of every ratio from the 10 % and 15 % thresholds


def test_truth_ratios_fall_in_their_bands(world):
    got = pd.read_csv(world[0] / RATIOS_FILE, dtype={"county_code": str},
                      encoding="utf-8").set_index("county_code")
    assert list(got.columns) == ["county_name", "occupied_farmland_m2", "illegal_farmland_m2",
                                 "ratio", "level"]
    assert sorted(got.index) == sorted(CODES)
    assert got.loc["220203", "level"] == "no_ratio" and np.isnan(got.loc["220203", "ratio"])
    assert got.loc["220203", "occupied_farmland_m2"] == 0
    with_ratio = got.drop(index="220203")
    assert sorted(with_ratio["level"]) == ["accountability", "interview", "none"]
    for code, row in with_ratio.iterrows():
        assert row["level"] == level(row["ratio"]), code
        assert min(abs(row["ratio"] - 0.10), abs(row["ratio"] - 0.15)) >= LEVEL_MARGIN, code
    by_level = with_ratio.reset_index().set_index("level")["ratio"]
    assert 0.04 <= by_level["none"] <= 0.06
    assert 0.12 <= by_level["interview"] <= 0.13
    assert by_level["accountability"] >= 0.25


def test_truth_csvs_match_the_written_layers(world):
    root = world[0]
    d = design(root)
    got = pd.read_csv(root / RATIOS_FILE, dtype={"county_code": str}).set_index("county_code")
    recomputed = ratios(d, d["patches"].geometry)
    for code, ratio in recomputed.items():
        if ratio is None:
            assert np.isnan(got.loc[code, "ratio"])
        else:
            assert got.loc[code, "ratio"] == pytest.approx(ratio, abs=1e-6)
    pieces = pd.read_csv(root / PIECES_FILE, dtype={"county_code": str})
    assert list(pieces.columns) == ["truth_id", "county_code", "area_m2", "farmland_m2",
                                    "illegal_farmland_m2"]
    patches = d["patches"].set_index("truth_id")
    totals = pieces.groupby("truth_id")["area_m2"].sum()
    for truth_id, area in totals.items():
        assert area == pytest.approx(patches.geometry[truth_id].area, abs=0.05)
    sums = pieces.groupby("county_code")[["farmland_m2", "illegal_farmland_m2"]].sum()
    for code, row in sums.iterrows():
        expected = got.loc[code]
        assert row["farmland_m2"] == pytest.approx(expected["occupied_farmland_m2"], abs=0.1)
        assert row["illegal_farmland_m2"] == pytest.approx(expected["illegal_farmland_m2"], abs=0.1)
