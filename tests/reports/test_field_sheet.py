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


def test_replayed_operators_give_the_bytes_of_drawing_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Labels, lines, frames and verdict lines are recorded once and replayed: the same bytes as drawing
    every block through reportlab's canvas, with chips, without, and without imagery at all."""
    import reports.field_sheet as fs

    mixed = [_entry(i, with_chip=i % 3 != 0) for i in range(8)]
    bare = [_entry(i, with_chip=False) for i in range(5)]
    note = ("本次运行使用下发图斑，没有影像", "no imagery")
    fast = [sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", mixed)[0],
            sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", bare, no_chips_note=note)[0]]

    def line(self, x0, x1, y, width=0.5, color=(0, 0, 0), dash=None):  # the canvas calls themselves
        c = self._c
        c.setLineWidth(width)
        c.setStrokeColorRGB(*color)
        if dash:
            c.setDash(list(dash), 0)
        c.line(x0 * fs.mm, (fs._H - y) * fs.mm, x1 * fs.mm, (fs._H - y) * fs.mm)
        if dash:
            c.setDash([], 0)

    monkeypatch.setattr(fs.CountySheet, "_section", lambda self, key, draw: draw())
    monkeypatch.setattr(fs.CountySheet, "_line", line)
    monkeypatch.setattr(fs, "_placed_ops", fs._placed_ops.__wrapped__)
    monkeypatch.setattr(fs, "_escaped", lambda raw: fs.escapePDF(raw))
    slow = [sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", mixed)[0],
            sheet_bytes("220202", "昌邑区", 2025, "EPSG:4551", bare, no_chips_note=note)[0]]
    assert fast == slow
    assert n_images(fast[0]) == 2 * 5 and n_images(fast[1]) == 0


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
