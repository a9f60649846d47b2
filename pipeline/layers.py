"""Reading the vector inputs: counties, farmland, basic farmland, approvals, received patches.

Every problem is a one-line :class:`~pipeline.errors.BadVectorError` naming the
file. What is repaired or skipped (invalid geometries made valid, empty
geometries dropped) is counted in a :class:`LayerReport`, never silent.
"""
from __future__ import annotations

import math
import os
import re
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer

from overlay.crs import transformer
from pipeline.config import CountyLayerConfig, LayerConfig, PatchesConfig
from pipeline.errors import BadVectorError

__all__ = ["LayerReport", "LayerSource", "Window", "open_source", "read_window", "window_report", "crs_of",
           "read_polygons", "read_counties", "read_patches", "layer_files",
           "check_layer_extents"]

_POLYGONAL = (3, 6)  # shapely type ids of Polygon, MultiPolygon
_CODE = re.compile(r"^\d{6}$")
_FOLDER_FORMATS = (".gdb",)  # folder-based formats GDAL opens as one dataset (FileGDB)
# Layers whose emptiness makes every figure meaningless; empty basic farmland or approvals can be real.
_MUST_HAVE_FEATURES = {"farmland": "every ratio would be 'no ratio'"}
_PROJECTED_MARGIN_DEG = 5.0  # how far outside its CRS's area of use a layer may reach


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
    encoding: str | None = None  # how the layer's text was decoded (and where that came from)

    def to_dict(self) -> dict:
        """Plain dict for the manifest."""
        return asdict(self)


def layer_files(path: Path) -> list[Path]:
    """The files that make up a vector dataset (a Shapefile's sidecars included)."""
    if path.suffix.lower() == ".shp":
        return sorted(p for p in path.parent.glob(path.stem + ".*") if p.is_file())
    return [path]


@dataclass(frozen=True)
class _Opened:
    path: Path
    layer: str
    info: dict
    encoding: str | None


def _open(cfg: LayerConfig, role: str, columns: list[str] | None) -> _Opened:
    """Check that the layer can be read with ``columns`` (nothing read but its description)."""
    path = cfg.path
    encoding = getattr(cfg, "encoding", None)
    if not path.exists():
        raise BadVectorError(path, f"{role} layer file not found")
    if path.is_dir() and path.suffix.lower() not in _FOLDER_FORMATS:
        # OGR would open whichever Shapefile it finds inside as this layer
        raise BadVectorError(path, "is a folder, not a layer file: give the .shp or .gpkg file itself")
    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises several DataSourceError kinds
        raise BadVectorError(path, f"cannot open {role} layer: {_first_line(exc)}") from None
    if cfg.layer is not None and cfg.layer not in layers:
        raise BadVectorError(path, f"no layer '{cfg.layer}' (layers: {', '.join(layers)})")
    if cfg.layer is None and len(layers) > 1:
        raise BadVectorError(path, f"has {len(layers)} layers, set 'layer' to one of: {', '.join(layers)}")
    layer = cfg.layer or layers[0]
    try:
        info = pyogrio.read_info(path, layer=layer, encoding=encoding)
    except UnicodeDecodeError as exc:
        raise _undecodable(path, role, encoding, exc) from None
    except Exception as exc:
        raise BadVectorError(path, f"cannot open {role} layer: {_first_line(exc)}") from None
    fields = list(info["fields"])
    missing = [c for c in (columns or []) if c not in fields]
    if missing:
        for name in fields:  # a Chinese field name read with the wrong encoding
            _check_text(pd.Series([name]), "field name", path, encoding)
        raise BadVectorError(path, f"{role} layer has no field '{missing[0]}' "
                                   f"(fields: {', '.join(fields) or 'none'})")
    return _Opened(path, layer, info, encoding)


def _read_frame(opened: _Opened, role: str, columns: list[str] | None, **where) -> gpd.GeoDataFrame:
    """Read the opened layer (all of it, or the features selected by pyogrio's ``bbox``/``fids``)."""
    path, encoding = opened.path, opened.encoding
    try:
        frame = gpd.read_file(path, layer=opened.layer, columns=columns, engine="pyogrio",
                              encoding=encoding, **where)
    except UnicodeDecodeError as exc:
        raise _undecodable(path, role, encoding, exc) from None
    except Exception as exc:
        raise BadVectorError(path, f"cannot read {role} layer: {_first_line(exc)}") from None
    if frame.crs is None:
        raise BadVectorError(path, f"{role} layer has no CRS (add a .prj or set the layer SRS)")
    for column in columns or []:
        _check_text(frame[column], f"field '{column}'", path, encoding)
    return frame


def _read(cfg: LayerConfig, role: str, columns: list[str] | None,
          with_fid: bool = False) -> tuple[gpd.GeoDataFrame, str]:
    """The layer's features with ``columns`` (and ``fid``, the feature ids, when asked) and the
    encoding its text was decoded from."""
    opened = _open(cfg, role, columns)
    frame = _read_frame(opened, role, columns, fid_as_index=with_fid)
    if with_fid:
        frame = frame.assign(fid=frame.index.to_numpy(dtype=np.int64)).reset_index(drop=True)
    return frame, _source_encoding(cfg.path, opened.info, opened.encoding)


