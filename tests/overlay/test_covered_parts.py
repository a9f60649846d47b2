"""covered_parts / measure_pieces against the plain definition: area of (geometry ∩ union of layer).

The reference is computed the slow, obviously right way (one union of the whole layer, then one
intersection per geometry), on layers with every arrangement the fast path must recognise:
clean coverages, overlaps, duplicates, nested features, T-junctions and multipolygons.
"""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from overlay.split import (Layer, convex_polygons, covered_parts, dissolved_overlaps, measure_pieces,
                           overlap_free)


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
    assert not nested.any()  # container and nested alike
    # a T-junction (a vertex of one on the edge of two others) is no overlap
    t_junction = np.array([b(0, 0, 2, 1), b(0, 1, 1, 2), b(1, 1, 2, 2)], dtype=object)
    assert overlap_free(t_junction).all()
    # an overlap just above the tolerance is seen, one at it is not
    from overlay.split import OVERLAP_TOLERANCE_M2 as tol
    x0, y0 = 0.0, 0.0  # (far from the origin 2e-9 m is a few units in the last place)
    above = np.array([b(x0, y0, x0 + 1000, y0 + 1), b(x0, y0 + 1 - 2 * tol / 1000, x0 + 1000, y0 + 2)], dtype=object)
    assert not overlap_free(above).any()
    at = np.array([b(x0, y0, x0 + 1000, y0 + 1), b(x0, y0 + 1 - tol / 2000, x0 + 1000, y0 + 2)], dtype=object)
    assert overlap_free(at).all()
    assert not overlap_free(np.array([shapely.LineString([(0, 0), (1, 1)]), b(5, 5, 6, 6)], dtype=object))[0]


def assert_matches_definition(got, pieces: np.ndarray, farmland: np.ndarray, basic: np.ndarray,
                              approved: np.ndarray) -> None:
    """measure_pieces' areas against unions and intersections of whole layers (to the 0.01 m² rule)."""
    farm_geom = shapely.intersection(pieces, shapely.union_all(farmland))
    basic_geom = shapely.intersection(farm_geom, shapely.union_all(basic))
    app_union = shapely.union_all(approved) if len(approved) else shapely.Polygon()
    for column, want in [("farmland_m2", farm_geom), ("basic_farmland_m2", basic_geom),
                         ("legal_farmland_m2", shapely.intersection(farm_geom, app_union)),
                         ("illegal_basic_farmland_m2", shapely.difference(basic_geom, app_union)),
                         ("approved_m2", shapely.intersection(pieces, app_union))]:
        np.testing.assert_allclose(got[column], shapely.area(want), atol=0.011, err_msg=column)


