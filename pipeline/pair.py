"""The ``landcheck detect`` command's inputs and outputs: any image pair, and the output folder.

Inputs
------
:func:`open_pair` opens an arbitrary before / after pair -- any raster GDAL reads (GeoTIFF,
JPEG2000, PNG, JPEG, ...) -- as the same lazy :class:`~pipeline.imagery.Imagery` the tile
pipeline builds, so :func:`pipeline.detect.detect_on_imagery` runs on it unchanged:

* **Georeferenced pair** (both have a CRS and a geotransform): the grid is the before image's
  (projected CRS, north-up). An after image on that grid (same CRS, same resolution,
  pixel-aligned) is read directly, anything else is read through a
  :class:`rasterio.vrt.WarpedVRT` onto the before grid with ``resample`` (``nearest`` by
  default; ``none`` refuses instead). The two must overlap on ``min_overlap`` of the smaller
  footprint. Areas are m².
* **Pair without georeference** (no CRS, no geotransform, no GCPs: a plain PNG or JPEG; rasterio
  calls it *not georeferenced*): compared pixel by pixel, so both must have the same width and
  height. The grid has the identity transform (x = column, y = row, y pointing down) and no
  CRS; areas are in pixels (``area_px``) and the minimum area too (:func:`choose_min_area`).
  One georeferenced image and one without is refused.
* **Bands**: ``bands`` (``--bands``: ``rgb``, ``rgbn``, ``bgr``, ``bgrn`` or indexes
  ``3,2,1[,4]`` for blue, green, red[, nir]) applies to both images. Without it each file's
  colour interpretation decides when it names red, green and blue (and NIR, GDAL >= 3.10); a
  3-band file that says nothing is taken as RGB (PNG, JPEG, most aerial mosaics); anything else
  is refused, asking for ``--bands``. Bands the colour interpretation leaves unnamed are not used
  (a note says how to use a 4th band as NIR). An alpha band is a mask, never a band.
* **Nodata**: only where a file says so (declared nodata value, internal mask, alpha), as in
  :mod:`pipeline.imagery`.

Outputs
-------
:func:`run_detect` claims the output folder (the rules of :mod:`pipeline.output_folder`: inputs
are never touched, one run at a time, staged and swapped into place), runs the detector and
writes ``change_mask.tif`` (uint8 on the imagery grid: 1 change, 0 no change, 255 no data in
either date or cloud; DEFLATE, tiled; the kept patches rasterised, which reproduces their
pixels exactly since the patches follow pixel edges), ``patches.gpkg`` (layer ``patches``),
``detection.json`` (what was found and how) and ``manifest.json`` (inputs and outputs with
sha256, so a later run may replace the folder).
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import dask
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import rasterize
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from detection.grid import Grid
from pipeline import output_folder
from pipeline.config import BANDS, REQUIRED_BANDS, DetectionConfig, band_mapping
from pipeline.diskio import writing
from pipeline.errors import BadRasterError, ConfigError, InputFileError, OutputError
from pipeline.manifest import hashed, landcheck_version, write_json
from pipeline.imagery import (Imagery, Resampled, _TileInfo, _Tile, _area, _check_crs, _check_north_up,
                              _crs_labels, _metres_per_unit, _open_info, _pct, _px, _same_crs)

__all__ = [
    "PAIR_RESAMPLE_DEFAULT",
    "PAIR_MIN_AREA_M2",
    "MIN_AREA_PX",
    "MASK_CHANGE",
    "MASK_NO_CHANGE",
    "MASK_NODATA",
    "PairInfo",
    "MinArea",
    "DetectResult",
    "open_pair",
    "choose_min_area",
    "patch_table",
    "write_change_mask",
    "run_detect",
]

#: ``--resample`` for a pair: the user gave exactly two images, so the after one is put on the
#: before grid unless told not to
PAIR_RESAMPLE_DEFAULT = "nearest"
#: default minimum patch area of the pair command (m²) ...
PAIR_MIN_AREA_M2 = 50.0
#: ... and never fewer pixels than this (also the default without georeference)
MIN_AREA_PX = 16
MASK_NO_CHANGE, MASK_CHANGE, MASK_NODATA = 0, 1, 255
_ALIGN_TOL = 1e-6
_SAME_RES_TOL = 1e-9
_BANDS_ASK = ("give --bands (rgb, rgbn, bgr, bgrn, or band indexes in the order blue,green,red[,nir] "
              "such as 3,2,1,4)")


# --------------------------------------------------------------------------- opening a pair
@dataclass(frozen=True)
class PairInfo:
    """How a pair was read (for detection.json).

    Attributes
    ----------
    georeferenced
        False for a pair compared pixel by pixel (areas in pixels).
    bands
        ``{"before": {...}, "after": {...}}`` band name -> 1-based index actually read.
    band_source
        ``{"before": ..., "after": ...}``: ``--bands ...``, ``colour interpretation``, ...
    resample
        The ``--resample`` method.
    notes
        Things worth telling the user (unused bands, resolution differences), one line each.
    """

    georeferenced: bool
    bands: dict[str, dict[str, int]]
    band_source: dict[str, str]
    resample: str
    notes: tuple[str, ...] = ()


def _is_plain(info: _TileInfo) -> bool:
    """True for a file without any georeference (no CRS, identity transform, no GCPs/RPCs)."""
    return info.crs is None and info.transform.is_identity and not info.gcps


def _check_georeference(info: _TileInfo, what: str) -> None:
    if info.gcps:
        raise BadRasterError(info.path, f"{what} is georeferenced by ground control points or RPCs "
                                        "only: orthorectify or warp it onto a map grid first "
                                        "(e.g. gdalwarp)")
    if info.crs is None and not info.transform.is_identity:
        raise BadRasterError(info.path, f"{what} has a geotransform but no CRS: add its CRS "
                                        "(e.g. a .prj file, or gdal_edit.py -a_srs EPSG:...)")


def _auto_bands(info: _TileInfo, what: str) -> tuple[dict[str, int], str, list[str]]:
    """Bands from the file's colour interpretation, or RGB for a 3-band file that names none."""
    ci = info.colorinterp
    found = {name: ci.index(name) + 1 for name in ("red", "green", "blue", "nir") if name in ci}
    notes: list[str] = []
    if all(name in found for name in REQUIRED_BANDS):
        bands = {name: found[name] for name in BANDS if name in found}
        unused = [k + 1 for k, c in enumerate(ci) if k + 1 not in bands.values() and c != "alpha"]
        if unused:
            which = ", ".join(f"{k} ({ci[k - 1]})" for k in unused)
            hint = (" (give --bands rgbn, or blue,green,red,nir indexes, to read it as "
                    "near-infrared)" if len(unused) == 1 and "nir" not in bands else "")
            notes.append(f"{info.path}: band {which} has no colour interpretation landcheck "
                         f"uses and is not read{hint}")
        return bands, "colour interpretation", notes
    named = ", ".join(ci)
    if info.count == 3:
        return {"red": 1, "green": 2, "blue": 3}, "3-band image without colour interpretation: rgb", notes
    raise BadRasterError(info.path, f"{what} has {info.count} bands and its colour interpretation "
                                    f"({named}) does not say which are red, green and blue: "
                                    f"{_BANDS_ASK}")


