"""The printable field sheet of a county (外业核查表): A4 PDF, three patches a page.

Every patch gets a block: its monitoring number (JCBH), the figures of the
Shapefile record (areas in m² and 亩, dates, centre point), the before / after
chips with the outline (the same stretched pixels as the PNGs of the package;
none when the run had no imagery) and an empty verdict line: the PDLX verdicts
and ZGZT states as tick boxes, blanks for WFMJ, HCSM, HCR, HCRQ and ZP. The field
team fills it in on paper and enters it into the package's Shapefile.

Chinese text needs a CJK font (:func:`reports.fonts.find_cjk_font`); without one
the sheet is written with English labels. Text is embedded as Type 3 glyphs
with a ToUnicode map: a PDF reader finds a JCBH with its search. The PDF carries
no creation date: the same input gives the same bytes.
"""
from __future__ import annotations

import io
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from overlay.contracts import FIELD_BY_NAME, PHOTO_SEPARATOR, RECTIFICATIONS, VERDICTS
from reports.chips import OUTLINE_RGB, StretchedPair
from reports.fonts import find_cjk_font
from reports.units import M2_PER_MU

__all__ = ["PATCHES_PER_PAGE", "PAGE_SIZE_IN", "CountySheet", "n_pages", "sheet_bytes"]

log = logging.getLogger(__name__)

PATCHES_PER_PAGE = 3
"""Patches on one A4 page."""

PAGE_SIZE_IN = (210 / 25.4, 297 / 25.4)
"""A4 portrait, inches."""

_W, _H = 210.0, 297.0  # mm
_LEFT, _RIGHT, _TOP = 12.0, 198.0, 12.0
_HEADER = 22.0
_BLOCK = 84.0
_CHIP = 52.0
_TEXT_PT = 7.8
_LINE_MM = 4.3
_CHOICE_PT = 9.0  # the tick-box lines: boxes large enough to tick
_BOX = "\u25a1"  # □, a tick box (in Noto Sans SC and DejaVu Sans)


def n_pages(n_patches: int) -> int:
    """Pages of a sheet of ``n_patches`` patches (one page even without patches)."""
    return max(1, math.ceil(n_patches / PATCHES_PER_PAGE))


@dataclass(frozen=True)
class _Labels:
    zh: bool

    def __call__(self, zh: str, en: str) -> str:
        return zh if self.zh else en


def _area(props: Mapping[str, Any], name: str) -> str:
    value = props.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    m2 = float(value)
    return f"{m2:,.2f} m²  ({m2 / M2_PER_MU:,.2f} 亩)"


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return str(value) or "—"


