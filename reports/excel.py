"""``report.xlsx``: the county ranking, the patch list and the rules, with Chinese headers.

Made to be printed as well as read: every sheet is set up for A4 landscape, one page wide, with its
header row repeated on every page (and the ranking's code and name columns), a page header with
the title and sheet name and a footer with the generation date and page numbers. The ranking
starts with the title and the generation date. Every cell is in one CJK font
(:data:`REPORT_FONT`), headers included. Level cells (and the ratio beside each) are coloured by
conditional formats on the level's label, so the colour follows the level if a cell is edited.
"""
from __future__ import annotations

import io
import math
import os
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.formatting.rule import CellIsRule, FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import IllegalCharacterError
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from overlay.contracts import (
    COLUMN_LABELS_ZH,
    COUNTY_COLUMNS,
    EFFECT_LABELS_ZH,
    LEVEL_FILLS,
    LEVEL_LABELS_ZH,
    LEVEL_REASON_LABELS_ZH,
    ORIGIN_LABELS_ZH,
    RECTIFICATION_BY_CODE,
    RUN_PIECE_COLUMNS,
    STATUS_LABELS_ZH,
    VERDICT_BY_CODE,
)
from reports._common import atomic_output, is_missing, require_columns, require_run_info
from reports.patch_order import sort_by_illegal_area
from reports.tables import county_totals, sort_ratios
from reports.texts import (data_quality_lines_zh, generated_date_zh, rules_lines_zh, source_label_zh, title_zh,
                           verification_lines_zh)
from reports.units import M2_PER_MU, m2_to_ha, m2_to_mu

__all__ = ["RANKING_SHEET", "PATCH_SHEET", "NOTES_SHEET", "UNRECTIFIED_SHEET", "RANKING_HEADERS", "PATCH_HEADERS",
           "VERIFIED_RANKING_HEADERS", "VERIFIED_PATCH_HEADERS", "RANKING_HEADER_ROW", "REPORT_FONT",
           "write_excel_report"]

RANKING_SHEET = "县级排名"
PATCH_SHEET = "图斑明细"
NOTES_SHEET = "说明"
UNRECTIFIED_SHEET = "上年度未整改"

AREA_FORMAT = "0.00"
RATIO_FORMAT = "0.00%"
COUNT_FORMAT = "0"
TEXT_FORMAT = "@"
SCORE_FORMAT = "0.000"

REPORT_FONT = "Microsoft YaHei"
"""The one font of every cell and of the page headers: 微软雅黑, a sans-serif CJK font on every
Chinese Windows since Vista and with Office on macOS, where the reports are read. LibreOffice
without it substitutes a sans font (with fonts-noto-cjk: DejaVu Sans for Latin, Noto Sans CJK for
Chinese), never a serif one."""

RANKING_HEADER_ROW = 3
"""Row of the ranking sheet's column headers: the title is in row 1, the generation date in row 2."""

_SIZE = 11
_FONT = Font(name=REPORT_FONT, size=_SIZE, family=2)
_BOLD = Font(name=REPORT_FONT, size=_SIZE, family=2, bold=True)
_TITLE = Font(name=REPORT_FONT, size=16, family=2, bold=True)
_HEADER_LINES = 4  # header cells wrap onto up to this many lines
_LINE_PT = 16.5  # one line of 11-pt CJK text (Noto Sans CJK's line height is ~1.45 em)
_HEADER_FILL = PatternFill(fill_type="solid", fgColor="DDEBF7")
_THIN = Side(style="thin", color="999999")
_TOP_BORDER = Border(top=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="center", horizontal="center")


@dataclass(frozen=True)
class _Source:
    """Where a column's values come from: the record key, the conversion of a present value,
    whether a missing value (None, NaN, NA) leaves the cell empty, and for a number column the
    unit conversion applied to a whole column at once (``to_unit``)."""

    key: str
    present: Callable[[Any], Any]
    blank: bool = True
    to_unit: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class _Col:
    """A column: its header, its source, its number format."""

    header: str
    source: _Source
    number_format: str | None = None

    def value(self, record: Mapping[str, Any]) -> Any:
        """The cell value of ``record`` (a missing key reads as None)."""
        v = record.get(self.source.key)
        return None if self.source.blank and is_missing(v) else self.source.present(v)

    def values(self, table: pd.DataFrame) -> list[Any]:
        """The cell values of every row of ``table``, as :meth:`value` gives them, a column at once."""
        src = self.source
        if src.key not in table.columns:
            return [self.value({})] * len(table)
        column = table[src.key]
        if src.to_unit is not None and is_numeric_dtype(column.dtype) and not is_bool_dtype(column.dtype):
            numbers = src.to_unit(column.to_numpy(dtype="float64", na_value=np.nan))
            out = numbers.tolist()
            for i in np.flatnonzero(np.isnan(numbers)).tolist():
                out[i] = None
            return out
        present = src.present
        if not src.blank:
            return [present(v) for v in column.tolist()]
        missing = column.isna().to_numpy().tolist()
        return [None if m else present(v) for v, m in zip(column.tolist(), missing, strict=True)]