def _check_bands(info: _TileInfo, bands: Mapping[str, int], what: str, how: str) -> None:
    for name, index in bands.items():
        if index > info.count:
            raise BadRasterError(info.path, f"{what} has {info.count} band(s) but {how} reads band "
                                            f"{index} as {name}")


def _check_count(info: _TileInfo, what: str) -> None:
    if info.count < 3:
        palette = (" (a palette image: expand it to RGB first, e.g. gdal_translate -expand rgb)"
                   if info.colorinterp[:1] == ("palette",) else "")
        raise BadRasterError(info.path, f"{what} has {info.count} band(s): blue, green and red are "
                                        f"needed{palette}")


def _footprint(info: _TileInfo) -> tuple[float, float, float, float]:
    t = info.transform
    xs = (t.c, t.c + t.a * info.width)
    ys = (t.f, t.f + t.e * info.height)
    return min(xs), min(ys), max(xs), max(ys)


def open_pair(before: Path, after: Path, *, bands: str | Mapping[str, int] | None = None,
              resample: str = PAIR_RESAMPLE_DEFAULT, chunk_px: int = 1024,
              max_grid_pixels: int = 10_000_000_000, min_overlap: float = 0.01,
              bands_from: str = "--bands") -> tuple[Imagery, PairInfo]:
    """Check a before / after pair and expose it as :class:`Imagery` on the before image's grid.

    Only metadata is read here.

    Parameters
    ----------
    before, after
        Any two rasters GDAL reads.
    bands
        A band spec (see :func:`pipeline.config.band_mapping`) for both images, or None to take
        each file's colour interpretation (RGB for a 3-band file naming none).
    resample
        ``none``, ``nearest``, ``bilinear`` or ``cubic``: how an after image that is not on the
        before grid is read onto it (``none`` refuses it).
    chunk_px, max_grid_pixels, min_overlap
        As for :func:`pipeline.imagery.open_imagery`.
    bands_from
        Where ``bands`` came from, for messages (``--bands``, ``imagery.bands of x.yaml``).

    Returns
    -------
    (Imagery, PairInfo)

    Raises
    ------
    InputFileError
        A file does not exist.
    BadRasterError
        A file is unreadable or has fewer than 3 bands; the bands cannot be told; one image is
        georeferenced and the other not; images without georeference differ in size; the before
        image is not in a projected CRS or not north-up; the after image is not on the before
        grid while ``resample`` is ``none``; the footprints do not overlap; the data types or
        declared scales differ; the grid is over ``max_grid_pixels``.
    ConfigError
        ``bands`` or ``resample`` is not a valid value.
    """
    if resample not in ("none", "nearest", "bilinear", "cubic"):
        raise ConfigError(f"--resample must be one of none, nearest, bilinear, cubic, got {resample!r}")
    spec = None
    if bands is not None:
        try:
            spec = band_mapping(bands, bands_from)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    infos: dict[str, _TileInfo] = {}
    for date, path in (("before", before), ("after", after)):
        if not Path(path).is_file():
            raise InputFileError(path, f"{date} image not found" if not Path(path).is_dir()
                                 else f"{date} image is a folder, not a raster file")
        info = _open_info(Path(path), f"{date} image")
        _check_count(info, f"{date} image")
        _check_georeference(info, f"{date} image")
        infos[date] = info
    b, a = infos["before"], infos["after"]
    plain = (_is_plain(b), _is_plain(a))
    if plain[0] != plain[1]:
        lone, other = (b, a) if plain[0] else (a, b)
        raise BadRasterError(lone.path, f"has no georeference but {other.path} has: give two "
                                        "georeferenced images, or two plain images of the same size "
                                        "(compared pixel by pixel)")

    # -- bands
    notes: list[str] = []
    chosen: dict[str, dict[str, int]] = {}
    source: dict[str, str] = {}
    for date, info in infos.items():
        if spec is not None:
            _check_bands(info, spec, f"{date} image", bands_from)
            chosen[date], source[date] = dict(spec), bands_from
        else:
            chosen[date], source[date], more = _auto_bands(info, f"{date} image")
            notes += more
    if set(chosen["before"]) != set(chosen["after"]):
        has = "before" if "nir" in chosen["before"] else "after"
        notes.append(f"only the {has} image has a near-infrared band: it is not read, both dates "
                     "are compared on blue, green and red")
        for date in chosen:
            chosen[date].pop("nir", None)
    names = tuple(n for n in BANDS if n in chosen["before"])
    idx = {date: tuple(chosen[date][n] for n in names) for date in chosen}
    if b.dtype != a.dtype:
        raise BadRasterError(a.path, f"after image is {a.dtype} but before image {b.path} is "
                                     f"{b.dtype}: both dates must be stored the same way (same data "
                                     "type and scale)")
    for name in names:
        sb = (_value(b.scales, chosen["before"][name], 1.0), _value(b.offsets, chosen["before"][name], 0.0))
        sa = (_value(a.scales, chosen["after"][name], 1.0), _value(a.offsets, chosen["after"][name], 0.0))
        if sb != sa:
            raise BadRasterError(a.path, f"after image declares scale {sa[0]:g} and offset {sa[1]:g} "
                                         f"for its {name} band but before image {b.path} declares "
                                         f"{sb[0]:g} and {sb[1]:g}: both dates must be stored the "
                                         "same way (same data type and scale)")

    # -- georeference and grid
    resampled: tuple[Resampled, ...] = ()
    if plain[0]:
        if (a.height, a.width) != (b.height, b.width):
            raise BadRasterError(a.path, f"after image is {a.width} x {a.height} px but before image "
                                         f"{b.path} is {b.width} x {b.height} px: images without "
                                         "georeference are compared pixel by pixel and must have the "
                                         "same size")
        grid = Grid(b.height, b.width, Affine.identity(), None)
        after_tile = _Tile(a.path, 0, 0, a.height, a.width, a.nodatavals, a.masked(idx["after"]))
    else:
        _check_crs(b, "before image")
        _check_north_up(b, "before image")
        grid = Grid(b.height, b.width, b.transform, b.crs)
        after_tile, resampled, more = _place_after(b, a, grid, resample, idx["after"])
        notes += more
        _check_pair_overlap(b, a, min_overlap)
    if grid.height * grid.width > max_grid_pixels:
        raise BadRasterError(b.path, f"before image is {grid.height:,} x {grid.width:,} px = "
                                     f"{grid.height * grid.width:,} px, more than max_grid_pixels "
                                     f"{max_grid_pixels:,}: check its size, or cut it into tiles")
    before_tile = _Tile(b.path, 0, 0, b.height, b.width, b.nodatavals, b.masked(idx["before"]))
    img = Imagery.build(grid, (before_tile,), (after_tile,), (), idx["before"], chunk_px, b.dtype,
                        a.dtype, band_names=names, after_bands=idx["after"], resampled=resampled)
    info = PairInfo(georeferenced=not plain[0], bands={d: dict(zip(names, idx[d])) for d in idx},
                    band_source=source, resample=resample, notes=tuple(notes))
    return img, info


