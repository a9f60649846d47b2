"""``report.xlsx``: the county ranking, the patch list and the rules, with Chinese headers."""
from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
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
from reports.tables import county_totals, sort_ratios
from reports.texts import (data_quality_lines_zh, rules_lines_zh, source_label_zh, title_zh,
                           verification_lines_zh)
from reports.units import M2_PER_MU, m2_to_ha, m2_to_mu

__all__ = ["RANKING_SHEET", "PATCH_SHEET", "NOTES_SHEET", "UNRECTIFIED_SHEET", "RANKING_HEADERS", "PATCH_HEADERS",
           "VERIFIED_RANKING_HEADERS", "VERIFIED_PATCH_HEADERS", "write_excel_report"]

RANKING_SHEET = "县级排名"
PATCH_SHEET = "图斑明细"
NOTES_SHEET = "说明"
UNRECTIFIED_SHEET = "上年度未整改"

AREA_FORMAT = "0.00"
RATIO_FORMAT = "0.00%"
COUNT_FORMAT = "0"
TEXT_FORMAT = "@"
SCORE_FORMAT = "0.000"

_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill(fill_type="solid", fgColor="DDEBF7")
_THIN = Side(style="thin", color="999999")
_TOP_BORDER = Border(top=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="center", horizontal="center")


@dataclass(frozen=True)
class _Col:
    header: str
    value: Callable[[Mapping[str, Any]], Any]
    number_format: str | None = None