def _same(v: Any) -> Any:
    return v


def _m2(col: str) -> _Source:
    return _Source(col, float, to_unit=_same)


def _mu(col: str) -> _Source:
    return _Source(col, lambda v: m2_to_mu(float(v)), to_unit=m2_to_mu)


def _ha(col: str) -> _Source:
    return _Source(col, lambda v: m2_to_ha(float(v)), to_unit=m2_to_ha)


def _int(col: str) -> _Source:
    return _Source(col, int)


def _str(col: str) -> _Source:
    return _Source(col, str)


def _float(col: str) -> _Source:
    return _Source(col, float, to_unit=_same)


def _mapped(mapping: Mapping[str, str], col: str) -> _Source:
    """The label of a code (the code itself when it has none; a missing code as its text)."""
    return _Source(col, lambda v: mapping.get(str(v), str(v)), blank=False)


def _c(header: str, source: _Source, number_format: str | None = None) -> _Col:
    return _Col(header, source, number_format)


_RANKING: tuple[_Col, ...] = (
    _c("排名", _int("rank"), COUNT_FORMAT),
    _c("行政区代码", _str("county_code"), TEXT_FORMAT),
    _c("行政区名称", _str("county_name")),
    _c("新增建设占用耕地面积(亩)", _mu("occupied_farmland_m2"), AREA_FORMAT),
    _c("新增建设占用耕地面积(公顷)", _ha("occupied_farmland_m2"), AREA_FORMAT),
    _c("其中违法占用耕地面积(亩)", _mu("illegal_farmland_m2"), AREA_FORMAT),
    _c("其中违法占用耕地面积(公顷)", _ha("illegal_farmland_m2"), AREA_FORMAT),
    _c("违法占用耕地比例", _float("ratio"), RATIO_FORMAT),
    _c("处理等级", _mapped(LEVEL_LABELS_ZH, "level")),
    _c("图斑个数", _int("n_patches"), COUNT_FORMAT),
    _c("违法图斑个数", _int("n_illegal_patches"), COUNT_FORMAT),
    _c("其中合法占用耕地面积(亩)", _mu("legal_farmland_m2"), AREA_FORMAT),
    _c("占用基本农田面积(亩)", _mu("basic_farmland_m2"), AREA_FORMAT),
    _c("其中违法占用基本农田面积(亩)", _mu("illegal_basic_farmland_m2"), AREA_FORMAT),
)
RANKING_HEADERS: tuple[str, ...] = tuple(c.header for c in _RANKING)
"""Headers of the county ranking sheet, in order."""

_PATCHES: tuple[_Col, ...] = (
    _c("图斑编号", _str("patch_id"), TEXT_FORMAT),
    _c("原始图斑编号", _str("source_id"), TEXT_FORMAT),
    _c("行政区代码", _str("county_code"), TEXT_FORMAT),
    _c("行政区名称", _str("county_name")),
    _c("图斑面积(平方米)", _m2("area_m2"), AREA_FORMAT),
    _c("图斑面积(亩)", _mu("area_m2"), AREA_FORMAT),
    _c("耕地面积(平方米)", _m2("farmland_m2"), AREA_FORMAT),
    _c("耕地面积(亩)", _mu("farmland_m2"), AREA_FORMAT),
    _c("基本农田面积(平方米)", _m2("basic_farmland_m2"), AREA_FORMAT),
    _c("批准用地面积(平方米)", _m2("approved_m2"), AREA_FORMAT),
    _c("合法占用耕地面积(平方米)", _m2("legal_farmland_m2"), AREA_FORMAT),
    _c("违法占用耕地面积(平方米)", _m2("illegal_farmland_m2"), AREA_FORMAT),
    _c("违法占用耕地面积(亩)", _mu("illegal_farmland_m2"), AREA_FORMAT),
    _c("违法占用基本农田面积(平方米)", _m2("illegal_basic_farmland_m2"), AREA_FORMAT),
    _c("非耕地面积(平方米)", _m2("other_m2"), AREA_FORMAT),
    _c("图斑类型", _mapped(STATUS_LABELS_ZH, "status")),
    _c("图斑来源", _mapped(ORIGIN_LABELS_ZH, "origin")),
    _c("平均变化得分", _float("mean_score"), SCORE_FORMAT),
    _c("前时相", _str("before_date"), TEXT_FORMAT),
    _c("后时相", _str("after_date"), TEXT_FORMAT),
    _c("年度", _int("year"), COUNT_FORMAT),
)
PATCH_HEADERS: tuple[str, ...] = tuple(c.header for c in _PATCHES)
"""Headers of the patch list sheet, in order."""


def _label(mapping: Mapping[str, str], col: str) -> _Source:
    return _Source(col, lambda v: mapping.get(str(v), str(v)))


def _yes_no(col: str) -> _Source:
    return _Source(col, lambda v: "是" if bool(v) else "否")


def _zh(col: str, unit: str = "") -> str:
    return COLUMN_LABELS_ZH[col] + unit


