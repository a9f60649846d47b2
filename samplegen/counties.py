"""The four real county boundaries the sample world is laid on."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio
from shapely.geometry.base import BaseGeometry

from pipeline.errors import BadVectorError, InputFileError
from samplegen.frame import COUNTIES, GEOGRAPHIC_CRS, PROJECTED_CRS
from samplegen.layout import COMMITTED_SAMPLE, COUNTIES_FILE, SHARED_COUNTIES

__all__ = ["default_county_source", "read_counties", "projected_counties"]


def default_county_source() -> Path:
    """The shared county file beside the repository if present, else the committed copy.

    Returns
    -------
    Path

    Raises
    ------
    InputFileError
        Neither exists.
    """
    for path in (SHARED_COUNTIES, COMMITTED_SAMPLE / COUNTIES_FILE):
        if path.is_file():
            return path
    raise InputFileError(SHARED_COUNTIES, "county boundaries not found, nor the committed copy "
                         f"{COMMITTED_SAMPLE / COUNTIES_FILE}")


def read_counties(source: Path) -> gpd.GeoDataFrame:
    """The four counties with ``XZQDM``, ``XZQMC`` in EPSG:4490, sorted by code.

    Parameters
    ----------
    source : Path
        ``china_counties_wgs84.gpkg`` (fields ``adcode``, ``district``) or a copy written by
        :func:`samplegen.make_sample` (``XZQDM``, ``XZQMC``).

    Returns
    -------
    geopandas.GeoDataFrame

    Raises
    ------
    InputFileError
        ``source`` is not a file.
    BadVectorError
        It lacks the fields or one of the four counties.
    """
    source = Path(source)
    if not source.is_file():
        raise InputFileError(source, "county boundaries not found")
    fields = set(pyogrio.read_info(source)["fields"])
    codes = ", ".join(f"'{c}'" for c in COUNTIES)
    if {"adcode", "district"} <= fields:
        gdf = gpd.read_file(source, where=f"adcode IN ({codes})", engine="pyogrio")
        gdf = gdf.rename(columns={"adcode": "XZQDM", "district": "XZQMC"})
    elif {"XZQDM", "XZQMC"} <= fields:
        gdf = gpd.read_file(source, where=f"XZQDM IN ({codes})", engine="pyogrio")
    else:
        raise BadVectorError(source, "needs fields adcode + district or XZQDM + XZQMC")
    missing = sorted(set(COUNTIES) - set(gdf["XZQDM"]))
    if missing:
        raise BadVectorError(source, f"county {', '.join(missing)} not found")
    gdf = gdf[["XZQDM", "XZQMC", "geometry"]].sort_values("XZQDM").reset_index(drop=True)
    # WGS84 coordinates are taken as CGCS2000: the two differ by centimetres
    return gdf.set_crs(GEOGRAPHIC_CRS, allow_override=True)


def projected_counties(path: Path) -> dict[str, BaseGeometry]:
    """The counties exactly as written to ``path``, projected to EPSG:4551, by code.

    Parameters
    ----------
    path : Path
        A counties GeoPackage written by :func:`samplegen.make_sample` (layer ``counties``).

    Returns
    -------
    dict of str to shapely geometry
    """
    gdf = gpd.read_file(path, layer="counties", engine="pyogrio").to_crs(PROJECTED_CRS)
    return dict(zip(gdf["XZQDM"], gdf.geometry))
