"""Line openings and closings equal scipy's footprint filters, value for value."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from detection.morphology import line_closing, line_extremum, line_footprint, line_opening


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    smooth = ndimage.gaussian_filter(rng.normal(size=(70, 53)), 2).astype(np.float32)
    ties = rng.integers(0, 4, size=(41, 66)).astype(np.float32)  # many equal values
    return [
        rng.normal(size=(64, 64)).astype(np.float32),
        smooth,
        ties,
        rng.normal(size=(37, 120)),  # float64, wide
        rng.normal(size=(120, 23)).astype(np.float32),  # tall
        rng.normal(size=(9, 30)).astype(np.float32),  # fewer rows than half the longest line
    ]


@pytest.mark.parametrize("direction", [0, 1, 2, 3])
@pytest.mark.parametrize("length", [1, 3, 5, 7, 11, 15, 21, 41])
def test_line_extremum_equals_scipy(direction: int, length: int) -> None:
    fp = line_footprint(length, direction)
    for img in _images():
        for maximum, ref in ((False, ndimage.minimum_filter), (True, ndimage.maximum_filter)):
            got = line_extremum(img, length, direction, maximum=maximum)
            want = ref(img, footprint=fp, mode="reflect")
            assert got.dtype == img.dtype and got.shape == img.shape
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("direction", [0, 1, 2, 3])
@pytest.mark.parametrize("length", [5, 11, 21])
def test_opening_and_closing_equal_scipy(direction: int, length: int) -> None:
    fp = line_footprint(length, direction)
    for img in _images():
        np.testing.assert_array_equal(line_opening(img, length, direction),
                                      ndimage.grey_opening(img, footprint=fp, mode="reflect"))
        np.testing.assert_array_equal(line_closing(img, length, direction),
                                      ndimage.grey_closing(img, footprint=fp, mode="reflect"))


def test_line_opening_removes_short_bright_lines_only() -> None:
    img = np.zeros((40, 40), dtype=np.float32)
    img[10, 5:12] = 1.0  # 7 px horizontal line
    img[20:35, 20] = 1.0  # 15 px vertical line
    opened = line_opening(img, 11, 0)
    assert opened[10].max() == 0.0  # shorter than the line: removed
    opened_v = line_opening(img, 11, 1)
    assert opened_v[20:35, 20].min() == 1.0  # longer than the line along it: kept


@pytest.mark.parametrize("bad", [dict(length=4, direction=0), dict(length=0, direction=2),
                                 dict(length=5, direction=4)])
def test_bad_arguments_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        line_extremum(np.zeros((8, 8)), **bad)
