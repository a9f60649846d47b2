"""Sentences shared by the HTML and Excel reports: title, rules, source, caveat."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from overlay.contracts import (EFFECT_LABELS_ZH, LEVEL_LABELS_ZH, LEVEL_REASON_LABELS_ZH,
                               LEVEL_REASON_SEVERE_IMPACT, VERDICTS, rule_words_zh)

__all__ = ["title_zh", "generated_date_zh", "rules_lines_zh", "source_label_zh", "threshold_text_zh", "data_quality_lines_zh",
           "verification_lines_zh", "SUSPECTED_NOTE_ZH", "VERIFIED_NOTE_ZH"]

VERIFIED_NOTE_ZH = (
    "处理等级和违法占用耕地比例按外业核查结果计算（决定性数据）：已核查图斑按判定类型计入，"
    "未核查图斑仍按套合结果（疑似）计入，所在县标为核查未完成；“疑似”各列为套合结果，仅供对照。"
)
"""Note printed in every report of a run with returned verdicts."""

SUSPECTED_NOTE_ZH = (
    "本报告的违法占用耕地面积和比例由监测图斑与耕地、批准用地套合得出，尚未经外业核查，"
    "为疑似违法数据；以外业核查判定为准。"
)
"""Caveat printed in every report: ratios before field verification are suspected."""


def title_zh(run_info: Mapping[str, Any]) -> str:
    """Report title, e.g. ``2025年度土地卫片执法检查 县级违法占用耕地比例排名``.

    Parameters
    ----------
    run_info : mapping
        Must have ``year``.

    Returns
    -------
    str
    """
    return f"{run_info['year']}年度土地卫片执法检查 县级违法占用耕地比例排名"


def generated_date_zh(run_info: Mapping[str, Any]) -> str:
    """The generation date of ``run_info['generated_at']`` in Chinese, e.g. ``2026年11月22日``.

    An ISO timestamp gives its date; any other text is returned as it is; none gives ``""``.
    """
    value = run_info.get("generated_at")
    if value is None or str(value) == "":
        return ""
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{stamp.year}年{stamp.month}月{stamp.day}日"


def _pct(value: Any) -> str:
    return f"{float(value) * 100:g}%"


def threshold_text_zh(run_info: Mapping[str, Any], level: str) -> str:
    """Words of one threshold, e.g. ``违法占用耕地比例达到（≥）10%``.

    Parameters
    ----------
    run_info : mapping
        Thresholds (``interview``, ``accountability``) and rules.
    level : {'interview', 'accountability'}
        Which threshold.

    Returns
    -------
    str
    """
    return f"违法占用耕地比例{rule_words_zh(str(run_info[f'{level}_rule']))}{_pct(run_info[level])}"


def rules_lines_zh(run_info: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The rules of the run as (topic, sentence) pairs, in Chinese.

    Parameters
    ----------
    run_info : mapping
        ``year``, ``interview``, ``accountability``, ``interview_rule``,
        ``accountability_rule``.

    Returns
    -------
    list of tuple of str
        Formula, interview and accountability thresholds, the no-ratio case, the
        ranking, and the caveat that data are not yet field-verified.
    """
    return [
        ("比例计算", "违法占用耕地比例 = 新增建设违法占用耕地面积 ÷ 新增建设占用耕地面积（合法与违法之和，"
                  f"{run_info['year']}年1月1日至12月31日）"),
        (LEVEL_LABELS_ZH["interview"], f"{threshold_text_zh(run_info, 'interview')}，约谈县级政府主要负责人"),
        (LEVEL_LABELS_ZH["accountability"],
         f"{threshold_text_zh(run_info, 'accountability')}，依《违反土地管理规定行为处分办法》（监察部 人力资源和社会保障部"
         " 国土资源部令第15号）第三条追究责任；比例未达标准但造成恶劣影响或者其他严重后果的，也予问责"),
        (LEVEL_LABELS_ZH["none"], "比例未达约谈标准"),
        (LEVEL_LABELS_ZH["no_ratio"], "当年没有新增建设占用耕地的县不计算比例（不是0%），不参加排名"),
        ("排名", "按违法占用耕地比例从高到低排名，第1名比例最高"),
        ("数据说明", VERIFIED_NOTE_ZH if run_info.get("verified") else SUSPECTED_NOTE_ZH),
    ]


