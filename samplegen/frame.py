"""The place, the dates and the pixel grid of the sample world, and small geometry helpers.

The world is designed in EPSG:4551 (CGCS2000 / 3-degree Gauss-Krüger CM 126E) on a 2 m pixel
grid whose corners lie on even whole metres; every planted vertex is snapped to it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import shapely
from affine import Affine
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

__all__ = [
    "PROJECTED_CRS", "GEOGRAPHIC_CRS", "PIXEL_M", "CENTRE", "SIZE_PX", "YEAR", "DATES", "COUNTIES",
    "TARGET_RATIO", "STRADDLE_PAIR", "MARGIN_M", "Frame", "make_frame", "even", "cuts", "union",
    "prepared", "random_point",
]

PROJECTED_CRS = "EPSG:4551"   # CGCS2000 / 3-degree Gauss-Kruger CM 126E
GEOGRAPHIC_CRS = "EPSG:4490"  # CGCS2000 geographic
PIXEL_M = 2
CENTRE = (546360, 4858300)    # window centre, EPSG:4551
SIZE_PX = (1600, 900)         # window width, height at scale 1 (3.2 km x 1.8 km)
YEAR = 2025
DATES = {"before": "2024-10-15", "after": "2025-10-12"}
COUNTIES = {"220202": "昌邑区", "220203": "龙潭区", "220204": "船营区", "220211": "丰满区"}
#: ratio each county is tuned to (illegal / occupied farmland); None = no farmland occupied
TARGET_RATIO: dict[str, float | None] = {"220202": 0.125, "220203": None, "220204": 0.35,
                                         "220211": 0.05}
STRADDLE_PAIR = ("220202", "220204")  # the one patch on a county border crosses this border
MARGIN_M = 10  # patches: apart, and from borders, image edges, nodata, cloud, farmland


@dataclass(frozen=True)
class Frame:
    """The sample's pixel grid: north-west corner (whole even metres) and size in pixels."""

    west: int
    north: int
    width: int
    height: int

    @property
    def east(self) -> int:
        """East edge, metres."""
        return self.west + self.width * PIXEL_M

    @property
    def south(self) -> int:
        """South edge, metres."""
        return self.north - self.height * PIXEL_M

    @property
    def transform(self) -> Affine:
        """The grid's affine transform (north up, ``PIXEL_M`` pixels)."""
        return Affine(PIXEL_M, 0, self.west, 0, -PIXEL_M, self.north)

    @property
    def polygon(self) -> Polygon:
        """The window as a polygon."""
        return box(self.west, self.south, self.east, self.north)


def make_frame(scale: int) -> Frame:
    """The window centred on ``CENTRE``, ``SIZE_PX`` times ``scale`` pixels.

    Parameters
    ----------
    scale : int
        Multiplies both sides.

    Returns
    -------
    Frame
    """
    width, height = SIZE_PX[0] * scale, SIZE_PX[1] * scale
    return Frame(west=CENTRE[0] - width * PIXEL_M // 2, north=CENTRE[1] + height * PIXEL_M // 2,
                 width=width, height=height)


def even(value: float) -> int:
    """The nearest whole multiple of the pixel size.

    Parameters
    ----------
    value : float
        Metres.

    Returns
    -------
    int
    """
    return int(PIXEL_M * round(value / PIXEL_M))


def cuts(start: int, stop: int, span: tuple[int, int], rng: np.random.Generator) -> list[int]:
    """Grid positions from ``start`` to ``stop`` with gaps drawn from ``span``.

    The last gap is merged into the one before when it is shorter than ``span[0]``.

    Parameters
    ----------
    start, stop : int
        Ends, metres.
    span : tuple of int
        Smallest and largest gap.
    rng : numpy.random.Generator

    Returns
    -------
    list of int
        ``[start, ..., stop]``.
    """
    out = [start]
    while stop - out[-1] > span[1]:
        out.append(out[-1] + even(rng.uniform(*span)))
    if len(out) > 1 and stop - out[-1] < span[0]:
        out.pop()
    return out + [stop]


def union(geoms: Iterable[BaseGeometry]) -> BaseGeometry:
    """The union of ``geoms`` (an empty collection when there are none)."""
    return shapely.union_all(list(geoms))


def prepared(geom: BaseGeometry) -> BaseGeometry:
    """``geom``, prepared in place for fast repeated predicates."""
    shapely.prepare(geom)
    return geom


def random_point(region: BaseGeometry, rng: np.random.Generator) -> tuple[float, float] | None:
    """A uniform random point in ``region``.

    Parameters
    ----------
    region : shapely geometry
    rng : numpy.random.Generator

    Returns
    -------
    tuple of float or None
        None when the region is empty or too thin to hit.
    """
    if region.is_empty:
        return None
    x0, y0, x1, y1 = region.bounds
    for _ in range(20):
        xs, ys = rng.uniform(x0, x1, 256), rng.uniform(y0, y1, 256)
        inside = np.flatnonzero(shapely.contains_xy(region, xs, ys))
        if inside.size:
            return float(xs[inside[0]]), float(ys[inside[0]])
    return None
