"""The after-date segment test: an object of its own against a fragment of a changed field."""
from __future__ import annotations

import numpy as np
import shapely

from detection.objects import (
    rasterize_polygon,
    MIN_SEGMENT_COVERAGE,
    coverage_of_patches,
    patch_windows,
    segment_coverage,
    stretch_limits,
)


def _scene(seed: int = 0) -> np.ndarray:
    """(3, 200, 200): dark green farmland, a 12x12 px bright roof at (20, 20), a bright bare
    field filling rows 80-200, cols 60-200, all with mild noise."""
    rng = np.random.default_rng(seed)
    img = np.empty((3, 200, 200))
    img[:] = np.array([40.0, 90.0, 50.0])[:, None, None]
    img[:, 20:32, 20:32] = np.array([200.0, 190.0, 185.0])[:, None, None]
    img[:, 80:, 60:] = np.array([210.0, 200.0, 180.0])[:, None, None]
    return img + rng.normal(0, 3, img.shape)


def _limits(img: np.ndarray):
    return stretch_limits(img.reshape(3, -1))


def test_a_roof_covers_its_segment():
    img = _scene()
    patch = np.zeros(img.shape[1:], bool)
    patch[20:32, 20:32] = True
    lo, hi = _limits(img)
    assert segment_coverage(img, patch, lo=lo, hi=hi, pixel_size_m=1.0) > 0.8


def test_a_fragment_of_a_bright_field_is_a_small_part_of_its_segment():
    img = _scene()
    patch = np.zeros(img.shape[1:], bool)
    patch[120:135, 120:135] = True
    lo, hi = _limits(img)
    cov = segment_coverage(img, patch, lo=lo, hi=hi, pixel_size_m=1.0)
    assert cov < MIN_SEGMENT_COVERAGE
    # the whole field as the patch is an object again
    field = np.zeros(img.shape[1:], bool)
    field[80:, 60:] = True
    assert segment_coverage(img, field, lo=lo, hi=hi, pixel_size_m=1.0) > 0.8


def test_empty_patch_is_not_judged():
    img = _scene()
    lo, hi = _limits(img)
    assert segment_coverage(img, np.zeros(img.shape[1:], bool), lo=lo, hi=hi, pixel_size_m=1.0) == 1.0


def test_windows_reach_the_patch_extent_beyond_it_and_stay_on_the_grid():
    from detection.objects import MIN_MARGIN_PX, WINDOW_MARGIN

    assert (WINDOW_MARGIN, MIN_MARGIN_PX) == (1.0, 16)
    boxes = np.array([[50.0, 60.0, 80.0, 70.0], [0.0, 0.0, 2.0, 2.0], [50.0, 40.0, 60.0, 45.0]])
    w = patch_windows(boxes, (200, 200))
    # 30 px extent -> 30 px margin; x = column, y = row
    assert w[0].tolist() == [30, 100, 20, 110]
    # small patch: at least 16 px, clipped at 0
    assert w[1].tolist() == [0, 18, 0, 18]
    # clipped to a grid of 70 columns
    assert patch_windows(boxes[2:], (100, 70))[0].tolist() == [24, 61, 34, 70]


def test_stretch_limits_ignore_nan_and_never_collapse():
    s = np.array([[np.nan, 1.0, 2.0, 3.0], [5.0, 5.0, 5.0, 5.0]])
    lo, hi = stretch_limits(s)
    assert np.isfinite(lo).all() and (hi > lo).all()
    assert 1.0 <= lo[0] <= 1.1 and 2.9 <= hi[0] <= 3.0


def test_coverage_of_patches_reads_each_patch_window_in_grid_coordinates():
    img = _scene()
    lo, hi = _limits(img)
    reads = []

    def read_after(r0, r1, c0, c1):
        reads.append((r0, r1, c0, c1))
        return img[:, r0:r1, c0:c1]

    roof = shapely.box(20, 20, 32, 32)  # x = column, y = row
    fragment = shapely.box(120, 120, 135, 135)
    cov = coverage_of_patches(np.array([roof, fragment], dtype=object), read_after, img.shape[1:],
                              lo=lo, hi=hi, pixel_size_m=1.0)
    assert cov[0] > 0.8 and cov[1] < MIN_SEGMENT_COVERAGE
    assert len(reads) == 2 and reads[0][0] <= 20 and reads[0][1] >= 32
    assert coverage_of_patches(np.array([], dtype=object), read_after, img.shape[1:], lo=lo, hi=hi,
                               pixel_size_m=1.0).shape == (0,)


