"""patches.gpkg and landcheck.qgz of a sample run, opened and rendered in the real client: QGIS.

PyQGIS imports only in the system Python (Debian's python3-qgis), so ``qgis_probe.py`` runs
there in a subprocess and reports what QGIS saw as JSON; these tests assert on it. Without
QGIS they are skipped (``make clients`` installs it); under CI=true they fail instead.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.gis_project import VRT_NAMES, layer_id, mosaic_bands, shared_stretch
from pipeline.run import run_pipeline
from reports.geopackage import COUNTY_ALIASES_ZH, PATCH_ALIASES_ZH
from reports.gpkg_schema import GPKG_APPLICATION_ID, GPKG_USER_VERSION
from reports.qgis_style import PATCH_LABEL_MAX_SCALE, patch_rules
from tests.reports.clients import qgis_env, qgis_python

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("qgis_probe.py")
PARTIAL = "may only be partially supported"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample run (detected patches, imagery, returned verdicts) and what QGIS made of it."""
    python = qgis_python()  # skip (or fail under CI) before the run when QGIS is missing
    tmp = tmp_path_factory.mktemp("qgis")
    config = load_config(REPO / "configs" / "sample.yaml", output=tmp / "out")
    result = run_pipeline(config, progress=False, log=lambda _m: None)
    probe_dir = tmp / "probe"
    probe_dir.mkdir()
    proc = subprocess.run([str(python), str(PROBE), str(result.output / "patches.gpkg"),
                           str(result.output / "landcheck.qgz"), str(probe_dir)],
                          capture_output=True, text=True, env=qgis_env(probe_dir), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("LANDCHECK-JSON "))
    seen = json.loads(line.removeprefix("LANDCHECK-JSON "))
    if os.environ.get("LANDCHECK_QGIS_SCREENSHOT"):  # docs/images: refresh the README's screenshots
        shutil.copy(probe_dir / "project.png", os.environ["LANDCHECK_QGIS_SCREENSHOT"])
        shutil.copy(probe_dir / "layout_page1.png",
                    Path(os.environ["LANDCHECK_QGIS_SCREENSHOT"]).with_name("qgis_layout.png"))
    return config, result, seen, proc.stderr, probe_dir


def _expected(piece: dict, rules: list) -> object:
    for rule in rules:
        if all(piece.get(col) == value for col, value in rule.conditions):
            return rule
    raise AssertionError(f"no rule for {piece}")


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def test_gpkg_is_a_geopackage_1_2_gdal_opens_without_warning(sample):
    _config, result, _seen, stderr, _ = sample
    gpkg = result.output / "patches.gpkg"
    with sqlite3.connect(gpkg) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == GPKG_APPLICATION_ID
        assert db.execute("PRAGMA user_version").fetchone()[0] == GPKG_USER_VERSION
    db.close()
    # QGIS's GDAL (Debian's) opened it several times in the probe: never a version warning for it
    assert not [x for x in stderr.splitlines() if PARTIAL in x and "patches.gpkg" in x]
    ogrinfo = shutil.which("ogrinfo")
    if ogrinfo:  # the same GDAL's command line, when installed
        proc = subprocess.run([ogrinfo, "-so", "-al", str(gpkg)], capture_output=True, text=True)
        assert proc.returncode == 0 and PARTIAL not in proc.stderr and "Warning" not in proc.stderr


def test_qgis_applies_the_embedded_styles_and_aliases(sample):
    _config, result, seen, _stderr, _ = sample
    patches, counties = seen["gpkg"]["patches"], seen["gpkg"]["county_ratios"]
    assert patches["valid"] and counties["valid"]
    assert patches["crs"] == counties["crs"] == "EPSG:4551"
    assert patches["features"] == len(result.pieces) and counties["features"] == 4
    assert patches["renderer"] == "RuleRenderer"
    rules = patch_rules(result.pieces.columns)
    assert [r["label"] for r in patches["rules"]] == [r.label for r in rules]
    assert [r["colour"] for r in patches["rules"]] == [r.colour for r in rules]
    assert patches["labels"] and patches["label_field"] == "patch_id"
    assert patches["label_scale"][0] and patches["label_scale"][1] == PATCH_LABEL_MAX_SCALE
    aliases = {k: v for k, v in patches["aliases"].items() if k != "fid"}
    assert aliases == {k: PATCH_ALIASES_ZH[k] for k in aliases}
    assert aliases["patch_id"] == "监测图斑编号" and aliases["status"] == "套合结果"
    assert counties["renderer"] == "singleSymbol" and counties["labels"]
    assert "county_name" in counties["label_field"] and "ratio_pct" in counties["label_field"]
    assert {k: v for k, v in counties["aliases"].items() if k != "fid"} == {
        k: COUNTY_ALIASES_ZH[k] for k in counties["aliases"] if k != "fid"}


