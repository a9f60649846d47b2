"""pipeline.pair: any before / after pair -> Imagery; minimum area; the change mask."""
from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.features import rasterize

from detection.grid import Grid
from pipeline.errors import BadRasterError, ConfigError, InputFileError
from pipeline.pair import (MASK_CHANGE, MASK_NO_CHANGE, MASK_NODATA, choose_min_area, open_pair,
                           patch_table, write_change_mask)

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

X0, Y0, RES = 500000.0, 4400000.0, 2.0


def plain(path: Path, data: np.ndarray, driver: str = "PNG") -> Path:
    """An image without georeference (PNG, JPEG, JPEG2000 or a bare GeoTIFF)."""
    data = np.asarray(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path, "w", driver=driver, height=data.shape[1], width=data.shape[2],
                           count=data.shape[0], dtype=data.dtype.name) as dst:
            dst.write(data)
    return path


def geo(path: Path, data: np.ndarray, *, col: float = 0, row: float = 0, res: float = RES,
        crs: str = "EPSG:4551", nodata=None, x0: float = X0, y0: float = Y0, **kw) -> Path:
    """A GeoTIFF whose top-left corner is pixel (row, col) of the 2 m test grid."""
    data = np.asarray(data)
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2],
                       count=data.shape[0], dtype=data.dtype.name, crs=crs, nodata=nodata,
                       transform=Affine(res, 0, x0 + col * RES, 0, -res, y0 - row * RES), **kw) as dst:
        dst.write(data)
    return path


def rgb(h: int = 20, w: int = 30, value: int = 50) -> np.ndarray:
    """Band k holds value + 10 k + column (band order and position are visible)."""
    return (value + 10 * np.arange(3)[:, None, None] + np.arange(w)[None, None, :]
            + np.zeros((3, h, 1))).astype(np.uint8)


def bands4(h: int = 20, w: int = 30, dtype: str = "uint16") -> np.ndarray:
    return (1000 + 100 * np.arange(4)[:, None, None] + np.arange(w)[None, None, :]
            + np.zeros((4, h, 1))).astype(dtype)


# --------------------------------------------------------------------------- images without georeference
def test_png_pair_is_compared_pixel_by_pixel(tmp_path):
    b = plain(tmp_path / "before.png", rgb())
    a = plain(tmp_path / "after.png", rgb(value=60))
    img, info = open_pair(b, a)
    assert not info.georeferenced
    assert img.grid.crs is None and img.grid.transform == Affine.identity()
    assert img.grid.shape == (20, 30) and img.band_names == ("blue", "green", "red")
    assert info.bands["before"] == {"blue": 3, "green": 2, "red": 1}  # PNG says R, G, B
    assert info.band_source["before"] == "colour interpretation"
    before = img.before.compute()
    assert before[:, 0, 0].tolist() == [70, 60, 50] and before[0, 0, 5] == 75
    assert img.after[:, 0, 0].compute().tolist() == [80, 70, 60]
    assert img.data_valid.compute().all() and img.resampled == ()


@pytest.mark.parametrize("driver, suffix", [("JPEG", ".jpg"), ("JP2OpenJPEG", ".jp2"), ("GTiff", ".tif")])
def test_other_formats_without_georeference(tmp_path, driver, suffix):
    b = plain(tmp_path / f"before{suffix}", rgb(), driver)
    a = plain(tmp_path / f"after{suffix}", rgb(), driver)
    img, info = open_pair(b, a)
    assert not info.georeferenced and img.before.shape == (3, 20, 30)
    assert np.isfinite(img.before.compute()).all()


def test_unreferenced_images_of_different_sizes_are_refused(tmp_path):
    b = plain(tmp_path / "before.png", rgb(20, 30))
    a = plain(tmp_path / "after.png", rgb(20, 31))
    with pytest.raises(BadRasterError) as err:
        open_pair(b, a)
    assert str(err.value) == (f"{a}: after image is 31 x 20 px but before image {b} is 30 x 20 px: "
                              "images without georeference are compared pixel by pixel and must "
                              "have the same size")


def test_one_georeferenced_and_one_plain_image_are_refused(tmp_path):
    b = geo(tmp_path / "before.tif", rgb())
    a = plain(tmp_path / "after.png", rgb())
    with pytest.raises(BadRasterError, match=r"after\.png: has no georeference but .*before\.tif has"):
        open_pair(b, a)


