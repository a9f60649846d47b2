"""Inputs that used to be accepted silently and gave wrong figures: refused up front, in one line.

1. before / after footprints that do not overlap (or on a sliver only);
2. tiles stored differently (data type, declared band scale);
3. a cloud mask that covers only part of a tile it overlaps;
4. a grid (or a single tile) too large to process;
5. the same CRS written differently must be accepted; different CRSs named readably.
"""
from __future__ import annotations

import hashlib
import shutil
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
import yaml
from affine import Affine
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import ImageryConfig
from pipeline.errors import BadRasterError
from pipeline.imagery import open_imagery

REPO = Path(__file__).resolve().parents[2]
X0, Y0, RES = 500000.0, 4400000.0, 2.0
BANDS = {"blue": 1, "green": 2, "red": 3, "nir": 4}


def write(path: Path, data: np.ndarray, *, col: float = 0, row: float = 0, res: float = RES,
          crs: object = "EPSG:4551", nodata=None, dtype: str | None = None) -> Path:
    """A GeoTIFF whose top-left corner is grid pixel (row, col) of the 2 m test grid."""
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2],
                       count=data.shape[0], dtype=dtype or data.dtype.name, crs=crs, nodata=nodata,
                       transform=Affine(res, 0, X0 + col * RES, 0, -res, Y0 - row * RES)) as dst:
        dst.write(data.astype(dtype or data.dtype))
    return path


def tile(value: float, h: int, w: int, dtype: str = "uint16") -> np.ndarray:
    return (np.full((4, h, w), value) + np.arange(4)[:, None, None]).astype(dtype)


def mask(h: int, w: int) -> np.ndarray:
    return np.zeros((h, w), dtype=np.uint8)


def cfg(before, after, **kw) -> ImageryConfig:
    return ImageryConfig(before=tuple(before), after=tuple(after), bands=kw.pop("bands", BANDS), **kw)


def refused(config: ImageryConfig, *fragments: str, **kw) -> str:
    """open_imagery raises BadRasterError whose message is one line holding every fragment."""
    with pytest.raises(BadRasterError) as err:
        open_imagery(config, **kw)
    msg = str(err.value)
    assert "\n" not in msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


# --------------------------------------------------------------------------- 1. overlap
def test_dates_that_do_not_overlap_are_refused_naming_a_tile_of_each_and_the_extents(tmp_path):
    a = write(tmp_path / "before_a.tif", tile(100, 10, 10))
    b = write(tmp_path / "before_b.tif", tile(100, 10, 10), col=10)
    c = write(tmp_path / "after_far.tif", tile(100, 10, 10), col=500)
    msg = refused(cfg([a, b], [c]), f"{c}: the after tiles ({c}, x 501000 to 501020, y 4399980 to 4400000)",
                  f"do not overlap the before tiles ({a} and 1 more, x 500000 to 500040, "
                  "y 4399980 to 4400000) at all", "both dates must cover the same area")
    assert msg.startswith(str(c))


def test_tiles_touching_only_along_an_edge_do_not_overlap(tmp_path):
    a = write(tmp_path / "a.tif", tile(100, 10, 10))
    c = write(tmp_path / "c.tif", tile(100, 10, 10), col=10)
    refused(cfg([a], [c]), "do not overlap the before tiles")


def test_a_sliver_of_overlap_is_refused_with_the_share_and_the_rule(tmp_path):
    a = write(tmp_path / "a.tif", tile(100, 100, 100))
    c = write(tmp_path / "c.tif", tile(100, 100, 100), row=99, col=99)  # 1 px in common
    refused(cfg([a], [c]), f"{c}: the before and after tiles overlap on only 0.0 % of the smaller "
            "(before) footprint (4 m² of 40,000 m², x 500198 to 500200, y 4399800 to 4399802; "
            f"with before tile {a})", "an overlap under 1 % of either date")


