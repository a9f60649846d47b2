"""Tiles and cloud masks -> one grid of lazy dask arrays; bad inputs -> one-line errors."""
from __future__ import annotations

import pickle
from pathlib import Path

import dask
import numpy as np
import pytest
import rasterio
from affine import Affine

import pipeline.imagery as imagery_mod
from pipeline.config import ImageryConfig
from pipeline.errors import BadRasterError, InputFileError
from pipeline.imagery import axis_chunks, open_imagery

X0, Y0, RES = 500000.0, 4400000.0, 2.0
BANDS = {"blue": 1, "green": 2, "red": 3, "nir": 4}


def write(path: Path, data: np.ndarray, *, col: float = 0, row: float = 0, res: float = RES,
          crs: str = "EPSG:4551", nodata=None, dtype: str | None = None) -> Path:
    """A GeoTIFF whose top-left corner is grid pixel (row, col) of the 2 m test grid."""
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2],
                       count=data.shape[0], dtype=dtype or data.dtype.name, crs=crs, nodata=nodata,
                       transform=Affine(res, 0, X0 + col * RES, 0, -res, Y0 - row * RES)) as dst:
        dst.write(data.astype(dtype or data.dtype))
    return path


def tile(value: float, h: int, w: int, bands: int = 4) -> np.ndarray:
    """Band k holds value + k (so band order is visible)."""
    return (np.full((bands, h, w), value) + np.arange(bands)[:, None, None]).astype(np.uint16)


def cfg(before, after, **kw) -> ImageryConfig:
    return ImageryConfig(before=tuple(before), after=tuple(after), bands=kw.pop("bands", BANDS), **kw)


@pytest.fixture
def two_dates(tmp_path):
    """Before: tiles A (rows 0-39, cols 0-49) and B (rows 10-49, cols 40-99) overlapping;
    after: one tile C (rows 0-49, cols 0-89)."""
    a = write(tmp_path / "a.tif", tile(100, 40, 50))
    b = write(tmp_path / "b.tif", tile(200, 40, 60), row=10, col=40)
    c = write(tmp_path / "c.tif", tile(300, 50, 90))
    return tmp_path, a, b, c


def test_grid_is_the_union_of_both_dates(two_dates):
    _, a, b, c = two_dates
    img = open_imagery(cfg([a, b], [c]), chunk_px=64)
    assert img.grid.shape == (50, 100)
    assert tuple(img.grid.transform)[:6] == (RES, 0, X0, 0, -RES, Y0)
    assert img.grid.crs.to_epsg() == 4551
    assert img.before.shape == (4, 50, 100) and img.before.dtype == np.float32
    assert img.before_dtype == "uint16"


def test_first_tile_wins_in_overlaps_and_outside_is_nan(two_dates):
    _, a, b, c = two_dates
    img = open_imagery(cfg([a, b], [c]), chunk_px=64)
    before = img.before.compute()
    assert before[0, 20, 45] == 100  # overlap of A and B: A is first
    assert before[0, 45, 45] == 200  # only B
    assert np.isnan(before[0, 45, 5])  # neither A nor B
    assert np.isnan(before[:, 0:10, 50:]).all()
    after = img.after.compute()
    assert np.isnan(after[:, :, 90:]).all() and (after[0, :, :90] == 300).all()
    data_valid = img.data_valid.compute()
    expected = np.isfinite(before).all(axis=0) & np.isfinite(after).all(axis=0)
    np.testing.assert_array_equal(data_valid, expected)


def test_first_valid_value_fills_nodata_of_an_earlier_tile(tmp_path):
    first = tile(100, 10, 10)
    first[:, 2:4, 2:4] = 0  # the declared nodata value in the first tile
    a = write(tmp_path / "a.tif", first, nodata=0)
    b = write(tmp_path / "b.tif", tile(200, 10, 10), nodata=0)
    img = open_imagery(cfg([a, b], [a]), chunk_px=64)
    before = img.before.compute()
    assert before[0, 2, 2] == 200 and before[0, 0, 0] == 100
    assert np.isnan(img.after.compute()[:, 2:4, 2:4]).all()


