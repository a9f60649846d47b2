"""The monitoring number (JCBH, column ``patch_id``): a function of the patch alone.

Identical across reruns; deleting or adding a patch renumbers no other; only two
patches in one 10 m cell are told apart by a suffix, decided by their coordinates;
the pieces of a straddling patch share the location code; received ids are kept.
"""
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from overlay.contracts import JCBH_MAX_CHARS, PIECE_KEY, location_code, make_jcbh
from overlay.split import representative_points, split_patches

X0, Y0, CRS = 530000.0, 4840000.0, 4551  # CGCS2000 GK CM 126E, near Jilin city
YEAR = 2025


def box(x1, y1, x2, y2):
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def gdf(geoms, crs=CRS, **cols):
    return gpd.GeoDataFrame(cols, geometry=list(geoms), crs=crs)


@pytest.fixture(scope="module")
def world():
    """Two counties split by a slanted line, 150 random patches (some straddling), farmland."""
    rng = np.random.default_rng(7)
    counties = gdf([shapely.Polygon([(X0, Y0), (X0 + 600, Y0), (X0 + 450, Y0 + 1000), (X0, Y0 + 1000)]),
                    shapely.Polygon([(X0 + 600, Y0), (X0 + 1000, Y0), (X0 + 1000, Y0 + 1000),
                                     (X0 + 450, Y0 + 1000)])],
                   county_code=["220201", "220202"], county_name=["甲", "乙"])
    farmland = gdf([box(0, 0, 1000, 500)])
    px, py = rng.uniform(0, 950, 150), rng.uniform(0, 950, 150)
    size = rng.uniform(15, 50, (2, 150))
    patches = gdf(shapely.box(X0 + px, Y0 + py, X0 + px + size[0], Y0 + py + size[1]),
                  source_id=[f"D{i:06d}" for i in range(150)])
    return patches, counties, farmland


def run(patches, counties, farmland, **kw):
    empty = farmland.iloc[:0]
    return split_patches(patches, counties, farmland, empty, empty, year=YEAR, **kw)


def ids(pieces) -> dict:
    """JCBH by piece (source patch, county)."""
    return dict(zip(zip(pieces.source_id, pieces.county_code), pieces.patch_id))


def test_ids_are_identical_across_reruns_and_input_orders(world):
    patches, counties, farmland = world
    first = run(*world)
    again = run(*world)
    shuffled = run(patches.sample(frac=1.0, random_state=1), counties, farmland)
    pd.testing.assert_frame_equal(first, again)
    assert ids(shuffled) == ids(first)
    assert first.patch_id.is_unique
    assert first.groupby("source_id").county_code.nunique().max() == 2  # some patches straddle


def test_ids_have_the_documented_form(world):
    pieces = run(*world)
    for row in pieces.itertuples():
        assert row.patch_id.startswith(f"{row.county_code}{YEAR}")
        assert len(row.patch_id) <= JCBH_MAX_CHARS and row.patch_id[:21].isdigit()
    rep = representative_points(world[0]).assign(source_id=world[0].source_id.values).set_index("source_id")
    row = pieces.iloc[0]
    x, y = rep.loc[row.source_id, ["x", "y"]]
    assert row.patch_id.startswith(make_jcbh(row.county_code, YEAR, location_code(x, y)))


@pytest.mark.parametrize("gone", [0, 17, 42, 99, 149])
def test_deleting_one_patch_changes_no_other_id(world, gone):
    patches, counties, farmland = world
    before = ids(run(*world))
    after = ids(run(patches.drop(index=gone), counties, farmland))
    removed = patches.source_id.iloc[gone]
    assert after == {k: v for k, v in before.items() if k[0] != removed}


def test_adding_one_patch_changes_no_other_id(world):
    patches, counties, farmland = world
    before = ids(run(*world))
    # a new patch in the north-west, and one straddling the county line
    extra = gdf([box(3, 980, 30, 999), box(500, 600, 560, 640)], source_id=["N1", "N2"])
    after = ids(run(gpd.GeoDataFrame(pd.concat([patches, extra]), crs=CRS), counties, farmland))
    assert {k: v for k, v in after.items() if k[0] not in ("N1", "N2")} == before
    assert {k[1] for k in after if k[0] == "N2"} == {"220201", "220202"}


def test_straddling_pieces_share_the_location_code(world):
    pieces = run(*world)
    for sid, group in pieces.groupby("source_id"):
        assert group.patch_id.str[10:].nunique() == 1, sid
        assert all(pid.startswith(code) for pid, code in zip(group.patch_id, group.county_code))