def _value(values: tuple, index: int, default: float) -> float:
    v = values[index - 1] if index - 1 < len(values) else None
    return default if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _place_after(b: _TileInfo, a: _TileInfo, grid: Grid, resample: str, bands: Sequence[int]
                 ) -> tuple[_Tile, tuple[Resampled, ...], list[str]]:
    """The after image on the before grid: read directly when aligned, else warped."""
    t, ref = a.transform, b.transform
    same_crs = _same_crs(a.crs, b.crs)
    notes: list[str] = []
    if same_crs:
        same_res = (math.isclose(t.a, ref.a, rel_tol=_SAME_RES_TOL)
                    and math.isclose(t.e, ref.e, rel_tol=_SAME_RES_TOL) and t.b == 0 and t.d == 0)
        fc, fr = (t.c - ref.c) / ref.a, (t.f - ref.f) / ref.e
        if same_res and abs(fc - round(fc)) <= _ALIGN_TOL and abs(fr - round(fr)) <= _ALIGN_TOL:
            return (_Tile(a.path, int(round(fr)), int(round(fc)), a.height, a.width, a.nodatavals,
                          a.masked(bands)), (), notes)
        ratio = (abs(t.a / ref.a), abs(t.e / ref.e))
        if same_res:
            why = f"is offset from the before grid by {_px(fc - round(fc))}, {_px(fr - round(fr))} px"
        else:
            why = (f"has resolution {abs(t.a):g} x {abs(t.e):g}, the before image {abs(ref.a):g} x "
                   f"{abs(ref.e):g}")
        record = Resampled(a.path, "after", resample, (fc - round(fc), fr - round(fr)), ratio)
        crs_wkt = None
    else:
        mine, theirs, names = _crs_labels(a.crs, b.crs)
        why = f"is in CRS {mine}, the before image in {theirs}{names}"
        left, bottom, right, top = transform_bounds(a.crs, b.crs, *_footprint(a), densify_pts=21)
        ratio = ((right - left) / a.width / abs(ref.a), (top - bottom) / a.height / abs(ref.e))
        record = Resampled(a.path, "after", resample, None, ratio, mine)
        crs_wkt = b.crs.to_wkt()
    if resample == "none":
        raise BadRasterError(a.path, f"after image {why}: pass --resample nearest, bilinear or "
                                     "cubic to read it onto the before image's grid")
    off = max(abs(ratio[0] - 1.0), abs(ratio[1] - 1.0))
    if off > 0.01:
        notes.append(f"the after image's pixels are {ratio[0]:.3g} x {ratio[1]:.3g} times the before "
                     f"image's: it is resampled ({resample}) onto the before grid, and changes "
                     "smaller than the coarser pixel cannot be told")
    tile = _Tile(a.path, 0, 0, grid.height, grid.width, a.nodatavals, True,
                 (crs_wkt, tuple(grid.transform)[:6], resample))
    return tile, (record,), notes


