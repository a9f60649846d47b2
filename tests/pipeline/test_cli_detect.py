"""``landcheck detect``: CONFIG or any --before/--after pair -> a folder with change_mask.tif,
patches.gpkg, detection.json and manifest.json.

The detector is replaced by a stub that returns one known square (pixel rows 10-19, columns
30-44 of the grid), so these tests check the command, not the detector being rewritten.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import yaml
from affine import Affine
from rasterio.features import rasterize

from tests.pipeline.cli_helpers import invoke, one_line_error

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

X0, Y0, RES = 500000.0, 4400000.0, 2.0
SQUARE = (slice(10, 20), slice(30, 45))  # rows, cols of the stub's patch: 150 px


@pytest.fixture
def stub(monkeypatch):
    """pipeline.detect.detect_on_imagery -> the SQUARE, with the settings it was called with."""
    calls = []

    def detect_on_imagery(img, detection, *, progress=True):
        calls.append((img, detection))
        t = img.grid.transform
        (r, c) = SQUARE
        x0, y0 = t @ (c.start, r.start)
        x1, y1 = t @ (c.stop, r.stop)
        square = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        patches = gpd.GeoDataFrame({"source_id": ["D000001"], "mean_score": [0.62],
                                    "blue_gain": [0.25]},
                                   geometry=gpd.GeoSeries([square], crs=img.grid.crs), crs=img.grid.crs)
        return patches, {"threshold": 0.31, "threshold_method": "otsu", "pixels_changed": 150,
                         "model": "stub"}

    monkeypatch.setattr("pipeline.detect.detect_on_imagery", detect_on_imagery)
    return calls


def tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(dirpath) / name
            out[str(path.relative_to(root))] = ("dir" if path.is_dir()
                                                else hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def png(path: Path, h: int = 40, w: int = 60, seed: int = 0, bands: int = 3) -> Path:
    data = np.random.default_rng(seed).integers(0, 256, (bands, h, w)).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path, "w", driver="PNG", height=h, width=w, count=bands,
                           dtype="uint8") as dst:
            dst.write(data)
    return path


def geotiff(path: Path, h: int = 40, w: int = 60, *, col: float = 0, row: float = 0,
            nodata=None, bands: int = 4) -> Path:
    data = (1000 + np.random.default_rng(1).integers(0, 500, (bands, h, w))).astype(np.uint16)
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=bands, dtype="uint16",
                       crs="EPSG:4551", nodata=nodata,
                       transform=Affine(RES, 0, X0 + col * RES, 0, -RES, Y0 - row * RES)) as dst:
        dst.write(data)
    return path


def expected_mask(h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), dtype=np.uint8)
    mask[SQUARE] = 1
    return mask


# --------------------------------------------------------------------------- a PNG pair, end to end
def test_png_pair_without_georeference_end_to_end(tmp_path, stub):
    b, a = png(tmp_path / "before.png"), png(tmp_path / "after.png", seed=1)
    out = tmp_path / "result"
    res = invoke("detect", "--before", b, "--after", a, "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines() == [
        f"landcheck: 1 patches, 150 px (threshold 0.31, min area 16 px) -> {out}/ "
        "(change_mask.tif, patches.gpkg, detection.json)"]
    assert sorted(p.name for p in out.iterdir()) == ["change_mask.tif", "detection.json",
                                                     "manifest.json", "patches.gpkg"]
    img, detection = stub[0]
    assert img.band_names == ("blue", "green", "red") and img.grid.crs is None
    assert detection.min_area_m2 == 16  # pixels: no georeference
    with rasterio.open(out / "change_mask.tif") as src:
        assert (src.dtypes[0], src.nodata, src.crs, src.shape) == ("uint8", 255, None, (40, 60))
        assert src.transform.is_identity
        np.testing.assert_array_equal(src.read(1), expected_mask(40, 60))
    patches = gpd.read_file(out / "patches.gpkg", layer="patches")
    assert list(patches.columns) == ["source_id", "mean_score", "area_px", "blue_gain", "geometry"]
    assert patches.area_px.tolist() == [150.0] and patches.mean_score.tolist() == [0.62]
    burnt = rasterize(((g, 1) for g in patches.geometry), out_shape=(40, 60),
                      transform=Affine.identity())
    np.testing.assert_array_equal(burnt, expected_mask(40, 60))
    record = json.loads((out / "detection.json").read_text(encoding="utf-8"))
    assert record["mode"] == "pair" and record["georeferenced"] is False
    assert record["grid"]["units"] == "px" and record["grid"]["crs"] is None
    assert record["bands"]["before"] == {"blue": 3, "green": 2, "red": 1}
    assert record["band_names"] == ["blue", "green", "red"]
    assert record["threshold"] == 0.31 and record["detector"]["model"] == "stub"
    assert record["min_area"] == {"m2": None, "px": 16.0,
                                  "source": "default without georeference: 16 px", "warning": None}
    assert record["patches"] == {"count": 1, "area_px": 150.0}
    assert record["change_mask"]["pixels_change"] == 150
    assert record["change_mask"]["pixels_no_change"] == 40 * 60 - 150
    assert {(i["role"], Path(i["path"]).name) for i in record["inputs"]} == {("before", "before.png"),
                                                                            ("after", "after.png")}
    assert record["inputs"][0]["sha256"] == hashlib.sha256(b.read_bytes()).hexdigest()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["landcheck_manifest"] == 1
    assert sorted(o["path"] for o in manifest["outputs"]) == ["change_mask.tif", "detection.json",
                                                              "patches.gpkg"]
    # the folder is a landcheck output now: a rerun needs --overwrite, then replaces it
    one_line_error(invoke("detect", "--before", b, "--after", a, "--out", out, "--quiet"), 3,
                   "holds an earlier landcheck output; pass --overwrite")
    res = invoke("detect", "--before", b, "--after", a, "--out", out, "--quiet", "--overwrite",
                 "--min-area-px", 9)
    assert res.exit_code == 0, res.output
    assert stub[-1][1].min_area_m2 == 9


# --------------------------------------------------------------------------- a GeoTIFF pair, other origin
def test_geotiff_pair_with_another_origin_is_put_on_the_before_grid(tmp_path, stub):
    b = geotiff(tmp_path / "before.tif")
    a = geotiff(tmp_path / "after.tif", col=3.2, row=-2)
    out = tmp_path / "result"
    res = invoke("detect", "--before", b, "--after", a, "--out", out, "--bands", "bgrn",
                 "--resample", "bilinear", "--quiet")
    assert res.exit_code == 0, res.output
    assert "600 m² (threshold 0.31, min area 64 m² = 16 px)" in res.output
    img, detection = stub[0]
    assert detection.min_area_m2 == 64.0  # max(50 m², 16 px of 4 m²)
    with rasterio.open(b) as src:
        before_grid = (src.transform, src.crs, src.shape)
    with rasterio.open(out / "change_mask.tif") as src:
        assert (src.transform, src.crs, src.shape) == before_grid
        mask = src.read(1)
    expected = expected_mask(40, 60)
    expected[:, :3] = 255  # the after image starts at column 3.2 ...
    expected[38:, :] = 255  # ... and 2 rows higher: no after data there
    np.testing.assert_array_equal(mask, expected)
    record = json.loads((out / "detection.json").read_text(encoding="utf-8"))
    assert record["shift_px"] == [0.2, 0.0]
    assert record["resampling"]["resampled"][0]["method"] == "bilinear"
    assert record["grid"]["units"] == "m" and record["grid"]["pixel_area_m2"] == 4.0
    assert record["patches"] == {"count": 1, "area_m2": 600.0}
    patches = gpd.read_file(out / "patches.gpkg", layer="patches")
    assert patches.crs.to_epsg() == 4551 and patches.area_m2.tolist() == [600.0]
    # without resampling the same pair is refused, naming the option
    one_line_error(invoke("detect", "--before", b, "--after", a, "--out", tmp_path / "o2",
                          "--bands", "bgrn", "--resample", "none", "--quiet"), 3,
                   f"{a}: after image is offset from the before grid by +0.200, +0.000 px",
                   "pass --resample nearest, bilinear or cubic")


# --------------------------------------------------------------------------- CONFIG form
def test_detect_only_config_without_layers_or_output(tmp_path, stub):
    (tmp_path / "img").mkdir()
    geotiff(tmp_path / "img" / "before.tif")
    geotiff(tmp_path / "img" / "after.tif", col=0.2)
    cfg = tmp_path / "detect.yaml"
    cfg.write_text(yaml.safe_dump({
        "imagery": {"before": "img/before.tif", "after": "img/after.tif", "bands": "bgrn",
                    "resample": "nearest"},
        "detection": {"min_area_m2": 100},
    }), encoding="utf-8")
    out = tmp_path / "out"
    res = invoke("detect", cfg, "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    img, detection = stub[0]
    assert detection.min_area_m2 == 100 and img.band_names == ("blue", "green", "red", "nir")
    record = json.loads((out / "detection.json").read_text(encoding="utf-8"))
    assert record["mode"] == "config" and record["resample"] == "nearest"
    assert record["resampling"]["resampled"][0]["offset_px"] == [0.2, 0.0]
    assert record["min_area"]["source"] == "detection.min_area_m2"
    with rasterio.open(out / "change_mask.tif") as src:
        np.testing.assert_array_equal(src.read(1), expected_mask(40, 60))
    # without imagery.resample the 0.2 px offset is refused, naming the key
    cfg.write_text(yaml.safe_dump({"imagery": {"before": "img/before.tif", "after": "img/after.tif",
                                               "bands": "bgrn"}}), encoding="utf-8")
    one_line_error(invoke("detect", cfg, "--out", tmp_path / "o2", "--quiet"), 3,
                   "not pixel-aligned", "set imagery.resample")
    # ... and --resample on the command line overrides it
    res = invoke("detect", cfg, "--out", tmp_path / "o3", "--quiet", "--resample", "cubic")
    assert res.exit_code == 0, res.output
    # a min area under one pixel is warned about, and recorded
    res = invoke("detect", cfg, "--out", tmp_path / "o4", "--quiet", "--resample", "nearest",
                 "--min-area-m2", 1)
    assert res.exit_code == 0, res.output
    assert "warning: minimum area 1 m² (--min-area-m2) is below one pixel (4 m² at 2 m)" in res.output
    record = json.loads((tmp_path / "o4" / "detection.json").read_text(encoding="utf-8"))
    assert record["warnings"] and record["min_area"]["warning"].startswith("minimum area 1 m²")


def test_config_without_imagery_is_refused(tmp_path):
    cfg = tmp_path / "detect.yaml"
    cfg.write_text(yaml.safe_dump({"detection": {"min_area_m2": 100}}), encoding="utf-8")
    one_line_error(invoke("detect", cfg, "--out", tmp_path / "out"), 2,
                   "has no imagery tiles ('imagery.before' / 'imagery.after') to detect from")


def test_settings_config_with_a_pair(tmp_path, stub):
    b, a = png(tmp_path / "before.png"), png(tmp_path / "after.png", seed=1)
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump({"detection": {"min_area_m2": 30, "chunk_px": 64},
                                        "imagery": {"bands": "bgr"}}), encoding="utf-8")
    res = invoke("detect", "--before", b, "--after", a, "--config", settings, "--out",
                 tmp_path / "out", "--quiet")
    assert res.exit_code == 0, res.output
    img, detection = stub[0]
    assert detection.min_area_m2 == 30 and detection.chunk_px == 64  # 30 read as pixels
    record = json.loads((tmp_path / "out" / "detection.json").read_text(encoding="utf-8"))
    assert record["bands"]["before"] == {"blue": 1, "green": 2, "red": 3}
    assert record["min_area"]["source"].endswith("read as pixels (no georeference)")
    settings.write_text(yaml.safe_dump({"imagery": {"before": "x.tif"}}), encoding="utf-8")
    one_line_error(invoke("detect", "--before", b, "--after", a, "--config", settings, "--out",
                          tmp_path / "o2"), 2, "with --before and --after the config supplies "
                                               "detection settings only")


# --------------------------------------------------------------------------- refusals
def test_out_at_the_folder_holding_the_inputs_is_refused_and_inputs_untouched(tmp_path, stub):
    folder = tmp_path / "images"
    folder.mkdir()
    b, a = png(folder / "before.png"), png(folder / "after.png", seed=1)
    before = tree(tmp_path)
    for out in (folder, folder / "before.png", tmp_path):
        res = invoke("detect", "--before", b, "--after", a, "--out", out, "--quiet", "--overwrite")
        one_line_error(res, 3, f"landcheck: error: {out}: ")
    assert tree(tmp_path) == before
    assert stub == []  # refused before any work


def test_old_gpkg_form_is_refused_with_a_hint(tmp_path, stub):
    b, a = png(tmp_path / "before.png"), png(tmp_path / "after.png", seed=1)
    out = tmp_path / "patches.gpkg"
    one_line_error(invoke("detect", "--before", b, "--after", a, "--out", out), 3,
                   f"{out}: --out now names a folder", "out/detect/patches.gpkg")
    assert not out.exists()


@pytest.mark.parametrize("case", ["unreadable", "sizes", "two_bands", "missing", "mixed"])
def test_bad_inputs_are_one_line_exit_3(tmp_path, stub, case):
    b = png(tmp_path / "before.png")
    if case == "unreadable":
        a = tmp_path / "after.png"
        a.write_bytes(b"\x89PNG but not really")
        fragment = "after.png: cannot be read as a raster"
    elif case == "sizes":
        a = png(tmp_path / "after.png", h=41)
        fragment = "after image is 60 x 41 px but before image"
    elif case == "two_bands":
        a = png(tmp_path / "after.png", bands=2)
        fragment = "after.png: after image has 2 band(s): blue, green and red are needed"
    elif case == "missing":
        a = tmp_path / "nope.png"
        fragment = "nope.png: after image not found"
    else:
        a = geotiff(tmp_path / "after.tif", bands=3)
        fragment = "before.png: has no georeference but"
    out = tmp_path / "out"
    one_line_error(invoke("detect", "--before", b, "--after", a, "--out", out, "--quiet"), 3, fragment)
    assert not out.exists() and stub == []


@pytest.mark.parametrize("args, fragment", [
    (["cfg.yaml", "--before", "b.png", "--after", "a.png"], "give either CONFIG or --before and --after"),
    (["--before", "b.png"], "--before and --after go together"),
    ([], "give CONFIG (a YAML config with imagery tiles) or --before and --after"),
    (["--before", "b.png", "--after", "a.png", "--resample", "lanczos"], "--resample must be one of"),
    (["--before", "b.png", "--after", "a.png", "--bands", "rbg"], "'--bands' must be rgb, rgbn"),
    (["--before", "b.png", "--after", "a.png", "--min-area-m2", "50"], "use --min-area-px"),
    (["--before", "b.png", "--after", "a.png", "--min-area-m2", "5", "--min-area-px", "5"], "not both"),
])
def test_usage_mistakes_are_one_line_exit_2(tmp_path, stub, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    png(tmp_path / "b.png"), png(tmp_path / "a.png", seed=1)
    (tmp_path / "cfg.yaml").write_text("detection: {}\n", encoding="utf-8")
    one_line_error(invoke("detect", *args, "--out", tmp_path / "out", "--quiet"), 2, fragment)


def test_rgb_config_reaches_the_detector_with_three_bands(tmp_path, stub):
    (tmp_path / "img").mkdir()
    geotiff(tmp_path / "img" / "before.tif", bands=3)
    geotiff(tmp_path / "img" / "after.tif", bands=3)
    cfg = tmp_path / "detect.yaml"
    cfg.write_text(yaml.safe_dump({"imagery": {"before": "img/before.tif", "after": "img/after.tif",
                                               "bands": "rgb"}}), encoding="utf-8")
    res = invoke("detect", cfg, "--out", tmp_path / "out", "--quiet")
    assert res.exit_code == 0, res.output
    img, detection = stub[0]
    assert img.band_names == ("blue", "green", "red") and img.before.shape[0] == 3
    assert detection.min_area_m2 == 400  # the config default, unchanged
