"""``report.html``: one self-contained page with the rules, the chart, the map and the ranking.

Readable on a phone: the page has a viewport, images shrink to the screen, every table sits in a
box that scrolls sideways (``div.scroll``), and long words (file paths) break, so nothing is wider
than the screen (tested in headless Chromium at 390 px).

Named ``html_report`` (not ``html``) so it never shadows the standard library's
:mod:`html` module.
"""
from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from overlay.contracts import (COLUMN_LABELS_ZH, COUNTY_COLUMNS, LEVEL_COLOURS, LEVEL_FILLS, LEVEL_LABELS_ZH,
                               LEVEL_REASON_LABELS_ZH, LEVEL_REASON_SEVERE_IMPACT, LEVELS, RECTIFICATION_BY_CODE,
                               STATUS_LABELS_ZH, VERDICT_BY_CODE)
from reports._common import atomic_output, is_missing, require_columns, require_run_info
from reports.patch_order import TOP_PER_COUNTY, illegal_area_column, top_illegal_records
from reports.report_map import map_caption_zh
from reports.tables import county_totals, sort_ratios
from reports.texts import (data_quality_lines_zh, rules_lines_zh, source_label_zh, title_zh,
                           verification_lines_zh)
from reports.units import format_percent, m2_to_ha, m2_to_mu

__all__ = ["write_html_report", "render_html"]

_CSS = """
body { font-family: "Noto Sans SC", "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC",
       "WenQuanYi Micro Hei", sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222;
       overflow-wrap: anywhere; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; max-width: 100%; }
.scroll table { overflow-wrap: normal; }
h3 { font-size: 1em; margin: 1.2em 0 .4em; }
h1 { font-size: 1.5em; margin-bottom: .3em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; padding-bottom: .2em; }
.meta { color: #666; font-size: .9em; margin: 0; }
.summary { font-size: 1.05em; }
dl.rules { display: grid; grid-template-columns: max-content 1fr; gap: .35em 1.2em; }
dl.rules dt { font-weight: bold; }
dl.rules dd { margin: 0; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
table { border-collapse: collapse; width: 100%; font-size: .92em; }
th, td { border: 1px solid #bbb; padding: .3em .5em; }
th { background: #ddebf7; font-weight: bold; text-align: center; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.code { font-variant-numeric: tabular-nums; white-space: nowrap; }
tfoot td { font-weight: bold; border-top: 2px solid #777; }
.level { display: inline-block; padding: .05em .6em; border-radius: .8em; white-space: nowrap; }
.note { color: #555; font-size: .9em; }
@media (max-width: 600px) {
  body { margin: 1em auto; padding: 0 .6em; }
  dl.rules { grid-template-columns: 1fr; gap: .1em; }
  dl.rules dd { margin-bottom: .5em; }
  table { font-size: .85em; }
}
"""


def _e(value: Any) -> str:
    return "" if is_missing(value) else html.escape(str(value), quote=True)


def _area(value: Any) -> str:
    return "" if is_missing(value) else f"{float(value):,.2f}"


def _int(value: Any) -> str:
    return "" if is_missing(value) else str(int(value))


def _level_css() -> str:
    rules = []
    for lev in LEVELS:
        rules.append(
            f".level-{lev} {{ background: #{LEVEL_FILLS[lev]}; color: #222; border: 1px solid {LEVEL_COLOURS[lev]}; }}"
        )
        rules.append(f"tr.row-{lev} td:first-child {{ border-left: 4px solid {LEVEL_COLOURS[lev]}; }}")
    return "\n".join(rules)


def _row_cells(rec: Mapping[str, Any]) -> list[str]:
    occ, ill = rec["occupied_farmland_m2"], rec["illegal_farmland_m2"]
    ratio = format_percent(rec["ratio"]) or "—"
    return [
        f'<td class="num">{_int(rec["rank"])}</td>',
        f'<td class="code">{_e(rec["county_code"])}</td>',
        f"<td>{_e(rec['county_name'])}</td>",
        f'<td class="num">{_area(m2_to_mu(float(occ)))}</td>',
        f'<td class="num">{_area(m2_to_ha(float(occ)))}</td>',
        f'<td class="num">{_area(m2_to_mu(float(ill)))}</td>',
        f'<td class="num">{_area(m2_to_ha(float(ill)))}</td>',
        f'<td class="num">{_e(ratio)}</td>',
    ]


