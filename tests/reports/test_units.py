"""Units, labels and the atomic-write helper."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from overlay.contracts import (
    LEVEL_COLOURS,
    LEVEL_FILLS,
    LEVEL_LABELS_EN,
    LEVEL_LABELS_ZH,
    LEVELS,
    rule_symbol,
    rule_words_zh,
)
from reports._common import atomic_output
from reports.units import M2_PER_MU, format_percent, m2_to_ha, m2_to_mu


def test_mu_and_hectare_conversions() -> None:
    assert M2_PER_MU == pytest.approx(666.6666667)
    assert m2_to_mu(2000 / 3) == pytest.approx(1.0, abs=1e-12)
    assert m2_to_mu(10000.0) == pytest.approx(15.0)
    assert m2_to_ha(10000.0) == 1.0
    s = m2_to_mu(pd.Series([M2_PER_MU, np.nan]))
    assert s.iloc[0] == pytest.approx(1.0) and math.isnan(s.iloc[1])


def test_every_level_has_labels_and_colours() -> None:
    assert set(LEVELS) == {"none", "interview", "accountability", "no_ratio", "failed"}
    for table in (LEVEL_LABELS_ZH, LEVEL_LABELS_EN, LEVEL_COLOURS, LEVEL_FILLS):
        assert set(table) == set(LEVELS)
    assert LEVEL_LABELS_ZH["interview"] == "约谈"
    assert LEVEL_LABELS_ZH["accountability"] == "问责"


def test_rules_and_percent() -> None:
    assert rule_symbol("reaches") == "≥"
    assert rule_symbol("exceeds") == ">"
    assert rule_words_zh("exceeds") == "超过（>）"
    with pytest.raises(ValueError, match="unknown threshold rule"):
        rule_symbol("at least")
    assert format_percent(0.1) == "10.00%"
    assert format_percent(float("nan")) == ""
    assert format_percent(pd.NA) == ""


def test_atomic_output_keeps_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_atomic_output_replaces_on_success(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.csv"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".csv" and not tmp.exists()
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["out.csv"]