@pytest.mark.parametrize("seed", [3, 4])
def test_measure_pieces_matches_the_definition_on_overlapping_layers(seed):
    rng = np.random.default_rng(seed)
    farmland = np.concatenate([grid(12, 10.0), random_boxes(rng, 10, 110.0, 5, 20)])
    basic = grid(12, 10.0)[::2]
    approved = random_boxes(rng, 25, 110.0, 10, 50)  # approvals overlap each other
    pieces = random_boxes(rng, 50, 110.0, 3, 45)
    got = measure_pieces(pieces, farmland, basic, approved)
    assert_matches_definition(got, pieces, farmland, basic, approved)
    np.testing.assert_allclose(got["farmland_m2"], got["legal_farmland_m2"] + got["illegal_farmland_m2"])
    np.testing.assert_allclose(got["area_m2"], got["farmland_m2"] + got["other_m2"])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_dissolved_overlaps_are_disjoint_and_cover_the_same_ground(name):
    """Nested features (and their containers), duplicates, T-junctions."""
    layer = LAYERS[name](np.random.default_rng(0))
    out = dissolved_overlaps(Layer(layer)).geoms
    ground = shapely.area(shapely.union_all(layer)) if len(layer) else 0.0
    assert shapely.area(out).sum() == pytest.approx(ground, abs=1e-6)  # no overlap left
    assert shapely.area(shapely.union_all(out)) == pytest.approx(ground, abs=1e-6)
    if name == "clean grid":
        assert len(out) == len(layer)  # nothing to dissolve


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_measured_parts_legal_area_with_any_approval_layer(name):
    """Settled farmland parts are measured, never built, and so is their approved part
    (piece x parcel x approval, on the approvals with overlaps dissolved): the same as the definition."""
    rng = np.random.default_rng(6)
    farmland = grid(12, 10.0)
    basic = farmland[::2]  # the same geometries: every parcel settled
    approved = LAYERS[name](rng)
    pieces = np.concatenate([random_boxes(rng, 40, 110.0, 3, 45), np.array([
        shapely.Polygon([(5, 5), (60, 5), (60, 20), (20, 20), (20, 60), (5, 60)]),
        shapely.box(30, 30, 90, 90).difference(shapely.box(50, 50, 60, 60))], dtype=object)])
    assert_matches_definition(measure_pieces(pieces, farmland, basic, approved), pieces, farmland, basic, approved)


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("seed", [0, 1])
def test_area_only_parts_give_the_same_areas(name, seed):
    """With every feature marked area-only, polygonal pairs are measured, not built: same areas."""
    rng = np.random.default_rng(seed)
    layer = LAYERS[name](rng)
    geoms = np.concatenate([random_boxes(rng, 60, 110.0, 3, 45), np.array([
        shapely.Polygon([(5, 5), (60, 5), (60, 20), (20, 20), (20, 60), (5, 60)]),  # concave L
        shapely.box(30, 30, 90, 90).difference(shapely.box(50, 50, 60, 60)),  # a hole
        shapely.MultiPolygon([shapely.box(0, 70, 10, 80), shapely.box(40, 70, 50, 80)])], dtype=object)])
    lay = Layer(layer)
    parts = covered_parts(geoms, lay, lambda g, f: np.ones(len(g), dtype=bool))
    np.testing.assert_allclose(parts.area_by_owner(len(geoms)), reference_area(geoms, layer), atol=1e-6)
    if name in ("clean grid", "grid with holes"):
        assert len(parts.measured_owner) > 0  # the fast path was taken
    built = covered_parts(geoms, lay)
    assert len(built.measured_owner) == 0  # without the mask every part is built
    np.testing.assert_allclose(built.area_by_owner(len(geoms)),
                               parts.area_by_owner(len(geoms)), atol=1e-6)


def test_convex_polygons():
    geoms = np.array([
        shapely.box(0, 0, 1, 1),
        shapely.Polygon([(0, 0), (1, 0), (2, 0), (2, 2), (0, 2)]),  # a collinear vertex is fine
        shapely.Polygon([(0, 0), (2, 0), (2, 2), (1, 1), (0, 2)]),  # concave
        shapely.box(0, 0, 4, 4).difference(shapely.box(1, 1, 2, 2)),  # a hole
        shapely.MultiPolygon([shapely.box(0, 0, 1, 1)]),
        shapely.Polygon(),
        shapely.Point(0, 0),
    ], dtype=object)
    assert list(convex_polygons(geoms)) == [True, True, False, False, False, False, False]


def test_overlap_free_for_features_that_only_touch():
    """Features whose boxes share an area are measured; two triangles sharing a diagonal do not
    overlap; features whose boxes only touch are overlap-free without being measured."""
    b = shapely.box
    triangles = np.array([shapely.Polygon([(0, 0), (1, 0), (1, 1)]),
                          shapely.Polygon([(0, 0), (1, 1), (0, 1)]),
                          b(1, 0, 2, 1), b(5, 5, 6, 6)], dtype=object)
    assert overlap_free(triangles).all()
    crossing = np.array([shapely.Polygon([(0, 0), (1, 0), (1, 1)]),
                         shapely.Polygon([(0, 0), (1, 0.5), (0, 1)]),
                         b(1, 0, 2, 1)], dtype=object)
    assert list(overlap_free(crossing)) == [False, False, True]


