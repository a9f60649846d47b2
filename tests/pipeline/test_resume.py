"""A run killed mid-way resumes with --resume to the outputs of an uninterrupted run."""
import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
from click.testing import CliRunner

from pipeline.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "sample_truth.yaml"

# Test-side hook: SIGKILL this process right after the second county's checkpoint is written.
KILLER = """
import os, signal, sys
import pipeline.county_runner as runner
saved = []
real = runner.Checkpoints.save
def save(self, result, *args):
    real(self, result, *args)
    saved.append(result.county_code)
    if len(saved) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
runner.Checkpoints.save = save
from pipeline.cli import main
sys.exit(main(["run", sys.argv[1], "--out", sys.argv[2], "--quiet"]))
"""


def pieces_table(out: Path) -> pd.DataFrame:
    frame = gpd.read_file(out / "patches.gpkg", layer="patches")
    frame["wkb"] = frame.geometry.to_wkb()
    return pd.DataFrame(frame.drop(columns="geometry")).sort_values(["county_code", "patch_id"]) \
        .reset_index(drop=True)


def whole_and_killed(tmp_path: Path) -> tuple[Path, Path]:
    """An uninterrupted run (``whole``) and a run SIGKILLed after two counties (``resumed``, not
    yet resumed): their output folders."""
    whole = tmp_path / "whole"
    assert CliRunner().invoke(main, ["run", str(CONFIG), "--out", str(whole), "--quiet"]).exit_code == 0
    out = tmp_path / "resumed"
    killed = subprocess.run([sys.executable, "-c", KILLER, str(CONFIG), str(out)], cwd=REPO,
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    return whole, out


def test_a_killed_run_resumes_to_identical_outputs(tmp_path):
    whole, out = whole_and_killed(tmp_path)
    assert not out.exists()  # nothing published by the killed run
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".resumed.partial-")]
    assert len(leftovers) == 1 and len(list((leftovers[0] / ".work" / "counties").glob("*.pkl"))) == 2

    result = CliRunner().invoke(main, ["run", str(CONFIG), "--out", str(out), "--resume"])
    assert result.exit_code == 0, result.output
    assert "resuming" in result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counties"]["resumed"] == 2
    assert (out / "county_ratios.csv").read_bytes() == (whole / "county_ratios.csv").read_bytes()
    pd.testing.assert_frame_equal(pieces_table(out), pieces_table(whole))
    assert not (out / ".work").exists() and not any(p.name.startswith(".resumed.partial-")
                                                    for p in tmp_path.iterdir())


def test_without_resume_a_killed_runs_work_is_not_reused(tmp_path):
    out = tmp_path / "o"
    killed = subprocess.run([sys.executable, "-c", KILLER, str(CONFIG), str(out)], cwd=REPO,
                            capture_output=True, text=True)
    assert killed.returncode == -9
    result = CliRunner().invoke(main, ["run", str(CONFIG), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counties"]["resumed"] == 0


def test_sigterm_after_some_counties_keeps_them_for_resume(tmp_path, monkeypatch):
    import os
    import signal

    import pipeline.county_runner as runner

    real = runner.Checkpoints.save
    saved = []

    def save_then_terminated(self, result, *args):
        real(self, result, *args)
        saved.append(result.county_code)
        if len(saved) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # a batch system ending the job mid-run
    monkeypatch.setattr(runner.Checkpoints, "save", save_then_terminated)
    out = tmp_path / "o"
    stopped = CliRunner().invoke(main, ["run", str(CONFIG), "--out", str(out), "--quiet"])
    assert stopped.exit_code == 143
    assert "--resume" in stopped.output and not out.exists()
    kept = [p for p in tmp_path.iterdir() if p.name.startswith(".o.partial-")]
    assert len(kept) == 1 and list((kept[0] / ".work" / "counties").glob("*.pkl"))
    monkeypatch.setattr(runner.Checkpoints, "save", real)
    resumed = CliRunner().invoke(main, ["run", str(CONFIG), "--out", str(out), "--quiet", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counties"]["resumed"] >= 1


def zips(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "field_verification").glob("*.zip"))}


def test_resumed_counties_keep_their_packages_and_a_lost_one_is_recomputed(tmp_path):
    """Packages are written by the county jobs into the work folder: a checkpointed county's
    package is delivered on resume; one whose package is gone (or torn) is computed again."""
    whole, out = whole_and_killed(tmp_path)
    staging = next(p for p in tmp_path.iterdir() if p.name.startswith(".resumed.partial-"))
    written = sorted((staging / ".work" / "packages" / "field_verification").glob("*.zip"))
    assert len(written) >= 2 and not (staging / "field_verification").exists()  # nothing outside .work
    written[0].write_bytes(written[0].read_bytes()[:100])  # torn: its county is not trusted
    result = CliRunner().invoke(main, ["run", str(CONFIG), "--out", str(out), "--resume", "--quiet"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counties"]["resumed"] == 1
    assert zips(out) == zips(whole) and len(zips(out)) == 4
