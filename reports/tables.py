"""The county table in report order, its totals, and ``county_ratios.csv``."""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from overlay.contracts import (COUNTY_COLUMNS, COUNTY_LEADING_COLUMNS, LEVEL_LABELS_ZH, RECTIFICATION_BY_CODE,
                               UNRECTIFIED_COLUMNS, VERDICT_BY_CODE)
from reports._common import atomic_output, is_missing, require_columns

__all__ = ["CSV_LEADING_COLUMNS", "sort_ratios", "county_totals", "write_county_csv", "write_unrectified_csv"]

CSV_LEADING_COLUMNS: tuple[str, ...] = COUNTY_LEADING_COLUMNS
"""The first columns of ``county_ratios.csv``, in this order (:data:`overlay.contracts.COUNTY_LEADING_COLUMNS`)."""


def sort_ratios(ratios: pd.DataFrame) -> pd.DataFrame:
    """Return ``ratios`` in report order.

    Counties with a rank come first by rank (1 = highest ratio; ties by county
    code), then the counties without one (``no_ratio``) by county code.

    Parameters
    ----------
    ratios : pandas.DataFrame
        One row per county, with at least ``county_code`` and ``rank``.

    Returns
    -------
    pandas.DataFrame
        A sorted copy with a fresh 0..n-1 index; ``county_code`` as str.
    """
    require_columns(ratios, ("county_code", "rank"), "ratios")
    out = ratios.copy()
    out["county_code"] = out["county_code"].astype(str)
    rank = pd.to_numeric(out["rank"], errors="coerce").astype("float64")
    key = pd.DataFrame({"unranked": rank.isna(), "rank": rank.fillna(np.inf), "code": out["county_code"]})
    order = key.sort_values(["unranked", "rank", "code"], kind="stable").index
    return out.loc[order].reset_index(drop=True)


def county_totals(ratios: pd.DataFrame) -> dict[str, float]:
    """Sum the county areas and counts and compute the overall ratio.

    Parameters
    ----------
    ratios : pandas.DataFrame
        One row per county (see docs/architecture.md).

    Returns
    -------
    dict
        Sums of ``occupied_farmland_m2``, ``legal_farmland_m2``,
        ``illegal_farmland_m2``, ``basic_farmland_m2``,
        ``illegal_basic_farmland_m2``, ``n_patches``, ``n_illegal_patches``,
        ``n_counties`` and ``ratio`` (total illegal / total occupied, NaN when
        nothing was occupied anywhere).
    """
    require_columns(ratios, COUNTY_COLUMNS, "ratios")
    sums: dict[str, float] = {}
    for col in (
        "occupied_farmland_m2",
        "legal_farmland_m2",
        "illegal_farmland_m2",
        "basic_farmland_m2",
        "illegal_basic_farmland_m2",
    ):
        sums[col] = float(pd.to_numeric(ratios[col], errors="coerce").fillna(0).sum())
    for col in ("n_patches", "n_illegal_patches"):
        sums[col] = int(pd.to_numeric(ratios[col], errors="coerce").fillna(0).sum())
    sums["n_counties"] = len(ratios)
    occupied = sums["occupied_farmland_m2"]
    sums["ratio"] = sums["illegal_farmland_m2"] / occupied if occupied > 0 else math.nan
    return sums


def _csv_cell(column: str, value: Any) -> str:
    if is_missing(value):
        return ""
    if column == "ratio" or column.endswith("_ratio"):
        return repr(float(value))
    if column.endswith("_m2"):
        return f"{float(value):.2f}"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return str(int(v)) if column == "rank" and v.is_integer() else repr(v)
    return str(value)


def write_county_csv(ratios: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``county_ratios.csv``: one row per county, in report order.

    The first columns are exactly ``county_code, county_name,
    occupied_farmland_m2, illegal_farmland_m2, ratio, level, rank``; the other
    columns of ``ratios`` follow in their order, then ``level_zh`` (the Chinese
    label of the level). Encoding is UTF-8 with a byte-order mark so that Excel
    shows Chinese names; ``county_code`` is written as text as given (leading
    zeros kept); areas (``*_m2``) are rounded to 0.01 m²; ``ratio`` keeps full
    float precision (shortest repr that reads back to the same float); a NaN
    ratio and an NA rank are empty cells.

    Parameters
    ----------
    ratios : pandas.DataFrame
        One row per county (docs/architecture.md).
    path : str or os.PathLike
        The CSV file to write (written to a temporary file, then renamed).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    require_columns(ratios, CSV_LEADING_COLUMNS, "ratios")
    table = sort_ratios(ratios)
    table["level_zh"] = table["level"].map(LEVEL_LABELS_ZH).fillna(table["level"].astype(str))
    if "suspected_level" in table.columns:
        table["suspected_level_zh"] = table["suspected_level"].map(LEVEL_LABELS_ZH) \
            .fillna(table["suspected_level"].astype(str))
    columns = list(CSV_LEADING_COLUMNS) + [c for c in table.columns if c not in CSV_LEADING_COLUMNS]
    final = Path(path)
    with atomic_output(final) as tmp:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow(columns)
            for row in table[columns].itertuples(index=False, name=None):
                writer.writerow([_csv_cell(c, v) for c, v in zip(columns, row, strict=True)])
    return final


def write_unrectified_csv(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``previous_unrectified.csv``: last year's illegal pieces not rectified.

    Columns :data:`overlay.contracts.UNRECTIFIED_COLUMNS`, then ``verdict_zh`` and
    ``rectification_zh`` (PDLX / ZGZT as written); UTF-8 with BOM, areas to 0.01 m².
    """
    require_columns(table, UNRECTIFIED_COLUMNS, "unrectified")
    out = table[list(UNRECTIFIED_COLUMNS)].copy()
    out["verdict_zh"] = [VERDICT_BY_CODE[v].label_zh if v in VERDICT_BY_CODE else "" for v in out["verdict"]]
    out["rectification_zh"] = [RECTIFICATION_BY_CODE[v].label_zh if v in RECTIFICATION_BY_CODE else ""
                               for v in out["rectification"]]
    columns = list(out.columns)
    final = Path(path)
    with atomic_output(final) as tmp:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow(columns)
            for row in out.itertuples(index=False, name=None):
                writer.writerow([_csv_cell(c, v) for c, v in zip(columns, row, strict=True)])
    return final
