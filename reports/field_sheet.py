"""The printable field sheet of a county (外业核查表): A4 PDF, three patches a page.

Every patch gets a block: its monitoring number (JCBH), the figures of the
Shapefile record (areas in m² and 亩, dates, centre point), the before / after
chips with the outline (the same stretched pixels as the PNGs of the package,
embedded losslessly, Flate-compressed; none when the run had no imagery) and an
empty verdict line: the PDLX verdicts and ZGZT states as tick boxes, blanks for
WFMJ, HCSM, HCR, HCRQ and ZP. The field team fills it in on paper and enters it
into the package's Shapefile.

Drawn with reportlab's canvas: 2 to 5 ms a patch with chips, most of it compressing the
chips (matplotlib took 90 ms); without chips about 0.3 ms. What is the same on every block
(labels, lines, frames, the verdict lines) is formatted once per process and replayed as
PDF operators (reportlab formats every number in Python); the bytes are those of drawing
it all through the canvas.
Text is written in two fonts, switched inside a line: Latin characters (ASCII,
Latin-1, dashes) in Helvetica, everything else (Chinese, the tick box □,
full-width punctuation) in ``STSong-Light``, one of the standard CID fonts of
PDF readers: reportlab ships its metrics, so no font file is needed and the
sheet is always in Chinese. The font is not embedded: the reader draws it with
its own CJK font (Acrobat, pdf.js, poppler and the browsers' viewers all have
one), the text stays real text encoded as Unicode (``UniGB-UCS2-H``), so a
reader's search finds a JCBH and copy-paste gives the Chinese. A value with a
character outside the font's character set (GBK) is left blank rather than
printed as empty boxes. The PDF carries no creation date (reportlab's
invariant mode): the same input gives the same bytes.
"""
from __future__ import annotations

import contextlib
import functools
import io
import itertools
import math
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from PIL import Image
from reportlab import rl_config
from reportlab.lib.rl_accel import escapePDF
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.pdfdoc import PDFDictionary, PDFInfo, PDFString
from reportlab.pdfgen.canvas import Canvas

from overlay.contracts import FIELD_BY_NAME, PHOTO_SEPARATOR, RECTIFICATIONS, VERDICTS
from reports.chips import OUTLINE_RGB, StretchedPair
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
    if text.isascii():
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
    if text.isascii():
        return f"{latin_name} {size_s} Tf ({_escaped(text.encode('cp1252'))}) Tj"
    ops = []
    for m in _RUN.finditer(text):  # the runs of itertools.groupby(text, key=_is_latin)
        latin = m.lastgroup == "latin"
        ops.append(f"{latin_name if latin else cjk_name} {size_s} Tf "
                   f"({_escaped(m.group().encode('cp1252' if latin else 'utf-16-be'))}) Tj")
    return " ".join(ops)


_LATIN_CHARS = "\x00-\x7f\xa0-\xff\u2013\u2014"  # as _is_latin
_RUN = re.compile(f"(?P<latin>[{_LATIN_CHARS}]+)|(?P<cjk>[^{_LATIN_CHARS}]+)")


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


# ------------------------------------------------------ reportlab's settings
_SETTINGS_LOCK = threading.Lock()
_settings_depth = 0
_saved_a85: Any = None


@contextlib.contextmanager
def _plain_streams() -> Iterator[None]:
    """Streams Flate-compressed only (no ASCII85 on top: a quarter smaller), while any sheet draws.

    reportlab reads this switch from its global ``rl_config`` when it loads an image
    and when it writes the file; the counter restores the old value once no sheet of
    any thread is drawing.
    """
    global _settings_depth, _saved_a85
    with _SETTINGS_LOCK:
        if _settings_depth == 0:
            _saved_a85 = rl_config.useA85
            rl_config.useA85 = 0
        _settings_depth += 1
    try:
        yield
    finally:
        with _SETTINGS_LOCK:
            _settings_depth -= 1
            if _settings_depth == 0:
                rl_config.useA85 = _saved_a85


