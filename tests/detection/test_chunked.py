"""Dask is a thin wrapper: mapped results equal the eager numpy results for any chunking."""
from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

from detection.chunked import clean_array, components_tasks, score_array, score_block, score_histogram
from detection.clean import clean_mask
from detection.vectorize import chunk_components, merge_components

GAINS = np.array([1.05, 1.06, 1.07, 1.04])
OFFSETS = np.array([80.0, 120.0, 60.0, 100.0])


@pytest.fixture
def pair():
    """Random before/after with NaN holes and a few bright blocks in the after date."""
    rng = np.random.default_rng(0)
    crop = np.array([300, 600, 400, 3500], dtype=np.float32)[:, None, None]
    before = (crop + rng.uniform(-150, 150, size=(4, 150, 130))).astype(np.float32)
    after = before * GAINS[:, None, None].astype(np.float32) + OFFSETS[:, None, None].astype(np.float32)
    after[:, 20:40, 30:50] = np.array([2800, 2900, 3000, 3100], dtype=np.float32)[:, None, None]
    after[:, 100:110, 60:90] = np.array([3000, 2400, 1800, 2000], dtype=np.float32)[:, None, None]
    after[:, 5:9, 100:120] = np.nan
    valid = np.isfinite(after).all(axis=0) & (rng.random((150, 130)) > 0.01)
    return before, after, valid


def to_dask(before, after, valid, size):
    return (da.from_array(before, chunks=(4, size, size)), da.from_array(after, chunks=(4, size, size)),
            da.from_array(valid, chunks=size))


@pytest.mark.parametrize("size", [32, 50, 64, 200])
def test_score_dask_equals_eager(pair, size):
    before, after, valid = pair
    eager = score_block(before, after, valid, GAINS, OFFSETS, 10000.0)
    b, a, v = to_dask(before, after, valid, size)
    lazy = score_array(b, a, v, GAINS, OFFSETS, 10000.0)
    assert lazy.chunks == v.chunks
    np.testing.assert_array_equal(lazy.compute(), eager)
    assert eager[25, 35] > 0.2 and eager[105, 70] > 0.2 and eager[6, 110] == 0


@pytest.mark.parametrize("size", [16, 25])
@pytest.mark.parametrize("radii", [(1, 1), (2, 1), (0, 3), (1, 0), (0, 0)])
def test_clean_dask_equals_eager(size, radii):
    # many small random masks of several densities: an overlap one pixel short shows up here
    rng = np.random.default_rng(1)
    for density in (0.3, 0.5, 0.7, 0.85):
        for _ in range(3):
            mask = rng.random((90, 70)) < density
            valid = rng.random((90, 70)) > 0.03
            eager = clean_mask(mask, valid, opening_radius=radii[0], closing_radius=radii[1])
            lazy = clean_array(da.from_array(mask, chunks=size), da.from_array(valid, chunks=size),
                               *radii)
            np.testing.assert_array_equal(lazy.compute(scheduler="sync"), eager)


def test_clean_merges_chunks_thinner_than_the_overlap_and_keeps_chunks():
    rng = np.random.default_rng(2)
    mask = rng.random((100, 100)) > 0.5
    lazy = clean_array(da.from_array(mask, chunks=((97, 3), (50, 49, 1))),
                       da.from_array(np.ones_like(mask), chunks=((97, 3), (50, 49, 1))), 1, 1)
    assert lazy.chunks == ((97, 3), (50, 49, 1))
    np.testing.assert_array_equal(lazy.compute(), clean_mask(mask))


@pytest.mark.parametrize("size", [32, 64])
def test_histogram_counts_valid_pixels_only(pair, size):
    before, after, valid = pair
    eager = score_block(before, after, valid, GAINS, OFFSETS, 10000.0)
    b, a, v = to_dask(before, after, valid, size)
    counts, edges = score_histogram(score_array(b, a, v, GAINS, OFFSETS, 10000.0), v)
    expected, _ = np.histogram(np.clip(eager[valid], 0, 1), bins=edges)
    np.testing.assert_array_equal(counts.compute(), expected)
    assert counts.sum().compute() == valid.sum()


