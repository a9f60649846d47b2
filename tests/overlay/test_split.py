"""Split and measure on tiny layers whose answer is known by construction.

Coordinates are metres in EPSG:4551 (CGCS2000 GK CM 126E) near Jilin city, offset
by (X0, Y0); all rectangles have integer corners so areas are exact.
"""
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from overlay.split import split_patches, unassigned_parts

X0, Y0 = 546000.0, 4857000.0
CRS = 4551


def box(x1, y1, x2, y2):
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def gdf(geoms, **cols):
    return gpd.GeoDataFrame(cols, geometry=geoms, crs=CRS)


@pytest.fixture
def world():
    counties = gdf([box(0, 0, 100, 100), box(100, 0, 200, 100), box(200, 0, 300, 100)],
                   county_code=["220201", "220202", "220203"], county_name=["甲县", "乙县", "丙县"])
    farmland = gdf([box(0, 0, 150, 50)])
    basic = gdf([box(0, 0, 50, 50)])
    approved = gdf([box(0, 0, 20, 50)])
    patches = gdf([box(10, 10, 40, 30),      # P1: in 220201, on farmland, 1/3 approved, all basic
                   box(90, 40, 110, 60),     # P2: straddles 220201 / 220202, farmland y 40..50
                   box(150, 60, 170, 80)],   # P3: in 220202, off farmland
                  source_id=["P1", "P2", "P3"])
    return patches, counties, farmland, basic, approved


def by_source(pieces):
    return {(r.source_id, r.county_code): r for r in pieces.itertuples()}


def test_known_areas(world):
    pieces = split_patches(*world, year=2025)
    got = by_source(pieces)
    assert set(got) == {("P1", "220201"), ("P2", "220201"), ("P2", "220202"), ("P3", "220202")}
    p1 = got[("P1", "220201")]
    assert (p1.area_m2, p1.farmland_m2, p1.legal_farmland_m2, p1.illegal_farmland_m2) == (600, 600, 200, 400)
    assert (p1.basic_farmland_m2, p1.illegal_basic_farmland_m2, p1.approved_m2) == (600, 400, 200)
    assert p1.status == "partly_legal"
    for code in ("220201", "220202"):
        p2 = got[("P2", code)]
        assert (p2.area_m2, p2.farmland_m2, p2.illegal_farmland_m2, p2.other_m2) == (200, 100, 100, 100)
        assert p2.status == "illegal"
    p3 = got[("P3", "220202")]
    assert (p3.area_m2, p3.farmland_m2, p3.status) == (400, 0, "non_farmland")
    assert pieces.crs.to_epsg() == CRS


def test_invariants(world):
    pieces = split_patches(*world, year=2025)
    assert np.allclose(pieces.area_m2, pieces.farmland_m2 + pieces.other_m2, rtol=0, atol=1e-9)
    assert np.allclose(pieces.farmland_m2, pieces.legal_farmland_m2 + pieces.illegal_farmland_m2,
                       rtol=0, atol=1e-9)
    assert (pieces.basic_farmland_m2 <= pieces.farmland_m2).all()
    assert np.allclose(pieces.area_m2, pieces.geometry.area)
    patch_area = world[0].set_index("source_id").area
    assert np.allclose(pieces.groupby("source_id").area_m2.sum().sort_index(), patch_area.sort_index())


def test_patch_ids_stable_and_unique(world):
    a = split_patches(*world, year=2025)
    patches = world[0].iloc[::-1]  # input order must not matter
    b = split_patches(patches, *world[1:], year=2025)
    assert a.patch_id.is_unique
    assert list(a.patch_id) == list(b.patch_id)
    assert dict(zip(a.patch_id, a.source_id)) == dict(zip(b.patch_id, b.source_id))
    # <county><year><easting // 10 m, 5 digits><northing // 10 m, 6 digits> of the patch's
    # representative point: P1 (546025, 4857020), P2 (546100, 4857050), P3 (546160, 4857070)
    assert dict(zip(zip(a.source_id, a.county_code), a.patch_id)) == {
        ("P1", "220201"): "220201202554602485702",
        ("P2", "220201"): "220201202554610485705",
        ("P2", "220202"): "220202202554610485705",
        ("P3", "220202"): "220202202554616485707",
    }
    assert list(a.county_code) == sorted(a.county_code)  # rows in county, then JCBH order