_VERIFIED_RANKING: tuple[_Col, ...] = (
    _c(_zh("suspected_illegal_farmland_m2", "(亩)"), _mu("suspected_illegal_farmland_m2"), AREA_FORMAT),
    _c(_zh("suspected_ratio"), _float("suspected_ratio"), RATIO_FORMAT),
    _c(_zh("suspected_level"), _label(LEVEL_LABELS_ZH, "suspected_level")),
    _c(_zh("n_verified"), _int("n_verified"), COUNT_FORMAT),
    _c(_zh("verified_share"), _float("verified_share"), RATIO_FORMAT),
    _c(_zh("complete"), _yes_no("complete")),
    _c(_zh("key_project_illegal_m2", "(亩)"), _mu("key_project_illegal_m2"), AREA_FORMAT),
    _c(_zh("after_deduction_ratio"), _float("after_deduction_ratio"), RATIO_FORMAT),
    _c(_zh("rectified_illegal_m2", "(亩)"), _mu("rectified_illegal_m2"), AREA_FORMAT),
    _c(_zh("level_reason"), _label(LEVEL_REASON_LABELS_ZH, "level_reason")),
    _c(_zh("severe_impact_reason"), _str("severe_impact_reason")),
)
VERIFIED_RANKING_HEADERS: tuple[str, ...] = tuple(c.header for c in _VERIFIED_RANKING)
"""Headers added to the ranking sheet when the county table has the run's decisive columns
(``overlay.contracts.COUNTY_VERIFIED_COLUMNS``)."""

_PREVIOUS_RANKING: tuple[_Col, ...] = (
    _c(_zh("previous_ratio"), _float("previous_ratio"), RATIO_FORMAT),
    _c(_zh("previous_level"), _label(LEVEL_LABELS_ZH, "previous_level")),
    _c(_zh("ratio_change"), _float("ratio_change"), RATIO_FORMAT),
    _c(_zh("previous_unrectified_n"), _int("previous_unrectified_n"), COUNT_FORMAT),
    _c(_zh("previous_unrectified_m2", "(亩)"), _mu("previous_unrectified_m2"), AREA_FORMAT),
)

_VERIFIED_PATCHES: tuple[_Col, ...] = (
    _c(_zh("verdict"), _label({k: v.label_zh for k, v in VERDICT_BY_CODE.items()}, "verdict")),
    _c(_zh("effect"), _label(EFFECT_LABELS_ZH, "effect")),
    _c(_zh("wfmj_m2", "(平方米)"), _m2("wfmj_m2"), AREA_FORMAT),
    _c(_zh("verified_illegal_farmland_m2", "(平方米)"), _m2("verified_illegal_farmland_m2"), AREA_FORMAT),
    _c(_zh("verified_farmland_m2", "(平方米)"), _m2("verified_farmland_m2"), AREA_FORMAT),
    _c(_zh("rectification"), _label({k: v.label_zh for k, v in RECTIFICATION_BY_CODE.items()}, "rectification")),
    _c(_zh("key_project"), _yes_no("key_project")),
    _c(_zh("verdict_source"), _str("verdict_source")),
)
VERIFIED_PATCH_HEADERS: tuple[str, ...] = tuple(c.header for c in _VERIFIED_PATCHES)
"""Headers added to the patch sheet when the pieces carry their verdicts."""

_UNRECTIFIED: tuple[_Col, ...] = (
    _c("图斑编号", _str("patch_id"), TEXT_FORMAT),
    _c("行政区代码", _str("county_code"), TEXT_FORMAT),
    _c("行政区名称", _str("county_name")),
    _c("年度", _int("year"), COUNT_FORMAT),
    _c("违法占用耕地面积(平方米)", _m2("illegal_farmland_m2"), AREA_FORMAT),
    _c("违法占用耕地面积(亩)", _mu("illegal_farmland_m2"), AREA_FORMAT),
    _c(_zh("verdict"), _label({k: v.label_zh for k, v in VERDICT_BY_CODE.items()}, "verdict")),
    _c(_zh("rectification"), _label({k: v.label_zh for k, v in RECTIFICATION_BY_CODE.items()}, "rectification")),
)


class _Totals(dict):
    """The totals row: a column without a total is empty."""

    def __missing__(self, key: str) -> None:
        return None


def _ranking_cols(ratios: pd.DataFrame) -> tuple[_Col, ...]:
    cols = _RANKING
    if "suspected_ratio" in ratios.columns:
        cols = cols + _VERIFIED_RANKING
        if "previous_ratio" in ratios.columns and ratios["previous_ratio"].notna().any():
            cols = cols + _PREVIOUS_RANKING
    return cols