def _source_encoding(path: Path, info: dict, encoding: str | None) -> str:
    """Where the text encoding came from, for the report: config, .cpg, LDID byte or GDAL default."""
    if encoding:
        return f"{encoding} (config)"
    if info.get("driver") != "ESRI Shapefile":
        return str(info.get("encoding") or "UTF-8")
    if path.suffix.lower() not in (".shp", ".dbf"):  # e.g. a zipped Shapefile
        return str(info.get("encoding") or "unknown")

    def sidecar(ext: str) -> Path | None:
        return next((p for p in (path.with_suffix(ext), path.with_suffix(ext.upper())) if p.is_file()),
                    None)

    cpg = sidecar(".cpg")
    if cpg is not None:
        text = cpg.read_bytes()[:40].decode("ascii", "replace").strip()
        return f"{text} (.cpg)"
    dbf = sidecar(".dbf")
    if dbf is not None:
        with open(dbf, "rb") as fh:
            header = fh.read(30)
        if len(header) == 30 and header[29]:
            return f"LDID/{header[29]} (.dbf language driver byte)"
        return "ISO-8859-1 (GDAL default: no .cpg, no language driver byte)"
    return str(info.get("encoding") or "unknown")


def _undecodable(path: Path, role: str, encoding: str | None, exc: UnicodeDecodeError) -> BadVectorError:
    if encoding:
        return BadVectorError(path, f"{role} layer text is not valid {encoding} ({exc.reason} "
                                    f"at byte 0x{exc.object[exc.start]:02x}); set `encoding` for this "
                                    "layer in the config to the file's real encoding")
    return BadVectorError(path, f"{role} layer text is not valid UTF-8 ({exc.reason} at byte "
                                f"0x{exc.object[exc.start]:02x}); set `encoding: gbk` (or the file's "
                                "real encoding) for this layer in the config")


# Text GDAL decoded with the wrong 8-bit code page: re-encode with that code page, decode with the
# real one. UTF-8 first (strict, so a clean decode is strong evidence), then GBK and its superset.
_WRONG_DECODERS = ("latin-1", "cp1252")
_REAL_ENCODINGS = (("utf-8", "UTF-8"), ("gbk", "GBK"), ("gb18030", "GB18030"))
_SUSPECT = re.compile("[\u0080-\u00ff\u0152-\u2122\ufffd]")


def _is_cjk_text(text: str) -> bool:
    """Every non-ASCII character is CJK (ideographs, CJK punctuation, full-width forms), one at least."""
    ideograph = False
    for ch in text:
        o = ord(ch)
        if o < 0x80:
            continue
        if 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or o >= 0x20000:
            ideograph = True
        elif not (0x3000 <= o <= 0x303F or 0xFF00 <= o <= 0xFFEF):
            return False
    return ideograph


def _misdecoded(text: str) -> tuple[str, str] | None:
    """``(encoding, fixed text)`` if ``text`` is mojibake of UTF-8 or GBK read as an 8-bit code page."""
    for wrong in _WRONG_DECODERS:
        try:
            raw = text.encode(wrong)
        except UnicodeEncodeError:
            continue
        if sum(b >= 0x80 for b in raw) < 2:
            return None
        for codec, label in _REAL_ENCODINGS:
            try:
                fixed = raw.decode(codec)
            except UnicodeDecodeError:
                continue
            n_ascii = sum(b < 0x80 for b in raw)
            # every multi-byte character made of high bytes only (a Latin name such as 'Müller' would
            # swallow an ASCII letter as a GBK trail byte), and CJK text for the GBK family
            if sum(ord(c) < 0x80 for c in fixed) != n_ascii:
                continue
            if codec == "utf-8" or _is_cjk_text(fixed):
                return label, fixed
    return None


def _check_text(values: pd.Series | np.ndarray, what: str, path: Path, encoding: str | None) -> None:
    """Refuse text that was decoded with the wrong encoding (mojibake) or could not be decoded.

    An array (a window's column) of numbers, or of None and ASCII strings (ids, codes, dates), is
    passed in one pass, without building a Series."""
    if isinstance(values, np.ndarray):
        if values.dtype != object or all(v is None or (type(v) is str and v.isascii()) for v in values.tolist()):
            return
        values = pd.Series(values)
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return
    present = values.dropna().unique()
    if all(isinstance(v, str) and v.isascii() for v in present):  # nothing _SUSPECT can match
        return
    strings = pd.Series(present).astype(str)
    strings = strings[strings.str.contains(_SUSPECT)]
    said = f" (it says {encoding})" if encoding else ""
    for text in strings:
        found = _misdecoded(text)
        if found is not None:
            label, fixed = found
            raise BadVectorError(path, f"{what} looks mis-decoded ({text!r} reads as {fixed!r} in "
                                       f"{label}); set `encoding: {label.lower()}` for this layer in "
                                       f"the config{said}")
        if "\ufffd" in text:
            raise BadVectorError(path, f"{what} holds undecodable text ({text!r} has U+FFFD replacement "
                                       "characters); set `encoding` for this layer in the config to "
                                       f"the file's real encoding, gbk for most Chinese Shapefiles{said}")


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    # GDAL appends advice about driver prefixes that does not help here
    return lines[0].split("; It might help")[0] if lines else type(exc).__name__


def _clean_polygons(frame: gpd.GeoDataFrame, path: Path, role: str) -> tuple[gpd.GeoDataFrame, int, int]:
    """Make invalid polygons valid (polygonal parts kept) and drop empty ones; count both.

    Returns ``(frame, repaired, dropped)``: ``repaired`` counts invalid polygons made valid and
    kept, ``dropped`` null or empty geometries and invalid ones with no area left after repair.
    """
    geoms, invalid, missing = _clean_geoms(np.asarray(frame.geometry.values), path, role)
    out = frame.set_geometry(gpd.GeoSeries(geoms, crs=frame.crs, index=frame.index))
    # an invalid polygon with no area left after repair (a zero-width sliver) counts as dropped only
    return out[~missing].reset_index(drop=True), int((invalid & ~missing).sum()), int(missing.sum())


