"""Imagery I/O: before/after GeoTIFF tiles and cloud masks -> one grid of lazy dask arrays.

:func:`open_imagery` checks every tile and mask up front (one-line :class:`BadRasterError`
naming the file), builds ONE grid for both dates -- the union of all tile footprints, in the
tiles' common CRS and resolution -- and exposes:

* ``before`` / ``after``: ``(n_bands, H, W)`` float32 in band order blue, green, red[, NIR]
  (``band_names`` says which: NIR is there only when ``imagery.bands`` names it), NaN where no
  tile has data. A pixel has no data outside every tile and where the file says so, never
  because of its value alone: where a band read equals that band's declared nodata value, where
  the file's internal mask (GDAL mask band, ``.msk``) or alpha band is 0, or where a float band
  is NaN / infinite. A tile that declares no nodata and has no mask has no nodata pixels: a
  0 in an 8-bit tile (deep shadow) is data. Where tiles overlap, the first tile (in config
  order) with data wins.
* ``cloud``: ``(H, W)`` bool, True where a cloud mask of either date flags the pixel: a grid
  pixel is cloudy when any nonzero mask pixel overlaps it (masks may be coarser or offset).
* ``valid``: data in both dates and no cloud.

Before anything is built, the inputs must make sense together (else a one-line
:class:`BadRasterError` naming a file): every tile has the data type (and declared band scale /
offset) of the first tile; CRSs are compared by meaning, not spelling (an EPSG code equals its WKT
or PROJ string); the before and after footprints overlap on at least ``min_overlap`` of the smaller
one; the grid is at most ``max_grid_pixels``; and the cloud masks of a date together cover every
pixel of each tile of that date that any of them overlaps (cloud outside a mask would otherwise be
taken for clear ground and read as change).

With ``imagery.resample`` (``nearest``, ``bilinear``, ``cubic``; default ``none``), a tile whose
grid is within a pixel of the first before tile's (same CRS, resolution within 1 %, any origin
offset) is read through a :class:`rasterio.vrt.WarpedVRT` onto that grid (the reference) with
that resampling; it covers the reference pixels whose centres lie in its footprint.
``Imagery.resampled`` lists such tiles with their sub-pixel offset and resolution ratio. With
``none`` such a tile is refused, the message naming ``imagery.resample``.

Every chunk is read on demand with rasterio windows from only the files that overlap it, the
files being opened inside the task (nothing open in the graph, tasks are picklable), so
memory is bounded by the chunk size and the arrays run on any dask scheduler.
"""
from __future__ import annotations

import math
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import dask.array as da
import numpy as np
import pyproj
import rasterio
import shapely
from affine import Affine
from dask.base import tokenize
from rasterio.enums import ColorInterp, Resampling
from rasterio.env import set_gdal_config
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from detection.grid import Grid
from pipeline.config import BANDS, REQUIRED_BANDS, ImageryConfig
from pipeline.errors import BadRasterError, ConfigError, InputFileError

__all__ = ["Imagery", "Resampled", "open_imagery", "axis_chunks", "MIN_LAST_CHUNK", "RESAMPLE_RES_TOL"]

#: a trailing chunk smaller than this is merged into the one before it (at least the largest
#: clean-up overlap, 2 x 10 + 2 x 10 px, so map_overlap never sees a chunk thinner than its depth)
MIN_LAST_CHUNK = 40
_ALIGN_TOL = 1e-6  # pixels
_SAME_RES_TOL = 1e-9  # relative: the same resolution
#: largest relative resolution difference ``imagery.resample`` reads onto the reference grid
RESAMPLE_RES_TOL = 0.01
# GDAL settings for every read. Sidecar files are looked for (a tile may carry its georeference in
# a .tfw/.prj or an .ovr); on slow network storage GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR would
# skip that directory listing, at the price of ignoring those sidecars.
_ENV: dict[str, str] = {}
#: open datasets kept per thread (a chunk's read and the object test's many small windows reuse
#: them instead of opening the file again: opening a GeoTIFF costs milliseconds)
_OPEN_PER_THREAD = 16
_open_datasets = threading.local()
#: GDAL's block cache while datasets stay open (GDAL's default, 5 % of the machine's memory, holds
#: every block of a large image: 1.3 GB more at peak on a 144 Mpx pair; 64 MB ran as fast as
#: 256 MB there, with 210 MB less at peak); GDAL_CACHEMAX in the environment wins
BLOCK_CACHE_MB = 64


@lru_cache(maxsize=1)
def _bound_block_cache() -> None:
    """Set GDAL's block cache to :data:`BLOCK_CACHE_MB`, once per process, unless the user set
    GDAL_CACHEMAX."""
    if "GDAL_CACHEMAX" not in os.environ:
        set_gdal_config("GDAL_CACHEMAX", BLOCK_CACHE_MB * 1024 * 1024)


def _dataset(path: str):
    """An open rasterio dataset for ``path``, kept open for this thread (datasets are not shared
    between threads). A file changed on disk since (size, time or inode) is opened again; the
    least recently used dataset is closed beyond :data:`_OPEN_PER_THREAD`."""
    cache: OrderedDict | None = getattr(_open_datasets, "cache", None)
    if cache is None:
        _bound_block_cache()
        cache = _open_datasets.cache = OrderedDict()
    st = os.stat(path)
    version = (st.st_ino, st.st_size, st.st_mtime_ns)
    held = cache.get(path)
    if held is not None and held[0] == version and not held[1].closed:
        cache.move_to_end(path)
        return held[1]
    if held is not None:
        cache.pop(path)
        held[1].close()
    src = rasterio.open(path)
    cache[path] = (version, src)
    while len(cache) > _OPEN_PER_THREAD:
        cache.popitem(last=False)[1][1].close()
    return src


@dataclass(frozen=True)
class _Tile:
    """An image tile placed on the grid.

    ``nodata`` holds the declared nodata value of every band of the file (None: none declared);
    ``masked`` says the file has an internal mask or alpha band to honour. ``warp`` is None for a
    pixel-aligned tile (read directly) or ``(crs_wkt, transform, method)``: read through a
    WarpedVRT whose grid (``crs_wkt`` None = the file's own CRS, ``transform`` of its top-left
    pixel, ``height`` x ``width``) is the tile's place on the imagery grid.
    """

    path: str
    row_off: int
    col_off: int
    height: int
    width: int
    nodata: tuple[float | None, ...] = ()
    masked: bool = False
    warp: tuple[str | None, tuple[float, ...], str] | None = None


