"""samplegen.sun: roof-slope shading and cast shadows."""
from __future__ import annotations

import numpy as np
import pytest

from samplegen.sun import SUN, cast_shadow, shadow_length_m, slope_factors


def test_slope_factors_average_one_and_light_the_sunny_side():
    for date in ("before", "after"):
        south, north = slope_factors((180.0, 0.0), 15.0, date)
        assert (south + north) / 2 == pytest.approx(1.0)
        assert south > 1.2 and north < 0.8
        east, west = slope_factors((90.0, 270.0), 15.0, date)
        assert east > west  # a morning sun (azimuth < 180) lights the east slope
    assert slope_factors((90.0, 270.0), 15.0, "after")[0] > slope_factors((90.0, 270.0), 15.0,
                                                                          "before")[0]


def test_flat_roofs_are_not_shaded():
    assert slope_factors((0.0, 180.0), 0.0, "after") == pytest.approx((1.0, 1.0))


def _shadow_of_a_tower(date: str) -> np.ndarray:
    height = np.zeros((41, 41), dtype=np.float32)
    height[20, 20] = 10.0
    return cast_shadow(height, date)


@pytest.mark.parametrize("date", ["before", "after"])
def test_shadow_falls_away_from_the_sun_and_is_as_long_as_designed(date):
    shadow = _shadow_of_a_tower(date)
    rows, cols = np.nonzero(shadow)
    assert not shadow[20, 20]  # the roof itself is lit
    assert (rows < 20).all() and (cols <= 20).all()  # north-west: the sun is in the south-east
    reach = np.hypot(rows - 20, cols - 20).max() * 2
    length = shadow_length_m(10.0, date)
    assert length - 4 <= reach <= length + 1  # 2 m pixels: the last ones are rounded away


def test_the_later_sun_makes_longer_shadows_turned_west():
    before, after = _shadow_of_a_tower("before"), _shadow_of_a_tower("after")
    assert after.sum() > before.sum()
    assert SUN["after"][1] < SUN["before"][1] and SUN["after"][0] < SUN["before"][0]
    west = {d: 20 - np.nonzero(s)[1].min() for d, s in (("before", before), ("after", after))}
    assert west["after"] > west["before"]