def _clean_geoms(geoms: np.ndarray, path: Path, role: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(geoms, invalid, missing)``: the polygons with invalid ones made valid (a copy when any
    was), which were invalid, and which are null or empty (after repair); refuses non-polygons."""
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
    return geoms, invalid, missing


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    parts = shapely.get_parts(geom)
    polys = parts[np.isin(shapely.get_type_id(parts), _POLYGONAL)]
    return shapely.union_all(polys) if len(polys) else shapely.Polygon()


def _report(role: str, cfg: LayerConfig, frame: gpd.GeoDataFrame, repaired: int, dropped: int,
            encoding: str | None = None) -> LayerReport:
    return LayerReport(role=role, path=str(cfg.path), layer=cfg.layer,
                       crs=_crs_label(frame.crs), features=len(frame),
                       repaired_invalid=repaired, dropped_empty=dropped, encoding=encoding)


def _crs_label(crs_like) -> str:
    crs = CRS.from_user_input(crs_like)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def _refuse_if_empty(frame: gpd.GeoDataFrame, path: Path, role: str, dropped: int) -> None:
    if len(frame) or role not in _MUST_HAVE_FEATURES:
        return
    why = f" ({dropped} empty geometr{'y' if dropped == 1 else 'ies'} dropped)" if dropped else ""
    raise BadVectorError(path, f"{role} layer has no features{why}: {_MUST_HAVE_FEATURES[role]}")


def _fmt_bounds(bounds) -> str:
    def fmt(v: float) -> str:
        if not math.isfinite(v):
            return str(v)
        if abs(v) >= 1000:
            return f"{v:.0f}"
        return f"{v:.4f}".rstrip("0").rstrip(".")
    return ", ".join(fmt(float(v)) for v in bounds)


def _check_coordinates(frame: gpd.GeoDataFrame, path: Path, role: str) -> None:
    """Refuse coordinates that cannot be in the layer's declared CRS (metres labelled as degrees,
    degrees or another zone's metres labelled as a projected CRS)."""
    if not len(frame):
        return
    bounds = [float(v) for v in frame.total_bounds]
    if not all(math.isfinite(v) for v in bounds):
        return
    crs = CRS.from_user_input(frame.crs)
    label = _crs_label(crs)
    minx, miny, maxx, maxy = bounds
    if crs.is_geographic:
        eps = 1e-6
        if minx < -180 - eps or maxx > 180 + eps or miny < -90 - eps or maxy > 90 + eps:
            raise BadVectorError(path, f"{role} layer coordinates look projected: its extent "
                                       f"({_fmt_bounds(bounds)}) is outside longitude -180..180 / "
                                       f"latitude -90..90, but its CRS {label} is geographic (degrees); "
                                       "is its CRS (.prj) right?")
        return
    area = crs.area_of_use
    if not crs.is_projected or area is None or crs.geodetic_crs is None:
        return
    try:
        to_lonlat = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
        lon0, lat0, lon1, lat1 = to_lonlat.transform_bounds(*bounds, densify_pts=21)
    except Exception:  # pyproj raises ProjError for coordinates outside the projection's domain
        lon0 = lat0 = lon1 = lat1 = math.inf
    # Longitudes only: small extents near (0, 0) (test data, or degrees labelled as metres) land at
    # latitude 0, far south of most areas of use; degrees labelled as metres are caught by
    # check_layer_extents instead. Eastings of another zone or with a zone prefix are caught here.
    m = _PROJECTED_MARGIN_DEG
    a0, _, a1, _ = area.bounds
    finite = all(math.isfinite(v) for v in (lon0, lat0, lon1, lat1))
    if a0 > a1:  # area of use crossing the antimeridian: nothing to compare longitudes with
        a0, a1 = -math.inf, math.inf
    if not finite or lon0 < a0 - m or lon1 > a1 + m:
        where = (f"lands at longitude {lon0:.2f}..{lon1:.2f}, far outside" if finite
                 else "cannot be placed on the earth in that CRS, made for")
        raise BadVectorError(path, f"{role} layer coordinates do not fit its CRS {label}: its extent "
                                   f"({_fmt_bounds(bounds)}) {where} longitudes {a0:g}..{a1:g}; "
                                   "is its CRS (.prj) right?")


def read_polygons(cfg: LayerConfig, role: str) -> tuple[gpd.GeoDataFrame, LayerReport]:
    """A polygon layer (geometry only), validated and repaired.

    An empty farmland layer is an error; other empty layers are returned with ``features == 0``
    in the report (see :func:`pipeline.quality.warning_lines`).
    """
    frame, encoding = _read(cfg, role, columns=[])
    frame, repaired, dropped = _clean_polygons(frame, cfg.path, role)
    _refuse_if_empty(frame, cfg.path, role, dropped)
    _check_coordinates(frame, cfg.path, role)
    return frame[[frame.geometry.name]], _report(role, cfg, frame, repaired, dropped, encoding)


def read_counties(cfg: CountyLayerConfig, *, with_fid: bool = False) -> tuple[gpd.GeoDataFrame, LayerReport]:
    """The county layer as ``county_code`` (6-digit text), ``county_name``, geometry (and ``fid``,
    each county's feature id in the file, with ``with_fid``)."""
    frame, encoding = _read(cfg, "counties", columns=[cfg.code_field, cfg.name_field], with_fid=with_fid)
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
    if with_fid:
        out.insert(0, "fid", frame["fid"].to_numpy())
    if out.empty:
        raise BadVectorError(cfg.path, "county layer has no features")
    _check_coordinates(out, cfg.path, "counties")
    return out, _report("counties", cfg, out, repaired, dropped, encoding)


def read_patches(cfg: PatchesConfig) -> tuple[gpd.GeoDataFrame, LayerReport]:
    """Received monitoring patches as ``source_id``, geometry (id from ``id_field`` or row order)."""
    columns = [cfg.id_field] if cfg.id_field else []
    frame, encoding = _read(cfg, "patches", columns=columns)
    if cfg.id_field:
        ids = frame[cfg.id_field].astype(str)
        if ids.duplicated().any():
            raise BadVectorError(cfg.path, f"patch id '{ids[ids.duplicated()].iloc[0]}' in field "
                                           f"'{cfg.id_field}' is not unique")
    else:
        ids = [f"R{i:06d}" for i in range(1, len(frame) + 1)]
    frame = gpd.GeoDataFrame({"source_id": list(ids)}, geometry=frame.geometry.values, crs=frame.crs)
    frame, repaired, dropped = _clean_polygons(frame, cfg.path, "patches")
    _check_coordinates(frame, cfg.path, "patches")
    return frame, _report("patches", cfg, frame, repaired, dropped, encoding)


def _extent_in(frame: gpd.GeoDataFrame, crs: CRS) -> tuple[float, float, float, float] | None:
    """The frame's total bounds in ``crs`` (None when empty; infinite when not placeable)."""
    if not len(frame):
        return None
    bounds = [float(v) for v in frame.total_bounds]
    if not all(math.isfinite(v) for v in bounds):
        return None
    return _bounds_in(bounds, frame.crs, crs)


def _bounds_in(bounds, src, dst: CRS) -> tuple[float, float, float, float]:
    src = CRS.from_user_input(src)
    if src == dst:
        return tuple(bounds)
    try:  # (CRS that are not equal are not exactly the same: overlay.crs.transformer gives one)
        out = transformer(src, dst).transform_bounds(*bounds, densify_pts=21)
    except Exception:  # outside the target projection's domain
        return (math.inf,) * 4
    return tuple(float(v) for v in out)


def _meet(a, b) -> bool:
    if not all(math.isfinite(v) for v in (*a, *b)):
        return False
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _named(item) -> tuple[gpd.GeoDataFrame, str]:
    if isinstance(item, tuple):
        return item[0], str(item[1])
    return item, "county layer"


def check_layer_extents(counties, layers: dict, imagery_bounds=None) -> None:
    """Refuse a layer whose extent does not meet the county layer's at all (a wrong CRS, usually).

    ``counties``: the county GeoDataFrame, or ``(frame, path)`` so errors can name its file.
    ``layers``: ``{role: (frame, path)}``; empty layers are skipped. ``imagery_bounds``: optional
    ``(minx, miny, maxx, maxy, crs)`` of the imagery footprint; when given, the county layer's
    extent must meet it. Extents are compared as bounding boxes in the counties' CRS (EPSG:4490
    when the county frame has none). Raises :class:`BadVectorError` naming the offending file.
    """
    county_frame, county_path = _named(counties)
    crs = CRS.from_user_input(county_frame.crs) if county_frame.crs is not None else CRS.from_epsg(4490)
    label = _crs_label(crs)
    county_extent = _extent_in(county_frame, crs)
    if county_extent is None:
        return
    for role, (frame, path) in layers.items():
        extent = _extent_in(frame, crs)
        if extent is None or _meet(extent, county_extent):
            continue
        if all(math.isfinite(v) for v in extent):
            own = f"({_fmt_bounds(extent)})"
        else:
            own = f"({_fmt_bounds(frame.total_bounds)} in {_crs_label(frame.crs)})"
        raise BadVectorError(path, f"{role} layer lies nowhere near the counties: its extent {own} "
                                   f"does not meet the county layer's ({_fmt_bounds(county_extent)}) "
                                   f"in {label}; is its CRS right?")
    if imagery_bounds is not None:
        *box, imagery_crs = imagery_bounds
        imagery = _bounds_in([float(v) for v in box], imagery_crs, crs)
        if not _meet(county_extent, imagery):
            shown = (_fmt_bounds(imagery) if all(math.isfinite(v) for v in imagery)
                     else f"{_fmt_bounds(box)} in {_crs_label(imagery_crs)}")
            raise BadVectorError(county_path, f"county layer lies nowhere near the imagery: its extent "
                                              f"({_fmt_bounds(county_extent)}) does not meet the "
                                              f"imagery's ({shown}) in {label}; is the county layer's "
                                              "or the imagery's CRS right?")


# --- reading county by county -------------------------------------------------------------------

_INDEX_BATCH = 100_000  # features per batch when copying a layer without a spatial index


@dataclass(frozen=True)
class LayerSource:
    """A polygon layer to be read window by window: where it is and what it holds, no features.

    ``path`` is the user's file (for messages and the manifest); ``read_path`` the file read,
    the user's own or, when it has no spatial index, an indexed GeoPackage copy made once in
    the run's work folder (never beside the user's file). ``fid_column`` names the column of
    that copy holding the original feature ids (None: the ids are the file's own).
    ``empty_fids`` are the features with a null or empty geometry, which no window can see: they are
    counted as dropped once, here.
    """

    role: str
    path: Path
    layer: str
    read_path: Path
    read_layer: str
    encoding: str | None
    crs: str
    features: int
    bounds: tuple[float, float, float, float]
    source_encoding: str
    fid_column: str | None = None
    empty_fids: tuple[int, ...] = ()


def open_source(cfg: LayerConfig, role: str, *, index_dir: Path | None = None) -> LayerSource:
    """Check a polygon layer from its description alone and make it readable by window.

    The checks that need the whole layer use what the driver reports (feature count, extent,
    CRS); the per-feature checks run on each window (:func:`read_window`). A layer without a
    spatial index (a Shapefile without ``.qix``) is copied once into ``index_dir`` as an indexed
    GeoPackage, so a window reads only its features.
    """
    opened = _open(cfg, role, [])
    info = opened.info
    if not info.get("crs"):
        raise BadVectorError(cfg.path, f"{role} layer has no CRS (add a .prj or set the layer SRS)")
    crs = CRS.from_user_input(info["crs"])
    features = int(info.get("features") or 0)
    bounds = tuple(float(v) for v in info.get("total_bounds") or (math.nan,) * 4)
    if features == 0 and role in _MUST_HAVE_FEATURES:
        raise BadVectorError(cfg.path, f"{role} layer has no features: {_MUST_HAVE_FEATURES[role]}")
    if features and all(math.isfinite(v) for v in bounds):
        _check_coordinates(gpd.GeoDataFrame(geometry=[shapely.box(*bounds)], crs=crs), cfg.path, role)
    empty: tuple[int, ...] | None = ()
    if features:
        empty = _gpkg_empty_fids(Path(cfg.path), opened.layer)
    if empty is None:
        try:
            fids, boxes = pyogrio.read_bounds(cfg.path, layer=opened.layer)
            none = np.isnan(boxes).any(axis=0)
            # GDAL gives an empty geometry the box 0, 0, 0, 0: read the zero-size boxes to tell
            flat = np.flatnonzero(~none & (boxes[0] == boxes[2]) & (boxes[1] == boxes[3]))
            if len(flat):
                frame = pyogrio.read_dataframe(cfg.path, layer=opened.layer, fids=fids[flat], columns=[])
                none[flat] = frame.geometry.isna().to_numpy() | frame.geometry.is_empty.to_numpy()
        except Exception as exc:
            raise BadVectorError(cfg.path, f"cannot read {role} layer: {_first_line(exc)}") from None
        empty = tuple(int(f) for f in fids[none])
    if features and len(empty) == features and role in _MUST_HAVE_FEATURES:
        raise BadVectorError(cfg.path, f"{role} layer has no features ({len(empty)} empty geometries "
                                       f"dropped): {_MUST_HAVE_FEATURES[role]}")
    source = LayerSource(role=role, path=cfg.path, layer=opened.layer, read_path=cfg.path,
                         read_layer=opened.layer, encoding=opened.encoding, crs=crs.to_wkt(),
                         features=features, bounds=bounds,
                         source_encoding=_source_encoding(cfg.path, info, opened.encoding),
                         empty_fids=empty)
    fast = bool((info.get("capabilities") or {}).get("fast_spatial_filter"))
    if fast or index_dir is None or features == 0:
        return source
    return _indexed_copy(source, opened, index_dir)


def _indexed_copy(source: LayerSource, opened: _Opened, index_dir: Path) -> LayerSource:
    """Copy the layer's geometries (and original ids) into an indexed GeoPackage, in batches."""
    index_dir.mkdir(parents=True, exist_ok=True)
    out = index_dir / f"{source.role}.gpkg"
    tmp = out.with_name(f".tmp-{out.name}")
    tmp.unlink(missing_ok=True)
    for start in range(0, source.features, _INDEX_BATCH):
        frame = _read_frame(opened, source.role, [], skip_features=start, max_features=_INDEX_BATCH,
                            fid_as_index=True)
        frame = gpd.GeoDataFrame({"src_fid": frame.index.to_numpy(dtype=np.int64)},
                                 geometry=frame.geometry.values, crs=frame.crs)
        pyogrio.write_dataframe(frame, tmp, layer=source.role, driver="GPKG", append=start > 0,
                                promote_to_multi=True)
    tmp.replace(out)
    return LayerSource(**{**asdict(source), "read_path": out, "read_layer": source.role,
                          "encoding": None, "fid_column": "src_fid"})


@dataclass(frozen=True)
class Window:
    """The features of one window of a layer, with what was repaired or dropped, by feature id.

    Ids (not counts) are kept so that features read by two neighbouring windows are counted once.
    ``geoms`` (shapely array), ``ids`` (``fid``) and ``columns`` are what was read; :attr:`frame`
    is built from them on first use (a county job needs the geometries alone of most windows).
    """

    ids: np.ndarray
    columns: dict
    geoms: np.ndarray
    crs: CRS | None
    repaired: frozenset[int]
    dropped: frozenset[int]

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def frame(self) -> gpd.GeoDataFrame:
        """``fid``, the columns read, and geometry."""
        return _frame({"fid": self.ids, **self.columns}, self.geoms, self.crs)

    @property
    def geometry(self) -> gpd.GeoSeries:
        """The geometries as a GeoSeries (index 0..n-1, as :attr:`frame`'s)."""
        return gpd.GeoSeries(self.geoms, crs=self.crs)

    def rows(self, keep: np.ndarray, *, with_fid: bool = True) -> gpd.GeoDataFrame:
        """:attr:`frame`'s rows where ``keep`` (index 0..k-1), without ``fid`` unless ``with_fid``;
        built from what was read, not by selecting from :attr:`frame`."""
        columns = {"fid": self.ids[keep]} if with_fid else {}
        columns.update({c: v[keep] for c, v in self.columns.items()})
        return _frame(columns, self.geoms[keep], self.crs)


def read_window(source: LayerSource, bbox: tuple[float, float, float, float] | None = None, *,
                columns: tuple[str, ...] = (), fids: list[int] | None = None) -> Window:
    """The layer's polygons whose bounding boxes meet ``bbox`` (in the layer's CRS), repaired.

    Or, with ``fids``, those features. Returns ``fid`` (the feature's id in the user's file),
    ``columns`` (attributes of a layer read without an indexed copy) and geometry, plus the ids
    of the features repaired or dropped (see :func:`_clean_polygons`). A GeoPackage layer with an
    R-tree is read over a connection kept open in this process (:func:`_gpkg_window`), any other
    through GDAL; both give the same features in the same order.
    """
    if source.features == 0 or (fids is not None and not len(fids)):
        return Window(np.empty(0, dtype=np.int64), {c: np.empty(0, dtype=object) for c in columns},
                      np.empty(0, dtype=object), crs_of(source.crs), frozenset(), frozenset())
    if columns and source.fid_column:
        raise ValueError(f"{source.role}: attributes are not kept in the indexed copy")
    read = [source.fid_column] if source.fid_column else list(columns)
    if fids is None:
        where = {"bbox": tuple(float(v) for v in bbox)}
    elif source.fid_column:  # the copy's own ids differ: select on the column holding the originals
        where = {"where": f"{source.fid_column} IN ({','.join(str(int(f)) for f in fids)})"}
    else:
        where = {"fids": [int(f) for f in fids]}
    fast = _gpkg_window(source, read, bbox=where.get("bbox"), fids=where.get("fids"),
                        original_fids=None if fids is None or not source.fid_column else fids)
    if fast is None:
        opened = _Opened(source.read_path, source.read_layer, {}, source.encoding)
        frame = _read_frame(opened, source.role, read, fid_as_index=source.fid_column is None, **where)
        ids = (frame[source.fid_column].to_numpy(dtype=np.int64) if source.fid_column
               else frame.index.to_numpy(dtype=np.int64))
        values = {c: frame[c].to_numpy() for c in columns}
        geoms, crs = np.asarray(frame.geometry.values), frame.crs
    else:
        ids, values, geoms, crs = fast
        for column in read:
            _check_text(values[column], f"field '{column}'", source.path, source.encoding)
    geoms, invalid, missing = _clean_geoms(geoms, source.path, source.role)
    keep = ~missing
    kept_ids = ids if keep.all() else ids[keep]
    kept = set(kept_ids.tolist())
    dropped = frozenset(int(f) for f in ids[missing].tolist() if f not in kept)
    repaired = frozenset(int(f) for f in ids[invalid & keep].tolist())
    if not keep.all():
        values = {c: values[c][keep] for c in columns}
        geoms = geoms[keep]
    return Window(kept_ids, {c: values[c] for c in columns}, np.asarray(geoms, dtype=object), crs,
                  repaired, dropped)


def _frame(columns: dict, geoms: np.ndarray, crs) -> gpd.GeoDataFrame:
    """``GeoDataFrame(columns, geometry=geoms, crs=crs)``, built without the detour geopandas takes
    through a frame that has no geometry yet (a caught exception per frame, most of its cost)."""
    data = pd.DataFrame({**columns, "geometry": gpd.array.from_shapely(geoms, crs=crs)})
    return gpd.GeoDataFrame(data, geometry="geometry")


@lru_cache(maxsize=64)
def crs_of(crs: str) -> CRS:
    """``CRS.from_user_input(crs)``, built once per process for each CRS text (WKT, ``EPSG:n``)."""
    return CRS.from_user_input(crs)


# --- GeoPackage windows over a connection kept open ---------------------------------------------
#
# GDAL opens a layer for every read (SQLite schema, the layer's SRS looked up in the PROJ database):
# several milliseconds, more than reading a county's window. A GeoPackage layer with an R-tree is
# read here straight from SQLite instead, over a read-only connection kept open per process, thread
# and file version (path, inode, size, modification time), exactly as GDAL reads it: GDAL's own
# query (R-tree join, or the whole table when the box holds the layer's extent), so the same
# candidates in the same order, then the features whose geometry intersects the box (GDAL's
# filter: a prepared-rectangle GEOS test); by id, in the order asked. Anything else goes through
# GDAL: other formats, a set encoding, curved or 3D geometries, field types other than text, real
# and integer, a file with a write-ahead log, a file or value it cannot read as GDAL would.

_GPKG_MAX_OPEN = 32  # connections kept per process (least recently used dropped first)
_GPKG_ENVELOPE = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}  # GeoPackage header envelope code -> bytes
_GPKG_DTYPES = {"object": "TEXT", "float64": "REAL", "int64": "INTEGER"}  # fields read here
_gpkg_lock = threading.Lock()
_gpkg_open: OrderedDict[tuple, tuple[tuple, "_Gpkg | None"]] = OrderedDict()  # (path, layer, thread)
_gpkg_pid = os.getpid()


