"""patches.gpkg."""
from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from overlay.contracts import LEVELS, VERDICTS
from reports.geopackage import COUNTY_LAYER, PATCHES_LAYER, PATCHES_STYLE, write_patches_gpkg
from reports.qgis_style import COUNTY_FILL_STYLE, COUNTY_OUTLINE_STYLE, PATCH_LABEL_MAX_SCALE, patch_rules


def test_gpkg_layers_crs_and_values(
    tmp_path: Path, pieces: gpd.GeoDataFrame, ratios: pd.DataFrame, county_polygons: gpd.GeoDataFrame
) -> None:
    path = write_patches_gpkg(pieces, ratios, county_polygons, tmp_path / "patches.gpkg")
    assert [p.name for p in tmp_path.iterdir()] == ["patches.gpkg"]
    assert {name for name, _ in pyogrio.list_layers(path)} == {PATCHES_LAYER, COUNTY_LAYER, "layer_styles"}

    patches = gpd.read_file(path, layer=PATCHES_LAYER)
    assert patches.crs.to_epsg() == 4551
    assert set(pieces.columns) <= set(patches.columns)
    assert {"area_mu", "illegal_mu"} <= set(patches.columns)
    assert len(patches) == len(pieces)
    row = patches.set_index("patch_id").loc["220104-2025-00001"]
    assert row["county_name"] == "朝阳区"
    assert row["area_mu"] == pytest.approx(1.0)
    assert row["illegal_mu"] == pytest.approx(1.0)
    assert row["status_zh"] == "未批占用耕地"
    assert patches.geometry.area.sum() == pytest.approx(pieces.geometry.area.sum())

    counties = gpd.read_file(path, layer=COUNTY_LAYER)
    assert counties.crs.to_epsg() == 4551  # reprojected from EPSG:4490
    assert counties.total_bounds[0] > 1000  # metres, not degrees
    by_code = counties.set_index("county_code")
    assert by_code.loc["220102", "ratio"] == pytest.approx(0.2)
    assert by_code.loc["220102", "level"] == "accountability"
    assert by_code.loc["220102", "rank"] == 1
    assert by_code.loc["220102", "illegal_farmland_mu"] == pytest.approx(3.0)
    assert pd.isna(by_code.loc["220282", "ratio"]) and pd.isna(by_code.loc["220282", "rank"])
    assert by_code.loc["220282", "level_zh"] == "无新增占用耕地"


def test_gpkg_warns_about_county_without_polygon(
    tmp_path: Path,
    pieces: gpd.GeoDataFrame,
    ratios: pd.DataFrame,
    county_polygons: gpd.GeoDataFrame,
    caplog: pytest.LogCaptureFixture,
) -> None:
    polys = county_polygons[county_polygons["county_code"] != "220282"]
    path = write_patches_gpkg(pieces, ratios, polys, tmp_path / "p.gpkg")
    assert len(gpd.read_file(path, layer=COUNTY_LAYER)) == 4
    assert "220282" in caplog.text


def test_gpkg_rejects_pieces_without_crs(
    tmp_path: Path, pieces: gpd.GeoDataFrame, ratios: pd.DataFrame, county_polygons: gpd.GeoDataFrame
) -> None:
    with pytest.raises(ValueError, match="CRS"):
        write_patches_gpkg(pieces.set_crs(None, allow_override=True), ratios, county_polygons, tmp_path / "p.gpkg")
    assert not any(tmp_path.iterdir())


def test_gpkg_with_no_pieces(
    tmp_path: Path, pieces: gpd.GeoDataFrame, ratios: pd.DataFrame, county_polygons: gpd.GeoDataFrame
) -> None:
    path = write_patches_gpkg(pieces.iloc[0:0], ratios, county_polygons, tmp_path / "p.gpkg")
    empty = gpd.read_file(path, layer=PATCHES_LAYER)
    assert len(empty) == 0 and "area_mu" in empty.columns
    assert len(gpd.read_file(path, layer=COUNTY_LAYER)) == 5


def _styles(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT f_table_name, f_geometry_column, styleName, styleQML, styleSLD, useAsDefault "
                          "FROM layer_styles ORDER BY id").fetchall()
    db.close()
    return rows


def test_gpkg_is_version_1_2_with_default_styles_for_qgis(
    tmp_path: Path, pieces: gpd.GeoDataFrame, ratios: pd.DataFrame, county_polygons: gpd.GeoDataFrame
) -> None:
    path = write_patches_gpkg(pieces, ratios, county_polygons, tmp_path / "patches.gpkg")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10200
        assert db.execute("SELECT data_type FROM gpkg_contents WHERE table_name='layer_styles'").fetchone() == (
            "attributes",)
    db.close()
    rows = _styles(path)
    assert [(r[0], r[1], r[2], r[5]) for r in rows] == [
        (PATCHES_LAYER, "geom", PATCHES_STYLE, 1), (COUNTY_LAYER, "geom", COUNTY_OUTLINE_STYLE, 1),
        (COUNTY_LAYER, "geom", COUNTY_FILL_STYLE, 0)]
    qml = ET.fromstring(rows[0][3])
    rules = qml.findall("renderer-v2/rules/rule")
    assert qml.find("renderer-v2").get("type") == "RuleRenderer"
    assert [r.get("label") for r in rules] == [r.label for r in patch_rules(pieces.columns)]
    assert [r.get("label") for r in rules][0] == "未核查（套合）：未批占用耕地"  # no verdict column here
    assert qml.find("labeling/settings/text-style").get("fieldName") == "patch_id"
    assert qml.find("labeling/settings/rendering").get("scaleMax") == str(PATCH_LABEL_MAX_SCALE)
    aliases = {a.get("field"): a.get("name") for a in qml.findall("aliases/alias")}
    assert aliases["patch_id"] == "监测图斑编号" and aliases["area_mu"] == "图斑面积（亩）"
    assert set(aliases) == set(gpd.read_file(path, layer=PATCHES_LAYER).columns) - {"geometry"}
    assert all(aliases.values())
    sld = ET.fromstring(rows[0][4])  # well-formed SLD with one rule per class and the label rule
    se = "{http://www.opengis.net/se}"
    assert len(sld.findall(f".//{se}Rule")) == len(rules) + 1
    county = ET.fromstring(rows[1][3])
    assert county.find("renderer-v2").get("type") == "singleSymbol"
    assert county.find("renderer-v2/symbols/symbol/layer/prop[@k='style']").get("v") == "no"  # outline only
    assert "ratio_pct" in county.find("labeling/settings/text-style").get("fieldName")
    filled = ET.fromstring(rows[2][3])
    assert [c.get("value") for c in filled.findall("renderer-v2/categories/category")] == list(LEVELS)


def test_patch_styles_class_verdicts_first_when_present(pieces: gpd.GeoDataFrame) -> None:
    rules = patch_rules([*pieces.columns, "verdict"])
    assert [r.label for r in rules[:6]] == [f"已核查：{v.label_zh}" for v in VERDICTS]
    assert rules[6].expression == "\"verdict\" IS NULL AND \"status\" = 'illegal'"
    assert rules[6].conditions == (("verdict", None), ("status", "illegal"))
