"""What gets painted: land-cover features, and buildings made of them.

A :class:`Feature` is a polygon with a land-cover class on each date, a brightness factor per
date (roof slopes facing towards or away from the sun, weathering), a height (buildings cast
shadows) and an orientation (for row textures such as furrows and greenhouse tunnels).
"""
from __future__ import annotations

from dataclasses import dataclass

from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from samplegen.frame import even
from samplegen.sun import slope_factors

__all__ = ["Feature", "building", "oriented_along_x"]


@dataclass(frozen=True)
class Feature:
    """A land-cover polygon painted with one class per date."""

    geometry: BaseGeometry
    before: str
    after: str
    #: brightness multiplier on (before, after)
    factor: tuple[float, float] = (1.0, 1.0)
    #: building height in metres (0 = ground; > 0 casts a shadow)
    height_m: float = 0.0
    #: rows (furrows, tunnels) run along x (east-west) when True, along y otherwise
    along_x: bool = True


def oriented_along_x(geom: BaseGeometry) -> bool:
    """Whether ``geom``'s bounding box is at least as wide (east-west) as it is tall."""
    x0, y0, x1, y1 = geom.bounds
    return x1 - x0 >= y1 - y0


def building(footprint: Polygon, material: str, height_m: float, tilt_deg: float,
             before: str | None = None, factor: float = 1.0) -> list[Feature]:
    """A roof on ``footprint``: flat (``tilt_deg`` 0) or gabled with the ridge along its long side.

    The two slopes of a gabled roof face the two sides of the ridge (south / north, or east /
    west) and are lit by each date's sun (:func:`samplegen.sun.slope_factors`).

    Parameters
    ----------
    footprint : shapely.Polygon
        On the 2 m grid.
    material : str
        The roof's class on the later date (and on the earlier one unless ``before`` is given).
    height_m : float
        Eave height: sets the shadow.
    tilt_deg : float
        Roof pitch; 0 = flat.
    before : str or None, optional
        Class on the earlier date (default ``material``: an existing building).
    factor : float, optional
        Extra brightness multiplier (e.g. weathered roofs).

    Returns
    -------
    list of Feature
        One feature per roof slope.
    """
    before = material if before is None else before
    if tilt_deg == 0:
        return [Feature(footprint, before, material, (factor, factor), height_m)]
    x0, y0, x1, y1 = footprint.bounds
    if x1 - x0 >= y1 - y0:  # ridge east-west: south and north slopes
        ym = even((y0 + y1) / 2)
        halves = ((box(x0, y0, x1, ym), 180.0), (box(x0, ym, x1, y1), 0.0))
    else:  # ridge north-south: east and west slopes
        xm = even((x0 + x1) / 2)
        halves = ((box(xm, y0, x1, y1), 90.0), (box(x0, y0, xm, y1), 270.0))
    facings = (halves[0][1], halves[1][1])
    lit = {d: slope_factors(facings, tilt_deg, d) for d in ("before", "after")}
    out = []
    for k, (half, _) in enumerate(halves):
        part = half.intersection(footprint)
        if part.area > 0:
            out.append(Feature(part, before, material,
                               (factor * lit["before"][k], factor * lit["after"][k]), height_m,
                               oriented_along_x(footprint)))
    return out
