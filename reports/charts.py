"""The ratio chart: counties by illegal-farmland ratio, with the threshold lines.

Rendered with matplotlib's Agg renderer through a private ``Figure`` (no pyplot
state). Chinese text needs a CJK font (see :mod:`reports.fonts`); without one
the chart uses English text and labels counties by code, and a warning is
logged. Every string is checked against the fonts' character maps before it is
drawn, so no glyph is ever rendered as an empty box.
"""
from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter
from matplotlib.transforms import blended_transform_factory

from overlay.contracts import LEVEL_COLOURS, LEVEL_LABELS_EN, LEVEL_LABELS_ZH, LEVELS, rule_symbol
from reports._common import atomic_output, is_missing, require_columns, require_run_info
from reports.fonts import CjkFont, find_cjk_font
from reports.tables import sort_ratios

__all__ = ["render_ratio_chart", "chart_figsize", "DEFAULT_MAX_COUNTIES"]

log = logging.getLogger(__name__)

DEFAULT_MAX_COUNTIES = 60
"""At most this many counties are drawn; beyond it the highest ratios are shown."""


def chart_figsize(n_counties: int, height_in: float = 6.0) -> tuple[float, float]:
    """Figure size in inches for a chart of ``n_counties`` bars.

    Parameters
    ----------
    n_counties : int
        Number of bars drawn.
    height_in : float, default 6.0
        Figure height.

    Returns
    -------
    tuple of float
        ``(width, height)``: 8 inches wide up to 13 bars, then 0.45 inch more
        per bar, at most 30 inches.
    """
    width = min(30.0, max(8.0, 2.0 + 0.45 * n_counties))
    return (width, float(height_in))


@functools.lru_cache(maxsize=1)
def _default_charmap() -> frozenset[int]:
    path = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans"), fallback_to_default=True)
    return frozenset(FT2Font(path).get_charmap())


class _Text:
    """Picks Chinese or English wording and checks glyph coverage."""

    def __init__(self, font: CjkFont | None) -> None:
        self.font = font
        cmap = _default_charmap()
        self.charmap = cmap | font.charmap if font is not None else cmap

    @property
    def zh(self) -> bool:
        return self.font is not None

    def drawable(self, text: str) -> bool:
        return all(ord(ch) in self.charmap for ch in text if not ch.isspace())

    def pick(self, zh: str, en: str) -> str:
        return zh if self.zh and self.drawable(zh) else en