class CountySheet:
    """Writes one county's sheet page by page into ``file`` (a path or a binary file object).

    Use as a context manager; call :meth:`add` once per patch, in the order of the
    package. Pages are drawn as soon as they are full, so only one page of chips is
    held in memory.

    Parameters
    ----------
    file
        Where the PDF goes.
    county_code, county_name
        The county.
    year
        The check's year (title).
    crs_label
        The CRS of the centre coordinates, e.g. ``EPSG:4551``.
    n_patches
        Number of patches that will be added (for "page i / n").
    no_chips_note
        Why the package has no chips at all (``(zh, en)``), or None.
    """

    def __init__(self, file: str | BinaryIO, *, county_code: str, county_name: str, year: Any,
                 crs_label: str, n_patches: int, no_chips_note: tuple[str, str] | None = None) -> None:
        self.font = find_cjk_font()
        self.L = _Labels(self.font is not None)
        self.county_code = str(county_code)
        self.county_name = self._shown(county_name)
        self.year = year
        self.crs_label = crs_label
        self.n_patches = int(n_patches)
        self.no_chips_note = no_chips_note
        self._pending: list[tuple[Mapping[str, Any], StretchedPair | None, str | None]] = []
        self._count = 0
        self._page = 0
        families = [self.font.family] if self.font else ["DejaVu Sans"]  # one font: faster layout
        self._rc = matplotlib.rc_context({"font.family": families, "pdf.fonttype": 3,
                                          "axes.unicode_minus": False})
        self._rc.__enter__()
        title = self.L(f"{year}年度土地卫片执法检查外业核查表 {self.county_code} {self.county_name}",
                       f"Field verification sheet {year} {self.county_code}")
        self._pdf = PdfPages(file, metadata={"CreationDate": None, "ModDate": None, "Title": title,
                                             "Creator": "landcheck", "Producer": "landcheck (matplotlib)"})

    # ------------------------------------------------------------------ public
    def add(self, props: Mapping[str, Any], chips: StretchedPair | None, missing: str | None = None) -> None:
        """Add one patch: its Shapefile record ``props``, its stretched chips (or None and why)."""
        self._pending.append((props, chips, missing))
        self._count += 1
        if len(self._pending) == PATCHES_PER_PAGE:
            self._flush()

    def close(self) -> int:
        """Draw the last page and finish the PDF; returns the number of pages."""
        try:
            if self._pending or self._page == 0:
                self._flush()
            pages = self._pdf.get_pagecount()
            self._pdf.close()
        finally:
            self._rc.__exit__(None, None, None)
        return pages

    def __enter__(self) -> "CountySheet":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            try:
                self._pdf.close()
            finally:
                self._rc.__exit__(None, None, None)

    # ------------------------------------------------------------------ drawing
    def _shown(self, text: Any) -> str:
        """``text`` if the font draws every character of it, else "" (never tofu)."""
        s = "" if text is None else str(text)
        if self.font is None:
            return s if s.isascii() else ""
        return s if self.font.covers(s) else ""

    def _flush(self) -> None:
        fig = Figure(figsize=PAGE_SIZE_IN)
        FigureCanvasAgg(fig)  # a private canvas (no pyplot): text extents for the layout
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, _W)
        ax.set_ylim(_H, 0)
        ax.axis("off")
        self._page += 1
        self._header(ax)
        first = self._count - len(self._pending) + 1
        for i, (props, chips, missing) in enumerate(self._pending):
            self._block(fig, ax, _TOP + _HEADER + i * _BLOCK, first + i, props, chips, missing)
        self._footer(ax)
        self._pdf.savefig(fig)
        self._pending = []

    def _header(self, ax) -> None:
        L = self.L
        total = n_pages(self.n_patches)
        ax.text(_LEFT, _TOP, L(f"{self.year}年度 土地卫片执法检查 外业核查表",
                               f"{self.year} satellite land-enforcement check: field verification sheet"),
                fontsize=12.5, va="top")
        ax.text(_RIGHT, _TOP, f"{self.county_code} {self.county_name}", fontsize=11, va="top", ha="right")
        sub = L(f"图斑 {self.n_patches} 个 · 第 {self._page} / {total} 页 · 中心点坐标系 {self.crs_label}"
                f" · 1 亩 = 10000/15 m²",
                f"{self.n_patches} patches · page {self._page} / {total} · centre point CRS "
                f"{self.crs_label} · 1 mu = 10000/15 m²")
        ax.text(_LEFT, _TOP + 7.5, sub, fontsize=8, va="top")
        if self.no_chips_note is not None:
            ax.text(_LEFT, _TOP + 12, L(f"无影像截图：{self.no_chips_note[0]}",
                                        f"no image chips: {self.no_chips_note[1]}"),
                    fontsize=8, va="top", color="#a33")
        ax.plot([_LEFT, _RIGHT], [_TOP + _HEADER - 3, _TOP + _HEADER - 3], color="black", lw=0.8)

    def _footer(self, ax) -> None:
        L = self.L
        verdict_field = FIELD_BY_NAME["PDLX"]
        text = L(f"PDLX（{verdict_field.alias_zh}）只选一项，选“其他”须在 HCSM 说明；ZP 填照片文件名，多个以 "
                 f"{PHOTO_SEPARATOR} 分隔；HCRQ 写 YYYY-MM-DD。核查结果录入 {self.county_code}.shp 的同名字段。",
                 f"PDLX: tick one (explain 'other' in HCSM); ZP: photo file names separated by "
                 f"{PHOTO_SEPARATOR}; HCRQ: YYYY-MM-DD. Enter the results into the same fields of "
                 f"{self.county_code}.shp.")
        ax.text(_LEFT, _H - 8, text, fontsize=7, va="bottom", color="#333")

    def _block(self, fig, ax, y0: float, number: int, props: Mapping[str, Any],
               chips: StretchedPair | None, missing: str | None) -> None:
        # few text objects: each costs more to draw than anything else on the page
        L = self.L
        jcbh = _text(props.get("JCBH"))
        ax.text(_LEFT, y0, f"{number}.  JCBH  {jcbh}", fontsize=10.5, va="top")
        kind = " · ".join(s for s in (self._shown(props.get("TBLX")), self._shown(props.get("THJG"))) if s)
        ax.text(_RIGHT, y0, kind, fontsize=8.5, va="top", ha="right")
        name = self._shown(props.get("XZQMC"))
        lines = [
            (L("原始编号", "source id"), _text(props.get("YSBH"))),
            (L("行政区", "county"), f"{_text(props.get('XZQDM'))} {name}".strip()),
            (L("图斑面积", "patch area"), _area(props, "TBMJ")),
            (L("占用耕地", "farmland"), _area(props, "GDMJ")),
            (L("批准用地", "approved"), _area(props, "PZMJ")),
            (L("未批占用耕地", "unapproved farmland"), _area(props, "WFGDMJ")),
            (L("其中基本农田", "of it basic farmland"), _area(props, "WFJBNTMJ")),
            (L("前时相", "before"), _text(props.get("QSX"))),
            (L("后时相", "after"), _text(props.get("HSX"))),
            (L("中心点 东/北", "centre E/N"), _coords(props.get("DZB"), props.get("BZB"), 1, " m")),
            (L("中心点 经/纬", "centre lon/lat"), _coords(props.get("JD"), props.get("WD"), 6, "°")),
        ]
        spacing = _LINE_MM / (_TEXT_PT * 25.4 / 72)
        y = y0 + 6.5
        ax.text(_LEFT, y, "\n".join(label for label, _ in lines), fontsize=_TEXT_PT, va="top", color="#444",
                linespacing=spacing)
        ax.text(_LEFT + 22, y, "\n".join(value for _, value in lines), fontsize=_TEXT_PT, va="top",
                linespacing=spacing)
        # chips
        for k, (date_label, date_field) in enumerate(((L("前时相", "before"), "QSX"),
                                                      (L("后时相", "after"), "HSX"))):
            x = 84.0 + k * (_CHIP + 6)
            top = y0 + 6
            ax.text(x, top + _CHIP + 1, f"{date_label} {_text(props.get(date_field))}", fontsize=7.5, va="top")
            self._chip(fig, x, top, None if chips is None else (chips.before if k == 0 else chips.after),
                       chips, missing)
        # verdict lines: tick boxes and blanks
        y = y0 + 64
        ax.text(_LEFT, y, self._verdict_line, fontsize=_CHOICE_PT, va="center")
        y += 5.2
        ax.text(_LEFT, y, self._rectification_line, fontsize=_CHOICE_PT, va="center")
        ax.text(132, y, L("违法面积 WFMJ", "illegal area WFMJ"), fontsize=_TEXT_PT, va="center")
        _blank(ax, 154, 186, y)
        ax.text(187, y, "m²", fontsize=_TEXT_PT, va="center")
        y += 5.2
        ax.text(_LEFT, y, L("核查说明 HCSM", "remarks HCSM"), fontsize=_TEXT_PT, va="center")
        _blank(ax, _LEFT + 22, _RIGHT, y)
        y += 5.2
        ax.text(_LEFT, y, L("核查人 HCR", "verifier HCR"), fontsize=_TEXT_PT, va="center")
        _blank(ax, _LEFT + 22, 68, y)
        ax.text(71, y, L("核查日期 HCRQ", "date HCRQ"), fontsize=_TEXT_PT, va="center")
        _blank(ax, 91, 120, y)
        ax.text(123, y, L("照片 ZP", "photos ZP"), fontsize=_TEXT_PT, va="center")
        _blank(ax, 136, _RIGHT, y)
        sep = y0 + _BLOCK - 3
        ax.plot([_LEFT, _RIGHT], [sep, sep], color="#999", lw=0.5, ls=(0, (2, 2)))

    @property
    def _verdict_line(self) -> str:
        L = self.L
        options = [L(v.label_zh, v.code.replace("_", " ")) for v in VERDICTS]
        return L("判定类型 PDLX", "verdict PDLX") + "      " + "     ".join(f"{_BOX} {o}" for o in options)

    @property
    def _rectification_line(self) -> str:
        L = self.L
        options = [L(r.label_zh, r.code.replace("_", " ")) for r in RECTIFICATIONS]
        return L("整改状态 ZGZT", "rectified ZGZT") + "      " + "     ".join(f"{_BOX} {o}" for o in options)

    def _chip(self, fig, x: float, top: float, rgb, chips: StretchedPair | None, missing: str | None) -> None:
        box = fig.add_axes((x / _W, 1 - (top + _CHIP) / _H, _CHIP / _W, _CHIP / _H))
        box.set_xticks([])
        box.set_yticks([])
        if rgb is None:
            box.set_facecolor("white")  # printer-friendly; room for a sketch
            note = missing or (self.L(self.no_chips_note[0], self.no_chips_note[1])
                               if self.no_chips_note else self.L("无影像", "no imagery"))
            box.text(0.5, 0.5, self.L("无影像截图", "no image chip") + "\n" + note, ha="center",
                     va="center", fontsize=7, wrap=True, transform=box.transAxes)
            return
        h, w = rgb.shape[:2]
        box.imshow(rgb, interpolation="none", extent=(0, w, h, 0))
        colour = tuple(c / 255 for c in OUTLINE_RGB)
        for ring in chips.rings:
            if len(ring) >= 2:
                box.plot(ring[:, 0], ring[:, 1], color=colour, lw=1.0)
        box.set_xlim(0, w)
        box.set_ylim(h, 0)
        box.set_aspect("equal")


def _coords(a: Any, b: Any, decimals: int, unit: str) -> str:
    if a is None or b is None or any(isinstance(v, float) and math.isnan(v) for v in (a, b)):
        return "—"
    return f"{float(a):.{decimals}f}{unit}  {float(b):.{decimals}f}{unit}"


def _blank(ax, x0: float, x1: float, y: float) -> None:
    ax.plot([x0, x1], [y + 1.6, y + 1.6], color="black", lw=0.5)


def sheet_bytes(county_code: str, county_name: str, year: Any, crs_label: str,
                entries: Sequence[tuple[Mapping[str, Any], StretchedPair | None]],
                no_chips_note: tuple[str, str] | None = None) -> tuple[bytes, int]:
    """The whole sheet in memory: ``(pdf bytes, pages)`` (tests, small counties)."""
    buf = io.BytesIO()
    sheet = CountySheet(buf, county_code=county_code, county_name=county_name, year=year,
                        crs_label=crs_label, n_patches=len(entries), no_chips_note=no_chips_note)
    for props, chips in entries:
        sheet.add(props, chips)
    pages = sheet.close()
    return buf.getvalue(), pages