@dataclass(frozen=True)
class Resampled:
    """A tile read onto the grid with resampling, and by how much it was off.

    Attributes
    ----------
    path, date
        The file and its date (``before`` / ``after``).
    method
        ``nearest``, ``bilinear`` or ``cubic``.
    offset_px
        ``(columns, rows)``: where the file's top-left corner lies relative to the nearest
        reference pixel corner, in reference pixels (each in -0.5..0.5); None when reprojected.
    resolution_ratio
        ``(x, y)``: the file's pixel size over the reference's.
    reprojected_from
        The file's CRS when it differed from the grid's and was reprojected (pair command), else None.
    """

    path: str
    date: str
    method: str
    offset_px: tuple[float, float] | None
    resolution_ratio: tuple[float, float]
    reprojected_from: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {"path": self.path, "date": self.date, "method": self.method,
                "offset_px": None if self.offset_px is None else [round(v, 6) for v in self.offset_px],
                "resolution_ratio": [round(v, 9) for v in self.resolution_ratio],
                "reprojected_from": self.reprojected_from}


@dataclass(frozen=True)
class _Mask:
    """A cloud mask and its own north-up georeference (any resolution / alignment)."""

    path: str
    x0: float
    xres: float
    y0: float
    yres: float  # negative
    height: int
    width: int


@dataclass(frozen=True)
class _TileInfo:
    path: str
    crs: object
    transform: Affine
    height: int
    width: int
    count: int
    dtype: str
    nodata: float | None
    scales: tuple[float, ...] = ()
    offsets: tuple[float, ...] = ()
    nodatavals: tuple[float | None, ...] = ()
    mask_flags: tuple[tuple[str, ...], ...] = ()  # per band, MaskFlags names
    colorinterp: tuple[str, ...] = ()  # per band, ColorInterp names
    gcps: bool = False  # georeferenced by ground control points / RPCs only

    @property
    def alpha_band(self) -> int | None:
        """1-based index of the band GDAL takes for alpha, or None."""
        return self.colorinterp.index("alpha") + 1 if "alpha" in self.colorinterp else None

    def masked(self, bands: Sequence[int]) -> bool:
        """True when reading ``bands`` must honour the file's internal mask or alpha band.

        A band GDAL flags as alpha but the config reads as data (a 4-band 8-bit GeoTIFF with
        GDAL's default RGBA interpretation holding NIR) is data, and its "alpha" is not a mask.
        """
        for index in bands:
            flags = self.mask_flags[index - 1] if index - 1 < len(self.mask_flags) else ()
            if "per_dataset" in flags:
                if "alpha" in flags and self.alpha_band in bands:
                    continue
                return True
        return False


def axis_chunks(n: int, size: int, min_last: int = MIN_LAST_CHUNK) -> tuple[int, ...]:
    """Chunk sizes along one axis: ``size`` each, a too-small last chunk merged into the previous.

    Parameters
    ----------
    n
        Axis length.
    size
        Wanted chunk size.
    min_last
        Smallest acceptable trailing chunk.
    """
    if n <= 0:
        return (0,)
    full, rest = divmod(n, size)
    chunks = [size] * full
    if rest:
        if chunks and rest < min_last:
            chunks[-1] += rest
        else:
            chunks.append(rest)
    return tuple(chunks)


# --------------------------------------------------------------------------- checking
def _open_info(path: Path, what: str) -> _TileInfo:
    if not Path(path).is_file():
        raise InputFileError(path, f"{what} not found")
    try:
        with rasterio.Env(**_ENV), warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                gcps = bool(src.gcps[0]) or bool(src.rpcs)
                return _TileInfo(
                    str(path), src.crs, src.transform, src.height, src.width, src.count,
                    src.dtypes[0], src.nodata, tuple(src.scales), tuple(src.offsets),
                    nodatavals=tuple(None if v is None else float(v) for v in src.nodatavals),
                    mask_flags=tuple(tuple(f.name for f in flags) for flags in src.mask_flag_enums),
                    colorinterp=tuple(ci.name for ci in src.colorinterp),
                    gcps=gcps and src.transform.is_identity,
                )
    except RasterioError as exc:
        raise BadRasterError(path, f"cannot be read as a raster ({_one_line(exc)})") from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _check_north_up(info: _TileInfo, what: str) -> None:
    t = info.transform
    if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
        raise BadRasterError(info.path, f"{what} is not north-up (rotated or flipped transform {tuple(t)[:6]})")


def _check_crs(info: _TileInfo, what: str) -> None:
    if info.crs is None:
        raise BadRasterError(info.path, f"{what} has no CRS")
    if not info.crs.is_projected:
        raise BadRasterError(info.path, f"{what} CRS {info.crs.to_string()} is not projected "
                                        "(imagery must be in a projected CRS in metres)")


# --------------------------------------------------------------------------- CRS by meaning
_EAST_FIRST = {"east": 0, "west": 0, "north": 1, "south": 1}
_NOT_PROJECTION = {"no_defs", "type", "wktext"}
_NAMELESS = {"", "unknown", "unnamed", "undefined"}


