"""The national benchmark of ``make bench``: generate the country, read it, run it, check it.

Usage (from the repository root)::

    .venv/bin/python -m bench.national.bench [--scale F] [--workers 1 2]

1. generates the national world (``bench.national.world``) into ``bench/out/national`` unless a
   world of the same scale and seed is already there;
2. times reading every input layer with pyogrio (``bench.national.read_baseline``), the issue's
   reference, again just before each run (each run's x read time is against its own read);
3. runs ``landcheck run`` on it once per ``--workers`` value (1: every county job in the landcheck
   process; 2: a 2-worker LocalCluster), each under ``/usr/bin/time -v`` for wall time and peak RSS
   (the largest process: with a LocalCluster, the driver or a worker), and reads each county's job
   time (p50 / p95) and the stage times from its ``manifest.json``;
4. checks every run's ``county_ratios.csv`` against the world's truth (``bench.national.check``);
5. writes the table between the ``national`` markers of ``docs/benchmarks.md`` and
   ``bench/out/national_bench.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench" / "out"
WORLD = OUT / "national"
DOC = REPO / "docs" / "benchmarks.md"
START, END = "<!-- national:start -->", "<!-- national:end -->"


def _python(*args: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, text=True, capture_output=True, **kw)


def ensure_world(scale: float, seed: int) -> dict:
    """Generate the world unless one of this scale and seed is there; its world.json."""
    meta = WORLD / "world.json"
    if meta.exists():
        info = json.loads(meta.read_text(encoding="utf-8"))
        if float(info.get("scale", -1)) == scale and int(info.get("seed", -1)) == seed:
            print(f"national world: reusing {WORLD}", flush=True)
            return info
    print(f"national world: generating scale {scale} into {WORLD}", flush=True)
    done = _python("-m", "bench.national.world", str(WORLD), "--scale", str(scale), "--seed", str(seed))
    if done.returncode:
        raise SystemExit(f"world generation failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(meta.read_text(encoding="utf-8"))


def read_baseline() -> dict:
    done = _python("-m", "bench.national.read_baseline", str(WORLD), "--geometry-only", check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _time_v(stderr: str) -> tuple[float, float]:
    """Wall seconds and max RSS (MB) from ``/usr/bin/time -v`` output."""
    wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    h, m, s = (float(wall.group(1) or 0), float(wall.group(2)), float(wall.group(3))) if wall else (0, 0, 0)
    return h * 3600 + m * 60 + s, (int(rss.group(1)) / 1024 if rss else float("nan"))


def run_landcheck(workers: int) -> dict:
    out = OUT / f"national_run_w{workers}"
    cmd = ["/usr/bin/time", "-v", str(Path(sys.executable).with_name("landcheck")), "run",
           str(WORLD / "national.yaml"), "--out", str(out), "--quiet", "--workers", str(workers)]
    print("  $", " ".join(cmd[2:]), flush=True)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, text=True, capture_output=True)
    wall_py = time.perf_counter() - started
    wall, rss = _time_v(done.stderr)
    result = {"workers": workers, "exit": done.returncode, "wall_s": round(wall or wall_py, 1),
              "peak_rss_mb": round(rss, 0)}
    if done.returncode not in (0,):
        result["error"] = [line for line in done.stderr.splitlines() if "landcheck:" in line][-1:]
        return result
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    result["stages_s"] = manifest.get("timings_s", {})
    counties = manifest.get("counties", {})
    result["county_p50_s"], result["county_p95_s"] = counties.get("p50_s"), counties.get("p95_s")
    check = _python("-m", "bench.national.check", str(WORLD), str(out))
    result["check_exit"] = check.returncode
    result["check"] = json.loads(check.stdout.strip().splitlines()[-1]) if check.stdout.strip() else {}
    return result


def _doc_block(info: dict, baseline: dict, runs: list[dict], when: str) -> str:
    lines = [
        f"Measured by `make bench` on {when}: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}. The national world of `bench/national/world.py` (scale "
        f"{info.get('scale')}): {info.get('counties', '?'):,} counties, "
        f"{info.get('farmland_parcels', 0):,} farmland parcels, {info.get('patches', 0):,} received patches "
        f"({info.get('border_patches', 0):,} across county borders); "
        "county figures known by construction and checked after each run (`bench/national/check.py`).",
        "",
        f"Reading every input layer with pyogrio (geometry only, one process): **{baseline['read_s']:.1f} s**, "
        f"{baseline['peak_rss_mb']:.0f} MB. Goal: a whole run within 10x that "
        f"({10 * baseline['read_s']:.0f} s) and under 2 GB. The read is timed again just before each run "
        "(this machine's speed drifts within minutes); each run's x read time is against its own.",
        "",
        "| landcheck run | wall s | read s just before | x read time | peak RSS MB (largest process) | "
        "county job p50 / p95 s | read / overlay / write s | figures vs truth |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        where = "in-process (`--workers 1`)" if r["workers"] == 1 else f"LocalCluster, {r['workers']} workers"
        if r.get("exit"):
            lines.append(f"| {where} | {r['wall_s']} | {r['read_s']:.1f} | | {r['peak_rss_mb']:.0f} | | | exit {r['exit']}: "
                         f"{' '.join(r.get('error', []))} |")
            continue
        st = r.get("stages_s", {})
        read = st.get("read layers", 0) + st.get("read received patches", 0)
        check = r.get("check", {})
        worst = max((w.get("max_abs_m2") or 0.0) for w in check.get("worst", {}).values()) \
            if check.get("worst") else float("nan")
        verdict = (f"exact (worst {worst:.3f} m², the CSV's rounding)" if r.get("check_exit") == 0
                   else f"MISMATCH (check exit {r.get('check_exit')})")
        lines.append(
            f"| {where} | {r['wall_s']:.0f} | {r['read_s']:.1f} | {r['wall_s'] / r['read_s']:.1f} | {r['peak_rss_mb']:.0f} | "
            f"{r.get('county_p50_s')} / {r.get('county_p95_s')} | {read:.0f} / "
            f"{st.get('overlay by county', 0):.0f} / {st.get('write deliverables', 0):.0f} | {verdict} |")
    return "\n".join(lines)


def write_block(block: str) -> None:
    old = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    new = f"{START}\n{block.rstrip()}\n{END}"
    if START in old and END in old:
        text = old[:old.index(START)] + new + old[old.index(END) + len(END):]
    else:
        text = old.rstrip() + "\n\n## The whole country (make bench)\n\n" + new + "\n"
    DOC.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info = ensure_world(args.scale, args.seed)
    baseline = read_baseline()
    print(f"  pyogrio read: {baseline['read_s']:.1f} s", flush=True)
    runs = []
    for i, workers in enumerate(args.workers):
        # this machine's speed drifts within minutes: each run is set against a read just before it
        read = baseline if i == 0 else read_baseline()
        if i:
            print(f"  pyogrio read: {read['read_s']:.1f} s", flush=True)
        runs.append({**run_landcheck(workers), "read_s": read["read_s"]})
    for r in runs:
        print("  ", json.dumps(r), flush=True)
    (OUT / "national_bench.json").write_text(json.dumps({"when": when, "world": info, "baseline": baseline,
                                                         "runs": runs}, indent=1), encoding="utf-8")
    write_block(_doc_block(info, baseline, runs, when))
    print(f"national: wrote {DOC.relative_to(REPO)}", flush=True)


if __name__ == "__main__":
    main()
