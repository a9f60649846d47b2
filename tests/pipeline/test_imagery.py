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
    first[:, 2:4, 2:4] = 0  # nodata (0 by default) in the first tile
    a = write(tmp_path / "a.tif", first)
    b = write(tmp_path / "b.tif", tile(200, 10, 10))
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


def test_a_chunk_opens_only_the_tiles_it_overlaps(tmp_path, monkeypatch):
    paths = [write(tmp_path / f"t{k}.tif", tile(k + 1, 64, 64), col=64 * k) for k in range(4)]
    img = open_imagery(cfg(paths, paths), chunk_px=64)
    opened = []
    real_open = rasterio.open

    def spy(path, *args, **kw):
        opened.append(Path(path).name)
        return real_open(path, *args, **kw)

    monkeypatch.setattr(imagery_mod.rasterio, "open", spy)
    block = img.before[:, :, 128:192].compute(scheduler="sync")
    assert opened == ["t2.tif"]
    assert (block[0] == 3).all()


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
