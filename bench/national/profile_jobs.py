"""Where a county job's time goes: its stages, each as a fixed cost plus a cost per piece.

Usage (from the repository root, after ``make bench`` has generated the national world)::

    .venv/bin/python -m bench.national.profile_jobs [--every 4] [--world bench/out/national]

Plans the national run's county jobs exactly as ``landcheck run --workers 1`` does (the run is
started on the world's config and stopped where it would hand its jobs to dask), then runs every
``--every``-th job in this process, one after another, timing its stages: reading the windows
(``read_window``), splitting and measuring (``split_county``), the JCBH (``assign_patch_ids``) and
the field package (``write_county_package``). A least-squares line over the jobs gives each stage
as a fixed cost per county plus a cost per piece; with the world's counts, the CPU the jobs of
the whole country need on one core. Prints a table and, last, a JSON line. The first job is run
once before timing (imports, compiled kernels, open connections). Writes nothing but a temporary
output folder, removed at the end.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
STAGES = ("read_window", "split_county", "assign_patch_ids", "write_county_package")


class _Profiled(Exception):
    """Raised in place of running the jobs, carrying the profile out of the pipeline."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("jobs profiled")
        self.result = result


def profile_planned_jobs(config: Path, out: Path, every: int) -> dict[str, Any]:
    """:func:`profile` of every ``every``-th job ``landcheck run config --workers 1`` plans (with
    their field packages), run where the run would hand them to dask: its staging folder, with
    the patches' working copy the jobs read, exists then (the run removes it on the way out)."""
    import pipeline.overlay_stage as overlay_stage
    from pipeline.config import load_config
    from pipeline.run import run_pipeline

    def hand_over(jobs: list, **_: Any) -> None:
        result = profile(list(jobs)[::max(1, every)])
        result["all_counties"] = len(jobs)
        raise _Profiled(result)

    real = overlay_stage.run_jobs
    overlay_stage.run_jobs = hand_over
    try:
        run_pipeline(replace(load_config(config), output=out), progress=False, workers=1,
                     log=lambda *_: None)
    except _Profiled as profiled:
        return profiled.result
    finally:
        overlay_stage.run_jobs = real
    raise RuntimeError("the run finished without planning county jobs")


def profile(jobs: list) -> dict[str, Any]:
    """Run ``jobs`` in this process with each stage timed; the fit of each stage."""
    import pipeline.county_run as county_run

    spent: Counter[str] = Counter()

    def timed(name: str):
        real = getattr(county_run, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start
        return call

    for name in STAGES:
        setattr(county_run, name, timed(name))
    county_run.run_county(jobs[0])  # warm: imports, compiled kernels, connections
    rows = []
    cpu = time.process_time()
    for job in jobs:
        spent.clear()
        start = time.perf_counter()
        result = county_run.run_county(job)
        rows.append((len(result.pieces), time.perf_counter() - start, *(spent[s] for s in STAGES)))
    cpu = time.process_time() - cpu
    table = np.array(rows, dtype=np.float64)
    pieces = table[:, 0]
    fit = {}
    design = np.column_stack([np.ones_like(pieces), pieces])
    for k, name in enumerate(("total", *STAGES), start=1):
        (fixed, per_piece), *_ = np.linalg.lstsq(design, table[:, k], rcond=None)
        fit[name] = {"mean_ms": round(1000 * table[:, k].mean(), 2), "fixed_ms": round(1000 * fixed, 2),
                     "per_piece_us": round(1e6 * per_piece, 1)}
    return {"counties": len(jobs), "mean_pieces": round(float(pieces.mean()), 1), "cpu_s": round(cpu, 2),
            "stages": fit}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.national.profile_jobs",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, default=REPO / "bench" / "out" / "national")
    parser.add_argument("--every", type=int, default=4, help="time every N-th county (default 4)")
    args = parser.parse_args(argv)
    config = args.world / "national.yaml"
    if not config.exists():
        parser.error(f"{config}: no national world there (make bench generates it)")
    with tempfile.TemporaryDirectory(prefix="landcheck_profile_") as tmp:
        result = profile_planned_jobs(config, Path(tmp) / "run", args.every)
    n_counties = result["all_counties"]
    print(f"{result['counties']} of {n_counties} counties, {result['mean_pieces']} pieces each on average, "
          f"{result['cpu_s']:.1f} s of CPU")
    print(f"{'stage':22s} {'mean ms':>8s} {'fixed ms':>9s} {'us/piece':>9s}")
    for name, f in result["stages"].items():
        print(f"{name:22s} {f['mean_ms']:8.2f} {f['fixed_ms']:9.2f} {f['per_piece_us']:9.1f}")
    total = result["stages"]["total"]
    result["whole_country_cpu_s"] = round(total["mean_ms"] * n_counties / 1000, 1)
    print(f"the whole country's county jobs: about {result['whole_country_cpu_s']:.0f} s of one core")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