def _verified_totals(ratios: pd.DataFrame) -> dict[str, Any]:
    """Totals of the decisive columns (sums; the overall suspected and after-deduction ratios)."""
    if "suspected_ratio" not in ratios.columns:
        return {}
    out: dict[str, Any] = {}
    for col in ("suspected_occupied_farmland_m2", "suspected_illegal_farmland_m2", "key_project_illegal_m2",
                "rectified_illegal_m2", "previous_unrectified_m2"):
        out[col] = float(pd.to_numeric(ratios[col], errors="coerce").fillna(0).sum())
    for col in ("n_verified", "previous_unrectified_n"):
        out[col] = int(pd.to_numeric(ratios[col], errors="coerce").fillna(0).sum())
    n = float(pd.to_numeric(ratios["n_patches"], errors="coerce").fillna(0).sum())
    out["verified_share"] = out["n_verified"] / n if n > 0 else None
    occupied = float(pd.to_numeric(ratios["occupied_farmland_m2"]).sum())
    illegal = float(pd.to_numeric(ratios["illegal_farmland_m2"]).sum())
    if out["suspected_occupied_farmland_m2"] > 0:
        out["suspected_ratio"] = out["suspected_illegal_farmland_m2"] / out["suspected_occupied_farmland_m2"]
    if occupied > 0:
        out["after_deduction_ratio"] = (illegal - out["key_project_illegal_m2"]) / occupied
    return out


def _display_width(value: Any, number_format: str | None) -> int:
    if value is None:
        return 0
    if isinstance(value, float):
        text = f"{value:.2%}" if number_format == RATIO_FORMAT else f"{value:,.2f}"
    else:
        text = str(value)
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _write_table(
    ws: Worksheet, cols: Sequence[_Col], records: Sequence[Mapping[str, Any]], *, freeze_cols: int = 1
) -> tuple[list[int], list[int]]:
    """Write header + rows below what the sheet holds; return display widths of headers and values.

    The panes are frozen below the header and right of the first ``freeze_cols`` columns.
    """
    ws.append([c.header for c in cols])
    top = ws.max_row
    value_widths = [0] * len(cols)
    for rec in records:
        values = [c.value(rec) for c in cols]
        ws.append(values)
        for i, (v, c) in enumerate(zip(values, cols, strict=True)):
            value_widths[i] = max(value_widths[i], _display_width(v, c.number_format))
    for j, c in enumerate(cols, start=1):
        if c.number_format is None:
            continue
        for (cell,) in ws.iter_rows(min_row=top + 1, max_row=top + len(records), min_col=j, max_col=j):
            cell.number_format = c.number_format
    return _table_frame(ws, cols, top, len(records), freeze_cols), value_widths


def _table_frame(ws: Worksheet, cols: Sequence[_Col], top: int, n_rows: int, freeze_cols: int) -> list[int]:
    """Style the header row ``top``, freeze panes, filter ``n_rows`` rows, repeat the header when
    printed; return the headers' display widths."""
    for cell in ws[top]:
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.alignment = _WRAP
    ws.freeze_panes = f"{get_column_letter(freeze_cols + 1)}{top + 1}"
    if n_rows:
        ws.auto_filter.ref = f"A{top}:{get_column_letter(len(cols))}{top + n_rows}"
    ws.print_title_rows = f"{top}:{top}"
    return [_display_width(c.header, None) for c in cols]


def _max_display_width(values: Sequence[Any], number_format: str | None) -> int:
    """``max(_display_width(v, number_format) for v in values)``, formatting few of them.

    The width of a formatted number grows with its magnitude (a sign adds one), so of a column of
    floats or of ints only the largest and the smallest are measured; strings once each.
    """
    present = [v for v in values if v is not None]
    if not present:
        return 0
    kinds = set(map(type, present))
    if kinds == {float} or kinds == {int}:
        candidates: Any = (max(present), min(present))
    elif kinds == {str}:
        candidates = set(present)
    else:
        candidates = present
    return max(_display_width(v, number_format) for v in candidates)


class _Aligner:
    """Sets a cell's alignment by index: what ``cell.alignment = a`` does, without hashing the
    alignment again for every cell (openpyxl looks each assignment up in the workbook's table,
    which made styling a 200,000-row patch list take minutes)."""

    def __init__(self, ws: Worksheet) -> None:
        self._table = ws.parent._alignments  # noqa: SLF001 - the table cell.alignment indexes
        self._ids: dict[Alignment, int] = {}

    def __call__(self, cell: Any, alignment: Alignment) -> None:
        aid = self._ids.get(alignment)
        if aid is None:
            aid = self._ids[alignment] = self._table.add(alignment)
        if not cell._style:  # noqa: SLF001 - as openpyxl's own descriptor does
            cell._style = StyleArray()  # noqa: SLF001
        cell._style.alignmentId = aid  # noqa: SLF001