def verification_lines_zh(run_info: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The verdicts, severe-impact counties, key-project deductions and last year's run, as
    (topic, sentence) pairs in Chinese; empty when the run has none of them."""
    lines: list[tuple[str, str]] = []
    if run_info.get("verified"):
        effects = "；".join(f"{v.label_zh}：{EFFECT_LABELS_ZH[v.default_effect]}" for v in VERDICTS)
        lines.append(("外业核查", f"读入 {run_info.get('verdict_files', 0)} 个核查结果文件。判定类型的计入方式（默认）："
                                 f"{effects}；违法图斑填写违法面积（WFMJ）的，按其计入违法占用耕地"))
        problems = run_info.get("verdict_problems") or []
        if problems:
            lines.append(("核查结果问题", f"{len(problems)} 行核查结果有问题，已忽略，相关图斑按未核查处理"
                                       "（逐行列在本说明的数据检查部分和 manifest.json）"))
    for entry in run_info.get("severe_impact") or []:
        lines.append((LEVEL_REASON_LABELS_ZH[LEVEL_REASON_SEVERE_IMPACT],
                      f"{entry.get('county_name', '')}（{entry['county_code']}）：{entry['reason']}；"
                      f"不论比例，定为{LEVEL_LABELS_ZH['accountability']}"))
    key = run_info.get("key_projects")
    if key:
        where = []
        if key.get("jcbh"):
            where.append(f"配置列出的 {len(key['jcbh'])} 个图斑编号")
        if key.get("layer"):
            where.append(f"重点项目范围图层 {key['layer']}（图斑面积一半以上在其内）")
        lines.append(("重点项目扣减", f"扣减后比例 =（违法占用耕地面积 − 重点项目违法占用耕地面积）÷ 新增建设占用耕地面积；"
                                   f"重点项目图斑：{'、'.join(where)}，共 {len(key.get('pieces', []))} 个，"
                                   f"违法占用耕地 {float(key.get('illegal_m2', 0.0)):.2f} 平方米"))
    previous = run_info.get("previous_run")
    if previous:
        year = previous.get("year")
        lines.append(("上年度对比", f"上年度（{year if year else '年份不详'}）成果：{previous['folder']}；"
                                 f"上年度违法图斑中未整改（整改状态不是“已整改”）的 {previous['n_unrectified']} 个，"
                                 f"违法占用耕地 {float(previous['unrectified_m2']):.2f} 平方米"))
    return lines


def source_label_zh(source: Any) -> str:
    """Chinese words for ``run_info['source']``.

    Parameters
    ----------
    source : {'detected', 'received'} or None
        Where the patches came from.

    Returns
    -------
    str
    """
    return {
        "detected": "本级自行提取的变化图斑（前后时相影像比对）",
        "received": "上级下发的监测图斑",
    }.get(str(source), "" if source is None else str(source))


_ROLE_ZH = {"counties": "行政区图层", "farmland": "耕地图层", "basic_farmland": "永久基本农田图层",
            "approved": "批准用地图层", "patches": "下发监测图斑", "key_projects": "重点项目范围图层"}


def data_quality_lines_zh(quality: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The input repairs and overlaps of the run as (topic, sentence) pairs, in Chinese.

    Parameters
    ----------
    quality : mapping or None
        ``run_info['data_quality']`` (see :func:`pipeline.quality.data_quality`).

    Returns
    -------
    list of tuple of str
        One pair per problem found; ``[("数据检查", "未发现…")]`` when there is none.
    """
    if not quality:
        return []
    lines: list[tuple[str, str]] = []
    for layer in quality.get("layers", []):
        role = _ROLE_ZH.get(layer["role"], layer["role"])
        if layer.get("repaired_invalid"):
            lines.append(("数据修复", f"{role}有 {layer['repaired_invalid']} 个无效多边形（自相交等）"
                                     "已用 make_valid 修复后参与计算"))
        if layer.get("dropped_empty"):
            lines.append(("数据剔除", f"{role}有 {layer['dropped_empty']} 个空几何要素，已剔除，未参与计算"))
        if layer.get("features") == 0:
            lines.append(("数据缺失", f"{role}没有任何要素"))
    pairs = quality.get("overlapping_counties", {})
    if pairs.get("pairs"):
        lines.append(("行政区重叠", f"{pairs['pairs']} 对行政区边界相互重叠，共 {pairs['area_m2']:.2f} 平方米；"
                                  "重叠部分只计入代码较小的县，不重复计算"))
    pairs = quality.get("overlapping_patches", {})
    if pairs.get("pairs"):
        lines.append(("图斑重叠", f"{pairs['pairs']} 对监测图斑相互重叠，共 {pairs['area_m2']:.2f} 平方米；"
                                "重叠面积在每个图斑中各计一次（清单见 manifest.json）"))
    parts = quality.get("unassigned_parts", {})
    if parts.get("parts"):
        lines.append(("图斑在辖区外", f"{parts['parts']} 个图斑部分（{parts['area_m2']:.2f} 平方米）不在任何县的"
                                   "行政区内，未计入任何县（清单见 manifest.json）"))
    for problem in quality.get("verdict_problems", []):
        lines.append(("核查结果问题", f"{problem}（该行已忽略，图斑按未核查处理）"))
    for jcbh in quality.get("key_projects_unknown_jcbh", []):
        lines.append(("重点项目", f"配置的重点项目图斑编号 {jcbh} 不是本次成果的图斑，未扣减"))
    for f in quality.get("failed_counties", []):
        lines.append(("计算失败", f"{f['county_code']} {f['county_name']} 计算失败，本次成果没有该县的数据，"
                                 f"排名中标为“计算失败”：{f['reason']}"))
    return lines or [("数据检查", "输入图层无需修复，未发现行政区或图斑重叠")]
