"""Detection benchmark: landcheck's chunked dask detection against whole-array numpy.

    python bench/detect_bench.py make-world DIR --scale 3
    python bench/detect_bench.py landcheck DIR --chunk 1024
    python bench/detect_bench.py naive DIR

The naive side is what one writes first: mosaic each date into one in-memory array with
`rasterio.merge.merge`, then run the same per-pixel functions on the whole arrays and
vectorise with one `rasterio.features.shapes` call. Both print one JSON line.
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

SEED = 2025


def make_world(world: Path, scale: int) -> dict:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # samplegen/ is not installed
    from samplegen import make_sample, write_sample_configs

    make_sample(world / "tiles", seed=SEED, scale=scale)
    write_sample_configs(world / "tiles", world)
    (world / "sample.yaml").rename(world / "bench.yaml")
    return {"world": str(world), "scale": scale}


def run_landcheck(world: Path, chunk: int) -> dict:
    from dataclasses import replace

    from pipeline.config import load_config
    from pipeline.detect import detect_patches

    cfg = load_config(world / "bench.yaml")
    start = time.perf_counter()
    # the spectral score: the whole-array side below reimplements that one
    det = replace(cfg.detection, chunk_px=chunk, method="spectral", threshold="otsu")
    patches, stats = detect_patches(cfg.imagery, det, progress=False)
    return {"seconds": time.perf_counter() - start, "polygons": len(patches),
            "changed_pixels": int(stats["pixels_changed"]),
            "megapixels": stats["grid_height"] * stats["grid_width"] / 1e6}


def run_naive(world: Path) -> dict:
    import rasterio
    from rasterio.features import shapes
    from rasterio.merge import merge

    from detection.clean import clean_mask
    from detection.normalize import fit_gain_offset, sample_stride
    from detection.score import construction_score, reflectance_scale
    from detection.threshold import choose_threshold, histogram_edges
    from pipeline.config import load_config

    cfg = load_config(world / "bench.yaml")
    det = cfg.detection
    start = time.perf_counter()
    bands = [cfg.imagery.bands[b] for b in ("blue", "green", "red", "nir")]

    def mosaic(paths, bounds=None):
        srcs = [rasterio.open(p) for p in paths]
        arr, transform = merge(srcs, bounds=bounds, indexes=bands, nodata=0)
        for s in srcs:
            s.close()
        return arr, transform

    before_u, transform = mosaic(cfg.imagery.before)
    h, w = before_u.shape[1:]
    bounds = (transform.c, transform.f + h * transform.e, transform.c + w * transform.a, transform.f)
    after_u, _ = mosaic(cfg.imagery.after, bounds)
    if cfg.imagery.after_cloud_masks:
        srcs = [rasterio.open(p) for p in cfg.imagery.after_cloud_masks]
        cloud, _ = merge(srcs, bounds=bounds, nodata=0, method="max")
        cloud = cloud[0] > 0
    else:
        cloud = np.zeros((h, w), bool)
    valid = (before_u != 0).all(0) & (after_u != 0).all(0) & ~cloud
    before = np.where(before_u == 0, np.nan, before_u).astype(np.float32)
    after = np.where(after_u == 0, np.nan, after_u).astype(np.float32)
    del before_u, after_u
    s = sample_stride(h, w)
    sv = valid[::s, ::s]
    sb, sa = before[:, ::s, ::s][:, sv], after[:, ::s, ::s][:, sv]
    gains, offsets, _ = fit_gain_offset(sb, sa)
    scale = reflectance_scale(np.dtype("uint16"), float(np.percentile(sb[:3], 99)))
    score = construction_score(before, after, valid, scale=scale, gains=gains, offsets=offsets)
    edges = histogram_edges()
    counts, _ = np.histogram(np.clip(score[valid], edges[0], edges[-1]), bins=edges)
    floor = 0.08 if det.min_threshold is None else det.min_threshold  # the spectral default
    threshold, _ = choose_threshold("otsu" if isinstance(det.threshold, str) else det.threshold,
                                    floor, counts, edges)
    mask = clean_mask((score > np.float32(threshold)) & valid, valid,
                      opening_radius=det.opening_radius_px, closing_radius=det.closing_radius_px)
    polys = [g for g, v in shapes(mask.astype(np.uint8), mask=mask, transform=transform, connectivity=4)]
    return {"seconds": time.perf_counter() - start, "polygons_before_min_area": len(polys),
            "changed_pixels": int(mask.sum()), "megapixels": h * w / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("side", choices=["make-world", "landcheck", "naive"])
    parser.add_argument("world", type=Path)
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=1024)
    args = parser.parse_args()
    if args.side == "make-world":
        result = make_world(args.world, args.scale)
    elif args.side == "landcheck":
        result = run_landcheck(args.world, args.chunk)
    else:
        result = run_naive(args.world)
    result["side"] = args.side
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
