"""The printable field sheet of a county (外业核查表): A4 PDF, three patches a page.

Every patch gets a block: its monitoring number (JCBH), the figures of the
Shapefile record (areas in m² and 亩, dates, centre point), the before / after
chips with the outline (the same stretched pixels as the PNGs of the package,
embedded losslessly, Flate-compressed; none when the run had no imagery) and an
empty verdict line: the PDLX verdicts and ZGZT states as tick boxes, blanks for
WFMJ, HCSM, HCR, HCRQ and ZP. The field team fills it in on paper and enters it
into the package's Shapefile.

Written as PDF operators by this module and assembled by :mod:`reports.pdf_file` (pages,
streams, XObjects, fonts): about 0.08 ms a patch without chips (0.25 ms through reportlab's
canvas and document, which format every page's objects in Python), plus compressing the chips
with them. A section that is the same on many blocks (the labels of a page slot, the verdict
lines, the empty chip frames) is drawn once per sheet as a Form XObject and placed on each
block; reportlab's canvas still formats the few line and frame operators once per process, and
its font metrics give the widths of centred and right-aligned text.
Text is written in two fonts, switched inside a line: Latin characters (ASCII,
Latin-1, dashes) in Helvetica, everything else (Chinese, the tick box □,
full-width punctuation) in ``STSong-Light``, one of the standard CID fonts of
PDF readers: reportlab ships its metrics, so no font file is needed and the
sheet is always in Chinese. The font is not embedded: the reader draws it with
its own CJK font (Acrobat, pdf.js, poppler and the browsers' viewers all have
one), the text stays real text encoded as Unicode (``UniGB-UCS2-H``), so a
reader's search finds a JCBH and copy-paste gives the Chinese. A value with a
character outside the font's character set (GBK) is left blank rather than
printed as empty boxes. The PDF carries no creation date: the same input gives the same
bytes.
"""
from __future__ import annotations

import functools
import io
import itertools
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from reportlab.lib.rl_accel import escapePDF, fp_str
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from overlay.contracts import FIELD_BY_NAME, PHOTO_SEPARATOR, RECTIFICATIONS, VERDICTS
from reports.chips import OUTLINE_RGB, StretchedPair
from reports.pdf_file import PdfFile, font_objects, text_string
from reports.units import M2_PER_MU

__all__ = ["PATCHES_PER_PAGE", "PAGE_SIZE_IN", "CountySheet", "n_pages", "sheet_bytes"]

PATCHES_PER_PAGE = 3
"""Patches on one A4 page."""

PAGE_SIZE_IN = (210 / 25.4, 297 / 25.4)
"""A4 portrait, inches."""

_W, _H = 210.0, 297.0  # mm; layout coordinates are mm from the top left corner, y downwards
_LEFT, _RIGHT, _TOP = 12.0, 198.0, 12.0
_HEADER = 22.0
_BLOCK = 84.0
_CHIP = 52.0
_TEXT_PT = 7.8
_LINE_MM = 4.3
_CHOICE_PT = 9.0  # the tick-box lines: boxes large enough to tick
_BOX = "\u25a1"  # □, a tick box

_CJK_FONT = "STSong-Light"
_LATIN_FONT = "Helvetica"
_PT_MM = 25.4 / 72  # one point in mm
_PAGE_PT = f"{_W * 72 / 25.4:.4f} {_H * 72 / 25.4:.4f}"  # the page's width and height in points
_BLACK = (0.0, 0.0, 0.0)
# baseline below the anchor y, in font sizes, for a vertical alignment (as matplotlib's va)
_BASELINE = {"top": 0.80, "center": 0.32, "bottom": -0.20}


def n_pages(n_patches: int) -> int:
    """Pages of a sheet of ``n_patches`` patches (one page even without patches)."""
    return max(1, math.ceil(n_patches / PATCHES_PER_PAGE))


@dataclass(frozen=True)
class _Labels:
    """The sheet's language: always Chinese (``STSong-Light`` needs no font file).

    Kept for callers that word their own notes by it (``sheet.L.zh``).
    """

    zh: bool = True

    def __call__(self, zh: str, en: str) -> str:
        return zh if self.zh else en


def _area(props: Mapping[str, Any], name: str) -> str:
    value = props.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    m2 = float(value)
    return f"{m2:,.2f} m²  ({m2 / M2_PER_MU:,.2f} 亩)"