def _east_first(node: object) -> object:
    """A PROJJSON dict with every 2-axis coordinate system put in (east, north) order."""
    if isinstance(node, list):
        return [_east_first(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _east_first(v) for k, v in node.items()}
    cs = node.get("coordinate_system")
    if isinstance(cs, dict) and isinstance(cs.get("axis"), list):
        cs["axis"] = sorted(cs["axis"], key=lambda ax: _EAST_FIRST.get(str(ax.get("direction", "")).lower(), 2))
    return node


def _unknown_datum(crs: pyproj.CRS) -> bool:
    datum = crs.datum
    return datum is None or datum.name.lower().startswith(("unknown", "unnamed", "not specified"))


@lru_cache(maxsize=256)
def _same_crs_wkt(wkt_a: str, wkt_b: str) -> bool:
    a, b = pyproj.CRS.from_user_input(wkt_a), pyproj.CRS.from_user_input(wkt_b)
    if a.equals(b, ignore_axis_order=True):
        return True
    # An ESRI-style or authority-less WKT of EPSG:4551 lists its axes easting first, the EPSG
    # definition northing first; PROJ's "except axis order" only forgives that in the base CRS.
    a = pyproj.CRS.from_json_dict(_east_first(a.to_json_dict()))
    b = pyproj.CRS.from_json_dict(_east_first(b.to_json_dict()))
    if a.equals(b, ignore_axis_order=True):
        return True
    # A PROJ string (+proj=tmerc ... +ellps=GRS80) has no datum name: equal when one side leaves
    # the datum unnamed and the projection, ellipsoid and units are the same.
    if _unknown_datum(a) or _unknown_datum(b):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            pa = {k: v for k, v in a.to_dict().items() if k not in _NOT_PROJECTION}
            pb = {k: v for k, v in b.to_dict().items() if k not in _NOT_PROJECTION}
        return pa == pb
    return False


def _same_crs(a, b) -> bool:
    """True when two rasterio CRSs mean the same thing, however they are written."""
    if a == b:
        return True
    try:
        return _same_crs_wkt(a.to_wkt(), b.to_wkt())
    except pyproj.exceptions.CRSError:
        return False


def _crs_name(crs) -> str:
    try:
        return pyproj.CRS.from_user_input(crs.to_wkt()).name
    except pyproj.exceptions.CRSError:
        return crs.to_string()


def _crs_labels(a, b) -> tuple[str, str, str]:
    """Labels of two different CRSs that read differently, and their names when worth adding.

    ``("EPSG:4550", "EPSG:4551", " (CGCS2000 / ... CM 123E vs CGCS2000 / ... CM 126E)")``; a CRS
    without an EPSG code is labelled by its name; PROJ strings are added when labels coincide.
    """
    na, nb = _crs_name(a), _crs_name(b)
    ea, eb = a.to_epsg(), b.to_epsg()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        la = f"EPSG:{ea}" if ea else f"'{na}'" if na.lower() not in _NAMELESS else f"'{a.to_proj4()}'"
        lb = f"EPSG:{eb}" if eb else f"'{nb}'" if nb.lower() not in _NAMELESS else f"'{b.to_proj4()}'"
        if la == lb:
            la, lb = f"{la} [{a.to_proj4()}]", f"{lb} [{b.to_proj4()}]"
    names = f" ({na} vs {nb})" if (ea or eb) and na != nb else ""
    return la, lb, names


def _px(v: float) -> str:
    """A signed pixel offset to 3 decimals, never ``-0.000``."""
    v = round(v, 3)
    return f"{v if v != 0 else 0.0:+.3f}"


def _res_diff(t: Affine, a: float, e: float) -> float:
    """Largest relative difference of a transform's pixel size from (a, e)."""
    return max(abs(t.a / a - 1.0), abs(t.e / e - 1.0))


def _place_tiles(infos: Sequence[_TileInfo], resample: str = "none", dates: Sequence[str] = (),
                 bands: Sequence[Sequence[int]] = ()
                 ) -> tuple[Grid, dict[str, _Tile], tuple[Resampled, ...]]:
    """Check CRS / resolution / alignment against the first tile and build the union grid.

    ``resample`` other than ``none`` places a tile whose grid is within a pixel (resolution
    within :data:`RESAMPLE_RES_TOL`, any origin offset) on the reference pixels whose centres
    lie in its footprint, to be read through a WarpedVRT. ``dates`` and ``bands`` (per info)
    name the date and the bands read, for the records and the mask rule.
    """
    ref = infos[0]
    a, e = ref.transform.a, ref.transform.e
    places: dict[str, tuple[int, int, int, int, bool]] = {}
    records: list[Resampled] = []
    hint = ("set imagery.resample (nearest, bilinear or cubic) to read it onto the grid of "
            f"{ref.path}")
    for k, info in enumerate(infos):
        if info.path in places:
            continue
        if not _same_crs(info.crs, ref.crs):
            mine, theirs, names = _crs_labels(info.crs, ref.crs)
            raise BadRasterError(info.path, f"CRS {mine} differs from {theirs} of {ref.path}{names}")
        t = info.transform
        same_res = (math.isclose(t.a, a, rel_tol=_SAME_RES_TOL)
                    and math.isclose(t.e, e, rel_tol=_SAME_RES_TOL))
        fc = (t.c - ref.transform.c) / a
        fr = (t.f - ref.transform.f) / e
        res_text = (f"resolution {t.a:g} x {abs(t.e):g} differs from {a:g} x {abs(e):g} of "
                    f"{ref.path}")
        if same_res and abs(fc - round(fc)) <= _ALIGN_TOL and abs(fr - round(fr)) <= _ALIGN_TOL:
            places[info.path] = (int(round(fr)), int(round(fc)), info.height, info.width, False)
            continue
        near = _res_diff(t, a, e) <= RESAMPLE_RES_TOL
        if not near:
            raise BadRasterError(info.path, f"{res_text} by {_res_diff(t, a, e) * 100:.3g} %: all tiles "
                                            "must share one resolution (imagery.resample reads "
                                            f"grids within {RESAMPLE_RES_TOL:.0%} only; resample "
                                            "the tiles to one resolution first, e.g. gdalwarp -tr)")
        if resample == "none":
            if not same_res:
                raise BadRasterError(info.path, f"{res_text} (by {_res_diff(t, a, e) * 100:.2g} %); "
                                                f"{hint}")
            raise BadRasterError(info.path, f"not pixel-aligned with {ref.path} (offset "
                                            f"{_px(fc - round(fc))}, {_px(fr - round(fr))} px); {hint}")
        c0, c1 = fc, (t.c + t.a * info.width - ref.transform.c) / a
        r0, r1 = fr, (t.f + t.e * info.height - ref.transform.f) / e
        col0, col1 = math.ceil(c0 - 0.5 - _ALIGN_TOL), math.ceil(c1 - 0.5 - _ALIGN_TOL)
        row0, row1 = math.ceil(r0 - 0.5 - _ALIGN_TOL), math.ceil(r1 - 0.5 - _ALIGN_TOL)
        if col1 <= col0 or row1 <= row0:
            raise BadRasterError(info.path, f"covers no whole pixel of the grid of {ref.path}")
        places[info.path] = (row0, col0, row1 - row0, col1 - col0, True)
        records.append(Resampled(info.path, dates[k] if k < len(dates) else "", resample,
                                 (c0 - round(c0), r0 - round(r0)), (t.a / a, t.e / e)))
    by_path = {i.path: i for i in infos}
    min_row = min(p[0] for p in places.values())
    min_col = min(p[1] for p in places.values())
    max_row = max(p[0] + p[2] for p in places.values())
    max_col = max(p[1] + p[3] for p in places.values())
    # the grid's corner from an aligned tile on its edge (exactly as that tile has it), else the reference
    left = next((by_path[p].transform.c for p, v in places.items() if v[1] == min_col and not v[4]),
                ref.transform.c + a * min_col)
    top = next((by_path[p].transform.f for p, v in places.items() if v[0] == min_row and not v[4]),
               ref.transform.f + e * min_row)
    grid = Grid(max_row - min_row, max_col - min_col, Affine(a, 0.0, left, 0.0, e, top), ref.crs)
    used: dict[str, set[int]] = {}
    for k, info in enumerate(infos):
        used.setdefault(info.path, set()).update(bands[k] if k < len(bands) else ())
    tiles = {}
    for path, (row, col, height, width, warped) in places.items():
        info = by_path[path]
        row, col = row - min_row, col - min_col
        warp = None
        if warped:
            dst = Affine(a, 0.0, left + a * col, 0.0, e, top + e * row)
            warp = (None, tuple(dst)[:6], resample)
        tiles[path] = _Tile(path, row, col, height, width, info.nodatavals,
                            info.masked(sorted(used[path])), warp)
    return grid, tiles, tuple(records)


def _check_mask(info: _TileInfo, grid: Grid, date_tiles: Sequence[_Tile], date: str) -> _Mask:
    what = f"{date} cloud mask"
    if info.count < 1:
        raise BadRasterError(info.path, f"{what} has no band")
    if info.dtype != "uint8":
        raise BadRasterError(info.path, f"{what} must be uint8 (nonzero = cloud), got {info.dtype}")
    _check_crs(info, what)
    if not _same_crs(info.crs, grid.crs):
        mine, theirs, names = _crs_labels(info.crs, grid.crs)
        raise BadRasterError(info.path, f"{what} CRS {mine} differs from the imagery CRS {theirs}{names}")
    _check_north_up(info, what)
    t = info.transform
    mask = _Mask(info.path, t.c, t.a, t.f, t.e, info.height, info.width)
    ml, mr = t.c, t.c + t.a * info.width
    mt, mb = t.f, t.f + t.e * info.height
    g = grid.transform
    for tile in date_tiles:
        tl, tt = g.c + g.a * tile.col_off, g.f + g.e * tile.row_off
        tr, tb = tl + g.a * tile.width, tt + g.e * tile.height
        if ml < tr and tl < mr and mb < tt and tb < mt:
            return mask
    raise BadRasterError(info.path, f"{what} covers none of the {date} tiles")


# --------------------------------------------------------------------------- inputs together
def _num(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".")


def _pct(frac: float) -> str:
    """A share in percent that never rounds a shortfall up to 100 (or a little down to 0)."""
    p = 100.0 * frac
    if 1.0 <= p < 99.0:
        return str(math.floor(p))
    return f"{min(math.floor(p * 10) / 10, 99.9):.1f}" if p < 100.0 else "100"


def _area(m2: float) -> str:
    return f"{m2:,.0f} m²" if m2 < 1e6 else f"{m2 / 1e6:,.2f} km²"


def _metres_per_unit(crs) -> float:
    try:
        return float(pyproj.CRS.from_user_input(crs.to_wkt()).axis_info[0].unit_conversion_factor)
    except (pyproj.exceptions.CRSError, IndexError):
        return 1.0


def _n_chunks(n: int, size: int) -> int:
    """``len(axis_chunks(n, size))`` without building the tuple."""
    full, rest = divmod(n, size)
    return max(1, full + (1 if rest and (not full or rest >= MIN_LAST_CHUNK) else 0))


def _extent(grid: Grid, r0: float, c0: float, r1: float, c1: float) -> str:
    """Map extent of grid pixel rows r0..r1, cols c0..c1."""
    g = grid.transform
    xs = (g.c + g.a * c0, g.c + g.a * c1)
    ys = (g.f + g.e * r0, g.f + g.e * r1)
    return f"x {_num(min(xs))} to {_num(max(xs))}, y {_num(min(ys))} to {_num(max(ys))}"


def _size_text(height: int, width: int, res: float, metres: float, chunk_px: int) -> str:
    km = res * metres / 1000.0
    chunks = _n_chunks(height, chunk_px) * _n_chunks(width, chunk_px)
    return (f"{height:,} x {width:,} px = {height * width:,} px, {width * km:,.1f} x {height * km:,.1f} km "
            f"at {res:g} m, {chunks:,} chunks of {chunk_px} px")


def _check_same_storage(info: _TileInfo, date: str, first: _TileInfo, first_date: str,
                        bands: Sequence[int], names: Sequence[str] = BANDS) -> None:
    """Refuse a tile whose data type or declared band scale / offset differs from the first tile."""
    why = ("both dates must be stored the same way (same data type and scale)" if date != first_date
           else "all tiles must be stored the same way (same data type and scale)")
    if info.dtype != first.dtype:
        raise BadRasterError(info.path, f"{date} tile is {info.dtype} but {first_date} tile "
                                        f"{first.path} is {first.dtype}: {why}")
    for name, index in zip(names, bands):
        mine = (_band_value(info.scales, index, 1.0), _band_value(info.offsets, index, 0.0))
        theirs = (_band_value(first.scales, index, 1.0), _band_value(first.offsets, index, 0.0))
        if mine != theirs:
            raise BadRasterError(info.path, f"{date} tile declares scale {mine[0]:g} and offset "
                                            f"{mine[1]:g} for band {index} ({name}) but {first_date} "
                                            f"tile {first.path} declares {theirs[0]:g} and "
                                            f"{theirs[1]:g}: {why}")


def _band_value(values: tuple[float, ...], index: int, default: float) -> float:
    v = values[index - 1] if index - 1 < len(values) else None
    return default if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _check_tile_size(info: _TileInfo, date: str, max_grid_pixels: int, chunk_px: int) -> None:
    if info.height * info.width > max_grid_pixels:
        size = _size_text(info.height, info.width, info.transform.a, _metres_per_unit(info.crs), chunk_px)
        raise BadRasterError(info.path, f"{date} tile declares {size}, more than max_grid_pixels "
                                        f"{max_grid_pixels:,}: check its size and resolution")


def _without_each(values: np.ndarray, largest: bool) -> np.ndarray:
    """For each i, the min (or max) of ``values`` without element i."""
    if len(values) == 1:
        return values.copy()
    order = np.argsort(values, kind="stable")
    first, second = (order[-1], order[-2]) if largest else (order[0], order[1])
    out = np.full(len(values), values[first], dtype=values.dtype)
    out[first] = values[second]
    return out


def _check_grid_size(grid: Grid, dated: Sequence[tuple[str, _Tile]], max_grid_pixels: int,
                     chunk_px: int) -> None:
    """Refuse a union grid over ``max_grid_pixels``, naming the tile that lies farthest out."""
    if grid.height * grid.width <= max_grid_pixels:
        return
    r0 = np.array([t.row_off for _, t in dated], dtype=np.float64)
    c0 = np.array([t.col_off for _, t in dated], dtype=np.float64)
    r1 = r0 + np.array([t.height for _, t in dated], dtype=np.float64)
    c1 = c0 + np.array([t.width for _, t in dated], dtype=np.float64)
    heights = _without_each(r1, True) - _without_each(r0, False)
    widths = _without_each(c1, True) - _without_each(c0, False)
    # the tile whose removal shrinks the grid most; among equals, the largest tile
    k = int(np.lexsort((-(r1 - r0) * (c1 - c0), heights * widths))[0])
    date, tile = dated[k]
    size = _size_text(grid.height, grid.width, grid.res[0], _metres_per_unit(grid.crs), chunk_px)
    raise BadRasterError(tile.path, f"the imagery grid (the union of the tiles of both dates) would be "
                                    f"{size}, more than max_grid_pixels {max_grid_pixels:,}; this "
                                    f"{date} tile lies farthest out (without it: {int(heights[k]):,} x "
                                    f"{int(widths[k]):,} px): check its georeference, or split the run")


def _box(t: _Tile) -> shapely.Polygon:
    return shapely.box(t.col_off, t.row_off, t.col_off + t.width, t.row_off + t.height)


def _footprint_text(grid: Grid, tiles: Sequence[_Tile], named: _Tile, union: shapely.Geometry) -> str:
    others = len({t.path for t in tiles} - {named.path})
    more = f" and {others} more" if others else ""
    c0, r0, c1, r1 = union.bounds
    return f"{named.path}{more}, {_extent(grid, r0, c0, r1, c1)}"


def _check_overlap(grid: Grid, before: Sequence[_Tile], after: Sequence[_Tile], min_overlap: float) -> None:
    """Refuse before / after footprints that do not overlap, or overlap on a sliver only."""
    fb = shapely.union_all([_box(t) for t in before])
    fa = shapely.union_all([_box(t) for t in after])
    common = shapely.intersection(fb, fa)
    if common.area <= 0:
        raise BadRasterError(after[0].path, f"the after tiles ({_footprint_text(grid, after, after[0], fa)}) "
                                            f"do not overlap the before tiles "
                                            f"({_footprint_text(grid, before, before[0], fb)}) at all: both "
                                            "dates must cover the same area (check the imagery globs and "
                                            "the tiles' georeference)")
    smaller, smaller_px = min((("before", fb.area), ("after", fa.area)), key=lambda x: x[1])
    share = common.area / smaller_px
    if share >= min_overlap:
        return
    # name the pair of tiles that overlap most
    def rects(tiles: Sequence[_Tile]) -> np.ndarray:
        return np.array([(t.row_off, t.col_off, t.row_off + t.height, t.col_off + t.width)
                         for t in tiles], dtype=np.float64)
    rb, ra = rects(before)[:, None, :], rects(after)[None, :, :]
    rows = np.clip(np.minimum(rb[..., 2], ra[..., 2]) - np.maximum(rb[..., 0], ra[..., 0]), 0, None)
    cols = np.clip(np.minimum(rb[..., 3], ra[..., 3]) - np.maximum(rb[..., 1], ra[..., 1]), 0, None)
    ib, ia = np.unravel_index(int(np.argmax(rows * cols)), rows.shape)
    pair = (before[int(ib)], after[int(ia)])
    m2 = grid.pixel_area * _metres_per_unit(grid.crs) ** 2
    c0, r0, c1, r1 = common.bounds
    raise BadRasterError(pair[1].path, f"the before and after tiles overlap on only {_pct(share)} % of the "
                                       f"smaller ({smaller}) footprint ({_area(common.area * m2)} of "
                                       f"{_area(smaller_px * m2)}, {_extent(grid, r0, c0, r1, c1)}; "
                                       f"with before tile {pair[0].path}): change is found only where "
                                       f"both dates have tiles, and an overlap under "
                                       f"{_pct(min_overlap)} % of either date means the two dates do not "
                                       "show the same area (check the imagery globs and the tiles' "
                                       "georeference)")


def _mask_pixels(mask: _Mask, grid: Grid) -> tuple[int, int, int, int]:
    """Rows r0..r1 and cols c0..c1 (end-exclusive) of the grid pixels a mask at least partly overlaps."""
    g = grid.transform
    cols = ((mask.x0 - g.c) / g.a, (mask.x0 + mask.xres * mask.width - g.c) / g.a)
    rows = ((mask.y0 - g.f) / g.e, (mask.y0 + mask.yres * mask.height - g.f) / g.e)
    return (math.floor(min(rows) + _ALIGN_TOL), math.floor(min(cols) + _ALIGN_TOL),
            math.ceil(max(rows) - _ALIGN_TOL), math.ceil(max(cols) - _ALIGN_TOL))


def _check_mask_cover(grid: Grid, date: str, masks: Sequence[_Mask], tiles: Sequence[_Tile]) -> None:
    """Every tile a mask of its date overlaps (with area) must be covered by that date's masks.

    To pixel tolerance: every grid pixel of the tile must be at least partly under a mask.
    """
    if not masks:
        return
    rects = [(m, _mask_pixels(m, grid)) for m in masks]
    seen = set()
    for tile in tiles:
        if tile.path in seen:
            continue
        seen.add(tile.path)
        t0, t1 = (tile.row_off, tile.col_off), (tile.row_off + tile.height, tile.col_off + tile.width)
        parts = []
        for m, (r0, c0, r1, c1) in rects:
            r0, c0, r1, c1 = max(r0, t0[0]), max(c0, t0[1]), min(r1, t1[0]), min(c1, t1[1])
            if r0 < r1 and c0 < c1:
                parts.append((m, (r1 - r0) * (c1 - c0), shapely.box(c0, r0, c1, r1)))
        if not parts:
            continue
        covered = shapely.union_all([p[2] for p in parts]).area
        if covered >= tile.height * tile.width:
            continue
        main = max(parts, key=lambda p: p[1])[0]
        others = len(parts) - 1
        with_others = f" (with {others} other {date} mask{'s' if others > 1 else ''})" if others else ""
        raise BadRasterError(main.path, f"{date} cloud mask{with_others} covers only "
                                        f"{_pct(covered / (tile.height * tile.width))} % of {date} tile "
                                        f"{tile.path}: a mask must cover its whole tile (cloud outside "
                                        "the mask would be taken for clear ground and read as change)")


def open_imagery(config: ImageryConfig, chunk_px: int = 1024, *,
                 max_grid_pixels: int = 10_000_000_000, min_overlap: float = 0.01) -> "Imagery":
    """Check the tiles and masks of both dates and expose them on one common grid.

    Only metadata is read here: every check runs before any pixel is read or any array is built.

    Parameters
    ----------
    config
        The imagery section of the run config: tiles, ``bands`` (blue, green, red and
        optionally nir), ``resample``, cloud masks.
    chunk_px
        Chunk size in pixels (rows and columns).
    max_grid_pixels
        Largest grid (union of the tiles of both dates), and largest single tile, in pixels.
    min_overlap
        Smallest overlap of the before and after footprints, as a share of the smaller one.

    Returns
    -------
    Imagery

    Raises
    ------
    InputFileError
        A file does not exist.
    BadRasterError
        A file is unreadable, has too few bands, a geographic / missing CRS, a rotated
        transform, or a CRS / resolution / data type / band scale different from the first tile,
        or is not pixel-aligned with it while ``resample`` is ``none``; the two dates do not overlap (or on less than ``min_overlap``); the grid or a
        tile is over ``max_grid_pixels``; a cloud mask does not cover the whole of a tile it
        overlaps, or covers none.
    """
    if not config.before or not config.after:
        raise ConfigError("imagery: both dates need at least one tile")
    missing = [name for name in REQUIRED_BANDS if name not in config.bands]
    if missing:
        raise ConfigError(f"imagery.bands: no {missing[0]} band (blue, green and red are required)")
    names = tuple(name for name in BANDS if name in config.bands)
    bands = tuple(int(config.bands[name]) for name in names)
    resample = getattr(config, "resample", "none") or "none"
    if resample != "none" and resample not in Resampling.__members__:
        raise ConfigError(f"imagery.resample: unknown method {resample!r}")
    infos = []
    dates = []
    dtypes = {}
    first: tuple[_TileInfo, str] | None = None
    for date, paths in (("before", config.before), ("after", config.after)):
        for path in paths:
            info = _open_info(path, f"{date} tile")
            for name, index in zip(names, bands):
                if index > info.count:
                    no_nir = (" (imagery without near-infrared: set imagery.bands to rgb, bgr or "
                              "[blue, green, red] indexes)" if name == "nir" else "")
                    raise BadRasterError(path, f"has {info.count} band(s) but the config reads "
                                               f"band {index} as {name}{no_nir}")
            _check_crs(info, f"{date} tile")
            _check_north_up(info, f"{date} tile")
            _check_tile_size(info, date, max_grid_pixels, chunk_px)
            first = first or (info, date)
            _check_same_storage(info, date, first[0], first[1], bands, names)
            infos.append(info)
            dates.append(date)
            dtypes.setdefault(date, info.dtype)
    grid, placed, resampled = _place_tiles(infos, resample, dates, [bands] * len(infos))
    before_tiles = tuple(placed[str(p)] for p in config.before)
    after_tiles = tuple(placed[str(p)] for p in config.after)
    _check_overlap(grid, before_tiles, after_tiles, min_overlap)
    _check_grid_size(grid, [("before", t) for t in before_tiles] + [("after", t) for t in after_tiles],
                     max_grid_pixels, chunk_px)
    masks = {}
    for date, paths, tiles in (("before", config.before_cloud_masks, before_tiles),
                               ("after", config.after_cloud_masks, after_tiles)):
        masks[date] = tuple(_check_mask(_open_info(p, f"{date} cloud mask"), grid, tiles, date)
                            for p in paths)
        _check_mask_cover(grid, date, masks[date], tiles)
    return Imagery.build(grid, before_tiles, after_tiles, masks["before"] + masks["after"], bands,
                         chunk_px, dtypes["before"], dtypes["after"], band_names=names,
                         resampled=resampled)


# --------------------------------------------------------------------------- chunk readers
def _slice_bounds(key: slice, n: int) -> tuple[int, int]:
    start, stop, step = key.indices(n)
    if step != 1:
        raise IndexError("only contiguous windows can be read")
    return start, max(start, stop)


class _DateReader:
    """Array-like over one date's tiles; ``reader[bands, rows, cols]`` reads that window.

    Plain data only (paths, offsets), so it pickles to dask workers; each thread opens a file on
    its first read and keeps it open (:func:`_dataset`).
    """

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, tiles: tuple[_Tile, ...], bands: tuple[int, ...], height: int, width: int):
        self.tiles = tiles
        self.bands = bands
        self.shape = (len(bands), height, width)

    def within(self, r0: int, r1: int, c0: int, c1: int) -> "_DateReader":
        """The same reader over only the tiles that overlap rows ``r0:r1``, cols ``c0:c1``
        (a read inside that window gives the same pixels; tiles keep their order)."""
        tiles = tuple(t for t in self.tiles
                      if t.row_off < r1 and t.row_off + t.height > r0
                      and t.col_off < c1 and t.col_off + t.width > c0)
        return _DateReader(tiles, self.bands, self.shape[1], self.shape[2])

    def __getitem__(self, key: tuple[slice, slice, slice]) -> np.ndarray:
        """Read a window: float32 ``(bands, rows, cols)``, NaN where no tile has data.

        Tiles are taken in order; a tile fills only the pixels where it has data and no earlier
        tile did. Values are cast straight into the output (no boolean-indexed copies): a tile
        with data everywhere in a part nothing filled yet is one plain assignment, any other a
        masked copy.
        """
        b0, b1 = _slice_bounds(key[0], self.shape[0])
        r0, r1 = _slice_bounds(key[1], self.shape[1])
        c0, c1 = _slice_bounds(key[2], self.shape[2])
        out = np.full((len(self.bands), r1 - r0, c1 - c0), np.nan, dtype=np.float32)
        if out.size == 0:
            return out[b0:b1]
        filled: np.ndarray | None = None  # None: no tile has filled anything yet
        with rasterio.Env(**_ENV):
            for tile in self.tiles:
                tr0, tr1 = max(r0, tile.row_off), min(r1, tile.row_off + tile.height)
                tc0, tc1 = max(c0, tile.col_off), min(c1, tile.col_off + tile.width)
                if tr0 >= tr1 or tc0 >= tc1:
                    continue
                win = Window(tc0 - tile.col_off, tr0 - tile.row_off, tc1 - tc0, tr1 - tr0)
                values, ok = _read_tile(tile, self.bands, win)
                sub = (slice(tr0 - r0, tr1 - r0), slice(tc0 - c0, tc1 - c0))
                take = ok
                if filled is None:
                    filled = np.zeros(out.shape[1:], dtype=bool)
                else:
                    earlier = filled[sub]
                    if earlier.any():
                        take = ~earlier if ok is None else ok & ~earlier
                target = out[(slice(None),) + sub]
                if take is None:
                    target[...] = values
                    filled[sub] = True
                else:
                    np.copyto(target, values, casting="unsafe", where=take)
                    filled[sub] |= take
                if filled.all():
                    break
        return out[b0:b1]