def _check_pair_overlap(b: _TileInfo, a: _TileInfo, min_overlap: float) -> None:
    fb = shapely.box(*_footprint(b))
    if _same_crs(a.crs, b.crs):
        fa = shapely.box(*_footprint(a))
    else:
        fa = shapely.box(*transform_bounds(a.crs, b.crs, *_footprint(a), densify_pts=21))
    common = fb.intersection(fa).area
    smaller = min(fb.area, fa.area)
    m2 = _metres_per_unit(b.crs) ** 2
    if common <= 0:
        raise BadRasterError(a.path, f"the after image does not overlap the before image {b.path} at "
                                     "all: both dates must show the same area (check the files' "
                                     "georeference)")
    if common / smaller < min_overlap:
        raise BadRasterError(a.path, f"the after image overlaps the before image {b.path} on only "
                                     f"{_pct(common / smaller)} % of the smaller footprint "
                                     f"({_area(common * m2)} of {_area(smaller * m2)}): both dates "
                                     "must show the same area")


# --------------------------------------------------------------------------- minimum area
@dataclass(frozen=True)
class MinArea:
    """The minimum patch area used, in every unit, and where it came from.

    Attributes
    ----------
    grid_units
        The value to put in ``DetectionConfig.min_area_m2``: the detector compares it with
        ``pixels x grid.pixel_area`` (CRS units², pixels without georeference).
    m2
        In m² (None without georeference).
    px
        In pixels.
    source
        ``--min-area-m2``, ``--min-area-px``, ``detection.min_area_m2 ...``, ``default ...``.
    warning
        Set when the value is below one pixel (it then removes nothing).
    """

    grid_units: float
    m2: float | None
    px: float
    source: str
    warning: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {"m2": self.m2, "px": self.px, "source": self.source, "warning": self.warning}