@dataclass(frozen=True)
class _Gpkg:
    """An open GeoPackage layer: its connection, table, columns, CRS and field types."""

    conn: sqlite3.Connection
    table: str
    geom: str
    fid: str
    rtree: str
    crs: CRS
    dtypes: dict  # pyogrio's dtype of each field read here (text, real, integer)
    extent: tuple[float, float, float, float]  # gpkg_contents' extent, which GDAL's query depends on


def _quote(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def _gpkg_layer(path: Path, layer: str) -> _Gpkg | None:
    """This thread's open connection to the layer (opened on first use), or None when the layer is
    not read here. Connections are dropped, not closed, when evicted or outdated: one in use in a
    thread is closed when that thread lets go of it."""
    global _gpkg_pid
    if path.suffix.lower() != ".gpkg" or os.path.exists(f"{path}-wal"):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    where = (str(path), layer, threading.get_ident())
    version = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _gpkg_lock:
        if _gpkg_pid != os.getpid():  # a forked child: the parent's connections are not its own
            _gpkg_open.clear()
            _gpkg_pid = os.getpid()
        known = _gpkg_open.get(where)
        if known is not None and known[0] == version:
            _gpkg_open.move_to_end(where)
            return known[1]
    opened = _open_gpkg(path, layer)
    with _gpkg_lock:
        _gpkg_open[where] = (version, opened)
        _gpkg_open.move_to_end(where)
        while len(_gpkg_open) > _GPKG_MAX_OPEN:
            _gpkg_open.popitem(last=False)
    return opened


def _open_gpkg(path: Path, layer: str) -> _Gpkg | None:
    """Open ``layer`` of ``path`` read-only when it can be read here, else None."""
    try:
        info = pyogrio.read_info(path, layer=layer)  # the CRS and field types as GDAL reports them
    except Exception:  # noqa: BLE001 - GDAL's own read reports it
        return None
    if not info.get("crs"):
        return None
    conn = None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        rows = conn.execute("SELECT column_name, geometry_type_name, z, m FROM gpkg_geometry_columns "
                            "WHERE table_name = ?", (layer,)).fetchall()
        if len(rows) != 1 or str(rows[0][1]).upper() not in ("POLYGON", "MULTIPOLYGON") or rows[0][2] or rows[0][3]:
            raise LookupError("not a 2D polygon layer")
        geom = rows[0][0]
        table_info = conn.execute(f"PRAGMA table_info({_quote(layer)})").fetchall()
        pk = [r[1] for r in table_info if r[5] == 1 and str(r[2]).upper() == "INTEGER"]
        types = {r[1]: str(r[2]).upper() for r in table_info}
        rtree = f"rtree_{layer}_{geom}"
        indexed = conn.execute(
            "SELECT count(*) FROM gpkg_extensions WHERE lower(table_name) = lower(?) AND "
            "lower(column_name) = lower(?) AND extension_name = 'gpkg_rtree_index'", (layer, geom)).fetchone()[0]
        exists = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (rtree,)).fetchone()[0]
        extent = conn.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE "
                              "lower(table_name) = lower(?)", (layer,)).fetchone()
        fields = [str(f) for f in info["fields"]]
        if extent is None or any(not isinstance(v, (int, float)) for v in extent):
            raise LookupError("no extent in gpkg_contents")
        if len(pk) != 1 or not indexed or not exists:
            raise LookupError("no R-tree or no integer feature id")
    except (sqlite3.Error, LookupError):
        if conn is not None:
            conn.close()
        return None
    readable = {f: str(d) for f, d in zip(fields, info["dtypes"])  # fields read here; others by GDAL
                if str(d) in _GPKG_DTYPES and types.get(f) == _GPKG_DTYPES[str(d)]}
    return _Gpkg(conn, layer, geom, pk[0], rtree, crs_of(info["crs"]), readable,
                 tuple(float(v) for v in extent))


