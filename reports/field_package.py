"""Per-county field-verification packages (外业核查包), made to come back with verdicts.

Each ``field_verification/<county_code>.zip`` holds:

- ``<code>.shp/.shx/.dbf/.prj/.cpg``: one feature per patch piece of the county, in
  the county's Gauss-Krüger zone, with the fields of :data:`PACKAGE_FIELDS`
  (named, typed and explained by :data:`overlay.contracts.SHAPEFILE_FIELDS`, at
  most 10 characters). The fields the field team fills in (PDLX, WFMJ, ZGZT,
  HCSM, HCR, HCRQ, ZP) are empty. Attributes are UTF-8 or GBK (``encoding``); the
  ``.cpg`` says which, and a GBK ``.dbf`` also carries the language-driver byte
  of code page 936, for software that ignores the ``.cpg``.
- ``<code>_sheet.pdf``: the printable sheet (:mod:`reports.field_sheet`).
- ``chips/<JCBH>_before.png``, ``chips/<JCBH>_after.png``: the image chips of every
  patch (:mod:`reports.chips`), when the run had imagery.
- ``README.txt`` (UTF-8 with BOM, CRLF): files, fields with Chinese aliases, the
  allowed PDLX / ZGZT values, the ZP separator, the CRS, the encoding.

JCBH is the piece's ``patch_id``: within one county's package each JCBH appears
once. A package is byte-reproducible: zip entries, the ``.dbf`` header date and
the PDF carry fixed dates, PNGs no stamp.

The Shapefile's bytes are built in memory (:func:`_shapefile_members`): exactly the
files GDAL writes for :data:`FIELD_SCHEMA` (field widths and decimals fixed; pyogrio
would pick its own widths: 80-byte text, 15 decimals), rings rewound as GDAL does, the
``.prj`` written by GDAL once per CRS. A county needs no temporary folder and no driver
(GDAL took about 30 ms a county, most of a package's time with the folder). A record the
in-memory writer does not vouch for (a 3D or degenerate ring, a number wider than its
field, a GBK text with characters beyond ASCII and the CJK ideographs) is written by GDAL
through fiona, as before. ``tests/reports/test_field_package.py`` compares the two writers
byte for byte.
"""
from __future__ import annotations

import functools
import io
import logging
import os
import struct
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import fiona
import geopandas as gpd
import numpy as np
import pyproj
import shapely
from fiona.crs import CRS as FionaCRS

from overlay.crs import transformer
from overlay.contracts import (FIELD_BY_NAME, PACKAGE_ENCODING_BY_NAME, PACKAGE_ENCODINGS, PATCH_TYPE_BY_CODE,
                               PATCH_TYPE_NEW_CONSTRUCTION, PATCH_TYPES, PHOTO_SEPARATOR, RECTIFICATIONS,
                               RUN_PIECE_COLUMNS, STATUS_LABELS_ZH, VERDICTS)
from reports._common import atomic_output, is_missing, require_columns
from reports.chips import STRETCH_PERCENTILES, ChipSource, chip_names, chip_pngs, stretch_pair
from reports.field_sheet import PATCHES_PER_PAGE, CountySheet
from reports.units import M2_PER_MU, m2_to_mu

__all__ = [
    "FIELD_SCHEMA", "FIELD_DIR", "PACKAGE_FIELDS", "ENCODINGS", "DEFAULT_ENCODING", "NO_IMAGERY",
    "PackageEncodingError", "write_field_packages", "readme_text", "sheet_name", "field_description", "check_text",
]

log = logging.getLogger(__name__)

FIELD_DIR = "field_verification"
"""Sub-folder of the output folder that holds the zips."""


ENCODINGS = PACKAGE_ENCODING_BY_NAME
"""The attribute encodings a package can be written in (:data:`overlay.contracts.PACKAGE_ENCODINGS`)."""

DEFAULT_ENCODING = PACKAGE_ENCODINGS[0].name

NO_IMAGERY: tuple[str, str] = ("本次运行使用下发图斑，没有影像", "this run used received patches and had no imagery")
"""Why a package has no chips when the caller gives no chip source and no reason."""

PACKAGE_FIELDS: tuple[str, ...] = (
    # who and where
    "JCBH", "YSBH", "XZQDM", "XZQMC", "TBLX", "THJG",
    # areas (m², then 亩)
    "TBMJ", "JCMJ", "TBMJM", "GDMJ", "GDMJM", "JBNTMJ", "PZMJ",
    "WFGDMJ", "WFGDMJM", "WFJBNTMJ", "WFJBNTMJM",
    # when and where to go
    "QSX", "HSX", "DZB", "BZB", "JD", "WD",
    # filled in by the field team
    "PDLX", "WFMJ", "ZGZT", "HCSM", "HCR", "HCRQ", "ZP",
)
"""The fields a package holds, in this order: every field of :data:`overlay.contracts.SHAPEFILE_FIELDS`."""