def choose_min_area(grid: Grid, *, flag_m2: float | None = None, flag_px: float | None = None,
                    config_m2: float | str | None = None, config_source: str = "detection.min_area_m2",
                    pair_default: bool = True) -> MinArea:
    """The minimum patch area for a detect run.

    Order: ``--min-area-m2`` / ``--min-area-px`` (not both), then the config's
    ``detection.min_area_m2`` (``config_m2``; for a config run always given, 400 m² by
    default), then, for a pair, the larger of :data:`PAIR_MIN_AREA_M2` (50 m², so one rural
    house of 60-150 m² is kept) and :data:`MIN_AREA_PX` pixels (4 x 4: smaller specks are
    misregistration and noise, not buildings). Without georeference areas are in pixels: the
    config's value is read as pixels (pixel size 1) and the default is :data:`MIN_AREA_PX`.

    Raises
    ------
    ConfigError
        Both flags given, or ``--min-area-m2`` for images without georeference.
    """
    if flag_m2 is not None and flag_px is not None:
        raise ConfigError("detect: give --min-area-m2 or --min-area-px, not both")
    if grid.crs is None:
        if flag_m2 is not None:
            raise ConfigError("--min-area-m2: the images have no georeference, so areas are in "
                              "pixels; use --min-area-px")
        if flag_px is not None:
            px, source = float(flag_px), "--min-area-px"
        elif config_m2 is not None and config_m2 != "auto":
            px, source = float(config_m2), f"{config_source}, read as pixels (no georeference)"
        else:
            px, source = float(MIN_AREA_PX), f"default without georeference: {MIN_AREA_PX} px"
        warning = (f"minimum area {px:g} px is below one pixel: every patch passes it"
                   if 0 < px < 1 else None)
        return MinArea(px, None, px, source, warning)
    m_per_unit = _metres_per_unit(grid.crs)
    pixel_m2 = grid.pixel_area * m_per_unit ** 2
    if flag_m2 is not None:
        m2, source = float(flag_m2), "--min-area-m2"
    elif flag_px is not None:
        m2, source = float(flag_px) * pixel_m2, "--min-area-px"
    elif config_m2 == "auto":
        m2 = max(PAIR_MIN_AREA_M2, MIN_AREA_PX * pixel_m2)
        source = (f"{config_source}: auto, the larger of {PAIR_MIN_AREA_M2:g} m² and {MIN_AREA_PX} "
                  "pixels")
    elif config_m2 is not None:
        m2, source = float(config_m2), config_source
    elif pair_default:
        m2 = max(PAIR_MIN_AREA_M2, MIN_AREA_PX * pixel_m2)
        source = (f"default for a pair: the larger of {PAIR_MIN_AREA_M2:g} m² and {MIN_AREA_PX} "
                  "pixels")
    else:
        m2, source = DetectionConfig().min_area_m2, "default"
    warning = None
    if 0 < m2 < pixel_m2 * (1 - 1e-9):
        warning = (f"minimum area {m2:g} m² ({source}) is below one pixel ({pixel_m2:g} m² at "
                   f"{grid.res[0] * m_per_unit:g} m): it removes nothing; patches are at least one "
                   "pixel")
    return MinArea(m2 / m_per_unit ** 2, m2, m2 / pixel_m2, source, warning)


