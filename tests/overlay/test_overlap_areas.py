"""overlap_areas against GEOS: area(shapely.intersection(g, f)) per pair, on every kind of pair.

Coordinates are far from the origin, as projected coordinates are; shapes include convex and
concave polygons either way round, holes on both sides, several parts, staircase polygons traced
from pixels, shared edges, containment, disjoint pairs and collinear vertices.
"""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from overlay.overlap_areas import convex_pieces, overlap_areas
from overlay.split import convex_polygons

X0, Y0 = 530000.0, 4840000.0


def star(rng: np.random.Generator, cx: float, cy: float, r: tuple[float, float] = (5, 40)) -> shapely.Polygon:
    """A concave polygon: vertices at random radii around a centre, in angle order (gaps under
    half a turn, so that the ring is simple)."""
    angles = (np.arange(9) + rng.uniform(0, 0.8, 9)) * 2 * np.pi / 9
    radii = rng.uniform(*r, 9)
    return shapely.Polygon(np.c_[cx + radii * np.cos(angles), cy + radii * np.sin(angles)])


def staircase(rng: np.random.Generator, x: float, y: float) -> shapely.Geometry:
    """A pixel blob's outline on a 2 m grid (concave, maybe with holes or several parts)."""
    blob = rng.random((12, 12)) < 0.55
    cells = [shapely.box(x + 2 * j, y + 2 * i, x + 2 * j + 2, y + 2 * i + 2) for i, j in zip(*np.nonzero(blob))]
    return shapely.union_all(cells)


def shapes(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    x, y = X0 + rng.uniform(0, 1000, n), Y0 + rng.uniform(0, 1000, n)
    holed = shapely.difference(shapely.box(x - 30, y - 30, x + 40, y + 40), shapely.box(x - 5, y - 5, x + 10, y + 10))
    two = shapely.union(shapely.box(x, y, x + 10, y + 10), shapely.box(x + 20, y + 20, x + 35, y + 30))
    hulls = shapely.convex_hull(shapely.multipoints(
        np.c_[np.repeat(x, 7) + rng.uniform(0, 50, 7 * n), np.repeat(y, 7) + rng.uniform(0, 50, 7 * n)],
        indices=np.repeat(np.arange(n), 7)))
    stars = np.array([star(rng, a + 20, b + 20) for a, b in zip(x, y)], dtype=object)
    return {
        "box": shapely.box(x, y, x + rng.uniform(5, 60, n), y + rng.uniform(5, 60, n)),
        "hull": hulls,
        "hull clockwise": shapely.orient_polygons(hulls, exterior_cw=True),
        "star": stars,
        "star clockwise": shapely.orient_polygons(stars, exterior_cw=True),
        "holed": holed,
        "two parts": two,
        "staircase": np.array([staircase(rng, a - 10, b - 10) for a, b in zip(x, y)], dtype=object),
        "collinear": shapely.Polygon(),  # replaced below
        "shared edge": shapely.box(x, y, x + 30, y + 30),
        "inside": shapely.box(x + 1, y + 1, x + 2, y + 2),
        "around": shapely.box(x - 100, y - 100, x + 200, y + 200),
        "disjoint": shapely.box(x - 90, y - 90, x - 80, y - 80),
        "empty": np.array([shapely.Polygon()] * n, dtype=object),
    } | {"collinear": np.array([shapely.Polygon([(a, b), (a + 10, b), (a + 20, b), (a + 20, b + 20),
                                                 (a + 10, b + 10), (a, b + 20), (a, b + 10)])
                                for a, b in zip(x, y)], dtype=object)}


@pytest.mark.parametrize("seed", [0, 1])
def test_overlap_areas_match_geos(seed):
    rng = np.random.default_rng(seed)
    n = 60
    kinds = shapes(rng, n)
    rng = np.random.default_rng(seed)  # features on the same positions as the geometries
    for gname, geoms in kinds.items():
        for fname, features in kinds.items():
            geoms, features = np.asarray(geoms, dtype=object), np.asarray(features, dtype=object)
            # every geometry with its own feature and with three others
            gi = np.r_[np.arange(n), rng.integers(0, n, 3 * n)]
            fi = np.r_[np.arange(n), rng.integers(0, n, 3 * n)]
            got = overlap_areas(geoms, features, gi, fi)
            want = shapely.area(shapely.intersection(geoms[gi], features[fi]))
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6, err_msg=f"{gname} x {fname}")