def test_coverage_on_threads_is_the_same_in_the_same_order():
    img = _scene(seed=3)
    lo, hi = _limits(img)
    rng = np.random.default_rng(5)
    boxes = []
    for _ in range(40):
        x, y = rng.integers(0, 185, size=2)
        w, h = rng.integers(3, 15, size=2)
        boxes.append(shapely.box(float(x), float(y), float(x + w), float(y + h)))
    geoms = np.array(boxes, dtype=object)

    def read_after(r0, r1, c0, c1):
        return img[:, r0:r1, c0:c1]

    serial = coverage_of_patches(geoms, read_after, img.shape[1:], lo=lo, hi=hi, pixel_size_m=1.0)
    judged: list[int] = []
    threaded = coverage_of_patches(geoms, read_after, img.shape[1:], lo=lo, hi=hi, pixel_size_m=1.0,
                                   threads=2, on_judged=judged.append)
    assert len(np.unique(serial)) > 5  # the patches are judged differently, so order matters
    np.testing.assert_array_equal(threaded, serial)
    assert sum(judged) == len(geoms) and len(judged) > 1  # the progress counts every patch once


def test_decimation_keeps_a_window_under_the_cap_and_small_windows_whole():
    from detection.objects import MAX_WINDOW_PX, decimation

    assert decimation(64, MAX_WINDOW_PX // 64) == 1 == decimation(1, MAX_WINDOW_PX)
    for h, w in [(257, 256), (600, 600), (2000, 3000), (1, MAX_WINDOW_PX + 1), (9000, 40)]:
        f = decimation(h, w)
        assert f >= 2 and -(-h // f) * -(-w // f) <= MAX_WINDOW_PX
        assert -(-h // (f - 1)) * -(-w // (f - 1)) > MAX_WINDOW_PX or f == 2  # the smallest such


def test_block_mean_averages_valid_values_and_keeps_all_nan_blocks_nan():
    from detection.objects import block_mean

    x = np.arange(2 * 5 * 5, dtype=float).reshape(2, 5, 5)
    x[0, 0, 0] = np.nan
    x[1, 4, 4] = np.nan  # the last, partial block of band 1 holds only this pixel
    m = block_mean(x, 2)
    assert m.shape == (2, 3, 3)
    assert m[0, 0, 0] == np.mean([1.0, 5.0, 6.0])  # NaN ignored
    assert m[0, 2, 1] == np.mean([22.0, 23.0])  # partial block of the last row
    assert np.isnan(m[1, 2, 2])
    np.testing.assert_array_equal(block_mean(x, 1), x)


def test_block_mean_without_missing_values_averages_partial_blocks_over_their_own_pixels():
    from detection.objects import block_mean

    x = np.random.default_rng(4).random((3, 7, 10)).astype(np.float32)
    m = block_mean(x, 3)
    assert m.shape == (3, 3, 4) and m.dtype == np.float64
    for i, j in [(0, 0), (2, 3), (1, 3), (2, 0)]:  # whole, corner, last column, last row
        block = x[:, 3 * i:3 * i + 3, 3 * j:3 * j + 3].astype(np.float64)
        np.testing.assert_allclose(m[:, i, j], block.mean(axis=(1, 2)), rtol=1e-12)


def test_a_large_window_is_judged_block_averaged():
    """A scene five times the size of :func:`_scene`: the windows of its roof (now 60 px), of a
    fragment of the bright field and of the whole field are above the cap, so they are segmented
    block-averaged; a small roof added on the farmland keeps its window whole. Roofs and a whole
    field are objects, the fragment is not."""
    import detection.objects as objects

    img = np.repeat(np.repeat(_scene(seed=7), 5, axis=1), 5, axis=2)  # (3, 1000, 1000)
    img[:, 250:270, 50:70] = np.array([200.0, 190.0, 185.0])[:, None, None]
    img += np.random.default_rng(2).normal(0, 3, img.shape)
    lo, hi = _limits(img)
    reads = {}

    def read_after(r0, r1, c0, c1):
        reads[(r0, c0)] = (r1 - r0) * (c1 - c0)
        return img[:, r0:r1, c0:c1]

    small_roof = shapely.box(50, 250, 70, 270)  # 20 px: a window of 60 px, under the cap
    roof = shapely.box(100, 100, 160, 160)
    fragment = shapely.box(600, 600, 700, 700)  # inside the bright field (rows 400+, cols 300+)
    field = shapely.box(300, 400, 1000, 1000)
    geoms = np.array([small_roof, roof, fragment, field], dtype=object)
    cov = coverage_of_patches(geoms, read_after, img.shape[1:], lo=lo, hi=hi, pixel_size_m=1.0)
    sizes = [reads[(int(r0), int(c0))] for r0, _, c0, _ in objects.patch_windows(shapely.bounds(geoms), img.shape[1:])]
    assert sizes[0] <= objects.MAX_WINDOW_PX < min(sizes[1:])
    assert cov[0] > 0.8 and cov[1] > 0.8 and cov[2] < MIN_SEGMENT_COVERAGE and cov[3] > 0.8


def _staircase(rng: np.random.Generator, size: int, holes: bool) -> shapely.Geometry:
    """A patch as detection vectorises one: a union of whole pixels, maybe with holes."""
    from rasterio.features import shapes

    blob = np.zeros((size, size), dtype=np.uint8)
    for _ in range(rng.integers(2, 6)):
        r, c = rng.integers(1, size - 8, 2)
        blob[r:r + rng.integers(3, 8), c:c + rng.integers(3, 8)] = 1
    if holes:
        blob[1:-1, 1:-1] |= 1
        for _ in range(rng.integers(1, 4)):
            r, c = rng.integers(3, size - 5, 2)
            blob[r:r + rng.integers(1, 3), c:c + rng.integers(1, 3)] = 0
    polys = [shapely.geometry.shape(g) for g, v in shapes(blob, mask=blob > 0) if v == 1]
    return max(polys, key=lambda p: p.area)


def _rasterio_burn(polygon, shape, factor, row0, col0) -> np.ndarray:
    from affine import Affine
    from rasterio.features import rasterize

    return rasterize([(polygon, 1)], out_shape=shape, fill=0, dtype="uint8",
                     transform=Affine(float(factor), 0, float(col0), 0, float(factor), float(row0))
                     ).astype(bool)


def test_rasterize_polygon_burns_the_pixels_rasterio_burns():
    """Whole-pixel patches with holes, both ring orientations, block-averaged windows (even
    factors put pixel centres on the patches' edges), windows offset from the patch and cut by
    it: the same pixels as rasterio's (GDAL's) rasterize."""
    from shapely.geometry.polygon import orient

    rng = np.random.default_rng(8)
    checked = holed = 0
    for k in range(160):
        size = int(rng.integers(12, 40))
        polygon = _staircase(rng, size, holes=bool(k % 2))
        polygon = shapely.affinity.translate(polygon, *rng.integers(0, 30, 2))
        for oriented in (shapely.normalize(polygon), orient(polygon, 1.0), orient(polygon, -1.0)):
            for factor in (1, 2, 3, 4, 6):
                row0, col0 = (int(v) for v in rng.integers(-10, 25, 2))
                shape = (int(rng.integers(5, 70 // factor + 6)), int(rng.integers(5, 70 // factor + 6)))
                want = _rasterio_burn(oriented, shape, factor, row0, col0)
                got = rasterize_polygon(oriented, shape, factor=factor, row0=row0, col0=col0)
                assert got.dtype == bool and got.shape == shape
                assert np.array_equal(got, want), (k, factor, row0, col0)
                checked += 1
                holed += bool(len(oriented.interiors)) and bool(want.any())
    assert checked == 160 * 15 and holed > 100


def test_rasterize_polygon_on_sloped_edges_and_multipolygons():
    """Not only staircases: random polygons with sloped edges and fractional vertices, and
    multipolygons of parts apart, burn as rasterio burns them."""
    rng = np.random.default_rng(3)
    for k in range(200):
        pts = rng.uniform(0, 40, (int(rng.integers(3, 12)), 2))
        hull = shapely.convex_hull(shapely.multipoints(pts))
        if hull.geom_type != "Polygon":
            continue
        part = shapely.affinity.translate(hull, 45, 5)
        for polygon in (hull, shapely.MultiPolygon([hull, part])):
            factor = int(rng.integers(1, 5))
            shape = (90 // factor + 1, 90 // factor + 1)
            want = _rasterio_burn(polygon, shape, factor, -2, -3)
            assert np.array_equal(rasterize_polygon(polygon, shape, factor=factor, row0=-2, col0=-3), want), k


def test_rasterize_polygon_of_nothing_is_empty_and_of_a_line_is_an_error():
    import pytest

    assert not rasterize_polygon(shapely.Polygon(), (4, 5)).any()
    with pytest.raises(ValueError, match="takes a polygon"):
        rasterize_polygon(shapely.LineString([(0, 0), (3, 3)]), (4, 4))