def _m2(col: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda r: None if is_missing(r[col]) else float(r[col])


def _mu(col: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda r: None if is_missing(r[col]) else m2_to_mu(float(r[col]))


def _ha(col: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda r: None if is_missing(r[col]) else m2_to_ha(float(r[col]))


def _int(col: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda r: None if is_missing(r[col]) else int(r[col])


def _str(col: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda r: None if is_missing(r[col]) else str(r[col])


def _float(col: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda r: None if is_missing(r[col]) else float(r[col])


_RANKING: tuple[_Col, ...] = (
    _Col("排名", _int("rank"), COUNT_FORMAT),
    _Col("行政区代码", _str("county_code"), TEXT_FORMAT),
    _Col("行政区名称", _str("county_name")),
    _Col("新增建设占用耕地面积(亩)", _mu("occupied_farmland_m2"), AREA_FORMAT),
    _Col("新增建设占用耕地面积(公顷)", _ha("occupied_farmland_m2"), AREA_FORMAT),
    _Col("其中违法占用耕地面积(亩)", _mu("illegal_farmland_m2"), AREA_FORMAT),
    _Col("其中违法占用耕地面积(公顷)", _ha("illegal_farmland_m2"), AREA_FORMAT),
    _Col("违法占用耕地比例", _float("ratio"), RATIO_FORMAT),
    _Col("处理等级", lambda r: LEVEL_LABELS_ZH.get(str(r["level"]), str(r["level"]))),
    _Col("图斑个数", _int("n_patches"), COUNT_FORMAT),
    _Col("违法图斑个数", _int("n_illegal_patches"), COUNT_FORMAT),
    _Col("其中合法占用耕地面积(亩)", _mu("legal_farmland_m2"), AREA_FORMAT),
    _Col("占用基本农田面积(亩)", _mu("basic_farmland_m2"), AREA_FORMAT),
    _Col("其中违法占用基本农田面积(亩)", _mu("illegal_basic_farmland_m2"), AREA_FORMAT),
)
RANKING_HEADERS: tuple[str, ...] = tuple(c.header for c in _RANKING)
"""Headers of the county ranking sheet, in order."""

_PATCHES: tuple[_Col, ...] = (
    _Col("图斑编号", _str("patch_id"), TEXT_FORMAT),
    _Col("原始图斑编号", _str("source_id"), TEXT_FORMAT),
    _Col("行政区代码", _str("county_code"), TEXT_FORMAT),
    _Col("行政区名称", _str("county_name")),
    _Col("图斑面积(平方米)", _m2("area_m2"), AREA_FORMAT),
    _Col("图斑面积(亩)", _mu("area_m2"), AREA_FORMAT),
    _Col("耕地面积(平方米)", _m2("farmland_m2"), AREA_FORMAT),
    _Col("耕地面积(亩)", _mu("farmland_m2"), AREA_FORMAT),
    _Col("基本农田面积(平方米)", _m2("basic_farmland_m2"), AREA_FORMAT),
    _Col("批准用地面积(平方米)", _m2("approved_m2"), AREA_FORMAT),
    _Col("合法占用耕地面积(平方米)", _m2("legal_farmland_m2"), AREA_FORMAT),
    _Col("违法占用耕地面积(平方米)", _m2("illegal_farmland_m2"), AREA_FORMAT),
    _Col("违法占用耕地面积(亩)", _mu("illegal_farmland_m2"), AREA_FORMAT),
    _Col("违法占用基本农田面积(平方米)", _m2("illegal_basic_farmland_m2"), AREA_FORMAT),
    _Col("非耕地面积(平方米)", _m2("other_m2"), AREA_FORMAT),
    _Col("图斑类型", lambda r: STATUS_LABELS_ZH.get(str(r["status"]), str(r["status"]))),
    _Col("图斑来源", lambda r: ORIGIN_LABELS_ZH.get(str(r["origin"]), str(r["origin"]))),
    _Col("平均变化得分", _float("mean_score"), SCORE_FORMAT),
    _Col("前时相", _str("before_date"), TEXT_FORMAT),
    _Col("后时相", _str("after_date"), TEXT_FORMAT),
    _Col("年度", _int("year"), COUNT_FORMAT),
)
PATCH_HEADERS: tuple[str, ...] = tuple(c.header for c in _PATCHES)
"""Headers of the patch list sheet, in order."""


def _label(mapping: Mapping[str, str], col: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda r: None if is_missing(r.get(col)) else mapping.get(str(r[col]), str(r[col]))


def _yes_no(col: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda r: None if is_missing(r.get(col)) else ("是" if bool(r[col]) else "否")


def _zh(col: str, unit: str = "") -> str:
    return COLUMN_LABELS_ZH[col] + unit


_VERIFIED_RANKING: tuple[_Col, ...] = (
    _Col(_zh("suspected_illegal_farmland_m2", "(亩)"), _mu("suspected_illegal_farmland_m2"), AREA_FORMAT),
    _Col(_zh("suspected_ratio"), _float("suspected_ratio"), RATIO_FORMAT),
    _Col(_zh("suspected_level"), _label(LEVEL_LABELS_ZH, "suspected_level")),
    _Col(_zh("n_verified"), _int("n_verified"), COUNT_FORMAT),
    _Col(_zh("verified_share"), _float("verified_share"), RATIO_FORMAT),
    _Col(_zh("complete"), _yes_no("complete")),
    _Col(_zh("key_project_illegal_m2", "(亩)"), _mu("key_project_illegal_m2"), AREA_FORMAT),
    _Col(_zh("after_deduction_ratio"), _float("after_deduction_ratio"), RATIO_FORMAT),
    _Col(_zh("rectified_illegal_m2", "(亩)"), _mu("rectified_illegal_m2"), AREA_FORMAT),
    _Col(_zh("level_reason"), _label(LEVEL_REASON_LABELS_ZH, "level_reason")),
    _Col(_zh("severe_impact_reason"), _str("severe_impact_reason")),
)
VERIFIED_RANKING_HEADERS: tuple[str, ...] = tuple(c.header for c in _VERIFIED_RANKING)
"""Headers added to the ranking sheet when the county table has the run's decisive columns
(``overlay.contracts.COUNTY_VERIFIED_COLUMNS``)."""

_PREVIOUS_RANKING: tuple[_Col, ...] = (
    _Col(_zh("previous_ratio"), _float("previous_ratio"), RATIO_FORMAT),
    _Col(_zh("previous_level"), _label(LEVEL_LABELS_ZH, "previous_level")),
    _Col(_zh("ratio_change"), _float("ratio_change"), RATIO_FORMAT),
    _Col(_zh("previous_unrectified_n"), _int("previous_unrectified_n"), COUNT_FORMAT),
    _Col(_zh("previous_unrectified_m2", "(亩)"), _mu("previous_unrectified_m2"), AREA_FORMAT),
)

_VERIFIED_PATCHES: tuple[_Col, ...] = (
    _Col(_zh("verdict"), _label({k: v.label_zh for k, v in VERDICT_BY_CODE.items()}, "verdict")),
    _Col(_zh("effect"), _label(EFFECT_LABELS_ZH, "effect")),
    _Col(_zh("wfmj_m2", "(平方米)"), _m2("wfmj_m2"), AREA_FORMAT),
    _Col(_zh("verified_illegal_farmland_m2", "(平方米)"), _m2("verified_illegal_farmland_m2"), AREA_FORMAT),
    _Col(_zh("verified_farmland_m2", "(平方米)"), _m2("verified_farmland_m2"), AREA_FORMAT),
    _Col(_zh("rectification"), _label({k: v.label_zh for k, v in RECTIFICATION_BY_CODE.items()}, "rectification")),
    _Col(_zh("key_project"), _yes_no("key_project")),
    _Col(_zh("verdict_source"), _str("verdict_source")),
)
VERIFIED_PATCH_HEADERS: tuple[str, ...] = tuple(c.header for c in _VERIFIED_PATCHES)
"""Headers added to the patch sheet when the pieces carry their verdicts."""

_UNRECTIFIED: tuple[_Col, ...] = (
    _Col("图斑编号", _str("patch_id"), TEXT_FORMAT),
    _Col("行政区代码", _str("county_code"), TEXT_FORMAT),
    _Col("行政区名称", _str("county_name")),
    _Col("年度", _int("year"), COUNT_FORMAT),
    _Col("违法占用耕地面积(平方米)", _m2("illegal_farmland_m2"), AREA_FORMAT),
    _Col("违法占用耕地面积(亩)", _mu("illegal_farmland_m2"), AREA_FORMAT),
    _Col(_zh("verdict"), _label({k: v.label_zh for k, v in VERDICT_BY_CODE.items()}, "verdict")),
    _Col(_zh("rectification"), _label({k: v.label_zh for k, v in RECTIFICATION_BY_CODE.items()}, "rectification")),
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
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _write_table(
    ws: Worksheet, cols: Sequence[_Col], records: Sequence[Mapping[str, Any]]
) -> tuple[list[int], list[int]]:
    """Write header + rows; return display widths of the headers and of the values."""
    ws.append([c.header for c in cols])
    header_widths = [_display_width(c.header, None) for c in cols]
    value_widths = [0] * len(cols)
    for rec in records:
        values = [c.value(rec) for c in cols]
        ws.append(values)
        for i, (v, c) in enumerate(zip(values, cols, strict=True)):
            value_widths[i] = max(value_widths[i], _display_width(v, c.number_format))
    for cell in ws[1]:
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.alignment = _WRAP
    for j, c in enumerate(cols, start=1):
        if c.number_format is None:
            continue
        for (cell,) in ws.iter_rows(min_row=2, max_row=len(records) + 1, min_col=j, max_col=j):
            cell.number_format = c.number_format
    ws.freeze_panes = "A2"
    if records:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{len(records) + 1}"
    return header_widths, value_widths


def _set_widths(ws: Worksheet, header_widths: Sequence[int], value_widths: Sequence[int], cap: int) -> None:
    """Column width: values in full (up to ``cap``), headers on up to two lines."""
    for j, (h, v) in enumerate(zip(header_widths, value_widths, strict=True), start=1):
        width = max((h + 1) // 2, min(v, cap), 6)
        ws.column_dimensions[get_column_letter(j)].width = width + 2
    ws.row_dimensions[1].height = 33


def _ranking_sheet(ws: Worksheet, ratios: pd.DataFrame) -> None:
    records = sort_ratios(ratios).to_dict("records")
    cols = _ranking_cols(ratios)
    header_widths, value_widths = _write_table(ws, cols, records)
    headers = [c.header for c in cols]
    level_cols = [(headers.index("处理等级") + 1, "level")]
    if "suspected_level" in ratios.columns:
        level_cols.append((headers.index(_zh("suspected_level")) + 1, "suspected_level"))
    for i, rec in enumerate(records, start=2):
        for col, key in level_cols:
            fill = LEVEL_FILLS.get(str(rec[key]))
            if fill:
                ws.cell(row=i, column=col).fill = PatternFill(fill_type="solid", fgColor=fill)
    totals = _Totals({"county_name": "合计", **county_totals(ratios), **_verified_totals(ratios)})
    row = len(records) + 2
    for j, c in enumerate(cols, start=1):  # columns without a total are left empty (_Totals)
        value = c.value(totals) if c.header not in ("排名", "行政区代码", "处理等级") else None
        cell = ws.cell(row=row, column=j, value=value)
        cell.font = _BOLD
        cell.border = _TOP_BORDER
        if c.number_format is not None:
            cell.number_format = c.number_format
        if value is not None:
            value_widths[j - 1] = max(value_widths[j - 1], _display_width(value, c.number_format))
    _set_widths(ws, header_widths, value_widths, cap=40)


def _patch_sheet(ws: Worksheet, pieces: pd.DataFrame) -> None:
    if isinstance(pieces, gpd.GeoDataFrame):
        table = pd.DataFrame(pieces.drop(columns=pieces.geometry.name))
    else:
        table = pd.DataFrame(pieces)
    table["county_code"] = table["county_code"].astype(str)
    table = table.sort_values(["county_code", "patch_id"], kind="stable")
    cols = _PATCHES + (_VERIFIED_PATCHES if "effect" in table.columns else ())
    records = [_Totals(r) for r in table.to_dict("records")]
    header_widths, value_widths = _write_table(ws, cols, records)
    _set_widths(ws, header_widths, value_widths, cap=30)


def _unrectified_sheet(ws: Worksheet, records: Sequence[Mapping[str, Any]]) -> None:
    header_widths, value_widths = _write_table(ws, _UNRECTIFIED, [_Totals(r) for r in records])
    _set_widths(ws, header_widths, value_widths, cap=30)


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
    for (cell,) in ws.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for (cell,) in ws.iter_rows(min_row=2, min_col=1, max_col=1):
        cell.font = _BOLD
        cell.alignment = Alignment(vertical="top")
    ws.column_dimensions["A"].width = 20
    ws.column_dimensions["B"].width = 100
    ws.freeze_panes = "A2"


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
    (``0.00%``), level cells coloured. 图斑明细 lists every piece with areas in
    m² and 亩. 说明 states the thresholds and rules in words, the unit, the
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
    wb = Workbook()
    ranking = wb.active
    ranking.title = RANKING_SHEET
    _ranking_sheet(ranking, ratios)
    _patch_sheet(wb.create_sheet(PATCH_SHEET), pieces)
    previous = run_info.get("previous_run")
    if previous:
        _unrectified_sheet(wb.create_sheet(UNRECTIFIED_SHEET), previous.get("unrectified") or [])
    _notes_sheet(wb.create_sheet(NOTES_SHEET), run_info, county_totals(ratios))
    wb.properties.title = title_zh(run_info)
    wb.properties.creator = "landcheck"
    final = Path(path)
    with atomic_output(final) as tmp:
        wb.save(tmp)
    return final
