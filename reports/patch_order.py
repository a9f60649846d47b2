"""Patch pieces by illegal farmland area: the order of the Excel patch list and the reports' top lists.

The illegal area is the decisive one (``verified_illegal_farmland_m2``: the verdict's figure where a
piece has one, the overlay's otherwise) when the pieces carry their verdicts, else the overlay's
``illegal_farmland_m2``. Ties are broken by patch id and county code, so the order is deterministic.
"""
from __future__ import annotations

import geopandas as gpd
import pandas as pd

__all__ = ["illegal_area_column", "sort_by_illegal_area", "top_illegal_pieces", "top_illegal_records", "TOP_PER_COUNTY"]

TOP_PER_COUNTY = 5
"""Illegal pieces listed per county in the HTML / PDF report."""


def illegal_area_column(pieces: pd.DataFrame) -> str:
    """The column holding each piece's decisive illegal farmland area (m²)."""
    return "verified_illegal_farmland_m2" if "verified_illegal_farmland_m2" in pieces.columns else "illegal_farmland_m2"


def _table(pieces: pd.DataFrame) -> pd.DataFrame:
    if isinstance(pieces, gpd.GeoDataFrame):
        return pd.DataFrame(pieces.drop(columns=pieces.geometry.name))
    return pd.DataFrame(pieces)


def sort_by_illegal_area(pieces: pd.DataFrame) -> pd.DataFrame:
    """``pieces`` without geometry, largest illegal farmland area first (then patch id, county code).

    Parameters
    ----------
    pieces : pandas.DataFrame or geopandas.GeoDataFrame
        One row per patch piece (``overlay.contracts.RUN_PIECE_COLUMNS``).

    Returns
    -------
    pandas.DataFrame
        A sorted copy with a fresh index; ``county_code`` and ``patch_id`` as str.
    """
    table = _table(pieces)
    table["county_code"] = table["county_code"].astype(str)
    table["patch_id"] = table["patch_id"].astype(str)
    area = pd.to_numeric(table[illegal_area_column(table)], errors="coerce").fillna(0.0)
    key = pd.DataFrame({"area": -area, "patch": table["patch_id"], "code": table["county_code"]},
                       index=table.index)
    order = key.sort_values(["area", "patch", "code"], kind="stable").index
    return table.loc[order].reset_index(drop=True)


def top_illegal_pieces(pieces: pd.DataFrame, n: int = TOP_PER_COUNTY) -> dict[str, pd.DataFrame]:
    """The ``n`` pieces with the largest illegal farmland area (> 0) of each county.

    Parameters
    ----------
    pieces : pandas.DataFrame or geopandas.GeoDataFrame
        One row per patch piece.
    n : int, default 5
        Pieces per county.

    Returns
    -------
    dict of str to pandas.DataFrame
        County code -> its pieces in :func:`sort_by_illegal_area` order; counties without an
        illegal piece are absent.
    """
    table = _top_table(pieces, n)
    return {str(code): group.reset_index(drop=True) for code, group in table.groupby("county_code", sort=True)}


def _top_table(pieces: pd.DataFrame, n: int) -> pd.DataFrame:
    """The rows of :func:`top_illegal_pieces`, in one table (sorted, then the first ``n`` per county)."""
    table = _table(pieces)
    area = pd.to_numeric(table[illegal_area_column(table)], errors="coerce").fillna(0.0)
    table = sort_by_illegal_area(table[area > 0])  # the illegal pieces only: the same order, less to sort
    return table.groupby("county_code", sort=False).head(n)


def top_illegal_records(pieces: pd.DataFrame, n: int = TOP_PER_COUNTY) -> dict[str, list[dict]]:
    """:func:`top_illegal_pieces` as records (one dict per piece), for the reports' tables.

    One conversion for the whole country rather than one per county (a DataFrame per county and
    its ``to_dict`` cost seconds for 2,875 counties).
    """
    out: dict[str, list[dict]] = {}
    for rec in _top_table(pieces, n).to_dict("records"):
        out.setdefault(str(rec["county_code"]), []).append(rec)
    return dict(sorted(out.items()))