def test_measure_pieces_special_arrangements():
    """Patch inside one parcel, parcel inside a patch, a patch touching parcels only along edges,
    a concave patch over convex parcels, a convex patch over a concave parcel, parcels partly
    basic and parcels near approvals: known areas, and the definition."""
    b = shapely.box
    farmland = np.array([
        b(0, 0, 100, 100),                                          # 0: holds patch A
        b(200, 0, 210, 10),                                         # 1: inside patch B
        b(300, 0, 320, 20), b(320, 0, 340, 20),                     # 2, 3: patch C touches their edges
        b(400, 0, 420, 20), b(420, 0, 440, 20), b(400, 20, 420, 40),  # 4-6: under the L patch D
        shapely.Polygon([(500, 0), (560, 0), (560, 60), (530, 30), (500, 60)]),  # 7: concave, patch E
        b(600, 0, 620, 20), b(620, 0, 640, 20),                     # 8, 9: patch F, half basic
    ], dtype=object)
    basic = np.array([b(0, 0, 100, 100), b(600, 0, 630, 20), b(400, 0, 420, 40)], dtype=object)
    approved = np.array([b(430, 0, 450, 10), b(630, 15, 700, 100)], dtype=object)
    pieces = np.array([
        b(10, 10, 20, 30),                                          # A: 200 m², inside parcel 0
        b(195, -5, 215, 15),                                        # B: 400 m², parcel 1 (100) inside
        b(340, 0, 360, 20),                                         # C: touches parcel 3 only
        shapely.Polygon([(405, 5), (435, 5), (435, 15), (415, 15), (415, 35), (405, 35)]),  # D: L
        b(510, 10, 550, 50),                                        # E: over the concave parcel
        b(610, 5, 635, 18),                                         # F
    ], dtype=object)
    got = measure_pieces(pieces, farmland, basic, approved)
    assert list(got["farmland_m2"][:3]) == [200.0, 100.0, 0.0]
    assert list(got["basic_farmland_m2"][:3]) == [200.0, 0.0, 0.0]
    farm_union, basic_union, app_union = (shapely.union_all(g) for g in (farmland, basic, approved))
    farm_geom = shapely.intersection(pieces, farm_union)
    basic_geom = shapely.intersection(farm_geom, basic_union)
    np.testing.assert_allclose(got["farmland_m2"], shapely.area(farm_geom), atol=1e-6)
    np.testing.assert_allclose(got["basic_farmland_m2"], shapely.area(basic_geom), atol=1e-6)
    np.testing.assert_allclose(got["legal_farmland_m2"],
                               shapely.area(shapely.intersection(farm_geom, app_union)), atol=1e-6)
    np.testing.assert_allclose(got["illegal_basic_farmland_m2"],
                               shapely.area(shapely.difference(basic_geom, app_union)), atol=1e-6)
    assert got["legal_farmland_m2"][3] == pytest.approx(25.0)  # D meets approval 0 on parcel 5
    assert got["legal_farmland_m2"][5] == pytest.approx(3.0 * 5.0)  # F meets approval 1 on parcel 9


def irregular_coverage(rng: np.random.Generator, n: int, size: float) -> np.ndarray:
    """A clean coverage of n x n quadrilaterals whose inner corners are moved (shared exactly)."""
    edges = np.arange(n + 1) * size
    nx, ny = np.meshgrid(edges, edges)
    inner = np.zeros(nx.shape, dtype=bool)
    inner[1:-1, 1:-1] = True
    nx = nx + inner * rng.uniform(-0.2, 0.2, nx.shape) * size
    ny = ny + inner * rng.uniform(-0.2, 0.2, ny.shape) * size
    return np.array([shapely.Polygon([(nx[j, i], ny[j, i]), (nx[j, i + 1], ny[j, i + 1]),
                                      (nx[j + 1, i + 1], ny[j + 1, i + 1]), (nx[j + 1, i], ny[j + 1, i])])
                     for j in range(n) for i in range(n)], dtype=object)