class _Info(PDFInfo):
    """The document information without dates (reportlab always writes them)."""

    def format(self, document):
        return PDFDictionary({"Title": PDFString(self.title), "Creator": PDFString(self.creator),
                              "Producer": PDFString(self.producer)}).format(document)


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
        self._c = Canvas(file, pagesize=(_W * mm, _H * mm), invariant=1, pageCompression=1)
        doc = self._c._doc  # reportlab's document: no public way to drop the dates or name the fonts
        doc.info = _Info()
        self._font_names = (doc.getInternalFontName(_LATIN_FONT), doc.getInternalFontName(_CJK_FONT))
        self._c.setTitle(f"{year}年度土地卫片执法检查外业核查表 {self.county_code} {self.county_name}")
        self._c.setCreator("landcheck")
        self._c.setProducer("landcheck (reportlab)")

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
        with _plain_streams():
            self._c.save()

    def _write(self, x: float, y: float, text: str, size: float, va: str = "top", ha: str = "left",
               color: tuple[float, float, float] = _BLACK) -> None:
        """``text`` at ``(x, y)`` mm from the top left, aligned like matplotlib's ``ha`` / ``va``."""
        if not text:
            return
        # written as PDF operators: reportlab's text object costs three times more
        ops = _placed_ops(text, size, x, y, va, ha, *self._font_names)
        if color != self._fill:  # the fill colour outlives the text: set it on every change
            ops = f"{color[0]:.3f} {color[1]:.3f} {color[2]:.3f} rg {ops}"
            self._fill = color
        self._c.addLiteral(ops)

    def _line(self, x0: float, x1: float, y: float, width: float = 0.5,
              color: tuple[float, float, float] = (0, 0, 0), dash: Sequence[float] | None = None) -> None:
        self._c.addLiteral(_line_ops(x0, x1, y, width, tuple(color), None if not dash else tuple(dash)))

    def _shown(self, text: Any) -> str:
        """``text`` if the fonts draw every character of it, else "" (never empty boxes)."""
        s = "" if text is None else str(text)
        return s if _covered(s) else ""

    # ------------------------------------------------------------------ page
    def _flush(self) -> None:
        with _plain_streams():
            self._page += 1
            self._fill = _BLACK  # a new page starts with black
            self._header()
            first = self._count - len(self._pending) + 1
            for i, (props, chips, missing) in enumerate(self._pending):
                self._block(_TOP + _HEADER + i * _BLOCK, first + i, props, chips, missing)
            self._footer()
            self._c.showPage()
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
            ("行政区", self._text_ops(f"{_text(props.get('XZQDM'))} {name}".strip())),
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
        # the labels are the same on every block of a page slot: drawn once, then replayed
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

    def _values(self, y0: float, ops: Sequence[str]) -> None:
        """The value column of a block, from each line's text operators ("" for none): what
        :meth:`_write` gives for each value (black, left, top), the placements formatted once per
        page slot."""
        lines = [f"{head}{text} ET" for head, text in zip(_value_heads(y0, len(ops)), ops) if text]
        if lines and self._fill != _BLACK:
            lines[0] = f"{_BLACK[0]:.3f} {_BLACK[1]:.3f} {_BLACK[2]:.3f} rg {lines[0]}"
            self._fill = _BLACK
        self._c._code.extend(lines)

    def _labels(self, y0: float, labels: Sequence[str]) -> None:
        grey = (0x44 / 255,) * 3
        for k, label in enumerate(labels):
            self._write(_LEFT, y0 + 6.5 + k * _LINE_MM, label, _TEXT_PT, color=grey)

    def _section(self, key: tuple[Any, ...], draw) -> None:
        """Run ``draw`` (text and lines only), or replay the operators it wrote for ``key`` before.

        A section is recorded when it starts in black (as after a black line of text);
        replaying appends the same operators, so the page's stream is the same bytes.
        """
        code = self._c._code
        if self._fill != _BLACK:
            draw()
            return
        key = (*key, self._font_names)
        hit = _SECTIONS.get(key)
        if hit is None:
            start = len(code)
            draw()
            if len(_SECTIONS) >= 1024:
                _SECTIONS.clear()
            _SECTIONS[key] = (tuple(code[start:]), self._fill)
        else:
            code.extend(hit[0])
            self._fill = hit[1]

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
        c = self._c
        if rgb is None:
            c.addLiteral(_recorded((("setLineWidth", (0.8,)), ("setStrokeColorRGB", (0, 0, 0)),
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
        image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
        c.drawImage(ImageReader(image), x0 * mm, (_H - y0 - dh) * mm, dw * mm, dh * mm)
        rings = [r for r in chips.rings if len(r) >= 2]
        if rings:
            c.saveState()
            clip = c.beginPath()
            clip.rect(x0 * mm, (_H - y0 - dh) * mm, dw * mm, dh * mm)
            c.clipPath(clip, stroke=0, fill=0)
            path = c.beginPath()
            for ring in rings:
                pts = np.asarray(ring, dtype=float)
                px = (x0 + pts[:, 0] * scale) * mm
                py = (_H - y0 - pts[:, 1] * scale) * mm
                path.moveTo(px[0], py[0])
                for u, v in zip(px[1:].tolist(), py[1:].tolist()):
                    path.lineTo(u, v)
            c.setStrokeColorRGB(*(v / 255 for v in OUTLINE_RGB))
            c.setLineWidth(1.0)
            c.setLineJoin(1)
            c.drawPath(path, stroke=1, fill=0)
            c.restoreState()
        c.setLineWidth(0.8)
        c.setStrokeColorRGB(0, 0, 0)
        c.rect(x0 * mm, (_H - y0 - dh) * mm, dw * mm, dh * mm, stroke=1, fill=0)


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