# --------------------------------------------------------------------------- outputs
def patch_table(patches: gpd.GeoDataFrame, grid: Grid) -> gpd.GeoDataFrame:
    """The patches as written: ``source_id, mean_score, area_m2`` (``area_px`` without
    georeference), then every other column the detector returned, then the geometry."""
    table = patches.copy()
    geom = table.geometry.name
    if grid.crs is None:
        column, factor = "area_px", 1.0
    else:
        column, factor = "area_m2", _metres_per_unit(grid.crs) ** 2
    table[column] = table.geometry.area.to_numpy(dtype=np.float64) * factor
    first = [c for c in ("source_id", "mean_score", column) if c in table.columns]
    rest = [c for c in table.columns if c not in first and c != geom]
    return table[first + rest + [geom]]


def _windows(img: Imagery) -> list[list[tuple[int, int, int, int]]]:
    """Chunk windows ``(r0, r1, c0, c1)`` of the imagery, one list per row of chunks."""
    rows, cols = img.chunks
    r_edges = np.concatenate([[0], np.cumsum(rows)]).astype(int)
    c_edges = np.concatenate([[0], np.cumsum(cols)]).astype(int)
    return [[(int(r_edges[i]), int(r_edges[i + 1]), int(c_edges[j]), int(c_edges[j + 1]))
             for j in range(len(cols))] for i in range(len(rows))]