def _read_tile(tile: _Tile, bands: tuple[int, ...], win: Window) -> tuple[np.ndarray, np.ndarray | None]:
    """``(values, ok)`` of ``bands`` in a window of a tile (see module doc for what has data).

    ``values`` is ``(len(bands), h, w)``: the file's integer values as read, or float32 for a
    float file; ``ok`` is where every band has data, None when every pixel has.
    """
    indexes = list(bands)
    nodatavals: Sequence[float | None] = tile.nodata
    masks = None
    try:
        src = _dataset(tile.path)
        if tile.warp is None:
            raw = src.read(indexes=indexes, window=win)
            if tile.masked:
                masks = src.read_masks(indexes=indexes, window=win)
        else:
            # The warped grid says where it has data with the source's nodata value (kept by
            # the VRT, and written where the source has none) or with an alpha band: the
            # source's own, or one added (it then also carries the source's internal mask).
            crs_wkt, transform, method = tile.warp
            has_alpha = ColorInterp.alpha in src.colorinterp
            with WarpedVRT(src, crs=crs_wkt or src.crs, transform=Affine(*transform),
                           width=tile.width, height=tile.height,
                           resampling=Resampling[method],
                           add_alpha=not has_alpha and src.nodata is None) as vrt:
                raw = vrt.read(indexes=indexes, window=win)
                nodatavals = vrt.nodatavals
                if ColorInterp.alpha in vrt.colorinterp:
                    alpha = vrt.colorinterp.index(ColorInterp.alpha) + 1
                    masks = vrt.read(alpha, window=win)[None]
    except (RasterioError, OSError) as exc:
        raise BadRasterError(tile.path, f"read failed ({_one_line(exc)})") from None
    ok: np.ndarray | None = None
    for k, index in enumerate(indexes):
        nodata = nodatavals[index - 1] if index - 1 < len(nodatavals) else None
        if nodata is not None and not math.isnan(nodata):
            has = raw[k] != nodata
            ok = has if ok is None else ok & has
    if masks is not None:
        has = np.all(masks != 0, axis=0)
        ok = has if ok is None else ok & has
    values = raw
    if np.issubdtype(raw.dtype, np.floating):
        values = raw.astype(np.float32, copy=False)  # a float64 value beyond float32 is no data
        has = np.all(np.isfinite(values), axis=0)
        ok = has if ok is None else ok & has
    if ok is not None and ok.all():
        ok = None
    return values, ok


