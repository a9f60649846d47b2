"""``patches.gpkg``: the patch pieces and a county ratio map layer, for QGIS / ArcGIS."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd

from overlay.contracts import (COLUMN_LABELS_ZH, COUNTY_COLUMNS, COUNTY_VERIFIED_COLUMNS, EFFECT_LABELS_ZH, EFFECTS,
                               FIELD_BY_NAME, LEVEL_LABELS_ZH, LEVEL_REASON_LABELS_ZH, LEVEL_REASONS, LEVELS,
                               ORIGIN_LABELS_ZH, ORIGINS, RECTIFICATIONS, RUN_PIECE_COLUMNS, STATUS_LABELS_ZH, STATUSES,
                               VERDICTS)
from reports._common import atomic_output, require_columns
from reports.gpkg_schema import (GPKG_VERSION, EnumDomain, StyleRow, add_enum_domains, add_layer_styles,
                                 set_gpkg_version)
from reports.qgis_style import (COUNTY_FILL_STYLE, COUNTY_OUTLINE_STYLE, county_sld, county_style, patches_sld,
                                patches_style, qml_document, to_xml)
from reports.units import m2_to_ha, m2_to_mu

__all__ = ["PATCHES_LAYER", "COUNTY_LAYER", "PIECE_DOMAINS", "COUNTY_DOMAINS", "PATCH_ALIASES_ZH",
           "COUNTY_ALIASES_ZH", "PATCHES_STYLE", "write_patches_gpkg", "county_ratio_layer", "layer_styles"]

log = logging.getLogger(__name__)

PATCHES_LAYER = "patches"
"""Layer of the patch pieces."""

COUNTY_LAYER = "county_ratios"
"""Layer of the county polygons with their ratio, level and rank."""

PIECE_DOMAINS: dict[str, EnumDomain] = {
    "status": EnumDomain("landcheck_status", [(s, STATUS_LABELS_ZH[s]) for s in STATUSES],
                         FIELD_BY_NAME["THJG"].alias_zh),
    "origin": EnumDomain("landcheck_origin", [(o, ORIGIN_LABELS_ZH[o]) for o in ORIGINS]),
    # the verdict columns, when the pieces carry returned verdicts (codes of the contract)
    "verdict": EnumDomain("landcheck_pdlx", [(v.code, v.label_zh) for v in VERDICTS], FIELD_BY_NAME["PDLX"].alias_zh),
    "rectification": EnumDomain("landcheck_zgzt", [(r.code, r.label_zh) for r in RECTIFICATIONS],
                                FIELD_BY_NAME["ZGZT"].alias_zh),
    "effect": EnumDomain("landcheck_effect", [(e, EFFECT_LABELS_ZH[e]) for e in EFFECTS], COLUMN_LABELS_ZH["effect"]),
}
"""Value lists of the ``patches`` layer (GeoPackage enum constraints: QGIS shows the Chinese labels)."""

_LEVEL_VALUES = [(lv, LEVEL_LABELS_ZH[lv]) for lv in LEVELS]
COUNTY_DOMAINS: dict[str, EnumDomain] = {
    "level": EnumDomain("landcheck_level", _LEVEL_VALUES),
    # the run's decisive columns (overlay.contracts.COUNTY_VERIFIED_COLUMNS), when present
    "suspected_level": EnumDomain("landcheck_level", _LEVEL_VALUES, COLUMN_LABELS_ZH["suspected_level"]),
    "previous_level": EnumDomain("landcheck_level", _LEVEL_VALUES, COLUMN_LABELS_ZH["previous_level"]),
    "level_reason": EnumDomain("landcheck_level_reason", [(r, LEVEL_REASON_LABELS_ZH[r]) for r in LEVEL_REASONS],
                               COLUMN_LABELS_ZH["level_reason"]),
}
"""Value lists of the ``county_ratios`` layer."""

PATCHES_STYLE = "监测图斑（按核查与套合结果）"
"""Name of the default style of the ``patches`` layer."""


def _alias(name: str, unit: str = "") -> str:
    return FIELD_BY_NAME[name].alias_zh + unit


_M2, _MU, _HA = "（平方米）", "（亩）", "（公顷）"

PATCH_ALIASES_ZH: dict[str, str] = {
    "patch_id": _alias("JCBH"), "source_id": _alias("YSBH"), "county_code": _alias("XZQDM"),
    "county_name": _alias("XZQMC"), "year": "年度", "origin": "图斑来源", "mean_score": "变化置信度",
    "before_date": _alias("QSX"), "after_date": _alias("HSX"), "area_m2": _alias("TBMJ", _M2),
    "farmland_m2": _alias("GDMJ", _M2), "basic_farmland_m2": _alias("JBNTMJ", _M2),
    "approved_m2": _alias("PZMJ", _M2), "legal_farmland_m2": "已批占用耕地面积" + _M2,
    "illegal_farmland_m2": _alias("WFGDMJ", _M2), "illegal_basic_farmland_m2": _alias("WFJBNTMJ", _M2),
    "other_m2": "非耕地面积" + _M2, "status": _alias("THJG"),
    "counts_as_construction": "计入新增建设",
    **{c: COLUMN_LABELS_ZH[c] for c in ("verdict", "effect", "wfmj_m2", "verified_illegal_farmland_m2",
                                        "verified_legal_farmland_m2", "verified_farmland_m2", "rectification",
                                        "verdict_source", "key_project")},
    "area_mu": _alias("TBMJM"), "illegal_mu": _alias("WFGDMJM"), "status_zh": _alias("THJG") + "（中文）",
}
"""Chinese alias of every column of the ``patches`` layer (QGIS shows them in the attribute table and
forms): the field-package aliases (:data:`overlay.contracts.SHAPEFILE_FIELDS`) and the report headers
(:data:`overlay.contracts.COLUMN_LABELS_ZH`) where they exist."""

COUNTY_ALIASES_ZH: dict[str, str] = {
    "county_code": _alias("XZQDM"), "county_name": _alias("XZQMC"), "ratio": "违法占用耕地比例",
    "ratio_pct": "违法占用耕地比例（%）", "level": "处理等级", "level_zh": "处理等级（中文）", "rank": "排名",
    "occupied_farmland_m2": "新增建设占用耕地面积" + _M2, "illegal_farmland_m2": "违法占用耕地面积" + _M2,
    "legal_farmland_m2": "合法占用耕地面积" + _M2, "n_patches": "图斑数", "n_illegal_patches": "违法图斑数",
    "basic_farmland_m2": "占用永久基本农田面积" + _M2, "illegal_basic_farmland_m2": "违法占用永久基本农田面积" + _M2,
    **{c: COLUMN_LABELS_ZH[c] for c in COUNTY_VERIFIED_COLUMNS},
    "occupied_farmland_mu": "新增建设占用耕地面积" + _MU, "occupied_farmland_ha": "新增建设占用耕地面积" + _HA,
    "illegal_farmland_mu": "违法占用耕地面积" + _MU, "illegal_farmland_ha": "违法占用耕地面积" + _HA,
}
"""Chinese alias of every column of the ``county_ratios`` layer."""


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


def layer_styles(patch_columns: list[str], county_columns: list[str]) -> list[StyleRow]:
    """The default styles of both layers (QML and SLD), plus the county style filled by level."""
    patches = patches_style(patch_columns, PATCH_ALIASES_ZH)
    outline = county_style(county_columns, COUNTY_ALIASES_ZH)
    filled = county_style(county_columns, COUNTY_ALIASES_ZH, filled=True)
    return [
        StyleRow(PATCHES_LAYER, PATCHES_STYLE, to_xml(qml_document(patches)), patches_sld(patch_columns), True,
                 "监测图斑：已核查的按判定类型、未核查的按套合结果分类；1:10000 及更大比例尺标注监测图斑编号"),
        StyleRow(COUNTY_LAYER, COUNTY_OUTLINE_STYLE, to_xml(qml_document(outline)), county_sld(), True,
                 "县界轮廓，标注县名、违法占用耕地比例和处理等级"),
        StyleRow(COUNTY_LAYER, COUNTY_FILL_STYLE, to_xml(qml_document(filled)), county_sld(filled=True), False,
                 "按处理等级填充县域，标注县名、违法占用耕地比例和处理等级"),
    ]


def write_patches_gpkg(
    pieces: gpd.GeoDataFrame,
    ratios: pd.DataFrame,
    county_polygons: gpd.GeoDataFrame,
    path: str | os.PathLike[str],
) -> Path:
    """Write the GeoPackage with layers ``patches`` and ``county_ratios``.

    ``patches`` holds every piece column plus ``area_mu``, ``illegal_mu`` and
    ``status_zh``, sorted by county and patch id; ``status``, ``origin`` (and
    ``verdict`` / ``rectification`` when present) carry value lists with their
    Chinese labels (:data:`PIECE_DOMAINS`). ``county_ratios`` holds the
    county polygons with ratio, level and rank (see :func:`county_ratio_layer`)
    for a choropleth map. Both layers are in the pieces' CRS, with default styles
    (QML and SLD, Chinese aliases) in the ``layer_styles`` table (:func:`layer_styles`).
    The file is a GeoPackage 1.2 (:data:`reports.gpkg_schema.GPKG_VERSION`), which every
    GDAL from 3.2 opens without a warning. Written through pyogrio to a temporary file,
    then renamed.

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
                        geometry_type="MultiPolygon", dataset_options={"VERSION": GPKG_VERSION})
        counties.to_file(tmp, layer=COUNTY_LAYER, driver="GPKG", engine="pyogrio", mode="a",
                         promote_to_multi=True, geometry_type="MultiPolygon")
        add_enum_domains(tmp, PATCHES_LAYER, PIECE_DOMAINS)
        add_enum_domains(tmp, COUNTY_LAYER, COUNTY_DOMAINS)
        geom = patches.geometry.name
        add_layer_styles(tmp, layer_styles([c for c in patches.columns if c != geom],
                                           [c for c in counties.columns if c != "geometry"]))
        set_gpkg_version(tmp)
    return final
