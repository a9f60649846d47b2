"""Time the national deliverables the run's driver writes after the county jobs, one writer at a time.

The inputs are rebuilt from an earlier national run's ``patches.gpkg`` (its ``patches`` layer holds
the run's pieces, its ``county_ratios`` layer the county table and polygons), so they have the
shape ``pipeline.run.run_pipeline`` passes to the writers: ~200,000 pieces with their verdict
columns, 2,875 counties with the decisive columns::

    .venv/bin/python bench/deliverables_bench.py                      # every writer
    .venv/bin/python bench/deliverables_bench.py excel pdf --out /tmp/d
    # the committed writers, for a before/after in the same time window:
    mkdir /tmp/head && git archive HEAD reports overlay | tar -x -C /tmp/head
    .venv/bin/python bench/deliverables_bench.py --code /tmp/head --out /tmp/d_before

Each writer runs in its own forked process after the inputs are loaded, so its peak RSS
(``peak_mb``) is its own (``extra_mb``: above the loaded inputs). Prints one line per writer and a
JSON summary.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import pickle
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import geopandas as gpd
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

RUN = ROOT / "bench" / "out" / "national_run_w1"
WRITERS = ("chart", "map", "html", "pdf", "excel", "gpkg")
"""In the driver's order: the HTML and PDF embed the chart and the map."""

_DERIVED_PIECE = ("area_mu", "illegal_mu", "status_zh")  # added by reports.geopackage
_DERIVED_COUNTY = ("ratio_pct", "level_zh", "occupied_farmland_mu", "occupied_farmland_ha", "illegal_farmland_mu",
                   "illegal_farmland_ha")


def load_inputs(run: Path, cache: Path | None) -> dict[str, Any]:
    """``pieces``, ``ratios``, ``counties`` and ``run_info`` as the driver has them (cached as a pickle)."""
    if cache is not None and cache.exists() and cache.stat().st_mtime > (run / "patches.gpkg").stat().st_mtime:
        with cache.open("rb") as f:
            return pickle.load(f)
    from overlay.contracts import COUNTY_COLUMNS

    gpkg = run / "patches.gpkg"
    pieces = gpd.read_file(gpkg, layer="patches", engine="pyogrio")
    pieces = pieces.drop(columns=[c for c in _DERIVED_PIECE if c in pieces.columns])
    layer = gpd.read_file(gpkg, layer="county_ratios", engine="pyogrio")
    counties = layer[["county_code", "county_name", "geometry"]].copy()
    ratios = pd.DataFrame(layer.drop(columns=["geometry", *[c for c in _DERIVED_COUNTY if c in layer.columns]]))
    assert all(c in ratios.columns for c in COUNTY_COLUMNS)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    thresholds = manifest["config"]["thresholds"]
    run_info: dict[str, Any] = {
        "year": manifest["config"]["year"], **thresholds,
        "config": manifest["config"]["source"], "generated_at": manifest["started_at"],
        "source": manifest["patches"]["source"], "landcheck_version": "bench",
        "data_quality": manifest["data_quality"], "verified": False, "verdict_files": 0,
        "verdict_problems": [], "severe_impact": [], "key_projects": None, "previous_run": None,
    }
    inputs = {"pieces": pieces, "ratios": ratios, "counties": counties, "run_info": run_info}
    if cache is not None:
        with cache.open("wb") as f:
            pickle.dump(inputs, f, protocol=pickle.HIGHEST_PROTOCOL)
    return inputs


def _writer(name: str, inp: dict[str, Any], out: Path) -> Callable[[], Any]:
    """The call the driver makes for ``name`` (pipeline.run.run_pipeline, 'write deliverables')."""
    import reports

    ratios, pieces, counties, info = inp["ratios"], inp["pieces"], inp["counties"], inp["run_info"]
    chart, png = out / "ratio_chart.png", out / "report_map.png"
    calls: dict[str, Callable[[], Any]] = {
        "chart": lambda: reports.render_ratio_chart(ratios, info, chart),
        "map": lambda: reports.render_report_map(ratios, counties, pieces, info, png),
        "html": lambda: reports.write_html_report(ratios, info, chart, out / "report.html", map_png=png,
                                                  pieces=pieces),
        "pdf": lambda: reports.write_pdf_report(ratios, info, out / "report.pdf", chart_png=chart, map_png=png,
                                                pieces=pieces),
        "excel": lambda: reports.write_excel_report(ratios, pieces, info, out / "report.xlsx"),
        "gpkg": lambda: reports.write_patches_gpkg(pieces, ratios, counties, out / "patches.gpkg"),
    }
    return calls[name]


def _child(name: str, inp: dict[str, Any], out: Path, queue: Any, profile: bool) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    call = _writer(name, inp, out)
    t0 = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(call)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    else:
        call()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put({"writer": name, "seconds": round(seconds, 2), "peak_mb": round(peak / 1024),
               "extra_mb": round(max(peak - before, 0) / 1024)})


def main(argv: list[str] | None = None) -> int:
    """Load the inputs once, run each chosen writer in a forked child, print the timings."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("writers", nargs="*", help=f"some of {', '.join(WRITERS)} (default: all)")
    ap.add_argument("--run", type=Path, default=RUN, help="an earlier national run's output folder")
    ap.add_argument("--out", type=Path, default=None, help="folder for the deliverables (default: a temp dir)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "landcheck_deliverables_inputs.pkl")
    ap.add_argument("--profile", action="store_true", help="print a cProfile summary per writer")
    ap.add_argument("--code", type=Path, default=ROOT,
                    help="the tree whose reports/ (and overlay/) to time (default: this checkout)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(args.code.resolve()))
    unknown = sorted(set(args.writers) - set(WRITERS))
    if unknown:
        ap.error(f"unknown writer(s) {', '.join(unknown)}; choose from {', '.join(WRITERS)}")
    writers = [w for w in WRITERS if w in (args.writers or WRITERS)]
    t0 = time.perf_counter()
    inp = load_inputs(args.run, args.cache)
    print(f"inputs: {len(inp['pieces'])} pieces, {len(inp['ratios'])} counties "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)
    out = args.out or Path(tempfile.mkdtemp(prefix="deliverables_"))
    out.mkdir(parents=True, exist_ok=True)
    needs = {"html": ("chart", "map"), "pdf": ("chart", "map")}
    for w in list(writers):  # the chart and map the reports embed, when not written in this run
        for dep in needs.get(w, ()):
            if dep not in writers and not (out / ("ratio_chart.png" if dep == "chart" else "report_map.png")).exists():
                writers.insert(0, dep)
    writers = [w for w in WRITERS if w in writers]
    ctx = mp.get_context("fork")
    results = []
    for name in writers:
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(name, inp, out, queue, args.profile))
        proc.start()
        result = queue.get()
        proc.join()
        path = {"chart": "ratio_chart.png", "map": "report_map.png", "html": "report.html", "pdf": "report.pdf",
                "excel": "report.xlsx", "gpkg": "patches.gpkg"}[name]
        result["mb_on_disk"] = round((out / path).stat().st_size / 2**20, 1)
        results.append(result)
        print(f"{name:6s} {result['seconds']:8.2f} s  peak {result['peak_mb']:6d} MB "
              f"(+{result['extra_mb']} MB)  {result['mb_on_disk']} MB file", flush=True)
    import reports

    print(json.dumps({"code": str(Path(reports.__file__).parent), "out": str(out), "total_s": round(sum(r["seconds"] for r in results), 2),
                      "writers": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
