"""Compare landcheck's county figures with the national world's truth.

Usage (from the repository root)::

    .venv/bin/python -m bench.national.check WORLD_DIR RUN_DIR
    .venv/bin/python -m bench.national.check WORLD_DIR --compute [--save CSV]

``WORLD_DIR`` holds ``truth_ratios.csv`` (or give the CSV itself). ``RUN_DIR`` is a landcheck output
folder; its ``county_ratios.csv`` is compared. ``--compute`` instead computes the county figures in
this process with landcheck's own functions (``pipeline.run.compute_pieces``, the run's reading and
per-county overlay, then ``overlay.accounting.county_ratios``) from ``WORLD_DIR/national.yaml``,
without writing any deliverable: the overlay's exactness at full scale when the deliverables take
too long (``--save`` writes that table as CSV).

Reports the worst absolute and relative error per area column, the counties per level in both, and
exits 1 when any county is missing or extra, any area differs by more than 0.01 m² (``--tol``), a
piece count or a level differs, or a ratio is defined in one and not the other; 0 otherwise. The
last line of stdout is a JSON summary.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

AREAS = ("occupied_farmland_m2", "legal_farmland_m2", "illegal_farmland_m2", "basic_farmland_m2",
         "illegal_basic_farmland_m2")
COUNTS = ("n_patches", "n_illegal_patches")
LEVELS = ("accountability", "interview", "none", "no_ratio")


def read_truth(path: Path) -> pd.DataFrame:
    if path.is_dir():
        path = path / "truth_ratios.csv"
    return pd.read_csv(path, dtype={"county_code": str})


def read_run(path: Path) -> pd.DataFrame:
    if path.is_dir():
        path = path / "county_ratios.csv"
    return pd.read_csv(path, dtype={"county_code": str}, encoding="utf-8-sig")


def compute(world: Path) -> tuple[pd.DataFrame, dict]:
    """County figures from landcheck's reading and overlay, in-process, nothing written."""
    from overlay.accounting import Thresholds, county_ratios
    from pipeline.config import load_config
    from pipeline.run import compute_pieces

    config = load_config(world / "national.yaml", output=Path("/nonexistent-not-written"))
    start = time.perf_counter()
    pieces, counties = compute_pieces(config, progress=False)
    t_overlay = time.perf_counter() - start
    th = config.thresholds
    ratios = county_ratios(pieces, counties, Thresholds(th.interview, th.accountability,
                                                        th.interview_rule, th.accountability_rule))
    return ratios, {"compute_pieces_s": round(t_overlay, 1), "pieces": int(len(pieces))}


