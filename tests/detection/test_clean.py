"""Opening then closing of the change mask, on masks whose answer is known."""
from __future__ import annotations

import numpy as np
import pytest

from detection.clean import clean_depth, clean_mask, disk


def test_disk_radius_one_is_the_square():
    assert disk(0).tolist() == [[True]]
    assert disk(1).all() and disk(1).shape == (3, 3)
    assert disk(2).sum() == 21 and not disk(2)[0, 0]


def test_rectangle_survives_exactly_and_speck_goes():
    m = np.zeros((40, 40), dtype=bool)
    m[5:15, 8:20] = True  # 10 x 12 building
    m[30, 30] = True  # speck
    m[25:27, 5:25] = True  # 2 px wide line: opening with r=1 (3x3) removes it
    out = clean_mask(m, opening_radius=1, closing_radius=1)
    expected = np.zeros_like(m)
    expected[5:15, 8:20] = True
    np.testing.assert_array_equal(out, expected)


def test_closing_fills_pinhole_but_respects_invalid_pixels():
    m = np.zeros((20, 20), dtype=bool)
    m[2:18, 2:18] = True
    m[6, 6] = False  # pinhole
    m[13, 13] = False  # hole that is invalid (cloud)
    valid = np.ones_like(m)
    valid[13, 13] = False
    out = clean_mask(m, valid, opening_radius=1, closing_radius=1)
    assert out[6, 6] and not out[13, 13]
    assert out.sum() == 16 * 16 - 1


def test_patch_on_the_grid_edge_is_not_eaten_by_the_closing():
    m = np.zeros((10, 10), dtype=bool)
    m[0:4, 0:5] = True
    out = clean_mask(m, opening_radius=0, closing_radius=2)
    np.testing.assert_array_equal(out, m)


def test_zero_radii_only_apply_validity():
    m = np.eye(5, dtype=bool)
    valid = np.ones_like(m)
    valid[2, 2] = False
    out = clean_mask(m, valid, opening_radius=0, closing_radius=0)
    assert out.sum() == 4 and not out[2, 2]


@pytest.mark.parametrize("r_open,r_close,depth", [(1, 1, 4), (0, 2, 4), (3, 0, 6), (0, 0, 0)])
def test_clean_depth(r_open, r_close, depth):
    assert clean_depth(r_open, r_close) == depth


def _scipy_clean(m, valid, opening, closing):
    """The definition: scipy's binary morphology with :func:`disk`, the module's border rule."""
    from scipy import ndimage

    m = m & valid
    if opening:
        m = ndimage.binary_erosion(m, structure=disk(opening), border_value=0)
        m = ndimage.binary_dilation(m, structure=disk(opening), border_value=0)
    if closing:
        m = ndimage.binary_dilation(m, structure=disk(closing), border_value=0)
        m = ndimage.binary_erosion(m, structure=disk(closing), border_value=1)
    return m & valid


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (2, 2), (3, 40), (64, 57)])
@pytest.mark.parametrize("radii", [(1, 1), (1, 0), (0, 1), (2, 1), (1, 2)])
def test_clean_mask_equals_scipy_morphology_on_random_masks(shape, radii):
    # radius 1 runs as two three-pixel passes, not through scipy: same pixels, edges included
    rng = np.random.default_rng(sum(shape) * 10 + sum(radii))
    for p in (0.3, 0.6, 0.9):
        m = rng.random(shape) < p
        valid = rng.random(shape) < 0.95
        got = clean_mask(m, valid, opening_radius=radii[0], closing_radius=radii[1])
        np.testing.assert_array_equal(got, _scipy_clean(m, valid, *radii))