def test_a_png_with_an_alpha_channel_masks_transparent_pixels(tmp_path):
    data = np.concatenate([rgb(), np.full((1, 20, 30), 255, np.uint8)])
    data[3, 5, 6] = 0
    data[:3, 7, 7] = 0  # black but opaque: data
    b = plain(tmp_path / "before.png", data)
    a = plain(tmp_path / "after.png", rgb())
    img, info = open_pair(b, a)
    assert info.bands["before"] == {"blue": 3, "green": 2, "red": 1}  # alpha is a mask, not a band
    valid = img.data_valid.compute()
    assert not valid[5, 6] and valid[7, 7] and valid.sum() == 20 * 30 - 1


# --------------------------------------------------------------------------- bands
def test_four_bands_without_colour_interpretation_ask_for_bands(tmp_path):
    b = geo(tmp_path / "before.tif", bands4())
    a = geo(tmp_path / "after.tif", bands4())
    with pytest.raises(BadRasterError) as err:
        open_pair(b, a)
    assert str(err.value).startswith(f"{b}: before image has 4 bands and its colour interpretation "
                                     "(gray, undefined, undefined, undefined) does not say which are "
                                     "red, green and blue: give --bands (rgb, rgbn, bgr, bgrn")
    img, info = open_pair(b, a, bands="bgrn")
    assert img.band_names == ("blue", "green", "red", "nir")
    assert img.before[:, 0, 0].compute().tolist() == [1000, 1100, 1200, 1300]
    assert info.band_source == {"before": "--bands", "after": "--bands"}
    img, _ = open_pair(b, a, bands="4,3,2")
    assert img.before[:, 0, 0].compute().tolist() == [1300, 1200, 1100]


def test_rgb_plus_an_unnamed_band_reads_rgb_and_says_how_to_use_nir(tmp_path):
    """NAIP style: R, G, B, undefined."""
    paths = []
    for name in ("before.tif", "after.tif"):
        path = geo(tmp_path / name, bands4())
        with rasterio.open(path, "r+") as dst:
            dst.colorinterp = [rasterio.enums.ColorInterp.red, rasterio.enums.ColorInterp.green,
                               rasterio.enums.ColorInterp.blue, rasterio.enums.ColorInterp.undefined]
        paths.append(path)
    img, info = open_pair(*paths)
    assert img.band_names == ("blue", "green", "red")
    assert img.before[:, 0, 0].compute().tolist() == [1200, 1100, 1000]
    assert any("band 4 (undefined)" in n and "--bands rgbn" in n for n in info.notes)
    img, _ = open_pair(*paths, bands="rgbn")
    assert img.before[:, 0, 0].compute().tolist() == [1200, 1100, 1000, 1300]


def test_a_band_index_beyond_the_file_is_refused_naming_the_option(tmp_path):
    b = plain(tmp_path / "before.png", rgb())
    with pytest.raises(BadRasterError, match=r"before\.png: before image has 3 band\(s\) but --bands "
                                             r"reads band 4 as nir"):
        open_pair(b, b, bands="bgrn")
    with pytest.raises(ConfigError, match="'--bands' must be rgb, rgbn, bgr, bgrn"):
        open_pair(b, b, bands="rbg")


def test_two_band_and_unreadable_and_missing_files(tmp_path):
    two = plain(tmp_path / "two.tif", rgb()[:2], "GTiff")
    good = plain(tmp_path / "good.png", rgb())
    with pytest.raises(BadRasterError, match=r"two\.tif: before image has 2 band\(s\): blue, green "
                                             r"and red are needed"):
        open_pair(two, good)
    junk = tmp_path / "junk.jp2"
    junk.write_bytes(b"not an image")
    with pytest.raises(BadRasterError, match=r"junk\.jp2: cannot be read as a raster"):
        open_pair(good, junk)
    with pytest.raises(InputFileError, match=r"nope\.tif: after image not found"):
        open_pair(good, tmp_path / "nope.tif")


def test_different_data_types_are_refused(tmp_path):
    b = geo(tmp_path / "before.tif", bands4(dtype="uint16"))
    a = geo(tmp_path / "after.tif", bands4(dtype="uint8"))
    with pytest.raises(BadRasterError, match=r"after\.tif: after image is uint8 but before image .* is "
                                             r"uint16"):
        open_pair(b, a, bands="bgrn")


# --------------------------------------------------------------------------- georeferenced pairs
def test_aligned_after_with_another_extent_is_read_directly(tmp_path):
    b = geo(tmp_path / "before.tif", bands4(20, 30))
    a = geo(tmp_path / "after.tif", bands4(20, 30), col=5, row=-3)
    img, info = open_pair(b, a, bands="bgrn")
    assert info.georeferenced and img.resampled == ()
    assert img.grid.shape == (20, 30) and img.grid.transform == Affine(RES, 0, X0, 0, -RES, Y0)
    after = img.after.compute()
    assert np.isnan(after[:, :, :5]).all() and np.isnan(after[:, 17:, :]).all()
    assert after[0, 0, 5] == 1000 and after[0, 16, 29] == 1024