def _gpkg_empty_fids(path: Path, layer: str) -> tuple[int, ...] | None:
    """Ids of the features of a GeoPackage layer whose geometry is null or empty, or None when
    they are not known this way (not a GeoPackage read here, no R-tree).

    The GeoPackage's R-tree triggers index every feature whose geometry is neither null nor
    empty, so the R-tree's row count equals the table's when none is empty: two counts instead
    of reading every geometry's bounds (1.7 s for the national world's 1.2 million parcels).
    """
    opened = _gpkg_layer(path, layer)
    if opened is None:
        return None
    table, fid, rtree = _quote(opened.table), _quote(opened.fid), _quote(opened.rtree)
    try:
        indexed = opened.conn.execute(f"SELECT count(*) FROM {_quote(opened.rtree + '_rowid')}").fetchone()[0]
        total = opened.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if indexed == total:
            return ()
        rows = opened.conn.execute(f"SELECT m.{fid} FROM {table} m WHERE m.{fid} NOT IN "
                                   f"(SELECT id FROM {rtree}) ORDER BY m.{fid}").fetchall()
    except sqlite3.Error:
        return None
    if len(rows) != total - indexed:  # the R-tree holds ids the table has not: let GDAL read them
        return None
    return tuple(int(r[0]) for r in rows)


