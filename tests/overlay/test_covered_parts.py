"""covered_parts / measure_pieces against the plain definition: area of (geometry ∩ union of layer).

The reference is computed the slow, obviously right way (one union of the whole layer, then one
intersection per geometry), on layers with every arrangement the fast path must recognise:
clean coverages, overlaps, duplicates, nested features, T-junctions and multipolygons.
"""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from overlay.split import Layer, covered_parts, measure_pieces, overlap_free


def reference_area(geoms: np.ndarray, layer: np.ndarray) -> np.ndarray:
    if len(layer) == 0:
        return np.zeros(len(geoms))
    union = shapely.union_all(layer)
    return shapely.area(shapely.intersection(geoms, union))


def grid(n: int, size: float, x0: float = 0.0, y0: float = 0.0) -> np.ndarray:
    """A clean coverage: an n x n grid of squares sharing exact vertices."""
    edges = x0 + np.arange(n + 1) * size, y0 + np.arange(n + 1) * size
    return np.array([shapely.box(edges[0][i], edges[1][j], edges[0][i + 1], edges[1][j + 1])
                     for i in range(n) for j in range(n)], dtype=object)


def random_boxes(rng: np.random.Generator, n: int, extent: float, lo: float, hi: float) -> np.ndarray:
    x, y = rng.uniform(0, extent, n), rng.uniform(0, extent, n)
    return shapely.box(x, y, x + rng.uniform(lo, hi, n), y + rng.uniform(lo, hi, n))


LAYERS = {
    "clean grid": lambda rng: grid(12, 10.0),
    "grid with holes": lambda rng: grid(12, 10.0)[rng.random(144) < 0.6],
    "overlapping boxes": lambda rng: random_boxes(rng, 80, 120.0, 5, 40),
    "grid plus duplicates": lambda rng: np.concatenate([grid(12, 10.0), grid(12, 10.0)[::7]]),
    "grid plus nested": lambda rng: np.concatenate(
        [grid(12, 10.0), np.array([shapely.box(x + 2, y + 2, x + 6, y + 6)
                                   for x, y in rng.uniform(0, 110, (10, 2))], dtype=object)]),
    "t-junctions": lambda rng: np.array(
        [shapely.box(0, 0, 60, 120), shapely.box(60, 0, 120, 60), shapely.box(60, 60, 120, 120),
         shapely.box(30, 30, 90, 40)], dtype=object),
    "multipolygons": lambda rng: np.array(
        [shapely.MultiPolygon([shapely.box(0, 0, 20, 20), shapely.box(40, 40, 70, 70)]),
         shapely.box(20, 0, 40, 20), shapely.box(10, 10, 50, 50)], dtype=object),
    "empty": lambda rng: np.empty(0, dtype=object),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_covered_parts_area_equals_area_of_the_union(name, seed):
    rng = np.random.default_rng(seed)
    layer = LAYERS[name](rng)
    geoms = np.concatenate([random_boxes(rng, 60, 110.0, 3, 45),
                            np.array([shapely.box(12, 12, 18, 18), shapely.box(-50, -50, -40, -40)],
                                     dtype=object)])
    parts = covered_parts(geoms, Layer(layer))
    got = parts.area_by_owner(len(geoms))
    np.testing.assert_allclose(got, reference_area(geoms, layer), atol=1e-6)
    # parts of one owner never overlap: their union has the same area as their sum
    for owner in np.unique(parts.owner):
        mine = parts.parts[parts.owner == owner]
        assert shapely.area(shapely.union_all(mine)) == pytest.approx(shapely.area(mine).sum(), abs=1e-6)


def test_overlap_free_flags_what_overlaps():
    b = shapely.box
    assert overlap_free(np.array([b(0, 0, 1, 1), b(1, 0, 2, 1)], dtype=object)).all()
    assert not overlap_free(np.array([b(0, 0, 2, 1), b(1, 0, 3, 1)], dtype=object)).any()
    assert not overlap_free(np.array([b(0, 0, 1, 1), b(0, 0, 1, 1)], dtype=object)).any()
    nested = overlap_free(np.array([b(0, 0, 3, 3), b(1, 1, 2, 2)], dtype=object))
    assert not nested[1]  # the nested one is enough to send a group down the union path


@pytest.mark.parametrize("seed", [3, 4])
def test_measure_pieces_matches_the_definition_on_overlapping_layers(seed):
    rng = np.random.default_rng(seed)
    farmland = np.concatenate([grid(12, 10.0), random_boxes(rng, 10, 110.0, 5, 20)])
    basic = grid(12, 10.0)[::2]
    approved = random_boxes(rng, 25, 110.0, 10, 50)  # approvals overlap each other
    pieces = random_boxes(rng, 50, 110.0, 3, 45)
    got = measure_pieces(pieces, farmland, basic, approved)
    farm_union = shapely.union_all(farmland)
    farm_geom = shapely.intersection(pieces, farm_union)
    basic_geom = shapely.intersection(farm_geom, shapely.union_all(basic))
    app_union = shapely.union_all(approved)
    np.testing.assert_allclose(got["farmland_m2"], shapely.area(farm_geom), atol=0.011)
    np.testing.assert_allclose(got["basic_farmland_m2"], shapely.area(basic_geom), atol=0.011)
    np.testing.assert_allclose(got["legal_farmland_m2"],
                               shapely.area(shapely.intersection(farm_geom, app_union)), atol=0.011)
    np.testing.assert_allclose(got["illegal_basic_farmland_m2"],
                               shapely.area(shapely.difference(basic_geom, app_union)), atol=0.011)
    np.testing.assert_allclose(got["approved_m2"],
                               shapely.area(shapely.intersection(pieces, app_union)), atol=0.011)
    np.testing.assert_allclose(got["farmland_m2"], got["legal_farmland_m2"] + got["illegal_farmland_m2"])
    np.testing.assert_allclose(got["area_m2"], got["farmland_m2"] + got["other_m2"])