@pytest.mark.parametrize("third", ["box", "hull clockwise", "star", "holed", "two parts", "staircase", "empty"])
def test_overlap_areas_of_three_match_geos(third):
    """area(g ∩ f ∩ h): every piece of f meets every piece of h."""
    rng = np.random.default_rng(11)
    n = 60
    kinds = shapes(rng, n)
    overlapping = 0
    for gname, fname in [("staircase", "star"), ("holed", "staircase"), ("star", "hull"), ("two parts", "holed"),
                         ("box", "collinear")]:
        geoms, features, thirds = (np.asarray(kinds[k], dtype=object) for k in (gname, fname, third))
        gi, fi, ti = (np.r_[np.arange(n), rng.integers(0, n, 2 * n)] for _ in range(3))
        got = overlap_areas(geoms, features, gi, fi, thirds=thirds, ti=ti)
        want = np.zeros(len(gi))
        some = ~shapely.is_empty(thirds[ti])  # (GEOS fails on some intersections with an empty polygon)
        want[some] = shapely.area(shapely.intersection(shapely.intersection(geoms[gi[some]], features[fi[some]]),
                                                       thirds[ti[some]]))
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6, err_msg=f"{gname} x {fname} x {third}")
        overlapping += (want > 1).sum()
    assert overlapping == 0 if third == "empty" else overlapping > 100


def test_convex_flags_only_save_work():
    """The same areas whether convex features are flagged (one piece) or fanned like the others."""
    rng = np.random.default_rng(5)
    kinds = shapes(rng, 40)
    geoms, features = kinds["staircase"], np.concatenate([kinds["hull"], kinds["box"], kinds["star"]])
    gi, fi = np.repeat(np.arange(40), 3), np.r_[np.arange(40), 40 + np.arange(40), 80 + np.arange(40)]
    flagged = overlap_areas(geoms, features, gi, fi, convex_polygons(features))
    fanned = overlap_areas(geoms, features, gi, fi, np.zeros(len(features), dtype=bool))
    np.testing.assert_allclose(flagged, fanned, rtol=1e-9, atol=1e-7)
    assert flagged.sum() > 0


def test_large_features_cut_into_delaunay_triangles(monkeypatch):
    """Above FAN_MAX_VERTICES a feature is cut by GEOS's constrained Delaunay triangulation: the
    same areas as its fans (every shape but the convex ones goes one way, then the other)."""
    import overlay.overlap_areas as module

    rng = np.random.default_rng(9)
    kinds = shapes(rng, 40)
    geoms = kinds["staircase"]
    features = np.concatenate([kinds["star"], kinds["holed"], kinds["two parts"], kinds["staircase"]])
    gi, fi = np.tile(np.arange(40), 4), np.arange(160)
    fans = overlap_areas(geoms, features, gi, fi)
    monkeypatch.setattr(module, "FAN_MAX_VERTICES", 0)
    triangles = overlap_areas(geoms, features, gi, fi)
    np.testing.assert_allclose(triangles, fans, rtol=1e-9, atol=1e-7)
    want = shapely.area(shapely.intersection(geoms[gi], features[fi]))
    np.testing.assert_allclose(triangles, want, rtol=1e-9, atol=1e-6)
    assert (want > 0).sum() > 100


@pytest.mark.parametrize("fan_max", [0, 64])
def test_pieces_add_up_to_each_feature(fan_max, monkeypatch):
    """The weighted pieces of a feature sum to its area (holes and parts included), fans and
    Delaunay triangles alike."""
    import overlay.overlap_areas as module

    monkeypatch.setattr(module, "FAN_MAX_VERTICES", fan_max)
    rng = np.random.default_rng(3)
    kinds = shapes(rng, 30)
    features = np.concatenate([kinds["star"], kinds["holed"], kinds["two parts"], kinds["collinear"],
                               kinds["staircase"], kinds["hull"]])
    convex = convex_polygons(features)
    xy, starts, weights, slots, first = convex_pieces(features, convex)
    piece = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    nxt = np.arange(1, len(xy) + 1)
    nxt[starts[1:] - 1] = starts[:-1]
    rel, rel_next = xy - xy[starts[:-1]][piece], xy[nxt] - xy[starts[:-1]][piece]
    twice = np.bincount(piece, rel[:, 0] * rel_next[:, 1] - rel_next[:, 0] * rel[:, 1])
    owner = np.repeat(np.arange(len(features)), np.diff(first))
    area = np.bincount(owner, (weights * np.abs(twice) / 2)[slots], minlength=len(features))
    np.testing.assert_allclose(area, shapely.area(features), rtol=1e-12, atol=1e-6)
    assert (np.diff(first)[convex] == 1).all()  # a convex feature is its own piece


def test_no_pairs_and_empty_inputs():
    assert len(overlap_areas(np.empty(0, dtype=object), np.empty(0, dtype=object), [], [])) == 0
    box = np.array([shapely.box(0, 0, 1, 1)], dtype=object)
    empty = np.array([shapely.Polygon()], dtype=object)
    assert overlap_areas(box, empty, [0], [0]).tolist() == [0.0]
    assert overlap_areas(empty, box, [0], [0]).tolist() == [0.0]
