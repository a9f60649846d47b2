"""Reading the vector inputs: counties, farmland, basic farmland, approvals, received patches.

Every problem is a one-line :class:`~pipeline.errors.BadVectorError` naming the
file. What is repaired or skipped (invalid geometries made valid, empty
geometries dropped) is counted in a :class:`LayerReport`, never silent.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import CRS

from pipeline.config import CountyLayerConfig, LayerConfig, PatchesConfig
from pipeline.errors import BadVectorError

__all__ = ["LayerReport", "read_polygons", "read_counties", "read_patches", "layer_files"]

_POLYGONAL = (3, 6)  # shapely type ids of Polygon, MultiPolygon
_CODE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class LayerReport:
    """What reading one layer found: features read, repaired and dropped."""

    role: str
    path: str
    layer: str | None
    crs: str
    features: int
    repaired_invalid: int
    dropped_empty: int

    def to_dict(self) -> dict:
        """Plain dict for the manifest."""
        return asdict(self)


def layer_files(path: Path) -> list[Path]:
    """The files that make up a vector dataset (a Shapefile's sidecars included)."""
    if path.suffix.lower() == ".shp":
        return sorted(p for p in path.parent.glob(path.stem + ".*") if p.is_file())
    return [path]


def _read(cfg: LayerConfig, role: str, columns: list[str] | None) -> gpd.GeoDataFrame:
    path = cfg.path
    if not path.exists():
        raise BadVectorError(path, f"{role} layer file not found")
    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises several DataSourceError kinds
        raise BadVectorError(path, f"cannot open {role} layer: {_first_line(exc)}") from None
    if cfg.layer is not None and cfg.layer not in layers:
        raise BadVectorError(path, f"no layer '{cfg.layer}' (layers: {', '.join(layers)})")
    if cfg.layer is None and len(layers) > 1:
        raise BadVectorError(path, f"has {len(layers)} layers, set 'layer' to one of: {', '.join(layers)}")
    layer = cfg.layer or layers[0]
    fields = list(pyogrio.read_info(path, layer=layer)["fields"])
    missing = [c for c in (columns or []) if c not in fields]
    if missing:
        raise BadVectorError(path, f"{role} layer has no field '{missing[0]}' "
                                   f"(fields: {', '.join(fields) or 'none'})")
    try:
        frame = gpd.read_file(path, layer=layer, columns=columns, engine="pyogrio")
    except Exception as exc:
        raise BadVectorError(path, f"cannot read {role} layer: {_first_line(exc)}") from None
    if frame.crs is None:
        raise BadVectorError(path, f"{role} layer has no CRS (add a .prj or set the layer SRS)")
    return frame


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    # GDAL appends advice about driver prefixes that does not help here
    return lines[0].split("; It might help")[0] if lines else type(exc).__name__


def _clean_polygons(frame: gpd.GeoDataFrame, path: Path, role: str) -> tuple[gpd.GeoDataFrame, int, int]:
    """Make invalid polygons valid (polygonal parts kept) and drop empty ones; count both."""
    geoms = np.asarray(frame.geometry.values)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    kinds = shapely.get_type_id(geoms)
    bad = ~missing & ~np.isin(kinds, _POLYGONAL)
    if bad.any():
        kind = shapely.get_type_id(geoms[bad][0])
        names = {0: "Point", 1: "LineString", 2: "LinearRing", 4: "MultiPoint", 5: "MultiLineString",
                 7: "GeometryCollection"}
        raise BadVectorError(path, f"{role} layer must hold polygons, found {names.get(kind, kind)} "
                                   f"in {int(bad.sum())} feature(s)")
    invalid = ~missing & ~shapely.is_valid(geoms)
    if invalid.any():
        repaired = shapely.make_valid(geoms[invalid])
        geoms = geoms.copy()
        geoms[invalid] = [_polygonal_part(g) for g in repaired]
        missing |= shapely.is_empty(geoms)
    out = frame.set_geometry(gpd.GeoSeries(geoms, crs=frame.crs, index=frame.index))
    return out[~missing].reset_index(drop=True), int(invalid.sum()), int(missing.sum())


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    parts = shapely.get_parts(geom)
    polys = parts[np.isin(shapely.get_type_id(parts), _POLYGONAL)]
    return shapely.union_all(polys) if len(polys) else shapely.Polygon()


def _report(role: str, cfg: LayerConfig, frame: gpd.GeoDataFrame, repaired: int, dropped: int) -> LayerReport:
    crs = CRS.from_user_input(frame.crs)
    epsg = crs.to_epsg()
    return LayerReport(role=role, path=str(cfg.path), layer=cfg.layer,
                       crs=f"EPSG:{epsg}" if epsg else crs.name, features=len(frame),
                       repaired_invalid=repaired, dropped_empty=dropped)


def read_polygons(cfg: LayerConfig, role: str) -> tuple[gpd.GeoDataFrame, LayerReport]:
    """A polygon layer (geometry only), validated and repaired."""
    frame = _read(cfg, role, columns=[])
    frame, repaired, dropped = _clean_polygons(frame, cfg.path, role)
    return frame[[frame.geometry.name]], _report(role, cfg, frame, repaired, dropped)


def read_counties(cfg: CountyLayerConfig) -> tuple[gpd.GeoDataFrame, LayerReport]:
    """The county layer as ``county_code`` (6-digit text), ``county_name``, geometry."""
    frame = _read(cfg, "counties", columns=[cfg.code_field, cfg.name_field])
    frame, repaired, dropped = _clean_polygons(frame, cfg.path, "counties")
    codes = frame[cfg.code_field].astype(str).str.strip()
    codes = codes.str.replace(r"\.0$", "", regex=True)  # codes stored as numbers
    wrong = codes[~codes.str.match(_CODE)]
    if len(wrong):
        raise BadVectorError(cfg.path, f"field '{cfg.code_field}' must hold 6-digit county codes, "
                                       f"found {wrong.iloc[0]!r}")
    if codes.duplicated().any():
        dup = codes[codes.duplicated()].iloc[0]
        raise BadVectorError(cfg.path, f"county code {dup} appears more than once "
                                       "(dissolve multi-part counties into one feature)")
    out = gpd.GeoDataFrame({"county_code": codes.values,
                            "county_name": frame[cfg.name_field].fillna("").astype(str).values},
                           geometry=frame.geometry.values, crs=frame.crs)
    if out.empty:
        raise BadVectorError(cfg.path, "county layer has no features")
    return out, _report("counties", cfg, out, repaired, dropped)


def read_patches(cfg: PatchesConfig) -> tuple[gpd.GeoDataFrame, LayerReport]:
    """Received monitoring patches as ``source_id``, geometry (id from ``id_field`` or row order)."""
    columns = [cfg.id_field] if cfg.id_field else []
    frame = _read(cfg, "patches", columns=columns)
    if cfg.id_field:
        ids = frame[cfg.id_field].astype(str)
        if ids.duplicated().any():
            raise BadVectorError(cfg.path, f"patch id '{ids[ids.duplicated()].iloc[0]}' in field "
                                           f"'{cfg.id_field}' is not unique")
    else:
        ids = [f"R{i:06d}" for i in range(1, len(frame) + 1)]
    frame = gpd.GeoDataFrame({"source_id": list(ids)}, geometry=frame.geometry.values, crs=frame.crs)
    frame, repaired, dropped = _clean_polygons(frame, cfg.path, "patches")
    return frame, _report("patches", cfg, frame, repaired, dropped)
