"""``patches.gpkg``: the patch pieces and a county ratio map layer, for QGIS / ArcGIS."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd

from overlay.contracts import COUNTY_COLUMNS, LEVEL_LABELS_ZH, RUN_PIECE_COLUMNS, STATUS_LABELS_ZH
from reports._common import atomic_output, require_columns
from reports.units import m2_to_ha, m2_to_mu

__all__ = ["PATCHES_LAYER", "COUNTY_LAYER", "write_patches_gpkg", "county_ratio_layer"]

log = logging.getLogger(__name__)

PATCHES_LAYER = "patches"
"""Layer of the patch pieces."""

COUNTY_LAYER = "county_ratios"
"""Layer of the county polygons with their ratio, level and rank."""


def _patches_layer(pieces: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = pieces.copy()
    out["county_code"] = out["county_code"].astype(str)
    out["area_mu"] = m2_to_mu(out["area_m2"].astype("float64"))
    out["illegal_mu"] = m2_to_mu(out["illegal_farmland_m2"].astype("float64"))
    out["status_zh"] = out["status"].map(STATUS_LABELS_ZH)
    geom = out.geometry.name
    cols = [c for c in out.columns if c != geom] + [geom]
    return out[cols].sort_values(["county_code", "patch_id"], kind="stable").reset_index(drop=True)


def county_ratio_layer(
    ratios: pd.DataFrame, county_polygons: gpd.GeoDataFrame, crs: object
) -> gpd.GeoDataFrame:
    """Join the county ratios onto the county polygons.

    Parameters
    ----------
    ratios : pandas.DataFrame
        One row per county (docs/architecture.md).
    county_polygons : geopandas.GeoDataFrame
        County outlines with a ``county_code`` column, in any CRS. Several rows
        of one code are dissolved into one.
    crs : pyproj.CRS or str
        The CRS of the result.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per county polygon, with ``county_code``, ``county_name``,
        ``ratio``, ``ratio_pct``, ``level``, ``level_zh``, ``rank``, the areas in
        m², 亩 and hectares, and the patch counts. Counties of ``ratios`` without
        a polygon are left out (with a warning).
    """
    require_columns(ratios, COUNTY_COLUMNS, "ratios")
    require_columns(county_polygons, ("county_code",), "county_polygons")
    if county_polygons.crs is None:
        raise ValueError("county_polygons has no CRS")
    polys = county_polygons[["county_code", county_polygons.geometry.name]].copy()
    polys["county_code"] = polys["county_code"].astype(str)
    if polys["county_code"].duplicated().any():
        polys = polys.dissolve(by="county_code", as_index=False)
    polys = polys.rename_geometry("geometry") if polys.geometry.name != "geometry" else polys
    table = ratios.copy()
    table["county_code"] = table["county_code"].astype(str)
    table["ratio_pct"] = table["ratio"].astype("float64") * 100
    table["level_zh"] = table["level"].map(LEVEL_LABELS_ZH)
    for col in ("occupied_farmland_m2", "illegal_farmland_m2"):
        stem = col.removesuffix("_m2")
        table[f"{stem}_mu"] = m2_to_mu(table[col].astype("float64"))
        table[f"{stem}_ha"] = m2_to_ha(table[col].astype("float64"))
    missing = sorted(set(table["county_code"]) - set(polys["county_code"]))
    if missing:
        log.warning("no county polygon for county code(s) %s: left out of the %s layer", ", ".join(missing),
                    COUNTY_LAYER)
    merged = polys.merge(table, on="county_code", how="inner", validate="one_to_one")
    merged = gpd.GeoDataFrame(merged, geometry="geometry", crs=polys.crs).to_crs(crs)
    lead = ["county_code", "county_name", "ratio", "ratio_pct", "level", "level_zh", "rank"]
    cols = lead + [c for c in merged.columns if c not in lead and c != "geometry"] + ["geometry"]
    return merged[cols]


def write_patches_gpkg(
    pieces: gpd.GeoDataFrame,
    ratios: pd.DataFrame,
    county_polygons: gpd.GeoDataFrame,
    path: str | os.PathLike[str],
) -> Path:
    """Write the GeoPackage with layers ``patches`` and ``county_ratios``.

    ``patches`` holds every piece column plus ``area_mu``, ``illegal_mu`` and
    ``status_zh``, sorted by county and patch id. ``county_ratios`` holds the
    county polygons with ratio, level and rank (see :func:`county_ratio_layer`)
    for a choropleth map. Both layers are in the pieces' CRS. Written through
    pyogrio to a temporary file, then renamed.

    Parameters
    ----------
    pieces : geopandas.GeoDataFrame
        One row per patch piece, in one projected CRS.
    ratios : pandas.DataFrame
        One row per county.
    county_polygons : geopandas.GeoDataFrame
        County outlines with ``county_code``, in any CRS.
    path : str or os.PathLike
        The ``.gpkg`` file.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    require_columns(pieces, RUN_PIECE_COLUMNS, "pieces")
    if pieces.crs is None:
        raise ValueError("pieces has no CRS")
    patches = _patches_layer(pieces)
    counties = county_ratio_layer(ratios, county_polygons, pieces.crs)
    final = Path(path)
    with atomic_output(final) as tmp:
        patches.to_file(tmp, layer=PATCHES_LAYER, driver="GPKG", engine="pyogrio", promote_to_multi=True,
                        geometry_type="MultiPolygon")
        counties.to_file(tmp, layer=COUNTY_LAYER, driver="GPKG", engine="pyogrio", mode="a",
                         promote_to_multi=True, geometry_type="MultiPolygon")
    return final