def render_ratio_chart(
    ratios: pd.DataFrame,
    run_info: Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    max_counties: int = DEFAULT_MAX_COUNTIES,
    dpi: int = 100,
    height_in: float = 6.0,
) -> Path:
    """Draw the county ratio chart as a PNG.

    One bar per county in rank order (highest ratio first), height = ratio in
    percent (labelled to two decimals, so a ratio just under a threshold never reads as on it),
    coloured by the decisive level, with "severe impact" above a county put at accountability for
    it; counties without a ratio (``no_ratio``, ``failed``) come last, named in words, never as a bar. Dashed horizontal lines mark the
    interview and accountability thresholds, labelled with their rule (≥ or >).

    Parameters
    ----------
    ratios : pandas.DataFrame
        One row per county (docs/architecture.md).
    run_info : mapping
        ``year``, ``interview``, ``accountability``, ``interview_rule``,
        ``accountability_rule``.
    path : str or os.PathLike
        The PNG to write (written to a temporary file, then renamed).
    max_counties : int, default 60
        When there are more counties, only the first ``max_counties`` in rank
        order are drawn and the title says so.
    dpi : int, default 100
        Resolution; the PNG is ``chart_figsize(n)`` inches times ``dpi`` pixels.
    height_in : float, default 6.0
        Figure height in inches.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    require_columns(ratios, ("county_code", "county_name", "ratio", "level", "rank"), "ratios")
    require_run_info(run_info)
    table = sort_ratios(ratios)
    total = len(table)
    if total > max_counties:
        table = table.iloc[:max_counties]
    n = len(table)

    text = _Text(find_cjk_font())
    labels: list[str] = []
    by_code: list[str] = []
    for code, name in zip(table["county_code"], table["county_name"], strict=True):
        name_s = "" if is_missing(name) else str(name)
        if name_s and (text.zh or name_s.isascii()) and text.drawable(name_s):
            labels.append(name_s)
        else:
            labels.append(str(code))
            if name_s:
                by_code.append(str(code))
    if by_code and text.zh:
        log.warning("the chart font lacks characters of county name(s) %s: labelled by code", ", ".join(by_code))
    elif by_code:
        log.warning("no CJK font for the chart: %d county name(s) labelled by code", len(by_code))

    year = run_info["year"]
    interview = float(run_info["interview"])
    accountability = float(run_info["accountability"])
    level_labels = LEVEL_LABELS_ZH if text.zh else LEVEL_LABELS_EN

    families = [text.font.family, "DejaVu Sans"] if text.font is not None else ["DejaVu Sans"]
    with matplotlib.rc_context({"font.family": families, "axes.unicode_minus": False}):
        fig = Figure(figsize=chart_figsize(n, height_in), dpi=dpi, layout="constrained")
        ax = fig.add_subplot()
        xs = list(range(n))
        values = [math.nan if is_missing(v) else float(v) * 100 for v in table["ratio"]]
        levels = [str(v) for v in table["level"]]
        top = max([v for v in values if not math.isnan(v)] + [accountability * 100, interview * 100])
        ymax = top * 1.18 + 1.0
        reasons = ([str(r) for r in table["level_reason"]] if "level_reason" in table.columns
                   else ["ratio"] * n)
        for x, v, lev, why in zip(xs, values, levels, reasons, strict=True):
            colour = LEVEL_COLOURS.get(lev, "#555555")
            if math.isnan(v):  # no ratio (nothing occupied) or a failed county: words, never a bar
                words = (text.pick("计算失败", "failed") if lev == "failed"
                         else text.pick("无新增占用耕地，不计比例", "nothing occupied: no ratio"))
                ax.text(x, ymax * 0.01, words, ha="center", va="bottom", rotation=90, fontsize=8,
                        color=colour)
                continue
            ax.bar(x, v, color=colour, edgecolor="none", width=0.7)
            # two decimals: 14.97 % must not read as 15.0 % beside the 15 % line
            label = f"{v:.2f}%"
            if why == "severe_impact":
                label += text.pick("\n恶劣影响→问责", "\nsevere impact")
            ax.text(x, v + ymax * 0.01, label, ha="center", va="bottom", fontsize=8,
                    color=colour if why == "severe_impact" else "#333333")
        trans = blended_transform_factory(ax.transAxes, ax.transData)
        for key, thr, rule_key, colour in (
            ("interview", interview, "interview_rule", LEVEL_COLOURS["interview"]),
            ("accountability", accountability, "accountability_rule", LEVEL_COLOURS["accountability"]),
        ):
            ax.axhline(thr * 100, color=colour, linestyle="--", linewidth=1.2, zorder=3)
            label = f"{level_labels[key]} {rule_symbol(str(run_info[rule_key]))}{thr * 100:g}%"
            ax.text(1.01, thr * 100, label, transform=trans, ha="left", va="center", fontsize=9, color=colour,
                    clip_on=False)
        ax.set_xticks(xs)
        rotate = n > 6 or any(len(lbl) > 6 for lbl in labels)
        ax.set_xticklabels(labels, rotation=45 if rotate else 0, ha="right" if rotate else "center", fontsize=9)
        for tick, lev in zip(ax.get_xticklabels(), levels, strict=True):
            if lev in ("no_ratio", "failed"):
                tick.set_color("#777777")
        ax.set_xlim(-0.6, max(n, 1) - 0.4)
        ax.set_ylim(0, ymax)
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.set_ylabel(text.pick("违法占用耕地比例", "illegal / occupied farmland"))
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        ax.set_axisbelow(True)
        title = text.pick(f"{year}年度 县级违法占用耕地比例", f"Illegal farmland occupation ratio by county, {year}")
        if total > n:
            title += text.pick(f"（比例最高的 {n} 个，共 {total} 个县）", f" (top {n} of {total} counties)")
        ax.set_title(title, fontsize=13)
        # levels drawn as bars; counties without a ratio are named in words at their place
        present = [lev for lev in LEVELS if lev in set(levels) and lev not in ("no_ratio", "failed")]
        handles = [Patch(facecolor=LEVEL_COLOURS[lev], label=level_labels[lev]) for lev in present]
        if handles:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False)
        final = Path(path)
        with atomic_output(final) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    return final