def write_change_mask(path: Path, img: Imagery, patches: gpd.GeoDataFrame) -> dict[str, int]:
    """Write ``change_mask.tif`` on the imagery grid, one row of chunks at a time.

    1 where a kept patch is (the patches rasterised: they follow pixel edges, so each pixel
    whose centre is inside is exactly a pixel of the patch), 255 where either date has no
    data or cloud, 0 elsewhere. uint8, nodata 255, DEFLATE, 256 x 256 tiles.

    Returns
    -------
    dict
        ``pixels_change``, ``pixels_no_change``, ``pixels_nodata``.
    """
    grid = img.grid
    geoms = np.asarray(patches.geometry.values, dtype=object)
    tree = shapely.STRtree(geoms) if len(geoms) else None
    profile = dict(driver="GTiff", height=grid.height, width=grid.width, count=1, dtype="uint8",
                   nodata=MASK_NODATA, compress="deflate", tiled=True, blockxsize=256,
                   blockysize=256, crs=grid.crs, transform=grid.transform)
    counts = {"pixels_change": 0, "pixels_no_change": 0, "pixels_nodata": 0}
    with rasterio.open(path, "w", **profile) as dst:
        for row in _windows(img):
            blocks = dask.compute(*[img.valid[r0:r1, c0:c1] for r0, r1, c0, c1 in row])
            for (r0, r1, c0, c1), valid in zip(row, blocks):
                out = np.where(valid, MASK_NO_CHANGE, MASK_NODATA).astype(np.uint8)
                if tree is not None:
                    transform = grid.transform @ Affine.translation(c0, r0)
                    corners = [transform @ (0, 0), transform @ (c1 - c0, r1 - r0)]
                    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
                    hits = tree.query(shapely.box(min(xs), min(ys), max(xs), max(ys)))
                    if len(hits):
                        burnt = rasterize(((geoms[k], 1) for k in hits), out_shape=out.shape,
                                          transform=transform, fill=0, dtype="uint8")
                        out[burnt == 1] = MASK_CHANGE
                counts["pixels_change"] += int((out == MASK_CHANGE).sum())
                counts["pixels_nodata"] += int((out == MASK_NODATA).sum())
                counts["pixels_no_change"] += int((out == MASK_NO_CHANGE).sum())
                dst.write(out, 1, window=Window(c0, r0, c1 - c0, r1 - r0))
    return counts


def _grid_record(grid: Grid) -> dict:
    if grid.crs is None:
        return {"height": grid.height, "width": grid.width, "units": "px", "crs": None,
                "transform": None, "pixel_size": None, "pixel_area_m2": None}
    mpu = _metres_per_unit(grid.crs)
    return {"height": grid.height, "width": grid.width, "units": "m", "crs": grid.crs.to_string(),
            "transform": [float(v) for v in tuple(grid.transform)[:6]],
            "pixel_size": [float(r) for r in grid.res],
            "pixel_area_m2": float(grid.pixel_area * mpu ** 2)}


@dataclass
class DetectResult:
    """What ``landcheck detect`` produced, for the CLI and the tests."""

    output: Path
    patches: gpd.GeoDataFrame
    stats: dict
    record: dict
    outputs: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


Log = Callable[[str], None]


