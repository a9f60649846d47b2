"""The printable county sheet: pages, searchable JCBH, chips or none, reproducible bytes."""
from __future__ import annotations

import numpy as np
import pytest

from overlay.contracts import RECTIFICATIONS_ZH, VERDICTS_ZH
from reports.chips import ChipPair, stretch_pair
from reports.field_sheet import PATCHES_PER_PAGE, n_pages, sheet_bytes
from tests.reports.pdfparse import n_images, page_count, text_runs


def _entry(i: int, with_chip: bool = True):
    props = {
        "JCBH": f"2202022025546014857{i:02d}", "YSBH": f"D{i:06d}", "XZQDM": "220202", "XZQMC": "昌邑区",
        "TBLX": "新增建设用地", "THJG": "未批占用耕地", "TBMJ": 1234.5, "GDMJ": 1000.0, "PZMJ": 0.0,
        "WFGDMJ": 1000.0, "WFJBNTMJ": 0.0, "QSX": "2024-10-15", "HSX": "2025-10-12",
        "DZB": 546015.2, "BZB": 4857031.9, "JD": 126.59, "WD": 43.86,
    }
    chip = None
    if with_chip:
        rng = np.random.default_rng(i)
        b = rng.uniform(0, 1, (3, 30, 40))
        chip = stretch_pair(ChipPair(b, b + 0.2, (np.array([[5, 5], [20, 5], [20, 20], [5, 5]]),)))
    return props, chip


@pytest.mark.parametrize("n", [1, 3, 4, 7])
def test_one_page_per_three_patches_and_every_jcbh_searchable(n: int) -> None:
    entries = [_entry(i) for i in range(n)]
    pdf, pages = sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", entries)
    assert pages == n_pages(n) == -(-n // PATCHES_PER_PAGE) == page_count(pdf)
    text = "".join(text_runs(pdf))  # a string switching fonts is split into runs
    for props, _ in entries:
        assert props["JCBH"] in text
    assert "PDLX" in text and "HCSM" in text and "HCR" in text and "HCRQ" in text and "ZGZT" in text
    assert "1,234.50 m²  (1.85 亩)" in text  # areas in m² and 亩
    assert all(f"□ {v}" in text for v in VERDICTS_ZH)  # every verdict as a tick box
    assert all(f"□ {r}" in text for r in RECTIFICATIONS_ZH)
    assert "2024-10-15" in text and "2025-10-12" in text
    assert n_images(pdf) == 2 * n  # before and after of every patch


def test_no_imagery_no_chips_and_no_patches_one_page() -> None:
    entries = [_entry(i, with_chip=False) for i in range(2)]
    pdf, pages = sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", entries,
                             no_chips_note=("本次运行使用下发图斑，没有影像", "no imagery"))
    assert pages == 1 and n_images(pdf) == 0
    text = "".join(text_runs(pdf))
    assert "无影像截图：本次运行使用下发图斑，没有影像" in text
    empty, pages = sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", [])
    assert pages == 1 == page_count(empty)


def test_the_same_sheet_gives_the_same_bytes_and_no_date() -> None:
    entries = [_entry(i) for i in range(4)]
    a, _ = sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", entries)
    b, _ = sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", entries)
    assert a == b
    assert b"CreationDate" not in a and b"ModDate" not in a


def test_a_thirty_patch_sheet_has_ten_pages_and_every_jcbh_extractable() -> None:
    entries = [_entry(i, with_chip=i % 2 == 0) for i in range(30)]
    pdf, pages = sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", entries)
    assert pages == n_pages(30) == 10 == page_count(pdf)
    assert n_images(pdf) == 2 * 15
    runs = text_runs(pdf)
    for i, (props, _) in enumerate(entries):
        assert f"{i + 1}.  JCBH  {props['JCBH']}" in runs  # one run: a reader's search finds it whole
    text = "".join(runs)
    assert "外业核查表" in text and "昌邑区" in text and "判定类型 PDLX" in text and "核查说明 HCSM" in text
    assert all(f"第 {p} / 10 页" in text for p in range(1, 11))


def _drawn(pdf: bytes) -> list[tuple[list, list[str]]]:
    """Per page: the text objects drawn, each with the fill colour it is drawn in, and every other
    operator, in order, with each form's content drawn in place (as a reader does: inside q / Q)."""
    import re

    from tests.reports.pdfparse import _inflate, _objects

    objs = _objects(pdf)
    forms = {}
    for body in objs.values():
        for name, num in re.findall(rb"/(S\d+) (\d+) 0 R", body):
            forms[name] = _inflate(objs[int(num)])
    token = re.compile(rb"BT .*? ET|(\S+) (\S+) (\S+) rg|/(S\d+) Do|(?<!\S)[qQ](?!\S)|\S+", re.S)

    def run(content: bytes, fill: tuple, texts: list, others: list) -> None:
        stack = []
        for m in token.finditer(content):
            op = m.group(0)
            if op.startswith(b"BT "):
                texts.append((fill, op))
            elif m.group(1) is not None:
                fill = tuple(round(float(v), 3) for v in m.group(1, 2, 3))
            elif m.group(4) is not None:
                run(forms[m.group(4)], fill, texts, others)
            elif op == b"q":
                stack.append(fill)
            elif op == b"Q":
                fill = stack.pop()
            else:
                others.append(op)

    pages = []
    for num in sorted(objs):
        m = re.search(rb"/Type /Page\b.*?/Contents (\d+) 0 R", objs[num], re.S)
        if m:
            texts, others = [], []
            run(_inflate(objs[int(m.group(1))]), (0.0, 0.0, 0.0), texts, others)
            pages.append((texts, others))
    return pages