def _badge(level: Any) -> str:
    lev = str(level)
    css = lev if lev in LEVEL_LABELS_ZH else "unknown"
    return f'<span class="level level-{_e(css)}">{_e(LEVEL_LABELS_ZH.get(lev, lev))}</span>'


def _pct(value: Any) -> str:
    return _e(format_percent(value) or "—")


def _verified_cells(rec: Mapping[str, Any]) -> list[str]:
    """The decisive-picture cells of one county row (suspected figures, progress, deduction)."""
    reason = LEVEL_REASON_LABELS_ZH.get(str(rec["level_reason"]), str(rec["level_reason"]))
    if rec["level_reason"] == LEVEL_REASON_SEVERE_IMPACT and not is_missing(rec["severe_impact_reason"]):
        reason = f"{reason}：{rec['severe_impact_reason']}"
    share = "" if is_missing(rec["verified_share"]) else f"{int(rec['n_verified'])}/{int(rec['n_patches'])}"
    done = "完成" if bool(rec["complete"]) else "未完成"
    return [
        f'<td class="num">{_pct(rec["suspected_ratio"])}</td>',
        f"<td>{_badge(rec['suspected_level'])}</td>",
        f'<td class="num">{_e(share)}（{done}）</td>',
        f'<td class="num">{_pct(rec["after_deduction_ratio"])}</td>',
        f"<td>{_e(reason)}</td>",
    ]


def _progress_table(table: pd.DataFrame) -> list[str]:
    """核查进度: pieces, verified, unverified, share and completeness per county."""
    parts = ["<section>", "<h2>核查进度</h2>", '<div class="scroll">', "<table>",
             "<thead><tr><th>行政区代码</th><th>行政区名称</th><th>图斑数</th>"
             f"<th>{_e(COLUMN_LABELS_ZH['n_verified'])}</th><th>未核查图斑数</th>"
             f"<th>{_e(COLUMN_LABELS_ZH['verified_share'])}</th><th>{_e(COLUMN_LABELS_ZH['complete'])}</th>"
             f"<th>{_e(COLUMN_LABELS_ZH['rectified_illegal_m2'])}(亩)</th></tr></thead>", "<tbody>"]
    for rec in table.sort_values("county_code", kind="stable").to_dict("records"):
        n, v = int(rec["n_patches"]), int(rec["n_verified"])
        parts.append(
            f'<tr><td class="code">{_e(rec["county_code"])}</td><td>{_e(rec["county_name"])}</td>'
            f'<td class="num">{n}</td><td class="num">{v}</td><td class="num">{n - v}</td>'
            f'<td class="num">{_pct(rec["verified_share"])}</td><td>{"是" if bool(rec["complete"]) else "否"}</td>'
            f'<td class="num">{_area(m2_to_mu(float(rec["rectified_illegal_m2"])))}</td></tr>')
    parts += ["</tbody>", "</table>", "</div>",
              '<p class="note">未完成核查的县，其未核查图斑仍按套合结果（疑似）计入决定性比例。</p>', "</section>"]
    return parts


def _previous_tables(table: pd.DataFrame, previous: Mapping[str, Any]) -> list[str]:
    """上年度对比: last year's ratio per county and last year's unrectified illegal patches."""
    parts = ["<section>", "<h2>上年度对比</h2>", '<div class="scroll">', "<table>",
             "<thead><tr><th>行政区代码</th><th>行政区名称</th>"
             f"<th>{_e(COLUMN_LABELS_ZH['previous_ratio'])}</th><th>{_e(COLUMN_LABELS_ZH['previous_level'])}</th>"
             f"<th>本年度违法占用耕地比例</th><th>{_e(COLUMN_LABELS_ZH['ratio_change'])}</th>"
             f"<th>{_e(COLUMN_LABELS_ZH['previous_unrectified_n'])}</th></tr></thead>", "<tbody>"]
    for rec in table.to_dict("records"):
        prev = "" if is_missing(rec["previous_level"]) else _badge(rec["previous_level"])
        change = "—" if is_missing(rec["ratio_change"]) else f"{float(rec['ratio_change']) * 100:+.2f} 个百分点"
        parts.append(
            f'<tr><td class="code">{_e(rec["county_code"])}</td><td>{_e(rec["county_name"])}</td>'
            f'<td class="num">{_pct(rec["previous_ratio"])}</td><td>{prev}</td>'
            f'<td class="num">{_pct(rec["ratio"])}</td><td class="num">{_e(change)}</td>'
            f'<td class="num">{_int(rec["previous_unrectified_n"])}</td></tr>')
    parts += ["</tbody>", "</table>", "</div>", "<h2>上年度未整改违法图斑</h2>"]
    rows = previous.get("unrectified") or []
    if not rows:
        parts += ['<p class="note">上年度违法图斑均已整改。</p>', "</section>"]
        return parts
    parts += ['<div class="scroll">', "<table>", "<thead><tr><th>图斑编号</th><th>行政区代码</th><th>行政区名称</th>"
              "<th>违法占用耕地面积(亩)</th><th>判定类型</th><th>整改状态</th></tr></thead>", "<tbody>"]
    for rec in rows:
        verdict = VERDICT_BY_CODE[rec["verdict"]].label_zh if rec.get("verdict") in VERDICT_BY_CODE else "未核查"
        rect = RECTIFICATION_BY_CODE[rec["rectification"]].label_zh \
            if rec.get("rectification") in RECTIFICATION_BY_CODE else "未填写"
        parts.append(f'<tr><td class="code">{_e(rec["patch_id"])}</td><td class="code">{_e(rec["county_code"])}</td>'
                     f'<td>{_e(rec.get("county_name"))}</td>'
                     f'<td class="num">{_area(m2_to_mu(float(rec["illegal_farmland_m2"])))}</td>'
                     f"<td>{_e(verdict)}</td><td>{_e(rect)}</td></tr>")
    parts += ["</tbody>", "</table>", "</div>", "</section>"]
    return parts