def _area_ops(value: Any, latin_name: str, cjk_name: str) -> str:
    """``_plain_ops(_area({"v": value}, "v"), _TEXT_PT, ...)``, formatted directly: the latin run of
    the two numbers, the CJK run of 亩, the closing parenthesis (numbers need no escaping)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _plain_ops("—", _TEXT_PT, latin_name, cjk_name)
    m2 = float(value)
    size = f"{_TEXT_PT:g}"
    return (f"{latin_name} {size} Tf ({m2:,.2f}{_AREA_MID}{m2 / M2_PER_MU:,.2f} ) Tj "
            f"{cjk_name} {size} Tf ({_MU}) Tj {latin_name} {size} Tf ({_CLOSE}) Tj")


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return str(value) or "—"


def _coords(a: Any, b: Any, decimals: int, unit: str) -> str:
    if a is None or b is None or any(isinstance(v, float) and math.isnan(v) for v in (a, b)):
        return "—"
    return f"{float(a):.{decimals}f}{unit}  {float(b):.{decimals}f}{unit}"


# ---------------------------------------------------------------------- fonts
@functools.cache
def _register_fonts() -> None:
    pdfmetrics.registerFont(UnicodeCIDFont(_CJK_FONT))


def _is_latin(ch: str) -> bool:
    """Drawn in Helvetica (WinAnsi): ASCII, Latin-1 (², ·, °) and the dashes."""
    o = ord(ch)
    return o < 0x80 or 0xA0 <= o < 0x100 or ch in "\u2013\u2014"


@functools.lru_cache(maxsize=4096)
def _covered(text: str) -> bool:
    """True when every character is drawable: Latin, or in the CJK font's character set (GBK)."""
    if text.isascii() or _ALL_LATIN.fullmatch(text):
        return True
    for ch in text:
        if _is_latin(ch):
            continue
        try:
            ch.encode("gbk")
        except UnicodeEncodeError:
            return False
    return True


@functools.lru_cache(maxsize=4096)
def _runs(text: str, size: float) -> tuple[tuple[tuple[bool, str], ...], float]:
    """``text`` as runs of one font each, ``(cjk, escaped PDF string)``, and its width in pt."""
    if text.isascii():  # one Helvetica run (the common case: numbers, JCBH, dates)
        return ((False, _escaped(text.encode("cp1252"))),), pdfmetrics.stringWidth(text, _LATIN_FONT, size)
    runs = []
    width = 0.0
    for latin, chars in itertools.groupby(text, key=_is_latin):
        chunk = "".join(chars)
        font = _LATIN_FONT if latin else _CJK_FONT
        width += pdfmetrics.stringWidth(chunk, font, size)
        # Helvetica: WinAnsi bytes; STSong-Light (UniGB-UCS2-H): UTF-16BE code units
        runs.append((not latin, _escaped(chunk.encode("cp1252" if latin else "utf-16-be"))))
    return tuple(runs), width


@functools.lru_cache(maxsize=4096)
def _text_ops(text: str, size: float, latin_name: str, cjk_name: str) -> tuple[str, float]:
    """The PDF text operators drawing ``text`` (fonts switched inside), and its width in pt."""
    runs, width = _runs(text, size)
    size_s = f"{size:g}"
    return " ".join(f"{cjk_name if cjk else latin_name} {size_s} Tf ({s}) Tj" for cjk, s in runs), width


_ESCAPES = {c: e for c in range(256) if (e := escapePDF(bytes([c]))) != chr(c)}
"""reportlab's :func:`escapePDF` as a translation table (its Python version loops over the bytes)."""


def _escaped(raw: bytes) -> str:
    """``escapePDF(raw)``: the same string, one C-level translation."""
    return raw.decode("latin-1").translate(_ESCAPES)


_AREA_MID, _MU, _CLOSE = _escaped(" m²  (".encode("cp1252")), _escaped("亩".encode("utf-16-be")), _escaped(b")")
"""The constant parts of an area's text operators (:func:`_area_ops`)."""


