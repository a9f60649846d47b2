"""Readers shared by the samplegen tests (imported as ``tests.samplegen.helpers``)."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import numpy as np
import rasterio
import shapely

from samplegen.frame import PROJECTED_CRS
from samplegen.layout import (APPROVED_FILE, BASIC_FILE, COUNTIES_FILE, FARMLAND_FILE,
                              IMAGERY_DIRS, TRUTH_FILE)

CODES = ("220202", "220203", "220204", "220211")


def tiles(root: Path, kind: str) -> list[Path]:
    """The sorted tiles of ``kind`` (before, after, cloud) under a sample folder."""
    return sorted((root / IMAGERY_DIRS[kind]).glob("*.tif"))


def read_raster(path: Path) -> tuple[np.ndarray, dict]:
    """All bands and the metadata the tests compare."""
    with rasterio.open(path) as src:
        return src.read(), {"transform": src.transform, "crs": src.crs, "tags": src.tags(),
                            "nodata": src.nodata, "dtype": src.dtypes[0]}


def vector_files(root: Path) -> list[tuple[Path, str | None]]:
    """(path, layer) of every vector file of a sample folder."""
    return [(root / COUNTIES_FILE, "counties"), (root / FARMLAND_FILE, "farmland"),
            (root / BASIC_FILE, None), (root / APPROVED_FILE, "approved"),
            (root / TRUTH_FILE, "planted_patches")]


def read(path: Path, layer: str | None = None, crs: str | None = None) -> gpd.GeoDataFrame:
    """A layer, optionally reprojected."""
    gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    return gdf.to_crs(crs) if crs else gdf


def design(root: Path) -> dict:
    """Counties, farmland, approvals and patches read back from the files, in EPSG:4551."""
    counties = read(root / COUNTIES_FILE, "counties", PROJECTED_CRS)
    return {
        "counties": dict(zip(counties["XZQDM"], counties.geometry)),
        "farmland": shapely.union_all(
            read(root / FARMLAND_FILE, "farmland", PROJECTED_CRS).geometry.values),
        "approved": shapely.union_all(read(root / APPROVED_FILE, "approved").geometry.values),
        "patches": read(root / TRUTH_FILE, "planted_patches"),
    }


def ratios(design: dict, geometries) -> dict[str, float | None]:
    """Per county: illegal / occupied farmland for ``geometries``, None when nothing occupied."""
    out = {}
    for code, county in design["counties"].items():
        on_farmland = [g.intersection(county).intersection(design["farmland"]) for g in geometries]
        occupied = sum(f.area for f in on_farmland)
        illegal = sum(f.difference(design["approved"]).area for f in on_farmland)
        out[code] = illegal / occupied if occupied > 0 else None
    return out


def level(ratio: float | None) -> str:
    """The level a ratio reaches (10 % interview, 15 % accountability)."""
    if ratio is None:
        return "no_ratio"
    return "accountability" if ratio >= 0.15 else "interview" if ratio >= 0.10 else "none"


#: lines of the detection quality table, printed in the pytest terminal summary (conftest.py)
QUALITY_REPORT = pytest.StashKey[list]()
