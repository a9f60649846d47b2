"""Read the image chips of the patch pieces from the run's imagery, one small window each.

:class:`ImageryChips` is the ``chip_source`` of ``reports.field_package.write_field_packages``:
called with a piece's geometry and CRS it returns a :class:`reports.chips.ChipPair`, the red,
green and blue bands of both dates over a window around the piece (a margin on every side, made
square where the grid allows) and the outline in pixels of that window. Rendering is
:mod:`reports.chips`' job.

Only the window is read. The imagery's dask arrays are chunked for detection
(``detection.chunk_px``, 512 or 1024 px by default), and slicing one reads every chunk the slice
touches; so the window is read from the array-like the dask array was made from (the imagery's
tile reader, which opens the tiles and reads that window with rasterio), and only when that
reader cannot be found (a dask array built some other way) through dask, on the calling thread.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Any, TYPE_CHECKING

import numpy as np
import pyproj
from shapely.geometry.base import BaseGeometry

from detection.grid import Grid
from overlay.crs import reprojected
from reports.chips import ChipPair

if TYPE_CHECKING:  # annotations only: pipeline.imagery imports dask.array (0.6 s)
    from pipeline.imagery import Imagery

__all__ = ["ChipImagery", "ImageryChips", "array_source", "MARGIN_FRACTION", "MIN_MARGIN_PX"]

log = logging.getLogger(__name__)

MARGIN_FRACTION = 0.5
"""Margin on each side of the piece, as a fraction of its longer side: the chip shows the patch
and as much again of its surroundings."""

MIN_MARGIN_PX = 12
"""Smallest margin in pixels (a 400 m² patch at 2 m is only 10 px wide)."""

MAX_WINDOW_PX = 4096
"""A window is at most this many pixels on a side (around the piece's centre): a patch larger
than that is shown cut (the renderer reduces large chips anyway)."""


def array_source(arr: Any) -> Any | None:
    """The array-like ``arr`` (a dask array) was made from with ``dask.array.from_array``, or None.

    Indexing it reads only the index asked for; dask would read whole chunks.
    """
    graph = getattr(arr, "dask", None)
    if graph is None:
        return None
    try:
        items = graph.items()
    except Exception:  # a graph dask may change the shape of; the slow path still works
        return None
    for key, value in items:
        if (isinstance(key, str) and key.startswith("original-")
                and tuple(getattr(value, "shape", ())) == tuple(arr.shape) and hasattr(value, "__getitem__")):
            return value
    return None


@dataclass(frozen=True)
class ChipImagery:
    """What reading chips needs, no pixels: the grid, the band names and per date the imagery's
    tile reader (tile paths and offsets; files are opened per read), so it pickles to a county job.

    ``before`` / ``after`` are the dask arrays themselves when their tile reader cannot be found.
    """

    grid: Grid
    band_names: tuple[str, ...]
    before: Any
    after: Any

    @classmethod
    def of(cls, imagery: Imagery) -> "ChipImagery":
        """The chip description of an opened imagery (metadata only)."""
        readers = [array_source(a) or a for a in (imagery.before, imagery.after)]
        return cls(imagery.grid, tuple(imagery.band_names), readers[0], readers[1])

    def around(self, bounds: tuple[float, float, float, float]) -> "ChipImagery":
        """Only the tiles a chip of a piece inside ``bounds`` (grid CRS) can touch: the tiles
        within :data:`MAX_WINDOW_PX` / 2 pixels of it (a chip is at most that far from its piece)."""
        if not all(hasattr(r, "within") for r in (self.before, self.after)) \
                or not all(math.isfinite(v) for v in bounds):
            return self
        t = self.grid.transform
        cols = sorted(((bounds[0] - t.c) / t.a, (bounds[2] - t.c) / t.a))
        rows = sorted(((bounds[3] - t.f) / t.e, (bounds[1] - t.f) / t.e))
        pad = MAX_WINDOW_PX // 2 + 2
        win = (math.floor(rows[0]) - pad, math.ceil(rows[1]) + pad,
               math.floor(cols[0]) - pad, math.ceil(cols[1]) + pad)
        return replace(self, before=self.before.within(*win), after=self.after.within(*win))


class ImageryChips:
    """The chip source over one run's imagery (metadata only until called).

    Parameters
    ----------
    imagery
        The opened imagery (``pipeline.imagery.open_imagery``), or its :class:`ChipImagery`.
    """

    def __init__(self, imagery: Imagery | ChipImagery) -> None:
        names = tuple(imagery.band_names)
        try:
            self._rgb = tuple(names.index(b) for b in ("red", "green", "blue"))
        except ValueError:
            raise ValueError(f"imagery bands {names} lack red, green or blue") from None
        self._b0, self._b1 = min(self._rgb), max(self._rgb) + 1
        self.grid = imagery.grid
        t = self.grid.transform
        if t.b != 0 or t.d != 0:
            raise ValueError("the imagery grid is rotated: chips need a north-up grid")
        self._t = t
        self._crs = pyproj.CRS.from_user_input(self.grid.crs)
        self._arrays = (imagery.before, imagery.after)
        self._sources = tuple(a if not hasattr(a, "dask") else array_source(a) for a in self._arrays)
        self.direct = all(s is not None for s in self._sources)
        if not self.direct:
            log.info("image chips are read through dask (whole chunks): the tile reader was not found")

    def _to_grid(self, geom: BaseGeometry, crs: Any) -> BaseGeometry:
        source = pyproj.CRS.from_user_input(crs)
        if source.equals(self._crs):
            return geom
        return reprojected(np.array([geom], dtype=object), source, self._crs)[0]

    def window(self, geom: BaseGeometry) -> tuple[int, int, int, int] | None:
        """``(row0, row1, col0, col1)`` of the chip of ``geom`` (grid CRS) on the grid, or None outside it."""
        t = self._t
        minx, miny, maxx, maxy = geom.bounds
        cols = sorted(((minx - t.c) / t.a, (maxx - t.c) / t.a))
        rows = sorted(((maxy - t.f) / t.e, (miny - t.f) / t.e))
        side = max(cols[1] - cols[0], rows[1] - rows[0])
        margin = max(MIN_MARGIN_PX, MARGIN_FRACTION * side)
        half = min(side / 2 + margin, MAX_WINDOW_PX / 2)
        cc, rc = (cols[0] + cols[1]) / 2, (rows[0] + rows[1]) / 2
        c0, c1 = math.floor(cc - half), math.ceil(cc + half)
        r0, r1 = math.floor(rc - half), math.ceil(rc + half)
        c0, c1 = max(0, c0), min(self.grid.width, c1)
        r0, r1 = max(0, r0), min(self.grid.height, r1)
        if c0 >= c1 or r0 >= r1:
            return None
        # the piece itself must touch the grid, not only its margin
        if cols[1] <= 0 or rows[1] <= 0 or cols[0] >= self.grid.width or rows[0] >= self.grid.height:
            return None
        return r0, r1, c0, c1

    def _read(self, k: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        key = (slice(self._b0, self._b1), slice(r0, r1), slice(c0, c1))
        source = self._sources[k]
        if source is not None:
            data = np.asarray(source[key])
        else:
            data = np.asarray(self._arrays[k][key].compute(scheduler="sync"))
        picked = [i - self._b0 for i in self._rgb]
        return data[picked].astype(np.float32, copy=False)

    def __call__(self, geometry: BaseGeometry | None, crs: Any) -> ChipPair | None:
        """The chips of a piece given in ``crs``; None when it is empty or off the imagery."""
        if geometry is None or geometry.is_empty:
            return None
        geom = self._to_grid(geometry, crs)
        win = self.window(geom)
        if win is None:
            return None
        r0, r1, c0, c1 = win
        before = self._read(0, r0, r1, c0, c1)
        after = self._read(1, r0, r1, c0, c1)
        t = self._t
        rings = []
        for poly in getattr(geom, "geoms", [geom]):
            if poly.geom_type != "Polygon":
                continue
            for ring in (poly.exterior, *poly.interiors):
                xy = np.asarray(ring.coords)[:, :2]
                rings.append(np.column_stack(((xy[:, 0] - t.c) / t.a - c0, (xy[:, 1] - t.f) / t.e - r0)))
        return ChipPair(before, after, tuple(rings), pixel_size=abs(t.a))


CHIPS_OFF: tuple[str, str] = ("配置 field_packages.chips: false 未生成影像截图",
                              "image chips are turned off (field_packages.chips: false)")
"""Why the packages have no chips when the config turns them off."""


def no_chips_reason(config: Any, imagery: Imagery | None) -> tuple[str, str] | None:
    """Why the run's field packages have no chips (no imagery: received patches; or the config
    turns them off), or None when they have chips."""
    from reports.field_package import NO_IMAGERY

    if imagery is None:
        return NO_IMAGERY
    if not config.field_packages.chips:
        return CHIPS_OFF
    return None


def write_run_field_packages(config: Any, pieces: Any, out_dir: Any, county_crs: Any,
                             imagery: Imagery | None) -> dict:
    """``reports.write_field_packages`` with the run's settings (``field_packages:``) and chips.

    Chips come from ``imagery`` unless the run has none (received patches) or the config turns
    them off; the packages then say why. A text value the configured encoding cannot write is a
    :class:`~pipeline.errors.ConfigError` (exit 2) naming the config key.
    """
    from pipeline.errors import ConfigError
    from reports.field_package import PackageEncodingError, write_field_packages

    settings = config.field_packages
    reason = no_chips_reason(config, imagery)
    chip_source = ImageryChips(imagery) if reason is None else None
    try:
        return write_field_packages(pieces, out_dir, county_crs=county_crs, encoding=settings.encoding,
                                    chip_source=chip_source, no_chips_reason=reason)
    except PackageEncodingError as exc:
        raise ConfigError(f"{config.source}: {exc}; set 'field_packages.encoding: utf-8' "
                          "or correct the name in the input") from None