def _top_patches(table: pd.DataFrame, pieces: pd.DataFrame) -> list[str]:
    """违法占用耕地面积最大的图斑: the largest illegal pieces of each county, in ranking order."""
    top = top_illegal_records(pieces)
    column = illegal_area_column(pieces)
    verified = "verdict" in pieces.columns
    parts = ["<section>", f"<h2>各县违法占用耕地面积最大的图斑（每县前 {TOP_PER_COUNTY} 个）</h2>"]
    if not top:
        return parts + ['<p class="note">没有违法占用耕地的图斑。</p>', "</section>"]
    parts += ['<div class="scroll">', "<table>",
              "<thead><tr><th>行政区</th><th>序号</th><th>图斑编号（JCBH）</th><th>违法占用耕地面积(亩)</th>"
              "<th>违法占用耕地面积(平方米)</th><th>图斑面积(平方米)</th><th>图斑类型（套合）</th>"
              + ("<th>判定类型</th><th>整改状态</th>" if verified else "") + "</tr></thead>", "<tbody>"]
    for county in table.to_dict("records"):
        rows = top.get(str(county["county_code"]))
        if rows is None:
            continue
        for k, rec in enumerate(rows, start=1):
            name = (f'<td rowspan="{len(rows)}">{_e(county["county_name"])}<br>'
                    f'<span class="note">{_e(county["county_code"])}</span></td>') if k == 1 else ""
            cells = [name, f'<td class="num">{k}</td>', f'<td class="code">{_e(rec["patch_id"])}</td>',
                     f'<td class="num">{_area(m2_to_mu(float(rec[column])))}</td>',
                     f'<td class="num">{_area(rec[column])}</td>', f'<td class="num">{_area(rec["area_m2"])}</td>',
                     f"<td>{_e(STATUS_LABELS_ZH.get(str(rec['status']), rec['status']))}</td>"]
            if verified:
                verdict = VERDICT_BY_CODE[rec["verdict"]].label_zh if rec.get("verdict") in VERDICT_BY_CODE \
                    else "未核查"
                rect = RECTIFICATION_BY_CODE[rec["rectification"]].label_zh \
                    if rec.get("rectification") in RECTIFICATION_BY_CODE else ""
                cells += [f"<td>{_e(verdict)}</td>", f"<td>{_e(rect)}</td>"]
            parts.append("<tr>" + "".join(cells) + "</tr>")
    parts += ["</tbody>", "</table>", "</div>",
              '<p class="note">违法占用耕地面积为决定性数据：已核查图斑按核查结果，未核查图斑按套合结果。'
              "全部图斑见 report.xlsx 的“图斑明细”。</p>" if verified else
              '<p class="note">全部图斑见 report.xlsx 的“图斑明细”。</p>', "</section>"]
    return parts


def _figure(title: str, png: bytes, alt: str, caption: str) -> list[str]:
    """A section with a heading, an embedded PNG and its caption."""
    data = base64.b64encode(png).decode("ascii")
    return ["<section>", f"<h2>{_e(title)}</h2>", "<figure>",
            f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">',
            f'<figcaption class="note">{_e(caption)}</figcaption>', "</figure>", "</section>"]


