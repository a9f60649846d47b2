"""Config keys of the decisive figures: key_projects, severe_impact, previous_run, verdicts.on_problem."""
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.errors import ConfigError
from tests.pipeline.test_config import base, files, write  # noqa: F401  (fixture)


def config(files: Path, **extra):
    return load_config(write(files, {**base(), **extra}))


def error(files: Path, **extra) -> str:
    with pytest.raises(ConfigError) as info:
        config(files, **extra)
    return str(info.value).removeprefix(f"{files / 'run.yaml'}: ")


def test_defaults(files):
    cfg = config(files)
    assert cfg.key_projects is None and cfg.severe_impact == () and cfg.previous_run is None


def test_key_projects_by_jcbh_and_layer(files):
    cfg = config(files, key_projects={"jcbh": ["220202202554601485703", 220204202554601485703],
                                      "layer": "v/approved.gpkg"})
    assert cfg.key_projects.jcbh == ("220202202554601485703", "220204202554601485703")
    assert cfg.key_projects.layer.path == files / "v" / "approved.gpkg"
    cfg = config(files, key_projects={"layer": {"path": "v/approved.gpkg", "layer": "approved"}})
    assert cfg.key_projects.jcbh == () and cfg.key_projects.layer.layer == "approved"
    assert cfg.to_dict()["key_projects"]["layer"]["path"] == str(files / "v" / "approved.gpkg")


@pytest.mark.parametrize("value, message", [
    ({}, "'key_projects' needs 'jcbh' (a list of monitoring numbers) or 'layer' (a polygon layer of key projects)"),
    ({"jcbh": "T1"}, "'key_projects.jcbh' must be a list, got 'T1'"),
    ({"jcbh": ["T1", "T1"]}, "'key_projects.jcbh' lists T1 twice"),
    ({"jcbh": [1.5]}, "'key_projects.jcbh[0]' must be a monitoring number (JCBH) (text), got 1.5"),
    ({"jcbh": [" "]}, "'key_projects.jcbh[0]' is empty"),
    ({"layer": "v/nothing.gpkg"}, "'key_projects.layer.path' file not found: {files}/v/nothing.gpkg"),
    ({"jcbh": ["T1"], "area": 3}, "unknown key 'key_projects.area' (allowed: jcbh, layer)"),
])
def test_key_projects_errors(files, value, message):
    assert error(files, key_projects=value) == message.format(files=files)


def test_severe_impact(files):
    cfg = config(files, severe_impact=[{"county_code": 220202, "reason": " 群众反映强烈 "},
                                       {"county_code": "220204", "reason": "媒体曝光"}])
    assert [(e.county_code, e.reason) for e in cfg.severe_impact] == [("220202", "群众反映强烈"),
                                                                        ("220204", "媒体曝光")]


@pytest.mark.parametrize("value, message", [
    ({"county_code": "220202", "reason": "x"}, "'severe_impact' must be a list, got a mapping"),
    (["220202"], "'severe_impact[0]' must be a mapping with 'county_code' and 'reason', got '220202'"),
    ([{"county_code": "2202", "reason": "x"}], "'severe_impact[0].county_code' must be a 6-digit county code, "
                                               "got '2202'"),
    ([{"county_code": "220202"}], "missing required key 'severe_impact[0].reason'"),
    ([{"county_code": "220202", "reason": "  "}], "'severe_impact[0].reason' is empty: say what the severe "
                                                  "impact is"),
    ([{"county_code": "220202", "reason": "a"}, {"county_code": "220202", "reason": "b"}],
     "'severe_impact[1].county_code' 220202 is listed twice"),
    ([{"county_code": "220202", "reason": "a", "level": "x"}],
     "unknown key 'severe_impact[0].level' (allowed: county_code, reason)"),
])
def test_severe_impact_errors(files, value, message):
    assert error(files, severe_impact=value) == message


def test_previous_run(files):
    (files / "last").mkdir()
    assert config(files, previous_run="last").previous_run == files / "last"
    assert error(files, previous_run="gone") == f"'previous_run' folder not found: {files / 'gone'}"
    assert error(files, previous_run="v/counties.gpkg") == \
        f"'previous_run' {files / 'v' / 'counties.gpkg'} is not a folder: give last year's output folder"
    assert error(files, previous_run=3) == "'previous_run' must be a string, got 3"


def test_verdicts_on_problem(files):
    (files / "back.xlsx").write_bytes(b"")
    cfg = config(files, verdicts={"files": ["back.xlsx"]})
    assert cfg.verdicts.on_problem == "report"
    assert config(files, verdicts={"files": ["back.xlsx"], "on_problem": "refuse"}).verdicts.on_problem == "refuse"
    assert error(files, verdicts={"files": ["back.xlsx"], "on_problem": "ignore"}) == \
        "'verdicts.on_problem' must be one of report, refuse, got 'ignore'"


def test_verdict_globs_resolve_against_the_config_folder(files, monkeypatch, tmp_path):
    (files / "back").mkdir()
    (files / "back" / "220202.xlsx").write_bytes(b"")
    monkeypatch.chdir(files.parent)  # a relative config path, as `landcheck run configs/x.yaml`
    cfg = load_config(Path(files.name) / write(files, {**base(), "verdicts": {"files": "back/*.xlsx"}}).name)
    assert [f.path for f in cfg.verdicts.files] == [files / "back" / "220202.xlsx"]  # absolute
