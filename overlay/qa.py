"""Checks on the patch set itself that the accounting relies on."""
from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame

from overlay.crs import zone_epsg_for_geometries

__all__ = ["overlapping_patches"]


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
    overlap = GeoDataFrame(geometry=shapely.intersection(np.asarray(geoms)[a], np.asarray(geoms)[b]),
                           crs=patches.crs)
    areas = np.zeros(len(overlap))
    zones = zone_epsg_for_geometries(overlap.set_geometry(shapely.centroid(overlap.geometry.values)))
    for epsg in np.unique(zones):
        sel = zones == epsg
        areas[sel] = overlap[sel].to_crs(int(epsg)).area.to_numpy()
    ids = patches["source_id"].astype(str).to_numpy()
    out = pd.DataFrame({"source_id_a": ids[a], "source_id_b": ids[b], "overlap_m2": areas})
    return out[out.overlap_m2 >= min_area_m2].reset_index(drop=True)
