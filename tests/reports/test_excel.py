"""report.xlsx, read back with openpyxl."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from openpyxl import load_workbook

from reports.excel import NOTES_SHEET, PATCH_HEADERS, PATCH_SHEET, RANKING_HEADERS, RANKING_SHEET, write_excel_report

FIRST_HEADERS = [
    "排名", "行政区代码", "行政区名称", "新增建设占用耕地面积(亩)", "新增建设占用耕地面积(公顷)",
    "其中违法占用耕地面积(亩)", "其中违法占用耕地面积(公顷)", "违法占用耕地比例", "处理等级", "图斑个数", "违法图斑个数",
]


@pytest.fixture
def workbook(tmp_path: Path, ratios: pd.DataFrame, pieces: gpd.GeoDataFrame, run_info: dict[str, Any]) -> Any:
    path = write_excel_report(ratios, pieces, run_info, tmp_path / "report.xlsx")
    assert [p.name for p in tmp_path.iterdir()] == ["report.xlsx"]
    return load_workbook(path)


def test_sheets(workbook: Any) -> None:
    assert workbook.sheetnames == [RANKING_SHEET, PATCH_SHEET, NOTES_SHEET] == ["县级排名", "图斑明细", "说明"]


def test_ranking_sheet(workbook: Any) -> None:
    ws = workbook[RANKING_SHEET]
    headers = [c.value for c in ws[1]]
    assert headers[: len(FIRST_HEADERS)] == FIRST_HEADERS
    assert headers == list(RANKING_HEADERS)
    assert all(c.font.bold for c in ws[1])
    assert ws.freeze_panes == "A2"
    col = {h: i for i, h in enumerate(headers)}
    rows = [[c for c in r] for r in ws.iter_rows(min_row=2)]
    assert [r[col["行政区代码"]].value for r in rows[:5]] == ["220102", "220104", "220221", "220203", "220282"]
    chaoyang = rows[1]
    assert chaoyang[col["排名"]].value == 2
    assert chaoyang[col["行政区名称"]].value == "朝阳区"
    assert chaoyang[col["新增建设占用耕地面积(亩)"]].value == pytest.approx(6.0)
    assert chaoyang[col["新增建设占用耕地面积(公顷)"]].value == pytest.approx(0.4)
    assert chaoyang[col["其中违法占用耕地面积(亩)"]].value == pytest.approx(1.0)  # 666.666… m² = 1.00 亩
    assert chaoyang[col["其中违法占用耕地面积(亩)"]].number_format == "0.00"
    assert chaoyang[col["违法占用耕地比例"]].value == pytest.approx(1 / 6)
    assert chaoyang[col["违法占用耕地比例"]].number_format == "0.00%"
    assert chaoyang[col["处理等级"]].value == "问责"
    assert chaoyang[col["处理等级"]].fill.fgColor.rgb.endswith("FFC7CE")
    assert rows[2][col["处理等级"]].fill.fgColor.rgb.endswith("FFEB9C")  # 约谈
    no_ratio = rows[4]
    assert no_ratio[col["排名"]].value is None and no_ratio[col["违法占用耕地比例"]].value is None
    assert no_ratio[col["处理等级"]].value == "无新增占用耕地"
    totals = rows[5]
    assert totals[col["行政区名称"]].value == "合计" and totals[col["行政区名称"]].font.bold
    assert totals[col["新增建设占用耕地面积(亩)"]].value == pytest.approx(49000 * 15 / 10000)
    assert totals[col["违法占用耕地比例"]].value == pytest.approx((2000 + 2000 / 3 + 3000) / 49000)
    assert totals[col["图斑个数"]].value == 6
    assert len(rows) == 6
    assert ws.column_dimensions["C"].width >= 8 and ws.column_dimensions["D"].width >= 12


def test_patch_sheet(workbook: Any, pieces: gpd.GeoDataFrame) -> None:
    ws = workbook[PATCH_SHEET]
    headers = [c.value for c in ws[1]]
    assert headers == list(PATCH_HEADERS)
    assert ws.freeze_panes == "A2" and ws[1][0].font.bold
    col = {h: i for i, h in enumerate(headers)}
    rows = list(ws.iter_rows(min_row=2))
    assert len(rows) == len(pieces)
    r = next(r for r in rows if r[col["图斑编号"]].value == "220104-2025-00001")
    assert r[col["图斑面积(平方米)"]].value == pytest.approx(2000 / 3)
    assert r[col["图斑面积(亩)"]].value == pytest.approx(1.0)
    assert r[col["图斑面积(亩)"]].number_format == "0.00"
    assert r[col["违法占用耕地面积(亩)"]].value == pytest.approx(1.0)
    assert r[col["图斑类型"]].value == "未批占用耕地"
    assert r[col["图斑来源"]].value == "自行提取"
    assert r[col["行政区代码"]].value == "220104"
    received = next(r for r in rows if r[col["原始图斑编号"]].value == "R-17")
    assert received[col["图斑来源"]].value == "下发图斑"
    assert received[col["平均变化得分"]].value is None and received[col["前时相"]].value is None


def test_notes_sheet(workbook: Any, run_info: dict[str, Any]) -> None:
    ws = workbook[NOTES_SHEET]
    text = "\n".join(f"{a.value}\t{b.value}" for a, b in ws.iter_rows(min_row=1, max_col=2))
    for needle in (
        "违法占用耕地比例达到（≥）10%",
        "违法占用耕地比例达到（≥）15%",
        "1亩 = 10000/15 平方米",
        run_info["config"],
        run_info["generated_at"],
        "不是0%",
        "疑似",
    ):
        assert needle in text, needle


def test_workbook_with_no_pieces(
    tmp_path: Path, ratios: pd.DataFrame, pieces: gpd.GeoDataFrame, run_info: dict[str, Any]
) -> None:
    wb = load_workbook(write_excel_report(ratios, pieces.iloc[0:0], run_info, tmp_path / "r.xlsx"))
    assert wb[PATCH_SHEET].max_row == 1
    assert [c.value for c in wb[PATCH_SHEET][1]] == list(PATCH_HEADERS)
