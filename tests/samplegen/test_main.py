"""``python -m samplegen`` and where samplegen lives: beside landcheck, never inside it."""
from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest
from click.testing import CliRunner

from pipeline.cli import main as landcheck_main
from samplegen.__main__ import main
from samplegen.layout import COMMITTED_SAMPLE, REPO


def test_module_writes_sample_and_configs(tmp_path, capsys, world):
    out = tmp_path / "tiles"
    assert main([str(out), "--config-dir", str(tmp_path / "configs")]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"samplegen: sample written to {out}") and "planted" in said
    assert (tmp_path / "configs" / "sample.yaml").is_file()
    assert sorted(p.name for p in (out / "imagery" / "before").glob("*.tif")) == sorted(
        p.name for p in (world[0] / "imagery" / "before").glob("*.tif"))
    # the returned verdicts of the current detector, and the config that reads them
    assert "samplegen: returned verdicts written to" in said
    assert sorted(p.name for p in (out / "verdicts").glob("*.zip")) == \
        ["220202.zip", "220203.zip", "220204.zip", "220211.zip"]
    assert (out / "truth" / "verified_ratios.csv").is_file()
    text = (tmp_path / "configs" / "sample.yaml").read_text(encoding="utf-8")
    assert "verdicts:" in text and "key_projects:" in text and "severe_impact:" in text
    assert "## Returned field verdicts" in (out / "README.md").read_text(encoding="utf-8")
    for name in ("verdicts/220202.zip", "verdicts/220211.zip", "truth/verified_ratios.csv"):
        assert (out / name).read_bytes() == (COMMITTED_SAMPLE / name).read_bytes(), name


def test_module_reports_a_missing_county_source_in_one_line(tmp_path, monkeypatch, capsys):
    import samplegen.counties as counties

    monkeypatch.setattr(counties, "SHARED_COUNTIES", tmp_path / "none.gpkg")
    monkeypatch.setattr(counties, "COMMITTED_SAMPLE", tmp_path / "nothing")
    assert main([str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("samplegen: error: ") and "none.gpkg" in err[0]


def test_module_refuses_a_bad_scale(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "out"), "--scale", "0"])
    assert exc.value.code == 2


def test_runs_as_a_module_from_the_repository_root():
    res = subprocess.run([sys.executable, "-m", "samplegen", "--help"], cwd=REPO,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert "OUT_DIR" in res.stdout and "--config-dir" in res.stdout


def test_samplegen_is_not_an_installed_package():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = project["tool"]["setuptools"]["packages"]
    assert "samplegen" not in packages and not any(p.startswith("samplegen") for p in packages)
    assert not (REPO / "pipeline" / "sample.py").exists()


def test_production_code_does_not_import_samplegen():
    for package in ("pipeline", "detection", "overlay", "reports"):
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "import samplegen" not in text and "from samplegen" not in text, path


def test_landcheck_has_no_make_sample_command():
    res = CliRunner().invoke(landcheck_main, ["make-sample", "x"])
    assert res.exit_code == 2 and "No such command" in res.output