def _gpkg_bbox_sql(opened: _Gpkg, select: str, minx: float, miny: float, maxx: float, maxy: float) -> str:
    """GDAL's query for a box (OGRGeoPackageTableLayer::ResetStatement), so that the features come
    in GDAL's order: R-tree order, or table order when the box holds the layer's whole extent."""
    ex0, ey0, ex1, ey1 = opened.extent
    if minx <= ex0 and miny <= ey0 and maxx >= ex1 and maxy >= ey1:
        return f"{select} WHERE m.{_quote(opened.geom)} IS NOT NULL"
    return (f"{select} JOIN {_quote(opened.rtree)} r ON m.{_quote(opened.fid)} = r.id WHERE "
            f"r.maxx >= {minx - 1e-11:.12f} AND r.minx <= {maxx + 1e-11:.12f} AND "
            f"r.maxy >= {miny - 1e-11:.12f} AND r.miny <= {maxy + 1e-11:.12f}")


def _gpkg_window(source: LayerSource, columns: list[str], *, bbox=None, fids=None,
                 original_fids=None) -> tuple[np.ndarray, dict, np.ndarray, CRS] | None:
    """``(ids, {column: values}, geometries, crs)`` of one window, as :func:`_read_frame` would
    give them, or None when the layer is not read here (then GDAL reads it).

    ``bbox``: the features intersecting it; ``fids``: these feature ids, in this order;
    ``original_fids``: the features of an indexed copy whose ``source.fid_column`` holds these.
    ``ids`` are the file's own feature ids, or ``source.fid_column`` of an indexed copy.
    """
    if source.encoding is not None:
        return None
    opened = _gpkg_layer(Path(source.read_path), source.read_layer)
    if opened is None or any(c not in opened.dtypes for c in columns):
        return None
    names = [opened.fid, opened.geom, *columns]
    select = f"SELECT {', '.join('m.' + _quote(n) for n in names)} FROM {_quote(opened.table)} m"
    try:
        # each thread has its own connection (_gpkg_layer): no lock
        if bbox is not None:
            minx, miny, maxx, maxy = (float(v) for v in bbox)
            rows = opened.conn.execute(_gpkg_bbox_sql(opened, select, minx, miny, maxx, maxy)).fetchall()
        elif fids is not None:
            wanted = [int(f) for f in fids]
            found = {r[0]: r for r in opened.conn.execute(
                f"{select} WHERE m.{_quote(opened.fid)} IN ({','.join(map(str, set(wanted)))})")}
            if any(f not in found for f in wanted):
                return None  # GDAL says what is wrong
            rows = [found[f] for f in wanted]
        else:
            column = _quote(str(source.fid_column))
            rows = opened.conn.execute(
                f"{select} WHERE m.{column} IN ({','.join(str(int(f)) for f in original_fids)}) "
                f"ORDER BY m.{_quote(opened.fid)}").fetchall()
        geoms = shapely.from_wkb(np.array([_gpkg_wkb(r[1]) for r in rows], dtype=object))
    except (sqlite3.Error, ValueError, NotImplementedError, shapely.errors.GEOSException):
        return None
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    if bbox is not None and len(rows):
        box = shapely.box(minx, miny, maxx, maxy)
        shapely.prepare(box)
        hit = shapely.intersects(box, geoms)
        rows = [r for r, h in zip(rows, hit) if h]
        ids, geoms = ids[hit], geoms[hit]
    values = {}
    for i, column in enumerate(columns, start=2):
        raw = [r[i] for r in rows]
        values[column] = _gpkg_values(raw, opened.dtypes[column])
        if values[column] is None:
            return None
    if source.fid_column:  # an indexed copy: the ids are the originals it keeps
        ids = values[source.fid_column]
    return ids, values, geoms, opened.crs


