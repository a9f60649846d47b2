"""Imagery I/O: before/after GeoTIFF tiles and cloud masks -> one grid of lazy dask arrays.

:func:`open_imagery` checks every tile and mask up front (one-line :class:`BadRasterError`
naming the file), builds ONE grid for both dates -- the union of all tile footprints, in the
tiles' common CRS and resolution -- and exposes:

* ``before`` / ``after``: ``(4, H, W)`` float32 in band order blue, green, red, NIR, NaN where
  no tile has data (outside every tile, or a tile's nodata value -- 0 when it declares none --
  in any of the four bands). Where tiles overlap, the first tile (in config order) with data wins.
* ``cloud``: ``(H, W)`` bool, True where a cloud mask of either date flags the pixel: a grid
  pixel is cloudy when any nonzero mask pixel overlaps it (masks may be coarser or offset).
* ``valid``: data in both dates and no cloud.

Every chunk is read on demand with rasterio windows from only the files that overlap it, the
files being opened inside the task (nothing open in the graph, tasks are picklable), so
memory is bounded by the chunk size and the arrays run on any dask scheduler.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import dask.array as da
import numpy as np
import rasterio
from affine import Affine
from dask.base import tokenize
from rasterio.errors import RasterioError
from rasterio.windows import Window

from detection.grid import Grid
from pipeline.config import BANDS, ImageryConfig
from pipeline.errors import BadRasterError, ConfigError, InputFileError

__all__ = ["Imagery", "open_imagery", "axis_chunks", "MIN_LAST_CHUNK"]

#: a trailing chunk smaller than this is merged into the one before it (at least the largest
#: clean-up overlap, 2 x 10 + 2 x 10 px, so map_overlap never sees a chunk thinner than its depth)
MIN_LAST_CHUNK = 40
_ALIGN_TOL = 1e-6  # pixels
# GDAL settings for every read. Sidecar files are looked for (a tile may carry its georeference in
# a .tfw/.prj or an .ovr); on slow network storage GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR would
# skip that directory listing, at the price of ignoring those sidecars.
_ENV: dict[str, str] = {}


@dataclass(frozen=True)
class _Tile:
    """An image tile placed on the grid (pixel-aligned)."""

    path: str
    row_off: int
    col_off: int
    height: int
    width: int
    nodata: float


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
        with rasterio.Env(**_ENV), rasterio.open(path) as src:
            return _TileInfo(str(path), src.crs, src.transform, src.height, src.width, src.count,
                             src.dtypes[0], src.nodata)
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


def _place_tiles(infos: Sequence[_TileInfo]) -> tuple[Grid, dict[str, _Tile]]:
    """Check CRS / resolution / alignment against the first tile and build the union grid."""
    ref = infos[0]
    a, e = ref.transform.a, ref.transform.e
    offsets = {}
    for info in infos:
        if info.crs != ref.crs:
            raise BadRasterError(info.path, f"CRS {info.crs.to_string()} differs from "
                                            f"{ref.crs.to_string()} of {ref.path}")
        t = info.transform
        if not (math.isclose(t.a, a, rel_tol=1e-9) and math.isclose(t.e, e, rel_tol=1e-9)):
            raise BadRasterError(info.path, f"resolution {t.a:g} x {abs(t.e):g} differs from "
                                            f"{a:g} x {abs(e):g} of {ref.path}")
        fc = (t.c - ref.transform.c) / a
        fr = (t.f - ref.transform.f) / e
        if abs(fc - round(fc)) > _ALIGN_TOL or abs(fr - round(fr)) > _ALIGN_TOL:
            raise BadRasterError(info.path, f"not pixel-aligned with {ref.path} (offset "
                                            f"{fc - round(fc):+.3f}, {fr - round(fr):+.3f} px)")
        offsets[info.path] = (int(round(fr)), int(round(fc)))
    min_row = min(r for r, _ in offsets.values())
    min_col = min(c for _, c in offsets.values())
    max_row = max(offsets[i.path][0] + i.height for i in infos)
    max_col = max(offsets[i.path][1] + i.width for i in infos)
    left = next(i.transform.c for i in infos if offsets[i.path][1] == min_col)
    top = next(i.transform.f for i in infos if offsets[i.path][0] == min_row)
    grid = Grid(max_row - min_row, max_col - min_col, Affine(a, 0.0, left, 0.0, e, top), ref.crs)
    tiles = {
        i.path: _Tile(i.path, offsets[i.path][0] - min_row, offsets[i.path][1] - min_col,
                      i.height, i.width, float(i.nodata) if i.nodata is not None else 0.0)
        for i in infos
    }
    return grid, tiles


def _check_mask(info: _TileInfo, grid: Grid, date_tiles: Sequence[_Tile], date: str) -> _Mask:
    what = f"{date} cloud mask"
    if info.count < 1:
        raise BadRasterError(info.path, f"{what} has no band")
    if info.dtype != "uint8":
        raise BadRasterError(info.path, f"{what} must be uint8 (nonzero = cloud), got {info.dtype}")
    _check_crs(info, what)
    if info.crs != grid.crs:
        raise BadRasterError(info.path, f"{what} CRS {info.crs.to_string()} differs from the "
                                        f"imagery CRS {grid.crs.to_string()}")
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


def open_imagery(config: ImageryConfig, chunk_px: int = 1024) -> "Imagery":
    """Check the tiles and masks of both dates and expose them on one common grid.

    Parameters
    ----------
    config
        The imagery section of the run config.
    chunk_px
        Chunk size in pixels (rows and columns).

    Returns
    -------
    Imagery

    Raises
    ------
    InputFileError
        A file does not exist.
    BadRasterError
        A file is unreadable, has too few bands, a geographic / missing CRS, a rotated
        transform, or a CRS / resolution / alignment different from the first tile.
    """
    if not config.before or not config.after:
        raise ConfigError("imagery: both dates need at least one tile")
    bands = tuple(int(config.bands[name]) for name in BANDS)
    infos = []
    dtypes = {}
    for date, paths in (("before", config.before), ("after", config.after)):
        for path in paths:
            info = _open_info(path, f"{date} tile")
            for name, index in zip(BANDS, bands):
                if index > info.count:
                    raise BadRasterError(path, f"has {info.count} band(s) but the config reads "
                                               f"band {index} as {name}")
            _check_crs(info, f"{date} tile")
            _check_north_up(info, f"{date} tile")
            infos.append(info)
            dtypes.setdefault(date, info.dtype)
    grid, placed = _place_tiles(infos)
    before_tiles = tuple(placed[str(p)] for p in config.before)
    after_tiles = tuple(placed[str(p)] for p in config.after)
    masks = {}
    for date, paths, tiles in (("before", config.before_cloud_masks, before_tiles),
                               ("after", config.after_cloud_masks, after_tiles)):
        masks[date] = tuple(_check_mask(_open_info(p, f"{date} cloud mask"), grid, tiles, date)
                            for p in paths)
    return Imagery.build(grid, before_tiles, after_tiles, masks["before"] + masks["after"], bands,
                         chunk_px, dtypes["before"], dtypes["after"])


# --------------------------------------------------------------------------- chunk readers
def _slice_bounds(key: slice, n: int) -> tuple[int, int]:
    start, stop, step = key.indices(n)
    if step != 1:
        raise IndexError("only contiguous windows can be read")
    return start, max(start, stop)


class _DateReader:
    """Array-like over one date's tiles; ``reader[bands, rows, cols]`` reads that window.

    Plain data only (paths, offsets), so it pickles to dask workers; files are opened per read.
    """

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, tiles: tuple[_Tile, ...], bands: tuple[int, ...], height: int, width: int):
        self.tiles = tiles
        self.bands = bands
        self.shape = (len(bands), height, width)

    def __getitem__(self, key: tuple[slice, slice, slice]) -> np.ndarray:
        b0, b1 = _slice_bounds(key[0], self.shape[0])
        r0, r1 = _slice_bounds(key[1], self.shape[1])
        c0, c1 = _slice_bounds(key[2], self.shape[2])
        out = np.full((len(self.bands), r1 - r0, c1 - c0), np.nan, dtype=np.float32)
        if out.size == 0:
            return out[b0:b1]
        filled = np.zeros(out.shape[1:], dtype=bool)
        with rasterio.Env(**_ENV):
            for tile in self.tiles:
                tr0, tr1 = max(r0, tile.row_off), min(r1, tile.row_off + tile.height)
                tc0, tc1 = max(c0, tile.col_off), min(c1, tile.col_off + tile.width)
                if tr0 >= tr1 or tc0 >= tc1:
                    continue
                win = Window(tc0 - tile.col_off, tr0 - tile.row_off, tc1 - tc0, tr1 - tr0)
                try:
                    with rasterio.open(tile.path) as src:
                        data = src.read(indexes=list(self.bands), window=win).astype(np.float32)
                except RasterioError as exc:
                    raise BadRasterError(tile.path, f"read failed ({_one_line(exc)})") from None
                ok = np.all((data != np.float32(tile.nodata)) & np.isfinite(data), axis=0)
                sub = (slice(tr0 - r0, tr1 - r0), slice(tc0 - c0, tc1 - c0))
                take = ok & ~filled[sub]
                out[(slice(None),) + sub][:, take] = data[:, take]
                filled[sub] |= take
                if filled.all():
                    break
        return out[b0:b1]


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
                    with rasterio.open(m.path) as src:
                        data = src.read(1, window=Window(mc0, mr0, mc1 - mc0, mr1 - mr0)) != 0
                except RasterioError as exc:
                    raise BadRasterError(m.path, f"read failed ({_one_line(exc)})") from None
                if not data.any():
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
        ``(4, H, W)`` float32 blue, green, red, NIR; NaN = no data.
    cloud
        ``(H, W)`` bool, cloud in either date.
    before_dtype, after_dtype
        Data type of the tiles of each date (e.g. ``"uint16"``).
    n_tiles
        Number of tiles (before, after).
    """

    grid: Grid
    before: da.Array
    after: da.Array
    cloud: da.Array
    before_dtype: str
    after_dtype: str
    n_tiles: tuple[int, int]

    @classmethod
    def build(cls, grid: Grid, before_tiles: tuple[_Tile, ...], after_tiles: tuple[_Tile, ...],
              masks: tuple[_Mask, ...], bands: tuple[int, ...], chunk_px: int,
              before_dtype: str, after_dtype: str) -> "Imagery":
        """Wrap readers into dask arrays with spatial chunks of ``chunk_px``."""
        rows = axis_chunks(grid.height, chunk_px)
        cols = axis_chunks(grid.width, chunk_px)
        arrays = []
        for label, tiles in (("before", before_tiles), ("after", after_tiles)):
            reader = _DateReader(tiles, bands, grid.height, grid.width)
            name = f"landcheck-{label}-" + tokenize(tiles, bands, grid.height, grid.width, rows, cols)
            arrays.append(da.from_array(reader, chunks=((len(bands),), rows, cols), name=name,
                                        asarray=False, fancy=False,
                                        meta=np.empty((0, 0, 0), dtype=np.float32)))
        creader = _CloudReader(masks, grid.transform, grid.height, grid.width)
        cname = "landcheck-cloud-" + tokenize(masks, tuple(grid.transform), grid.shape, rows, cols)
        cloud = da.from_array(creader, chunks=(rows, cols), name=cname, asarray=False,
                              fancy=False, meta=np.empty((0, 0), dtype=bool))
        return cls(grid, arrays[0], arrays[1], cloud, before_dtype, after_dtype,
                   (len(before_tiles), len(after_tiles)))

    @property
    def chunks(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Spatial chunking (rows, cols)."""
        return self.cloud.chunks

    @property
    def data_valid(self) -> da.Array:
        """``(H, W)`` bool: data in all four bands of both dates."""
        return da.isfinite(self.before).all(axis=0) & da.isfinite(self.after).all(axis=0)

    @property
    def valid(self) -> da.Array:
        """``(H, W)`` bool: data in both dates and no cloud."""
        return self.data_valid & ~self.cloud