def test_declared_nodata_in_any_band_invalidates_the_pixel(tmp_path):
    data = tile(100, 8, 8)
    data[3, 1, 1] = 9999
    data[0, 2, 2] = 0  # 0 is data when the tile declares another nodata
    a = write(tmp_path / "a.tif", data, nodata=9999)
    img = open_imagery(cfg([a], [a]), chunk_px=64)
    before = img.before.compute()
    assert np.isnan(before[:, 1, 1]).all()
    assert before[0, 2, 2] == 0


def test_band_order_follows_the_config(tmp_path):
    a = write(tmp_path / "a.tif", tile(10, 4, 4, bands=5))
    img = open_imagery(cfg([a], [a], bands={"blue": 3, "green": 2, "red": 1, "nir": 5}), chunk_px=64)
    assert img.before[:, 0, 0].compute().tolist() == [12, 11, 10, 14]


@pytest.mark.parametrize("chunk_px", [64, 70, 1024])
def test_chunked_read_equals_a_whole_read(two_dates, chunk_px):
    _, a, b, c = two_dates
    big = write(two_dates[0] / "big.tif",
                np.random.default_rng(0).integers(1, 5000, (4, 150, 130)).astype(np.uint16))
    ref = open_imagery(cfg([big, a, b], [c]), chunk_px=4096).before.compute()
    img = open_imagery(cfg([big, a, b], [c]), chunk_px=chunk_px)
    assert img.chunks == (axis_chunks(150, chunk_px), axis_chunks(130, chunk_px))
    np.testing.assert_array_equal(img.before.compute(), ref)


def spy_opens(monkeypatch) -> list[str]:
    """The names of the files the imagery reader opens from now on, in order."""
    opened: list[str] = []
    real_open = rasterio.open

    def spy(path, *args, **kw):
        opened.append(Path(path).name)
        return real_open(path, *args, **kw)

    monkeypatch.setattr(imagery_mod.rasterio, "open", spy)
    return opened


def test_a_chunk_opens_only_the_tiles_it_overlaps(tmp_path, monkeypatch):
    paths = [write(tmp_path / f"t{k}.tif", tile(k + 1, 64, 64), col=64 * k) for k in range(4)]
    img = open_imagery(cfg(paths, paths), chunk_px=64)
    opened = spy_opens(monkeypatch)
    block = img.before[:, :, 128:192].compute(scheduler="sync")
    assert opened == ["t2.tif"]
    assert (block[0] == 3).all()


def test_repeated_reads_reuse_the_open_file_in_a_thread(tmp_path, monkeypatch):
    path = write(tmp_path / "t.tif", tile(5, 64, 64))
    img = open_imagery(cfg([path], [path]), chunk_px=32)
    opened = spy_opens(monkeypatch)
    blocks = [img.before[:, r:r + 32, c:c + 32].compute(scheduler="sync")
              for r in (0, 32) for c in (0, 32)]
    assert opened == ["t.tif"]  # four windows, one open
    assert all((b[0] == 5).all() for b in blocks)


def test_a_tile_rewritten_or_removed_between_reads_is_read_again_or_named(tmp_path):
    path = write(tmp_path / "t.tif", tile(5, 16, 16))
    img = open_imagery(cfg([path], [path]), chunk_px=16)
    assert (img.before.compute(scheduler="sync")[0] == 5).all()
    write(tmp_path / "t.tif", tile(9, 16, 16))  # same path, new content
    assert (img.before.compute(scheduler="sync")[0] == 9).all()
    path.unlink()
    with pytest.raises(BadRasterError, match=r"t\.tif: read failed"):
        img.before.compute(scheduler="sync")


