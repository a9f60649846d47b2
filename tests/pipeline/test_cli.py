"""Bad input: one line naming the file and the problem, non-zero exit, nothing written."""
from pathlib import Path

import pytest
import yaml

from tests.pipeline.cli_helpers import invoke

REPO = Path(__file__).resolve().parents[2]


PATH_KEYS = {"path", "before", "after", "before_cloud_masks", "after_cloud_masks", "output"}


def absolute_paths(node, base: Path):
    """The sample config with every relative path made absolute, so it can live in tmp_path."""
    if isinstance(node, dict):
        return {k: (str(base / v) if k in PATH_KEYS and isinstance(v, str) else absolute_paths(v, base))
                for k, v in node.items()}
    return node


@pytest.fixture
def make_config(tmp_path):
    def make(**changes) -> Path:
        data = yaml.safe_load((REPO / "configs" / "sample_truth.yaml").read_text(encoding="utf-8"))
        data = absolute_paths(data, REPO / "configs")
        data.update(changes)
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path
    return make


def assert_one_line_error(res, *fragments):
    assert res.exit_code != 0
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert lines[0].startswith("landcheck: error: ")
    assert "Traceback" not in res.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_config_file(tmp_path):
    res = invoke("run", tmp_path / "nope.yaml", "--out", tmp_path / "o")
    assert_one_line_error(res, "nope.yaml", "config file not found")
    assert not (tmp_path / "o").exists()


def test_unknown_key(make_config, tmp_path):
    cfg = make_config(colour="red")
    res = invoke("run", cfg, "--out", tmp_path / "o")
    assert_one_line_error(res, str(cfg), "unknown key 'colour'")
    assert res.exit_code == 2
    assert not (tmp_path / "o").exists()


def test_corrupt_layer_file_names_the_file(make_config, tmp_path):
    broken = tmp_path / "broken.gpkg"
    broken.write_bytes(b"not a geopackage")
    cfg = make_config()
    data = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    data["layers"]["farmland"] = {"path": str(broken)}
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    res = invoke("run", cfg, "--out", tmp_path / "o", "--quiet")
    assert_one_line_error(res, str(broken), "cannot open farmland layer")
    assert not (tmp_path / "o").exists()
    assert not list(tmp_path.glob(".o.partial*"))


def test_failure_while_writing_leaves_previous_output_untouched(make_config, tmp_path, monkeypatch):
    out = tmp_path / "o"
    assert invoke("run", make_config(), "--out", out, "--quiet").exit_code == 0  # a real previous output
    previous = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    import reports

    def boom(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(reports, "write_excel_report", boom)
    res = invoke("run", make_config(), "--out", out, "--quiet")
    assert res.exit_code != 0
    assert "landcheck output" not in res.output  # it failed while writing, not at the output check
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == previous
    assert not list(tmp_path.glob(".o.partial*"))


def test_validate_accepts_the_sample():
    res = invoke("validate", REPO / "configs" / "sample.yaml")
    assert res.exit_code == 0, res.output
    assert "is valid" in res.output
