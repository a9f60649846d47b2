"""Config validation: good configs parse, every mistake is one clear ConfigError."""
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
import yaml

from pipeline.config import load_config, parse_config
from pipeline.errors import ConfigError


@pytest.fixture
def files(tmp_path: Path) -> Path:
    layer = gpd.GeoDataFrame({"XZQDM": ["220202"], "XZQMC": ["昌邑区"]},
                             geometry=[shapely.box(0, 0, 1, 1)], crs=4490)
    (tmp_path / "v").mkdir()
    for name in ("counties", "farmland", "basic", "approved"):
        layer.to_file(tmp_path / "v" / f"{name}.gpkg", layer=name)
    (tmp_path / "img").mkdir()
    for name in ("b1.tif", "b2.tif", "a1.tif"):
        (tmp_path / "img" / name).write_bytes(b"")
    return tmp_path


def base() -> dict:
    return {
        "year": 2025,
        "imagery": {"before": "img/b*.tif", "after": "img/a*.tif", "bands": [1, 2, 3, 4]},
        "layers": {
            "counties": {"path": "v/counties.gpkg", "code_field": "XZQDM", "name_field": "XZQMC"},
            "farmland": {"path": "v/farmland.gpkg", "layer": "farmland"},
            "basic_farmland": {"path": "v/basic.gpkg"},
            "approved": {"path": "v/approved.gpkg"},
        },
        "output": "out",
    }


def write(files: Path, data: dict) -> Path:
    path = files / "run.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_good_config_resolves_relative_paths(files):
    cfg = load_config(write(files, base()))
    assert cfg.year == 2025
    assert [p.name for p in cfg.imagery.before] == ["b1.tif", "b2.tif"]
    assert cfg.imagery.bands == {"blue": 1, "green": 2, "red": 3, "nir": 4}
    assert cfg.farmland.path == files / "v" / "farmland.gpkg" and cfg.farmland.layer == "farmland"
    assert cfg.output == files / "out"
    assert cfg.thresholds.interview == 0.10 and cfg.thresholds.accountability == 0.15
    assert cfg.thresholds.interview_rule == "reaches" == cfg.thresholds.accountability_rule
    assert cfg.detection.min_area_m2 == 400
    assert load_config(write(files, base()), output=files / "elsewhere").output == files / "elsewhere"


def test_bands_as_mapping_and_exceeds_rule(files):
    data = base()
    data["imagery"]["bands"] = {"blue": 3, "green": 2, "red": 1, "nir": 4}
    data["thresholds"] = {"interview": 0.1, "accountability": 0.15, "interview_rule": "exceeds"}
    cfg = load_config(write(files, data))
    assert cfg.imagery.bands["blue"] == 3
    assert cfg.thresholds.interview_rule == "exceeds" and cfg.thresholds.accountability_rule == "reaches"


def test_received_patches_without_imagery(files):
    data = base()
    del data["imagery"]
    data["patches"] = {"path": "v/approved.gpkg", "id_field": "XZQDM"}
    cfg = load_config(write(files, data))
    assert cfg.imagery is None and cfg.patches.id_field == "XZQDM"


def mutate(data, dotted, value):
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return data


@pytest.mark.parametrize("dotted, value, message", [
    ("colour", "red", "unknown key 'colour'"),
    ("thresholds", {"interveiw": 0.1}, "unknown key 'thresholds.interveiw'"),
    ("year", KeyError, "missing required key 'year'"),
    ("year", "2025", "'year' must be an integer"),
    ("year", True, "'year' must be an integer"),
    ("imagery.before", "img/none*.tif", "matches no file"),
    ("imagery.bands", [1, 2, 3], "must list 4 band indexes"),
    ("imagery.bands", [1, 1, 3, 4], "same band twice"),
    ("imagery.bands", [0, 2, 3, 4], "1-based band index"),
    ("layers.farmland.path", "v/nope.gpkg", "file not found"),
    ("layers.approved", KeyError, "missing required key 'layers.approved'"),
    ("thresholds", {"interview": 1.5}, "'thresholds.interview' must be in"),
    ("thresholds", {"interview": 0.2, "accountability": 0.15}, "is below"),
    ("thresholds", {"interview_rule": ">="}, "must be one of reaches, exceeds"),
    ("detection", {"min_area_m2": -1}, "'detection.min_area_m2' must be in"),
    ("detection", {"threshold": "kmeans"}, "must be a number or one of otsu"),
    ("detection", {"chunk_px": 8}, "at least 64"),
    ("imagery", KeyError, "either 'imagery'"),
])
def test_bad_values_are_one_line_errors(files, dotted, value, message):
    path = write(files, mutate(base(), dotted, value))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert message in text
    assert str(path) in text and "\n" not in text


def test_not_yaml_and_missing_file(files):
    bad = files / "bad.yaml"
    bad.write_text("year: [2025\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(files / "missing.yaml")
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_config(["a", "b"], files / "x.yaml")
