"""samplegen.counties: the real county boundaries, and the errors for a wrong source."""
from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from pipeline.errors import BadVectorError, InputFileError
from samplegen import make_sample
from samplegen.counties import read_counties
from samplegen.frame import COUNTIES
from samplegen.layout import COMMITTED_SAMPLE, COUNTIES_FILE
from tests.samplegen.helpers import read


def test_committed_counties_are_the_shared_ones(shared_data):
    shared = read_counties(shared_data / "china_admin" / "china_counties_wgs84.gpkg")
    committed = read(COMMITTED_SAMPLE / COUNTIES_FILE, "counties")
    assert committed.crs == "EPSG:4490"
    assert list(committed["XZQDM"]) == list(shared["XZQDM"])
    assert list(committed["XZQMC"]) == list(shared["XZQMC"])
    assert shapely.equals_exact(committed.geometry.values, shared.geometry.values, 0).all()


def test_counties_layer(world):
    counties = read(world[0] / COUNTIES_FILE, "counties")
    assert counties.crs.to_epsg() == 4490
    assert dict(zip(counties["XZQDM"], counties["XZQMC"])) == COUNTIES


def test_missing_county_source_is_an_input_file_error(tmp_path):
    with pytest.raises(InputFileError, match="nope.gpkg"):
        make_sample(tmp_path / "out", counties_source=tmp_path / "nope.gpkg")


def test_county_source_without_the_fields_is_a_bad_vector_error(tmp_path):
    source = tmp_path / "other.gpkg"
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[shapely.box(0, 0, 1, 1)],
                     crs="EPSG:4326").to_file(source, engine="pyogrio")
    with pytest.raises(BadVectorError, match="XZQDM"):
        make_sample(tmp_path / "out", counties_source=source)