def test_after_with_another_origin_is_resampled_onto_the_before_grid(tmp_path):
    b = geo(tmp_path / "before.tif", bands4(20, 30))
    a = geo(tmp_path / "after.tif", bands4(20, 30), col=2.2, row=1)
    img, info = open_pair(b, a, bands="bgrn")  # nearest by default
    assert img.grid == Grid(20, 30, Affine(RES, 0, X0, 0, -RES, Y0), img.grid.crs)
    assert [r.to_dict() for r in img.resampled] == [
        {"path": str(a), "date": "after", "method": "nearest", "offset_px": [0.2, 0.0],
         "resolution_ratio": [1.0, 1.0], "reprojected_from": None}]
    after = img.after.compute()
    # after covers before cols 2.2..32.2, rows 1..21: pixel centres of cols 2..29, rows 1..19
    assert np.isnan(after[:, 0, :]).all() and np.isnan(after[:, :, :2]).all()
    assert np.isfinite(after[:, 1:, 2:]).all()
    assert after[0, 1, 2] == 1000 and after[0, 1, 29] == 1027
    with pytest.raises(BadRasterError) as err:
        open_pair(b, a, bands="bgrn", resample="none")
    assert str(err.value) == (f"{a}: after image is offset from the before grid by +0.200, +0.000 px: "
                              "pass --resample nearest, bilinear or cubic to read it onto the "
                              "before image's grid")


def test_after_in_another_crs_is_reprojected(tmp_path):
    b = geo(tmp_path / "before.tif", bands4(20, 30))
    # the same place in EPSG:4326 (about 2 m pixels)
    from rasterio.warp import transform as reproject_points

    xs, ys = reproject_points("EPSG:4551", "EPSG:4326", [X0 - 4], [Y0 + 4])
    a = geo(tmp_path / "after.tif", bands4(25, 40), crs="EPSG:4326", res=2e-5, x0=xs[0], y0=ys[0])
    img, info = open_pair(b, a, bands="bgrn", resample="bilinear")
    assert img.grid.crs.to_epsg() == 4551 and img.grid.shape == (20, 30)
    rec = img.resampled[0]
    assert rec.reprojected_from == "EPSG:4326" and rec.offset_px is None
    assert np.isfinite(img.after.compute()[:, 5:15, 5:15]).all()


def test_pairs_that_do_not_overlap_or_barely_do_are_refused(tmp_path):
    b = geo(tmp_path / "before.tif", bands4(20, 30))
    far = geo(tmp_path / "far.tif", bands4(20, 30), col=500)
    with pytest.raises(BadRasterError, match=r"far\.tif: the after image does not overlap the before "
                                             r"image"):
        open_pair(b, far, bands="bgrn")
    sliver = geo(tmp_path / "sliver.tif", bands4(20, 30), col=29.9)
    with pytest.raises(BadRasterError, match=r"sliver\.tif: the after image overlaps the before image "
                                             r".* on only 0\.3 % of the smaller footprint"):
        open_pair(b, sliver, bands="bgrn")


def test_a_geographic_before_image_is_refused(tmp_path):
    b = geo(tmp_path / "before.tif", bands4(), crs="EPSG:4326", res=1e-5, x0=120.0, y0=40.0)
    with pytest.raises(BadRasterError, match=r"before\.tif: before image CRS EPSG:4326 is not projected"):
        open_pair(b, b, bands="bgrn")


# --------------------------------------------------------------------------- minimum area
def grid_at(res: float) -> Grid:
    return Grid(10, 10, Affine(res, 0, X0, 0, -res, Y0), rasterio.crs.CRS.from_epsg(4551))


@pytest.mark.parametrize("res, m2, px", [(0.5, 50.0, 200.0), (2.0, 64.0, 16.0), (10.0, 1600.0, 16.0)])
def test_pair_default_min_area_is_50_m2_or_16_pixels(res, m2, px):
    area = choose_min_area(grid_at(res))
    assert (area.m2, area.px, area.grid_units) == (m2, px, m2)
    assert area.source.startswith("default for a pair") and area.warning is None


