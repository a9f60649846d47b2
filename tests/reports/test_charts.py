"""The ratio chart PNG."""
from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from PIL import Image

import reports.charts as charts
from reports.charts import chart_figsize, render_ratio_chart
from reports.fonts import find_cjk_font


def _render(ratios: pd.DataFrame, run_info: dict[str, Any], path: Path, **kw: Any) -> list[str]:
    """Render and return the messages of any warnings raised (glyph-missing warnings mean tofu)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        render_ratio_chart(ratios, run_info, path, **kw)
    return [str(w.message) for w in caught]


def test_chart_png_size_and_no_temp_files(tmp_path: Path, ratios: pd.DataFrame, run_info: dict[str, Any]) -> None:
    path = tmp_path / "chart.png"
    messages = _render(ratios, run_info, path)
    assert not [m for m in messages if "missing from font" in m]
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == (800, 600)
    assert chart_figsize(5) == (8.0, 6.0)
    assert [p.name for p in tmp_path.iterdir()] == ["chart.png"]


def test_chart_width_grows_and_caps(tmp_path: Path, run_info: dict[str, Any]) -> None:
    n = 100
    df = pd.DataFrame({
        "county_code": [f"{220100 + i}" for i in range(n)],
        "county_name": [f"County {i}" for i in range(n)],
        "ratio": [i / 400 for i in range(n)],
        "level": ["none"] * n,
        "rank": pd.array(list(range(n, 0, -1)), dtype="Int64"),
    })
    path = tmp_path / "wide.png"
    render_ratio_chart(df, run_info, path, max_counties=30, dpi=50)
    with Image.open(path) as img:
        assert img.size == (int(chart_figsize(30)[0] * 50), 300)
    assert chart_figsize(1000)[0] == 30.0


def test_chart_without_cjk_font_labels_by_code_and_warns(
    tmp_path: Path,
    ratios: pd.DataFrame,
    run_info: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(charts, "find_cjk_font", lambda: None)
    path = tmp_path / "chart.png"
    with caplog.at_level(logging.WARNING, logger="reports.charts"):
        messages = _render(ratios, run_info, path)
    assert not [m for m in messages if "missing from font" in m], messages
    assert "labelled by code" in caplog.text
    with Image.open(path) as img:
        assert img.size == (800, 600)


def test_chart_name_with_glyph_the_font_lacks_falls_back_to_code(
    tmp_path: Path, ratios: pd.DataFrame, run_info: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    if find_cjk_font() is None:
        pytest.skip("no CJK font installed")
    odd = ratios.copy()
    odd.loc[odd["county_code"] == "220104", "county_name"] = "朝阳\ue000区"  # private-use: in no font
    with caplog.at_level(logging.WARNING, logger="reports.charts"):
        messages = _render(odd, run_info, tmp_path / "chart.png")
    assert not [m for m in messages if "missing from font" in m], messages
    assert "220104" in caplog.text


def test_chart_all_counties_without_ratio(tmp_path: Path, ratios: pd.DataFrame, run_info: dict[str, Any]) -> None:
    empty = ratios.assign(ratio=math.nan, level="no_ratio", rank=pd.array([None] * len(ratios), dtype="Int64"))
    render_ratio_chart(empty, run_info, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 1000


def test_cjk_font_found_when_installed() -> None:
    """The project installs a CJK font (pylopdf-fonts-zh-cn); without it Chinese names become codes."""
    pytest.importorskip("pylopdf_fonts_zh_cn")
    font = find_cjk_font()
    assert font is not None and font.covers("南关区朝阳区永吉县龙潭区桦甸市约谈问责")


def test_bars_are_labelled_to_two_decimals_and_counties_without_ratio_in_words(tmp_path, monkeypatch):
    import matplotlib.axes

    drawn, bars = [], []
    real_text, real_bar = matplotlib.axes.Axes.text, matplotlib.axes.Axes.bar
    monkeypatch.setattr(matplotlib.axes.Axes, "text",
                        lambda self, x, y, s, *a, **k: drawn.append(s) or real_text(self, x, y, s, *a, **k))
    monkeypatch.setattr(matplotlib.axes.Axes, "bar",
                        lambda self, x, h, *a, **k: bars.append(x) or real_bar(self, x, h, *a, **k))
    ratios = pd.DataFrame({
        "county_code": ["220204", "220202", "220211", "220203"],
        "county_name": ["船营区", "昌邑区", "丰满区", "龙潭区"],
        "ratio": [0.4439, 0.14967, 0.0, math.nan],
        "level": ["accountability", "interview", "accountability", "no_ratio"],
        "rank": pd.array([1, 2, 3, None], dtype="Int64"),
        "level_reason": ["ratio", "ratio", "severe_impact", "ratio"]})
    info = {"year": 2025, "interview": 0.1, "accountability": 0.15, "interview_rule": "reaches",
            "accountability_rule": "reaches"}
    render_ratio_chart(ratios, info, tmp_path / "c.png")
    labels = " | ".join(str(s) for s in drawn)
    assert "14.97%" in labels and "15.0%" not in labels  # just under the line never reads as on it
    assert len(bars) == 3  # the county without a ratio gets words, not a bar
    assert any("恶劣影响" in str(s) or "severe impact" in str(s) for s in drawn)
    assert any("不计比例" in str(s) or "no ratio" in str(s) for s in drawn)