def _plain_ops(text: str, size: float, latin_name: str, cjk_name: str) -> str:
    """:func:`_text_ops` without the width (which reportlab's metrics make the costly part)."""
    size_s = f"{size:g}"
    if text.isascii() or _ALL_LATIN.fullmatch(text):  # one Helvetica run (numbers, ° and ² included)
        return f"{latin_name} {size_s} Tf ({_escaped(text.encode('cp1252'))}) Tj"
    ops = []
    for m in _RUN.finditer(text):  # the runs of itertools.groupby(text, key=_is_latin)
        latin = m.lastgroup == "latin"
        ops.append(f"{latin_name if latin else cjk_name} {size_s} Tf "
                   f"({_escaped(m.group().encode('cp1252' if latin else 'utf-16-be'))}) Tj")
    return " ".join(ops)


_LATIN_CHARS = "\x00-\x7f\xa0-\xff\u2013\u2014"  # as _is_latin
_RUN = re.compile(f"(?P<latin>[{_LATIN_CHARS}]+)|(?P<cjk>[^{_LATIN_CHARS}]+)")
_ALL_LATIN = re.compile(f"[{_LATIN_CHARS}]*")


@functools.lru_cache(maxsize=8192)
def _placed_ops(text: str, size: float, x: float, y: float, va: str, ha: str, latin_name: str,
                cjk_name: str) -> str:
    """``BT ... ET`` drawing ``text`` at ``(x, y)`` mm from the top left (labels repeat on every block)."""
    if ha == "left":  # no width needed: the values of a block (mostly unique) are left-aligned
        ops = _plain_ops(text, size, latin_name, cjk_name)
        x_pt = x * mm - 0.0
    else:
        ops, width = _text_ops(text, size, latin_name, cjk_name)
        x_pt = x * mm - (width if ha == "right" else width / 2)
    y_pt = (_H - y) * mm - _BASELINE[va] * size
    return f"BT 1 0 0 1 {x_pt:.2f} {y_pt:.2f} Tm {ops} ET"


@functools.lru_cache(maxsize=1024)
def _recorded(calls: tuple[tuple[str, tuple[Any, ...]], ...]) -> str:
    """The PDF operators reportlab's canvas writes for ``calls`` (``(method, args)``), as one string.

    Drawn once on a scratch canvas and replayed: reportlab formats every number in Python,
    and the sheet's lines and frames are the same on every block. A page's stream is its
    operators joined by newlines, so one joined string gives the same bytes.
    """
    scratch = Canvas(io.BytesIO(), pagesize=(_W * mm, _H * mm), invariant=1)
    start = len(scratch._code)
    for method, args in calls:
        getattr(scratch, method)(*args)
    return "\n".join(scratch._code[start:])


def _width_mm(text: str, size: float) -> float:
    return _runs(text, size)[1] / mm