def compare(truth: pd.DataFrame, run: pd.DataFrame, tol: float = 0.01) -> dict:
    problems: list[str] = []
    t_codes, r_codes = set(truth["county_code"]), set(run["county_code"])
    missing, extra = sorted(t_codes - r_codes), sorted(r_codes - t_codes)
    if missing:
        problems.append(f"{len(missing)} truth counties missing from the run: {', '.join(missing[:10])}")
    if extra:
        problems.append(f"{len(extra)} counties in the run not in the truth: {', '.join(extra[:10])}")
    m = truth.merge(run, on="county_code", suffixes=("_truth", "_run"))
    worst: dict[str, dict] = {}
    for col in AREAS:
        if f"{col}_run" not in m.columns:
            problems.append(f"run has no column {col}")
            continue
        t = m[f"{col}_truth"].to_numpy(float)
        r = m[f"{col}_run"].fillna(0.0).to_numpy(float)
        err = np.abs(r - t)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(t > 0, err / t, np.where(err > 0, np.inf, 0.0))
        k = int(np.argmax(err)) if len(err) else 0
        worst[col] = {"max_abs_m2": float(err.max()) if len(err) else 0.0,
                      "max_rel": float(rel.max()) if len(rel) else 0.0,
                      "county": m["county_code"].iloc[k] if len(err) else None,
                      "total_truth_m2": float(t.sum()), "total_run_m2": float(r.sum())}
        bad = err > tol
        if bad.any():
            rows = m.loc[bad, "county_code"].tolist()
            problems.append(f"{col}: {int(bad.sum())} counties off by more than {tol} m² "
                            f"(worst {err.max():.4f} m² in {worst[col]['county']}): {', '.join(rows[:10])}")
    for col in COUNTS:
        if f"{col}_run" not in m.columns:
            continue
        bad = m[f"{col}_truth"].to_numpy(int) != m[f"{col}_run"].fillna(-1).to_numpy(int)
        if bad.any():
            sample = m.loc[bad, ["county_code", f"{col}_truth", f"{col}_run"]].head(5).to_dict("records")
            problems.append(f"{col}: {int(bad.sum())} counties differ, e.g. {sample}")
    t_ratio = m["ratio_truth"].to_numpy(float)
    r_ratio = m["ratio_run"].to_numpy(float)
    defined_differs = np.isnan(t_ratio) != np.isnan(r_ratio)
    if defined_differs.any():
        problems.append(f"ratio defined in one and not the other in {int(defined_differs.sum())} counties: "
                        f"{', '.join(m.loc[defined_differs, 'county_code'].head(10))}")
    both = ~np.isnan(t_ratio) & ~np.isnan(r_ratio)
    ratio_err = np.abs(r_ratio[both] - t_ratio[both])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_rel = np.where(t_ratio[both] > 0, ratio_err / t_ratio[both], np.where(ratio_err > 0, np.inf, 0))
    level_bad = m["level_truth"].astype(str).to_numpy() != m["level_run"].astype(str).to_numpy()
    if level_bad.any():
        sample = m.loc[level_bad, ["county_code", "ratio_truth", "ratio_run", "level_truth", "level_run"]] \
            .head(5).to_dict("records")
        problems.append(f"level differs in {int(level_bad.sum())} counties, e.g. {sample}")
    levels_truth = truth["level"].value_counts().to_dict()
    levels_run = run["level"].value_counts().to_dict()
    return {
        "ok": not problems,
        "counties_truth": len(truth), "counties_run": len(run), "compared": len(m),
        "worst": worst,
        "ratio_max_abs_err": float(ratio_err.max()) if len(ratio_err) else 0.0,
        "ratio_max_rel_err": float(ratio_rel.max()) if len(ratio_rel) else 0.0,
        "levels_truth": {k: int(levels_truth.get(k, 0)) for k in LEVELS},
        "levels_run": {k: int(levels_run.get(k, 0)) for k in LEVELS},
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.national.check",
                                     description="Compare landcheck's county figures with the world's truth.")
    parser.add_argument("world", type=Path, help="the world folder (or its truth_ratios.csv)")
    parser.add_argument("run", type=Path, nargs="?", help="a landcheck output folder (or its county_ratios.csv)")
    parser.add_argument("--compute", action="store_true",
                        help="compute the county figures in-process from WORLD/national.yaml instead")
    parser.add_argument("--save", type=Path, help="with --compute: write the computed table here")
    parser.add_argument("--tol", type=float, default=0.01, help="area tolerance per county, m² (0.01)")
    args = parser.parse_args(argv)
    if (args.run is None) == (not args.compute):
        parser.error("give either RUN or --compute")
    truth = read_truth(args.world)
    extra: dict = {}
    if args.compute:
        world = args.world if args.world.is_dir() else args.world.parent
        run, extra = compute(world)
        if args.save:
            run.to_csv(args.save, index=False, float_format="%.17g")
    else:
        run = read_run(args.run)
    result = {**compare(truth, run, args.tol), **extra}
    for col, w in result["worst"].items():
        print(f"{col:28s} worst abs {w['max_abs_m2']:.6f} m² (county {w['county']}), worst rel "
              f"{w['max_rel']:.3g}; total truth {w['total_truth_m2']:.2f}, run {w['total_run_m2']:.2f}")
    print(f"ratio: worst abs {result['ratio_max_abs_err']:.3g}, worst rel {result['ratio_max_rel_err']:.3g}")
    print("levels (truth): " + ", ".join(f"{k} {v}" for k, v in result["levels_truth"].items()))
    print("levels (run):   " + ", ".join(f"{k} {v}" for k, v in result["levels_run"].items()))
    for p in result["problems"]:
        print(f"MISMATCH: {p}")
    print("OK: every county matches" if result["ok"] else f"FAILED: {len(result['problems'])} problem(s)")
    print(json.dumps(result, ensure_ascii=False, default=lambda o: None if isinstance(o, float) and math.isnan(o) else str(o)))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
