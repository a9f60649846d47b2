"""patches.gpkg."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from reports.geopackage import COUNTY_LAYER, PATCHES_LAYER, write_patches_gpkg


def test_gpkg_layers_crs_and_values(
    tmp_path: Path, pieces: gpd.GeoDataFrame, ratios: pd.DataFrame, county_polygons: gpd.GeoDataFrame
) -> None:
    path = write_patches_gpkg(pieces, ratios, county_polygons, tmp_path / "patches.gpkg")
    assert [p.name for p in tmp_path.iterdir()] == ["patches.gpkg"]
    assert {name for name, _ in pyogrio.list_layers(path)} == {PATCHES_LAYER, COUNTY_LAYER}

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
