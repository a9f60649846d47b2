"""Per-county field verification packages: official fields, encodings, chips, sheet, reproducibility."""
from __future__ import annotations

import collections
import io
import math
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from PIL import Image

from overlay.contracts import (FIELD_BY_NAME, PACKAGE_ENCODINGS, PATCH_TYPES, PHOTO_SEPARATOR, RECTIFICATIONS_ZH,
                               SHAPEFILE_FIELDS, STATUS_LABELS_ZH, VERDICTS_ZH)
from overlay.contracts import PATCH_TYPE_BY_CODE, PATCH_TYPE_NEW_CONSTRUCTION
from reports._common import is_missing
from reports.chips import ChipPair
from reports.units import m2_to_mu
from reports.field_package import (FIELD_SCHEMA, PACKAGE_FIELDS, PackageEncodingError, sheet_name,
                                   write_field_packages)
from tests.reports.pdfparse import n_images, page_count, text_runs

OFFICIAL = ("JCBH", "XZQDM", "XZQMC", "TBMJ", "JCMJ", "QSX", "HSX", "TBLX", "PDLX", "WFMJ")
FIELD_TEAM = ("PDLX", "WFMJ", "ZGZT", "HCSM", "HCR", "HCRQ", "ZP")
SHAPEFILE = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def _read(zip_path: Path, code: str, **kw) -> gpd.GeoDataFrame:
    return gpd.read_file(f"zip://{zip_path}!{code}.shp", **kw)


def _dbf_fields(dbf: bytes) -> dict[str, tuple[str, int, int]]:
    n_fields = (int.from_bytes(dbf[8:10], "little") - 33) // 32
    fields = {}
    for i in range(n_fields):
        desc = dbf[32 + 32 * i: 64 + 32 * i]
        fields[desc[:11].rstrip(b"\0").decode("ascii")] = (chr(desc[11]), desc[16], desc[17])
    return fields


def _fake_chips(geometry, crs):
    """A chip source: before random, after = before + 30; a square outline."""
    rng = np.random.default_rng(int(geometry.area) % 1000)
    before = rng.uniform(100, 200, (3, 40, 50))
    ring = np.array([[10, 10], [40, 10], [40, 30], [10, 30], [10, 10]], float)
    return ChipPair(before, before + 30, (ring,), 2.0)


# --------------------------------------------------------------------------- fields


def test_package_fields_are_every_contract_field_official_names_included() -> None:
    assert sorted(PACKAGE_FIELDS) == sorted(f.name for f in SHAPEFILE_FIELDS)
    assert len(set(PACKAGE_FIELDS)) == len(PACKAGE_FIELDS)
    assert all(FIELD_SCHEMA[name] == FIELD_BY_NAME[name].dbf_type for name in PACKAGE_FIELDS)
    assert all(len(n) <= 10 and n.isascii() and n.isupper() for n in PACKAGE_FIELDS)
    assert set(OFFICIAL) <= set(PACKAGE_FIELDS) and all(FIELD_BY_NAME[n].official for n in OFFICIAL)
    assert {n for n in PACKAGE_FIELDS if FIELD_BY_NAME[n].filled_by_field_team} == set(FIELD_TEAM)
    assert "WFGDMJ" in PACKAGE_FIELDS and "WFJBNTMJ" in PACKAGE_FIELDS  # suspected illegal areas
    assert len({FIELD_BY_NAME[n].alias_zh for n in PACKAGE_FIELDS}) == len(PACKAGE_FIELDS)  # aliases unique