FIELD_SCHEMA: dict[str, str] = {name: FIELD_BY_NAME[name].dbf_type for name in PACKAGE_FIELDS}
"""Shapefile fields (fiona schema types; text widths are bytes in the package's encoding)."""

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_DBF_DATE = "1980-01-01"  # the .dbf header's "last update", pinned like the zip entries
_GEOGRAPHIC = pyproj.CRS.from_epsg(4490)  # CGCS2000 longitude / latitude


class PackageEncodingError(ValueError):
    """A text value cannot be written in the package's encoding (or does not fit its field)."""


def sheet_name(county_code: str) -> str:
    """File name of the printable sheet inside a package."""
    return f"{county_code}_sheet.pdf"


def _crs_label(crs: pyproj.CRS) -> str:
    return _crs_facts(crs)[0]


def _crs_facts(crs: pyproj.CRS) -> tuple[str, str]:
    """``EPSG:n`` (or the CRS's name) and the WKT of ``crs``, found once per process for each CRS
    text a package's CRS is made from (each lookup in the PROJ database takes about 0.2 ms)."""
    return _crs_facts_of(crs.srs) if crs.srs else _crs_facts_now(crs)


@functools.lru_cache(maxsize=64)
def _crs_facts_of(srs: str) -> tuple[str, str]:
    return _crs_facts_now(pyproj.CRS.from_user_input(srs))


def _crs_facts_now(crs: pyproj.CRS) -> tuple[str, str]:
    epsg = crs.to_epsg()
    return (f"EPSG:{epsg}" if epsg else crs.name), crs.to_wkt()


