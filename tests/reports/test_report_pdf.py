"""report.pdf, read back with pypdf: pages, sections, the no-ratio county in words, page numbers."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from reports.charts import render_ratio_chart
from reports.report_map import render_report_map
from reports.report_pdf import write_pdf_report

pypdf = pytest.importorskip("pypdf")


def test_pdf_has_the_report(tmp_path: Path, ratios: pd.DataFrame, pieces: Any, county_polygons: Any,
                            run_info: dict[str, Any]) -> None:
    chart = render_ratio_chart(ratios, run_info, tmp_path / "chart.png")
    mapping = render_report_map(ratios, county_polygons, pieces, run_info, tmp_path / "map.png")
    path = write_pdf_report(ratios, run_info, tmp_path / "report.pdf", chart_png=chart, map_png=mapping,
                            pieces=pieces)
    reader = pypdf.PdfReader(str(path))
    texts = [re.sub(r"\s+", "", p.extract_text()) for p in reader.pages]
    n = len(texts)
    assert n >= 2
    for k, text in enumerate(texts, start=1):
        assert "县级违法占用耕地比例排名" in text and f"第{k}页，共{n}页" in text and "生成日期：2026年3月1日" in text
    whole = "".join(texts)
    for needle in ("判定规则", "各县违法占用耕地比例", "各县处理等级与监测图斑分布", "县级排名", "南关区", "桦甸市",
                   "不计算（无新增占用耕地）", "违法占用耕地面积最大的图斑", "220221-2025-00001", "合计"):
        assert needle in whole, needle
    images = sum(len(p.images) for p in reader.pages)
    assert images == 2  # the chart and the map
    # reproducible: the same input gives the same bytes
    again = write_pdf_report(ratios, run_info, tmp_path / "again.pdf", chart_png=chart, map_png=mapping,
                             pieces=pieces)
    assert again.read_bytes() == path.read_bytes()


def test_long_table_pages_like_one_platypus_table(tmp_path: Path) -> None:
    """A long table is laid out a page at a time: the same pages, rows and repeated header as the one
    platypus Table it replaces; text too wide for its column still wraps (a Paragraph)."""
    from reportlab.platypus import SimpleDocTemplate, Table, TableStyle

    from reports import report_pdf as rp

    rp._register()
    s = rp._styles()
    t = rp._Table(["编号", "名称", "面积(亩)"], [30 * rp.mm, 25 * rp.mm, 30 * rp.mm], [False, False, True], s)
    for i in range(230):
        name = "一个很长很长的名称需要换行" if i % 37 == 0 else f"县{i}"
        t.add([f"P-{i:04d}", name, f"{i * 1.5:,.2f}"], {1: "ffc7ce"} if i % 5 == 0 else None)
    t.bold_rows.append(len(t.rows))
    paged = t.build()
    assert isinstance(paged, rp._PagedTable)
    whole = Table([[rp._p(h, s["head"]) for h in t.headers],
                   *[[rp._p(v, s["num"] if num else s["cell"]) for v, num in zip(row, t.numeric)] for row in t.rows]],
                  colWidths=paged.col_widths, repeatRows=1, hAlign="LEFT")
    whole.setStyle(TableStyle(paged.style[:5] + [("BACKGROUND", (1, r), (1, r), rp.colors.HexColor("#ffc7ce"))
                                                 for r in range(1, 231, 5)]
                              + [("LINEABOVE", (0, 230), (-1, 230), 1.2, rp.colors.black)]))

    def pages(flowable: Any, name: str) -> list[str]:
        path = tmp_path / name
        SimpleDocTemplate(str(path), pagesize=rp.PAGE_SIZE, invariant=1).build([flowable])
        return [re.sub(r"\s+", "", p.extract_text()) for p in pypdf.PdfReader(str(path)).pages]

    new, old = pages(paged, "paged.pdf"), pages(whole, "whole.pdf")
    assert len(new) == len(old) >= 3 and new == old
    assert all(p.startswith("编号名称面积(亩)") for p in new)  # the header on every page
    assert "P-0229" in new[-1] and "一个很长很长的名称需要换行" in "".join(new)