def _cover_ranges(g0: float, gstep: float, start: int, stop: int,
                  m0: float, mstep: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For grid cells ``start..stop-1`` along one axis, the first/last mask cell overlapping each.

    A cell with no overlapping mask cell gets ``lo > hi``.
    """
    edges = (g0 + gstep * np.arange(start, stop + 1, dtype=np.float64) - m0) / mstep
    lo = np.floor(edges[:-1] + _ALIGN_TOL).astype(np.int64)
    hi = np.ceil(edges[1:] - _ALIGN_TOL).astype(np.int64) - 1
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, n - 1)
    return lo, hi


def _any_over_ranges(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, axis: int) -> np.ndarray:
    """``any(values[lo[i]:hi[i]+1])`` along ``axis`` for each i (via cumulative sums)."""
    cs = np.cumsum(values, axis=axis, dtype=np.int64)
    cs = np.concatenate([np.zeros_like(np.take(cs, [0], axis=axis)), cs], axis=axis)
    empty = lo > hi
    lo_c = np.where(empty, 0, lo)
    hi_c = np.where(empty, 0, hi + 1)
    counts = np.take(cs, hi_c, axis=axis) - np.take(cs, lo_c, axis=axis)
    shape = [1, 1]
    shape[axis] = -1
    return (counts > 0) & ~empty.reshape(shape)


def _one_to_one(lo: np.ndarray, hi: np.ndarray, hit: np.ndarray) -> int | None:
    """Where along the axis the mask cells ``lo[hit].min()..`` start, when the grid cells they hit
    are consecutive and each overlaps exactly the next mask cell (a mask on the grid's pixels);
    else None (:func:`_any_over_ranges` is needed)."""
    at = np.flatnonzero(hit)
    if at.size == 0 or at[-1] - at[0] + 1 != at.size:
        return None
    first = lo[at]
    if not (np.array_equal(first, hi[at]) and np.array_equal(first, first[0] + np.arange(at.size))):
        return None
    return int(at[0])


class _CloudReader:
    """Array-like over the cloud masks of both dates; ``reader[rows, cols]`` is bool."""

    ndim = 2
    dtype = np.dtype(bool)

    def __init__(self, masks: tuple[_Mask, ...], transform: Affine, height: int, width: int):
        self.masks = masks
        self.gx0, self.gxres = transform.c, transform.a
        self.gy0, self.gyres = transform.f, transform.e
        self.shape = (height, width)

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        r0, r1 = _slice_bounds(key[0], self.shape[0])
        c0, c1 = _slice_bounds(key[1], self.shape[1])
        out = np.zeros((r1 - r0, c1 - c0), dtype=bool)
        if out.size == 0:
            return out
        with rasterio.Env(**_ENV):
            for m in self.masks:
                rlo, rhi = _cover_ranges(self.gy0, self.gyres, r0, r1, m.y0, m.yres, m.height)
                clo, chi = _cover_ranges(self.gx0, self.gxres, c0, c1, m.x0, m.xres, m.width)
                rows_hit, cols_hit = rlo <= rhi, clo <= chi
                if not rows_hit.any() or not cols_hit.any():
                    continue
                mr0, mr1 = int(rlo[rows_hit].min()), int(rhi[rows_hit].max()) + 1
                mc0, mc1 = int(clo[cols_hit].min()), int(chi[cols_hit].max()) + 1
                try:
                    src = _dataset(m.path)
                    data = src.read(1, window=Window(mc0, mr0, mc1 - mc0, mr1 - mr0)) != 0
                except (RasterioError, OSError) as exc:
                    raise BadRasterError(m.path, f"read failed ({_one_line(exc)})") from None
                if not data.any():
                    continue
                rows_at = _one_to_one(rlo, rhi, rows_hit)
                cols_at = _one_to_one(clo, chi, cols_hit)
                if rows_at is not None and cols_at is not None:
                    # a mask on the grid's own pixels: each grid pixel is one mask pixel
                    out[rows_at:rows_at + data.shape[0], cols_at:cols_at + data.shape[1]] |= data
                    continue
                by_row = _any_over_ranges(data, rlo - mr0, rhi - mr0, axis=0)
                out |= _any_over_ranges(by_row, clo - mc0, chi - mc0, axis=1)
        return out


# --------------------------------------------------------------------------- the result
@dataclass(frozen=True)
class Imagery:
    """Both dates on one grid, as lazy dask arrays (see the module docstring).

    Attributes
    ----------
    grid
        The common grid.
    before, after
        ``(n_bands, H, W)`` float32 in the order of ``band_names``; NaN = no data.
    cloud
        ``(H, W)`` bool, cloud in either date.
    before_dtype, after_dtype
        Data type of the tiles of each date (e.g. ``"uint16"``).
    n_tiles
        Number of tiles (before, after).
    band_names
        The bands of ``before`` / ``after`` in order: ``("blue", "green", "red")`` or
        ``("blue", "green", "red", "nir")``.
    resampled
        The tiles read onto the grid with resampling (``imagery.resample``, or the after image
        of a pair warped onto the before image's grid), with their offsets.
    """

    grid: Grid
    before: da.Array
    after: da.Array
    cloud: da.Array
    before_dtype: str
    after_dtype: str
    n_tiles: tuple[int, int]
    band_names: tuple[str, ...] = BANDS
    resampled: tuple[Resampled, ...] = ()

    @classmethod
    def build(cls, grid: Grid, before_tiles: tuple[_Tile, ...], after_tiles: tuple[_Tile, ...],
              masks: tuple[_Mask, ...], bands: tuple[int, ...], chunk_px: int,
              before_dtype: str, after_dtype: str, *, band_names: tuple[str, ...] | None = None,
              after_bands: tuple[int, ...] | None = None,
              resampled: tuple[Resampled, ...] = ()) -> "Imagery":
        """Wrap readers into dask arrays with spatial chunks of ``chunk_px``.

        ``bands`` are the 1-based indexes read (in the order of ``band_names``, default blue,
        green, red, NIR) from the before tiles, and from the after tiles unless ``after_bands``
        gives theirs.
        """
        names = tuple(band_names) if band_names is not None else BANDS[:len(bands)]
        if len(names) != len(bands) or (after_bands is not None and len(after_bands) != len(bands)):
            raise ValueError(f"band_names {names} do not match bands {bands} / {after_bands}")
        rows = axis_chunks(grid.height, chunk_px)
        cols = axis_chunks(grid.width, chunk_px)
        arrays = []
        for label, tiles, date_bands in (("before", before_tiles, tuple(bands)),
                                         ("after", after_tiles, tuple(after_bands or bands))):
            reader = _DateReader(tiles, date_bands, grid.height, grid.width)
            name = f"landcheck-{label}-" + tokenize(tiles, date_bands, grid.height, grid.width,
                                                    rows, cols)
            arrays.append(da.from_array(reader, chunks=((len(date_bands),), rows, cols), name=name,
                                        asarray=False, fancy=False,
                                        meta=np.empty((0, 0, 0), dtype=np.float32)))
        transform = tuple(grid.transform)
        creader = _CloudReader(masks, grid.transform, grid.height, grid.width)
        cname = "landcheck-cloud-" + tokenize(masks, transform, grid.shape, rows, cols)
        cloud = da.from_array(creader, chunks=(rows, cols), name=cname, asarray=False,
                              fancy=False, meta=np.empty((0, 0), dtype=bool))
        return cls(grid, arrays[0], arrays[1], cloud, before_dtype, after_dtype,
                   (len(before_tiles), len(after_tiles)), names, tuple(resampled))

    @property
    def chunks(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Spatial chunking (rows, cols)."""
        return self.cloud.chunks

    @property
    def data_valid(self) -> da.Array:
        """``(H, W)`` bool: data in every band of both dates."""
        return da.isfinite(self.before).all(axis=0) & da.isfinite(self.after).all(axis=0)

    @property
    def valid(self) -> da.Array:
        """``(H, W)`` bool: data in both dates and no cloud."""
        return self.data_valid & ~self.cloud
