"""``report.pdf``: the HTML report as an A4 PDF for filing.

The same content as ``report.html``: title and run metadata, the summary by level, the rules,
verification / deduction / data-check notes, the ratio chart, the map, the ranking (levels
coloured, the no-ratio county in words), verification progress, the largest illegal pieces of each
county and, with a previous run, last year's comparison. A4 landscape, every page headed with the
title and footed with the generation date and "第 n 页，共 N 页"; long tables repeat their header
row on every page.

Drawn with reportlab's platypus, without a browser. Text is in ``STSong-Light``, the standard CID
font the field sheets use (:mod:`reports.field_sheet`): reportlab ships its metrics, nothing
needs installing, the text stays searchable Unicode; the reader supplies the glyphs (Acrobat, WPS,
pdf.js, poppler and the browsers' viewers do). The chart and the map are embedded PNGs. The PDF
carries no creation date (reportlab's invariant mode): the same input gives the same bytes.
"""
from __future__ import annotations

import bisect
import functools
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (Flowable, Image, KeepTogether, LongTable, Paragraph, SimpleDocTemplate, Spacer,
                                Table, TableStyle)
from xml.sax.saxutils import escape

from overlay.contracts import (COLUMN_LABELS_ZH, COUNTY_COLUMNS, LEVEL_FILLS, LEVEL_LABELS_ZH,
                               LEVEL_REASON_LABELS_ZH, LEVEL_REASON_SEVERE_IMPACT, LEVELS, RECTIFICATION_BY_CODE,
                               STATUS_LABELS_ZH, VERDICT_BY_CODE)
from reports._common import atomic_output, is_missing, require_columns, require_run_info
from reports.patch_order import TOP_PER_COUNTY, illegal_area_column, top_illegal_records
from reports.report_map import map_caption_zh
from reports.tables import county_totals, sort_ratios
from reports.texts import (data_quality_lines_zh, generated_date_zh, rules_lines_zh, source_label_zh, title_zh,
                           verification_lines_zh)
from reports.units import format_percent, m2_to_ha, m2_to_mu

__all__ = ["write_pdf_report", "PAGE_SIZE", "FONT"]

FONT = "STSong-Light"
"""The report's font: a standard CID font, not embedded (module docstring)."""

PAGE_SIZE = landscape(A4)
"""A4 landscape, points."""

_MARGIN = 14 * mm
_HEADER_BG = colors.HexColor("#ddebf7")
_GRID = colors.HexColor("#999999")


@functools.cache
def _register() -> None:
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=13.5, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=17, leading=22, spaceAfter=4),
        "h2": ParagraphStyle("h2", parent=base, fontSize=12.5, leading=17, spaceBefore=10, spaceAfter=5,
                             textColor=colors.HexColor("#1f3a5f"), keepWithNext=1),
        "body": base,
        "meta": ParagraphStyle("meta", parent=base, fontSize=8.5, leading=12, textColor=colors.HexColor("#555555")),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10.5),
        "head": ParagraphStyle("head", parent=base, fontSize=8, leading=10.5, alignment=1),
        "num": ParagraphStyle("num", parent=base, fontSize=8, leading=10.5, alignment=2),
    }


def _p(text: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape("" if is_missing(text) else str(text)), style)


class _HeadParagraph(Paragraph):
    """A header cell: repeated on every page of a long table, so its lines are broken once per
    width (``wrap`` depends on the width alone; the layout it leaves is kept)."""

    _wrapped: tuple[float, tuple[float, float]] | None = None

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        if self._wrapped is None or self._wrapped[0] != availWidth:
            self._wrapped = (availWidth, super().wrap(availWidth, availHeight))
        return self._wrapped[1]


def _area(value: Any) -> str:
    return "" if is_missing(value) else f"{float(value):,.2f}"


def _pct(value: Any) -> str:
    return format_percent(value) or "—"


def _level(value: Any) -> str:
    return LEVEL_LABELS_ZH.get(str(value), "" if is_missing(value) else str(value))


_PADDING = 6.0
"""reportlab's default left and right cell padding (points)."""


