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