@pytest.mark.parametrize("user_setting, expected", [(None, 64 * 1024 * 1024), ("32", 32 * 1024 * 1024)])
def test_reads_bound_gdals_block_cache_unless_the_user_set_it(tmp_path, user_setting, expected):
    """Datasets stay open, so GDAL's default cache (5 % of the memory) would keep every block of
    a large image; a fresh process reads a tile and reports the cache size it ends with."""
    import os
    import subprocess
    import sys

    path = write(tmp_path / "t.tif", tile(5, 16, 16))
    code = (
        "import sys; from pathlib import Path\n"
        "from rasterio.env import get_gdal_config\n"
        "from pipeline.config import ImageryConfig\n"
        "from pipeline.imagery import open_imagery, BLOCK_CACHE_MB\n"
        f"p = Path({str(path)!r})\n"
        "cfg = ImageryConfig(before=(p,), after=(p,), bands={'blue': 1, 'green': 2, 'red': 3, 'nir': 4})\n"
        "open_imagery(cfg, chunk_px=16).before.compute(scheduler='sync')\n"
        "print(get_gdal_config('GDAL_CACHEMAX'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GDAL_CACHEMAX"}
    if user_setting is not None:
        env["GDAL_CACHEMAX"] = user_setting
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert int(done.stdout.split()[-1]) == expected


def test_axis_chunks_merges_a_thin_tail():
    assert axis_chunks(1000, 256) == (256, 256, 256, 232)
    assert axis_chunks(1030, 256) == (256, 256, 256, 262)
    assert axis_chunks(30, 256) == (30,)


# --------------------------------------------------------------------------- clouds
def test_coarse_offset_mask_flags_every_grid_pixel_it_touches(tmp_path):
    a = write(tmp_path / "a.tif", tile(100, 20, 20))
    mask = np.zeros((10, 10), dtype=np.uint8)  # covers the whole tile (a partial mask is refused)
    mask[1, 2] = 1
    # 4 m mask shifted by half a grid pixel: mask pixel (1, 2) spans grid rows 2.5-4.5, cols 4.5-6.5
    with rasterio.open(tmp_path / "m.tif", "w", driver="GTiff", height=10, width=10, count=1,
                       dtype="uint8", crs="EPSG:4551",
                       transform=Affine(4.0, 0, X0 + 1.0, 0, -4.0, Y0 - 1.0)) as dst:
        dst.write(mask[None])
    img = open_imagery(cfg([a], [a], after_cloud_masks=(tmp_path / "m.tif",)), chunk_px=64)
    cloud = img.cloud.compute()
    expected = np.zeros((20, 20), dtype=bool)
    expected[2:5, 4:7] = True
    np.testing.assert_array_equal(cloud, expected)
    np.testing.assert_array_equal(img.valid.compute(), ~expected)


def test_masks_of_both_dates_combine(tmp_path):
    a = write(tmp_path / "a.tif", tile(100, 10, 10))
    m1 = np.zeros((10, 10), dtype=np.uint8)
    m1[0, 0] = 255
    m2 = np.zeros((10, 10), dtype=np.uint8)
    m2[9, 9] = 1
    p1 = write(tmp_path / "m1.tif", m1)
    p2 = write(tmp_path / "m2.tif", m2)
    img = open_imagery(cfg([a], [a], before_cloud_masks=(p1,), after_cloud_masks=(p2,)), chunk_px=64)
    cloud = img.cloud.compute()
    assert cloud.sum() == 2 and cloud[0, 0] and cloud[9, 9]


def test_graph_pickles_for_distributed(two_dates):
    _, a, b, c = two_dates
    img = open_imagery(cfg([a, b], [c]), chunk_px=64)
    arr = pickle.loads(pickle.dumps(img.valid))
    np.testing.assert_array_equal(arr.compute(), img.valid.compute())
    with dask.config.set(scheduler="processes"):
        assert img.data_valid.sum().compute() == img.data_valid.sum().compute(scheduler="sync")


# --------------------------------------------------------------------------- bad inputs
def test_mismatched_crs_names_the_file(tmp_path):
    a = write(tmp_path / "a.tif", tile(1, 4, 4))
    b = write(tmp_path / "odd_crs.tif", tile(1, 4, 4), crs="EPSG:4550")
    with pytest.raises(BadRasterError, match=r"odd_crs\.tif: CRS EPSG:4550 differs") as err:
        open_imagery(cfg([a], [b]))
    assert "\n" not in str(err.value)


