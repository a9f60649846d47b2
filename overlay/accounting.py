"""Per-county accounting: the illegal farmland-occupation ratio and its level.

    ratio = illegal farmland occupied by new construction / all farmland occupied

(监发〔2009〕5号). A county with no farmland occupied has no ratio (level
``no_ratio``), not 0%. Levels: ``accountability`` when the ratio reaches (>=)
or exceeds (>) the accountability threshold (Order No. 15, 2008, art. 3),
``interview`` when it reaches/exceeds the interview threshold, else ``none``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from overlay.contracts import COUNTY_COLUMNS, RULES

# RULES is re-exported for pipeline.config; its home is overlay.contracts.
__all__ = ["RULES", "Thresholds", "passes", "classify_ratio", "county_ratios"]


@dataclass(frozen=True)
class Thresholds:
    """Ratio thresholds and whether a ratio must reach (>=) or exceed (>) them."""

    interview: float = 0.10
    accountability: float = 0.15
    interview_rule: str = "reaches"
    accountability_rule: str = "reaches"

    def __post_init__(self) -> None:
        for rule in (self.interview_rule, self.accountability_rule):
            if rule not in RULES:
                raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
        if not 0 < self.interview <= self.accountability <= 1:
            raise ValueError("thresholds must satisfy 0 < interview <= accountability <= 1")


def passes(ratio: float, threshold: float, rule: str) -> bool:
    """Whether ``ratio`` reaches (>=) or exceeds (>) ``threshold``."""
    if rule == "reaches":
        return ratio >= threshold
    if rule == "exceeds":
        return ratio > threshold
    raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")


def classify_ratio(ratio: float, thresholds: Thresholds) -> str:
    """The level of one county's ratio; NaN (nothing occupied) gives ``no_ratio``."""
    if ratio is None or math.isnan(ratio):
        return "no_ratio"
    if passes(ratio, thresholds.accountability, thresholds.accountability_rule):
        return "accountability"
    if passes(ratio, thresholds.interview, thresholds.interview_rule):
        return "interview"
    return "none"


_SUMS = {
    "occupied_farmland_m2": "farmland_m2",
    "legal_farmland_m2": "legal_farmland_m2",
    "illegal_farmland_m2": "illegal_farmland_m2",
    "basic_farmland_m2": "basic_farmland_m2",
    "illegal_basic_farmland_m2": "illegal_basic_farmland_m2",
}


def county_ratios(pieces: pd.DataFrame, counties: pd.DataFrame, thresholds: Thresholds) -> pd.DataFrame:
    """One row per county of ``counties`` (``county_code``, ``county_name``), patches or not.

    Columns: :data:`overlay.contracts.COUNTY_COLUMNS`. Sorted by rank (1 = highest
    ratio, ties share the smaller rank), ``no_ratio`` counties last by code with
    an empty rank.
    """
    base = pd.DataFrame({
        "county_code": counties["county_code"].astype(str).values,
        "county_name": counties["county_name"].astype(str).values,
    }).drop_duplicates("county_code")
    codes = pieces["county_code"].astype(str)
    sums = pieces.groupby(codes)[list(_SUMS.values())].sum()
    sums.columns = list(_SUMS)
    counts = pd.DataFrame({
        "n_patches": pieces.groupby(codes).size(),
        "n_illegal_patches": (pieces["illegal_farmland_m2"] > 0).groupby(codes).sum(),
    })
    table = base.merge(sums, left_on="county_code", right_index=True, how="left") \
                .merge(counts, left_on="county_code", right_index=True, how="left")
    table[list(_SUMS)] = table[list(_SUMS)].fillna(0.0).astype(float)
    table[["n_patches", "n_illegal_patches"]] = table[["n_patches", "n_illegal_patches"]] \
        .fillna(0).astype(np.int64)
    occupied = table["occupied_farmland_m2"].to_numpy()
    illegal = table["illegal_farmland_m2"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        table["ratio"] = np.where(occupied > 0, illegal / occupied, np.nan)
    table["level"] = [classify_ratio(r, thresholds) for r in table["ratio"]]
    table["rank"] = table["ratio"].rank(method="min", ascending=False).astype("Int64")
    table = table.sort_values(["rank", "county_code"], na_position="last", kind="stable")
    return table[list(COUNTY_COLUMNS)].reset_index(drop=True)
