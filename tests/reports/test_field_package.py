"""Per-county field verification packages (zipped Shapefiles)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest

from overlay.contracts import FIELD_BY_NAME, VERDICTS_ZH
from reports.field_package import FIELD_SCHEMA, PACKAGE_FIELDS, write_field_packages

EXPECTED_FIELDS = [
    "JCBH", "YSBH", "XZQDM", "XZQMC", "TBMJ", "GDMJ", "JBNTMJ", "PZMJ", "WFGDMJ", "TBMJM",
    "QSX", "HSX", "TBLX", "PDLX", "HCSM",
]


def test_package_fields_come_from_the_contract() -> None:
    assert list(PACKAGE_FIELDS) == EXPECTED_FIELDS == list(FIELD_SCHEMA)
    assert all(FIELD_SCHEMA[name] == FIELD_BY_NAME[name].dbf_type for name in PACKAGE_FIELDS)


def _read(zip_path: Path, code: str) -> gpd.GeoDataFrame:
    return gpd.read_file(f"zip://{zip_path}!{code}.shp")


def test_one_zip_per_county_with_shapefile_and_readme(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    written = write_field_packages(pieces, tmp_path)
    codes = sorted(pieces["county_code"].unique())
    assert list(written) == codes
    folder = tmp_path / "field_verification"
    assert sorted(p.name for p in folder.iterdir()) == [f"{c}.zip" for c in codes]  # no temp files left
    with zipfile.ZipFile(written["220104"]) as zf:
        names = set(zf.namelist())
        assert names == {f"220104{s}" for s in (".shp", ".shx", ".dbf", ".prj", ".cpg")} | {"README.txt"}
        assert zf.read("220104.cpg").decode("ascii").strip() == "UTF-8"
        readme = zf.read("README.txt").decode("utf-8-sig")
    for word in (*VERDICTS_ZH, "PDLX", "HCSM", "must be one of", "UTF-8", "朝阳区",
                 FIELD_BY_NAME["JCBH"].meaning_zh):
        assert word in readme


def test_fields_values_encoding_and_crs_round_trip(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    written = write_field_packages(pieces, tmp_path)
    shp = f"zip://{written['220104']}!220104.shp"
    info = pyogrio.read_info(shp)
    assert list(info["fields"]) == EXPECTED_FIELDS
    assert all(len(f) <= 10 for f in info["fields"])
    assert info["encoding"] == "UTF-8"
    gdf = _read(written["220104"], "220104")
    assert gdf.crs.to_epsg() == 4551
    assert list(gdf["JCBH"]) == ["220104-2025-00001", "220104-2025-00002"]
    first = gdf.iloc[0]
    assert first["XZQDM"] == "220104"
    assert first["XZQMC"] == "朝阳区"
    assert first["TBLX"] == "未批占用耕地"
    assert first["TBMJ"] == pytest.approx(666.67, abs=1e-9)  # 2 decimals
    assert first["WFGDMJ"] == pytest.approx(666.67, abs=1e-9)
    assert first["TBMJM"] == pytest.approx(1.0, abs=1e-9)
    assert first["QSX"] == "2024-10-02" and first["HSX"] == "2025-09-28"
    assert not first["PDLX"] and not first["HCSM"]
    assert gdf.geometry.area.iloc[0] == pytest.approx(2000 / 3, rel=1e-6)


def test_dbf_field_widths_leave_room_for_verdicts(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    written = write_field_packages(pieces, tmp_path)
    with zipfile.ZipFile(written["220102"]) as zf:
        dbf = zf.read("220102.dbf")
    n_fields = (int.from_bytes(dbf[8:10], "little") - 33) // 32
    widths = {}
    for i in range(n_fields):
        desc = dbf[32 + 32 * i : 64 + 32 * i]
        widths[desc[:11].rstrip(b"\0").decode("ascii")] = (chr(desc[11]), desc[16], desc[17])
    assert widths["PDLX"][1] >= len("设施农用地".encode()) and widths["HCSM"][1] == 254
    assert widths["TBMJ"] == ("N", 16, 2)
    assert set(widths) == set(FIELD_SCHEMA)


def test_multipolygon_and_missing_dates_and_county_crs(tmp_path: Path, pieces: gpd.GeoDataFrame) -> None:
    written = write_field_packages(pieces, tmp_path, county_crs={"220221": "EPSG:4552"})
    nanguan = _read(written["220102"], "220102")
    assert nanguan.crs.to_epsg() == 4551
    assert nanguan.geometry.iloc[0].geom_type == "MultiPolygon"
    assert nanguan.geometry.area.iloc[0] == pytest.approx(pieces.geometry.area.iloc[0])
    yongji = _read(written["220221"], "220221")
    assert yongji.crs.to_epsg() == 4552
    assert yongji["YSBH"].iloc[0] == "R-17"
    assert yongji["QSX"].isna().iloc[0] and yongji["TBLX"].iloc[0] == "部分已批占用耕地"
    back = yongji.to_crs(4551)
    original = pieces.set_index("patch_id").geometry.loc["220221-2025-00001"]
    assert back.geometry.iloc[0].symmetric_difference(original).area < 1.0


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
    written = write_field_packages(shared, tmp_path)
    for code in ("220221", "220203"):
        assert list(_read(written[code], code)["JCBH"]) == [official]
