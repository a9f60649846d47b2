"""``landcheck train``: labelled pairs and verified runs -> a LightGBM model with its cards.

Everything is tiny and synthetic (seconds): blocky before dates, bright new roofs in the after
date; a "run" output folder (manifest.json, patches.gpkg, GeoTIFF imagery) whose patches come
back with verdicts in an Excel sheet.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pytest
import rasterio
import shapely
import yaml
from affine import Affine
from PIL import Image

from detection.compose import Settings, detect_arrays
from detection.learned import load_model
from detection.training import TrainingSettings
from detection.verdict_labels import (BACKGROUND, EXCLUDED, HARD_NEGATIVE, POSITIVE, VerdictSampling,
                                      kind_raster, sample_rates, verdict_kind)
from pipeline.train import train
from tests.pipeline.cli_helpers import invoke, one_line_error

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

SMALL = TrainingSettings(factors=(1,), n_pos=400, n_neg=800, rounds=15, augment=False,
                         params={**TrainingSettings().params, "min_data_in_leaf": 10, "num_threads": 1})
ROOF = (225.0, 225.0, 220.0)
PX = 2.0  # metres: small feature scales in pixels keep the tests fast


def scene(seed: int, size: int = 96) -> np.ndarray:
    """(3, size, size) RGB: fields of 8 x 8 px with a little noise."""
    rng = np.random.default_rng(seed)
    img = np.repeat(np.repeat(rng.uniform(60, 150, size=(3, size // 8, size // 8)), 8, 1), 8, 2)
    return np.clip(np.rint(img + rng.normal(0, 3, img.shape)), 1, 255).astype(np.float32)


def roofs(seed: int, size: int = 96) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Before, after with two new bright roofs, and their label."""
    rng = np.random.default_rng(seed + 100)
    before = scene(seed, size)
    after = before + rng.normal(0, 2, before.shape).astype(np.float32)
    label = np.zeros((size, size), dtype=bool)
    for _ in range(2):
        r, c = (int(v) for v in rng.integers(8, size - 24, size=2))
        label[r:r + 14, c:c + 12] = True
    after[:, label] = np.array(ROOF, dtype=np.float32)[:, None]
    return before, np.clip(after, 1, 255), label


