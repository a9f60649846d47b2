"""Units, labels and colours shared by every report.

Data are in square metres; reports show 亩 (mu) and 公顷 (hectares) beside them.
All Chinese wording of levels, patch statuses and rules lives here, in one place,
so the CSV, HTML, Excel, chart and field packages say the same thing.
"""
from __future__ import annotations

import math
from typing import Any, Final

import pandas as pd

__all__ = [
    "M2_PER_MU",
    "M2_PER_HA",
    "LEVELS",
    "LEVEL_LABELS_ZH",
    "LEVEL_LABELS_EN",
    "LEVEL_COLOURS",
    "LEVEL_FILLS",
    "STATUS_LABELS_ZH",
    "ORIGIN_LABELS_ZH",
    "VERDICTS_ZH",
    "m2_to_mu",
    "m2_to_ha",
    "rule_symbol",
    "rule_words_zh",
    "rule_words_en",
    "format_percent",
]

M2_PER_MU: Final[float] = 10000 / 15
"""Square metres in one 亩 (mu): 10000/15 ≈ 666.67 m²."""

M2_PER_HA: Final[float] = 10000.0
"""Square metres in one 公顷 (hectare)."""

LEVELS: Final[tuple[str, ...]] = ("accountability", "interview", "none", "no_ratio")
"""Every value of the ``level`` column, most serious first."""

LEVEL_LABELS_ZH: Final[dict[str, str]] = {
    "none": "未达约谈比例",
    "interview": "约谈",
    "accountability": "问责",
    "no_ratio": "无新增占用耕地",
}
"""Chinese label of each level, as shown in every report."""

LEVEL_LABELS_EN: Final[dict[str, str]] = {
    "none": "below interview",
    "interview": "interview",
    "accountability": "accountability",
    "no_ratio": "no ratio",
}
"""English label of each level (chart fallback when no CJK font is present)."""

LEVEL_COLOURS: Final[dict[str, str]] = {
    "none": "#4e9a57",
    "interview": "#e8a33d",
    "accountability": "#c8372d",
    "no_ratio": "#9a9a9a",
}
"""Strong colour of each level (chart bars, HTML badges), as ``#rrggbb``."""

LEVEL_FILLS: Final[dict[str, str]] = {
    "none": "C6EFCE",
    "interview": "FFEB9C",
    "accountability": "FFC7CE",
    "no_ratio": "E7E6E6",
}
"""Light background of each level (Excel cells, HTML rows), as ``rrggbb``."""

STATUS_LABELS_ZH: Final[dict[str, str]] = {
    "illegal": "未批占用耕地",
    "partly_legal": "部分已批占用耕地",
    "legal": "已批占用耕地",
    "non_farmland": "未占用耕地",
}
"""Chinese label of each piece ``status``.

The words say what the overlay found (whether approvals cover the farmland the
piece occupies), not a legal verdict: the verdict is the field team's (PDLX).
"""

ORIGIN_LABELS_ZH: Final[dict[str, str]] = {
    "detected": "自行提取",
    "received": "下发图斑",
}
"""Chinese label of each piece ``origin``."""

VERDICTS_ZH: Final[tuple[str, ...]] = ("合法", "违法", "伪变化", "设施农用地", "临时用地", "其他")
"""Allowed field-verification verdicts (判定类型, PDLX)."""


def m2_to_mu(m2: Any) -> Any:
    """Convert square metres to 亩 (mu).

    Parameters
    ----------
    m2 : float, numpy array or pandas Series
        Area in square metres. NaN / NA propagate.

    Returns
    -------
    float, numpy array or pandas Series
        Area in 亩, same shape as the input (1 亩 = 10000/15 m²).
    """
    return m2 / M2_PER_MU


def m2_to_ha(m2: Any) -> Any:
    """Convert square metres to 公顷 (hectares).

    Parameters
    ----------
    m2 : float, numpy array or pandas Series
        Area in square metres. NaN / NA propagate.

    Returns
    -------
    float, numpy array or pandas Series
        Area in hectares, same shape as the input (1 公顷 = 10000 m²).
    """
    return m2 / M2_PER_HA


def rule_symbol(rule: str) -> str:
    """Comparison symbol of a threshold rule.

    Parameters
    ----------
    rule : {'reaches', 'exceeds'}
        ``reaches`` means ratio ≥ threshold, ``exceeds`` means ratio > threshold.

    Returns
    -------
    str
        ``"≥"`` or ``">"``.

    Raises
    ------
    ValueError
        For any other rule name.
    """
    if rule == "reaches":
        return "≥"
    if rule == "exceeds":
        return ">"
    raise ValueError(f"unknown threshold rule {rule!r}: expected 'reaches' or 'exceeds'")


def rule_words_zh(rule: str) -> str:
    """Chinese wording of a threshold rule: ``达到（≥）`` or ``超过（>）``.

    Parameters
    ----------
    rule : {'reaches', 'exceeds'}
        The threshold rule.

    Returns
    -------
    str
        The words used in report texts.
    """
    return {"reaches": "达到", "exceeds": "超过"}[_check_rule(rule)] + f"（{rule_symbol(rule)}）"


def rule_words_en(rule: str) -> str:
    """English wording of a threshold rule: ``reaches (≥)`` or ``exceeds (>)``.

    Parameters
    ----------
    rule : {'reaches', 'exceeds'}
        The threshold rule.

    Returns
    -------
    str
        The words used in report texts.
    """
    return f"{_check_rule(rule)} ({rule_symbol(rule)})"


def format_percent(value: Any, decimals: int = 2) -> str:
    """Format a ratio (0..1) as a percent string, empty for NaN / NA / None.

    Parameters
    ----------
    value : float or None
        The ratio.
    decimals : int, default 2
        Digits after the decimal point.

    Returns
    -------
    str
        For example ``"12.34%"``, or ``""`` when there is no ratio.
    """
    if value is None or value is pd.NA:
        return ""
    v = float(value)
    if math.isnan(v):
        return ""
    return f"{v * 100:.{decimals}f}%"


def _check_rule(rule: str) -> str:
    rule_symbol(rule)
    return rule