# ---------------------------------------------------------------------- sheet
class CountySheet:
    """Writes one county's sheet page by page into ``file`` (a path or a binary file object).

    Use as a context manager; call :meth:`add` once per patch, in the order of the
    package. Pages are drawn as soon as they are full, so only one page of chips is
    held as arrays (their compressed pixels stay in memory until :meth:`close`).

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
        Why the package has no chips at all (``(zh, en)``; the sheet shows the Chinese), or None.
    """

    def __init__(self, file: str | BinaryIO, *, county_code: str, county_name: str, year: Any,
                 crs_label: str, n_patches: int, no_chips_note: tuple[str, str] | None = None) -> None:
        _register_fonts()
        self.L = _Labels()
        self.county_code = str(county_code)
        self.county_name = self._shown(county_name)
        self.year = year
        self.crs_label = crs_label
        self.n_patches = int(n_patches)
        self.no_chips_note = no_chips_note
        self._pending: list[tuple[Mapping[str, Any], StretchedPair | None, str | None]] = []
        self._count = 0
        self._page = 0
        self._closed = False
        self._fill = _BLACK
        self._file = file
        self._font_names = ("/F1", "/F2")  # Helvetica, STSong-Light in every resource dictionary
        self._pdf = PdfFile()
        self._fonts = self._pdf.reserve()  # the font resources, shared by every page and form
        self._form_resources = self._pdf.add(f"<< /Font {self._fonts} 0 R /ProcSet [/PDF /Text] >>")
        self._page_tree = self._pdf.reserve()
        self._pages: list[int] = []
        self._page_xobjects: dict[str, int] = {}  # the forms and images the page being drawn uses
        self._forms: dict[tuple[Any, ...], tuple[str, int]] = {}  # sections drawn as forms: name, object
        self._n_images = 0
        self._county_lines: dict[str, str] = {}  # the county line's operators (:meth:`_line_of_county`)
        self._code: list[str] = []  # the operators of the page (or form) being drawn
        self._title = f"{year}年度土地卫片执法检查外业核查表 {self.county_code} {self.county_name}"

    # ------------------------------------------------------------------ public
    def add(self, props: Mapping[str, Any], chips: StretchedPair | None, missing: str | None = None) -> None:
        """Add one patch: its Shapefile record ``props``, its stretched chips (or None and why)."""
        self._pending.append((props, chips, missing))
        self._count += 1
        if len(self._pending) == PATCHES_PER_PAGE:
            self._flush()

    def close(self) -> int:
        """Draw the last page and finish the PDF; returns the number of pages."""
        if not self._closed:
            if self._pending or self._page == 0:
                self._flush()
            self._save()
        return self._page

    def __enter__(self) -> "CountySheet":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif not self._closed:
            self._save()  # the pages drawn so far

    # ------------------------------------------------------------------ drawing primitives
    def _save(self) -> None:
        self._closed = True
        pdf = self._pdf
        latin, cjk = font_objects(_LATIN_FONT, _CJK_FONT)
        pdf.put(self._fonts, f"<< /F1 {pdf.add(latin)} 0 R /F2 {pdf.add(cjk)} 0 R >>")
        pdf.put(self._page_tree, f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in self._pages)}] "
                                 f"/Count {len(self._pages)} >>")
        root = pdf.add(f"<< /Type /Catalog /Pages {self._page_tree} 0 R >>")
        info = pdf.add(f"<< /Title {text_string(self._title)} /Creator (landcheck) /Producer (landcheck) >>")
        data = pdf.finish(root, info)
        if isinstance(self._file, (str, os.PathLike)):
            with open(self._file, "wb") as fh:
                fh.write(data)
        else:
            self._file.write(data)

    def _write(self, x: float, y: float, text: str, size: float, va: str = "top", ha: str = "left",
               color: tuple[float, float, float] = _BLACK) -> None:
        """``text`` at ``(x, y)`` mm from the top left, aligned like matplotlib's ``ha`` / ``va``."""
        if not text:
            return
        ops = _placed_ops(text, size, x, y, va, ha, *self._font_names)
        if color != self._fill:  # the fill colour outlives the text: set it on every change
            ops = f"{color[0]:.3f} {color[1]:.3f} {color[2]:.3f} rg {ops}"
            self._fill = color
        self._code.append(ops)

    def _line(self, x0: float, x1: float, y: float, width: float = 0.5,
              color: tuple[float, float, float] = (0, 0, 0), dash: Sequence[float] | None = None) -> None:
        self._code.append(_line_ops(x0, x1, y, width, tuple(color), None if not dash else tuple(dash)))

    def _shown(self, text: Any) -> str:
        """``text`` if the fonts draw every character of it, else "" (never empty boxes)."""
        s = "" if text is None else str(text)
        return s if _covered(s) else ""

    # ------------------------------------------------------------------ page
    def _flush(self) -> None:
        self._page += 1
        self._fill = _BLACK  # a new page starts with black
        self._code = []
        self._page_xobjects = {}
        self._header()
        first = self._count - len(self._pending) + 1
        for i, (props, chips, missing) in enumerate(self._pending):
            self._block(_TOP + _HEADER + i * _BLOCK, first + i, props, chips, missing)
        self._footer()
        contents = self._pdf.add_stream("", "\n".join(self._code).encode("latin-1"))
        xobjects = " ".join(f"/{name} {number} 0 R" for name, number in self._page_xobjects.items())
        self._pages.append(self._pdf.add(
            f"<< /Type /Page /Parent {self._page_tree} 0 R /MediaBox [0 0 {_PAGE_PT}] "
            f"/Resources << /Font {self._fonts} 0 R /ProcSet [/PDF /Text /ImageC] /XObject << {xobjects} >> >> "
            f"/Contents {contents} 0 R >>"))
        self._pending = []

    def _header(self) -> None:
        total = n_pages(self.n_patches)
        self._write(_LEFT, _TOP, f"{self.year}年度 土地卫片执法检查 外业核查表", 12.5)
        self._write(_RIGHT, _TOP, f"{self.county_code} {self.county_name}".strip(), 11, ha="right")
        sub = (f"图斑 {self.n_patches} 个 · 第 {self._page} / {total} 页 · 中心点坐标系 {self.crs_label}"
               f" · 1 亩 = 10000/15 m²")
        self._write(_LEFT, _TOP + 7.5, sub, 8)
        if self.no_chips_note is not None:
            self._write(_LEFT, _TOP + 12, f"无影像截图：{self._shown(self.no_chips_note[0])}", 8,
                        color=(0xAA / 255, 0x33 / 255, 0x33 / 255))
        self._line(_LEFT, _RIGHT, _TOP + _HEADER - 3, width=0.8)

    def _footer(self) -> None:
        verdict_field = FIELD_BY_NAME["PDLX"]
        text = (f"PDLX（{verdict_field.alias_zh}）只选一项，选“其他”须在 HCSM 说明；ZP 填照片文件名，多个以 "
                f"{PHOTO_SEPARATOR} 分隔；HCRQ 写 YYYY-MM-DD。核查结果录入 {self.county_code}.shp 的同名字段。")
        size = min(7.0, 7.0 * (_RIGHT - _LEFT) / max(_width_mm(text, 7.0), 1e-9))  # one line
        self._write(_LEFT, _H - 8, text, size, va="bottom", color=(0x33 / 255,) * 3)

    def _block(self, y0: float, number: int, props: Mapping[str, Any],
               chips: StretchedPair | None, missing: str | None) -> None:
        jcbh = _text(props.get("JCBH"))
        self._write(_LEFT, y0, f"{number}.  JCBH  {jcbh}", 10.5)
        kind = " · ".join(s for s in (self._shown(props.get("TBLX")), self._shown(props.get("THJG"))) if s)
        self._write(_RIGHT, y0, kind, 8.5, ha="right")
        name = self._shown(props.get("XZQMC"))
        latin, cjk = self._font_names
        labels_and_ops = [
            ("原始编号", self._text_ops(_text(props.get("YSBH")))),
            ("行政区", self._line_of_county(f"{_text(props.get('XZQDM'))} {name}".strip())),
            ("图斑面积", _area_ops(props.get("TBMJ"), latin, cjk)),
            ("占用耕地", _area_ops(props.get("GDMJ"), latin, cjk)),
            ("批准用地", _area_ops(props.get("PZMJ"), latin, cjk)),
            ("未批占用耕地", _area_ops(props.get("WFGDMJ"), latin, cjk)),
            ("其中基本农田", _area_ops(props.get("WFJBNTMJ"), latin, cjk)),
            ("前时相", self._text_ops(_text(props.get("QSX")))),
            ("后时相", self._text_ops(_text(props.get("HSX")))),
            ("中心点 东/北", self._text_ops(_coords(props.get("DZB"), props.get("BZB"), 1, " m"))),
            ("中心点 经/纬", self._text_ops(_coords(props.get("JD"), props.get("WD"), 6, "°"))),
        ]
        # the labels are the same on every block of a page slot: drawn once per sheet, as a form
        self._section(("labels", y0), lambda: self._labels(y0, [label for label, _ in labels_and_ops]))
        self._values(y0, [ops for _, ops in labels_and_ops])
        # chips
        dates = tuple(self._shown(_text(props.get(field))) for field in ("QSX", "HSX"))
        if chips is None:  # the same frames and note on every block of the page slot
            self._section(("no chips", y0, dates, missing, self.no_chips_note),
                          lambda: self._chips(y0, dates, None, missing))
        else:
            self._chips(y0, dates, chips, missing)
        self._section(("verdicts", y0), lambda: self._verdicts(y0))

    def _text_ops(self, value: str) -> str:
        """The text operators of a value of the block's column ("" when it is not shown)."""
        text = self._shown(value)
        return _plain_ops(text, _TEXT_PT, *self._font_names) if text else ""

    def _line_of_county(self, text: str) -> str:
        """:meth:`_text_ops` of the county's line (code and name), formatted once per sheet."""
        ops = self._county_lines.get(text)
        if ops is None:
            ops = self._county_lines[text] = self._text_ops(text)
        return ops

    def _values(self, y0: float, ops: Sequence[str]) -> None:
        """The value column of a block, from each line's text operators ("" for none): what
        :meth:`_write` gives for each value (black, left, top), the placements formatted once per
        page slot."""
        lines = [f"{head}{text} ET" for head, text in zip(_value_heads(y0, len(ops)), ops) if text]
        if lines and self._fill != _BLACK:
            lines[0] = f"{_BLACK[0]:.3f} {_BLACK[1]:.3f} {_BLACK[2]:.3f} rg {lines[0]}"
            self._fill = _BLACK
        self._code.extend(lines)

    def _labels(self, y0: float, labels: Sequence[str]) -> None:
        grey = (0x44 / 255,) * 3
        for k, label in enumerate(labels):
            self._write(_LEFT, y0 + 6.5 + k * _LINE_MM, label, _TEXT_PT, color=grey)

    def _section(self, key: tuple[Any, ...], draw) -> None:
        """Run ``draw`` (text and lines only) once per sheet as a form (a Form XObject) and draw
        the form: a section repeated on many blocks is written and compressed once.

        A section is a form when it starts in black (as after a black line of text): a form runs
        in the graphics state of the page that draws it and restores that state after, so the
        fill is black again after it.
        """
        if self._fill != _BLACK:
            draw()
            return
        form = self._forms.get(key)
        if form is None:
            page_code, self._code = self._code, []
            draw()
            form = self._forms[key] = (f"S{len(self._forms)}", self._pdf.add_stream(
                f"/Type /XObject /Subtype /Form /BBox [0 0 {_PAGE_PT}] /Resources {self._form_resources} 0 R",
                "\n".join(self._code).encode("latin-1")))
            self._code = page_code
            self._fill = _BLACK
        name, number = form
        self._page_xobjects[name] = number
        self._code.append(f"/{name} Do")

    def _chips(self, y0: float, dates: tuple[str, str], chips: StretchedPair | None, missing: str | None) -> None:
        for k, date_label in enumerate(("前时相", "后时相")):
            x = 84.0 + k * (_CHIP + 6)
            top = y0 + 6
            self._write(x, top + _CHIP + 1, f"{date_label} {dates[k]}", 7.5)
            self._chip(x, top, None if chips is None else (chips.before if k == 0 else chips.after),
                       chips, missing)

    def _verdicts(self, y0: float) -> None:
        """The verdict lines: tick boxes and blanks, and the dashed line under the block."""
        y = y0 + 64
        self._write(_LEFT, y, _VERDICT_LINE, _CHOICE_PT, va="center")
        y += 5.2
        self._write(_LEFT, y, _RECTIFICATION_LINE, _CHOICE_PT, va="center")
        self._write(132, y, "违法面积 WFMJ", _TEXT_PT, va="center")
        self._line(154, 186, y + 1.6)
        self._write(187, y, "m²", _TEXT_PT, va="center")
        y += 5.2
        self._write(_LEFT, y, "核查说明 HCSM", _TEXT_PT, va="center")
        self._line(_LEFT + 22, _RIGHT, y + 1.6)
        y += 5.2
        self._write(_LEFT, y, "核查人 HCR", _TEXT_PT, va="center")
        self._line(_LEFT + 22, 68, y + 1.6)
        self._write(71, y, "核查日期 HCRQ", _TEXT_PT, va="center")
        self._line(91, 120, y + 1.6)
        self._write(123, y, "照片 ZP", _TEXT_PT, va="center")
        self._line(136, _RIGHT, y + 1.6)
        sep = y0 + _BLOCK - 3
        self._line(_LEFT, _RIGHT, sep, color=(0x99 / 255,) * 3, dash=(1, 1))

    def _chip(self, x: float, top: float, rgb, chips: StretchedPair | None, missing: str | None) -> None:
        """One chip in the ``_CHIP`` mm square at ``(x, top)``: the image fitted, centred and framed."""
        if rgb is None:
            self._code.append(_recorded((("setLineWidth", (0.8,)), ("setStrokeColorRGB", (0, 0, 0)),
                                         ("rect", (x * mm, (_H - top - _CHIP) * mm, _CHIP * mm, _CHIP * mm, 1, 0)))))
            note = missing or (self.no_chips_note[0] if self.no_chips_note else "无影像")
            lines = ["无影像截图", *_wrap(self._shown(note), 7.0, _CHIP - 4)]
            pitch = 7.0 * 1.2 * _PT_MM
            y = top + _CHIP / 2 - pitch * (len(lines) - 1) / 2
            for k, line in enumerate(lines):
                self._write(x + _CHIP / 2, y + k * pitch, line, 7.0, va="center", ha="center")
            return
        h, w = rgb.shape[:2]
        scale = _CHIP / max(w, h)  # mm per pixel
        dw, dh = w * scale, h * scale
        x0, y0 = x + (_CHIP - dw) / 2, top + (_CHIP - dh) / 2
        box = fp_str(x0 * mm, (_H - y0 - dh) * mm, dw * mm, dh * mm)
        self._n_images += 1
        name = f"I{self._n_images}"
        pixels = np.ascontiguousarray(rgb, dtype=np.uint8)
        self._page_xobjects[name] = self._pdf.add_stream(
            f"/Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceRGB /BitsPerComponent 8",
            pixels.tobytes())
        ops = [f"q {fp_str(dw * mm)} 0 0 {fp_str(dh * mm)} {fp_str(x0 * mm, (_H - y0 - dh) * mm)} cm /{name} Do Q"]
        rings = [r for r in chips.rings if len(r) >= 2]
        if rings:  # the outline, clipped to the image
            ops.append(f"q n {box} re W n")
            path = []
            for ring in rings:
                pts = np.asarray(ring, dtype=float)
                px = (x0 + pts[:, 0] * scale) * mm
                py = (_H - y0 - pts[:, 1] * scale) * mm
                path.append(f"{fp_str(px[0], py[0])} m")
                path.extend(f"{fp_str(u, v)} l" for u, v in zip(px[1:].tolist(), py[1:].tolist()))
            r, g, b = (v / 255 for v in OUTLINE_RGB)
            ops.append(f"{fp_str(r, g, b)} RG 1 w 1 j {' '.join(path)} S Q")
        ops.append(f".8 w 0 0 0 RG {box} re S")
        self._code.extend(ops)