def _column_width(col: _Col, header_width: int, value_width: int, text_cap: int) -> int:
    """A column's width: numbers in full, free text capped at ``text_cap``, the header on up to
    :data:`_HEADER_LINES` lines."""
    free_text = col.number_format is None
    value = min(value_width, text_cap) if free_text else value_width
    return max(-(-header_width // _HEADER_LINES) + 1, value, 5) + 1


def _set_widths(ws: Worksheet, cols: Sequence[_Col], header_widths: Sequence[int], value_widths: Sequence[int],
                text_cap: int, header_row: int = 1) -> None:
    """Column widths that keep the printed page narrow.

    Numbers, codes and ids are shown in full; free text (names, labels, reasons, file names) at most
    ``text_cap`` characters wide, wrapped onto more lines beyond; headers on up to
    :data:`_HEADER_LINES` lines.
    """
    lines = 1
    wrap = Alignment(wrap_text=True, vertical="center")
    align = _Aligner(ws)
    tall: set[int] = set()
    for j, (c, h, v) in enumerate(zip(cols, header_widths, value_widths, strict=True), start=1):
        free_text = c.number_format is None
        width = _column_width(c, h, v, text_cap)
        ws.column_dimensions[get_column_letter(j)].width = width
        lines = max(lines, -(-h // (width - 1)))
        if free_text and v > text_cap:
            for (cell,) in ws.iter_rows(min_row=header_row + 1, min_col=j, max_col=j):
                align(cell, wrap)
                n = -(-_display_width(cell.value, None) // (width - 1))
                if n > 1:  # a wrapped cell: its row as high as its lines (set, so every client agrees)
                    dim = ws.row_dimensions[cell.row]
                    dim.height = max(dim.height or 0, _LINE_PT * n + 2)
                    tall.add(cell.row)
    centred: dict[str | None, Alignment] = {}  # one style object per alignment, not one per cell
    for row in sorted(tall):  # the other cells of a tall row centred beside the wrapped ones
        # (iter_rows with its bounds: ws[row] scans every cell of the sheet for its width)
        for cell in next(ws.iter_rows(min_row=row, max_row=row, min_col=1, max_col=len(cols))):
            alignment = cell.alignment
            if not alignment.wrap_text:
                horizontal = alignment.horizontal
                if horizontal not in centred:
                    centred[horizontal] = Alignment(vertical="center", horizontal=horizontal)
                align(cell, centred[horizontal])
    ws.row_dimensions[header_row].height = _LINE_PT * lines + 4


def _level_formats(ws: Worksheet, headers: Sequence[str], first: int, last: int,
                   pairs: Sequence[tuple[str, str | None]]) -> None:
    """Colour each level column (and its ratio column) by conditional formats on the level's label.

    ``pairs``: (level header, ratio header or None). The formats cover rows ``first``..``last``.
    """
    if last < first:
        return
    for level_header, ratio_header in pairs:
        if level_header not in headers:
            continue
        letter = get_column_letter(headers.index(level_header) + 1)
        ratio_letter = get_column_letter(headers.index(ratio_header) + 1) if ratio_header in headers else None
        for level in LEVEL_LABELS_ZH:
            fill = PatternFill(fill_type="solid", fgColor=LEVEL_FILLS[level], bgColor=LEVEL_FILLS[level])
            label = LEVEL_LABELS_ZH[level].replace('"', '""')
            ws.conditional_formatting.add(f"{letter}{first}:{letter}{last}",
                                          CellIsRule(operator="equal", formula=[f'"{label}"'], fill=fill))
            if ratio_letter is not None:
                ws.conditional_formatting.add(
                    f"{ratio_letter}{first}:{ratio_letter}{last}",
                    FormulaRule(formula=[f'${letter}{first}="{label}"'], fill=fill))


def _page_setup(ws: Worksheet, run_info: Mapping[str, Any], *, title_cols: str | None = None) -> None:
    """A4 landscape, one page wide, page header (title, sheet) and footer (date, page numbers).

    The header row repeats on every page (:func:`_write_table` sets the print title rows);
    ``title_cols`` (e.g. ``"A:C"``) repeats columns too.
    """
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as needed
    if ws.sheet_properties.pageSetUpPr is None:
        ws.sheet_properties.pageSetUpPr = PageSetupProperties()
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.75, bottom=0.6, header=0.3, footer=0.3)
    ws.print_options.horizontalCentered = True
    if title_cols:
        ws.print_title_cols = title_cols
    title = title_zh(run_info).replace("&", "&&")
    date = generated_date_zh(run_info).replace("&", "&&")
    for part, text in ((ws.oddHeader.left, title), (ws.oddHeader.right, ws.title.replace("&", "&&")),
                       (ws.oddFooter.left, f"生成日期：{date}" if date else ""),
                       (ws.oddFooter.right, "第 &P 页，共 &N 页")):
        part.text = text
        part.font = f"{REPORT_FONT},Regular"
        part.size = 9


def _title_rows(ws: Worksheet, run_info: Mapping[str, Any], n_cols: int) -> None:
    """Rows 1-2 of the ranking: the title and the generation date, source and kind of figures."""
    ws.append([title_zh(run_info)])
    meta = []
    date = generated_date_zh(run_info)
    if date:
        meta.append(f"生成日期：{date}")
    if run_info.get("source"):
        meta.append(f"图斑来源：{source_label_zh(run_info.get('source'))}")
    meta.append("数据：外业核查后（决定性）" if run_info.get("verified") else "数据：套合结果（疑似，未经外业核查）")
    ws.append(["    ".join(meta)])
    ws["A1"].font = _TITLE
    ws["A1"].alignment = Alignment(vertical="center")
    ws.row_dimensions[1].height = 30
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(n_cols, 1))
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=max(n_cols, 1))


def _ranking_sheet(ws: Worksheet, ratios: pd.DataFrame, run_info: Mapping[str, Any]) -> None:
    records = sort_ratios(ratios).to_dict("records")
    cols = _ranking_cols(ratios)
    _title_rows(ws, run_info, len(cols))
    header_widths, value_widths = _write_table(ws, cols, records, freeze_cols=3)
    headers = [c.header for c in cols]
    first = RANKING_HEADER_ROW + 1
    for (cell,) in ws.iter_rows(min_row=first, max_row=first + len(records) - 1, max_col=1):
        cell.alignment = Alignment(horizontal="center")  # the rank, apart from the code beside it
    _level_formats(ws, headers, first, first + len(records) - 1,
                   [("处理等级", "违法占用耕地比例"), (_zh("suspected_level"), _zh("suspected_ratio")),
                    (_zh("previous_level"), _zh("previous_ratio"))])
    totals = _Totals({"county_name": "合计", **county_totals(ratios), **_verified_totals(ratios)})
    row = first + len(records)
    for j, c in enumerate(cols, start=1):  # columns without a total are left empty (_Totals)
        value = c.value(totals) if c.header not in ("排名", "行政区代码", "处理等级") else None
        cell = ws.cell(row=row, column=j, value=value)
        cell.font = _BOLD
        cell.border = _TOP_BORDER
        if c.number_format is not None:
            cell.number_format = c.number_format
        if value is not None:
            value_widths[j - 1] = max(value_widths[j - 1], _display_width(value, c.number_format))
    _set_widths(ws, cols, header_widths, value_widths, 14, header_row=RANKING_HEADER_ROW)
    _page_setup(ws, run_info, title_cols="A:C")


_CHUNK_ROWS = 20_000
"""Rows of the patch list converted and written at a time (bounds the memory of a national list)."""

_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


@dataclass
class _BulkRows:
    """The patch list's rows, written straight into the sheet's XML when the workbook is saved.

    openpyxl builds a Python object per cell and an XML element per cell when it saves, minutes
    for a national list of 200,000 pieces. The sheet is built by openpyxl with its header row
    only (widths, panes, filter, print layout); the rows below are produced here, cell by cell as
    openpyxl writes them: the same values, number formats and alignments (style ids registered in
    the workbook's style table), strings inline, numbers as ``%.16g``.
    """

    ws: Worksheet
    cols: tuple[_Col, ...]
    table: pd.DataFrame
    widths: list[int]
    wraps: list[bool]
    first_row: int = 2

    def _style_ids(self) -> tuple[list[str], list[str], list[str]]:
        """The ``s`` attribute of each column's cells: plain, wrapped, and centred in a tall row."""
        wb = self.ws.parent
        wrap = Alignment(wrap_text=True, vertical="center")
        centred = Alignment(vertical="center")

        def attr(number_format: str | None, alignment: Alignment | None) -> str:
            cell = Cell(self.ws)
            if number_format is not None:
                cell.number_format = number_format
            if alignment is not None:
                cell.alignment = alignment
            return f' s="{wb._cell_styles.add(cell._style)}"' if cell.has_style else ""  # noqa: SLF001

        plain = [attr(c.number_format, wrap if w else None) for c, w in zip(self.cols, self.wraps, strict=True)]
        tall = [attr(c.number_format, wrap if w else centred) for c, w in zip(self.cols, self.wraps, strict=True)]
        return plain, tall, [get_column_letter(j) for j in range(1, len(self.cols) + 1)]

    def last_row(self) -> int:
        """The sheet's last row."""
        return self.first_row + len(self.table) - 1

    def xml(self) -> Iterator[str]:
        """The ``<row>`` elements, a chunk of rows at a time."""
        plain, tall_style, letters = self._style_ids()
        for start in range(0, len(self.table), _CHUNK_ROWS):
            chunk = self.table.iloc[start:start + _CHUNK_ROWS]
            values = [c.values(chunk) for c in self.cols]
            heights: list[float] = [0.0] * len(chunk)
            for j, wraps in enumerate(self.wraps):
                if not wraps:
                    continue
                per_line = self.widths[j] - 1
                lines: dict[Any, int] = {}
                for i, v in enumerate(values[j]):
                    n = lines.get(v)
                    if n is None:
                        n = lines[v] = -(-_display_width(v, None) // per_line)
                    if n > 1:  # a wrapped cell: its row as high as its lines
                        heights[i] = max(heights[i], _LINE_PT * n + 2)
            first = self.first_row + start
            cells = [_cells_xml(letters[j], values[j], plain[j], tall_style[j], heights, first)
                     for j in range(len(self.cols))]
            out = []
            for i, row_cells in enumerate(zip(*cells)):
                h = heights[i]
                head = f'<row r="{first + i}" ht="{h:.16g}" customHeight="1">' if h else f'<row r="{first + i}">'
                out.append(head + "".join(row_cells) + "</row>")
            yield "".join(out)


def _string_xml(value: str) -> str:
    """An inline string cell's type and content, as openpyxl writes them (its checks included)."""
    value = value[:32767]
    if ILLEGAL_CHARACTERS_RE.search(value):
        raise IllegalCharacterError(f"{value} cannot be used in worksheets.")
    space = ' xml:space="preserve"' if value.strip() and value != value.strip() else ""
    return f' t="inlineStr"><is><t{space}>{value.translate(_XML_ESCAPES)}</t></is></c>'


def _cells_xml(letter: str, values: Sequence[Any], plain: str, tall: str, heights: Sequence[float],
               first_row: int) -> list[str]:
    """One column's ``<c>`` elements of consecutive rows (empty where openpyxl writes no cell)."""
    out: list[str] = []
    append = out.append
    strings: dict[str, str] = {}
    row = first_row
    for v, height in zip(values, heights, strict=True):
        style = tall if height else plain
        if type(v) is float:  # noqa: E721 - the common case first
            append(f'<c r="{letter}{row}"{style} t="n"><v>{"%.16g" % v if v - v == 0 else ""}</v></c>')
        elif v is None:
            append(f'<c r="{letter}{row}"{style} t="n"/>' if style else "")
        elif isinstance(v, str):
            body = strings.get(v)
            if body is None:
                body = strings[v] = _string_xml(v)
            append(f'<c r="{letter}{row}"{style}{body}')
        elif isinstance(v, bool):
            append(f'<c r="{letter}{row}"{style} t="b"><v>{int(v)}</v></c>')
        elif isinstance(v, (int, float)):
            append(f'<c r="{letter}{row}"{style} t="n"><v>{"%.16g" % v if not math.isinf(v) else ""}</v></c>')
        else:
            text = str(v)
            body = strings.get(text)
            if body is None:
                body = strings[text] = _string_xml(text)
            append(f'<c r="{letter}{row}"{style}{body}')
        row += 1
    return out


def _patch_sheet(ws: Worksheet, pieces: pd.DataFrame, run_info: Mapping[str, Any]) -> _BulkRows:
    """Every piece, the largest illegal farmland area first (decisive where verdicts exist).

    The header, widths and print layout are set here; the rows are written on saving
    (:class:`_BulkRows`, :func:`_save`).
    """
    table = sort_by_illegal_area(pieces)
    cols = _PATCHES + (_VERIFIED_PATCHES if "effect" in table.columns else ())
    ws.append([c.header for c in cols])
    header_widths = _table_frame(ws, cols, 1, len(table), 1)
    value_widths = [0] * len(cols)
    for start in range(0, len(table), _CHUNK_ROWS):
        chunk = table.iloc[start:start + _CHUNK_ROWS]
        for j, c in enumerate(cols):
            value_widths[j] = max(value_widths[j], _max_display_width(c.values(chunk), c.number_format))
    lines = 1
    widths: list[int] = []
    wraps: list[bool] = []
    for j, (c, h, v) in enumerate(zip(cols, header_widths, value_widths, strict=True), start=1):
        width = _column_width(c, h, v, 16)
        ws.column_dimensions[get_column_letter(j)].width = width
        lines = max(lines, -(-h // (width - 1)))
        widths.append(width)
        wraps.append(c.number_format is None and v > 16)
    ws.row_dimensions[1].height = _LINE_PT * lines + 4
    _page_setup(ws, run_info)
    return _BulkRows(ws, cols, table, widths, wraps)


def _save(wb: Workbook, bulk: _BulkRows, path: Path) -> None:
    """Save ``wb`` to ``path`` with ``bulk``'s rows in its sheet's XML (after its header row)."""
    for idx, ws in enumerate(wb.worksheets, 1):
        if ws is bulk.ws:
            name = ws._path.format(idx)[1:]  # noqa: SLF001 - where openpyxl writes sheet idx
    buffer = io.BytesIO()
    rows = bulk.xml()  # registers the rows' styles before the style table is written
    first = next(rows, "")
    wb.save(buffer)
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename != name:
                dst.writestr(info, data)
                continue
            text = data.decode("utf-8")
            cut = text.index("</sheetData>")
            head, tail = text[:cut], text[cut:]
            last = f"{get_column_letter(len(bulk.cols))}{max(bulk.last_row(), 1)}"
            head = re.sub(r'<dimension ref="[^"]*"', f'<dimension ref="A1:{last}"', head, count=1)
            entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(entry, "w") as out:
                out.write(head.encode("utf-8"))
                out.write(first.encode("utf-8"))
                for chunk in rows:
                    out.write(chunk.encode("utf-8"))
                out.write(tail.encode("utf-8"))


def _unrectified_sheet(ws: Worksheet, records: Sequence[Mapping[str, Any]], run_info: Mapping[str, Any]) -> None:
    header_widths, value_widths = _write_table(ws, _UNRECTIFIED, [_Totals(r) for r in records])
    _set_widths(ws, _UNRECTIFIED, header_widths, value_widths, 16)
    _page_setup(ws, run_info)


_NOTES_WIDTH = 110  # column B of 说明, in characters of the default font


def _notes_sheet(ws: Worksheet, run_info: Mapping[str, Any], totals: Mapping[str, Any]) -> None:
    rows: list[tuple[str, str]] = [
        ("标题", title_zh(run_info)),
        *rules_lines_zh(run_info),
        *verification_lines_zh(run_info),
        ("面积单位", f"1亩 = 10000/15 平方米 ≈ {M2_PER_MU:.2f} 平方米；1公顷 = 10000 平方米 = 15亩"),
        ("图斑来源", source_label_zh(run_info.get("source"))),
        ("县（市、区）个数", str(totals["n_counties"])),
        ("配置文件", str(run_info.get("config", ""))),
        ("生成时间", str(run_info.get("generated_at", ""))),
        ("软件版本", f"landcheck {run_info.get('landcheck_version', '')}".strip()),
        *data_quality_lines_zh(run_info.get("data_quality")),
    ]
    ws.append(["项目", "内容"])
    for cell in ws[1]:
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
    for key, text in rows:
        ws.append([key, text])
        # wrapped text: the row is as high as its lines (Excel and LibreOffice alike)
        lines = sum(max(1, -(-_display_width(part, None) // (_NOTES_WIDTH - 4))) for part in str(text).split("\n"))
        ws.row_dimensions[ws.max_row].height = _LINE_PT * lines + 4
    for (cell,) in ws.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for (cell,) in ws.iter_rows(min_row=2, min_col=1, max_col=1):
        cell.font = _BOLD
        cell.alignment = Alignment(vertical="top", wrap_text=True)
    ws.column_dimensions["A"].width = 20
    ws.column_dimensions["B"].width = _NOTES_WIDTH
    ws.freeze_panes = "A2"
    ws.print_title_rows = "1:1"
    _page_setup(ws, run_info)


def _workbook() -> Workbook:
    """A workbook whose default font (that of every cell not given another) is :data:`REPORT_FONT`.

    openpyxl has no public setting for it: the first entry of the workbook's font table and the
    ``Normal`` style's font are replaced (bold cells get :data:`_BOLD`, the same family). The font
    has no ``scheme``, so Excel uses its name rather than the theme's font.
    """
    wb = Workbook()
    wb._fonts = IndexedList([_FONT])  # noqa: SLF001 - the default cell font (fontId 0)
    wb._named_styles["Normal"].font = _FONT  # noqa: SLF001
    return wb


def write_excel_report(
    ratios: pd.DataFrame,
    pieces: pd.DataFrame,
    run_info: Mapping[str, Any],
    path: str | os.PathLike[str],
) -> Path:
    """Write ``report.xlsx`` with the sheets 县级排名, 图斑明细 and 说明.

    县级排名 has one row per county in rank order (no-ratio counties last) and a
    合计 row (sums, and the overall ratio = total illegal / total occupied);
    areas in 亩 and 公顷 (number format ``0.00``), the ratio as a percentage
    (``0.00%``), level and ratio cells coloured by conditional formats on the level, the title
    and generation date above it. 图斑明细 lists every piece with areas in m² and 亩, the largest
    illegal farmland area first. Every sheet prints A4 landscape, one page wide (module docstring). 说明 states the thresholds and rules in words, the unit, the
    source, config file and generation time. When ``ratios`` has the run's decisive columns
    (``overlay.contracts.COUNTY_VERIFIED_COLUMNS``) the ranking adds the suspected ratio and
    level, verification progress, key-project deduction, rectified area, level reason and
    severe-impact reason (and last year's figures with ``previous_run``); pieces with verdicts
    add their verdict columns; ``run_info['previous_run']`` adds the sheet 上年度未整改. Cells hold full-precision values;
    rounding is only the number format. Headers are bold and frozen.

    Parameters
    ----------
    ratios : pandas.DataFrame
        One row per county (docs/architecture.md).
    pieces : geopandas.GeoDataFrame or pandas.DataFrame
        One row per patch piece; the geometry is not written.
    run_info : mapping
        ``year``, thresholds and rules; optionally ``config``, ``generated_at``,
        ``source``, ``landcheck_version``.
    path : str or os.PathLike
        The ``.xlsx`` file (written to a temporary file, then renamed).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    require_columns(ratios, COUNTY_COLUMNS, "ratios")
    require_columns(pieces, RUN_PIECE_COLUMNS, "pieces")
    require_run_info(run_info)
    wb = _workbook()
    ranking = wb.active
    ranking.title = RANKING_SHEET
    _ranking_sheet(ranking, ratios, run_info)
    bulk = _patch_sheet(wb.create_sheet(PATCH_SHEET), pieces, run_info)
    previous = run_info.get("previous_run")
    if previous:
        _unrectified_sheet(wb.create_sheet(UNRECTIFIED_SHEET), previous.get("unrectified") or [], run_info)
    _notes_sheet(wb.create_sheet(NOTES_SHEET), run_info, county_totals(ratios))
    wb.properties.title = title_zh(run_info)
    wb.properties.creator = "landcheck"
    final = Path(path)
    with atomic_output(final) as tmp:
        _save(wb, bulk, tmp)
    return final
