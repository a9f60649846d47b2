"""Per-county field-verification packages (外业核查包): a zipped Shapefile per county.

Each ``field_verification/<county_code>.zip`` holds ``<county_code>.shp/.shx/
.dbf/.prj/.cpg`` (attributes in UTF-8, the ``.cpg`` says so) and a
``README.txt`` in Chinese and English. Field names are at most 10 characters,
in the style used in practice (JCBH, XZQDM, TBMJ, PDLX, ...), named, typed and
explained by :data:`overlay.contracts.SHAPEFILE_FIELDS`. JCBH is the piece's
``patch_id``: within one county's package each JCBH appears once. The verdict
(PDLX) and remarks (HCSM) fields are empty, wide enough for the field team to
fill in.

The Shapefile is written with fiona because it lets the schema fix each field's
width and decimals (pyogrio picks widths itself: 80-byte text, 15 decimals).
"""
from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import fiona
from fiona.crs import CRS as FionaCRS
import geopandas as gpd
import pyproj
import shapely

from overlay.contracts import FIELD_BY_NAME, RUN_PIECE_COLUMNS, STATUS_LABELS_ZH, VERDICTS
from reports._common import atomic_output, is_missing, require_columns
from reports.units import M2_PER_MU, m2_to_mu

__all__ = ["FIELD_SCHEMA", "FIELD_DIR", "PACKAGE_FIELDS", "write_field_packages", "readme_text"]

log = logging.getLogger(__name__)

FIELD_DIR = "field_verification"
"""Sub-folder of the output folder that holds the zips."""

ENCODING = "UTF-8"
"""Attribute encoding of the Shapefiles (also written to the .cpg file)."""

PACKAGE_FIELDS: tuple[str, ...] = (
    "JCBH", "YSBH", "XZQDM", "XZQMC", "TBMJ", "GDMJ", "JBNTMJ", "PZMJ", "WFGDMJ", "TBMJM",
    "QSX", "HSX", "TBLX", "PDLX", "HCSM",
)
"""The fields a package holds, in order, of :data:`overlay.contracts.SHAPEFILE_FIELDS`."""

FIELD_SCHEMA: dict[str, str] = {name: FIELD_BY_NAME[name].dbf_type for name in PACKAGE_FIELDS}
"""Shapefile fields (fiona schema types; text widths are bytes of UTF-8)."""


def readme_text(county_code: str, county_name: str, n_patches: int) -> str:
    """The README.txt of one county's package, in Chinese and English.

    Parameters
    ----------
    county_code, county_name : str
        The county.
    n_patches : int
        Number of features in the Shapefile.

    Returns
    -------
    str
        The text (lines end with CRLF when written, for Windows editors).
    """
    lines = [
        f"外业核查图斑包 / Field verification package: {county_code} {county_name}",
        f"图斑个数 / features: {n_patches}",
        "",
        f"文件 / files: {county_code}.shp/.shx/.dbf/.prj/.cpg；属性编码 UTF-8（见 .cpg）/ attributes in UTF-8 (see .cpg)",
        "",
        "字段 / fields:",
    ]
    width = max(len(name) for name in PACKAGE_FIELDS)
    for name in PACKAGE_FIELDS:
        field = FIELD_BY_NAME[name]
        lines.append(f"  {name.ljust(width)}  {field.meaning_zh} / {field.meaning_en}")
    lines += [
        "",
        "TBLX 取值 / values:",
        *(f"  {zh} ({en})" for en, zh in STATUS_LABELS_ZH.items()),
        "",
        "PDLX 只能填写以下之一 / must be one of:",
        *(f"  {v.label_zh} ({v.label_en})" for v in VERDICTS),
        "",
        "说明：TBLX 与 WFGDMJ 为图斑与耕地、批准用地套合的结果，尚未经外业核查，属疑似违法；",
        "      以外业核查的 PDLX 判定为准。",
        "Note: TBLX and WFGDMJ come from overlaying the patch on farmland and approvals; they are",
        "      suspected, not verified. The field verdict PDLX decides.",
        f"面积单位 / units: 平方米 m²; 1 亩 = 10000/15 m² ≈ {M2_PER_MU:.2f} m²",
    ]
    return "\r\n".join(lines) + "\r\n"