def test_straddling_pieces_share_the_location_code_across_zone_borders():
    """Counties either side of 127.5E lie in different zones (CM 126E, CM 129E): one location code."""
    counties = gdf([shapely.box(127.0, 43.0, 127.5, 43.5), shapely.box(127.5, 43.0, 128.0, 43.5)], crs=4490,
                   county_code=["220201", "220202"], county_name=["甲", "乙"])
    patch = gdf([shapely.box(127.4995, 43.2, 127.5007, 43.2005)], crs=4490, source_id=["D000001"])
    pieces = run(patch, counties, counties.iloc[:0])
    assert list(pieces.county_code) == ["220201", "220202"]
    assert pieces.patch_id.str[10:].nunique() == 1
    epsg = representative_points(patch)["epsg"].iloc[0]
    assert epsg == 4552  # the representative point's own zone (CM 129E: it lies east of 127.5E)


def test_two_patches_in_one_cell_get_a_deterministic_suffix(world):
    _, counties, farmland = world
    # representative points (X0 + 51, Y0 + 52) and (X0 + 54, Y0 + 52): one 10 m cell
    a = box(50, 50, 52, 54)
    b = box(53, 50, 55, 54)
    far = box(300, 300, 330, 330)
    patches = gdf([a, b, far], source_id=["D000001", "D000002", "D000003"])
    pieces = run(patches, counties, farmland).set_index("source_id")
    cell = pieces.loc["D000001", "patch_id"]
    assert pieces.loc["D000002", "patch_id"] == cell + "A"  # west of it: the bare code goes west
    assert pieces.loc["D000003", "patch_id"][-1].isdigit()
    # input order and source ids do not decide: swap the ids, reverse the rows
    swapped = gdf([b, a, far], source_id=["D000001", "D000002", "D000003"]).iloc[::-1]
    again = run(swapped, counties, farmland).set_index("source_id")
    assert again.loc["D000002", "patch_id"] == cell and again.loc["D000001", "patch_id"] == cell + "A"
    # a patch alone in its cell never gets a suffix; deleting the eastern twin leaves the western as is
    assert run(patches.iloc[[0, 2]], counties, farmland).set_index("source_id").loc["D000001", "patch_id"] == cell
    # a third patch west of both is the only way the others' ids can change
    c = box(50.2, 50, 51, 54)  # representative point (50.6, 52): same cell, further west
    three = run(gdf([a, b, c], source_id=["D000001", "D000002", "D000009"]), counties, farmland) \
        .set_index("source_id")
    assert three.loc["D000009", "patch_id"] == cell
    assert three.loc["D000001", "patch_id"] == cell + "A" and three.loc["D000002", "patch_id"] == cell + "B"


def test_received_patches_keep_their_official_jcbh():
    counties = gdf([box(0, 0, 100, 100), box(100, 0, 200, 100)],
                   county_code=["220201", "220202"], county_name=["甲", "乙"])
    patches = gdf([box(10, 10, 40, 30), box(90, 40, 110, 60)],
                  source_id=["2202012025000017", "2202012025000009"])
    pieces = run(patches, counties, gdf([box(0, 0, 200, 50)]), official_ids=True)
    assert list(zip(pieces.patch_id, pieces.county_code)) == [
        ("2202012025000009", "220201"), ("2202012025000017", "220201"), ("2202012025000009", "220202")]
    # the straddling received patch: both pieces carry its official number; the key is (JCBH, XZQDM)
    assert PIECE_KEY == ("patch_id", "county_code")
    assert not pieces.duplicated(list(PIECE_KEY)).any()
    assert (pieces.patch_id == pieces.source_id).all()
    # and they stay whatever else is received
    assert ids(run(patches.iloc[[1]], counties, gdf([box(0, 0, 200, 50)]), official_ids=True)) == {
        k: v for k, v in ids(pieces).items() if k[0] == "2202012025000009"}


def test_received_patches_without_official_ids_are_numbered_by_location(world):
    patches, counties, farmland = world
    received = patches.assign(source_id=[f"R{i:06d}" for i in range(1, len(patches) + 1)])
    by_location = run(received, counties, farmland)
    assert list(by_location.patch_id) == list(run(*world).patch_id)


def test_output_crs_does_not_change_ids(world):
    assert ids(run(*world, output_crs=4490)) == ids(run(*world))