def test_overlap_threshold_is_a_parameter(tmp_path):
    a = write(tmp_path / "a.tif", tile(100, 100, 100))
    c = write(tmp_path / "c.tif", tile(100, 100, 100), col=95)  # 5 % in common
    img = open_imagery(cfg([a], [c]))
    assert img.grid.shape == (100, 195)
    refused(cfg([a], [c]), "overlap on only 5 % of the smaller (before) footprint", min_overlap=0.10)


# --------------------------------------------------------------------------- 2. storage
def test_dn_before_and_reflectance_after_are_refused(tmp_path):
    a = write(tmp_path / "dn.tif", tile(1000, 8, 8))
    b = write(tmp_path / "refl.tif", tile(0.1, 8, 8, dtype="float32"))
    msg = refused(cfg([a], [b]))
    assert msg == (f"{b}: after tile is float32 but before tile {a} is uint16: "
                   "both dates must be stored the same way (same data type and scale)")


def test_mixed_data_types_within_one_date_are_refused(tmp_path):
    a = write(tmp_path / "a.tif", tile(1000, 8, 8))
    b = write(tmp_path / "b8.tif", tile(100, 8, 8, dtype="uint8"), col=8)
    refused(cfg([a, b], [a]), f"{b}: before tile is uint8 but before tile {a} is uint16: "
                              "all tiles must be stored the same way")


def test_different_declared_band_scale_is_refused(tmp_path):
    a = write(tmp_path / "a.tif", tile(1000, 8, 8))
    b = write(tmp_path / "scaled.tif", tile(1000, 8, 8))
    with rasterio.open(b, "r+") as dst:
        dst.scales = (0.0001,) * 4
    refused(cfg([a], [b]), f"{b}: after tile declares scale 0.0001 and offset 0 for band 1 (blue) "
                           f"but before tile {a} declares 1 and 0")


# --------------------------------------------------------------------------- 3. cloud masks
def test_mask_covering_part_of_its_tile_is_refused(tmp_path):
    a = write(tmp_path / "a.tif", tile(100, 20, 20))
    m = write(tmp_path / "half.tif", mask(13, 20))  # rows 0-12 of 20
    msg = refused(cfg([a], [a], after_cloud_masks=(m,)))
    assert msg == (f"{m}: after cloud mask covers only 65 % of after tile {a}: a mask must cover its "
                   "whole tile (cloud outside the mask would be taken for clear ground and read as change)")


def test_one_mask_over_several_tiles_and_several_masks_over_one_tile_are_fine(tmp_path):
    t1 = write(tmp_path / "t1.tif", tile(100, 20, 20))
    t2 = write(tmp_path / "t2.tif", tile(100, 20, 20), col=20)
    whole = write(tmp_path / "whole.tif", mask(20, 40))
    open_imagery(cfg([t1, t2], [t1, t2], before_cloud_masks=(whole,)))
    # the sample's layout: one mask per tile on the tile's grid, tiles (and masks) overlapping
    t3 = write(tmp_path / "t3.tif", tile(100, 20, 30), col=15)
    m1 = write(tmp_path / "m1.tif", mask(20, 20))
    m3 = write(tmp_path / "m3.tif", mask(20, 30), col=15)
    open_imagery(cfg([t1, t3], [t1, t3], after_cloud_masks=(m1, m3)))
    # two halves together cover a tile
    top = write(tmp_path / "top.tif", mask(10, 20))
    bottom = write(tmp_path / "bottom.tif", mask(10, 20), row=10)
    open_imagery(cfg([t1], [t1], after_cloud_masks=(top, bottom)))


def test_two_masks_that_leave_a_gap_are_refused_naming_the_larger(tmp_path):
    t = write(tmp_path / "t.tif", tile(100, 20, 20))
    top = write(tmp_path / "top.tif", mask(12, 20))
    bottom = write(tmp_path / "bottom.tif", mask(6, 20), row=14)
    refused(cfg([t], [t], before_cloud_masks=(top, bottom)),
            f"{top}: before cloud mask (with 1 other before mask) covers only 90 % of before tile {t}")


