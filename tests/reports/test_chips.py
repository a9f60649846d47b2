"""Image chips: one stretch for both dates, outline drawn, small windows read from the imagery."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine
from PIL import Image

import pipeline.imagery as imagery_mod
from pipeline.chips_io import MIN_MARGIN_PX, ImageryChips, array_source
from pipeline.config import ImageryConfig
from pipeline.imagery import open_imagery
from reports.chips import (MAX_PX, NODATA_RGB, OUTLINE_RGB, ChipPair, chip_names, chip_pngs, render_png,
                           safe_file_stem, stretch_limits, stretch_pair)

# --------------------------------------------------------------------------- pure rendering


def _pair(shift: float = 25.0, seed: int = 0) -> ChipPair:
    rng = np.random.default_rng(seed)
    before = rng.uniform(100, 600, size=(3, 40, 50))
    ring = np.array([[10, 8], [30, 8], [30, 28], [10, 28], [10, 8]], float)
    return ChipPair(before, before + shift, (ring,), pixel_size=2.0)


def test_both_dates_share_one_stretch_so_a_constant_change_stays_visible() -> None:
    c = 25.0
    pair = _pair(c)
    s = stretch_pair(pair)
    lo, hi = stretch_limits(pair.before, pair.after)
    assert np.array_equal(s.lo, lo) and np.array_equal(s.hi, hi)  # one set of limits for both
    step = c * 255 / (hi - lo)  # the constant in stretched units, per band
    b = s.before.astype(int)
    a = s.after.astype(int)
    for k in range(3):
        inside = (b[..., k] > 0) & (a[..., k] < 255)  # neither clipped
        assert inside.sum() > 1000
        diff = a[..., k][inside] - b[..., k][inside]
        assert np.abs(diff - step[k]).max() <= 1.0  # rounding only
        assert step[k] > 10  # a visible difference, not stretched away
    # a stretch per date would have made the two chips look alike
    own_before = stretch_pair(ChipPair(pair.before, pair.before)).before.astype(int)
    own_after = stretch_pair(ChipPair(pair.after, pair.after)).before.astype(int)
    assert np.abs(own_after - own_before).mean() < 1


def test_limits_are_percentiles_of_the_union_of_valid_pixels() -> None:
    before = np.full((3, 10, 10), np.nan)
    before[:, :5] = 0.0
    after = np.full((3, 10, 10), 100.0)
    lo, hi = stretch_limits(before, after, (0, 100))
    assert list(lo) == [0, 0, 0] and list(hi) == [100, 100, 100]
    lo, hi = stretch_limits(np.full((3, 2, 2), np.nan), np.full((3, 2, 2), np.nan))
    assert list(lo) == [0, 0, 0] and list(hi) == [1, 1, 1]  # nothing valid: no division by zero
    lo, hi = stretch_limits(np.full((3, 2, 2), 7.0), np.full((3, 2, 2), 7.0))
    assert list(hi - lo) == [1, 1, 1]  # a flat band


def test_nodata_pixels_get_the_nodata_colour() -> None:
    pair = _pair()
    before = pair.before.copy()
    before[1, 0, 0] = np.nan  # one band missing is enough
    s = stretch_pair(ChipPair(before, pair.after, pair.rings))
    assert tuple(s.before[0, 0]) == NODATA_RGB
    assert tuple(s.after[0, 0]) != NODATA_RGB


def test_outline_is_drawn_on_the_pixel_edges() -> None:
    rgb = np.zeros((20, 30, 3), np.uint8)
    ring = np.array([[5, 4], [25, 4], [25, 16], [5, 16], [5, 4]], float)
    png = render_png(rgb, [ring], scale=4)
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert img.shape == (80, 120, 3)
    outline = np.all(img == OUTLINE_RGB, axis=-1)
    # the top edge at y = 4 px * 4, from x = 20 to 100; the left edge at x = 20
    assert outline[16, 20:101].mean() > 0.95
    assert outline[16:65, 20].mean() > 0.95
    assert outline[64, 20:101].mean() > 0.95 and outline[16:65, 100].mean() > 0.95
    assert not outline[40, 60] and not outline[2, 2]  # inside and outside untouched
    assert render_png(rgb, [ring], scale=4) == png  # no time stamp: same bytes


def test_chip_pngs_are_enlarged_alike_and_reduced_when_huge() -> None:
    s = stretch_pair(_pair())
    before, after = chip_pngs(s)
    a, b = Image.open(io.BytesIO(before)), Image.open(io.BytesIO(after))
    assert a.size == b.size and a.size[0] >= 300  # a 50 px chip is enlarged
    huge = np.zeros((3, MAX_PX * 2 + 1, 10))
    big = stretch_pair(ChipPair(huge, huge, (np.array([[0, 0], [10, 2000]]),)))
    assert big.step == 3 and big.before.shape[0] <= MAX_PX
    assert big.rings[0][1, 1] == pytest.approx(2000 / 3)


def test_chip_pair_checks_its_arrays() -> None:
    with pytest.raises(ValueError, match="red, green, blue"):
        ChipPair(np.zeros((4, 5, 5)), np.zeros((4, 5, 5)))
    with pytest.raises(ValueError, match="differ"):
        ChipPair(np.zeros((3, 5, 5)), np.zeros((3, 5, 6)))


def test_chip_file_names() -> None:
    assert chip_names("220202202554601485703") == ("chips/220202202554601485703_before.png",
                                                   "chips/220202202554601485703_after.png")
    assert safe_file_stem("2202/21:A 甲") == "2202_21_A__"
    assert safe_file_stem("..") == "_"


# --------------------------------------------------------------------------- reading windows

X0, Y0, RES = 500000.0, 4400000.0, 2.0
SHIFT = 40


def _tif(path: Path, data: np.ndarray) -> Path:
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2],
                       count=data.shape[0], dtype="uint16", crs="EPSG:4551", tiled=True,
                       blockxsize=64, blockysize=64, transform=Affine(RES, 0, X0, 0, -RES, Y0)) as dst:
        dst.write(data.astype("uint16"))
    return path


@pytest.fixture
def imagery(tmp_path):
    """300 x 400 px, bands stored red, green, blue; the after date is the before date + 40."""
    rng = np.random.default_rng(5)
    before = rng.integers(100, 1000, size=(3, 300, 400))
    b = _tif(tmp_path / "before.tif", before)
    a = _tif(tmp_path / "after.tif", before + SHIFT)
    config = ImageryConfig(before=(b,), after=(a,), bands={"red": 1, "green": 2, "blue": 3})
    return open_imagery(config, chunk_px=256), before


def _square(col0: float, row0: float, size_px: float) -> shapely.Polygon:
    return shapely.box(X0 + col0 * RES, Y0 - (row0 + size_px) * RES, X0 + (col0 + size_px) * RES, Y0 - row0 * RES)


def test_a_chip_is_the_window_around_the_piece_in_red_green_blue(imagery) -> None:
    img, before = imagery
    chips = ImageryChips(img)
    assert chips.direct
    pair = chips(_square(100, 120, 10), "EPSG:4551")
    h, w = pair.shape
    assert h == w == 10 + 2 * MIN_MARGIN_PX  # a square window with the margin on every side
    ring = pair.rings[0]
    c0 = 100 - ring[:, 0].min()
    r0 = 120 - ring[:, 1].min()
    assert (c0, r0) == (100 - MIN_MARGIN_PX, 120 - MIN_MARGIN_PX)
    assert ring[:, 0].max() - ring[:, 0].min() == pytest.approx(10)  # outline in window pixels
    window = before[:, int(r0):int(r0) + h, int(c0):int(c0) + w]
    np.testing.assert_array_equal(pair.before, window)  # bands red, green, blue as stored
    np.testing.assert_array_equal(pair.after - pair.before, np.full_like(pair.before, SHIFT))
    assert pair.pixel_size == RES


def test_only_the_window_is_read_not_the_chunk(imagery, monkeypatch) -> None:
    img, _ = imagery
    reads = []
    original = imagery_mod._read_tile

    def spy(tile, bands, win):
        reads.append((win.height, win.width))
        return original(tile, bands, win)

    monkeypatch.setattr(imagery_mod, "_read_tile", spy)
    chips = ImageryChips(img)
    chips(_square(100, 120, 10), "EPSG:4551")
    assert reads and all(h * w <= 34 * 34 for h, w in reads)  # not the 256 x 256 chunk


def test_without_the_tile_reader_dask_gives_the_same_chip(imagery) -> None:
    img, _ = imagery
    fast = ImageryChips(img)
    slow = ImageryChips(img)
    slow._sources = (None, None)
    geom = _square(250, 20, 30)
    a, b = fast(geom, "EPSG:4551"), slow(geom, "EPSG:4551")
    np.testing.assert_array_equal(a.before, b.before)
    np.testing.assert_array_equal(a.after, b.after)
    assert array_source(np.zeros(3)) is None


def test_pieces_in_another_crs_off_the_grid_or_empty(imagery) -> None:
    img, _ = imagery
    chips = ImageryChips(img)
    geom = _square(100, 120, 10)
    to_geo = pyproj.Transformer.from_crs(4551, 4490, always_xy=True)
    geographic = shapely.transform(geom, lambda xy: np.column_stack(to_geo.transform(xy[:, 0], xy[:, 1])))
    a, b = chips(geom, "EPSG:4551"), chips(geographic, "EPSG:4490")
    wa, wb = chips.window(geom), chips._to_grid(geographic, "EPSG:4490")
    wb = chips.window(wb)
    assert np.abs(np.subtract(wa, wb)).max() <= 2  # the same window, give or take the rounding
    ra = a.rings[0] + [wa[2], wa[0]]  # back to grid pixels
    rb = b.rings[0] + [wb[2], wb[0]]
    assert np.abs(ra.min(axis=0) - rb.min(axis=0)).max() < 0.01
    assert np.abs(ra.max(axis=0) - rb.max(axis=0)).max() < 0.01
    assert chips(_square(1000, 1000, 10), "EPSG:4551") is None
    assert chips(shapely.Polygon(), "EPSG:4551") is None
    edge = chips(_square(-5, -5, 10), "EPSG:4551")  # half off the grid: clipped, not refused
    assert edge is not None and edge.shape[0] < 10 + 2 * MIN_MARGIN_PX
