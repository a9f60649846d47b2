"""What the command prints: the full command list, no progress redraws in a log, counties named."""
import subprocess
import sys
from pathlib import Path

import pandas as pd

from pipeline.cli import _named_levels

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_every_command_uncut():
    out = subprocess.run([sys.executable, "-m", "pipeline.cli", "--help"], capture_output=True, text=True,
                         cwd=REPO, env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"})
    commands = out.stdout.split("Commands:")[1]
    assert "..." not in commands
    for name in ("run", "validate", "detect", "train", "verdicts"):
        assert f"\n  {name} " in commands


def test_a_run_into_a_log_file_has_no_progress_redraws(tmp_path):
    log = tmp_path / "run.log"
    with open(log, "w") as fh:
        done = subprocess.run([sys.executable, "-m", "pipeline.cli", "run",
                               str(REPO / "configs" / "sample_truth.yaml"), "--out", str(tmp_path / "o")],
                              stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
    text = log.read_text(encoding="utf-8")
    assert done.returncode == 0, text
    assert "\r" not in text and "[3] overlay by county" in text


def test_closing_lines_name_the_counties_that_call_for_action():
    ratios = pd.DataFrame({
        "county_code": [f"2202{i:02d}" for i in range(14)], "county_name": [f"县{i}" for i in range(14)],
        "ratio": [0.5] * 12 + [0.12, float("nan")], "level": ["accountability"] * 12 + ["interview", "failed"],
        "level_reason": ["ratio"] * 11 + ["severe_impact", "ratio", "failed"]})
    lines = _named_levels(ratios)
    assert lines[0].startswith("accountability 问责 (12): 220200 县0 50.00 %")
    assert lines[0].endswith("and 2 more (county_ratios.csv)")
    assert lines[1] == "interview 约谈 (1): 220212 县12 12.00 %"
    assert lines[2] == "failed 计算失败 (1): 220213 县13"
