"""Mask -> polygons per chunk and merged across chunk borders, identical for any chunking."""
from __future__ import annotations

import numpy as np
from scipy import ndimage
import pytest
import shapely
from affine import Affine

from detection.vectorize import (
    chunk_components,
    merge_components,
    source_ids,
    to_map_coordinates,
)


def tiled(mask: np.ndarray, score: np.ndarray, rows: int, cols: int):
    """Components of a mask cut into chunks of rows x cols, merged."""
    chunks = []
    for r in range(0, mask.shape[0], rows):
        for c in range(0, mask.shape[1], cols):
            chunks.append(chunk_components(mask[r:r + rows, c:c + cols],
                                           score[r:r + rows, c:c + cols], r, c))
    return merge_components(chunks)


def awkward_mask() -> np.ndarray:
    """A catalogue of awkward shapes: U shape, ring with hole, diagonal touch, edge pixels."""
    m = np.zeros((30, 40), dtype=bool)
    m[2:12, 2:4] = m[2:12, 8:10] = m[10:12, 2:10] = True  # U open at the top
    m[15:25, 15:25] = True
    m[18:21, 18:21] = False  # ring with a 3x3 hole
    m[3, 20] = m[4, 21] = True  # two pixels touching at a corner: 2 polygons (4-connectivity)
    m[0, 39] = m[29, 0] = m[29, 39] = True  # grid corners
    m[5:7, 30:38] = True
    return m


def test_single_chunk_components():
    m = np.zeros((6, 8), dtype=bool)
    m[1:3, 2:6] = True
    score = np.where(m, 0.5, 0.0)
    comp = merge_components([chunk_components(m, score)])
    assert len(comp) == 1
    assert shapely.equals(comp.geometries[0], shapely.box(2, 1, 6, 3))
    assert comp.pixels.tolist() == [8] and comp.mean_scores.tolist() == [0.5]
    assert (comp.first_rows[0], comp.first_cols[0]) == (1, 2)


@pytest.mark.parametrize("rows,cols", [(7, 9), (10, 10), (3, 40), (30, 5), (1, 1)])
def test_chunked_equals_whole_exactly(rows, cols):
    m = awkward_mask()
    rng = np.random.default_rng(0)
    score = rng.uniform(0, 1, m.shape).astype(np.float32)
    whole = tiled(m, score, *m.shape)
    parts = tiled(m, score, rows, cols)
    assert len(whole) == 8
    assert parts.pixels.tolist() == whole.pixels.tolist()
    assert parts.first_rows.tolist() == whole.first_rows.tolist()
    assert parts.first_cols.tolist() == whole.first_cols.tolist()
    assert parts.mean_scores.tolist() == whole.mean_scores.tolist()  # exact
    assert parts.max_scores.tolist() == whole.max_scores.tolist()  # exact (a maximum)
    lab, _ = ndimage.label(m, structure=ndimage.generate_binary_structure(2, 1))
    firsts = lab[whole.first_rows, whole.first_cols]
    expected = ndimage.maximum(score.astype(np.float64), lab, firsts)
    assert whole.max_scores.tolist() == list(expected)
    for a, b in zip(parts.geometries, whole.geometries):
        assert shapely.equals_exact(a, b, 0.0), (a.wkt, b.wkt)
        assert a.is_valid and a.geom_type == "Polygon"
    # the polygons cover exactly the mask
    assert sum(g.area for g in whole.geometries) == m.sum()


def test_ring_keeps_its_hole_when_split_across_chunks():
    m = awkward_mask()
    comp = tiled(m, m.astype(float), 19, 19)  # chunk borders run through the ring and hole
    ring = [g for g in comp.geometries if len(g.interiors)]
    assert len(ring) == 1 and ring[0].area == 100 - 9
    assert shapely.equals(ring[0], shapely.box(15, 15, 25, 25).difference(shapely.box(18, 18, 21, 21)))


def test_raster_order_of_first_pixel():
    m = awkward_mask()
    comp = tiled(m, m.astype(float), 8, 8)
    firsts = list(zip(comp.first_rows.tolist(), comp.first_cols.tolist()))
    assert firsts == sorted(firsts)
    assert firsts[0] == (0, 39)
    # the U: first pixel is the top of its left arm
    assert (2, 2) in firsts and (2, 8) not in firsts


def test_mean_score_exact_over_pieces():
    m = np.zeros((4, 10), dtype=bool)
    m[1:3, :] = True
    score = np.tile(np.arange(10, dtype=np.float32) / 10, (4, 1))
    comp = tiled(m, score, 4, 3)
    assert len(comp) == 1 and comp.pixels[0] == 20
    assert comp.mean_scores[0] == pytest.approx(0.45, abs=1e-6)


def test_empty_mask():
    m = np.zeros((5, 5), dtype=bool)
    comp = tiled(m, m.astype(float), 2, 2)
    assert len(comp) == 0
    assert merge_components([]).pixels.size == 0


def test_map_coordinates_and_ids():
    g = np.array([shapely.box(2, 1, 6, 3)], dtype=object)
    out = to_map_coordinates(g, Affine(2.0, 0, 500000.0, 0, -2.0, 4400000.0))
    assert shapely.equals(out[0], shapely.box(500004.0, 4399994.0, 500012.0, 4399998.0))
    assert out[0].area == 32.0
    assert source_ids(3) == ["D000001", "D000002", "D000003"]


def test_chunk_polygons_are_those_gdal_traces_one_by_one():
    """The chunk's polygons, built from the traced rings at once, are GDAL's traces of each
    label read one by one through ``shapely.geometry.shape`` (holes and islands in holes)."""
    from rasterio import features

    rng = np.random.default_rng(4)
    holes = 0
    for k in range(40):
        shape = (int(rng.integers(8, 120)), int(rng.integers(8, 120)))
        mask = ndimage.binary_opening(rng.random(shape) < rng.uniform(0.3, 0.7)) | (rng.random(shape) < 0.05)
        row_off, col_off = (int(v) for v in rng.integers(0, 3000, 2))
        got = chunk_components(mask, rng.random(shape).astype(np.float32), row_off, col_off).geometries
        labels, n = ndimage.label(mask, structure=[[0, 1, 0], [1, 1, 1], [0, 1, 0]])
        want = np.empty(n, dtype=object)
        for geojson, value in features.shapes(labels.astype(np.int32), mask=labels > 0, connectivity=4,
                                              transform=Affine(1.0, 0, col_off, 0, 1.0, row_off)):
            want[int(value) - 1] = shapely.geometry.shape(geojson)
        assert len(got) == n
        assert [g.wkb for g in got] == [g.wkb for g in want], k
        holes += sum(len(g.interiors) for g in got)
    assert holes > 20