def test_band_index_beyond_band_count_names_the_file(tmp_path):
    a = write(tmp_path / "three_bands.tif", tile(1, 4, 4, bands=3))
    with pytest.raises(BadRasterError, match=r"three_bands\.tif: has 3 band\(s\) but the config reads band 4 as nir"):
        open_imagery(cfg([a], [a]))


def test_resolution_and_alignment_are_checked(tmp_path):
    a = write(tmp_path / "a.tif", tile(1, 4, 4))
    b = write(tmp_path / "coarse.tif", tile(1, 4, 4), res=4.0)
    with pytest.raises(BadRasterError, match=r"coarse\.tif: resolution 4 x 4 differs"):
        open_imagery(cfg([a], [b]))
    c = write(tmp_path / "shifted.tif", tile(1, 4, 4), col=0.5)
    with pytest.raises(BadRasterError, match=r"shifted\.tif: not pixel-aligned"):
        open_imagery(cfg([a], [c]))


def test_geographic_crs_is_refused(tmp_path):
    a = write(tmp_path / "degrees.tif", tile(1, 4, 4), crs="EPSG:4490", res=0.0001)
    with pytest.raises(BadRasterError, match=r"degrees\.tif: .*not projected"):
        open_imagery(cfg([a], [a]))


def test_unreadable_and_missing_files(tmp_path):
    junk = tmp_path / "junk.tif"
    junk.write_text("not a tiff")
    with pytest.raises(BadRasterError, match=r"junk\.tif: cannot be read as a raster"):
        open_imagery(cfg([junk], [junk]))
    with pytest.raises(InputFileError, match=r"nope\.tif: before tile not found"):
        open_imagery(cfg([tmp_path / "nope.tif"], [junk]))


def test_bad_cloud_masks(tmp_path):
    a = write(tmp_path / "a.tif", tile(1, 4, 4))
    m16 = write(tmp_path / "m16.tif", np.zeros((4, 4), dtype=np.uint16))
    with pytest.raises(BadRasterError, match=r"m16\.tif: after cloud mask must be uint8"):
        open_imagery(cfg([a], [a], after_cloud_masks=(m16,)))
    far = write(tmp_path / "far.tif", np.zeros((4, 4), dtype=np.uint8), col=1000)
    with pytest.raises(BadRasterError, match=r"far\.tif: before cloud mask covers none of the before tiles"):
        open_imagery(cfg([a], [a], before_cloud_masks=(far,)))


# --------------------------------------------------------------------------- bands: NIR optional
@pytest.mark.parametrize("spec, count, names, expected", [
    ("rgb", 3, ("blue", "green", "red"), [12, 11, 10]),
    ("bgr", 3, ("blue", "green", "red"), [10, 11, 12]),
    ("rgbn", 4, ("blue", "green", "red", "nir"), [12, 11, 10, 13]),
    ("bgrn", 4, ("blue", "green", "red", "nir"), [10, 11, 12, 13]),
    ([3, 2, 1], 3, ("blue", "green", "red"), [12, 11, 10]),
    ([1, 2, 3, 4], 4, ("blue", "green", "red", "nir"), [10, 11, 12, 13]),
    ("3,2,1,4", 4, ("blue", "green", "red", "nir"), [12, 11, 10, 13]),
    ({"red": 1, "green": 2, "blue": 3}, 3, ("blue", "green", "red"), [12, 11, 10]),
    ({"red": 1, "green": 2, "blue": 3, "nir": 5}, 5, ("blue", "green", "red", "nir"), [12, 11, 10, 14]),
])
def test_every_band_spec_reads_blue_green_red_then_nir(tmp_path, spec, count, names, expected):
    from pipeline.config import band_mapping

    a = write(tmp_path / "a.tif", tile(10, 4, 4, bands=count))
    img = open_imagery(cfg([a], [a], bands=band_mapping(spec)), chunk_px=64)
    assert img.band_names == names
    assert img.before.shape == (len(names), 4, 4) and img.after.shape == (len(names), 4, 4)
    assert img.before[:, 0, 0].compute().tolist() == expected
    assert img.data_valid.compute().all()