def test_a_mask_touching_a_tile_along_an_edge_does_not_count_as_overlapping(tmp_path):
    t1 = write(tmp_path / "t1.tif", tile(100, 20, 20))
    t2 = write(tmp_path / "t2.tif", tile(100, 20, 20), col=20)
    m2 = write(tmp_path / "m2.tif", mask(20, 20), col=20)  # shares t1's right edge only
    open_imagery(cfg([t1, t2], [t1, t2], after_cloud_masks=(m2,)))


def test_mask_cover_has_pixel_tolerance(tmp_path):
    t = write(tmp_path / "t.tif", tile(100, 20, 20))
    # 4 m mask shifted by half a grid pixel: every grid pixel is at least partly under it
    coarse = tmp_path / "coarse.tif"
    with rasterio.open(coarse, "w", driver="GTiff", height=10, width=10, count=1, dtype="uint8",
                       crs="EPSG:4551", transform=Affine(4.0, 0, X0 + 1.0, 0, -4.0, Y0 - 1.0)) as dst:
        data = mask(10, 10)
        data[1, 2] = 1
        dst.write(data[None])
    img = open_imagery(cfg([t], [t], after_cloud_masks=(coarse,)), chunk_px=64)
    expected = np.zeros((20, 20), dtype=bool)
    expected[2:5, 4:7] = True  # mask pixel (1, 2) spans grid rows 2.5-4.5, cols 4.5-6.5
    np.testing.assert_array_equal(img.cloud.compute(), expected)
    # one whole grid column not under the mask: refused
    short = write(tmp_path / "short.tif", mask(20, 19))
    refused(cfg([t], [t], after_cloud_masks=(short,)), "covers only 95 % of after tile")


def test_the_sample_masks_pass():
    from pipeline.config import load_config

    config = load_config(REPO / "configs" / "sample.yaml")
    img = open_imagery(config.imagery, config.detection.chunk_px)
    assert img.grid.shape == (900, 1600)


# --------------------------------------------------------------------------- 4. size
def sparse_tile(path: Path, size: int, *, col: float = 0, row: float = 0) -> Path:
    """A tiled, sparse uint8 GeoTIFF declaring size x size px: no block is written (a few KB)."""
    with rasterio.open(path, "w", driver="GTiff", height=size, width=size, count=4, dtype="uint8",
                       crs="EPSG:4551", transform=Affine(RES, 0, X0 + col * RES, 0, -RES, Y0 - row * RES),
                       tiled=True, blockxsize=16384, blockysize=16384, sparse_ok=True, bigtiff="YES"):
        pass
    return path


def test_a_tile_declaring_a_huge_size_is_refused_fast_without_reading(tmp_path):
    big = sparse_tile(tmp_path / "huge.tif", 1_000_000)
    assert big.stat().st_size < 100_000
    small = write(tmp_path / "small.tif", tile(100, 10, 10, dtype="uint8"))
    tracemalloc.start()
    start = time.perf_counter()
    try:
        msg = refused(cfg([small], [big]),
                      f"{big}: after tile declares 1,000,000 x 1,000,000 px = 1,000,000,000,000 px, "
                      "2,000.0 x 2,000.0 km at 2 m, 954,529 chunks of 1024 px, more than "
                      "max_grid_pixels 10,000,000,000")
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 5 and peak < 20e6, (elapsed, peak)
    assert "check its size and resolution" in msg


