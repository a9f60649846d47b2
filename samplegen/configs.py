"""The two run configs that point at a generated sample: detect from the imagery, or use the
planted (truth) patches."""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from samplegen.frame import DATES, YEAR
from samplegen.layout import (APPROVED_FILE, BASIC_FILE, COUNTIES_FILE, FARMLAND_FILE,
                              IMAGERY_DIRS, TRUTH_FILE)
from samplegen.spectra import BAND_NAMES
from samplegen.verdicts import KEY_PROJECTS_FILE, SEVERE_IMPACT, VERDICTS_DIR

__all__ = ["write_sample_configs"]


def write_sample_configs(sample_dir: Path, config_dir: Path) -> None:
    """Write ``sample.yaml`` (detect from imagery) and ``sample_truth.yaml`` (truth patches).

    When the sample has returned verdicts (``verdicts/``, :mod:`samplegen.verdicts`),
    ``sample.yaml`` also gets ``verdicts``, ``key_projects`` and ``severe_impact``.

    Parameters
    ----------
    sample_dir : Path
        A folder written by :func:`samplegen.make_sample`.
    config_dir : Path
        Where the two configs go (created if needed). Paths inside them are relative to it, and
        the output goes to ``<config_dir>/../out/sample`` and ``.../out/sample_truth``.
    """
    config_dir = Path(config_dir)
    config_dir.mkdir(parents=True, exist_ok=True)

    def rel(path: Path) -> str:
        return Path(os.path.relpath(Path(path).resolve(), config_dir.resolve())).as_posix()

    sample_dir = Path(sample_dir)
    imagery = {
        "before": rel(sample_dir / IMAGERY_DIRS["before"]) + "/*.tif",
        "after": rel(sample_dir / IMAGERY_DIRS["after"]) + "/*.tif",
        "bands": {name: i for i, name in enumerate(BAND_NAMES, start=1)},
        "after_cloud_masks": rel(sample_dir / IMAGERY_DIRS["cloud"]) + "/*.tif",
        "before_date": DATES["before"],
        "after_date": DATES["after"],
    }
    layers = {
        "counties": {"path": rel(sample_dir / COUNTIES_FILE), "layer": "counties",
                     "code_field": "XZQDM", "name_field": "XZQMC"},
        "farmland": {"path": rel(sample_dir / FARMLAND_FILE), "layer": "farmland"},
        "basic_farmland": {"path": rel(sample_dir / BASIC_FILE)},
        "approved": {"path": rel(sample_dir / APPROVED_FILE), "layer": "approved"},
    }
    common = {"detection": {"min_area_m2": 400},
              "thresholds": {"interview": 0.10, "accountability": 0.15,
                             "interview_rule": "reaches", "accountability_rule": "reaches"}}
    out = config_dir.parent / "out"
    detect = {"year": YEAR, "imagery": imagery, "layers": layers, **common,
              "output": rel(out / "sample")}
    if (sample_dir / VERDICTS_DIR).is_dir():  # written by samplegen.verdicts (make sample)
        detect["verdicts"] = {"files": rel(sample_dir / VERDICTS_DIR) + "/*.zip", "on_problem": "report"}
        if (sample_dir / KEY_PROJECTS_FILE).is_file():
            detect["key_projects"] = {"layer": {"path": rel(sample_dir / KEY_PROJECTS_FILE),
                                                "layer": "key_projects"}}
        detect["severe_impact"] = [dict(SEVERE_IMPACT)]
    truth = {"year": YEAR, "layers": layers,
             "patches": {"path": rel(sample_dir / TRUTH_FILE), "layer": "planted_patches",
                         "id_field": "truth_id"},
             **common, "output": rel(out / "sample_truth")}
    header = ("# Written by samplegen.write_sample_configs (make sample); "
              "regenerate rather than edit.\n")
    for name, data, what in (("sample.yaml", detect, "detect patches from the sample imagery"),
                             ("sample_truth.yaml", truth, "use the planted (truth) patches")):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        (config_dir / name).write_text(f"{header}# Sample run: {what}.\n{text}", encoding="utf-8")