def test_rendered_gpkg_shows_each_patch_in_its_class_colour(sample):
    _config, result, seen, _stderr, probe_dir = sample
    rules = patch_rules(result.pieces.columns)
    pixels = seen["gpkg"]["pixels"]
    assert len(pixels) == len(result.pieces)
    for px in pixels:
        rule = _expected(px, rules)
        colour = _rgb(rule.colour)
        a = rule.fill_alpha / 255
        fill = tuple(round(c * a + 255 * (1 - a)) for c in colour)  # the fill over the white background
        got = tuple(px["rgb"])
        assert (max(abs(g - f) for g, f in zip(got, fill)) <= 12
                or max(abs(g - c) for g, c in zip(got, colour)) <= 12), (px, rule.label, fill)
    assert (probe_dir / "gpkg_patches.png").stat().st_size > 1000


def test_project_loads_every_layer_valid_with_true_colour_imagery(sample):
    config, result, seen, _stderr, probe_dir = sample
    project = seen["project"]
    assert project["read"] and project["crs"] == "EPSG:4551"
    layers = {entry["id"]: entry for entry in project["layers"]}
    assert set(layers) == {layer_id(k) for k in ("patches", "county_ratios", "approved", "basic_farmland",
                                                 "farmland", "imagery_after", "imagery_before")}
    assert all(entry["valid"] for entry in layers.values()), [e for e in layers.values() if not e["valid"]]
    out = result.output
    assert layers[layer_id("patches")]["source"] == f"{out / 'patches.gpkg'}|layername=patches"
    assert layers[layer_id("patches")]["renderer"] == "RuleRenderer"
    assert layers[layer_id("patches")]["features"] == len(result.pieces)
    county = layers[layer_id("county_ratios")]
    assert county["renderer"] == "singleSymbol" and county["labels"]
    assert set(county["styles"]) == {"县界轮廓", "按处理等级填充"}
    assert layers[layer_id("farmland")]["source"].startswith(str(config.farmland.path))
    for when in ("before", "after"):
        raster = layers[layer_id(f"imagery_{when}")]
        assert raster["source"] == str(out / VRT_NAMES[when])
        assert raster["renderer"] == "multibandcolor" and raster["bands"] == [1, 2, 3]
        assert [n.split(": ")[1] for n in raster["band_names"]] == ["red", "green", "blue", "nir"]
    # one stretch for both dates, the one computed from every tile
    before, after = layers[layer_id("imagery_before")], layers[layer_id("imagery_after")]
    assert before["limits"] == after["limits"]
    bands = mosaic_bands(config.imagery.bands)
    expected = shared_stretch(config.imagery.before, config.imagery.after, [b.source for b in bands[:3]])
    assert [v for pair in before["limits"] for v in pair] == pytest.approx([v for pair in expected for v in pair])
    # the default view shows the imagery, the styled patches and their JCBH labels
    assert project["view_scale"] < PATCH_LABEL_MAX_SCALE
    assert len(project["pixels"]) >= len(result.pieces) * 0.8
    assert (probe_dir / "project.png").stat().st_size > 100_000


def test_project_has_an_a3_atlas_layout_per_county(sample):
    _config, result, seen, _stderr, probe_dir = sample
    (layout,) = seen["project"]["layouts"]
    assert layout["page"] == [420.0, 297.0]
    assert layout["items"] == {"map": 1, "legend": 1, "scalebar": 1, "picture": 1, "label": 3}
    assert layout["atlas_enabled"] and layout["atlas_coverage"] == layer_id("county_ratios")
    assert layout["atlas_count"] == len(result.ratios)
    assert layout["map_atlas_driven"] == [True] and layout["scalebar_linked"] == [True]
    assert layout["north_arrow"] == [":/images/north_arrows/layout_default_north_arrow.svg"]
    first = sorted(result.ratios["county_code"].astype(str))[0]
    name = result.ratios.set_index(result.ratios["county_code"].astype(str)).loc[first, "county_name"]
    text = "\n".join(layout["labels"])
    assert f"{name}2025年度土地卫片执法检查" in text and f"行政区代码 {first}" in text
    assert "前时相：2024-10-15" in text and "后时相：2025-10-12" in text
    assert layout["export"] and (probe_dir / "layout_page1.png").stat().st_size > 10_000