def test_default_bands_on_an_rgb_file_say_how_to_go_without_nir(tmp_path):
    a = write(tmp_path / "rgb.tif", tile(1, 4, 4, bands=3))
    with pytest.raises(BadRasterError, match=r"rgb\.tif: has 3 band\(s\) but the config reads band 4 "
                                             r"as nir \(imagery without near-infrared: set "
                                             r"imagery\.bands to rgb"):
        open_imagery(cfg([a], [a]))


def test_bands_without_red_are_refused():
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="no red band"):
        open_imagery(cfg([Path("x.tif")], [Path("y.tif")], bands={"blue": 1, "green": 2}))


# --------------------------------------------------------------------------- nodata: only where the file says so
def rgb8(h: int = 6, w: int = 6) -> np.ndarray:
    data = np.full((3, h, w), 90, dtype=np.uint8)
    data[:, 1, 1] = 0  # a deep shadow: 0 in every band
    data[2, 2, 2] = 0  # 0 in one band
    return data


def test_real_zero_shadows_in_an_8bit_tile_without_nodata_are_data(tmp_path):
    a = write(tmp_path / "shadows.tif", rgb8())
    img = open_imagery(cfg([a], [a], bands={"red": 1, "green": 2, "blue": 3}), chunk_px=64)
    assert img.data_valid.compute().all()
    before = img.before.compute()
    assert before[:, 1, 1].tolist() == [0, 0, 0] and before[0, 2, 2] == 0


def test_declared_nodata_zero_drops_the_pixels_with_zero(tmp_path):
    a = write(tmp_path / "nd0.tif", rgb8(), nodata=0)
    img = open_imagery(cfg([a], [a], bands={"red": 1, "green": 2, "blue": 3}), chunk_px=64)
    valid = img.data_valid.compute()
    assert not valid[1, 1] and not valid[2, 2] and valid.sum() == 34


def test_an_alpha_band_is_honoured(tmp_path):
    path = tmp_path / "rgba.tif"
    data = np.full((4, 6, 6), 90, dtype=np.uint8)
    data[3] = 255
    data[3, 4, 5] = 0  # transparent
    data[:3, 1, 1] = 0  # a black but opaque pixel: data
    with rasterio.open(path, "w", driver="GTiff", height=6, width=6, count=4, dtype="uint8",
                       crs="EPSG:4551", photometric="RGB", alpha="YES",
                       transform=Affine(RES, 0, X0, 0, -RES, Y0)) as dst:
        dst.write(data)
    img = open_imagery(cfg([path], [path], bands={"red": 1, "green": 2, "blue": 3}), chunk_px=64)
    valid = img.data_valid.compute()
    assert not valid[4, 5] and valid[1, 1] and valid.sum() == 35


def test_an_internal_mask_is_honoured(tmp_path):
    path = tmp_path / "masked.tif"
    mask = np.full((6, 6), 255, dtype=np.uint8)
    mask[0, 3] = 0
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "w", driver="GTiff", height=6, width=6, count=3, dtype="uint8",
                           crs="EPSG:4551", transform=Affine(RES, 0, X0, 0, -RES, Y0)) as dst:
            dst.write(rgb8())
            dst.write_mask(mask)
    assert not (tmp_path / "masked.tif.msk").exists()  # internal, not a sidecar
    img = open_imagery(cfg([path], [path], bands={"red": 1, "green": 2, "blue": 3}), chunk_px=64)
    valid = img.data_valid.compute()
    assert not valid[0, 3] and valid[1, 1] and valid.sum() == 35


