"""detect_patches end to end on tiny GeoTIFF worlds whose answer is known by construction.

The world: 128 x 176 px at 2 m in EPSG:4551, 16 x 16 px fields of crop / soil / grass / built-up / water
(spectra of the sample world, field variation +-150, noise sigma 40), cut into two tiles per
date that overlap by 6 columns (cols 0-65 and 60-175). The after date is
``before * gain + offset`` with per-band gain/offset and optionally seasonal crop <-> soil swaps
and planted concrete blocks.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

from pipeline.config import DetectionConfig, ImageryConfig
from pipeline.detect import COLUMNS, detect_patches
from pipeline.errors import BadRasterError

CRS = "EPSG:4551"
RES = 2.0
X0, Y0 = 500000.0, 4400000.0
H, W = 128, 176
TILE_COLS = ((0, 66), (60, 176))
BANDS = {"blue": 1, "green": 2, "red": 3, "nir": 4}
SPECTRA = {
    "crop": (300, 600, 400, 3500),
    "soil": (900, 1200, 1500, 2000),
    "grass": (250, 500, 300, 3000),
    "water": (600, 500, 300, 150),
    "built": (1500, 1550, 1600, 1800),
    "concrete": (2800, 2900, 3000, 3100),
    "steel": (3000, 2400, 1800, 2000),
}
GAIN = np.array([1.05, 1.06, 1.07, 1.04])
OFFSET = np.array([80.0, 120.0, 60.0, 100.0])
# a 10 x 12 px block straddling the chunk border (row/col 64 for chunk_px 64) and both tile borders
BLOCK = (slice(58, 68), slice(58, 70))


def field_classes(seed: int = 0) -> np.ndarray:
    """Fields of 16 x 16 px, land cover drawn at random (mostly farmland)."""
    rng = np.random.default_rng(seed)
    names = np.array(["crop", "soil", "grass", "built", "water"])
    fields = rng.choice(names, size=(H // 16, W // 16), p=[0.45, 0.25, 0.15, 0.1, 0.05])
    return np.repeat(np.repeat(fields, 16, axis=0), 16, axis=1).astype("<U10")


def render(classes: np.ndarray, seed: int, variation: np.ndarray) -> np.ndarray:
    """(4, H, W) float DN for a class map, with per-field variation and pixel noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((4,) + classes.shape)
    for name, spec in SPECTRA.items():
        sel = classes == name
        img[:, sel] = np.asarray(spec, dtype=float)[:, None]
    return np.maximum(img + variation + rng.normal(0, 40, img.shape), 1.0)  # 0 is nodata