def test_sections_drawn_as_forms_give_the_page_of_drawing_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Labels, lines, frames and verdict lines are drawn once per sheet as forms and placed on each
    block, a block's values formatted in one step: every page draws the same text in the same
    colours and the same lines as drawing each piece where it stands, with chips, without, and
    without imagery at all."""
    import reports.field_sheet as fs

    mixed = [_entry(i, with_chip=i % 3 != 0) for i in range(8)]
    bare = [_entry(i, with_chip=False) for i in range(5)]
    note = ("本次运行使用下发图斑，没有影像", "no imagery")
    fast = [sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", mixed)[0],
            sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", bare, no_chips_note=note)[0]]

    def values(self, y0, ops):  # each value written on its own, through _write
        for k, text in enumerate(self._values_texts):
            self._write(fs._LEFT + 22, y0 + 6.5 + k * fs._LINE_MM, text, fs._TEXT_PT)

    original_block = fs.CountySheet._block

    def block(self, y0, number, props, chips, missing):
        self._values_texts = [
            self._shown(fs._text(props.get("YSBH"))),
            self._shown(f"{fs._text(props.get('XZQDM'))} {self._shown(props.get('XZQMC'))}".strip()),
            *(fs._area(props, f) for f in ("TBMJ", "GDMJ", "PZMJ", "WFGDMJ", "WFJBNTMJ")),
            self._shown(fs._text(props.get("QSX"))), self._shown(fs._text(props.get("HSX"))),
            fs._coords(props.get("DZB"), props.get("BZB"), 1, " m"),
            fs._coords(props.get("JD"), props.get("WD"), 6, "°"),
        ]
        original_block(self, y0, number, props, chips, missing)

    monkeypatch.setattr(fs.CountySheet, "_section", lambda self, key, draw: draw())
    monkeypatch.setattr(fs.CountySheet, "_values", values)
    monkeypatch.setattr(fs.CountySheet, "_block", block)
    monkeypatch.setattr(fs, "_placed_ops", fs._placed_ops.__wrapped__)
    monkeypatch.setattr(fs, "_line_ops", fs._line_ops.__wrapped__)
    monkeypatch.setattr(fs, "_escaped", lambda raw: fs.escapePDF(raw))
    slow = [sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", mixed)[0],
            sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", bare, no_chips_note=note)[0]]
    for a, b in zip(fast, slow):
        assert _drawn(a) == _drawn(b)
        assert len(_drawn(a)) == page_count(a)
    assert all(b"/Subtype /Form" in pdf for pdf in fast) and not any(b"/Subtype /Form" in pdf for pdf in slow)
    long_bare = [_entry(i, with_chip=False) for i in range(30)]
    inline = sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", long_bare, no_chips_note=note)[0]
    monkeypatch.undo()
    forms = sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", long_bare, no_chips_note=note)[0]
    assert _drawn(forms) == _drawn(inline)
    assert len(forms) < 0.8 * len(inline)  # a repeated section is written once
    assert n_images(fast[0]) == 2 * 5 and n_images(fast[1]) == 0


def test_the_sheet_is_a_pdf_a_strict_reader_opens() -> None:
    """pypdf, strict: the cross-reference table, the objects and the page tree are well formed;
    its text extraction finds every JCBH and the Chinese labels."""
    import io

    import pypdf

    entries = [_entry(i, with_chip=i % 2 == 0) for i in range(7)]
    pdf, pages = sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", entries)
    reader = pypdf.PdfReader(io.BytesIO(pdf), strict=True)
    assert len(reader.pages) == pages == 3
    text = "".join(page.extract_text() for page in reader.pages)
    for props, _ in entries:
        assert props["JCBH"] in text
    assert "判定类型" in text and "昌邑区" in text
    assert reader.metadata.title.endswith("外业核查表 220202 昌邑区")
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == 2 * 4 and images[0].image.size == (40, 30)


def test_escaping_is_reportlabs_for_every_byte() -> None:
    from reportlab.lib.rl_accel import escapePDF

    from reports.field_sheet import _escaped

    every = bytes(range(256))
    assert _escaped(every) == escapePDF(every)
    assert _escaped(b"(a\\b)") == "\\(a\\\\b\\)"


@pytest.mark.parametrize("text", ["1,234.50 m²  (1.85 亩)", "126.590000°  43.860000°", "—", "a–b—c",
                                  "判定类型 PDLX      □ 合法用地", "220202 昌邑区", "(x)\\y", "\u00a0中\u00a0"])
def test_left_aligned_text_skips_the_width_not_the_font_runs(text: str) -> None:
    from reports.field_sheet import _plain_ops, _text_ops

    assert _plain_ops(text, 7.8, "F1", "F2") == _text_ops(text, 7.8, "F1", "F2")[0]


@pytest.mark.parametrize("value", [0, 0.0, 1234.5, -3.25, 0.004, 0.005, 1e12, 123456789.129, float("nan"),
                                   None, np.float64(66.666666), np.float64("nan"), 7])
def test_area_operators_are_those_of_the_area_text(value) -> None:
    """A block's areas are formatted straight to text operators: the same as formatting the text first."""
    from reports.field_sheet import _TEXT_PT, _area, _area_ops, _plain_ops

    assert _area_ops(value, "F1", "F2") == _plain_ops(_area({"v": value}, "v"), _TEXT_PT, "F1", "F2")