def test_a_band_gdal_calls_alpha_but_the_config_reads_as_nir_is_data(tmp_path):
    """A 4-band 8-bit GeoTIFF gets GDAL's RGBA interpretation unless told otherwise; read as NIR,
    its zeros are data, not transparency."""
    path = tmp_path / "rgbn8.tif"
    data = np.full((4, 6, 6), 90, dtype=np.uint8)
    data[3, 2, 3] = 0  # NIR 0 (water)
    with rasterio.open(path, "w", driver="GTiff", height=6, width=6, count=4, dtype="uint8",
                       crs="EPSG:4551", photometric="RGB", alpha="YES",
                       transform=Affine(RES, 0, X0, 0, -RES, Y0)) as dst:
        dst.write(data)
    with rasterio.open(path) as src:
        assert src.colorinterp[3].name == "alpha"
    img = open_imagery(cfg([path], [path], bands={"red": 1, "green": 2, "blue": 3, "nir": 4}), chunk_px=64)
    assert img.data_valid.compute().all()
    assert img.before[3, 2, 3].compute() == 0


# --------------------------------------------------------------------------- imagery.resample
def ramp(h: int, w: int) -> np.ndarray:
    """4 bands; band k = 100 * (k + 1) + 10 * column: a linear ramp along x."""
    cols = np.arange(w, dtype=np.float64)[None, None, :]
    return (100.0 * np.arange(1, 5)[:, None, None] + 10.0 * cols + np.zeros((4, h, 1))).astype(np.uint16)


def test_a_fifth_of_a_pixel_offset_is_refused_without_resample_naming_the_key(tmp_path):
    a = write(tmp_path / "a.tif", ramp(10, 12))
    b = write(tmp_path / "b.tif", ramp(10, 12), col=0.2)
    with pytest.raises(BadRasterError) as err:
        open_imagery(cfg([a], [b]))
    msg = str(err.value)
    assert msg.startswith(f"{b}: not pixel-aligned with {a} (offset +0.200, +0.000 px)")
    assert "imagery.resample" in msg and "\n" not in msg


@pytest.mark.parametrize("method", ["nearest", "bilinear", "cubic"])
def test_a_fifth_of_a_pixel_offset_is_resampled_onto_the_first_before_tile(tmp_path, method):
    a = write(tmp_path / "a.tif", ramp(10, 12))
    b = write(tmp_path / "b.tif", ramp(10, 12), col=0.2)
    img = open_imagery(cfg([a], [b], resample=method), chunk_px=64)
    assert img.grid.shape == (10, 12)
    assert tuple(img.grid.transform)[:6] == (RES, 0, X0, 0, -RES, Y0)
    assert [r.to_dict() for r in img.resampled] == [
        {"path": str(b), "date": "after", "method": method, "offset_px": [0.2, 0.0],
         "resolution_ratio": [1.0, 1.0], "reprojected_from": None}]
    after = img.after.compute()
    assert np.isfinite(after).all()  # every pixel centre lies inside the shifted tile
    np.testing.assert_array_equal(img.before.compute(), ramp(10, 12).astype(np.float32))
    if method == "nearest":  # each centre falls in the tile pixel of the same index
        np.testing.assert_array_equal(after, ramp(10, 12).astype(np.float32))
    else:  # the ramp sampled 0.2 px to the left: 10 * (col - 0.2) more than the band base
        np.testing.assert_allclose(after[:, :, 2:-2], ramp(10, 12)[:, :, 2:-2] - 2.0, atol=0.51)


def test_resampled_tile_covers_the_pixels_whose_centres_it_holds(tmp_path):
    a = write(tmp_path / "a.tif", ramp(10, 12))
    b = write(tmp_path / "b.tif", ramp(10, 12), col=0.7, row=-0.3)
    img = open_imagery(cfg([a], [b], resample="nearest"), chunk_px=64)
    # after covers cols 0.7..12.7 and rows -0.3..9.7: reference cols 1..12, rows 0..9
    assert img.grid.shape == (10, 13)
    after = img.after.compute()
    assert np.isnan(after[:, :, 0]).all() and np.isfinite(after[:, :, 1:]).all()
    assert after[0, 0, 1] == 100 and after[0, 0, 12] == 210
    r = img.resampled[0]
    assert r.offset_px == pytest.approx((-0.3, -0.3))


