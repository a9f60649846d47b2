"""The touched segments are skimage's Felzenszwalb segments, pixel count for pixel count."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.segmentation import felzenszwalb

from detection.graph_segments import edge_weights, touched_segment_pixels


def _skimage_touched(image: np.ndarray, patch: np.ndarray, scale: float, sigma: float,
                     min_size: int) -> int:
    seg = felzenszwalb(image, scale=scale, sigma=sigma, min_size=min_size)
    sizes = np.bincount(seg.ravel())
    return int(sizes[np.unique(seg[patch])].sum())


def _windows(n: int, seed: int):
    rng = np.random.default_rng(seed)
    for k in range(n):
        h, w = (int(v) for v in rng.integers(2, 70, size=2))
        img = ndimage.gaussian_filter(rng.random((h, w, 3)),
                                      [rng.uniform(0.3, 4), rng.uniform(0.3, 4), 0])
        img = np.clip((img - img.min()) / (np.ptp(img) + 1e-9) * rng.uniform(0.8, 1.6), 0, 1)
        if k % 4 == 0:
            img[: h // 3] = 1.0  # saturated: many equal weights (ties)
        if k % 7 == 0:
            img = np.round(img * 4) / 4  # few levels: more ties
        patch = np.zeros((h, w), dtype=bool)
        r0, c0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        patch[r0:r0 + int(rng.integers(1, h + 1)), c0:c0 + int(rng.integers(1, w + 1))] = True
        yield img, patch


@pytest.mark.parametrize("scale, sigma, min_size", [(50.0, 0.8, 6), (10.0, 0.5, 4), (300.0, 1.5, 20)])
def test_touched_pixels_equal_skimage(scale: float, sigma: float, min_size: int) -> None:
    for img, patch in _windows(150, seed=int(scale)):
        assert touched_segment_pixels(img, patch, scale=scale, sigma=sigma, min_size=min_size) == \
            _skimage_touched(img, patch, scale, sigma, min_size)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 2)])
def test_thin_windows(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    img = rng.random(shape + (3,))
    patch = np.zeros(shape, dtype=bool)
    patch[0, 0] = True
    assert touched_segment_pixels(img, patch, scale=50, sigma=0.8, min_size=4) == \
        _skimage_touched(img, patch, 50, 0.8, 4)


def test_a_patch_on_a_uniform_field_touches_the_whole_field() -> None:
    img = np.full((30, 40, 3), 0.4)
    img[:, 25:] = 0.9  # a second field
    patch = np.zeros((30, 40), dtype=bool)
    patch[10:14, 5:9] = True
    got = touched_segment_pixels(img, patch, scale=50, sigma=0.8, min_size=6)
    assert got == _skimage_touched(img, patch, 50, 0.8, 6)
    # the first field but the columns the smoothing blurs into the second: 16 pixels, 40 times over
    assert 30 * 20 <= got <= 30 * 25 and got > 40 * patch.sum()


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError):
        touched_segment_pixels(np.zeros((5, 5)), np.ones((5, 5), bool), scale=1, sigma=1, min_size=1)
    with pytest.raises(ValueError):
        touched_segment_pixels(np.zeros((5, 5, 3)), np.ones((4, 5), bool), scale=1, sigma=1, min_size=1)


def test_merge_thresholds_are_rounded_to_float32_as_skimage_does() -> None:
    """Two pixels 0.5 apart, threshold scale / 255 = 0.5 + 1e-12: in float64 they would merge,
    with skimage's float32 thresholds (0.5) they do not."""
    img = np.zeros((1, 2, 3))
    img[0, 1, 0] = 0.5
    patch = np.array([[True, False]])
    scale = 255 * (0.5 + 1e-12)
    expected = _skimage_touched(img, patch, scale, 0.0, 1)
    assert expected == 1
    assert touched_segment_pixels(img, patch, scale=scale, sigma=0.0, min_size=1) == expected


def test_edge_weights_are_skimages_bit_for_bit() -> None:
    rng = np.random.default_rng(9)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(2, 150, size=2))
        img = rng.random((h, w, int(rng.integers(1, 5)))) * rng.uniform(0.1, 10)
        s = ndimage.gaussian_filter(img, [0.8, 0.8, 0], mode="reflect", truncate=4.0)

        def dist(a, b):
            return np.sqrt(np.sum((a - b) * (a - b), axis=-1)).ravel()

        expected = np.hstack([dist(s[:, 1:], s[:, :w - 1]), dist(s[1:], s[:h - 1]),
                              dist(s[1:, 1:], s[:h - 1, :w - 1]), dist(s[1:, :w - 1], s[:h - 1, 1:])])
        np.testing.assert_array_equal(edge_weights(img, 0.8), expected)