def readme_text(county_code: str, county_name: str, n_patches: int, *, encoding: str = DEFAULT_ENCODING,
                crs: Any = None, chips_note: tuple[str, str] | None = None,
                n_without_chips: int = 0) -> str:
    """The README.txt of one county's package, in Chinese and English.

    Parameters
    ----------
    county_code, county_name : str
        The county.
    n_patches : int
        Number of features in the Shapefile.
    encoding : str
        Key of :data:`ENCODINGS`.
    crs : CRS-like, optional
        The Shapefile's CRS.
    chips_note : (str, str), optional
        Why the package has no chips at all (Chinese, English); None when it has chips.
    n_without_chips : int
        Patches without chips although the package has some (outside the imagery).

    Returns
    -------
    str
        The text (lines end with CRLF when written, for Windows editors).
    """
    enc = ENCODINGS[encoding]
    crs_line = ""
    if crs is not None:
        c = pyproj.CRS.from_user_input(crs)
        crs_line = f"坐标系 / CRS: {c.name} ({_crs_label(c)})；东坐标不加带号 / eastings without zone number"
    ldid = f"；DBF 语言驱动 0x{enc.ldid:02X}（代码页 936） / DBF language driver 0x{enc.ldid:02X} (code page 936)" \
        if enc.ldid else ""
    lines = [
        f"外业核查图斑包 / Field verification package: {county_code} {county_name}",
        f"图斑个数 / features: {n_patches}",
        "",
        "文件 / files:",
        f"  {county_code}.shp/.shx/.dbf/.prj/.cpg  图斑，核查结果填入本 Shapefile / the patches: enter the results here",
        f"  {sheet_name(county_code)}  外业核查表（A4，每页 {PATCHES_PER_PAGE} 个图斑，可打印） / "
        f"printable field sheet (A4, {PATCHES_PER_PAGE} patches a page)",
    ]
    if chips_note is None:
        lines.append("  chips/<JCBH>_before.png, chips/<JCBH>_after.png  前、后时相影像截图 / before and after image chips")
    lines += [
        "  README.txt  本说明（UTF-8） / this file (UTF-8)",
        "",
        f"属性编码 / attribute encoding: {enc.cpg}（见 .cpg / see .cpg{ldid}）",
    ]
    if not enc.ldid:
        lines.append("  .cpg 须与 .dbf 一起拷贝，否则中文会乱码 / keep the .cpg with the .dbf, or Chinese text "
                     "is misread")
    if crs_line:
        lines.append(crs_line)
    lines.append("")
    if chips_note is None:
        lo, hi = STRETCH_PERCENTILES
        lines += [
            "影像截图 / image chips:",
            f"  真彩色（红、绿、蓝波段）；前后时相用同一拉伸（两期有效像元合并，每波段 {lo:g}%–{hi:g}% 分位），",
            "  颜色或亮度的差别即为两期的差别；黄线为图斑边界；灰色为无数据。",
            f"  True colour (red, green, blue); both dates share one stretch (per band the {lo:g}-{hi:g} "
            "percentiles of the valid pixels of both dates), so differences are real; yellow line: the patch; "
            "grey: no data.",
        ]
        if n_without_chips:
            lines.append(f"  {n_without_chips} 个图斑在影像范围外，无截图 / {n_without_chips} patch(es) lie outside "
                         "the imagery and have no chips.")
    else:
        lines += [
            f"本包无影像截图：{chips_note[0]}。",
            f"No image chips in this package: {chips_note[1]}.",
        ]
    lines += ["", "字段 / fields（字段名  别名：含义 / meaning [类型 type]；* 由外业核查填写 / * filled in by "
                  "the field team）:"]
    width = max(len(name) for name in PACKAGE_FIELDS)
    for name in PACKAGE_FIELDS:
        lines.append(f"{'*' if FIELD_BY_NAME[name].filled_by_field_team else ' '} {name.ljust(width)}  "
                     f"{field_description(name)}")
    lines += [
        "",
        "TBLX 取值 / values:",
        *(f"  {t.label_zh} = {t.label_en}" for t in PATCH_TYPES),
        "THJG 取值 / values:",
        *(f"  {zh} = {en}" for en, zh in STATUS_LABELS_ZH.items()),
        "",
        "PDLX 只能填写以下之一 / must be one of:",
        *(f"  {v.label_zh} = {v.label_en}" for v in VERDICTS),
        "ZGZT 只能填写以下之一 / must be one of:",
        *(f"  {r.label_zh} = {r.label_en}" for r in RECTIFICATIONS),
        f"ZP 照片文件名，多个以 {PHOTO_SEPARATOR} 分隔 / photo file names separated by {PHOTO_SEPARATOR}",
        "HCRQ 日期写 YYYY-MM-DD / date as YYYY-MM-DD；WFMJ 为核查认定的违法面积（平方米）/ the verified illegal "
        "area (m²)",
        "",
        "说明：THJG、WFGDMJ、WFJBNTMJ 为图斑与耕地、批准用地套合的结果，尚未经外业核查，属疑似；",
        "      以外业核查的 PDLX 判定为准。请勿修改 JCBH、XZQDM：核查结果按二者回读。",
        "Note: THJG, WFGDMJ and WFJBNTMJ come from overlaying the patch on farmland and approvals; they are",
        "      suspected, not verified. The field verdict PDLX decides. Do not edit JCBH or XZQDM: the",
        "      results are read back by them.",
        f"面积单位 / units: 平方米 m²，字段名以 M 结尾者为亩 / fields ending in M are in mu; "
        f"1 亩 = 10000/15 m² ≈ {M2_PER_MU:.2f} m²",
        "中心点为图斑内的一点（不一定是几何中心）/ the centre point lies inside the patch (not always its centroid)",
    ]
    return "\r\n".join(lines) + "\r\n"


def field_description(name: str) -> str:
    """``别名：含义 / meaning [type]`` of a package field, for the README."""
    field = FIELD_BY_NAME[name]
    meaning = field.meaning_zh
    zh = meaning if meaning.startswith(field.alias_zh) else f"{field.alias_zh}：{meaning}"
    return f"{zh} / {field.meaning_en} [{field.dbf_type}]"


_AREA_COLUMNS = ("area_m2", "farmland_m2", "basic_farmland_m2", "approved_m2", "illegal_farmland_m2",
                 "illegal_basic_farmland_m2")


def check_text(props: Mapping[str, Any], encoding: str, label: str) -> None:
    """Refuse a text value (of package fields ``props``) the encoding cannot write or the field
    cannot hold: :class:`PackageEncodingError`, one line starting with ``label``."""
    enc = ENCODINGS[encoding]
    of = f" of patch {props['JCBH']}" if "JCBH" in props else ""
    for name, value in props.items():
        if not isinstance(value, str) or not value:
            continue
        try:
            raw = value.encode(enc.name)
        except UnicodeEncodeError as exc:
            bad = value[exc.start]
            raise PackageEncodingError(
                f"{label}: {name} {value!r}{of} cannot be written in "
                f"{enc.cpg} (character {bad!r} U+{ord(bad):04X} is not in {enc.cpg})") from None
        width = int(FIELD_SCHEMA[name].split(":")[1].split(".")[0])
        if len(raw) > width:
            raise PackageEncodingError(
                f"{label}: {name} {value!r}{of} needs {len(raw)} bytes in "
                f"{enc.cpg}, the field holds {width}")