def _gpkg_wkb(blob) -> bytes | None:
    """The WKB of one GeoPackage geometry blob (header stripped); None for a null geometry."""
    if blob is None:
        return None
    if not isinstance(blob, bytes) or blob[:2] != b"GP" or blob[3] & 0x20:  # extended types: GDAL
        raise ValueError("not a standard GeoPackage geometry")
    size = _GPKG_ENVELOPE.get((blob[3] >> 1) & 0x07)
    if size is None:
        raise ValueError("bad GeoPackage envelope code")
    return blob[8 + size:]


def _gpkg_values(raw: list, dtype: str) -> np.ndarray | None:
    """One field's values as pyogrio gives them (text: str or None; real: float, NaN for null;
    integer: int64, no null), or None when a value does not fit the type."""
    if dtype == "object":
        if not all(v is None or isinstance(v, str) for v in raw):
            return None
        out = np.empty(len(raw), dtype=object)
        out[:] = raw
        return out
    if dtype == "float64":
        if not all(v is None or isinstance(v, (int, float)) for v in raw):
            return None
        return np.array([math.nan if v is None else float(v) for v in raw], dtype=np.float64)
    if not all(isinstance(v, int) for v in raw):
        return None
    return np.array(raw, dtype=np.int64)


def window_report(source: LayerSource, windows: list[Window] | None = None, *,
                  repaired: set[int] | frozenset[int] = frozenset(),
                  dropped: set[int] | frozenset[int] = frozenset()) -> LayerReport:
    """The layer's report from its windows: features in the layer, repaired and dropped once each."""
    rep, drop = set(repaired), set(dropped) | set(source.empty_fids)
    for w in windows or []:
        rep |= w.repaired
        drop |= w.dropped
    return LayerReport(role=source.role, path=str(source.path), layer=source.layer, crs=_crs_label(source.crs), features=source.features - len(drop),
                       repaired_invalid=len(rep), dropped_empty=len(drop), encoding=source.source_encoding)