def test_resolution_within_one_percent_is_resampled_beyond_refused(tmp_path):
    a = write(tmp_path / "a.tif", ramp(10, 12))
    near = write(tmp_path / "near.tif", ramp(10, 12), res=RES * 1.005)
    with pytest.raises(BadRasterError, match=r"near\.tif: resolution 2\.01 x 2\.01 differs from 2 x 2 "
                                             r"of .*a\.tif \(by 0\.5 %\); set imagery\.resample"):
        open_imagery(cfg([a], [near]))
    img = open_imagery(cfg([a], [near], resample="bilinear"), chunk_px=64)
    assert img.resampled[0].resolution_ratio == pytest.approx((1.005, 1.005))
    far = write(tmp_path / "far.tif", ramp(10, 12), res=RES * 1.05)
    for resample in ("none", "bilinear"):
        with pytest.raises(BadRasterError) as err:
            open_imagery(cfg([a], [far], resample=resample))
        msg = str(err.value)
        assert msg.startswith(f"{far}: resolution 2.1 x 2.1 differs from 2 x 2 of {a} by 5 %")
        assert "imagery.resample reads grids within 1% only" in msg


def test_resampled_tile_keeps_its_nodata(tmp_path):
    data = ramp(10, 12)
    data[:, 4:6, 4:6] = 0
    a = write(tmp_path / "a.tif", ramp(10, 12), nodata=0)
    b = write(tmp_path / "b.tif", data, col=0.2, nodata=0)
    img = open_imagery(cfg([a], [b], resample="nearest"), chunk_px=64)
    valid = img.data_valid.compute()
    assert not valid[4:6, 4:6].any() and valid.sum() == 10 * 12 - 4


def test_resampled_graph_pickles(tmp_path):
    a = write(tmp_path / "a.tif", ramp(10, 12))
    b = write(tmp_path / "b.tif", ramp(10, 12), col=0.2)
    img = open_imagery(cfg([a], [b], resample="bilinear"), chunk_px=64)
    arr = pickle.loads(pickle.dumps(img.after))
    np.testing.assert_array_equal(arr.compute(), img.after.compute())


@pytest.mark.parametrize("kind", ["alpha", "internal_mask"])
def test_resampled_tile_keeps_its_alpha_or_internal_mask(tmp_path, kind):
    a = write(tmp_path / "a.tif", rgb8(10, 12))
    path = tmp_path / f"{kind}.tif"
    hidden = np.full((10, 12), 255, dtype=np.uint8)
    hidden[4, 5] = 0
    data = rgb8(10, 12)
    extra = dict(photometric="RGB", alpha="YES") if kind == "alpha" else {}
    count = 4 if kind == "alpha" else 3
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "w", driver="GTiff", height=10, width=12, count=count, dtype="uint8",
                           crs="EPSG:4551", transform=Affine(RES, 0, X0 + 0.2 * RES, 0, -RES, Y0),
                           **extra) as dst:
            dst.write(np.concatenate([data, hidden[None]]) if kind == "alpha" else data)
            if kind == "internal_mask":
                dst.write_mask(hidden)
    img = open_imagery(cfg([a], [path], bands={"red": 1, "green": 2, "blue": 3}, resample="nearest"),
                       chunk_px=64)
    valid = img.data_valid.compute()
    assert not valid[4, 5] and valid.sum() == 10 * 12 - 1