@pytest.mark.parametrize("size", [32, 50])
def test_components_dask_equals_eager(pair, size):
    before, after, valid = pair
    score = score_block(before, after, valid, GAINS, OFFSETS, 10000.0)
    mask = clean_mask(score > 0.1, valid)
    eager = merge_components([chunk_components(mask, score)])
    chunks = dask.compute(*components_tasks(da.from_array(mask, chunks=size),
                                            da.from_array(score, chunks=size)))
    lazy = merge_components(list(chunks))
    assert len(eager) == 2
    assert lazy.pixels.tolist() == eager.pixels.tolist()
    assert lazy.pixels.sum() == mask.sum() and 390 < lazy.pixels[0] <= 400  # a few invalid px
    assert lazy.mean_scores.tolist() == eager.mean_scores.tolist()
    assert all(a.equals_exact(b, 0.0) for a, b in zip(lazy.geometries, eager.geometries))


class _CountingReader:
    """A lazy (bands, rows, cols) source that records the windows asked of it."""

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, data: np.ndarray):
        self.data = data
        self.shape = data.shape
        self.keys: list = []

    def __getitem__(self, key):
        self.keys.append(key)
        return self.data[key]


def test_source_window_reads_only_the_window():
    from detection.chunked import source_window

    data = np.arange(2 * 300 * 200, dtype=np.float32).reshape(2, 300, 200)
    reader = _CountingReader(data)
    arr = da.from_array(reader, chunks=(2, 128, 128), name="reader-test", asarray=False, fancy=False,
                        meta=np.empty((0, 0, 0), dtype=np.float32))
    win = source_window(arr, slice(100, 140), slice(120, 150))  # inside 4 chunks
    assert win.shape == (2, 40, 30)
    np.testing.assert_array_equal(win.compute(), data[:, 100:140, 120:150])
    assert reader.keys == [(slice(None), slice(100, 140), slice(120, 150))]
    # a computed (or in-memory) array is sliced as usual
    derived = arr + 1
    np.testing.assert_array_equal(source_window(derived, slice(0, 5), slice(0, 7)).compute(),
                                  data[:, :5, :7] + 1)


@pytest.mark.parametrize("method", ["spectral", "learned"])
def test_window_counts_of_a_partition_equal_the_whole_image_counts(pair, method):
    from detection.compose import (
        Settings, expand_window, scene_statistics, score_block as registered, score_counts,
        score_depth, window_counts,
    )
    from detection.registry import get_method
    from detection.threshold import histogram_edges

    before, after, valid = pair
    before = np.where(np.isfinite(after), before, np.nan).astype(np.float32)
    settings = Settings(method=method)
    ok = valid & np.isfinite(before).all(0)
    stats = scene_statistics(settings, before[:, ok], after[:, ok], dtype="uint16")
    depth = score_depth(settings, 2.0)
    value_range = get_method(method).value_range
    edges = histogram_edges(1000, value_range)
    whole = registered(before, after, ok, settings=settings, stats=stats, pixel_size_m=2.0)
    expected = score_counts(whole, ok, edges, value_range)
    total = np.zeros_like(expected)
    for rows in (slice(0, 37), slice(37, 100), slice(100, 150)):  # windows tiling the grid
        for cols in (slice(0, 70), slice(70, 130)):
            (r, c), inner = expand_window((rows, cols), depth, ok.shape)
            total += window_counts(before[:, r, c], after[:, r, c], ok[r, c], inner,
                                   settings=settings, stats=stats, pixel_size_m=2.0, edges=edges,
                                   value_range=value_range)
    assert total.sum() == ok.sum()
    np.testing.assert_array_equal(total, expected)


def test_window_reader_reads_the_source_directly_and_equals_the_slice():
    from detection.chunked import window_reader

    data = np.arange(2 * 300 * 200, dtype=np.float32).reshape(2, 300, 200)
    reader = _CountingReader(data)
    arr = da.from_array(reader, chunks=(2, 128, 128), name="reader-window", asarray=False, fancy=False,
                        meta=np.empty((0, 0, 0), dtype=np.float32))
    read = window_reader(arr)
    got = read(slice(100, 140), slice(120, 150))
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, data[:, 100:140, 120:150])
    assert reader.keys == [(slice(None), slice(100, 140), slice(120, 150))]  # the window only
    # a derived array is computed, with the same values as its slice
    derived = window_reader(arr + 1)(slice(290, 300), slice(0, 7))
    np.testing.assert_array_equal(derived, data[:, 290:300, :7] + 1)
