"""report.html."""
from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pandas as pd

from reports.html_report import write_html_report

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00fake-chart-bytes"


def _write(tmp_path: Path, ratios: pd.DataFrame, run_info: dict[str, Any], png: bytes | None = PNG) -> str:
    chart = None
    if png is not None:
        chart = tmp_path / "chart.png"
        chart.write_bytes(png)
    path = write_html_report(ratios, run_info, chart, tmp_path / "report.html")
    return path.read_bytes().decode("utf-8")


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)


def test_page_is_self_contained_chinese_html(tmp_path: Path, ratios: pd.DataFrame, run_info: dict[str, Any]) -> None:
    page = _write(tmp_path, ratios, run_info)
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in page and '<meta charset="utf-8">' in page
    assert "<title>2025年度土地卫片执法检查 县级违法占用耕地比例排名</title>" in page
    src = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert src is not None and base64.b64decode(src.group(1)) == PNG
    assert not re.search(r'(src|href)="(?!data:)', page), "external resource referenced"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.png", "report.html"]


def test_rules_and_ranking_table(tmp_path: Path, ratios: pd.DataFrame, run_info: dict[str, Any]) -> None:
    info = dict(run_info, interview_rule="exceeds")
    page = _write(tmp_path, ratios, info)
    assert "违法占用耕地比例超过（&gt;）10%" in page
    assert "违法占用耕地比例达到（≥）15%" in page
    rows = _rows(page)
    assert len(rows) == 5
    assert [re.search(r'<td class="code">(\d+)</td>', r).group(1) for r in rows] == [
        "220102", "220104", "220221", "220203", "220282",
    ]
    chaoyang = rows[1]
    for text in ("朝阳区", ">6.00<", ">0.40<", ">1.00<", ">0.07<", ">16.67%<", "level-accountability", ">问责<"):
        assert text in chaoyang, text
    last = rows[-1]
    assert ">—<" in last and "level-no_ratio" in last and ">无新增占用耕地<" in last
    assert "0%" not in last.replace("0.00", "")
    assert ">11.56%<" in page.split("<tfoot>", 1)[1]  # overall ratio in the totals row


def test_text_is_escaped(tmp_path: Path, ratios: pd.DataFrame, run_info: dict[str, Any]) -> None:
    evil = ratios.copy()
    evil.loc[evil["county_code"] == "220102", "county_name"] = '<script>alert("x")</script>&'
    page = _write(tmp_path, evil, dict(run_info, config='a"<b>.yaml'), png=None)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page
    assert "a&quot;&lt;b&gt;.yaml" in page
    assert "<img" not in page


def test_map_top_patches_and_phone_layout(tmp_path: Path, ratios: pd.DataFrame, pieces: Any,
                                          county_polygons: Any, run_info: dict[str, Any]) -> None:
    """The map is embedded, the largest illegal pieces are listed per county, tables scroll on a phone."""
    from reports.report_map import render_report_map

    mapping = render_report_map(ratios, county_polygons, pieces, run_info, tmp_path / "map.png")
    page = write_html_report(ratios, run_info, None, tmp_path / "r.html", map_png=mapping,
                             pieces=pieces).read_text(encoding="utf-8")
    assert page.count('<img src="data:image/png;base64,') == 1 and "各县处理等级与监测图斑分布" in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert page.count("<table>") == page.count('<div class="scroll">') >= 2  # every table scrolls sideways
    top = page[page.index("违法占用耕地面积最大的图斑"):]
    # 南关区's 2000 m² piece (3.00 亩), 永吉县's 3000 m² (4.50 亩); no piece without illegal area
    assert "220102-2025-00001" in top and "220221-2025-00001" in top and "3.00" in top and "4.50" in top
    assert "220104-2025-00002" not in top and "220203-2025-00001" not in top
    assert top.index("南关区") < top.index("永吉县")  # counties in ranking order
    assert "斜线" not in page  # the no-ratio county is words, not a hatched bar


def test_map_plan_keeps_the_level_colours_visible_for_a_country():
    """A province or the country: a marker per piece would cover the counties' level colours, so
    only illegal pieces are drawn (as dots), thinner borders; a county's few pieces all show."""
    from reports.report_map import MAX_MARKERS, marker_plan

    few = marker_plan(20, 4)
    assert few["others"] and few["size"] == 22 and few["border"] == 0.7
    country = marker_plan(200_000, 2_875)
    assert not country["others"] and country["size"] < few["size"] and country["border"] < few["border"]
    assert marker_plan(MAX_MARKERS, 100)["others"] and not marker_plan(MAX_MARKERS + 1, 100)["others"]
    from reports.report_map import map_caption_zh  # the caption says what was drawn
    assert "空心圆" in map_caption_zh(20, 4) and "未绘出" in map_caption_zh(200_000, 2_875)


def test_top_illegal_records_match_the_pieces(pieces: Any) -> None:
    """The records the HTML / PDF top lists use are top_illegal_pieces' rows, county by county."""
    from reports.patch_order import top_illegal_pieces, top_illegal_records

    frames = top_illegal_pieces(pieces, n=2)
    records = top_illegal_records(pieces, n=2)
    assert list(records) == list(frames) and records
    for code, frame in frames.items():
        assert [r["patch_id"] for r in records[code]] == list(frame["patch_id"])
        assert len(records[code]) <= 2
        areas = [r["illegal_farmland_m2"] for r in records[code]]
        assert areas == sorted(areas, reverse=True) and all(a > 0 for a in areas)