class _Table:
    """Rows of cells (text) with per-cell background colours, turned into a platypus Table.

    A cell whose text fits on one line is drawn as a plain string in the cell's font (at the very
    position its Paragraph would take: same font, size, leading, alignment); only text that wraps
    is a Paragraph. A national report has ~20,000 rows: Paragraphs made it take minutes.
    """

    def __init__(self, headers: Sequence[str], widths: Sequence[float], numeric: Sequence[bool],
                 styles: Mapping[str, ParagraphStyle]) -> None:
        self.headers, self.widths, self.numeric, self.s = list(headers), list(widths), list(numeric), styles
        self.rows: list[list[str]] = []
        self.fills: list[tuple[int, int, str]] = []
        self.bold_rows: list[int] = []

    def add(self, values: Sequence[Any], fills: Mapping[int, str] | None = None) -> None:
        if len(values) != len(self.numeric):
            raise ValueError(f"{len(values)} values for {len(self.numeric)} columns")
        self.rows.append(["" if is_missing(v) else str(v) for v in values])
        for col, fill in (fills or {}).items():
            self.fills.append((col, len(self.rows), fill))

    def _cells(self, widths: Sequence[float]) -> list[list[Any]]:
        """The body cells: plain strings where the text fits on one line, else Paragraphs."""
        cell, num = self.s["cell"], self.s["num"]
        font, size = cell.fontName, cell.fontSize
        room = [w - 2 * _PADDING - 1.0 for w in widths]  # 1 pt to spare: near the edge a Paragraph decides
        fits: dict[tuple[int, str], bool] = {}

        def one_line(j: int, text: str) -> bool:
            key = (j, text)
            ok = fits.get(key)
            if ok is None:
                ok = fits[key] = (text == " ".join(text.split())
                                  and pdfmetrics.stringWidth(text, font, size) <= room[j])
            return ok

        return [[text if one_line(j, text) else Paragraph(escape(text), num if self.numeric[j] else cell)
                 for j, text in enumerate(row)] for row in self.rows]

    def build(self) -> Flowable:
        total = sum(self.widths)
        avail = PAGE_SIZE[0] - 2 * _MARGIN
        widths = [w * avail / total for w in self.widths] if total > avail else self.widths
        body = self.s["cell"]
        style = [("GRID", (0, 0), (-1, -1), 0.4, _GRID), ("BACKGROUND", (0, 0), (-1, 0), _HEADER_BG),
                 ("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                 ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
                 ("FONTNAME", (0, 1), (-1, -1), body.fontName), ("FONTSIZE", (0, 1), (-1, -1), body.fontSize),
                 ("LEADING", (0, 1), (-1, -1), body.leading), ("TEXTCOLOR", (0, 1), (-1, -1), body.textColor)]
        style += [("ALIGN", (j, 1), (j, -1), "RIGHT") for j, num in enumerate(self.numeric) if num]
        row_style = [(r, ("BACKGROUND", c, colors.HexColor(f"#{f}"))) for c, r, f in self.fills]
        row_style += [(r, ("LINEABOVE", 0, 1.2, colors.black)) for r in self.bold_rows]
        header = [_HeadParagraph(escape(h), self.s["head"]) for h in self.headers]
        return _PagedTable(header, self._cells(widths), widths, style,
                           sorted(row_style, key=lambda x: x[0]))


class _PagedTable(Flowable):
    """A long table (header row + body rows) laid out a page at a time.

    Laid out as one platypus Table, every page break re-measures and re-styles all the rows left
    (quadratic: minutes for the 14,000 rows of a national top list). This flowable hands the frame
    a Table of the header and the next rows only (:attr:`ROWS`, doubled until they overfill the
    page), split as platypus splits it, and keeps the rest for the next page: the same pages,
    rows, header repeats and styles as the one Table (``repeatRows=1``).

    ``row_style``: (body row, 1-based; command with the column(s) after its name) for fills and rules.
    """

    ROWS = 40
    """Rows of the first try: more than a page holds (a row is at least 14.5 points high)."""

    def __init__(self, header: list[Any], body: list[list[Any]], widths: Sequence[float], style: list[tuple],
                 row_style: list[tuple[int, tuple]], start: int = 0) -> None:
        super().__init__()
        self.header, self.body, self.col_widths, self.style = header, body, list(widths), style
        self.row_style, self.start = row_style, start
        self.hAlign = "LEFT"
        self._table: Table | None = None
        self._laid: tuple[float, float, tuple[Table, float, float, bool]] | None = None

    def _make(self, k: int) -> Table:
        """The header and body rows ``start`` .. ``start + k`` as one Table."""
        end = min(self.start + k, len(self.body))
        commands = list(self.style)
        lo = bisect.bisect_left(self.row_style, self.start + 1, key=lambda x: x[0])
        for r, cmd in self.row_style[lo:]:
            if r > end:
                break
            row = r - self.start
            name, col, *rest = cmd
            cells = ((col, row), (col, row)) if name == "BACKGROUND" else ((col, row), (-1, row))
            commands.append((name, *cells, *rest))
        table = LongTable([self.header, *self.body[self.start:end]], colWidths=self.col_widths, repeatRows=1,
                          hAlign="LEFT")
        table.setStyle(TableStyle(commands))
        return table

    def _head(self, avail_w: float, avail_h: float) -> tuple[Table, float, float, bool]:
        """The shortest head Table that overfills ``avail_h`` or a page (or holds all the rows), with
        its size and whether it holds every remaining row."""
        if self._laid is not None and self._laid[:2] == (avail_w, avail_h):
            return self._laid[2]  # the frame asks again (wrap, then split) for the same room
        k = self.ROWS
        while True:
            table = self._make(k)
            w, h = table.wrap(avail_w, avail_h)
            whole = self.start + k >= len(self.body)
            # taller than a page is all a caller can learn (KeepTogether asks with unbounded room)
            if whole or h > min(avail_h, PAGE_SIZE[1]):
                self._laid = (avail_w, avail_h, (table, w, h, whole))
                return table, w, h, whole
            k *= 2

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803 - platypus' names
        self._table, self.width, self.height, _ = self._head(availWidth, availHeight)
        return self.width, self.height

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803
        table, _, _, whole = self._head(availWidth, availHeight)
        self._laid = None  # split consumes the table
        parts = table.split(availWidth, availHeight)
        if whole or not parts:
            return parts
        shown = len(parts[0]._cellvalues) - 1  # noqa: SLF001 - body rows on this page (the header is row 0)
        return [parts[0], _PagedTable(self.header, self.body, self.col_widths, self.style, self.row_style,
                                      self.start + shown)]

    def draw(self) -> None:
        assert self._table is not None
        self._table.drawOn(self.canv, 0, 0)


def _image(png: bytes, max_w: float, max_h: float) -> Image:
    with PILImage.open(io.BytesIO(png)) as im:
        w, h = im.size
    scale = min(max_w / w, max_h / h)
    return Image(io.BytesIO(png), width=w * scale, height=h * scale)


def _ranking(table: pd.DataFrame, totals: Mapping[str, Any], s: Mapping[str, ParagraphStyle]) -> Flowable:
    verified = "suspected_level" in table.columns
    headers = ["排名", "行政区代码", "行政区名称", "新增建设占用耕地(亩)", "新增建设占用耕地(公顷)",
               "其中违法占用耕地(亩)", "其中违法占用耕地(公顷)", "违法占用耕地比例", "处理等级", "图斑个数", "违法图斑个数"]
    widths = [10, 17, 20, 19, 19, 19, 19, 17, 22, 12, 13]
    numeric = [True, False, False, True, True, True, True, True, False, True, True]
    if verified:
        headers += [COLUMN_LABELS_ZH["suspected_ratio"], COLUMN_LABELS_ZH["suspected_level"], "核查进度",
                    COLUMN_LABELS_ZH["after_deduction_ratio"], COLUMN_LABELS_ZH["level_reason"]]
        widths += [18, 22, 18, 15, 34]
        numeric += [True, False, True, True, False]
    t = _Table(headers, [w * mm for w in widths], numeric, s)
    for rec in table.to_dict("records"):
        occ, ill = float(rec["occupied_farmland_m2"]), float(rec["illegal_farmland_m2"])
        ratio = "不计算（无新增占用耕地）" if str(rec["level"]) == "no_ratio" else _pct(rec["ratio"])
        values = ["" if is_missing(rec["rank"]) else int(rec["rank"]), rec["county_code"], rec["county_name"],
                  _area(m2_to_mu(occ)), _area(m2_to_ha(occ)), _area(m2_to_mu(ill)), _area(m2_to_ha(ill)),
                  ratio, _level(rec["level"]), int(rec["n_patches"]), int(rec["n_illegal_patches"])]
        fills = {8: LEVEL_FILLS.get(str(rec["level"]), "ffffff")}
        if verified:
            reason = LEVEL_REASON_LABELS_ZH.get(str(rec["level_reason"]), str(rec["level_reason"]))
            if rec["level_reason"] == LEVEL_REASON_SEVERE_IMPACT and not is_missing(rec["severe_impact_reason"]):
                reason = f"{reason}：{rec['severe_impact_reason']}"
            done = "完成" if bool(rec["complete"]) else "未完成"
            values += [_pct(rec["suspected_ratio"]), _level(rec["suspected_level"]),
                       f"{int(rec['n_verified'])}/{int(rec['n_patches'])}（{done}）",
                       _pct(rec["after_deduction_ratio"]), reason]
            fills[12] = LEVEL_FILLS.get(str(rec["suspected_level"]), "ffffff")
        t.add(values, fills)
    occ, ill = float(totals["occupied_farmland_m2"]), float(totals["illegal_farmland_m2"])
    t.add(["", "", "合计", _area(m2_to_mu(occ)), _area(m2_to_ha(occ)), _area(m2_to_mu(ill)), _area(m2_to_ha(ill)),
           _pct(totals["ratio"]), "", int(totals["n_patches"]), int(totals["n_illegal_patches"])]
          + ([""] * 5 if verified else []))
    t.bold_rows.append(len(t.rows))
    return t.build()


def _progress(table: pd.DataFrame, s: Mapping[str, ParagraphStyle]) -> Flowable:
    headers = ["行政区代码", "行政区名称", "图斑数", COLUMN_LABELS_ZH["n_verified"], "未核查图斑数",
               COLUMN_LABELS_ZH["verified_share"], COLUMN_LABELS_ZH["complete"],
               f"{COLUMN_LABELS_ZH['rectified_illegal_m2']}(亩)"]
    t = _Table(headers, [w * mm for w in (22, 26, 16, 18, 18, 18, 16, 30)],
               [False, False, True, True, True, True, False, True], s)
    for rec in table.sort_values("county_code", kind="stable").to_dict("records"):
        n, v = int(rec["n_patches"]), int(rec["n_verified"])
        t.add([rec["county_code"], rec["county_name"], n, v, n - v, _pct(rec["verified_share"]),
               "是" if bool(rec["complete"]) else "否", _area(m2_to_mu(float(rec["rectified_illegal_m2"])))])
    return t.build()


def _top(table: pd.DataFrame, pieces: pd.DataFrame, s: Mapping[str, ParagraphStyle]) -> Flowable | None:
    top = top_illegal_records(pieces)
    if not top:
        return None
    column = illegal_area_column(pieces)
    verified = "verdict" in pieces.columns
    headers = ["行政区", "序号", "图斑编号（JCBH）", "违法占用耕地面积(亩)", "违法占用耕地面积(平方米)",
               "图斑面积(平方米)", "图斑类型（套合）"] + (["判定类型", "整改状态"] if verified else [])
    widths = [26, 10, 48, 24, 28, 24, 28] + ([18, 18] if verified else [])
    t = _Table(headers, [w * mm for w in widths], [False, True, False, True, True, True, False]
               + ([False, False] if verified else []), s)
    for county in table.to_dict("records"):
        rows = top.get(str(county["county_code"]))
        if rows is None:
            continue
        for k, rec in enumerate(rows, start=1):
            values = [f"{county['county_name']} {county['county_code']}" if k == 1 else "", k, rec["patch_id"],
                      _area(m2_to_mu(float(rec[column]))), _area(rec[column]), _area(rec["area_m2"]),
                      STATUS_LABELS_ZH.get(str(rec["status"]), str(rec["status"]))]
            if verified:
                values += [VERDICT_BY_CODE[rec["verdict"]].label_zh if rec.get("verdict") in VERDICT_BY_CODE
                           else "未核查",
                           RECTIFICATION_BY_CODE[rec["rectification"]].label_zh
                           if rec.get("rectification") in RECTIFICATION_BY_CODE else ""]
            t.add(values)
    return t.build()


def _previous(table: pd.DataFrame, s: Mapping[str, ParagraphStyle]) -> Flowable:
    headers = ["行政区代码", "行政区名称", COLUMN_LABELS_ZH["previous_ratio"], COLUMN_LABELS_ZH["previous_level"],
               "本年度违法占用耕地比例", COLUMN_LABELS_ZH["ratio_change"], COLUMN_LABELS_ZH["previous_unrectified_n"]]
    t = _Table(headers, [w * mm for w in (22, 26, 24, 24, 24, 26, 24)],
               [False, False, True, False, True, True, True], s)
    for rec in table.to_dict("records"):
        change = "—" if is_missing(rec["ratio_change"]) else f"{float(rec['ratio_change']) * 100:+.2f} 个百分点"
        t.add([rec["county_code"], rec["county_name"], _pct(rec["previous_ratio"]), _level(rec["previous_level"]),
               _pct(rec["ratio"]), change,
               "" if is_missing(rec["previous_unrectified_n"]) else int(rec["previous_unrectified_n"])])
    return t.build()


def _numbered_canvas(title: str, footer: str) -> type[Canvas]:
    """A canvas class that heads every page with ``title`` and numbers it "第 n 页，共 N 页"."""

    class _Numbered(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            w, h = PAGE_SIZE
            self.setFont(FONT, 8)
            self.setFillColor(colors.HexColor("#555555"))
            self.drawString(_MARGIN, h - 9 * mm, title)
            self.drawString(_MARGIN, 7 * mm, footer)
            self.drawRightString(w - _MARGIN, 7 * mm, f"第 {self._pageNumber} 页，共 {total} 页")
            self.setStrokeColor(colors.HexColor("#bbbbbb"))
            self.line(_MARGIN, h - 10.5 * mm, w - _MARGIN, h - 10.5 * mm)

    return _Numbered


def write_pdf_report(
    ratios: pd.DataFrame,
    run_info: Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    chart_png: str | os.PathLike[str] | None = None,
    map_png: str | os.PathLike[str] | None = None,
    pieces: pd.DataFrame | None = None,
) -> Path:
    """Write ``report.pdf``: the report for filing (module docstring).

    Parameters
    ----------
    ratios : pandas.DataFrame
        One row per county (docs/architecture.md), with the run's decisive columns when present.
    run_info : mapping
        ``year``, thresholds and rules; optionally ``config``, ``generated_at``, ``source``,
        ``landcheck_version``, ``data_quality``, verification entries.
    path : str or os.PathLike
        The PDF (written to a temporary file, then renamed).
    chart_png, map_png : str or os.PathLike or None
        The ratio chart and the map; None leaves them out.
    pieces : pandas.DataFrame or None
        The patch pieces, for the largest illegal pieces per county; None leaves the list out.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    require_columns(ratios, COUNTY_COLUMNS, "ratios")
    require_run_info(run_info)
    _register()
    s = _styles()
    title = title_zh(run_info)
    table = sort_ratios(ratios)
    totals = county_totals(ratios)
    verified = "suspected_level" in table.columns
    story: list[Any] = [Paragraph(escape(title), s["title"])]
    date = generated_date_zh(run_info)
    meta = [("生成日期", date), ("生成时间", run_info.get("generated_at")),
            ("图斑来源", source_label_zh(run_info.get("source"))), ("配置文件", run_info.get("config")),
            ("软件版本", f"landcheck {run_info['landcheck_version']}" if run_info.get("landcheck_version") else None)]
    for key, value in meta:
        if not is_missing(value) and str(value):
            story.append(_p(f"{key}：{value}", s["meta"]))

    counts = table["level"].astype(str).value_counts()
    summary = "，".join(f"{LEVEL_LABELS_ZH[lev]} {int(counts.get(lev, 0))} 个" for lev in LEVELS)
    overall = format_percent(totals["ratio"]) or "无（全部县均无新增占用耕地）"
    story += [Spacer(1, 4 * mm), _p(f"共 {int(totals['n_counties'])} 个县（市、区）：{summary}。"
                                     f"全部县合计违法占用耕地比例 {overall}。", s["body"])]
    if verified:
        scounts = table["suspected_level"].astype(str).value_counts()
        ssummary = "，".join(f"{LEVEL_LABELS_ZH[lev]} {int(scounts.get(lev, 0))} 个" for lev in LEVELS)
        story.append(_p(f"按外业核查结果（决定性）定级如上；仅按套合结果（疑似）：{ssummary}。"
                        f"已核查图斑 {int(table['n_verified'].sum())} / {int(table['n_patches'].sum())} 个，"
                        f"核查完成的县 {int(table['complete'].astype(bool).sum())} / {len(table)} 个。", s["body"]))

    def topics(heading: str, lines: Sequence[tuple[str, str]]) -> None:
        if not lines:
            return
        t = Table([[_p(k, s["cell"]), _p(v, s["cell"])] for k, v in lines], colWidths=[38 * mm, 220 * mm], hAlign="LEFT")
        t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.3, _GRID)]))
        story.extend([_p(heading, s["h2"]), t])

    topics("判定规则", rules_lines_zh(run_info)
           + [("面积单位", "1亩 = 10000/15 平方米 ≈ 666.67 平方米；1公顷 = 10000 平方米 = 15亩")])
    topics("核查、扣减与恶劣影响", verification_lines_zh(run_info))
    topics("数据检查", data_quality_lines_zh(run_info.get("data_quality")))

    frame_w = PAGE_SIZE[0] - 2 * _MARGIN
    frame_h = PAGE_SIZE[1] - 2 * _MARGIN - 30 * mm
    if chart_png is not None:
        story.append(KeepTogether([_p("各县违法占用耕地比例", s["h2"]),
                                   _image(Path(chart_png).read_bytes(), frame_w, frame_h),
                                   _p("虚线为约谈、问责比例标准；无新增占用耕地的县不计算比例，在其位置以文字注明，不画柱。",
                                      s["meta"])]))
    if map_png is not None:
        story.append(KeepTogether([_p("各县处理等级与监测图斑分布", s["h2"]),
                                   _image(Path(map_png).read_bytes(), frame_w, frame_h),
                                   _p(map_caption_zh(0 if pieces is None else len(pieces), len(table)),
                                      s["meta"])]))
    story += [_p("县级排名", s["h2"]), _ranking(table, totals, s)]
    if verified:
        story += [_p("核查进度", s["h2"]), _progress(table, s),
                  _p("未完成核查的县，其未核查图斑仍按套合结果（疑似）计入决定性比例。", s["meta"])]
    if pieces is not None:
        top = _top(table, pieces, s)
        story.append(_p(f"各县违法占用耕地面积最大的图斑（每县前 {TOP_PER_COUNTY} 个）", s["h2"]))
        story.append(top if top is not None else _p("没有违法占用耕地的图斑。", s["body"]))
    if run_info.get("previous_run") and "previous_ratio" in table.columns:
        story += [_p("上年度对比", s["h2"]), _previous(table, s)]

    final = Path(path)
    with atomic_output(final) as tmp:
        doc = SimpleDocTemplate(str(tmp), pagesize=PAGE_SIZE, leftMargin=_MARGIN, rightMargin=_MARGIN,
                                topMargin=_MARGIN, bottomMargin=_MARGIN, title=title, author="landcheck",
                                creator="landcheck", invariant=1)
        doc.build(story, canvasmaker=_numbered_canvas(title, f"生成日期：{date}" if date else ""))
    return final