@pytest.mark.parametrize("seed", [0, 1])
def test_basic_farmland_sharing_parcel_edges_settles_the_neighbours(seed, monkeypatch):
    """Basic farmland made of whole parcels (as a basic-farmland layer drawn from the parcel map
    is): a parcel next to a basic one only touches it, so it is settled as none basic, and no
    farmland part is cut by the basic layer; a basic feature crossing parcels unsettles exactly
    the parcels whose interiors it meets. Areas stay those of the definition."""
    import overlay.split as split

    rng = np.random.default_rng(seed)
    farmland = irregular_coverage(rng, 10, 20.0)
    crossing = shapely.box(105, 105, 135, 135)  # cuts through parcels, not along their edges
    basic = np.concatenate([farmland[::3], [crossing]])
    farm, basic_layer = Layer(farmland), Layer(basic)
    settled, _, in_basic = split._quiet_features(farm, basic_layer, Layer(np.empty(0, dtype=object)))
    interior_meets = shapely.area(shapely.intersection(farmland, crossing)) > 1e-9
    assert in_basic[::3].all()
    np.testing.assert_array_equal(settled, in_basic | ~interior_meets)
    assert not settled.all() and settled.sum() > 80  # the box test alone settled only the basic ones

    pieces = np.concatenate([random_boxes(rng, 80, 190.0, 3, 30),
                             np.array([shapely.box(100, 100, 140, 140)], dtype=object)])
    cut: list[int] = []
    real = split.covered_parts

    def spy(geoms, layer, area_only=None):
        if layer is basic_layer:
            cut.append(len(geoms))
        return real(geoms, layer, area_only)

    monkeypatch.setattr(split, "Layer", lambda g: basic_layer if g is basic else Layer(g))
    monkeypatch.setattr(split, "covered_parts", spy)
    approved = random_boxes(rng, 6, 190.0, 10, 40)
    got = measure_pieces(pieces, farmland, basic, approved)
    farm_geom = shapely.intersection(pieces, shapely.union_all(farmland))
    basic_geom = shapely.intersection(farm_geom, shapely.union_all(basic))
    app_union = shapely.union_all(approved)
    np.testing.assert_allclose(got["farmland_m2"], shapely.area(farm_geom), atol=0.011)  # SLIVER_M2 snapping
    np.testing.assert_allclose(got["basic_farmland_m2"], shapely.area(basic_geom), atol=0.011)  # SLIVER_M2 snapping
    np.testing.assert_allclose(got["illegal_basic_farmland_m2"],
                               shapely.area(shapely.difference(basic_geom, app_union)), atol=0.011)  # SLIVER_M2 snapping
    np.testing.assert_allclose(got["legal_farmland_m2"],
                               shapely.area(shapely.intersection(farm_geom, app_union)), atol=0.011)  # SLIVER_M2 snapping
    # only the parts of unsettled parcels (under the crossing feature) were cut by the basic layer
    n_parts_of_unsettled = sum(
        int((shapely.area(shapely.intersection(pieces, f)) > 0).sum()) for f in farmland[~settled])
    assert 0 < cut[0] <= n_parts_of_unsettled


def test_overlap_free_among_some_features():
    """Only overlaps between the asked features count; the others are reported unknown (False)."""
    b = shapely.box
    layer = np.array([b(0, 0, 2, 1), b(1, 0, 3, 1),  # 0, 1 overlap
                      b(10, 0, 12, 1), b(11, 0, 13, 1),  # 2, 3 overlap
                      b(20, 0, 21, 1)], dtype=object)  # 4 alone
    among = np.array([True, True, True, False, True])
    got = overlap_free(layer, among=among)
    assert not (got[0] and got[1])  # both asked: their overlap is seen
    assert got[2]  # its overlap is with a feature not asked about
    assert not got[3]  # not asked: unknown
    assert got[4]
    np.testing.assert_array_equal(overlap_free(layer, among=np.ones(5, dtype=bool)), overlap_free(layer))