def write_pairs(folder: Path, seeds: list[int], size: int = 96) -> Path:
    for sub in ("A", "B", "label"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for s in seeds:
        before, after, label = roofs(s, size)
        Image.fromarray(before.transpose(1, 2, 0).astype(np.uint8)).save(folder / "A" / f"p{s}.png")
        Image.fromarray(after.transpose(1, 2, 0).astype(np.uint8)).save(folder / "B" / f"p{s}.png")
        Image.fromarray((label * 255).astype(np.uint8)).save(folder / "label" / f"p{s}.png")
    return folder


def scores(model: Path, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The learned score of an RGB pair (arrays in red, green, blue order)."""
    nan = np.full((1,) + before.shape[1:], np.nan, dtype=np.float32)
    res = detect_arrays(np.concatenate([before[::-1], nan]), np.concatenate([after[::-1], nan]),
                        pixel_size_m=PX, settings=Settings(model=str(model), min_area_m2=0.0,
                                                            correct_shift=False))
    return res.score


# ------------------------------------------------------------------------- pure labels
def test_verdict_kinds_and_raster():
    assert verdict_kind("illegal") == verdict_kind("legal") == POSITIVE
    assert verdict_kind("false_change") == HARD_NEGATIVE
    for code in ("facility_agriculture", "temporary_use", "other", None):
        assert verdict_kind(code) == EXCLUDED
    geoms = [shapely.box(2, 2, 6, 6), shapely.box(10, 10, 14, 13), shapely.box(4, 4, 8, 8)]
    k = kind_raster(geoms, [POSITIVE, HARD_NEGATIVE, HARD_NEGATIVE], (20, 20), Affine.identity(), margin_px=1)
    assert k[3, 3] == POSITIVE and k[11, 11] == HARD_NEGATIVE and k[18, 18] == BACKGROUND
    assert k[5, 5] == EXCLUDED  # covered by a positive and a hard negative
    assert k[9, 11] == EXCLUDED and k[1, 3] == EXCLUDED  # the margin ring
    rates = sample_rates({POSITIVE: 100, HARD_NEGATIVE: 0, BACKGROUND: 10_000},
                         VerdictSampling(n_pos=50, n_background=100))
    assert rates == {POSITIVE: 0.5, HARD_NEGATIVE: 0.0, BACKGROUND: 0.01}


# ------------------------------------------------------------------------- labelled pairs
def test_train_from_pairs_learns_the_labelled_change(tmp_path):
    pairs = write_pairs(tmp_path / "pairs", [1, 2])
    out = tmp_path / "models" / "mine.txt"
    res = invoke("train", "--pairs", pairs, "--pixel-size", PX, "--out", out, "--rounds", 20, "--quiet")
    assert res.exit_code == 0, res.output
    assert out.is_file() and out.with_suffix(".json").is_file() and out.with_suffix(".md").is_file()
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["base_model"] is None and card["pixels"]["positive"] > 0 and card["pixels"]["negative"] > 0
    src = card["sources"][0]
    assert src["kind"] == "pairs" and src["pixel_size_m"] == PX and len(src["pairs"]) == 2
    a_file = src["pairs"][0]["files"][0]
    assert a_file["sha256"] == hashlib.sha256(Path(a_file["path"]).read_bytes()).hexdigest()
    assert card["landcheck_version"] and card["trained_at"] and card["command"].startswith("landcheck train")
    assert "landcheck train" in out.with_suffix(".md").read_text()
    before, after, label = roofs(7)  # held out
    s = scores(out, before, after)
    assert s[label].mean() > s[~label].mean() + 0.3


def test_trained_model_runs_in_detect(tmp_path):
    out = tmp_path / "mine.txt"
    train(out, pairs=[write_pairs(tmp_path / "pairs", [1, 2])], pixel_size_m=PX, settings=SMALL,
          log=lambda m: None)
    before, after, label = roofs(9)
    for name, arr in (("a.png", before), ("b.png", after)):
        Image.fromarray(arr.transpose(1, 2, 0).astype(np.uint8)).save(tmp_path / name)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"detection": {"model": "mine.txt"}}))
    res = invoke("detect", "--before", tmp_path / "a.png", "--after", tmp_path / "b.png", "--config", cfg,
                 "--out", tmp_path / "d1", "--quiet")
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "d1" / "detection.json").read_text())
    assert rec["stats"]["model"]["path"] == str(out) and rec["stats"]["model"]["kind"] == "lightgbm"
    res = invoke("detect", "--before", tmp_path / "a.png", "--after", tmp_path / "b.png", "--model", out,
                 "--out", tmp_path / "d2", "--quiet")
    assert res.exit_code == 0, res.output


def test_bad_pair_folders_are_one_line_errors(tmp_path):
    pairs = write_pairs(tmp_path / "pairs", [1])
    out = tmp_path / "m.txt"
    one_line_error(invoke("train", "--pairs", pairs, "--out", out), 2, "--pixel-size")
    one_line_error(invoke("train", "--out", out), 2, "--pairs", "--from-run")
    nolabel = tmp_path / "nolabel"
    (nolabel / "A").mkdir(parents=True)
    (nolabel / "B").mkdir()
    one_line_error(invoke("train", "--pairs", nolabel, "--pixel-size", PX, "--out", out), 3,
                   str(nolabel), "label/")
    Image.fromarray(np.zeros((50, 60, 3), dtype=np.uint8)).save(pairs / "B" / "p1.png")
    one_line_error(invoke("train", "--pairs", pairs, "--pixel-size", PX, "--out", out), 3,
                   "p1.png", "differ in size")
    one_line_error(invoke("train", "--pairs", tmp_path / "none", "--pixel-size", PX, "--out", out), 3,
                   "none", "not found")
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_output_is_guarded(tmp_path):
    pairs = write_pairs(tmp_path / "pairs", [1, 2])
    out = tmp_path / "m.txt"
    train(out, pairs=[pairs], pixel_size_m=PX, settings=SMALL, log=lambda m: None)
    first = out.read_bytes()
    one_line_error(invoke("train", "--pairs", pairs, "--pixel-size", PX, "--out", out), 3,
                   "already exists", "--overwrite")
    one_line_error(invoke("train", "--pairs", pairs, "--pixel-size", PX, "--base", out, "--out", out,
                          "--overwrite"), 3, "input")
    one_line_error(invoke("train", "--pairs", pairs, "--pixel-size", PX, "--out", pairs / "A" / "m.txt"), 3,
                   "inside an input")
    foreign = tmp_path / "notes.txt"
    foreign.write_text("my notes")
    one_line_error(invoke("train", "--pairs", pairs, "--pixel-size", PX, "--out", foreign, "--overwrite"), 3,
                   "not a landcheck model")
    assert foreign.read_text() == "my notes" and not foreign.with_suffix(".json").exists()
    one_line_error(invoke("train", "--pairs", pairs, "--pixel-size", PX, "--out", tmp_path / "m.bin"), 2, ".txt")
    train(out, pairs=[pairs], pixel_size_m=PX, settings=replace(SMALL, rounds=3), overwrite=True,
          log=lambda m: None)
    assert out.read_bytes() != first
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


# ------------------------------------------------------------------------- verified runs
CRS = "EPSG:4547"
X0, Y0, RES = 500000.0, 3500000.0, PX
FALSE = (slice(20, 36), slice(24, 44))   # 伪变化: a bright thing that is not a building
BUILT = (slice(60, 74), slice(64, 80))   # 违法: a red roof
UNVERIFIED = (slice(90, 100), slice(20, 30))


def _poly(rows: slice, cols: slice):
    return shapely.box(X0 + cols.start * RES, Y0 - rows.stop * RES, X0 + cols.stop * RES, Y0 - rows.start * RES)


def make_run(tmp_path: Path, size: int = 128, tag: str = "001") -> tuple[Path, Path, tuple[np.ndarray, np.ndarray]]:
    """A run output folder (manifest, patches.gpkg) over GeoTIFF imagery, and a verdict sheet;
    its patches are F<tag> (伪变化), B<tag> (违法) and U<tag> (no verdict)."""
    tmp_path = tmp_path / tag
    tmp_path.mkdir()
    before = scene(42, size)
    after = before + np.random.default_rng(5).normal(0, 2, before.shape).astype(np.float32)
    after[:, FALSE[0], FALSE[1]] = np.array(ROOF, dtype=np.float32)[:, None, None]
    after[:, BUILT[0], BUILT[1]] = np.array([190.0, 80.0, 70.0], dtype=np.float32)[:, None, None]
    after[:, UNVERIFIED[0], UNVERIFIED[1]] = np.array(ROOF, dtype=np.float32)[:, None, None]
    after = np.clip(after, 1, 255)
    data = tmp_path / "data"
    data.mkdir()
    profile = dict(driver="GTiff", height=size, width=size, count=3, dtype="uint8", crs=CRS,
                   transform=Affine(RES, 0, X0, 0, -RES, Y0))
    for name, arr in (("before.tif", before), ("after.tif", after)):
        with rasterio.open(data / name, "w", **profile) as dst:
            dst.write(arr.astype(np.uint8))
    raw = {"year": 2025, "output": "out", "imagery": {"before": "data/before.tif", "after": "data/after.tif",
                                                      "bands": "rgb"},
           "layers": {"counties": {"path": "data/counties.gpkg"}}}
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    run = tmp_path / "out"
    run.mkdir()
    pieces = gpd.GeoDataFrame(
        {"patch_id": [f"F{tag}", f"B{tag}", f"U{tag}"], "source_id": ["D1", "D2", "D3"],
         "county_code": ["220202"] * 3, "farmland_m2": [80.0, 56.0, 25.0], "legal_farmland_m2": [0.0] * 3,
         "illegal_farmland_m2": [80.0, 56.0, 25.0]},
        geometry=[_poly(*FALSE), _poly(*BUILT), _poly(*UNVERIFIED)], crs=CRS).to_crs("EPSG:4490")
    pieces.to_file(run / "patches.gpkg", layer="patches", driver="GPKG", engine="pyogrio")

    def sha(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()
    manifest = {"landcheck_manifest": 1, "config_file": str(cfg), "config": {"raw": raw},
                "inputs": [{"role": "config", "path": str(cfg), "sha256": sha(cfg)},
                           {"role": "imagery.before", "path": str(data / "before.tif"), "sha256": sha(data / "before.tif")},
                           {"role": "imagery.after", "path": str(data / "after.tif"), "sha256": sha(data / "after.tif")}],
                "outputs": [{"role": "patches", "path": "patches.gpkg", "sha256": sha(run / "patches.gpkg")}]}
    (run / "manifest.json").write_text(json.dumps(manifest))
    sheet = tmp_path / "returned.xlsx"
    write_sheet(sheet, [(f"F{tag}", "伪变化"), (f"B{tag}", "违法")])
    return run, sheet, (before, after)


def write_sheet(path: Path, rows: list[tuple[str, str]]) -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["JCBH", "PDLX"])
    for row in rows:
        ws.append(list(row))
    book.save(path)
    return path


def test_train_from_a_run_learns_its_false_changes(tmp_path):
    base = tmp_path / "base.txt"
    train(base, pairs=[write_pairs(tmp_path / "pairs", [1, 2, 3])], pixel_size_m=PX, settings=SMALL,
          log=lambda m: None)
    run, sheet, (before, after) = make_run(tmp_path)
    out = tmp_path / "province.txt"
    train(out, runs=[run], verdicts=[sheet], base=base, settings=replace(SMALL, rounds=30), log=lambda m: None)
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["base_model"]["sha256"] == hashlib.sha256(base.read_bytes()).hexdigest()
    src = card["sources"][0]
    assert src["kind"] == "run" and src["verdicts"][0]["sha256"] == hashlib.sha256(sheet.read_bytes()).hexdigest()
    assert {i["role"] for i in src["imagery"]} == {"imagery.before", "imagery.after"}
    assert src["verdict_counts"] == {"false_change": 1, "illegal": 1, "none": 1}
    px = card["pixels"]
    assert px["positive"] > 0 and px["hard_negative"] > 0 and px["background"] > 0
    load_model.cache_clear()
    s_base = scores(base, before, after)
    s_new = scores(out, before, after)
    assert s_base[FALSE].mean() > 0.5  # the base model took it for a new roof
    assert s_new[FALSE].mean() < s_base[FALSE].mean() - 0.2
    assert s_new[BUILT].mean() > s_new[FALSE].mean()


def test_bad_run_inputs_are_one_line_errors(tmp_path):
    run, sheet, _ = make_run(tmp_path)
    out = tmp_path / "m.txt"
    bad = write_sheet(tmp_path / "bad.xlsx", [("F001", "伪变化"), ("NOPE42", "违法")])
    one_line_error(invoke("train", "--from-run", run, "--verdicts", bad, "--out", out, "--quiet"), 3,
                   "bad.xlsx", "NOPE42")
    one_line_error(invoke("train", "--from-run", run.parent / "data", "--verdicts", sheet, "--out", out), 3,
                   "no manifest.json")
    one_line_error(invoke("train", "--verdicts", sheet, "--pairs", tmp_path, "--pixel-size", PX, "--out", out),
                   2, "--verdicts go with --from-run")
    one_line_error(invoke("train", "--from-run", run, "--verdicts", sheet, "--out", run / "m.txt"), 3,
                   "inside an input")
    with rasterio.open(run.parent / "data" / "after.tif", "r+") as dst:  # imagery changed since the run
        dst.write(np.zeros((3, 4, 4), dtype=np.uint8), window=rasterio.windows.Window(0, 0, 4, 4))
    one_line_error(invoke("train", "--from-run", run, "--verdicts", sheet, "--out", out, "--quiet"), 3,
                   "after.tif", "changed since the run")
    assert not out.exists()


def test_verdicts_of_several_runs_go_to_the_run_holding_their_jcbh(tmp_path):
    from pipeline.errors import InputFileError
    from pipeline.train import read_runs

    run1, _, _ = make_run(tmp_path, tag="001")
    run2, _, _ = make_run(tmp_path, tag="002")
    sheet = write_sheet(tmp_path / "both.xlsx", [("F001", "伪变化"), ("B002", "违法"), ("F002", "伪变化")])
    got = read_runs([run1, run2], [sheet], log=lambda m: None)
    assert [g.record["verdict_counts"] for g in got] == [{"false_change": 1, "none": 2},
                                                         {"false_change": 1, "illegal": 1, "none": 1}]
    bad = write_sheet(tmp_path / "bad.xlsx", [("F001", "伪变化"), ("X999", "违法")])
    with pytest.raises(InputFileError, match="row 3: JCBH X999: no patch of the runs given"):
        read_runs([run1, run2], [bad], log=lambda m: None)
