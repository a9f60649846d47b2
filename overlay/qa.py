"""Checks on the patch set itself that the accounting relies on."""
from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame

from overlay.crs import zone_epsg_for_geometries

__all__ = ["overlapping_patches", "overlapping_counties", "areas_in_zones"]


def areas_in_zones(geoms: np.ndarray, crs) -> np.ndarray:
    """Area in m² of each geometry, measured in the Gauss-Krüger zone of its centroid."""
    frame = GeoDataFrame(geometry=np.asarray(geoms), crs=crs)
    areas = np.zeros(len(frame))
    if not len(frame):
        return areas
    zones = zone_epsg_for_geometries(frame.set_geometry(shapely.centroid(frame.geometry.values)))
    for epsg in np.unique(zones):
        sel = zones == epsg
        areas[sel] = frame[sel].to_crs(int(epsg)).area.to_numpy()
    return areas


def overlapping_patches(patches: GeoDataFrame, min_area_m2: float = 0.01) -> pd.DataFrame:
    """Pairs of patches that overlap by at least ``min_area_m2`` (their shared area counts twice).

    Detected patches never overlap; received ones can. Returns ``source_id_a``,
    ``source_id_b``, ``overlap_m2`` (measured in the zone of the overlap).
    """
    columns = ["source_id_a", "source_id_b", "overlap_m2"]
    if len(patches) < 2:
        return pd.DataFrame(columns=columns)
    geoms = patches.geometry.values
    a, b = patches.sindex.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not len(a):
        return pd.DataFrame(columns=columns)
    areas = areas_in_zones(shapely.intersection(np.asarray(geoms)[a], np.asarray(geoms)[b]), patches.crs)
    ids = patches["source_id"].astype(str).to_numpy()
    out = pd.DataFrame({"source_id_a": ids[a], "source_id_b": ids[b], "overlap_m2": areas})
    return out[out.overlap_m2 >= min_area_m2].reset_index(drop=True)


def overlapping_counties(counties: GeoDataFrame, min_area_m2: float = 0.01) -> pd.DataFrame:
    """Pairs of county polygons that overlap by at least ``min_area_m2``.

    Real boundary layers overlap by centimetres to metres; the split gives such overlaps to
    the county with the smaller code (:mod:`overlay.split`), and a run says so. Returns
    ``county_code_a`` (the smaller code, which keeps the overlap), ``county_code_b``,
    ``overlap_m2`` (measured in the zone of the overlap), largest first.
    """
    columns = ["county_code_a", "county_code_b", "overlap_m2"]
    if len(counties) < 2:
        return pd.DataFrame(columns=columns)
    geoms = np.asarray(counties.geometry.values)
    a, b = counties.sindex.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not len(a):
        return pd.DataFrame(columns=columns)
    # most neighbours only touch: the DE-9IM test (interiors meet) is ~3x cheaper than
    # intersecting them, and only pairs that pass are intersected
    interiors_meet = shapely.relate_pattern(geoms[a], geoms[b], "T********")
    a, b = a[interiors_meet], b[interiors_meet]
    inter = shapely.intersection(geoms[a], geoms[b])
    polygonal = shapely.area(inter) > 0
    a, b, inter = a[polygonal], b[polygonal], inter[polygonal]
    if not len(a):
        return pd.DataFrame(columns=columns)
    areas = areas_in_zones(inter, counties.crs)
    codes = counties["county_code"].astype(str).to_numpy()
    first, second = np.minimum(codes[a], codes[b]), np.maximum(codes[a], codes[b])
    out = pd.DataFrame({"county_code_a": first, "county_code_b": second, "overlap_m2": areas})
    out = out[out.overlap_m2 >= min_area_m2].sort_values("overlap_m2", ascending=False)
    return out.reset_index(drop=True)