def _text(value: Any) -> str | None:
    return None if is_missing(value) else str(value)


def _area(value: Any) -> float | None:
    return None if is_missing(value) else round(float(value), 2)


def _records(county: gpd.GeoDataFrame) -> list[fiona.Feature]:
    features = []
    for row in county.itertuples(index=False):
        geom = getattr(row, county.geometry.name)
        if geom is not None and not geom.is_empty and geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise ValueError(f"piece {row.patch_id} has a {geom.geom_type} geometry: a Shapefile takes polygons only")
        props = {
            "JCBH": _text(row.patch_id),
            "YSBH": _text(row.source_id),
            "XZQDM": _text(row.county_code),
            "XZQMC": _text(row.county_name),
            "TBMJ": _area(row.area_m2),
            "GDMJ": _area(row.farmland_m2),
            "JBNTMJ": _area(row.basic_farmland_m2),
            "PZMJ": _area(row.approved_m2),
            "WFGDMJ": _area(row.illegal_farmland_m2),
            "TBMJM": _area(m2_to_mu(float(row.area_m2))),
            "QSX": _text(row.before_date),
            "HSX": _text(row.after_date),
            "TBLX": STATUS_LABELS_ZH.get(str(row.status), str(row.status)),
            "PDLX": "",
            "HCSM": "",
        }
        geometry = None if geom is None or geom.is_empty else shapely.geometry.mapping(geom)
        features.append(fiona.Feature.from_dict({"geometry": geometry, "properties": props}))
    return features


def _write_zip(county: gpd.GeoDataFrame, code: str, name: str, crs: pyproj.CRS, target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix=f".{code}.", dir=target.parent) as work:
        shp = Path(work) / f"{code}.shp"
        schema = {"geometry": "Polygon", "properties": dict(FIELD_SCHEMA)}
        with fiona.open(
            shp, "w", driver="ESRI Shapefile", crs=FionaCRS.from_wkt(crs.to_wkt()), schema=schema,
            encoding=ENCODING,
        ) as dst:
            dst.writerecords(_records(county))
        cpg = shp.with_suffix(".cpg")
        cpg.write_text(ENCODING, encoding="ascii")  # GDAL writes it too; make the content certain
        with atomic_output(target) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                member = shp.with_suffix(suffix)
                if not member.is_file():
                    raise RuntimeError(f"the Shapefile writer made no {member.name}")
                zf.write(member, arcname=member.name)
            zf.writestr("README.txt", readme_text(code, name, len(county)).encode("utf-8-sig"))


def write_field_packages(
    pieces: gpd.GeoDataFrame,
    out_dir: str | os.PathLike[str],
    county_crs: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write one zipped Shapefile per county that has pieces.

    Parameters
    ----------
    pieces : geopandas.GeoDataFrame
        One row per patch piece, in one CRS.
    out_dir : str or os.PathLike
        The run's output folder; zips go to ``out_dir/field_verification/``.
    county_crs : mapping of str to CRS-like, optional
        CRS to write each county's Shapefile in (anything ``pyproj.CRS``
        accepts), by county code. Counties not in it, or all counties when it is
        None, keep the pieces' CRS.

    Returns
    -------
    dict of str to pathlib.Path
        Zip file by county code, in code order.
    """
    require_columns(pieces, RUN_PIECE_COLUMNS, "pieces")
    if pieces.crs is None:
        raise ValueError("pieces has no CRS")
    folder = Path(out_dir) / FIELD_DIR
    folder.mkdir(parents=True, exist_ok=True)
    codes = pieces["county_code"].astype(str)
    written: dict[str, Path] = {}
    for code in sorted(codes.unique()):
        county = pieces[codes == code].sort_values("patch_id", kind="stable")
        target_crs = pyproj.CRS.from_user_input(
            county_crs[code] if county_crs is not None and code in county_crs else pieces.crs
        )
        if not target_crs.equals(pyproj.CRS.from_user_input(pieces.crs)):
            county = county.to_crs(target_crs)
        names = county["county_name"].dropna().astype(str)
        name = names.iloc[0] if len(names) else ""
        target = folder / f"{code}.zip"
        _write_zip(county, code, name, target_crs, target)
        written[code] = target
    log.info("wrote %d field verification package(s) to %s", len(written), folder)
    return written
