"""The decisive county figures: verdicts applied, key projects deducted, severe impact, last year.

Pure functions over DataFrames (no I/O; ``pipeline/run.py`` reads the config's files). The
pieces come with their verified figures (``overlay.verdicts.apply_verdicts``,
:data:`~overlay.contracts.VERIFIED_COLUMNS`); :func:`decisive_ratios` turns them into the run's
county table (:data:`~overlay.contracts.RUN_COUNTY_COLUMNS`):

- ``ratio``, ``level``, ``rank`` and the areas of :data:`~overlay.contracts.COUNTY_COLUMNS` are
  the DECISIVE figures: each piece counts with its verified figures (违法 -> illegal, 合法 ->
  legal, 伪变化 / 设施农用地 / 临时用地 -> out of numerator and denominator), an unverified piece
  with the overlay's (../shared/domain.md "Patches and verdicts": only verified construction
  counts once verdicts exist). A county with an unverified piece is not ``complete``: its
  decisive ratio still holds suspected figures for those pieces.
- ``suspected_ratio`` / ``suspected_level``: the overlay alone (:func:`overlay.accounting.county_ratios`).
- Basic farmland of the decisive picture: a piece that is not new construction occupies none; a
  legal one has no illegal basic farmland; a verified illegal one keeps the overlay's illegal
  basic farmland, capped at its verified illegal farmland (WFMJ may be smaller).
- ``after_deduction_ratio`` (扣减后比例) = (decisive illegal - illegal of key-project pieces) /
  decisive occupied: the deduction comes off the numerator only.
- ``severe_impact``: the county is at ``accountability`` whatever its ratio (``level_reason``
  ``severe_impact`` with the reason); its rank stays its ratio's.
- ``previous_*`` and ``ratio_change``: last year's decisive ratio and level of the same county
  code, and this year's ratio minus last year's.

Invariants (tested): per piece and per county, farmland = legal + illegal in both pictures.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame, GeoSeries
from pyproj import CRS

from overlay.accounting import Thresholds, county_ratios
from overlay.contracts import (EFFECT_ILLEGAL, EFFECT_LEGAL, KEY_PROJECT_MIN_SHARE, LEVEL_FAILED,
                               LEVEL_REASON_FAILED, LEVEL_REASON_RATIO, LEVEL_REASON_SEVERE_IMPACT, LEVELS, RUN_COUNTY_COLUMNS, UNRECTIFIED_COLUMNS,
                               VERIFIED_COLUMNS)
from overlay.crs import zone_epsg_for_geometries
from overlay.verdicts import verification_progress

__all__ = ["decisive_pieces", "key_project_mask", "previous_unrectified", "decisive_ratios",
           "level_counts"]


def decisive_pieces(verified: pd.DataFrame) -> pd.DataFrame:
    """The pieces with the overlay's measures replaced by their decisive (verified) figures.

    ``farmland_m2``, ``legal_farmland_m2``, ``illegal_farmland_m2`` become the verified ones;
    ``basic_farmland_m2`` and ``illegal_basic_farmland_m2`` follow the rules of the module
    docstring. Other columns are kept. ``verified`` needs :data:`~overlay.contracts.VERIFIED_COLUMNS`.
    """
    missing = [c for c in VERIFIED_COLUMNS if c not in verified.columns]
    if missing:
        raise ValueError(f"pieces lack the verified column(s) {', '.join(missing)}: apply the verdicts first")
    out = verified.copy()
    effect = out["effect"].astype(str).to_numpy()
    counts = out["counts_as_construction"].astype(bool).to_numpy()
    illegal = out["verified_illegal_farmland_m2"].to_numpy(dtype=float)
    basic = out["basic_farmland_m2"].to_numpy(dtype=float)
    illegal_basic = out["illegal_basic_farmland_m2"].to_numpy(dtype=float)
    out["farmland_m2"] = out["verified_farmland_m2"].to_numpy(dtype=float)
    out["legal_farmland_m2"] = out["verified_legal_farmland_m2"].to_numpy(dtype=float)
    out["illegal_farmland_m2"] = illegal
    out["basic_farmland_m2"] = np.where(counts, basic, 0.0)
    out["illegal_basic_farmland_m2"] = np.select(
        [~counts, effect == EFFECT_LEGAL, effect == EFFECT_ILLEGAL],
        [0.0, 0.0, np.minimum(illegal_basic, illegal)], default=illegal_basic)
    return out


def key_project_mask(pieces: GeoDataFrame | pd.DataFrame, jcbh: Iterable[str] = (),
                     polygons: GeoDataFrame | GeoSeries | None = None,
                     min_share: float = KEY_PROJECT_MIN_SHARE) -> np.ndarray:
    """Which pieces belong to a key project: listed by JCBH, or more than ``min_share`` of the
    piece's area inside ``polygons`` (measured in each piece's Gauss-Krüger zone)."""
    listed = {str(j) for j in jcbh}
    mask = np.array(pieces["patch_id"].astype(str).isin(listed).to_numpy(), dtype=bool)  # writable
    if polygons is None or not len(pieces):
        return mask
    series = polygons.geometry if isinstance(polygons, GeoDataFrame) else polygons
    if not len(series):
        return mask
    geoms = pieces.geometry
    zones = zone_epsg_for_geometries(geoms)
    for epsg in np.unique(zones):
        sel = zones == epsg
        crs = CRS.from_epsg(int(epsg))
        mine = geoms[sel].to_crs(crs).values
        area = shapely.area(mine)
        inside = shapely.union_all(series.to_crs(crs).values)
        shared = shapely.area(shapely.intersection(mine, inside))
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(area > 0, shared / np.where(area > 0, area, 1.0), 0.0)
        mask[sel] |= share > min_share
    return mask


def previous_unrectified(previous_pieces: pd.DataFrame) -> pd.DataFrame:
    """Last year's illegal pieces not rectified (:data:`~overlay.contracts.UNRECTIFIED_COLUMNS`).

    Illegal means decisive illegal farmland above 0 (``verified_illegal_farmland_m2`` when last
    year's run had it, else ``illegal_farmland_m2``); not rectified means ZGZT was not 已整改
    (整改中, 未整改 or not stated). Sorted by county and JCBH.
    """
    table = pd.DataFrame(previous_pieces.drop(columns=previous_pieces.geometry.name)
                         if isinstance(previous_pieces, GeoDataFrame) else previous_pieces)
    column = "verified_illegal_farmland_m2" if "verified_illegal_farmland_m2" in table.columns \
        else "illegal_farmland_m2"
    illegal = pd.to_numeric(table[column], errors="coerce").fillna(0.0).astype(float)
    rect = table["rectification"] if "rectification" in table.columns else pd.Series(None, index=table.index)
    verdict = table["verdict"] if "verdict" in table.columns else pd.Series(None, index=table.index)
    keep = (illegal > 0) & (rect.astype(object).where(rect.notna(), None) != "rectified")
    out = pd.DataFrame({
        "patch_id": table["patch_id"].astype(str),
        "county_code": table["county_code"].astype(str),
        "county_name": table["county_name"].astype(str) if "county_name" in table.columns else "",
        "year": table["year"] if "year" in table.columns else pd.NA,
        "illegal_farmland_m2": illegal,
        "verdict": verdict.astype(object).where(verdict.notna(), None),
        "rectification": rect.astype(object).where(rect.notna(), None),
    })[keep.to_numpy()]
    return out.sort_values(["county_code", "patch_id"], kind="stable")[list(UNRECTIFIED_COLUMNS)] \
        .reset_index(drop=True)


def decisive_ratios(
    verified: pd.DataFrame,
    counties: pd.DataFrame,
    thresholds: Thresholds,
    *,
    severe_impact: Mapping[str, str] | None = None,
    previous_ratios: pd.DataFrame | None = None,
    unrectified: pd.DataFrame | None = None,
    failed: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The run's county table (:data:`~overlay.contracts.RUN_COUNTY_COLUMNS`), rules in the module
    docstring.

    Parameters
    ----------
    verified : DataFrame
        The pieces with :data:`~overlay.contracts.VERIFIED_COLUMNS`; an optional bool column
        ``key_project`` marks key-project pieces (:func:`key_project_mask`).
    counties : DataFrame
        ``county_code``, ``county_name``: every county gets a row.
    thresholds : Thresholds
        The interview and accountability thresholds and rules.
    severe_impact : mapping, optional
        County code -> reason: put at accountability whatever the ratio. ``ValueError`` for a code
        that is not a county of ``counties``.
    previous_ratios : DataFrame, optional
        Last year's ``county_code``, ``ratio``, ``level``.
    unrectified : DataFrame, optional
        Last year's unrectified illegal pieces (:func:`previous_unrectified`).
    failed : mapping, optional
        County code -> reason its job failed: the county is listed with level ``failed``, no
        figures and no rank (never left out, never shown as "no ratio").

    Returns
    -------
    DataFrame
        One row per county in rank order of the decisive ratio (as :func:`county_ratios`).
    """
    codes = set(counties["county_code"].astype(str))
    severe = {str(k): str(v) for k, v in (severe_impact or {}).items()}
    unknown = sorted(set(severe) - codes)
    if unknown:
        raise ValueError(f"severe impact county {unknown[0]} is not a county of the county layer")
    suspected = county_ratios(verified, counties, thresholds).set_index("county_code")
    decisive = decisive_pieces(verified)
    table = county_ratios(decisive, counties, thresholds)
    by_code = table["county_code"].astype(str)
    table["suspected_occupied_farmland_m2"] = by_code.map(suspected["occupied_farmland_m2"]).to_numpy()
    table["suspected_illegal_farmland_m2"] = by_code.map(suspected["illegal_farmland_m2"]).to_numpy()
    table["suspected_ratio"] = by_code.map(suspected["ratio"]).astype(float).to_numpy()
    table["suspected_level"] = by_code.map(suspected["level"]).to_numpy()
    progress = verification_progress(verified, counties).set_index("county_code")
    table["n_verified"] = by_code.map(progress["n_verified"]).fillna(0).astype(np.int64).to_numpy()
    table["verified_share"] = by_code.map(progress["verified_share"]).astype(float).to_numpy()
    table["complete"] = by_code.map(progress["complete"]).fillna(True).astype(bool).to_numpy()

    piece_codes = decisive["county_code"].astype(str)
    illegal = decisive["illegal_farmland_m2"].astype(float)
    key = decisive["key_project"].astype(bool) if "key_project" in decisive.columns \
        else pd.Series(False, index=decisive.index)
    deducted = illegal.where(key, 0.0).groupby(piece_codes).sum()
    table["key_project_illegal_m2"] = by_code.map(deducted).fillna(0.0).astype(float).to_numpy()
    occupied = table["occupied_farmland_m2"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["after_deduction_ratio"] = np.where(
            occupied > 0, (table["illegal_farmland_m2"].to_numpy(dtype=float)
                           - table["key_project_illegal_m2"].to_numpy(dtype=float)) / occupied, np.nan)
    rectified = decisive["rectification"].astype(object) == "rectified"
    table["rectified_illegal_m2"] = by_code.map(illegal.where(rectified, 0.0).groupby(piece_codes).sum()) \
        .fillna(0.0).astype(float).to_numpy()

    flagged = by_code.isin(severe).to_numpy()
    table.loc[flagged, "level"] = "accountability"
    table["level_reason"] = np.where(flagged, LEVEL_REASON_SEVERE_IMPACT, LEVEL_REASON_RATIO)
    table["severe_impact_reason"] = [severe.get(c) for c in by_code]

    if previous_ratios is not None and len(previous_ratios):
        prev = previous_ratios.assign(county_code=previous_ratios["county_code"].astype(str)) \
            .drop_duplicates("county_code").set_index("county_code")
        table["previous_ratio"] = by_code.map(pd.to_numeric(prev["ratio"], errors="coerce")).astype(float) \
            .to_numpy()
        table["previous_level"] = [None if pd.isna(v) else str(v) for v in by_code.map(prev["level"])]
    else:
        table["previous_ratio"] = np.nan
        table["previous_level"] = None
    table["ratio_change"] = table["ratio"].astype(float) - table["previous_ratio"].astype(float)
    if unrectified is not None and len(unrectified):
        ucodes = unrectified["county_code"].astype(str)
        n = unrectified.groupby(ucodes).size()
        m2 = unrectified["illegal_farmland_m2"].astype(float).groupby(ucodes).sum()
        table["previous_unrectified_n"] = by_code.map(n).fillna(0).astype(np.int64).to_numpy()
        table["previous_unrectified_m2"] = by_code.map(m2).fillna(0.0).astype(float).to_numpy()
    else:
        table["previous_unrectified_n"] = np.int64(0)
        table["previous_unrectified_m2"] = 0.0
    failures = {str(k): str(v) for k, v in (failed or {}).items()}
    lost = by_code.isin(failures).to_numpy()
    table["failure_reason"] = [failures.get(c) for c in by_code]
    if lost.any():
        for column in ("ratio", "suspected_ratio", "after_deduction_ratio", "ratio_change", "rank"):
            table.loc[lost, column] = np.nan
        for column in ("occupied_farmland_m2", "illegal_farmland_m2", "legal_farmland_m2",
                       "basic_farmland_m2", "illegal_basic_farmland_m2",
                       "suspected_occupied_farmland_m2", "suspected_illegal_farmland_m2",
                       "key_project_illegal_m2", "rectified_illegal_m2", "verified_share"):
            table.loc[lost, column] = np.nan
        table.loc[lost, ["level", "suspected_level"]] = LEVEL_FAILED
        table.loc[lost, "level_reason"] = LEVEL_REASON_FAILED
        table.loc[lost, "complete"] = False
        table = pd.concat([table[~lost], table[lost]], ignore_index=True)  # after every ranked county
        reasons = table["failure_reason"].astype(object)
        table["failure_reason"] = reasons.where(reasons.notna(), None)
    return table[list(RUN_COUNTY_COLUMNS)].reset_index(drop=True)


def level_counts(ratios: pd.DataFrame, column: str = "level") -> dict[str, int]:
    """Counties per level (every level of the contract, most serious first, zeros included;
    ``failed`` only when a county failed)."""
    counts = ratios[column].astype(str).value_counts()
    return {level: int(counts.get(level, 0)) for level in LEVELS
            if level != LEVEL_FAILED or counts.get(level, 0)}