def test_geographic_layers_are_harmonised(world):
    patches, counties, farmland, basic, approved = world
    projected = split_patches(*world, year=2025)
    geographic = split_patches(patches.to_crs(4490), counties.to_crs(4490), farmland.to_crs(4490),
                               basic, approved.to_crs(4490), year=2025)
    cols = ["area_m2", "farmland_m2", "legal_farmland_m2", "illegal_farmland_m2", "basic_farmland_m2"]
    a = projected.set_index(["source_id", "county_code"]).sort_index()[cols]
    b = geographic.set_index(["source_id", "county_code"]).sort_index()[cols]
    assert np.allclose(a.to_numpy(), b.to_numpy(), rtol=1e-7, atol=1e-4)


def test_overlapping_counties_count_area_once(world):
    patches, counties, farmland, basic, approved = world
    overlapping = counties.copy()
    overlapping.loc[1, "geometry"] = box(95, 0, 200, 100)  # 5 m overlap with 220201
    pieces = split_patches(patches, overlapping, farmland, basic, approved, year=2025)
    p2 = pieces[pieces.source_id == "P2"].set_index("county_code")
    assert p2.loc["220201", "area_m2"] == pytest.approx(200)  # the smaller code keeps the overlap
    assert p2.loc["220202", "area_m2"] == pytest.approx(200)
    assert pieces.area_m2.sum() == pytest.approx(1400)


def test_overlapping_farmland_parcels_not_double_counted(world):
    patches, counties, farmland, basic, approved = world
    doubled = gdf([box(0, 0, 150, 50), box(0, 0, 150, 50), box(0, 20, 40, 60)])
    pieces = split_patches(patches, counties, doubled, basic, approved, year=2025)
    p1 = by_source(pieces)[("P1", "220201")]
    assert p1.farmland_m2 == 600


def test_patch_outside_counties_is_reported(world):
    patches, counties, *_ = world
    outside = gdf([box(290, 90, 310, 110), box(500, 500, 520, 520)], source_id=["Q1", "Q2"])
    rest = unassigned_parts(outside, counties).set_index("source_id")
    assert rest.loc["Q1", "area_m2"] == pytest.approx(400 - 100)
    assert rest.loc["Q2", "area_m2"] == pytest.approx(400)
    assert unassigned_parts(patches, counties).empty


def test_no_patches_gives_empty_table(world):
    patches, *rest = world
    pieces = split_patches(patches.iloc[:0], *rest, year=2025)
    assert len(pieces) == 0 and "patch_id" in pieces.columns and "illegal_farmland_m2" in pieces.columns


def test_overlapping_received_patches_are_found(world):
    from overlay.qa import overlapping_patches

    patches = world[0]
    assert overlapping_patches(patches).empty
    extra = gdf([box(30, 20, 50, 40)], source_id=["P4"])  # overlaps P1 by 10 x 10 m
    pairs = overlapping_patches(gpd.GeoDataFrame(pd.concat([patches, extra]), crs=CRS))
    assert len(pairs) == 1
    assert set(pairs.iloc[0][["source_id_a", "source_id_b"]]) == {"P1", "P4"}
    assert pairs.iloc[0].overlap_m2 == pytest.approx(100.0)