def run_detect(img: Imagery, detection: DetectionConfig, out: Path, inputs: Sequence[tuple[str, Path]],
               *, min_area: MinArea, meta: Mapping[str, Any], protect: Sequence[Path] = (),
               overwrite: bool = False, progress: bool = True, log: Log = print,
               warn: Log = print) -> DetectResult:
    """Detect on opened imagery and write the output folder ``out``.

    Parameters
    ----------
    img
        From :func:`pipeline.imagery.open_imagery` or :func:`open_pair`.
    detection
        Detection settings; ``min_area_m2`` is replaced by ``min_area.grid_units``.
    out
        The output folder (rules of :mod:`pipeline.output_folder`).
    inputs
        ``(role, path)`` of every input file: hashed into detection.json and never touched.
    protect
        Other files the output folder may not touch (layers a config names but detect does
        not read; they are not hashed).
    min_area
        From :func:`choose_min_area`.
    meta
        Extra entries for detection.json (mode, bands, ...); ``notes`` (list of str) are printed
        as warnings too.
    overwrite
        Replace an earlier landcheck output in ``out`` (refused without it).
    progress, log, warn
        Progress output (dask bars on stderr) and where progress lines / warnings go.

    Raises
    ------
    OutputError
        The folder breaks the output-folder rules, holds an earlier output without
        ``overwrite``, or the file system refuses.
    """
    from dataclasses import replace

    import pipeline.detect as detect_stage

    started = datetime.now(timezone.utc)
    detection = replace(detection, min_area_m2=float(min_area.grid_units))
    notices = list(meta.get("notes", ()))
    if min_area.warning:
        notices.append(min_area.warning)
    for line in notices:
        warn(f"warning: {line}")
    claim = output_folder.claim_output(out, [p for _, p in inputs] + list(protect), log=warn)
    staging: Path | None = None
    try:
        try:
            earlier = bool(os.listdir(claim.path)) if claim.path.is_dir() else False
        except OSError:
            earlier = False
        if earlier and not overwrite:
            raise OutputError(out, "holds an earlier landcheck output; pass --overwrite to replace "
                                   "it, or choose a new folder")
        with warnings.catch_warnings():
            # plain images: rasterio warns at every open and write; set here, in the thread that
            # starts the computes, so it holds for the workers too
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            patches, stats = detect_stage.detect_on_imagery(img, detection, progress=progress)
            staging = output_folder.make_staging(claim.path)
            outputs = {name: staging / name for name in
                       ("change_mask.tif", "patches.gpkg", "detection.json")}
            if progress:
                log("detect: writing change_mask.tif, patches.gpkg, detection.json")
            with writing(outputs["change_mask.tif"], out / "change_mask.tif"):
                mask_counts = write_change_mask(outputs["change_mask.tif"], img, patches)
            table = patch_table(patches, img.grid)
            with writing(outputs["patches.gpkg"], out / "patches.gpkg"):
                if img.grid.crs is None:  # pixel coordinates: no CRS is the truth, not an oversight
                    warnings.filterwarnings("ignore", message="'crs' was not provided",
                                            category=UserWarning)
                table.to_file(outputs["patches.gpkg"], layer="patches", driver="GPKG",
                              engine="pyogrio")
        area_col = "area_px" if img.grid.crs is None else "area_m2"
        shifts = [r.to_dict() for r in img.resampled]
        hashed_inputs = hashed(list(inputs))
        record = {
            "landcheck_detect": 1,
            "landcheck_version": landcheck_version(),
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **{k: v for k, v in meta.items() if k != "notes"},
            "inputs": hashed_inputs,
            "band_names": list(img.band_names),
            "grid": _grid_record(img.grid),
            "resampling": {"resampled": shifts},
            "shift_px": shifts[0]["offset_px"] if len(shifts) == 1 else None,
            "threshold": stats.get("threshold"),
            "min_area": min_area.to_dict(),
            "detector": {"function": f"{detect_stage.__name__}.detect_on_imagery",
                         "model": stats.get("model")},
            "patches": {"count": int(len(table)), area_col: float(table[area_col].sum())},
            "change_mask": {"values": {"change": MASK_CHANGE, "no_change": MASK_NO_CHANGE,
                                       "nodata": MASK_NODATA}, **mask_counts},
            "warnings": notices,
            "stats": stats,
        }
        with writing(outputs["detection.json"], out / "detection.json"):
            write_json(record, outputs["detection.json"])
        manifest = {
            "landcheck_manifest": 1,
            "command": "detect",
            "landcheck_version": record["landcheck_version"],
            "finished_at": record["finished_at"],
            "inputs": hashed_inputs,
            "outputs": hashed(sorted(outputs.items()), relative_to=staging),
        }
        with writing(staging / "manifest.json", out / "manifest.json"):
            write_json(manifest, staging / "manifest.json")
        output_folder.publish(staging, claim.path)
    except BaseException:
        if staging is not None:
            output_folder.remove_tree(staging)
        raise
    finally:
        claim.release()
    final = {name: out / name for name in ("change_mask.tif", "patches.gpkg", "detection.json",
                                           "manifest.json")}
    return DetectResult(output=out, patches=table, stats=stats, record=record, outputs=final,
                        warnings=notices)