def _check_text(props: Mapping[str, Any], encoding: str, code: str) -> None:
    check_text(props, encoding, f"field package {code}")


def _zinfo(name: str, *, compressed: bool = False) -> zipfile.ZipInfo:
    """A member's header: deflated, unless its bytes are ``compressed`` already (a PDF with
    compressed streams, a PNG), which are stored: deflating a 70-patch county's sheet again
    took 4.7 ms (of about 33 ms for its whole package) to save a fifth of its size."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_STORED if compressed else zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    return info


def _write_shapefile(records: list[tuple[dict[str, Any], Any]], shp: Path, crs: pyproj.CRS, encoding: str) -> None:
    enc = ENCODINGS[encoding]
    schema = {"geometry": "Polygon", "properties": dict(FIELD_SCHEMA)}
    features = []
    for props, geom in records:
        geometry = None if geom is None or geom.is_empty else shapely.geometry.mapping(geom)
        features.append(fiona.Feature.from_dict({"geometry": geometry, "properties": props}))
    with fiona.open(shp, "w", driver="ESRI Shapefile", crs=FionaCRS.from_wkt(crs.to_wkt()), schema=schema,
                    encoding=enc.name, DBF_DATE_LAST_UPDATE=_DBF_DATE) as dst:
        dst.writerecords(features)
    shp.with_suffix(".cpg").write_text(enc.cpg, encoding="ascii")  # GDAL writes one too; make it certain
    with open(shp.with_suffix(".dbf"), "r+b") as dbf:  # the language-driver byte, for .cpg-blind readers
        dbf.seek(29)
        dbf.write(bytes([enc.ldid]))


_SHAPE_POLYGON = 5
_SHAPEFILE_SUFFIXES = (".shp", ".shx", ".dbf", ".prj", ".cpg")


@functools.lru_cache(maxsize=1)
def _dbf_fields() -> tuple[tuple[bytes, bytes, int, int], ...] | None:
    """``(name, type, width, decimals)`` of the .dbf fields GDAL writes for :data:`FIELD_SCHEMA`;
    None for a type the in-memory writer does not know (then fiona writes the Shapefile)."""
    fields = []
    for name, spec in FIELD_SCHEMA.items():
        kind, _, size = spec.partition(":")
        width, _, decimals = size.partition(".")
        if kind == "str" and width.isdigit() and not decimals:
            fields.append((name.encode("ascii"), b"C", int(width), 0))
        elif kind in ("float", "int") and width.isdigit() and (decimals.isdigit() or not decimals):
            fields.append((name.encode("ascii"), b"N", int(width), int(decimals or 0)))
        else:
            return None
    return tuple(fields)


@functools.lru_cache(maxsize=64)
def _prj_bytes(wkt: str) -> bytes:
    """The ``.prj`` GDAL writes for a CRS (ESRI WKT): written once per CRS and process."""
    with tempfile.TemporaryDirectory(prefix=".prj.") as work:
        shp = Path(work) / "p.shp"
        with fiona.open(shp, "w", driver="ESRI Shapefile", crs=FionaCRS.from_wkt(wkt),
                        schema={"geometry": "Polygon", "properties": {"A": "str:1"}}):
            pass
        return shp.with_suffix(".prj").read_bytes()


def _gbk_safe(text: str) -> bool:
    """True when Python's GBK codec and GDAL's (iconv) surely agree: ASCII and CJK ideographs only."""
    return all(ch < "\x80" or "\u4e00" <= ch <= "\u9fff" for ch in text)


def _polygon_contents(geoms: list[Any]) -> tuple[list[bytes], tuple[float, float, float, float] | None] | None:
    """The .shp record contents of ``geoms`` (a null shape for a missing or empty one) and their
    bounds, as GDAL writes polygons: every polygon's shell clockwise, then its holes
    counter-clockwise (GDAL rewinds the rings on write), each ring a part. All rings are taken
    apart and oriented at once. None when the in-memory writer cannot (3D, not polygonal, a
    ring of fewer than four points or of no area: GDAL writes those)."""
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    null = shapely.is_missing(arr) | shapely.is_empty(arr)
    present = np.flatnonzero(~null)
    contents = [_NULL_SHAPE] * len(geoms)
    if not len(present):
        return contents, None
    kinds = shapely.get_type_id(arr[present])
    if not np.isin(kinds, (3, 6)).all() or shapely.has_z(arr[present]).any():
        return None
    polygons, owner = shapely.get_parts(arr[present], return_index=True)
    kept = ~shapely.is_empty(polygons)
    polygons, owner = polygons[kept], owner[kept]
    rings, ring_polygon = shapely.get_rings(polygons, return_index=True)
    sizes = shapely.get_num_coordinates(rings)
    if (sizes < 4).any():
        return None
    xy = shapely.get_coordinates(rings)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    # twice each ring's signed area (> 0: counter-clockwise); rings near zero are summed again
    # one by one as np.dot does, so every decision is the one made ring by ring
    x, y = xy[:, 0], xy[:, 1]
    ahead = np.ones(len(xy), dtype=bool)
    ahead[ends - 1] = False  # the last point of a ring starts no edge
    cross_xy = np.where(ahead, x * np.roll(y, -1), 0.0)
    cross_yx = np.where(ahead, np.roll(x, -1) * y, 0.0)
    twice = np.add.reduceat(cross_xy, starts) - np.add.reduceat(cross_yx, starts)
    scale = np.add.reduceat(np.abs(cross_xy), starts) + np.add.reduceat(np.abs(cross_yx), starts)
    for r in np.flatnonzero(np.abs(twice) <= 1e-9 * scale):
        rx, ry = x[starts[r]:ends[r]], y[starts[r]:ends[r]]
        twice[r] = float(np.dot(rx[:-1], ry[1:]) - np.dot(rx[1:], ry[:-1]))
    if (twice == 0).any():
        return None  # a degenerate ring: leave its orientation to GDAL
    shell = np.r_[True, ring_polygon[1:] != ring_polygon[:-1]]
    flip = (twice > 0) == shell
    ring_of = np.repeat(np.arange(len(rings)), sizes)
    at = np.arange(len(xy))
    order = np.where(flip[ring_of], starts[ring_of] + ends[ring_of] - 1 - at, at)
    xy = np.ascontiguousarray(xy[order], dtype="<f8")
    # each geometry's rings are consecutive: its parts and points
    ring_owner = owner[ring_polygon]
    first_ring = np.flatnonzero(np.r_[True, ring_owner[1:] != ring_owner[:-1]])
    last_ring = np.r_[first_ring[1:], len(rings)] - 1
    lo, hi = starts[first_ring], ends[last_ring]
    mins = np.column_stack([np.minimum.reduceat(xy[:, 0], lo), np.minimum.reduceat(xy[:, 1], lo)])
    maxs = np.column_stack([np.maximum.reduceat(xy[:, 0], lo), np.maximum.reduceat(xy[:, 1], lo)])
    part_starts = (starts - lo[np.repeat(np.arange(len(lo)), last_ring - first_ring + 1)]).astype("<i4")
    for k, g in enumerate(present[ring_owner[first_ring]].tolist()):
        a, b = first_ring[k], last_ring[k] + 1
        contents[g] = (struct.pack("<i4d2i", _SHAPE_POLYGON, *mins[k].tolist(), *maxs[k].tolist(), b - a,
                                   int(hi[k] - lo[k]))
                       + part_starts[a:b].tobytes() + xy[lo[k]:hi[k]].tobytes())
    bounds = (*mins.min(axis=0).tolist(), *maxs.max(axis=0).tolist())
    return contents, bounds


_NULL_SHAPE = struct.pack("<i", 0)


def _text_cell(value: Any, width: int, encoding: str, gbk: bool) -> bytes | None:
    """A text cell of the .dbf as GDAL writes it (padded with blanks), or None when the value
    needs GDAL itself."""
    if value is None or value == "":
        return b" " * width
    if not isinstance(value, str) or (gbk and not _gbk_safe(value)):
        return None
    raw = value.encode(encoding)
    return raw.ljust(width, b" ") if len(raw) <= width else None


def _shapefile_members(records: list[tuple[dict[str, Any], Any]], crs: pyproj.CRS,
                       encoding: str) -> dict[str, bytes] | None:
    """The ``.shp/.shx/.dbf/.prj/.cpg`` bytes GDAL would write for ``records``, built in memory
    (no folder, no driver: a county's Shapefile in about a millisecond); None when a record
    needs GDAL itself (a 3D or degenerate ring, a number too wide, an unusual character in GBK)."""
    fields = _dbf_fields()
    if fields is None:
        return None
    enc = ENCODINGS[encoding]
    # ---- .dbf
    header_len = 32 + 32 * len(fields) + 1
    record_len = 1 + sum(width for _, _, width, _ in fields)
    dbf = bytearray(struct.pack("<B3BIHH20x", 3, 80, 1, 1, len(records), header_len, record_len))
    dbf[29] = enc.ldid
    for name, kind, width, decimals in fields:
        dbf += struct.pack("<11sc4xBB14x", name, kind, width, decimals)
    dbf += b"\r"
    formats = [(name.decode("ascii"), kind == b"C", width, f"%{width}.{decimals}f") for name, kind, width, decimals
               in fields]
    gbk = enc.name != "utf-8"
    columns = []
    for name, is_text, width, fmt in formats:
        column = []
        if is_text:
            known: dict[Any, bytes | None] = {}  # the cell of each value met before
            for props, _ in records:
                value = props.get(name)
                key = (type(value), value)
                cell = known[key] if key in known else known.setdefault(key, _text_cell(value, width, enc.name, gbk))
                if cell is None:
                    return None
                column.append(cell)
        else:
            missing = b"*" * width
            for props, _ in records:
                value = props.get(name)
                if value is None:
                    column.append(missing)
                    continue
                if type(value) is not float and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                    return None
                cell = (fmt % value).encode("ascii")
                if len(cell) > width:
                    return None
                column.append(cell)
        columns.append(column)
    dbf += b"".join(b" " + b"".join(row) for row in zip(*columns))
    dbf += b"\x1a"
    # ---- .shp and .shx
    shapes = _polygon_contents([geom for _, geom in records])
    if shapes is None:
        return None
    contents, bounds = shapes
    box = bounds or (0.0, 0.0, 0.0, 0.0)
    shp_len = 100 + sum(8 + len(c) for c in contents)
    shx_len = 100 + 8 * len(contents)

    def header(length: int) -> bytes:
        return struct.pack(">i20xi", 9994, length // 2) + struct.pack("<ii4d4d", 1000, _SHAPE_POLYGON, *box,
                                                                         0.0, 0.0, 0.0, 0.0)

    shp = [header(shp_len)]
    shx = [header(shx_len)]
    offset = 100
    for i, content in enumerate(contents, start=1):
        shp.append(struct.pack(">ii", i, len(content) // 2))
        shp.append(content)
        shx.append(struct.pack(">ii", offset // 2, len(content) // 2))
        offset += 8 + len(content)
    return {".shp": b"".join(shp), ".shx": b"".join(shx), ".dbf": bytes(dbf), ".prj": _prj_bytes(_crs_facts(crs)[1]),
            ".cpg": enc.cpg.encode("ascii")}


def _records(county: gpd.GeoDataFrame, crs: pyproj.CRS) -> list[tuple[dict[str, Any], Any]]:
    """The Shapefile records ``(fields, geometry)`` of one county's pieces (in the package's CRS ``crs``),
    the centre points (``representative_point``) found and projected for all rows at once."""
    geoms = np.asarray(county.geometry.values, dtype=object)
    if not len(geoms):
        return []
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    points = shapely.point_on_surface(geoms[present])  # representative_point() of each
    px, py = shapely.get_x(points), shapely.get_y(points)
    to_geographic = transformer(crs, _GEOGRAPHIC)  # built once per process and CRS
    lon, lat = (px, py) if to_geographic is None else to_geographic.transform(px, py)
    projected = crs.is_projected
    centres: list[tuple[Any, Any, Any, Any]] = [(None, None, None, None)] * len(geoms)
    for k, i in enumerate(np.flatnonzero(present).tolist()):
        x, y = float(px[k]), float(py[k])
        centres[i] = (round(x, 2) if projected else None, round(y, 2) if projected else None,
                      round(float(lon[k]), 7), round(float(lat[k]), 7))
    return [(props, geom) for props, geom in zip(_record_fields(county, centres), geoms.tolist())]


def _record_fields(county: gpd.GeoDataFrame, centres: list[tuple[Any, Any, Any, Any]]) -> list[dict[str, Any]]:
    """The fields of :func:`_record` for every row of ``county``, formatted column by column
    (the same values: areas rounded by Python's ``round`` to the centimetre, 亩 from the same
    division)."""
    def text(column: str) -> list[str | None]:
        return [None if is_missing(v) else str(v) for v in county[column].tolist()]

    def rounded(values: np.ndarray) -> list[float | None]:
        return [None if v != v else round(v, 2) for v in values.tolist()]  # v != v: NaN

    m2 = {c: county[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in _AREA_COLUMNS}
    new_construction = PATCH_TYPE_BY_CODE[PATCH_TYPE_NEW_CONSTRUCTION].label_zh
    n = len(county)
    status = [STATUS_LABELS_ZH.get(str(v), str(v)) for v in county["status"].tolist()]
    area = rounded(m2["area_m2"])
    columns = {
        "JCBH": text("patch_id"), "YSBH": text("source_id"), "XZQDM": text("county_code"),
        "XZQMC": text("county_name"), "TBLX": [new_construction] * n, "THJG": status,
        "TBMJ": area, "JCMJ": area, "TBMJM": rounded(m2_to_mu(m2["area_m2"])),
        "GDMJ": rounded(m2["farmland_m2"]), "GDMJM": rounded(m2_to_mu(m2["farmland_m2"])),
        "JBNTMJ": rounded(m2["basic_farmland_m2"]), "PZMJ": rounded(m2["approved_m2"]),
        "WFGDMJ": rounded(m2["illegal_farmland_m2"]), "WFGDMJM": rounded(m2_to_mu(m2["illegal_farmland_m2"])),
        "WFJBNTMJ": rounded(m2["illegal_basic_farmland_m2"]),
        "WFJBNTMJM": rounded(m2_to_mu(m2["illegal_basic_farmland_m2"])),
        "QSX": text("before_date"), "HSX": text("after_date"),
        "DZB": [c[0] for c in centres], "BZB": [c[1] for c in centres], "JD": [c[2] for c in centres],
        "WD": [c[3] for c in centres],
        "PDLX": [""] * n, "WFMJ": [None] * n, "ZGZT": [""] * n, "HCSM": [""] * n, "HCR": [""] * n,
        "HCRQ": [""] * n, "ZP": [""] * n,
    }
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*columns.values())]


def _shapefile_via_gdal(records: list[tuple[dict[str, Any], Any]], code: str, crs: pyproj.CRS, encoding: str,
                        folder: Path) -> dict[str, bytes]:
    """The Shapefile's members written by GDAL (fiona) in a temporary folder beside the zip."""
    with tempfile.TemporaryDirectory(prefix=f".{code}.", dir=folder) as work:
        shp = Path(work) / f"{code}.shp"
        _write_shapefile(records, shp, crs, encoding)
        members = {}
        for suffix in _SHAPEFILE_SUFFIXES:
            member = shp.with_suffix(suffix)
            if not member.is_file():
                raise RuntimeError(f"the Shapefile writer made no {member.name}")
            members[suffix] = member.read_bytes()
        return members