def test_no_false_parts_along_a_boundary_given_in_degrees(monkeypatch):
    """Patches and counties in EPSG:4490 across a jagged shared boundary: every patch is covered.

    Taking the difference in degrees and measuring it in metres used to leave slivers of up to
    1e-3 m² along the boundary (reported at national scale as parts in no county); in the zone
    CRS what is left is floating-point noise (about 1e-11 m²).
    """
    import overlay.split as split

    rng = np.random.default_rng(0)
    ys = np.linspace(43.7, 43.9, 400)
    xs = 125.5 + rng.normal(0, 0.002, len(ys))
    line = list(zip(xs, ys))
    west = shapely.Polygon([(125.3, 43.7), *line, (125.3, 43.9)])
    east = shapely.Polygon([*line[::-1], (125.7, 43.7), (125.7, 43.9)][::-1])
    counties = gpd.GeoDataFrame({"county_code": ["220201", "220202"], "county_name": ["甲", "乙"]},
                                geometry=[shapely.make_valid(west), shapely.make_valid(east)], crs=4490)
    centres = gpd.GeoSeries(gpd.points_from_xy(xs[10:390:3], ys[10:390:3]), crs=4490).to_crs(4529)
    patches = gpd.GeoDataFrame({"source_id": [f"P{i}" for i in range(len(centres))]},
                               geometry=centres.buffer(300).values, crs=4529).to_crs(4490)
    monkeypatch.setattr(split, "SLIVER_M2", 1e-6)
    assert unassigned_parts(patches, counties).empty


def test_tasks_hold_every_feature_sharing_area_and_none_only_touching(world):
    """county_tasks picks layer features by box: a parcel touching the patches only along an edge is
    left out (it adds no area), one sharing area is kept, and the figures are unchanged."""
    from overlay.split import county_tasks

    patches, counties, farmland, basic, approved = world
    extra = gdf([box(40, 10, 60, 30), box(30, 20, 45, 35)])  # beside P1 (shares its edge), on P1
    farmland = pd.concat([farmland, extra], ignore_index=True)
    tasks = {t.county_code: t for t in county_tasks(patches, counties, farmland, basic, approved)}
    held = {shapely.normalize(g).wkt for g in tasks["220201"].farmland.values}
    assert shapely.normalize(box(30, 20, 45, 35)).wkt in held
    assert shapely.normalize(box(40, 10, 60, 30)).wkt not in held
    got = by_source(split_patches(patches, counties, farmland, basic, approved, year=2025))
    assert got[("P1", "220201")].farmland_m2 == 600


def test_representative_point_zones_match_the_scalar_rule():
    """Patches on both sides of a zone border (127.5E) get the zone of their own longitude."""
    from overlay.crs import gk3_epsg_for_lon
    from overlay.split import representative_points

    lons = np.array([127.49, 127.499, 127.501, 127.51, 126.0, 129.0])
    geo = gpd.GeoSeries(shapely.buffer(shapely.points(lons, np.full(len(lons), 43.8)), 1e-4), crs=4490)
    rep = representative_points(geo)
    expected = [gk3_epsg_for_lon(lon) for lon in lons]
    assert list(rep["epsg"]) == expected == [4551, 4551, 4552, 4552, 4551, 4552]


def test_only_layer_features_near_the_patches_are_measured():
    """_near_patches gives the positions, in order, of the layer features whose box meets a patch's
    box grown by NEAR_PAD_M (the patches may be in another CRS), and drops the rest."""
    from overlay.split import NEAR_PAD_M, _near_patches

    patches = gdf([box(0, 0, 10, 10)])
    layer = gdf([box(500, 500, 510, 510), box(5, 5, 50, 50), box(10 + NEAR_PAD_M / 2, 0, 40, 10),
                 box(10 + 2 * NEAR_PAD_M, 0, 60, 10)]).geometry
    kept = _near_patches(patches)(layer)
    assert list(kept) == [1, 2]
    in_degrees = _near_patches(patches)(layer.to_crs(4490))  # a geographic layer, patches in metres
    assert list(in_degrees) == [1, 2]
    assert len(_near_patches(patches)(layer.iloc[0:0])) == 0
