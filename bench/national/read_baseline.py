"""The reference of issue 8: the time (and peak RSS) to read a world's input layers with pyogrio.

Usage (from the repository root)::

    .venv/bin/python -m bench.national.read_baseline WORLD_DIR_OR_CONFIG [--use-arrow]

Reads every input layer of the run config (``WORLD_DIR/national.yaml`` by default: counties,
farmland, basic farmland, approved, patches) with ``pyogrio.read_dataframe``, one after the other in
this one process, nothing else (``--geometry-only``: no attribute fields, as landcheck reads the
polygon layers). Prints a line per layer and, last, a JSON line: ``read_s`` (the
total), ``layers`` (seconds and features each), ``peak_rss_mb`` (this process's maximum resident
set size, ``getrusage``). "landcheck's wall time <= 10x read_s" is the issue's goal.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import pyogrio
import yaml


def layers_of(config: Path) -> list[tuple[str, Path, str | None]]:
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    base = config.parent
    out = []
    for role in ("counties", "farmland", "basic_farmland", "approved"):
        entry = data["layers"][role]
        out.append((role, (base / entry["path"]).resolve(), entry.get("layer")))
    if data.get("patches"):
        out.append(("patches", (base / data["patches"]["path"]).resolve(), data["patches"].get("layer")))
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.national.read_baseline", description=__doc__.split("\n")[0])
    parser.add_argument("world", type=Path, help="the world folder (its national.yaml) or a run config")
    parser.add_argument("--use-arrow", action="store_true", help="read through Arrow (needs pyarrow)")
    parser.add_argument("--geometry-only", action="store_true",
                        help="read no attribute field (columns=[]), as landcheck reads the polygon layers")
    args = parser.parse_args(argv)
    config = args.world / "national.yaml" if args.world.is_dir() else args.world
    rss_before = peak_rss_mb()
    result: dict = {"config": str(config), "use_arrow": args.use_arrow,
                    "geometry_only": args.geometry_only, "layers": {}}
    start = time.perf_counter()
    frames = []
    for role, path, layer in layers_of(config):
        t = time.perf_counter()
        columns = [] if args.geometry_only else None
        frame = pyogrio.read_dataframe(path, layer=layer, use_arrow=args.use_arrow, columns=columns)
        dt = time.perf_counter() - t
        frames.append(frame)  # keep every layer in memory, as a whole-country run does
        result["layers"][role] = {"seconds": round(dt, 2), "features": len(frame),
                                  "bytes": path.stat().st_size}
        print(f"{role:15s} {len(frame):>9,d} features {path.stat().st_size / 1e6:8.1f} MB  {dt:6.2f} s",
              flush=True)
    result["read_s"] = round(time.perf_counter() - start, 2)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["rss_before_mb"] = round(rss_before, 1)
    print(f"total {result['read_s']:.2f} s, peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
