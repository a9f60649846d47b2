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


@pytest.mark.parametrize("detection, expected", [
    ({}, 512),  # the learned default: smaller chunks, its features are large
    ({"method": "spectral"}, 1024),
    ({"chunk_px": 2048}, 2048),
    ({"method": "spectral", "chunk_px": 256}, 256),
])
def test_chunk_side_defaults_by_method_unless_set(files, detection, expected):
    from pipeline.config import with_model

    data = base()
    data["detection"] = detection
    det = load_config(write(files, data)).detection
    assert det.chunk_px == expected
    # another method (``landcheck detect --model``): a default side follows it, a set one stays
    other = with_model(det, None, "spectral" if det.method == "learned" else "learned")
    assert other.chunk_px == (expected if "chunk_px" in detection else {512: 1024, 1024: 512}[expected])


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
    ("imagery.bands", [1, 2], "must list 3 or 4 band indexes"),
    ("imagery.bands", "rgbx", "must be rgb, rgbn, bgr, bgrn"),
    ("imagery.bands", {"blue": 1, "green": 2}, "has no red band"),
    ("imagery.resample", "lanczos", "'imagery.resample' must be one of none, nearest, bilinear, cubic"),
    ("imagery.bands", [1, 1, 3, 4], "same band twice"),
    ("imagery.bands", [0, 2, 3, 4], "1-based band index"),
    ("layers.farmland.path", "v/nope.gpkg", "file not found"),
    ("layers.approved", KeyError, "missing required key 'layers.approved'"),
    ("thresholds", {"interview": 1.5}, "'thresholds.interview' must be in"),
    ("thresholds", {"interview": 0.2, "accountability": 0.15}, "is below"),
    ("thresholds", {"interview_rule": ">="}, "must be one of reaches, exceeds"),
    ("detection", {"min_area_m2": -1}, "'detection.min_area_m2' must be in"),
    ("detection", {"min_area_m2": "small"}, "'detection.min_area_m2' must be a number (m²) or auto"),
    ("detection", {"threshold": "kmeans"}, "must be a number or one of auto, otsu"),
    ("detection", {"method": "cnn"}, "'detection.method' must be one of learned, spectral"),
    ("detection", {"model": "nowhere.txt"}, "'detection.model' file not found"),
    ("detection", {"method": "spectral", "model": "nowhere.txt"}, "only used with method 'learned'"),
    ("detection", {"chunk_px": 8}, "at least 64"),
    ("detection", {"min_segment_coverage": 1.5}, "'detection.min_segment_coverage' must be in [0.0, 1.0]"),
    ("detection", {"min_segment_coverage": "yes"}, "'detection.min_segment_coverage' must be"),
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


# ---------------------------------------------------------------- hostile configs (issue 5)
def write_text(files: Path, text: str) -> Path:
    path = files / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def base_yaml() -> str:
    return yaml.safe_dump(base(), allow_unicode=True)


def test_duplicate_key_is_refused_not_last_wins(files):
    text = base_yaml() + "year: 2026\n"
    with pytest.raises(ConfigError, match=r"key 'year' is given twice \(lines \d+ and \d+\)"):
        load_config(write_text(files, text))


def test_duplicate_key_in_a_nested_mapping_is_refused(files):
    text = base_yaml().replace("thresholds", "x") + "thresholds:\n  interview: 0.1\n  interview: 0.2\n"
    with pytest.raises(ConfigError, match="key 'interview' is given twice"):
        load_config(write_text(files, text))


def test_python_tag_is_refused_for_safety(files):
    text = base_yaml().replace("year: 2025", 'year: !!python/object/apply:os.getpid []')
    with pytest.raises(ConfigError, match=r"refused for safety \(line \d+\)"):
        load_config(write_text(files, text))


def test_type_errors_name_yaml_kinds_not_python_classes(files):
    data = base()
    data["imagery"]["bands"] = 5
    with pytest.raises(ConfigError) as err:
        load_config(write(files, data))
    message = str(err.value)
    assert "'imagery.bands' must be a string or a mapping or a list, got 5" in message
    assert "<class" not in message


@pytest.mark.parametrize("value", ["2025-13-45", "2025-02-30", "12/10/2025", "2025-1-5"])
def test_invalid_date_is_refused(files, value):
    data = base()
    data["imagery"]["after_date"] = value
    with pytest.raises(ConfigError, match=r"'imagery.after_date' must be .*YYYY-MM-DD") as err:
        load_config(write(files, data))
    assert "datetime" not in str(err.value)


def test_unquoted_yaml_date_is_accepted_as_iso_text(files):
    text = base_yaml().replace("  bands:", "  before_date: 2024-10-15\n  after_date: 2025-10-12\n  bands:")
    cfg = load_config(write_text(files, text))
    assert (cfg.imagery.before_date, cfg.imagery.after_date) == ("2024-10-15", "2025-10-12")


def test_date_of_wrong_type_reads_plainly(files):
    data = base()
    data["imagery"]["before_date"] = 20241015
    with pytest.raises(ConfigError, match="must be a string or a date .*got 20241015$"):
        load_config(write(files, data))


def test_before_date_must_precede_after_date(files):
    data = base()
    data["imagery"].update(before_date="2025-10-12", after_date="2024-10-15")
    with pytest.raises(ConfigError, match="must be earlier than"):
        load_config(write(files, data))


def test_patches_and_imagery_tiles_together_are_refused(files):
    data = base()
    data["patches"] = {"path": "v/farmland.gpkg"}
    with pytest.raises(ConfigError, match="both 'patches' and imagery tiles .* remove one"):
        load_config(write(files, data))


def test_patches_with_imagery_dates_only_are_accepted(files):
    data = base()
    data["patches"] = {"path": "v/farmland.gpkg"}
    data["imagery"] = {"before_date": "2024-10-15", "after_date": "2025-10-12"}
    cfg = load_config(write(files, data))
    assert cfg.patches is not None
    assert cfg.imagery.before == () and cfg.imagery.after_date == "2025-10-12"


def test_config_path_that_is_a_folder(files):
    with pytest.raises(ConfigError, match="is a folder, not a config file"):
        load_config(files)


def test_min_area_auto(files):
    """``detection.min_area_m2: auto``: one small house but at least 16 pixels, resolved per grid."""
    from detection.compose import resolve_min_area

    data = base()
    data["detection"] = {"min_area_m2": "auto"}
    cfg = load_config(write(files, data))
    assert cfg.detection.min_area_m2 == "auto"
    assert resolve_min_area(cfg.detection.min_area_m2, 0.5) == 50.0
    assert resolve_min_area(cfg.detection.min_area_m2, 2.0) == 64.0
    assert resolve_min_area(cfg.detection.min_area_m2, 5.0) == 400.0



def test_min_segment_coverage_default_and_off(files):
    from detection.objects import MIN_SEGMENT_COVERAGE

    assert load_config(write(files, base())).detection.min_segment_coverage == MIN_SEGMENT_COVERAGE
    off = load_config(write(files, mutate(base(), "detection", {"min_segment_coverage": 0})))
    assert off.detection.min_segment_coverage == 0.0
