"""A run on a 2-worker LocalCluster writes the same figures as a run in one process."""
from pathlib import Path

import geopandas as gpd
import pandas as pd
from click.testing import CliRunner

from pipeline.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "sample_truth.yaml"


def test_local_cluster_run_equals_in_process_run(tmp_path):
    for name, workers in (("one", "1"), ("two", "2")):
        result = CliRunner().invoke(main, ["run", str(CONFIG), "--out", str(tmp_path / name), "--quiet",
                                           "--workers", workers])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "one" / "county_ratios.csv").read_bytes() == \
        (tmp_path / "two" / "county_ratios.csv").read_bytes()
    a = gpd.read_file(tmp_path / "one" / "patches.gpkg", layer="patches")
    b = gpd.read_file(tmp_path / "two" / "patches.gpkg", layer="patches")
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")),
                                  pd.DataFrame(b.drop(columns="geometry")))
    assert a.geometry.geom_equals_exact(b.geometry, 0).all()
    # the packages, written by the county jobs in the worker processes, too
    packages = [{p.name: p.read_bytes() for p in (tmp_path / name / "field_verification").glob("*.zip")}
                for name in ("one", "two")]
    assert packages[0] == packages[1] and len(packages[0]) == 4


def test_workers_and_scheduler_together_are_refused(tmp_path):
    result = CliRunner().invoke(main, ["run", str(CONFIG), "--out", str(tmp_path / "o"),
                                       "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2 and "--workers is for local runs" in result.output
