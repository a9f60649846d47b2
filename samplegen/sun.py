"""The sun of each date: how it shades sloped roofs and where buildings cast shadows.

The two dates were taken at different times of day (and a year apart), so the same roofs and
houses look different: a lower sun makes longer shadows turned further west, and changes how
bright each roof slope is. Neither is construction.
"""
from __future__ import annotations

import math

import numpy as np

from samplegen.frame import PIXEL_M

__all__ = ["SUN", "SHADOW_FACTOR", "slope_factors", "shadow_length_m", "cast_shadow"]

#: per date: sun azimuth (degrees clockwise from north) and elevation (degrees)
SUN = {"before": (162.0, 36.0), "after": (146.0, 31.0)}
#: DN in shadow / DN in sun, per band (blue, green, red, NIR): the blue sky still lights a
#: shadow, so shadows are least dark in blue
SHADOW_FACTOR = (0.40, 0.32, 0.26, 0.20)


def slope_factors(facings: tuple[float, float], tilt_deg: float, date: str
                  ) -> tuple[float, float]:
    """Brightness of the two slopes of a gabled roof relative to their mean, on ``date``.

    Lambertian: a slope facing azimuth ``f`` with tilt ``t`` receives
    ``cos t sin e + sin t cos e cos(a - f)`` for a sun at azimuth ``a``, elevation ``e``.

    Parameters
    ----------
    facings : tuple of float
        Azimuths the two slopes face (degrees).
    tilt_deg : float
        Roof pitch (degrees).
    date : str
        ``before`` or ``after``.

    Returns
    -------
    tuple of float
        Factors whose mean is 1.
    """
    azimuth, elevation = (math.radians(v) for v in SUN[date])
    tilt = math.radians(tilt_deg)
    light = [math.cos(tilt) * math.sin(elevation)
             + math.sin(tilt) * math.cos(elevation) * math.cos(azimuth - math.radians(f))
             for f in facings]
    mean = sum(light) / len(light)
    return light[0] / mean, light[1] / mean


def shadow_length_m(height_m: float, date: str) -> float:
    """Length of the shadow of a ``height_m`` building on flat ground on ``date``."""
    return height_m / math.tan(math.radians(SUN[date][1]))


def cast_shadow(height: np.ndarray, date: str) -> np.ndarray:
    """Ground pixels in the shadow of a building, for the sun of ``date``.

    A pixel is in shadow when a building pixel lies towards the sun from it, no farther than
    that building's shadow length. Roofs are never shadowed (all buildings are low).

    Parameters
    ----------
    height : numpy.ndarray of float32
        Building height (m) per pixel, 0 on the ground.
    date : str

    Returns
    -------
    numpy.ndarray of bool
    """
    azimuth, elevation = SUN[date]
    away = math.radians(azimuth + 180.0)
    east, north = math.sin(away), math.cos(away)
    rise = math.tan(math.radians(elevation)) * PIXEL_M  # height that throws a shadow 1 px on
    shadow = np.zeros(height.shape, dtype=bool)
    top = float(height.max()) if height.size else 0.0
    steps = int(math.ceil(top / rise)) if top > 0 else 0
    h, w = height.shape
    for t in range(1, steps + 1):
        dc, dr = round(east * t), round(-north * t)  # columns east, rows south
        if abs(dr) >= h or abs(dc) >= w:
            break
        src = height[max(-dr, 0):h - max(dr, 0), max(-dc, 0):w - max(dc, 0)]
        dst = shadow[max(dr, 0):h - max(-dr, 0), max(dc, 0):w - max(-dc, 0)]
        dst |= src >= t * rise - 1e-3  # a shadow exactly t px long reaches pixel t
    return shadow & (height == 0)