def _choice_line(label: str, options: Sequence[str]) -> str:
    return label + "      " + "     ".join(f"{_BOX} {o}" for o in options)


_SECTIONS: dict[tuple[Any, ...], tuple[tuple[str, ...], tuple[float, float, float]]] = {}
"""Operators of recorded sheet sections (:meth:`CountySheet._section`), with the fill colour after them."""

_VERDICT_LINE = _choice_line("判定类型 PDLX", [v.label_zh for v in VERDICTS])
_RECTIFICATION_LINE = _choice_line("整改状态 ZGZT", [r.label_zh for r in RECTIFICATIONS])


@functools.lru_cache(maxsize=256)
def _line_ops(x0: float, x1: float, y: float, width: float, color: tuple[float, float, float],
              dash: tuple[float, ...] | None) -> str:
    """The operators of :meth:`CountySheet._line` (recorded once: the sheet's lines sit at a few places)."""
    calls: list[tuple[str, tuple[Any, ...]]] = [("setLineWidth", (width,)), ("setStrokeColorRGB", color)]
    if dash:
        calls.append(("setDash", (dash, 0)))
    calls.append(("line", (x0 * mm, (_H - y) * mm, x1 * mm, (_H - y) * mm)))
    if dash:
        calls.append(("setDash", ((), 0)))
    return _recorded(tuple(calls))


@functools.lru_cache(maxsize=64)
def _value_heads(y0: float, n: int) -> tuple[str, ...]:
    """``BT`` and the text matrix of each line of a block's value column (as :func:`_placed_ops` places
    left-aligned, top-aligned text at ``(_LEFT + 22, y0 + 6.5 + k * _LINE_MM)``)."""
    x_pt = (_LEFT + 22) * mm - 0.0
    return tuple(f"BT 1 0 0 1 {x_pt:.2f} {(_H - (y0 + 6.5 + k * _LINE_MM)) * mm - _BASELINE['top'] * _TEXT_PT:.2f} Tm "
                 for k in range(n))


@functools.lru_cache(maxsize=256)
def _wrap(text: str, size: float, width_mm: float) -> tuple[str, ...]:
    """``text`` broken into lines no wider than ``width_mm`` (character by character: Chinese has no spaces)."""
    lines: list[str] = []
    line = ""
    for ch in text:
        if line and _width_mm(line + ch, size) > width_mm:
            lines.append(line)
            line = ch.lstrip()
        else:
            line += ch
    if line:
        lines.append(line)
    return tuple(lines)


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