def test_min_area_flags_config_and_pixel_mode():
    g = grid_at(0.5)
    assert choose_min_area(g, flag_m2=400).px == 1600
    assert choose_min_area(g, flag_px=100).m2 == 25
    assert choose_min_area(g, config_m2=400).source == "detection.min_area_m2"
    auto = choose_min_area(grid_at(2.0), config_m2="auto")  # detection.min_area_m2: auto
    assert (auto.m2, auto.px) == (64.0, 16.0) and "auto" in auto.source
    assert choose_min_area(g, config_m2="auto").m2 == 50.0
    with pytest.raises(ConfigError, match="not both"):
        choose_min_area(g, flag_m2=1, flag_px=1)
    px = Grid(10, 10, Affine.identity(), None)
    area = choose_min_area(px)
    assert (area.px, area.m2, area.grid_units) == (16, None, 16)
    assert choose_min_area(px, config_m2=400).px == 400  # read as pixels, pixel size 1
    assert choose_min_area(px, flag_px=9).grid_units == 9
    with pytest.raises(ConfigError, match="areas are in pixels; use --min-area-px"):
        choose_min_area(px, flag_m2=50)


def test_a_min_area_below_one_pixel_is_warned_about():
    area = choose_min_area(grid_at(30.0), config_m2=400)
    assert area.warning.startswith("minimum area 400 m² (detection.min_area_m2) is below one pixel "
                                   "(900 m² at 30 m): it removes nothing")
    assert choose_min_area(grid_at(2.0), config_m2=400).warning is None


# --------------------------------------------------------------------------- change mask
@pytest.mark.parametrize("transform", [Affine(RES, 0, X0, 0, -RES, Y0), Affine.identity()])
def test_change_mask_reproduces_the_patch_pixels_across_chunks(tmp_path, transform):
    """Patches that follow pixel edges (an L, a square with a hole, one crossing chunk borders)
    rasterise back to exactly their pixels; nodata of either date is 255."""
    h, w = 100, 130
    pixels = np.zeros((h, w), dtype=bool)
    pixels[10:30, 60:70] = True
    pixels[20:30, 70:90] = True  # L across the column chunk border at 64
    pixels[50:80, 5:35] = True
    pixels[60:70, 15:25] = False  # hole
    pixels[62:66, 18:22] = True  # island in the hole
    pixels[95:100, 125:130] = True  # in the corner
    from rasterio.features import shapes

    geoms = [shapely.geometry.shape(g) for g, v in shapes(pixels.astype(np.uint8), mask=pixels,
                                                           transform=transform, connectivity=4)]
    crs = None if transform.is_identity else "EPSG:4551"
    data = bands4(h, w)
    data[:, 0:3, 100:110] = 0
    b = (geo(tmp_path / "b.tif", data, nodata=0) if crs else plain(tmp_path / "b.tif", data, "GTiff"))
    img, _ = open_pair(b, b, bands="bgrn", chunk_px=64)
    patches = gpd.GeoDataFrame({"source_id": [f"D{k:06d}" for k in range(len(geoms))],
                                "mean_score": 0.5}, geometry=geoms, crs=crs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counts = write_change_mask(tmp_path / "mask.tif", img, patches)
        with rasterio.open(tmp_path / "mask.tif") as src:
            mask = src.read(1)
            assert src.dtypes[0] == "uint8" and src.nodata == MASK_NODATA
            assert src.profile["compress"] == "deflate" and src.profile["tiled"]
            assert src.transform == transform
    expected = np.full((h, w), MASK_NO_CHANGE, dtype=np.uint8)
    if crs:
        expected[0:3, 100:110] = MASK_NODATA
    expected[pixels] = MASK_CHANGE
    np.testing.assert_array_equal(mask, expected)
    assert counts["pixels_change"] == pixels.sum()
    burnt = rasterize(((g, 1) for g in patches.geometry), out_shape=(h, w), transform=transform)
    np.testing.assert_array_equal(burnt == 1, pixels)


def test_patch_table_columns(tmp_path):
    g = grid_at(2.0)
    patches = gpd.GeoDataFrame({"source_id": ["D000001"], "mean_score": [0.4], "ndvi_drop": [0.3]},
                               geometry=[shapely.box(X0, Y0 - 20, X0 + 10, Y0)], crs="EPSG:4551")
    table = patch_table(patches, g)
    assert list(table.columns) == ["source_id", "mean_score", "area_m2", "ndvi_drop", "geometry"]
    assert table.area_m2.iloc[0] == 200.0
    table = patch_table(patches.set_crs(None, allow_override=True), Grid(10, 10, Affine.identity(), None))
    assert "area_px" in table.columns and table.area_px.iloc[0] == 200.0
