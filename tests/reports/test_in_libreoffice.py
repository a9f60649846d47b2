"""report.xlsx printed by the real client: LibreOffice Calc headless converts it to PDF, pypdf reads it.

Checks what a government office sees on paper: the page count, every page of the ranking carrying the
county name column and its header, the patch list one page wide with its header on every page, the
notes not clipped, one sans-serif CJK font (no serif fallback) and the level colours of the
conditional formats.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from overlay.contracts import LEVEL_FILLS
from reports.excel import NOTES_SHEET, PATCH_SHEET, RANKING_SHEET, write_excel_report
from tests.reports.clients import soffice

pypdf = pytest.importorskip("pypdf")


def to_pdf(xlsx: Path, tmp: Path) -> Path:
    """Convert with LibreOffice headless in its own profile (parallel and CI runs do not collide)."""
    out = tmp / "pdf"
    out.mkdir()
    proc = subprocess.run([soffice(), f"-env:UserInstallation=file://{tmp / 'lo-profile'}", "--headless",
                           "--convert-to", "pdf", "--outdir", str(out), str(xlsx)],
                          capture_output=True, text=True, timeout=180)
    pdf = out / (xlsx.stem + ".pdf")
    assert proc.returncode == 0 and pdf.is_file(), proc.stdout + proc.stderr
    return pdf


def pages(pdf: Path) -> list[str]:
    """The text of each page, whitespace removed (headers wrap inside their cells)."""
    return [re.sub(r"\s+", "", p.extract_text() or "") for p in pypdf.PdfReader(str(pdf)).pages]


def fonts(pdf: Path) -> set[str]:
    names = set()
    for page in pypdf.PdfReader(str(pdf)).pages:
        for font in (page.get("/Resources", {}).get("/Font") or {}).values():
            names.add(str(font.get_object()["/BaseFont"]).split("+")[-1])
    return names


def fill_colours(pdf: Path) -> set[tuple[int, int, int]]:
    """Every fill colour the pages paint (``r g b rg``), as 0-255 RGB."""
    out = set()
    for page in pypdf.PdfReader(str(pdf)).pages:
        data = page.get_contents().get_data().decode("latin-1")
        for r, g, b in re.findall(r"([\d.]+) ([\d.]+) ([\d.]+) rg", data):
            out.add(tuple(round(float(v) * 255) for v in (r, g, b)))
    return out


def sheet_pages(texts: list[str], sheet: str) -> list[str]:
    return [t for t in texts if sheet in t]  # the page header names the sheet


def test_small_report_prints_on_three_pages(tmp_path: Path, ratios: pd.DataFrame, pieces: gpd.GeoDataFrame,
                                            run_info: dict[str, Any]) -> None:
    pdf = to_pdf(write_excel_report(ratios, pieces, run_info, tmp_path / "report.xlsx"), tmp_path)
    texts = pages(pdf)
    assert len(texts) == 3  # ranking, patch list, notes: one page each
    ranking, patches, notes = texts
    assert RANKING_SHEET in ranking and PATCH_SHEET in patches and NOTES_SHEET in notes
    assert "2025年度土地卫片执法检查县级违法占用耕地比例排名" in ranking and "生成日期：2026年3月1日" in ranking
    for name in ("南关区", "朝阳区", "永吉县", "龙潭区", "桦甸市", "合计"):
        assert name in ranking
    assert "违法图斑个数" in ranking and "其中违法占用基本农田面积(亩)" in ranking  # the whole width
    assert "年度" in patches and "220221-2025-00001" in patches  # first and last column on the page
    assert "第1页，共3页" in ranking and "第3页，共3页" in notes
    # the notes sheet is not clipped: the end of its longest rule is printed
    assert "也予问责" in notes and "第15号" in notes
    # one sans CJK font family: no serif fallback for the bold headers
    names = fonts(pdf)
    assert not any(re.search(r"serif|times|song|ming", n, re.I) and "sans" not in n.lower() for n in names), names
    assert any("CJK" in n or "Hei" in n or "YaHei" in n for n in names), names
    # the conditional formats follow the levels: the fills of the levels present are painted
    painted = fill_colours(pdf)
    for level in ("accountability", "interview", "none", "no_ratio"):
        rgb = tuple(int(LEVEL_FILLS[level][i:i + 2], 16) for i in (0, 2, 4))
        assert any(max(abs(a - b) for a, b in zip(rgb, c, strict=True)) <= 2 for c in painted), level


def _many(n_counties: int, n_pieces: int) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    codes = [f"{220100 + i:06d}" for i in range(n_counties)]
    occupied = [10000.0 + 10 * i for i in range(n_counties)]
    illegal = [o * (0.3 - 0.3 * i / n_counties) for i, o in enumerate(occupied)]
    ratio = [a / b for a, b in zip(illegal, occupied, strict=True)]
    level = ["accountability" if r >= 0.15 else "interview" if r >= 0.10 else "none" for r in ratio]
    ratios = pd.DataFrame({
        "county_code": codes, "county_name": [f"测试县{i:03d}" for i in range(n_counties)],
        "occupied_farmland_m2": occupied, "illegal_farmland_m2": illegal, "ratio": ratio, "level": level,
        "rank": pd.array(range(1, n_counties + 1), dtype="Int64"),
        "legal_farmland_m2": [o - i for o, i in zip(occupied, illegal, strict=True)],
        "n_patches": [3] * n_counties, "n_illegal_patches": [2] * n_counties,
        "basic_farmland_m2": [0.0] * n_counties, "illegal_basic_farmland_m2": [0.0] * n_counties})
    recs = []
    for k in range(n_pieces):
        code = codes[k % n_counties]
        area = 500.0 + k
        recs.append(dict(patch_id=f"{code}2025{k:011d}", source_id=f"D{k:06d}", county_code=code,
                         county_name=f"测试县{k % n_counties:03d}", area_m2=area, farmland_m2=area,
                         basic_farmland_m2=0.0, approved_m2=0.0, legal_farmland_m2=0.0, illegal_farmland_m2=area,
                         illegal_basic_farmland_m2=0.0, other_m2=0.0, status="illegal", origin="detected",
                         mean_score=0.7, before_date="2024-10-02", after_date="2025-09-28", year=2025))
    geoms = [shapely.box(0, 0, 10, 10)] * n_pieces
    return ratios, gpd.GeoDataFrame(recs, geometry=geoms, crs="EPSG:4551")


def test_every_ranking_page_carries_the_county_names(tmp_path: Path, run_info: dict[str, Any]) -> None:
    """A ranking longer than a page: one page wide, header and name column on every page."""
    ratios, pieces = _many(120, 150)
    pdf = to_pdf(write_excel_report(ratios, pieces, run_info, tmp_path / "report.xlsx"), tmp_path)
    texts = pages(pdf)
    ranking, patch_list = sheet_pages(texts, RANKING_SHEET), sheet_pages(texts, PATCH_SHEET)
    assert len(ranking) >= 2 and len(patch_list) >= 2
    assert len(ranking) + len(patch_list) + len(sheet_pages(texts, NOTES_SHEET)) == len(texts)
    seen = set()
    for text in ranking:
        assert "行政区名称" in text and "违法图斑个数" in text  # the header row, full width, on every page
        names = set(re.findall(r"测试县\d{3}", text))
        assert names, "a ranking page without county names"
        seen |= names
    assert len(seen) == 120  # every county printed, none lost between pages
    for text in patch_list:
        assert "图斑编号" in text and "年度" in text  # header repeated, last column on the page
    first = patch_list[0]
    assert first.index("220129202500000000149") < first.index("220128202500000000148")  # largest illegal first
    assert f"共{len(texts)}页" in texts[-1]