def test_dates_far_apart_make_a_grid_too_large_naming_the_tile_farthest_out(tmp_path):
    a = write(tmp_path / "a.tif", tile(100, 10, 10))
    b = write(tmp_path / "b.tif", tile(100, 10, 10), col=10)
    far = write(tmp_path / "far.tif", tile(100, 10, 10), col=1_000_000, row=1_000_000)  # 2,000 km off
    start = time.perf_counter()
    msg = refused(cfg([a, far], [a, b]),
                  f"{far}: the imagery grid (the union of the tiles of both dates) would be "
                  "1,000,010 x 1,000,010 px", "2,000.0 x 2,000.0 km at 2 m", "chunks of 1024 px",
                  "this before tile lies farthest out (without it: 10 x 20 px)")
    assert time.perf_counter() - start < 5
    assert "more than max_grid_pixels 10,000,000,000" in msg


def test_grid_limit_is_a_parameter(tmp_path):
    a = write(tmp_path / "a.tif", tile(100, 40, 50))
    b = write(tmp_path / "b.tif", tile(100, 40, 60), row=10, col=40)
    assert open_imagery(cfg([a, b], [a]), max_grid_pixels=5000).grid.shape == (50, 100)
    refused(cfg([a, b], [a]), f"{b}: the imagery grid", "50 x 100 px = 5,000 px",
            "more than max_grid_pixels 4,999", "without it: 40 x 50 px", max_grid_pixels=4999)
    refused(cfg([a, b], [a]), f"{b}: before tile declares 40 x 60 px", max_grid_pixels=2000)


# --------------------------------------------------------------------------- 5. CRS
EPSG4551 = pyproj.CRS.from_epsg(4551)
SPELLINGS = {
    "esri_wkt": EPSG4551.to_wkt("WKT1_ESRI"),  # easting first, no authority: read back != EPSG:4551
    "wkt2": EPSG4551.to_wkt("WKT2_2019"),
    "proj4": "+proj=tmerc +lat_0=0 +lon_0=126 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m +no_defs",
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_the_same_crs_written_differently_is_accepted(tmp_path, spelling):
    a = write(tmp_path / "epsg.tif", tile(100, 10, 10))
    b = write(tmp_path / f"{spelling}.tif", tile(100, 10, 10), crs=SPELLINGS[spelling], col=5)
    m = write(tmp_path / f"{spelling}_mask.tif", mask(10, 10), crs=SPELLINGS[spelling], col=5)
    img = open_imagery(cfg([a], [b], after_cloud_masks=(m,)))
    assert img.grid.shape == (10, 15) and img.grid.crs.to_epsg() == 4551
    img = open_imagery(cfg([b], [a]))
    assert img.grid.shape == (10, 15)


def test_really_different_crss_read_differently(tmp_path):
    a = write(tmp_path / "a.tif", tile(100, 10, 10))
    other = SPELLINGS["proj4"].replace("+lon_0=126", "+lon_0=123")
    b = write(tmp_path / "b.tif", tile(100, 10, 10), crs=other)
    msg = refused(cfg([a], [b]), f"{b}: CRS '+proj=tmerc +lat_0=0 +lon_0=123")
    assert f"differs from EPSG:4551 of {a}" in msg
    c = write(tmp_path / "c.tif", tile(100, 10, 10), crs="EPSG:4550")
    refused(cfg([a], [c]), f"{c}: CRS EPSG:4550 differs from EPSG:4551 of {a} (CGCS2000 / 3-degree "
                           "Gauss-Kruger CM 123E vs CGCS2000 / 3-degree Gauss-Kruger CM 126E)")
    m = write(tmp_path / "m.tif", mask(10, 10), crs="EPSG:4550")
    refused(cfg([a], [a], before_cloud_masks=(m,)),
            f"{m}: before cloud mask CRS EPSG:4550 differs from the imagery CRS EPSG:4551")


# --------------------------------------------------------------------------- end to end
PATH_KEYS = {"path", "before", "after", "before_cloud_masks", "after_cloud_masks", "output", "files"}


def absolute_paths(node, base: Path):
    if isinstance(node, dict):
        return {k: (str(base / v) if k in PATH_KEYS and isinstance(v, str) else absolute_paths(v, base))
                for k, v in node.items()}
    return node


@pytest.fixture
def sample_copy(tmp_path):
    """configs/sample.yaml (imagery mode) on a copy of the sample imagery in tmp_path."""
    imagery = tmp_path / "imagery"
    shutil.copytree(REPO / "data" / "sample_tiles" / "imagery", imagery)
    data = absolute_paths(yaml.safe_load((REPO / "configs" / "sample.yaml").read_text(encoding="utf-8")),
                          REPO / "configs")
    data["imagery"].update(before=str(imagery / "before" / "*.tif"), after=str(imagery / "after" / "*.tif"),
                           after_cloud_masks=str(imagery / "after_cloud" / "*.tif"))
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return config, imagery


def digests(config: Path, imagery: Path) -> dict[str, str]:
    files = [config, *imagery.rglob("*"), *(REPO / "data" / "sample_tiles" / "vectors").iterdir()]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files) if p.is_file()}