def _write_zip(county: gpd.GeoDataFrame, geoms_source: gpd.GeoSeries, code: str, name: str,
               crs: pyproj.CRS, target: Path, encoding: str, chip_source: ChipSource | None,
               chips_note: tuple[str, str] | None,
               records: list[tuple[dict[str, Any], Any]] | None = None) -> None:
    if records is None:
        records = _records(county, crs)
        for props, _ in records:
            _check_text(props, encoding, code)
    year = county["year"].dropna().iloc[0] if county["year"].notna().any() else ""
    members = _shapefile_members(records, crs, encoding)
    if members is None:
        members = _shapefile_via_gdal(records, code, crs, encoding, target.parent)
    with atomic_output(target) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        for suffix in _SHAPEFILE_SUFFIXES:
            zf.writestr(_zinfo(f"{code}{suffix}"), members[suffix])
        pdf = io.BytesIO()
        n_without = 0
        used: set[str] = set()
        with CountySheet(pdf, county_code=code, county_name=name, year=year, crs_label=_crs_label(crs),
                         n_patches=len(records), no_chips_note=chips_note) as sheet:
            for (props, _), source_geom in zip(records, geoms_source):
                stretched, missing = None, None
                if chip_source is not None:
                    pair = chip_source(source_geom, geoms_source.crs)
                    if pair is None:
                        n_without += 1
                        missing = "影像范围外" if sheet.L.zh else "outside the imagery"
                    else:
                        stretched = stretch_pair(pair)
                        before_name, after_name = _unique_chip_names(props["JCBH"], used)
                        png_before, png_after = chip_pngs(stretched)
                        zf.writestr(_zinfo(before_name, compressed=True), png_before)
                        zf.writestr(_zinfo(after_name, compressed=True), png_after)
                sheet.add(props, stretched, missing)
        zf.writestr(_zinfo(sheet_name(code), compressed=True), pdf.getvalue())
        readme = readme_text(code, name, len(records), encoding=encoding, crs=crs, chips_note=chips_note,
                             n_without_chips=n_without)
        zf.writestr(_zinfo("README.txt"), readme.encode("utf-8-sig"))


