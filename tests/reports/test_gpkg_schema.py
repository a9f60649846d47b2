"""Value lists (GeoPackage enum constraints, read by GDAL as coded field domains) in patches.gpkg."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd

from overlay.contracts import LEVEL_LABELS_ZH, STATUS_LABELS_ZH, VERDICTS
from reports.geopackage import write_patches_gpkg
from reports.gpkg_schema import (GPKG_USER_VERSION, EnumDomain, StyleRow, add_enum_domains, add_layer_styles,
                                 set_gpkg_version)


def _domains(path: Path) -> tuple[dict, dict]:
    with sqlite3.connect(path) as db:
        columns = {(t, c): (title, name) for t, c, title, name in
                   db.execute("SELECT table_name, column_name, title, constraint_name FROM gpkg_data_columns")}
        values: dict[str, dict[str, str]] = {}
        for name, kind, value, label in db.execute(
                "SELECT constraint_name, constraint_type, value, description FROM gpkg_data_column_constraints"):
            assert kind == "enum"
            values.setdefault(name, {})[value] = label
        ext = {r[0] for r in db.execute("SELECT table_name FROM gpkg_extensions WHERE extension_name='gpkg_schema'")}
    db.close()
    assert ext == {"gpkg_data_columns", "gpkg_data_column_constraints"}
    return columns, values


def test_status_origin_and_level_carry_their_chinese_value_lists(tmp_path, pieces, ratios, county_polygons):
    path = write_patches_gpkg(pieces, ratios, county_polygons, tmp_path / "p.gpkg")
    columns, values = _domains(path)
    assert columns[("patches", "status")] == ("套合结果", "landcheck_status")
    assert values["landcheck_status"] == STATUS_LABELS_ZH
    assert values["landcheck_origin"] == {"detected": "自行提取", "received": "下发图斑"}
    assert columns[("county_ratios", "level")][1] == "landcheck_level"
    assert values["landcheck_level"] == LEVEL_LABELS_ZH
    assert ("patches", "verdict") not in columns and "landcheck_pdlx" not in values  # no such column
    back = gpd.read_file(path, layer="patches")  # GDAL still reads the file, codes unchanged
    assert set(back["status"]) <= set(STATUS_LABELS_ZH)


def test_verdict_columns_get_the_pdlx_list_when_present(tmp_path, pieces, ratios, county_polygons):
    with_verdicts = pieces.copy()
    with_verdicts["verdict"] = pd.Series(["illegal", None, "false_change", None, "legal", None], dtype=object)
    path = write_patches_gpkg(with_verdicts, ratios, county_polygons, tmp_path / "v.gpkg")
    columns, values = _domains(path)
    assert columns[("patches", "verdict")] == ("判定类型", "landcheck_pdlx")
    assert values["landcheck_pdlx"] == {v.code: v.label_zh for v in VERDICTS}


def test_a_domain_shared_by_two_tables_is_written_once(tmp_path, pieces):
    path = tmp_path / "x.gpkg"
    pieces.to_file(path, layer="a", driver="GPKG", engine="pyogrio")
    pieces.to_file(path, layer="b", driver="GPKG", engine="pyogrio", mode="a")
    domain = EnumDomain("d", [("legal", "合法"), ("illegal", "违法")])
    add_enum_domains(path, "a", {"status": domain, "missing_column": domain})
    add_enum_domains(path, "b", {"status": domain})
    columns, values = _domains(path)
    assert set(columns) == {("a", "status"), ("b", "status")}
    assert values == {"d": {"legal": "合法", "illegal": "违法"}}


def test_layer_styles_table_is_registered_and_counted(tmp_path, pieces):
    path = tmp_path / "s.gpkg"
    pieces.to_file(path, layer="a", driver="GPKG", engine="pyogrio")
    add_layer_styles(path, [StyleRow("a", "one", "<qgis/>", "<sld/>", True, "d"),
                            StyleRow("a", "two", "<qgis/>", "<sld/>", False)])
    set_gpkg_version(path)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT f_table_name, f_geometry_column, styleName, useAsDefault FROM layer_styles"
                          ).fetchall() == [("a", "geom", "one", 1), ("a", "geom", "two", 0)]
        assert db.execute("SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'").fetchone() == (
            "attributes",)
        assert db.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = 'layer_styles'"
                          ).fetchone() == (2,)
        assert db.execute("PRAGMA user_version").fetchone() == (GPKG_USER_VERSION,)
    db.close()
    assert len(gpd.read_file(path, layer="layer_styles")) == 2  # GDAL reads it as a table