def assert_refused_by_the_cli(config: Path, imagery: Path, *fragments: str) -> None:
    before = digests(config, imagery)
    out = config.parent / "o"
    for args in (["validate", config], ["run", config, "--out", out, "--quiet"]):
        res = CliRunner().invoke(main, list(map(str, args)))
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code == 3, res.output
        assert len(lines) == 1 and lines[0].startswith("landcheck: error: "), res.output
        for fragment in fragments:
            assert fragment in lines[0], lines[0]
    assert not out.exists()
    assert not list(config.parent.glob(".o.partial*"))
    assert digests(config, imagery) == before


def test_cli_refuses_after_tiles_moved_away(sample_copy):
    config, imagery = sample_copy
    for path in sorted((imagery / "after").glob("*.tif")):
        with rasterio.open(path, "r+") as dst:  # 100 km east: a wrong false easting, say
            dst.transform = Affine.translation(100_000, 0) @ dst.transform
    first_after = sorted((imagery / "after").glob("*.tif"))[0]
    assert_refused_by_the_cli(config, imagery, f"{first_after}: the after tiles",
                              "do not overlap the before tiles", "at all")


def test_cli_refuses_a_cloud_mask_covering_part_of_its_tile(sample_copy):
    config, imagery = sample_copy
    path = imagery / "after_cloud" / "20251012_r1c1_cloud.tif"
    with rasterio.open(path) as src:
        profile, data = src.profile, src.read()
    profile.update(height=200)  # keep the top 200 of 432 rows
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data[:, :200])
    assert_refused_by_the_cli(config, imagery, f"{path}: after cloud mask (with 3 other after masks) "
                              "covers only 53 %", f"% of after tile {imagery / 'after' / '20251012_r1c1.tif'}",
                              "a mask must cover its whole tile")


def test_cli_refuses_dn_before_and_reflectance_after(sample_copy):
    config, imagery = sample_copy
    for path in sorted((imagery / "after").glob("*.tif")):
        with rasterio.open(path) as src:
            profile, data = src.profile, src.read()
        profile.update(dtype="float32")
        with rasterio.open(path, "w", **profile) as dst:
            dst.write((data / 10000.0).astype("float32"))
    assert_refused_by_the_cli(config, imagery, "after tile is float32 but before tile",
                              "is uint16: both dates must be stored the same way")


def test_cli_refuses_counties_nowhere_near_the_imagery(sample_copy):
    config, imagery = sample_copy
    for date in ("before", "after", "after_cloud"):  # both dates and masks 100 km east, together
        for path in sorted((imagery / date).glob("*.tif")):
            with rasterio.open(path, "r+") as dst:
                dst.transform = Affine.translation(100_000, 0) @ dst.transform
    assert_refused_by_the_cli(config, imagery, "counties.gpkg: county layer lies nowhere near the "
                              "imagery", "is the county layer's or the imagery's CRS right?")