def _unique_chip_names(jcbh: str, used: set[str]) -> tuple[str, str]:
    """:func:`reports.chips.chip_names`, with ``_2``, ``_3`` ... when two JCBHs map to one file name."""
    before, after = chip_names(jcbh)
    n = 1
    while before in used:
        n += 1
        before, after = chip_names(f"{jcbh}_{n}")
    used.add(before)
    return before, after


def write_field_packages(
    pieces: gpd.GeoDataFrame,
    out_dir: str | os.PathLike[str],
    county_crs: Mapping[str, Any] | None = None,
    *,
    encoding: str = DEFAULT_ENCODING,
    chip_source: ChipSource | None = None,
    no_chips_reason: tuple[str, str] | None = None,
) -> dict[str, Path]:
    """Write one zipped package per county that has pieces (see the module docstring).

    Parameters
    ----------
    pieces : geopandas.GeoDataFrame
        One row per patch piece (:data:`overlay.contracts.RUN_PIECE_COLUMNS`), in one CRS.
    out_dir : str or os.PathLike
        The run's output folder; zips go to ``out_dir/field_verification/``.
    county_crs : mapping of str to CRS-like, optional
        CRS to write each county's Shapefile in (anything ``pyproj.CRS``
        accepts), by county code. Counties not in it, or all counties when it is
        None, keep the pieces' CRS.
    encoding : str
        ``utf-8`` (default) or ``gbk``: the attribute encoding (:data:`ENCODINGS`).
        A text value that GBK cannot write stops before any package is written
        (:class:`PackageEncodingError`, one line naming the patch and the character).
    chip_source : callable, optional
        ``chip_source(geometry, crs) -> ChipPair | None`` (:data:`reports.chips.ChipSource`),
        called with each piece's geometry in the pieces' CRS. None: no chips (the
        README and the sheet say why: ``no_chips_reason``).
    no_chips_reason : (str, str), optional
        Why there are no chips (Chinese, English); default :data:`NO_IMAGERY`.
        Used only without ``chip_source``.

    Returns
    -------
    dict of str to pathlib.Path
        Zip file by county code, in code order.
    """
    require_columns(pieces, RUN_PIECE_COLUMNS, "pieces")
    if pieces.crs is None:
        raise ValueError("pieces has no CRS")
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    folder = Path(out_dir) / FIELD_DIR
    folder.mkdir(parents=True, exist_ok=True)
    geoms = np.asarray(pieces.geometry.values)
    kinds = shapely.get_type_id(geoms)  # -1: missing; 3: Polygon, 6: MultiPolygon
    bad = (kinds >= 0) & (kinds != 3) & (kinds != 6) & ~shapely.is_empty(geoms)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"piece {pieces['patch_id'].iloc[i]} has a {geoms[i].geom_type} geometry: "
                         "a Shapefile takes polygons only")
    chips_note = None if chip_source is not None else (no_chips_reason or NO_IMAGERY)
    codes = pieces["county_code"].astype(str)
    source_crs = pyproj.CRS.from_user_input(pieces.crs)
    plan = []
    unique_codes = sorted(codes.unique())
    for code in unique_codes:
        county = pieces if len(unique_codes) == 1 else pieces[codes == code]  # a county job: one county
        if not county["patch_id"].is_monotonic_increasing:  # a county job's pieces come sorted
            county = county.sort_values("patch_id", kind="stable")
        target_crs = pyproj.CRS.from_user_input(
            county_crs[code] if county_crs is not None and code in county_crs else pieces.crs
        )
        source_geoms = county.geometry
        if not target_crs.equals(source_crs):
            county = county.to_crs(target_crs)
        names = county["county_name"].dropna().astype(str)
        name = names.iloc[0] if len(names) else ""
        plan.append((code, name, county, source_geoms, target_crs, _records(county, target_crs)))
    # every text value is checked before the first package is written
    for code, _, _, _, _, records in plan:
        for props, _ in records:
            _check_text(props, encoding, code)
    written: dict[str, Path] = {}
    for code, name, county, source_geoms, target_crs, records in plan:
        target = folder / f"{code}.zip"
        _write_zip(county, source_geoms, code, name, target_crs, target, encoding, chip_source, chips_note,
                   records)
        written[code] = target
    log.info("wrote %d field verification package(s) to %s", len(written), folder)
    return written
