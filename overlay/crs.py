"""Which projected CRS areas are measured in.

Areas are measured in the CGCS2000 3-degree Gauss-Krüger zone whose central
meridian is nearest to the county (EPSG:4534 "CM 75E" ... EPSG:4554 "CM 135E"),
never in degrees.
"""
from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
import shapely
from geopandas import GeoDataFrame, GeoSeries
from pyproj import CRS, Transformer

__all__ = ["CGCS2000_GEOGRAPHIC", "gk3_central_meridian", "gk3_epsg_for_lon", "gk3_epsg_for_lons",
           "zone_epsg_for_geometries", "epsg_crs", "transformer", "reprojected"]

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


@lru_cache(maxsize=256)
def epsg_crs(code: int) -> CRS:
    """``CRS.from_epsg(code)``, looked up in PROJ's database once per process."""
    return CRS.from_epsg(int(code))


def transformer(src: CRS | str | int, dst: CRS | str | int) -> Transformer | None:
    """The ``always_xy`` transformer from ``src`` to ``dst``, or None when they are exactly the
    same CRS (then nothing moves, as ``GeoSeries.to_crs`` leaves it). Built once per process,
    thread (pyproj transformers are not shared between threads) and pair of CRS definitions:
    a county job reprojects a dozen small arrays between the same few CRS."""
    return _cached_transformer(_definition(src), _definition(dst), threading.get_ident())


def _definition(crs: CRS | str | int) -> str | int:
    """What a CRS was made from (its ``srs``: ``EPSG:4490`` or WKT), the cache's key."""
    if isinstance(crs, CRS):
        return crs.srs or crs.to_wkt()
    return crs


@lru_cache(maxsize=256)
def _cached_transformer(src: str | int, dst: str | int, thread: int) -> Transformer | None:
    source, target = CRS.from_user_input(src), CRS.from_user_input(dst)
    if source.is_exact_same(target):
        return None
    return Transformer.from_crs(source, target, always_xy=True)


def reprojected(geoms: np.ndarray, src: CRS | str | int, dst: CRS | str | int) -> np.ndarray:
    """``GeoSeries(geoms, crs=src).to_crs(dst).values`` as an array of shapely geometries: the
    same coordinates (the same transformer, z kept where there is one), without the GeoSeries
    and the CRS comparisons and hashing geopandas does on every call."""
    geoms = np.asarray(geoms, dtype=object)
    tr = transformer(src, dst)
    if tr is None or not len(geoms):
        return geoms.copy()
    out = np.empty_like(geoms)
    has_z = shapely.has_z(geoms)
    for sel, with_z in ((~has_z, False), (has_z, True)):
        if not sel.any():
            continue
        coords = shapely.get_coordinates(geoms[sel], include_z=with_z)
        moved = tr.transform(*coords.T)
        out[sel] = shapely.set_coordinates(geoms[sel].copy(), np.array(moved).T)
    return out
