"""Which projected CRS areas are measured in.

Areas are measured in the CGCS2000 3-degree Gauss-Krüger zone whose central
meridian is nearest to the county (EPSG:4534 "CM 75E" ... EPSG:4554 "CM 135E"),
never in degrees.
"""
from __future__ import annotations

import numpy as np
import shapely
from geopandas import GeoDataFrame, GeoSeries
from pyproj import CRS

__all__ = ["CGCS2000_GEOGRAPHIC", "gk3_central_meridian", "gk3_epsg_for_lon", "gk3_epsg_for_lons",
           "zone_epsg_for_geometries"]

CGCS2000_GEOGRAPHIC = 4490
_FIRST_EPSG, _FIRST_CM, _LAST_CM = 4534, 75, 135


def gk3_central_meridian(lon: float) -> int:
    """Central meridian (degrees east) of the 3-degree zone nearest to ``lon``, within 75E-135E."""
    if not np.isfinite(lon):
        raise ValueError(f"longitude must be finite, got {lon}")
    cm = 3 * int(np.floor(lon / 3.0 + 0.5))
    return int(min(max(cm, _FIRST_CM), _LAST_CM))


def gk3_epsg_for_lon(lon: float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Krüger zone (CM variant) nearest to ``lon``."""
    return _FIRST_EPSG + (gk3_central_meridian(lon) - _FIRST_CM) // 3


def gk3_epsg_for_lons(lons: np.ndarray) -> np.ndarray:
    """:func:`gk3_epsg_for_lon` of each longitude, vectorised (``ValueError`` for a non-finite one)."""
    lons = np.asarray(lons, dtype=float)
    if not np.isfinite(lons).all():
        raise ValueError(f"longitude must be finite, got {lons[~np.isfinite(lons)][0]}")
    cm = np.clip(3 * np.floor(lons / 3.0 + 0.5).astype(np.int64), _FIRST_CM, _LAST_CM)
    return (_FIRST_EPSG + (cm - _FIRST_CM) // 3).astype(np.int64)


def zone_epsg_for_geometries(geoms: GeoSeries | GeoDataFrame) -> np.ndarray:
    """Zone EPSG per geometry, from the longitude of its centroid.

    The centroid is taken in geographic CGCS2000 coordinates; at county size the
    difference to a geodesic centroid is far below a zone's 3-degree width.
    """
    series = geoms.geometry if isinstance(geoms, GeoDataFrame) else geoms
    if series.crs is None:
        raise ValueError("geometries have no CRS")
    geographic = series.to_crs(CRS.from_epsg(CGCS2000_GEOGRAPHIC))
    lons = shapely.get_x(shapely.centroid(geographic.values))
    return gk3_epsg_for_lons(lons)