# --------------------------------------------------------------------------- the reader's fast paths
def reference_read(paths, bands, shape, offsets) -> np.ndarray:
    """The reader's rules written out pixel by pixel: the first tile (in order) with data in
    every band wins; no data = the declared nodata in any band or a non-finite float; NaN
    where no tile has data."""
    out = np.full((len(bands),) + shape, np.nan, dtype=np.float32)
    filled = np.zeros(shape, dtype=bool)
    for path, (row, col) in zip(paths, offsets):
        with rasterio.open(path) as src:
            data = src.read(list(bands)).astype(np.float64)
            nodata = src.nodata
        ok = np.isfinite(data).all(axis=0)
        if nodata is not None:
            ok &= (data != nodata).all(axis=0)
        for r, c in zip(*np.nonzero(ok)):
            if not filled[row + r, col + c]:
                out[:, row + r, col + c] = data[:, r, c]
                filled[row + r, col + c] = True
    return out


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
@pytest.mark.parametrize("chunk_px", [16, 24, 64])
def test_reader_equals_the_pixel_rules_on_a_mosaic_with_nodata_and_overlaps(tmp_path, dtype, chunk_px):
    """Tiles side by side (one assignment each where they have data everywhere), a tile over
    both with holes of nodata (a masked copy: the earlier tiles keep their pixels), NaN gaps."""
    rng = np.random.default_rng(3)
    nodata = 0 if dtype == "uint16" else -9999.0

    def data(h, w):
        return rng.integers(1, 4000, (4, h, w)).astype(dtype)

    a = data(30, 20)
    a[:, 3:6, 4:9] = nodata  # a hole in one band is a hole in the pixel
    a[2, 10, 10] = nodata
    b = data(30, 25)
    if dtype == "float32":
        b[1, 7, 3] = np.nan  # a non-finite float is no data
    c = data(20, 40)  # over a and b, read after them: fills only their holes and beyond
    c[:, 0:2, :] = nodata
    d = data(8, 8)  # alone, away from the others: NaN around it
    paths = [write(tmp_path / "a.tif", a, nodata=nodata), write(tmp_path / "b.tif", b, col=20, nodata=nodata),
             write(tmp_path / "c.tif", c, row=2, col=2, nodata=nodata),
             write(tmp_path / "d.tif", d, row=32, col=40, nodata=nodata)]
    offsets = [(0, 0), (0, 20), (2, 2), (32, 40)]
    img = open_imagery(cfg(paths, paths[:1]), chunk_px=chunk_px)
    assert img.grid.shape == (40, 48)
    expected = reference_read(paths, (1, 2, 3, 4), (40, 48), offsets)
    got = img.before.compute(scheduler="sync")
    np.testing.assert_array_equal(got, expected)  # NaN where expected NaN, values equal
    assert np.isnan(got[:, 35, 10]).all() and not np.isnan(got[:, 4, 5]).any()  # c under a's hole


def test_an_aligned_cloud_mask_reads_like_the_general_rule(tmp_path, monkeypatch):
    """A mask on the grid's own pixels is or-ed in directly; the same as the general
    any-overlap rule, and an offset mask of the same date still goes through that rule."""
    a = write(tmp_path / "a.tif", tile(100, 40, 50))
    rng = np.random.default_rng(5)
    aligned = (rng.random((30, 50)) < 0.2).astype(np.uint8)
    aligned_path = write(tmp_path / "m1.tif", np.vstack([aligned, np.zeros((10, 50), np.uint8)]))
    coarse = (rng.random((20, 25)) < 0.1).astype(np.uint8)
    coarse_path = tmp_path / "m2.tif"
    with rasterio.open(coarse_path, "w", driver="GTiff", height=20, width=25, count=1, dtype="uint8",
                       crs="EPSG:4551", transform=Affine(4.0, 0, X0 + 1.0, 0, -4.0, Y0 + 1.0)) as dst:
        dst.write(coarse[None])
    # the aligned mask read after the coarse one: or-ed into what that one flagged
    config = cfg([a], [a], before_cloud_masks=(coarse_path,), after_cloud_masks=(aligned_path,))
    fast = open_imagery(config, chunk_px=16).cloud.compute(scheduler="sync")
    calls = []
    real = imagery_mod._one_to_one

    def general(*args):
        calls.append(real(*args))
        return None

    monkeypatch.setattr(imagery_mod, "_one_to_one", general)
    slow = open_imagery(config, chunk_px=16).cloud.compute(scheduler="sync")
    assert any(v is not None for v in calls) and any(v is None for v in calls)  # both kinds of mask
    np.testing.assert_array_equal(fast, slow)
    assert fast[:30][aligned.astype(bool)].all()
