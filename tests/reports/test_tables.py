"""county_ratios.csv."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pandas as pd
import pytest

from reports.tables import CSV_LEADING_COLUMNS, county_totals, sort_ratios, write_county_csv


def _read(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "no UTF-8 byte-order mark"
    return list(csv.reader(io.StringIO(raw[3:].decode("utf-8"))))


def test_csv_columns_order_and_values(tmp_path: Path, ratios: pd.DataFrame) -> None:
    path = write_county_csv(ratios, tmp_path / "county_ratios.csv")
    rows = _read(path)
    header, body = rows[0], rows[1:]
    assert header[: len(CSV_LEADING_COLUMNS)] == list(CSV_LEADING_COLUMNS)
    assert set(ratios.columns) <= set(header)
    assert [r[0] for r in body] == ["220102", "220104", "220221", "220203", "220282"]
    by_code = {r[0]: dict(zip(header, r, strict=True)) for r in body}
    chaoyang = by_code["220104"]
    assert chaoyang["county_name"] == "朝阳区"
    assert chaoyang["occupied_farmland_m2"] == "4000.00"
    assert chaoyang["illegal_farmland_m2"] == "666.67"
    assert float(chaoyang["ratio"]) == 1 / 6  # full precision: reads back to the same float
    assert chaoyang["rank"] == "2"
    assert chaoyang["level"] == "accountability"
    assert chaoyang["level_zh"] == "问责"
    none_ratio = by_code["220282"]
    assert none_ratio["ratio"] == "" and none_ratio["rank"] == ""
    assert none_ratio["level"] == "no_ratio"
    assert by_code["220203"]["ratio"] == "0.0"  # 0 % is a ratio, not an empty cell
    assert [p.name for p in tmp_path.iterdir()] == ["county_ratios.csv"]


def test_csv_keeps_leading_zeros_and_puts_no_ratio_last_by_code(tmp_path: Path) -> None:
    df = pd.DataFrame({
        "county_code": ["990002", "010101", "990001", "020202"],
        "county_name": ["乙", "甲", "丙", "丁"],
        "occupied_farmland_m2": [0.0, 100.0, 0.0, 200.0],
        "illegal_farmland_m2": [0.0, 10.0, 0.0, 40.004],
        "ratio": [math.nan, 0.1, math.nan, 0.20002],
        "level": ["no_ratio", "interview", "no_ratio", "accountability"],
        "rank": pd.array([None, 2, None, 1], dtype="Int64"),
    })
    rows = _read(write_county_csv(df, tmp_path / "c.csv"))
    assert [r[0] for r in rows[1:]] == ["020202", "010101", "990001", "990002"]
    assert rows[1][3] == "40.00"


def test_csv_requires_columns(tmp_path: Path, ratios: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="rank"):
        write_county_csv(ratios.drop(columns="rank"), tmp_path / "c.csv")
    assert not any(tmp_path.iterdir())


def test_sort_and_totals(ratios: pd.DataFrame) -> None:
    assert list(sort_ratios(ratios)["rank"].astype("float").fillna(-1)) == [1, 2, 3, 4, -1]
    totals = county_totals(ratios)
    assert totals["occupied_farmland_m2"] == pytest.approx(49000.0)
    assert totals["ratio"] == pytest.approx((2000 + 2000 / 3 + 3000) / 49000)
    assert totals["n_patches"] == 6 and totals["n_counties"] == 5
