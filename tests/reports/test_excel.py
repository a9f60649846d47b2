"""report.xlsx, read back with openpyxl."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from openpyxl import load_workbook

from reports.excel import (NOTES_SHEET, PATCH_HEADERS, PATCH_SHEET, RANKING_HEADER_ROW, RANKING_HEADERS, RANKING_SHEET,
                           REPORT_FONT, write_excel_report)

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
    assert ws["A1"].value == "2025年度土地卫片执法检查 县级违法占用耕地比例排名" and ws["A1"].font.bold
    assert ws["A2"].value.startswith("生成日期：2026年3月1日")
    headers = [c.value for c in ws[RANKING_HEADER_ROW]]
    assert headers[: len(FIRST_HEADERS)] == FIRST_HEADERS
    assert headers == list(RANKING_HEADERS)
    assert all(c.font.bold for c in ws[RANKING_HEADER_ROW])
    assert ws.freeze_panes == "D4"  # below the header, right of code and name
    col = {h: i for i, h in enumerate(headers)}
    rows = [[c for c in r] for r in ws.iter_rows(min_row=RANKING_HEADER_ROW + 1)]
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
    no_ratio = rows[4]
    assert no_ratio[col["排名"]].value is None and no_ratio[col["违法占用耕地比例"]].value is None
    assert no_ratio[col["处理等级"]].value == "无新增占用耕地"
    totals = rows[5]
    assert totals[col["行政区名称"]].value == "合计" and totals[col["行政区名称"]].font.bold
    assert totals[col["新增建设占用耕地面积(亩)"]].value == pytest.approx(49000 * 15 / 10000)
    assert totals[col["违法占用耕地比例"]].value == pytest.approx((2000 + 2000 / 3 + 3000) / 49000)
    assert totals[col["图斑个数"]].value == 6
    assert len(rows) == 6
    assert ws.column_dimensions["C"].width >= 7 and ws.column_dimensions["D"].width >= 7  # 3-character names


def test_level_colours_are_conditional_formats_on_the_level(workbook: Any) -> None:
    """Level and ratio cells are coloured by rules on the level's label, not by fixed fills."""
    ws = workbook[RANKING_SHEET]
    rules = {}
    for cf in ws.conditional_formatting:
        for rule in cf.rules:
            rules.setdefault(str(cf.sqref), []).append(
                (rule.type, (rule.formula or [None])[0], rule.dxf.fill.bgColor.rgb[-6:]))
    assert ("cellIs", '"问责"', "FFC7CE") in rules["I4:I8"]
    assert ("cellIs", '"约谈"', "FFEB9C") in rules["I4:I8"]
    assert ("cellIs", '"无新增占用耕地"', "E7E6E6") in rules["I4:I8"]
    assert ("expression", '$I4="问责"', "FFC7CE") in rules["H4:H8"]  # the ratio follows its level


def test_print_setup_and_one_font(workbook: Any) -> None:
    """Every sheet: A4 landscape, one page wide, header row repeated, title / page numbers; one font."""
    for ws in workbook.worksheets:
        assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9  # A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
        assert "县级违法占用耕地比例排名" in ws.oddHeader.left.text and "&P" in ws.oddFooter.right.text
        assert "&N" in ws.oddFooter.right.text and "2026年3月1日" in ws.oddFooter.left.text
        fonts = {c.font.name for row in ws.iter_rows() for c in row if c.value is not None}
        assert fonts == {REPORT_FONT}, (ws.title, fonts)
    assert workbook[RANKING_SHEET].print_title_rows == "$3:$3"
    assert workbook[RANKING_SHEET].print_title_cols == "$A:$C"
    assert workbook[PATCH_SHEET].print_title_rows == "$1:$1"


def test_patch_sheet(workbook: Any, pieces: gpd.GeoDataFrame) -> None:
    ws = workbook[PATCH_SHEET]
    headers = [c.value for c in ws[1]]
    assert headers == list(PATCH_HEADERS)
    assert ws.freeze_panes == "B2" and ws[1][0].font.bold
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
    illegal = [r[col["违法占用耕地面积(平方米)"]].value for r in rows]
    assert illegal == sorted(illegal, reverse=True)  # largest illegal area first
    assert rows[0][col["图斑编号"]].value == "220221-2025-00001"  # 3000 m²
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


def test_patch_sheet_wraps_long_text_and_keeps_odd_strings(
    tmp_path: Path, ratios: pd.DataFrame, pieces: gpd.GeoDataFrame, run_info: dict[str, Any]
) -> None:
    """The patch rows are written straight as sheet XML: text round-trips exactly (escapes, edge
    spaces), a long name wraps and heightens its row, missing numbers keep their number format."""
    from openpyxl.utils.exceptions import IllegalCharacterError

    odd = pieces.copy()
    long_name = "一个非常非常长的县级行政区名称用于换行"  # 19 CJK characters: wider than the 16 cap
    odd.loc[odd.index[0], "county_name"] = long_name
    odd.loc[odd.index[1], "source_id"] = "  a & <b> \"c\"  "
    odd.loc[odd.index[2], "area_m2"] = float("nan")
    wb = load_workbook(write_excel_report(ratios, odd, run_info, tmp_path / "odd.xlsx"))
    ws = wb[PATCH_SHEET]
    assert ws.max_row == len(odd) + 1 and ws.max_column == len(PATCH_HEADERS)
    col = {c.value: i for i, c in enumerate(ws[1])}
    rows = list(ws.iter_rows(min_row=2))
    by_id = {r[col["图斑编号"]].value: r for r in rows}
    long_row = by_id[str(odd.loc[odd.index[0], "patch_id"])]
    name = long_row[col["行政区名称"]]
    assert name.value == long_name and name.alignment.wrap_text
    width = ws.column_dimensions["D"].width
    lines = -(-2 * len(long_name) // (width - 1))
    assert lines > 1 and ws.row_dimensions[name.row].height == pytest.approx(16.5 * lines + 2)
    assert long_row[col["图斑面积(平方米)"]].alignment.vertical == "center"  # the rest of a tall row centred
    assert by_id[str(odd.loc[odd.index[1], "patch_id"])][col["原始图斑编号"]].value == "  a & <b> \"c\"  "
    empty = by_id[str(odd.loc[odd.index[2], "patch_id"])][col["图斑面积(平方米)"]]
    assert empty.value is None and empty.number_format == "0.00"
    short = next(r for r in rows if r[0].row != name.row)
    assert ws.row_dimensions[short[0].row].height is None
    assert short[col["行政区名称"]].alignment.wrap_text  # the whole column wraps, a short name on one line
    assert short[col["图斑面积(平方米)"]].alignment.vertical is None
    bad = pieces.copy()
    bad.loc[bad.index[0], "source_id"] = "bell\x07"
    with pytest.raises(IllegalCharacterError):
        write_excel_report(ratios, bad, run_info, tmp_path / "bad.xlsx")