def test_dbf_field_types_and_widths_follow_the_contract(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    written = write_field_packages(pieces, tmp_path)
    with zipfile.ZipFile(written["220102"]) as zf:
        fields = _dbf_fields(zf.read("220102.dbf"))
    assert list(fields) == list(PACKAGE_FIELDS)
    for name, (kind, width, decimals) in fields.items():
        dbf_type, size = FIELD_BY_NAME[name].dbf_type.split(":")
        if dbf_type == "str":
            assert (kind, width, decimals) == ("C", int(size), 0), name
        else:
            w, d = size.split(".")
            assert (kind, width, decimals) == ("N", int(w), int(d)), name
    assert fields["PDLX"][1] >= len("设施农用地".encode()) and fields["HCSM"][1] == 254
    assert fields["ZP"][1] == 254 and fields["HCRQ"][1] == 10


def test_one_zip_per_county_with_shapefile_sheet_and_readme(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    written = write_field_packages(pieces, tmp_path)
    codes = sorted(pieces["county_code"].unique())
    assert list(written) == codes
    folder = tmp_path / "field_verification"
    assert sorted(p.name for p in folder.iterdir()) == [f"{c}.zip" for c in codes]  # no temp files left
    with zipfile.ZipFile(written["220104"]) as zf:
        names = set(zf.namelist())
        assert names == {f"220104{s}" for s in SHAPEFILE} | {"README.txt", sheet_name("220104")}
        assert zf.read("220104.cpg").decode("ascii").strip() == "UTF-8"
        readme = zf.read("README.txt").decode("utf-8-sig")
    for word in (*VERDICTS_ZH, *RECTIFICATIONS_ZH, *(t.label_zh for t in PATCH_TYPES), *STATUS_LABELS_ZH.values(),
                 "must be one of", "UTF-8", "朝阳区", "EPSG:4551", f"separated by {PHOTO_SEPARATOR}",
                 "本包无影像截图", "No image chips", sheet_name("220104")):
        assert word in readme, word
    for name in PACKAGE_FIELDS:  # every field with its Chinese alias
        assert f" {name} " in readme and FIELD_BY_NAME[name].alias_zh in readme


def test_fields_values_and_crs_round_trip(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    written = write_field_packages(pieces, tmp_path)
    info = pyogrio.read_info(f"zip://{written['220104']}!220104.shp")
    assert list(info["fields"]) == list(PACKAGE_FIELDS)
    gdf = _read(written["220104"], "220104")
    assert gdf.crs.to_epsg() == 4551
    assert list(gdf["JCBH"]) == ["220104-2025-00001", "220104-2025-00002"]
    first = gdf.iloc[0]
    assert first["XZQDM"] == "220104" and first["XZQMC"] == "朝阳区"
    assert first["TBLX"] == "新增建设用地"  # the patch type, not the overlay result
    assert first["THJG"] == "未批占用耕地"  # the overlay result
    assert first["TBMJ"] == first["JCMJ"] == pytest.approx(666.67, abs=1e-9)  # 2 decimals
    assert first["TBMJM"] == first["GDMJM"] == first["WFGDMJM"] == pytest.approx(1.0, abs=1e-9)
    assert first["WFGDMJ"] == pytest.approx(666.67, abs=1e-9)
    assert first["QSX"] == "2024-10-02" and first["HSX"] == "2025-09-28"
    for name in FIELD_TEAM:
        value = first[name]
        assert value is None or value == "" or (isinstance(value, float) and math.isnan(value)), name
    assert gdf.geometry.area.iloc[0] == pytest.approx(2000 / 3, rel=1e-6)
    nanguan = _read(written["220102"], "220102").iloc[0]
    assert nanguan["WFJBNTMJ"] == pytest.approx(1000.0) and nanguan["WFJBNTMJM"] == pytest.approx(1.5)


def test_centre_point_lies_in_the_patch_in_the_zone_and_in_lon_lat(tmp_path: Path,
                                                                   pieces: gpd.GeoDataFrame) -> None:
    written = write_field_packages(pieces, tmp_path)
    to_lonlat = pyproj.Transformer.from_crs(4551, 4490, always_xy=True)
    for code, path in written.items():
        for row in _read(path, code).itertuples():
            assert row.geometry.buffer(0.01).contains(shapely.Point(row.DZB, row.BZB))  # a point inside
            lon, lat = to_lonlat.transform(row.DZB, row.BZB)
            assert (row.JD, row.WD) == pytest.approx((lon, lat), abs=1e-6)
            assert 125 < row.JD < 127 and 43 < row.WD < 45


# --------------------------------------------------------------------------- encodings


def _all_text(gdf: gpd.GeoDataFrame) -> list:
    return gdf[[n for n in PACKAGE_FIELDS if FIELD_BY_NAME[n].dbf_type.startswith("str")]].fillna("").values.tolist()


@pytest.mark.parametrize("encoding", [e.name for e in PACKAGE_ENCODINGS])
def test_encodings_round_trip_with_and_without_the_cpg(tmp_path: Path, pieces: gpd.GeoDataFrame,
                                                       encoding: str) -> None:
    reference = _read(write_field_packages(pieces, tmp_path / "ref")["220221"], "220221")
    written = write_field_packages(pieces, tmp_path / encoding, encoding=encoding)
    path = written["220221"]
    spec = next(e for e in PACKAGE_ENCODINGS if e.name == encoding)
    with zipfile.ZipFile(path) as zf:
        assert zf.read("220221.cpg").decode("ascii") == spec.cpg
        dbf = zf.read("220221.dbf")
        assert dbf[29] == spec.ldid  # the language-driver byte (GBK: 0x4D, code page 936)
        assert "永吉县".encode(encoding) in dbf and "部分已批占用耕地".encode(encoding) in dbf
        readme = zf.read("README.txt").decode("utf-8-sig")
        assert f"attribute encoding: {spec.cpg}" in readme
        members = {n: zf.read(n) for n in zf.namelist()}
    honoured = _read(path, "220221")  # GDAL reads the .cpg
    forced = _read(path, "220221", encoding=encoding)  # the encoding given by hand
    assert _all_text(honoured) == _all_text(forced) == _all_text(reference)
    assert _all_text(honoured)[0][3] == "永吉县"
    # a .cpg lost on the way: GDAL falls back on the language-driver byte, which GBK has (0x4D);
    # UTF-8 has none, so GDAL reads ISO-8859-1 (mojibake) and only a forced encoding helps
    bare = tmp_path / f"bare-{encoding}"
    bare.mkdir()
    for name, data in members.items():
        if name.endswith((".shp", ".shx", ".dbf", ".prj")):
            (bare / name).write_bytes(data)
    without_cpg = _all_text(gpd.read_file(bare / "220221.shp"))
    assert (without_cpg == _all_text(reference)) is (encoding == "gbk")
    assert _all_text(gpd.read_file(bare / "220221.shp", encoding=encoding)) == _all_text(reference)


def test_gbk_refuses_a_name_it_cannot_write_before_writing_anything(tmp_path: Path,
                                                                    pieces: gpd.GeoDataFrame) -> None:
    odd = pieces.copy()
    odd.loc[odd["county_code"] == "220282", "county_name"] = "𠀀甸市"  # U+20000: GB18030 only
    with pytest.raises(PackageEncodingError) as err:
        write_field_packages(odd, tmp_path, encoding="gbk")
    message = str(err.value)
    assert "\n" not in message
    assert "220282" in message and "XZQMC" in message and "U+20000" in message and "GBK" in message
    assert list((tmp_path / "field_verification").iterdir()) == []  # no package written, not even 220102
    assert "220282" in write_field_packages(odd, tmp_path / "u", encoding="utf-8")  # UTF-8 holds it


def test_a_value_longer_than_its_field_is_refused(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    long = pieces.copy()
    long.loc[0, "patch_id"] = "X" * 33
    with pytest.raises(PackageEncodingError, match="JCBH .* needs 33 bytes in UTF-8, the field holds 32"):
        write_field_packages(long, tmp_path)


def test_unknown_encoding_is_refused(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match="utf-8, gbk"):
        write_field_packages(pieces, tmp_path, encoding="latin-1")


# --------------------------------------------------------------------------- evidence


def test_chips_for_every_patch_and_the_sheet_shows_them(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    written = write_field_packages(pieces, tmp_path, chip_source=_fake_chips)
    for code, path in written.items():
        jcbhs = list(pieces.loc[pieces["county_code"] == code, "patch_id"])
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            for jcbh in jcbhs:
                for date in ("before", "after"):
                    png = zf.read(f"chips/{jcbh}_{date}.png")
                    assert Image.open(io.BytesIO(png)).size[0] >= 300
            assert len([n for n in names if n.startswith("chips/")]) == 2 * len(jcbhs)
            pdf = zf.read(sheet_name(code))
            readme = zf.read("README.txt").decode("utf-8-sig")
        assert page_count(pdf) == -(-len(jcbhs) // 3) and n_images(pdf) == 2 * len(jcbhs)
        text = "".join(text_runs(pdf))
        assert all(j in text for j in jcbhs)
        assert "chips/<JCBH>_before.png" in readme and "本包无影像截图" not in readme


def test_patches_off_the_imagery_have_no_chips_and_the_readme_says_so(tmp_path: Path,
                                                                     pieces: gpd.GeoDataFrame) -> None:
    def half(geometry, crs):
        return None if geometry.area > 1000 else _fake_chips(geometry, crs)

    written = write_field_packages(pieces, tmp_path, chip_source=half)
    with zipfile.ZipFile(written["220104"]) as zf:  # 667 m² with chips, 3333 m² without
        chips = sorted(n for n in zf.namelist() if n.startswith("chips/"))
        readme = zf.read("README.txt").decode("utf-8-sig")
        pdf = zf.read(sheet_name("220104"))
    assert chips == ["chips/220104-2025-00001_after.png", "chips/220104-2025-00001_before.png"]
    with zipfile.ZipFile(written["220104"]) as zf:  # compressed formats stored, the rest deflated
        stored = sorted(i.filename for i in zf.infolist() if i.compress_type == zipfile.ZIP_STORED)
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist() if i.filename not in stored)
    assert stored == sorted(chips + [sheet_name("220104")])
    assert "1 patch(es) lie outside the imagery" in readme
    assert n_images(pdf) == 2 and "影像范围外" in "".join(text_runs(pdf))


def test_packages_are_byte_reproducible(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    a = write_field_packages(pieces, tmp_path / "a", encoding="gbk", chip_source=_fake_chips)
    b = write_field_packages(pieces, tmp_path / "b", encoding="gbk", chip_source=_fake_chips)
    for code in a:
        assert a[code].read_bytes() == b[code].read_bytes(), code
    with zipfile.ZipFile(a["220102"]) as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        dbf = zf.read("220102.dbf")
    assert tuple(dbf[1:4]) == (80, 1, 1)  # the .dbf "last update": 1980-01-01, not today


# --------------------------------------------------------------------------- pieces


def test_multipolygon_and_missing_dates_and_county_crs(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    written = write_field_packages(pieces, tmp_path, county_crs={"220221": "EPSG:4552"})
    nanguan = _read(written["220102"], "220102")
    assert nanguan.crs.to_epsg() == 4551
    assert nanguan.geometry.iloc[0].geom_type == "MultiPolygon"
    assert nanguan.geometry.area.iloc[0] == pytest.approx(pieces.geometry.area.iloc[0])
    yongji = _read(written["220221"], "220221")
    assert yongji.crs.to_epsg() == 4552
    assert yongji["YSBH"].iloc[0] == "R-17"
    assert yongji["QSX"].isna().iloc[0] and yongji["THJG"].iloc[0] == "部分已批占用耕地"
    assert yongji.geometry.iloc[0].buffer(0.01).contains(shapely.Point(yongji["DZB"].iloc[0], yongji["BZB"].iloc[0]))
    back = yongji.to_crs(4551)
    original = pieces.set_index("patch_id").geometry.loc["220221-2025-00001"]
    assert back.geometry.iloc[0].symmetric_difference(original).area < 1.0


def test_chips_get_the_pieces_in_their_own_crs(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    seen = []

    def spy(geometry, crs):
        seen.append((round(geometry.area), pyproj.CRS.from_user_input(crs).to_epsg()))
        return None

    write_field_packages(pieces, tmp_path, county_crs={"220221": "EPSG:4552"}, chip_source=spy)
    assert (30000, 4551) in seen  # not reprojected to 4552 first


def test_no_pieces_no_packages(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    assert write_field_packages(pieces.iloc[0:0], tmp_path) == {}
    assert list((tmp_path / "field_verification").iterdir()) == []


def test_rejects_non_polygon_pieces(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    bad = pieces.copy()
    bad.loc[0, "geometry"] = bad.geometry.iloc[0].boundary
    with pytest.raises(ValueError, match="220102-2025-00001"):
        write_field_packages(bad, tmp_path)
    assert sorted(p.name for p in (tmp_path / "field_verification").iterdir()) == []


def test_received_patch_straddling_counties_keeps_its_jcbh_in_both_packages(
    tmp_path: Path, pieces: gpd.GeoDataFrame
) -> None:
    """The pieces of a received patch in two counties share its official JCBH: one per package."""
    shared = pieces.copy()
    official = "2202212025000017"
    both = shared["county_code"].isin(["220221", "220203"])
    shared.loc[both, "patch_id"] = official
    written = write_field_packages(shared, tmp_path, chip_source=_fake_chips)
    for code in ("220221", "220203"):
        assert list(_read(written[code], code)["JCBH"]) == [official]
        assert f"chips/{official}_before.png" in zipfile.ZipFile(written[code]).namelist()


# --------------------------------------------------------------------------- the in-memory Shapefile


def _tricky_pieces(pieces: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rings in every orientation, holes, an island in a hole, a missing and an empty geometry."""
    x, y = 450000.0, 4860000.0
    shell_ccw = [(x, y), (x + 100, y), (x + 100, y + 100), (x, y + 100), (x, y)]
    hole_cw = [(x + 10, y + 10), (x + 10, y + 90), (x + 90, y + 90), (x + 90, y + 10), (x + 10, y + 10)]
    hole_ccw = hole_cw[::-1]
    island = shapely.box(x + 30, y + 30, x + 60, y + 60)
    geoms = [
        shapely.Polygon(shell_ccw, [hole_ccw]),  # shell counter-clockwise, hole the same way
        shapely.Polygon(shell_ccw[::-1], [hole_cw]),  # shell clockwise, hole clockwise
        shapely.MultiPolygon([shapely.Polygon(shell_ccw, [hole_cw]), island]),  # an island in the hole
        None,
        shapely.Polygon(),
        shapely.MultiPolygon([shapely.box(x + 200.123456789, y, x + 250.987654321, y + 33.3333333333),
                              shapely.box(x - 300, y - 300, x - 299.5, y - 200).reverse()]),
    ]
    frame = pd.concat([pieces.iloc[[0]]] * len(geoms), ignore_index=True)
    frame["patch_id"] = [f"220102-2025-{i:05d}" for i in range(1, len(geoms) + 1)]
    frame["area_m2"] = [12345678.905, 0.004, -0.001, float("nan"), 1e10, 5.0]
    return gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=geoms, crs=pieces.crs)


@pytest.mark.parametrize("encoding", [e.name for e in PACKAGE_ENCODINGS])
def test_the_in_memory_shapefile_is_byte_for_byte_what_gdal_writes(tmp_path: Path, pieces: gpd.GeoDataFrame,
                                                                   encoding: str) -> None:
    from reports.field_package import _records, _shapefile_members, _shapefile_via_gdal

    cases = {"tricky": _tricky_pieces(pieces), "fixture": pieces[pieces["county_code"] == "220102"]}
    for label, frame in cases.items():
        crs = pyproj.CRS.from_user_input(frame.crs)
        records = _records(frame, crs)
        mine = _shapefile_members(records, crs, encoding)
        assert mine is not None, label  # no fallback for ordinary pieces
        gdal = _shapefile_via_gdal(records, "220102", crs, encoding, tmp_path)
        assert list(mine) == list(gdal) == [".shp", ".shx", ".dbf", ".prj", ".cpg"]
        for suffix in mine:
            assert mine[suffix] == gdal[suffix], (label, suffix)
    assert list(tmp_path.iterdir()) == []  # GDAL's temporary folder is gone


def test_values_the_in_memory_writer_leaves_to_gdal_are_still_written(tmp_path: Path,
                                                                       pieces: gpd.GeoDataFrame) -> None:
    from reports.field_package import _records, _shapefile_members

    odd = pieces.copy()
    odd["county_name"] = odd["county_name"].astype(object)
    odd.loc[odd["county_code"] == "220104", "county_name"] = "朝阳区·东"  # U+00B7: iconv and Python may differ
    odd.loc[odd["county_code"] == "220221", "area_m2"] = 1e20  # wider than the field's 16 characters
    for code, encoding in (("220104", "gbk"), ("220221", "utf-8")):
        county = odd[odd["county_code"] == code]
        assert _shapefile_members(_records(county, pyproj.CRS.from_user_input(odd.crs)), odd.crs, encoding) is None
    written = write_field_packages(odd, tmp_path, encoding="gbk")
    assert _read(written["220104"], "220104")["XZQMC"].iloc[0] == "朝阳区·东"
    assert sorted(p.name for p in (tmp_path / "field_verification").iterdir()) == sorted(
        f"{c}.zip" for c in odd["county_code"].unique())  # no temporary folder left behind


def test_ordinary_packages_need_no_temporary_folder(tmp_path: Path, pieces: gpd.GeoDataFrame,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import reports.field_package as fp

    def refuse(*args, **kwargs):
        raise AssertionError("GDAL was asked to write an ordinary Shapefile")

    monkeypatch.setattr(fp, "_shapefile_via_gdal", refuse)
    written = write_field_packages(pieces, tmp_path, encoding="gbk", chip_source=_fake_chips)
    assert list(_read(written["220221"], "220221")["XZQMC"]) == ["永吉县"]


# --------------------------------------------------------------------------- records, row by row
# The records as they were formatted one row at a time (before 2026-11-23): the column-by-column
# formatting of reports.field_package._record_fields must give the same values.
def _ref_text(value: Any) -> str | None:
    return None if is_missing(value) else str(value)


def _ref_area(value: Any) -> float | None:
    return None if is_missing(value) else round(float(value), 2)


def _ref_mu(value: Any) -> float | None:
    return None if is_missing(value) else round(float(m2_to_mu(float(value))), 2)


def _ref_record(row: Any, dzb: float | None, bzb: float | None, jd: float | None, wd: float | None) -> dict[str, Any]:
    """The Shapefile record of one piece, its centre point (a point inside the patch, in the package's
    CRS and in longitude / latitude) given."""
    return {
        "JCBH": _ref_text(row.patch_id),
        "YSBH": _ref_text(row.source_id),
        "XZQDM": _ref_text(row.county_code),
        "XZQMC": _ref_text(row.county_name),
        "TBLX": PATCH_TYPE_BY_CODE[PATCH_TYPE_NEW_CONSTRUCTION].label_zh,
        "THJG": STATUS_LABELS_ZH.get(str(row.status), str(row.status)),
        "TBMJ": _ref_area(row.area_m2),
        "JCMJ": _ref_area(row.area_m2),
        "TBMJM": _ref_mu(row.area_m2),
        "GDMJ": _ref_area(row.farmland_m2),
        "GDMJM": _ref_mu(row.farmland_m2),
        "JBNTMJ": _ref_area(row.basic_farmland_m2),
        "PZMJ": _ref_area(row.approved_m2),
        "WFGDMJ": _ref_area(row.illegal_farmland_m2),
        "WFGDMJM": _ref_mu(row.illegal_farmland_m2),
        "WFJBNTMJ": _ref_area(row.illegal_basic_farmland_m2),
        "WFJBNTMJM": _ref_mu(row.illegal_basic_farmland_m2),
        "QSX": _ref_text(row.before_date),
        "HSX": _ref_text(row.after_date),
        "DZB": dzb,
        "BZB": bzb,
        "JD": jd,
        "WD": wd,
        "PDLX": "",
        "WFMJ": None,
        "ZGZT": "",
        "HCSM": "",
        "HCR": "",
        "HCRQ": "",
        "ZP": "",
    }


_REF_COLUMNS = ("patch_id", "source_id", "county_code", "county_name", "status", "area_m2", "farmland_m2",
                   "basic_farmland_m2", "approved_m2", "illegal_farmland_m2", "illegal_basic_farmland_m2",
                   "before_date", "after_date")
_RefRow = collections.namedtuple("_RefRow", _REF_COLUMNS)


def test_records_formatted_column_by_column_equal_the_row_by_row_ones() -> None:
    from reports.field_package import _record_fields

    rng = np.random.default_rng(5)
    n = 400
    areas = {c: rng.choice([0.0, -0.0, 0.005, 0.015, 2.675, 1234.565, 1e9 + 0.125, math.nan], n)
             + rng.choice([0.0, 0.0, 1e-3, 123.456789], n) for c in
             ("area_m2", "farmland_m2", "basic_farmland_m2", "approved_m2", "illegal_farmland_m2",
              "illegal_basic_farmland_m2")}
    county = pd.DataFrame({
        "patch_id": [f"44010620250{i:05d}" for i in range(n)],
        "source_id": rng.choice(["D1", None, "测试", "x"], n).tolist(),
        "county_code": "440106", "county_name": rng.choice(["天河区", None], n).tolist(),
        "status": rng.choice(["illegal", "legal", "partly_legal", "non_farmland", "unknown"], n),
        **areas,
        "before_date": rng.choice(["2024-10-15", None], n).tolist(), "after_date": "2025-10-12",
    })
    county.loc[3, "farmland_m2"] = -0.0
    centres = [(round(float(x), 2), round(float(x) + 1, 2), 113.1234567, 23.1) if x > 0.5 else (None,) * 4
               for x in rng.uniform(0, 1, n)]
    expected = [_ref_record(_RefRow(*(county[c].iloc[i] for c in _REF_COLUMNS)), *centres[i]) for i in range(n)]
    got = _record_fields(county, centres)
    assert [list(r) for r in got] == [list(r) for r in expected]  # the same fields in the same order
    for a, b in zip(got, expected):
        for name in a:
            x, y = a[name], b[name]
            assert type(x) is type(y) and (x == y or (x != x and y != y)), name
            if isinstance(x, float):
                assert math.copysign(1, x) == math.copysign(1, y), name  # -0.0 stays -0.0