def render_html(ratios: pd.DataFrame, run_info: Mapping[str, Any], chart_png: bytes | None, *,
                map_png: bytes | None = None, pieces: pd.DataFrame | None = None) -> str:
    """Build the report page as a string.

    Parameters
    ----------
    ratios : pandas.DataFrame
        One row per county (docs/architecture.md).
    run_info : mapping
        ``year``, thresholds and rules; optionally ``config``,
        ``generated_at``, ``source``, ``landcheck_version``.
    chart_png : bytes or None
        The chart as PNG bytes, embedded as a ``data:`` URI; None leaves the
        chart out.
    map_png : bytes or None
        The map (:func:`reports.report_map.render_report_map`) as PNG bytes; None leaves it out.
    pieces : pandas.DataFrame or None
        The patch pieces: their largest illegal pieces per county are listed; None leaves the list out.

    Returns
    -------
    str
        The HTML document.
    """
    require_columns(ratios, COUNTY_COLUMNS, "ratios")
    require_run_info(run_info)
    title = title_zh(run_info)
    table = sort_ratios(ratios)
    totals = county_totals(ratios)
    counts = table["level"].astype(str).value_counts()

    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}{_level_css()}\n</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_e(title)}</h1>",
    ]
    meta = [
        ("图斑来源", source_label_zh(run_info.get("source"))),
        ("配置文件", run_info.get("config")),
        ("生成时间", run_info.get("generated_at")),
        ("软件版本", f"landcheck {run_info['landcheck_version']}" if run_info.get("landcheck_version") else None),
    ]
    for key, value in meta:
        if not is_missing(value) and str(value):
            parts.append(f'<p class="meta">{_e(key)}：{_e(value)}</p>')
    parts.append("</header>")

    summary = "，".join(
        f'<span class="level level-{lev}">{_e(LEVEL_LABELS_ZH[lev])}</span> {int(counts.get(lev, 0))} 个'
        for lev in LEVELS
    )
    overall = format_percent(totals["ratio"]) or "无（全部县均无新增占用耕地）"
    verified = "suspected_level" in table.columns
    parts += [
        "<section>",
        f'<p class="summary">共 {int(totals["n_counties"])} 个县（市、区）：{summary}。'
        f"全部县合计违法占用耕地比例 {_e(overall)}。</p>",
    ]
    if verified:
        scounts = table["suspected_level"].astype(str).value_counts()
        ssummary = "，".join(f"{_e(LEVEL_LABELS_ZH[lev])} {int(scounts.get(lev, 0))} 个" for lev in LEVELS)
        n_ver, n_all = int(table["n_verified"].sum()), int(table["n_patches"].sum())
        parts.append(f'<p class="summary">按外业核查结果（决定性）定级如上；仅按套合结果（疑似）：{ssummary}。'
                     f"已核查图斑 {n_ver} / {n_all} 个，核查完成的县 {int(table['complete'].astype(bool).sum())} / "
                     f"{len(table)} 个。</p>")
    parts += [
        "</section>",
        "<section>",
        "<h2>判定规则</h2>",
        '<dl class="rules">',
    ]
    for key, text in rules_lines_zh(run_info):
        parts.append(f"<dt>{_e(key)}</dt><dd>{_e(text)}</dd>")
    parts += ["<dt>面积单位</dt><dd>1亩 = 10000/15 平方米 ≈ 666.67 平方米；1公顷 = 10000 平方米 = 15亩</dd>", "</dl>",
              "</section>"]
    extra = verification_lines_zh(run_info)
    if extra:
        parts += ["<section>", "<h2>核查、扣减与恶劣影响</h2>", '<dl class="rules">']
        parts += [f"<dt>{_e(key)}</dt><dd>{_e(text)}</dd>" for key, text in extra]
        parts += ["</dl>", "</section>"]
    quality = data_quality_lines_zh(run_info.get("data_quality"))
    if quality:
        parts += ["<section>", "<h2>数据检查</h2>", '<dl class="rules">']
        parts += [f"<dt>{_e(key)}</dt><dd>{_e(text)}</dd>" for key, text in quality]
        parts += ["</dl>", "</section>"]

    if chart_png is not None:
        parts += _figure("各县违法占用耕地比例", chart_png, "各县违法占用耕地比例柱状图",
                         "虚线为约谈、问责比例标准；无新增占用耕地的县不计算比例，在其位置以文字注明，不画柱。")
    if map_png is not None:
        parts += _figure("各县处理等级与监测图斑分布", map_png, "各县处理等级与监测图斑分布图",
                         map_caption_zh(0 if pieces is None else len(pieces), len(table)))

    parts += [
        "<section>",
        "<h2>县级排名</h2>",
        '<div class="scroll">',
        "<table>",
        "<thead>",
        "<tr>"
        '<th rowspan="2">排名</th><th rowspan="2">行政区代码</th><th rowspan="2">行政区名称</th>'
        '<th colspan="2">新增建设占用耕地面积</th><th colspan="2">其中违法占用耕地面积</th>'
        '<th rowspan="2">违法占用耕地比例</th><th rowspan="2">处理等级</th>'
        '<th rowspan="2">图斑个数</th><th rowspan="2">违法图斑个数</th>'
        + ("".join(f'<th rowspan="2">{_e(h)}</th>' for h in (
            COLUMN_LABELS_ZH["suspected_ratio"], COLUMN_LABELS_ZH["suspected_level"], "核查进度（已核查/图斑数）",
            COLUMN_LABELS_ZH["after_deduction_ratio"], COLUMN_LABELS_ZH["level_reason"])) if verified else "")
        + "</tr>",
        "<tr><th>亩</th><th>公顷</th><th>亩</th><th>公顷</th></tr>",
        "</thead>",
        "<tbody>",
    ]
    for rec in table.to_dict("records"):
        lev = str(rec["level"])
        css = lev if lev in LEVEL_LABELS_ZH else "unknown"
        label = LEVEL_LABELS_ZH.get(lev, lev)
        cells = _row_cells(rec) + [
            f'<td><span class="level level-{_e(css)}">{_e(label)}</span></td>',
            f'<td class="num">{_int(rec["n_patches"])}</td>',
            f'<td class="num">{_int(rec["n_illegal_patches"])}</td>',
        ] + (_verified_cells(rec) if verified else [])
        parts.append(f'<tr class="row-{_e(css)}">' + "".join(cells) + "</tr>")
    total_rec = {"rank": None, "county_code": None, "county_name": "合计", **totals}
    parts += [
        "</tbody>",
        "<tfoot>",
        "<tr>" + "".join(_row_cells(total_rec)) + "<td></td>"
        f'<td class="num">{_int(totals["n_patches"])}</td><td class="num">{_int(totals["n_illegal_patches"])}</td>'
        + ("<td></td>" * 5 if verified else "") + "</tr>",
        "</tfoot>",
        "</table>",
        "</div>",
        "</section>",
    ]
    if verified:
        parts += _progress_table(table)
    if pieces is not None:
        parts += _top_patches(table, pieces)
    if run_info.get("previous_run") and "previous_ratio" in table.columns:
        parts += _previous_tables(table, run_info["previous_run"])
    parts += [
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def write_html_report(
    ratios: pd.DataFrame,
    run_info: Mapping[str, Any],
    chart_png: str | os.PathLike[str] | None,
    path: str | os.PathLike[str],
    *,
    map_png: str | os.PathLike[str] | None = None,
    pieces: pd.DataFrame | None = None,
) -> Path:
    """Write ``report.html``: a single self-contained UTF-8 page.

    The page (``<html lang="zh-CN">``) has the title, the run's metadata, a
    summary by level, the rules (thresholds with ≥ or >), the chart embedded as
    a base64 PNG, and the ranking table (rank, code, name, occupied and illegal
    farmland in 亩 and 公顷, ratio in %, colour-coded level, patch counts) with
    a totals row. All text from the data is HTML-escaped.

    Parameters
    ----------
    ratios : pandas.DataFrame
        One row per county (docs/architecture.md).
    run_info : mapping
        ``year``, thresholds and rules; optionally ``config``,
        ``generated_at``, ``source``, ``landcheck_version``.
    chart_png : str or os.PathLike or None
        The chart PNG (from :func:`reports.charts.render_ratio_chart`); None
        leaves the chart out.
    path : str or os.PathLike
        The HTML file (written to a temporary file, then renamed).
    map_png : str or os.PathLike or None
        The map PNG (:func:`reports.report_map.render_report_map`); None leaves it out.
    pieces : pandas.DataFrame or None
        The patch pieces, for the largest illegal pieces of each county; None leaves the list out.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    png = Path(chart_png).read_bytes() if chart_png is not None else None
    map_bytes = Path(map_png).read_bytes() if map_png is not None else None
    page = render_html(ratios, run_info, png, map_png=map_bytes, pieces=pieces)
    final = Path(path)
    with atomic_output(final) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return final