def field_variation(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.uniform(-150, 150, size=(4, H // 16, W // 16))
    return np.repeat(np.repeat(v, 16, axis=1), 16, axis=2)


def write_tiles(folder: Path, name: str, img: np.ndarray, nodata: float | None = None,
                crs: str = CRS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = np.clip(np.rint(img), 0, 65535).astype(np.uint16)
    paths = []
    for k, (c0, c1) in enumerate(TILE_COLS):
        path = folder / f"{name}_{k}.tif"
        with rasterio.open(path, "w", driver="GTiff", height=H, width=c1 - c0, count=4,
                           dtype="uint16", crs=crs, nodata=nodata,
                           transform=Affine(RES, 0, X0 + RES * c0, 0, -RES, Y0)) as dst:
            dst.write(data[:, :, c0:c1])
        paths.append(path)
    return paths


def write_mask(path: Path, mask: np.ndarray, res: float = RES, x0: float = X0, y0: float = Y0) -> Path:
    with rasterio.open(path, "w", driver="GTiff", height=mask.shape[0], width=mask.shape[1],
                       count=1, dtype="uint8", crs=CRS,
                       transform=Affine(res, 0, x0, 0, -res, y0)) as dst:
        dst.write(mask.astype(np.uint8)[None])
    return path


def make_pair(tmp: Path, *, seasonal: bool = False, blocks: tuple = (), gain=GAIN, offset=OFFSET,
              edit_after=None, seed: int = 0):
    """Write a before/after pair; returns the ImageryConfig."""
    classes = field_classes(seed)
    var = field_variation(seed + 1)
    before = render(classes, seed + 2, var)
    after_classes = classes.copy()
    if seasonal:
        after_classes[classes == "crop"] = "soil"
        after_classes[classes == "soil"] = "crop"
    for where, material in blocks:
        after_classes[where] = material
    after = render(after_classes, seed + 3, var)
    after = after * np.asarray(gain)[:, None, None] + np.asarray(offset)[:, None, None]
    if edit_after is not None:
        edit_after(after)
    b = write_tiles(tmp / "before", "b", before)
    a = write_tiles(tmp / "after", "a", after)
    return ImageryConfig(before=tuple(b), after=tuple(a), bands=BANDS)


def detect(cfg: ImageryConfig, **kw):
    """The pipeline with the spectral score (the tests below were written for its units:
    blue-reflectance scores, the 0.08 floor, gains/offsets); the learned default is tested at
    the end of this file."""
    kw = {"method": "spectral", "threshold": "otsu", **kw}
    return detect_patches(cfg, DetectionConfig(**kw), progress=False)


# --------------------------------------------------------------------------- planted blocks
@pytest.mark.parametrize("chunk_px", [64, 1024])
def test_planted_block_is_one_polygon_of_exact_area(tmp_path, chunk_px):
    cfg = make_pair(tmp_path, blocks=[(BLOCK, "concrete")])
    patches, stats = detect(cfg, chunk_px=chunk_px)
    assert list(patches.columns) == COLUMNS
    assert len(patches) == 1
    geom = patches.geometry.iloc[0]
    assert patches.crs.to_epsg() == 4551
    assert geom.area == pytest.approx(480.0, abs=1e-6)
    expected = shapely.box(X0 + 58 * RES, Y0 - 68 * RES, X0 + 70 * RES, Y0 - 58 * RES)
    assert shapely.equals(geom, expected)
    assert patches.source_id.iloc[0] == "D000001"
    assert 0.15 < patches.mean_score.iloc[0] < 0.35  # blue gained ~0.25 reflectance on crop/soil
    assert stats["pixels_changed"] == 120
    assert stats["polygons_before_min_area"] == stats["polygons_after_min_area"] == 1
    assert stats["n_chunks"] == (6 if chunk_px == 64 else 1)  # rows (64, 64), cols (64, 64, 48)
    json.dumps(stats)  # goes into the run manifest as is


def test_result_is_identical_for_any_chunking(tmp_path):
    blocks = [
        (BLOCK, "concrete"),
        ((slice(5, 20), slice(100, 120)), "steel"),
        ((slice(70, 90), slice(10, 22)), "concrete"),
        ((slice(30, 50), slice(125, 150)), "steel"),
    ]
    cfg = make_pair(tmp_path, blocks=blocks, seasonal=True)
    runs = [detect(cfg, chunk_px=c) for c in (64, 80, 1024)]
    ref, ref_stats = runs[0]
    assert len(ref) == 4
    assert list(ref.source_id) == ["D000001", "D000002", "D000003", "D000004"]
    # raster order of the first pixel: row 5, row 30, row 58, row 70
    firsts = [(Y0 - g.bounds[3]) / RES for g in ref.geometry]
    assert firsts == [5, 30, 58, 70]
    for patches, stats in runs[1:]:
        assert list(patches.source_id) == list(ref.source_id)
        assert list(patches.mean_score) == list(ref.mean_score)  # exact, not approx
        assert all(shapely.equals_exact(a, b, 0.0) for a, b in zip(patches.geometry, ref.geometry))
        for key in ("threshold", "gains", "offsets", "pixels_valid", "pixels_changed"):
            assert stats[key] == ref_stats[key]


def test_min_area_filter_drops_small_block_and_reports_it(tmp_path):
    small = (slice(10, 18), slice(100, 110))  # 8 x 10 px = 320 m2 < 400
    cfg = make_pair(tmp_path, blocks=[(BLOCK, "concrete"), (small, "steel")])
    patches, stats = detect(cfg, min_area_m2=400.0, chunk_px=64)
    assert len(patches) == 1 and patches.geometry.iloc[0].area == pytest.approx(480.0)
    assert patches.source_id.iloc[0] == "D000001"  # ids count kept polygons only
    assert stats["polygons_before_min_area"] == 2
    assert stats["polygons_after_min_area"] == 1
    assert stats["polygons_dropped"] == 1
    assert stats["area_dropped_m2"] == pytest.approx(320.0)
    patches, stats = detect(cfg, min_area_m2=300.0, chunk_px=64)
    assert len(patches) == 2 and stats["area_dropped_m2"] == 0
    # auto at 2 m pixels: max(50 m², 16 px) = 64 m², so the 320 m² block is kept
    patches, stats = detect(cfg, min_area_m2="auto", chunk_px=64)
    assert len(patches) == 2 and stats["min_area_m2"] == 64.0 and stats["min_area_rule"] == "auto"


# --------------------------------------------------------------------------- what must NOT be found
def test_seasonal_crop_soil_swap_finds_nothing(tmp_path):
    cfg = make_pair(tmp_path, seasonal=True)
    patches, stats = detect(cfg, chunk_px=64)
    assert len(patches) == 0
    assert stats["pixels_changed"] == 0
    assert list(patches.columns) == COLUMNS


def test_gain_offset_only_finds_nothing_and_is_estimated(tmp_path):
    cfg = make_pair(tmp_path)
    patches, stats = detect(cfg, chunk_px=64)
    assert len(patches) == 0
    gains = np.array([stats["gains"][b] for b in ("blue", "green", "red", "nir")])
    offsets = np.array([stats["offsets"][b] for b in ("blue", "green", "red", "nir")])
    np.testing.assert_allclose(gains, GAIN, atol=0.02)
    np.testing.assert_allclose(offsets, OFFSET, atol=40)


def test_identical_pair_finds_nothing(tmp_path):
    cfg = make_pair(tmp_path, gain=[1, 1, 1, 1], offset=[0, 0, 0, 0])
    same = ImageryConfig(before=cfg.before, after=cfg.before, bands=BANDS)
    patches, stats = detect(same, chunk_px=64)
    assert len(patches) == 0
    assert stats["threshold"] == pytest.approx(0.08)  # the floor
    assert stats["pixels_valid"] == H * W


def test_real_no_change_pair_finds_nothing(shared_data):
    folder = shared_data / "no_change_pair"
    before, after = folder / "rgbn_20160101.tif", folder / "rgbn_20170203.tif"
    if not before.is_file() or not after.is_file():
        pytest.skip("no_change_pair not present")
    cfg = ImageryConfig(before=(before,), after=(after,),
                        bands={"blue": 3, "green": 2, "red": 1, "nir": 4})
    patches, stats = detect(cfg, chunk_px=128)
    assert len(patches) == 0
    assert stats["pixels_changed"] == 0
    assert stats["reflectance_scale"] == 255.0


def test_construction_under_cloud_is_not_detected(tmp_path):
    cloud_block = (slice(10, 25), slice(100, 118))
    cfg = make_pair(tmp_path, blocks=[(BLOCK, "concrete"), (cloud_block, "concrete")])
    # a 4 m mask offset by half a grid pixel: every grid pixel it touches is cloud
    mask = np.zeros((H // 2, W // 2), dtype=np.uint8)
    mask[5:12, 50:59] = 1  # mask pixels -> grid rows 10..24(+1), cols 100..117(+1)
    mpath = write_mask(tmp_path / "cloud_after.tif", mask, res=4.0, x0=X0 + 1.0, y0=Y0 - 1.0)
    cfg = ImageryConfig(before=cfg.before, after=cfg.after, bands=BANDS, after_cloud_masks=(mpath,))
    patches, stats = detect(cfg, chunk_px=64)
    assert len(patches) == 1
    assert shapely.equals(patches.geometry.iloc[0],
                          shapely.box(X0 + 58 * RES, Y0 - 68 * RES, X0 + 70 * RES, Y0 - 58 * RES))
    # mask rows 5..11 -> y from Y0-1-20 to Y0-1-48 -> grid rows 10..24 (covering 10.5..24.5)
    assert stats["pixels_cloud"] == 15 * 19
    assert stats["pixels_valid"] == H * W - 15 * 19


def test_construction_on_nodata_is_not_detected(tmp_path):
    nodata_block = (slice(10, 25), slice(100, 118))  # only in tile 1 (cols 60-159)

    def punch(after):
        after[:, 10:25, 100:118] = 0

    cfg = make_pair(tmp_path, blocks=[(nodata_block, "concrete")], edit_after=punch)
    for path in cfg.after:  # 0 is nodata only where the file says so
        with rasterio.open(path, "r+") as dst:
            dst.nodata = 0
    patches, stats = detect(cfg, chunk_px=64)
    assert len(patches) == 0
    assert stats["pixels_nodata"] == 15 * 18


def test_bad_band_index_is_reported_before_work(tmp_path):
    cfg = make_pair(tmp_path)
    bad = ImageryConfig(before=cfg.before, after=cfg.after, bands={**BANDS, "nir": 5})
    with pytest.raises(BadRasterError, match="b_0.tif"):
        detect(bad)


def test_fixed_threshold_is_used_as_is(tmp_path):
    cfg = make_pair(tmp_path, blocks=[(BLOCK, "concrete")])
    patches, stats = detect(cfg, threshold=0.5, chunk_px=64)
    assert stats["threshold"] == 0.5 and stats["threshold_method"] == "fixed"
    assert len(patches) == 0  # concrete on crop gains ~0.25: below a fixed 0.5


def test_fully_clouded_after_date_finds_nothing_without_crashing(tmp_path):
    cfg = make_pair(tmp_path, blocks=[(BLOCK, "concrete")])
    mpath = write_mask(tmp_path / "all_cloud.tif", np.ones((H, W), dtype=np.uint8))
    cfg = ImageryConfig(before=cfg.before, after=cfg.after, bands=BANDS, after_cloud_masks=(mpath,))
    patches, stats = detect(cfg, chunk_px=64)
    assert len(patches) == 0
    assert stats["pixels_valid"] == 0 and stats["pixels_cloud"] == H * W
    assert stats["threshold"] == 0.08


# --------------------------------------------------------------------------- the learned default
def detect_learned(cfg: ImageryConfig, **kw):
    return detect_patches(cfg, DetectionConfig(**kw), progress=False)


def test_default_is_learned_and_stats_say_so(tmp_path):
    assert DetectionConfig().method == "learned"
    cfg = make_pair(tmp_path, blocks=[(BLOCK, "concrete")])
    patches, stats = detect_learned(cfg, chunk_px=64)
    assert stats["method"] == "learned"
    assert stats["model_id"].startswith("construction_lgbm@")
    assert stats["shift"]["applied_px"] == [0, 0]
    assert 0 < stats["threshold"] < 1 and stats["threshold_high"] >= stats["threshold"]
    assert stats["score_depth_px"] > 0
    json.dumps(stats)
    assert list(patches.columns) == COLUMNS


def test_learned_planted_block_found_identically_for_any_chunking(tmp_path):
    cfg = make_pair(tmp_path, blocks=[(BLOCK, "concrete")], seasonal=True)
    runs = [detect_learned(cfg, chunk_px=c) for c in (64, 80, 1024)]
    ref, ref_stats = runs[0]
    block = shapely.box(X0 + 58 * RES, Y0 - 68 * RES, X0 + 70 * RES, Y0 - 58 * RES)
    assert len(ref) >= 1
    hit = ref[ref.intersects(block)]
    assert len(hit) == 1 and hit.geometry.iloc[0].intersection(block).area >= 0.6 * block.area
    for patches, stats in runs[1:]:
        assert list(patches.source_id) == list(ref.source_id)
        assert list(patches.mean_score) == list(ref.mean_score)
        assert all(shapely.equals_exact(a, b, 0.0) for a, b in zip(patches.geometry, ref.geometry))
        assert stats["threshold"] == ref_stats["threshold"]


def test_learned_identical_pair_finds_nothing(tmp_path):
    cfg = make_pair(tmp_path, gain=[1, 1, 1, 1], offset=[0, 0, 0, 0])
    same = ImageryConfig(before=cfg.before, after=cfg.before, bands=BANDS)
    patches, stats = detect_learned(same, chunk_px=64)
    assert len(patches) == 0


def test_learned_real_no_change_pair_finds_nothing(shared_data):
    folder = shared_data / "no_change_pair"
    before, after = folder / "rgbn_20160101.tif", folder / "rgbn_20170203.tif"
    if not before.is_file() or not after.is_file():
        pytest.skip("no_change_pair not present")
    cfg = ImageryConfig(before=(before,), after=(after,),
                        bands={"blue": 3, "green": 2, "red": 1, "nir": 4})
    patches, stats = detect_learned(cfg, chunk_px=128)
    assert len(patches) == 0


# --------------------------------------------------------------------------- one pass over the pixels
@pytest.fixture
def read_log(monkeypatch):
    """Every window the imagery reader is asked for: (date folder, rows, cols) -> times read."""
    import collections

    import pipeline.imagery as imagery

    log: collections.Counter = collections.Counter()
    original = imagery._DateReader.__getitem__

    def counted(self, key):
        date = Path(self.tiles[0].path).parent.name if self.tiles else "?"
        log[(date, key[1].start, key[1].stop, key[2].start, key[2].stop)] += 1
        return original(self, key)

    monkeypatch.setattr(imagery._DateReader, "__getitem__", counted)
    return log


def _pixels(log, date: str) -> int:
    return sum((k[2] - k[1]) * (k[4] - k[3]) * n for k, n in log.items() if k[0] == date)


def _object_windows(log) -> list:
    """The windows read by the object test: of the after date only, once each."""
    before = {k[1:] for k in log if k[0] == "before"}
    return [k for k, n in log.items() if k[0] == "after" and n == 1 and k[1:] not in before]


@pytest.mark.parametrize("threshold", ["otsu", 0.1])
def test_imagery_is_read_in_full_once_after_the_sample(tmp_path, read_log, threshold):
    # 128 x 176 px: the statistics lattice has stride 1 here, so it reads every chunk once; the
    # threshold and the detection then share a single read (before: three reads of each chunk)
    cfg = make_pair(tmp_path, blocks=[(BLOCK, "concrete")], seasonal=True)
    patches, stats = detect(cfg, chunk_px=64, threshold=threshold)
    assert len(patches) == 1
    # the object test reads one small window of the after date per kept patch, around it
    objects = _object_windows(read_log)
    assert len(objects) == len(patches) == stats["polygons_kept"]
    for key in objects:
        del read_log[key]
    for date in ("before", "after"):
        assert _pixels(read_log, date) == 2 * H * W
    assert set(read_log.values()) == {2}  # every chunk window: the lattice, then the one pass
    assert stats["normalisation_sample"] == "lattice stride 1"
    assert stats["normalisation_sample_stride"] == 1
    assert stats["threshold_sample"] == ("whole image" if threshold == "otsu" else None)
    if threshold == "otsu":
        assert stats["threshold_sample_pixels"] == stats["pixels_valid"]


def test_windowed_threshold_reads_only_the_windows(tmp_path, read_log, monkeypatch):
    import detection.compose as compose
    import pipeline.detect as detect_stage

    monkeypatch.setattr(detect_stage, "EXACT_THRESHOLD_MAX_PIXELS", 0)  # the large-image rule
    monkeypatch.setattr(compose, "THRESHOLD_WINDOW_PX", 32)
    monkeypatch.setattr(compose, "THRESHOLD_WINDOWS_PER_SIDE", 2)
    cfg = make_pair(tmp_path, blocks=[(BLOCK, "concrete")], seasonal=True)
    patches, stats = detect(cfg, chunk_px=64)
    assert stats["threshold_sample"] == f"4 windows, {4 * 32 * 32} pixels"
    assert stats["threshold_sample_pixels"] == 4 * 32 * 32
    for key in _object_windows(read_log):
        del read_log[key]
    for date in ("before", "after"):  # lattice + the one pass + 4 windows of 32 x 32 (depth 0)
        assert _pixels(read_log, date) == 2 * H * W + 4 * 32 * 32
    windows = [k for k in read_log if (k[2] - k[1], k[4] - k[3]) == (32, 32)]
    assert len(windows) == 8 and all(read_log[k] == 1 for k in windows)


@pytest.mark.parametrize("method", ["spectral", "learned"])
def test_windowed_threshold_equals_whole_image_threshold_when_the_window_is_the_image(
        tmp_path, monkeypatch, method):
    import pipeline.detect as detect_stage

    cfg = make_pair(tmp_path, blocks=[(BLOCK, "concrete"), ((slice(5, 20), slice(100, 120)), "steel")],
                    seasonal=True)
    kw = {"method": method, "chunk_px": 64}
    if method == "learned":
        kw["threshold"] = "auto"
    exact, exact_stats = detect(cfg, **kw)
    monkeypatch.setattr(detect_stage, "EXACT_THRESHOLD_MAX_PIXELS", 0)
    windowed, stats = detect(cfg, **kw)  # one 256 px window, clipped: the whole 128 x 176 grid
    assert exact_stats["threshold_sample"] == "whole image"
    assert stats["threshold_sample"] == f"1 windows, {exact_stats['pixels_valid']} pixels"
    assert stats["otsu_threshold"] == exact_stats["otsu_threshold"]
    assert stats["threshold"] == exact_stats["threshold"]
    assert list(windowed.mean_score) == list(exact.mean_score)
    assert all(shapely.equals_exact(a, b, 0.0) for a, b in zip(windowed.geometry, exact.geometry))


# --------------------------------------------------------------------------- statistics sample of a large image
def test_large_image_statistics_sample_reads_only_its_windows(tmp_path, read_log, monkeypatch):
    import pipeline.detect as detect_stage

    monkeypatch.setattr(detect_stage, "SAMPLE_LATTICE_MAX_PIXELS", 0)  # the large-image rule
    # at most 32 px: the lattice's 128 x 176 px (stride 1) as 5 x 5 windows of 30 px, of which
    # 4 x 5 fit the grid
    monkeypatch.setattr(detect_stage, "SAMPLE_WINDOW_PX", 32)
    monkeypatch.setattr(detect_stage, "SAMPLE_MIN_WINDOW_PIXELS", 1000)
    cfg = make_pair(tmp_path, blocks=[(BLOCK, "concrete")], seasonal=True)
    patches, stats = detect(cfg, chunk_px=64)
    assert len(patches) == 1  # the block, found with the windows' statistics
    assert stats["normalisation_sample"] == "20 windows of 30 x 30 px"
    assert stats["normalisation_sample_pixels"] == 20 * 30 * 30 and stats["normalisation_sample_stride"] is None
    for key in _object_windows(read_log):
        del read_log[key]
    windows = [k for k in read_log if (k[2] - k[1], k[4] - k[3]) == (30, 30)]
    assert len(windows) == 2 * 20 and all(read_log[k] == 1 for k in windows)
    for date in ("before", "after"):  # the windows, then every chunk once (the one pass)
        assert _pixels(read_log, date) == H * W + 20 * 30 * 30
    assert set(read_log.values()) == {1}


@pytest.mark.parametrize("method", ["spectral", "learned"])
def test_one_statistics_window_covering_the_grid_gives_the_lattice_result(tmp_path, monkeypatch, method):
    import pipeline.detect as detect_stage

    cfg = make_pair(tmp_path, blocks=[(BLOCK, "concrete"), ((slice(5, 20), slice(100, 120)), "steel")],
                    seasonal=True)
    kw = {"method": method, "chunk_px": 64, **({"threshold": "auto"} if method == "learned" else {})}
    lattice, lattice_stats = detect(cfg, **kw)  # stride 1 on this grid: every pixel, row-major
    monkeypatch.setattr(detect_stage, "SAMPLE_LATTICE_MAX_PIXELS", 0)
    monkeypatch.setattr(detect_stage, "sample_windows", lambda shape: [(slice(0, H), slice(0, W))])
    monkeypatch.setattr(detect_stage, "SAMPLE_MIN_WINDOW_PIXELS", 1)
    windowed, stats = detect(cfg, **kw)
    assert lattice_stats["normalisation_sample"] == "lattice stride 1"
    assert stats["normalisation_sample"] == f"1 windows of {H} x {W} px"
    assert stats["normalisation_sample_pixels"] == lattice_stats["normalisation_sample_pixels"]
    assert stats["scene"] == lattice_stats["scene"] and stats["shift"] == lattice_stats["shift"]
    assert stats["threshold"] == lattice_stats["threshold"]
    assert list(windowed.mean_score) == list(lattice.mean_score)
    assert all(shapely.equals_exact(a, b, 0.0) for a, b in zip(windowed.geometry, lattice.geometry))


def test_sample_windows_hold_about_the_lattice_pixels_in_few_windows():
    from pipeline.detect import SAMPLE_WINDOW_PX, sample_windows

    for shape, n in [((2700, 4800), 16), ((10000, 10000), 16), ((100_000, 100_000), 16), ((40_000, 200), 15)]:
        wins = sample_windows(shape)
        stride = max(1, int(np.ceil(np.sqrt(shape[0] * shape[1] / 250_000))))
        lattice = -(-shape[0] // stride) * -(-shape[1] // stride)
        sizes = {(r.stop - r.start, c.stop - c.start) for r, c in wins}
        assert len(wins) == n and len(sizes) == 1
        (h, w), = sizes
        assert h == w <= SAMPLE_WINDOW_PX and 0.9 * lattice <= n * h * w <= lattice
        assert all(r.stop <= shape[0] and c.stop <= shape[1] for r, c in wins)


def test_statistics_windows_with_too_few_valid_pixels_fall_back_to_the_lattice(tmp_path, monkeypatch):
    import pipeline.detect as detect_stage

    cfg = make_pair(tmp_path, blocks=[(BLOCK, "concrete")], seasonal=True)
    lattice, lattice_stats = detect(cfg, chunk_px=64)
    monkeypatch.setattr(detect_stage, "SAMPLE_LATTICE_MAX_PIXELS", 0)
    monkeypatch.setattr(detect_stage, "SAMPLE_WINDOW_PX", 16)
    monkeypatch.setattr(detect_stage, "SAMPLE_MIN_WINDOW_PIXELS", H * W + 1)  # never enough
    patches, stats = detect(cfg, chunk_px=64)
    assert stats["normalisation_sample"].startswith("lattice stride 1 (the ")
    assert stats["scene"] == lattice_stats["scene"] and stats["threshold"] == lattice_stats["threshold"]
    assert len(patches) == len(lattice) == 1


@pytest.mark.parametrize("block_px, held", [(256, 256), (16, 3)])
def test_after_window_reader_reads_the_shifted_window(tmp_path, monkeypatch, block_px, held):
    import pipeline.detect as detect_stage
    from pipeline.detect import after_window_reader
    from pipeline.imagery import open_imagery

    # windows cut from blocks: one block for the whole image, or small blocks of which only
    # 3 are kept, so windows cross blocks and blocks are dropped and read again
    monkeypatch.setattr(detect_stage, "AFTER_BLOCK_PX", block_px)
    monkeypatch.setattr(detect_stage, "AFTER_BLOCKS_HELD", held)
    cfg = make_pair(tmp_path, blocks=[(BLOCK, "concrete")])
    img = open_imagery(cfg, 64)
    whole = img.after[:3].compute()  # (3, H, W)
    read = after_window_reader(img, (2, -3))  # out[y, x] = after[y - 2, x + 3]
    for r0, r1, c0, c1 in [(0, 10, 0, 12), (50, 80, 40, 90), (120, 128, 170, 176), (5, 5, 3, 9)]:
        out = read(r0, r1, c0, c1)
        assert out.shape == (3, r1 - r0, c1 - c0)
        for y in range(r0, r1):
            for x in range(c0, c1):
                sy, sx = y - 2, x + 3
                inside = 0 <= sy < whole.shape[1] and 0 <= sx < whole.shape[2]
                got = out[:, y - r0, x - c0]
                if inside:
                    np.testing.assert_array_equal(got, whole[:, sy, sx])
                else:
                    assert np.isnan(got).all()
    assert np.isnan(read(0, 10, 0, 12)[:, :2]).all()  # shifted down by 2 rows: NaN above the grid
