"""Detection benchmark: landcheck's chunked dask detection against whole-array numpy, the time
to read both dates, and the GDAL command-line chain.

    python bench/detect_bench.py make-world DIR --scale 3
    python bench/detect_bench.py landcheck DIR --chunk 1024 [--threshold-sample windows]
        [--stats-sample lattice|windows]
    python bench/detect_bench.py naive DIR
    python bench/detect_bench.py read DIR --chunk 1024
    python bench/detect_bench.py read-landcheck DIR --chunk 1024
    python bench/detect_bench.py gdal DIR --params PARAMS.json

Every side uses the simple registered spectral score (``method: spectral``, Otsu threshold),
not the learned default: it is the one the whole-array side reimplements and the one
``gdal_calc.py`` can express. The naive side is what one writes first: mosaic each date into
one in-memory array with `rasterio.merge.merge`, then run the same per-pixel functions on the
whole arrays and vectorise with one `rasterio.features.shapes` call. ``read`` reads both dates
(all tiles, 4 bands, native type) with rasterio window by window over landcheck's chunking,
on as many threads as cores, doing nothing else; ``read-landcheck`` reads both dates and the
cloud masks through landcheck's own reader (:mod:`pipeline.imagery`, NaN fill, nodata and
tile-priority rules). ``gdal`` runs ``gdalbuildvrt``, ``gdal_calc.py`` (the same score and
threshold, with the gains, offsets, reflectance scale and threshold landcheck found, written by
the landcheck side to ``PARAMS.json``), ``gdal_sieve.py`` (minimum area, in place of
landcheck's opening / closing) and ``gdal_polygonize.py``, each a system-Python process; its
peak memory is the largest child's. Every side prints one JSON line.
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
    """Generate the sample world at ``scale`` (samplegen) with its config ``bench.yaml``."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # samplegen/ is not installed
    from samplegen import make_sample, write_sample_configs

    make_sample(world / "tiles", seed=SEED, scale=scale)
    write_sample_configs(world / "tiles", world)
    (world / "sample.yaml").rename(world / "bench.yaml")
    return {"world": str(world), "scale": scale}


def run_landcheck(world: Path, chunk: int, threshold_sample: str = "auto",
                  params_out: Path | None = None, stats_sample: str = "auto") -> dict:
    """landcheck's detection (spectral, Otsu) on the world; writes the score parameters.

    ``stats_sample`` ``lattice`` takes the statistics sample on the lattice whatever the size
    (a full read), ``windows`` from windows whatever the size; ``auto`` by the image's size.
    """
    from dataclasses import replace

    from pipeline.config import load_config
    from pipeline.detect import detect_patches

    import pipeline.detect

    if threshold_sample == "windows":  # the large-image rule on this world too
        pipeline.detect.EXACT_THRESHOLD_MAX_PIXELS = 0
    if stats_sample != "auto":
        pipeline.detect.SAMPLE_LATTICE_MAX_PIXELS = 0 if stats_sample == "windows" else 2 ** 62
    cfg = load_config(world / "bench.yaml")
    start = time.perf_counter()
    # the spectral score: the whole-array side below reimplements that one
    det = replace(cfg.detection, chunk_px=chunk, method="spectral", threshold="otsu")
    patches, stats = detect_patches(cfg.imagery, det, progress=False)
    seconds = time.perf_counter() - start
    params = {"gains": [stats["gains"][b] for b in ("blue", "green", "red", "nir")],
              "offsets": [stats["offsets"][b] for b in ("blue", "green", "red", "nir")],
              "scale": stats["reflectance_scale"], "threshold": stats["threshold"],
              "pixel_area_m2": abs(stats["grid_res"][0] * stats["grid_res"][1]),
              "min_area_m2": stats["min_area_m2"]}
    if params_out is not None:
        params_out.write_text(json.dumps(params), encoding="utf-8")
    return {"seconds": seconds, "polygons": len(patches),
            "changed_pixels": int(stats["pixels_changed"]),
            "megapixels": stats["grid_height"] * stats["grid_width"] / 1e6,
            "threshold": stats["threshold"], "threshold_sample": stats["threshold_sample"],
            "normalisation_sample": stats["normalisation_sample"],
            "steps_s": stats["seconds"], "params": params}


def run_learned(world: Path, chunk: int, baseline: bool) -> dict:
    """The learned default (``detection.method: learned``) on the world; ``baseline`` runs it with
    the library calls this repository replaced, to set them side by side: scipy's footprint
    filters for the line openings and closings, LightGBM's ``Booster.predict`` for the trees,
    the model run on each block's whole overlap, skimage's ``felzenszwalb`` for the object test.
    Both must give the same polygons (``digest``)."""
    import hashlib
    from dataclasses import replace

    import detection.compose
    import detection.features
    import detection.learned
    import detection.objects
    from pipeline.config import load_config
    from pipeline.detect import detect_patches

    if baseline:
        from scipy import ndimage
        from skimage.segmentation import felzenszwalb

        from detection.morphology import line_footprint

        detection.features.line_opening = lambda x, n, d: ndimage.grey_opening(
            x, footprint=line_footprint(n, d), mode="reflect")
        detection.features.line_closing = lambda x, n, d: ndimage.grey_closing(
            x, footprint=line_footprint(n, d), mode="reflect")
        detection.learned.compile_lightgbm = lambda text: None
        whole = detection.compose.score_block
        detection.compose.score_block = lambda *a, scored=None, **k: whole(*a, **k)

        def skimage_touched(image, patch, *, scale, sigma, min_size):
            seg = felzenszwalb(image, scale=scale, sigma=sigma, min_size=min_size)
            return int(np.bincount(seg.ravel())[np.unique(seg[patch])].sum())

        detection.objects.touched_segment_pixels = skimage_touched
    cfg = load_config(world / "bench.yaml")
    det = replace(cfg.detection, chunk_px=chunk, method="learned", threshold="auto")
    start = time.perf_counter()
    patches, stats = detect_patches(cfg.imagery, det, progress=False)
    seconds = time.perf_counter() - start
    digest = hashlib.sha256(b"".join(g.wkb for g in patches.geometry)).hexdigest()[:16]
    return {"seconds": seconds, "polygons": len(patches), "digest": digest,
            "changed_pixels": int(stats["pixels_changed"]), "steps_s": stats["seconds"],
            "megapixels": stats["grid_height"] * stats["grid_width"] / 1e6}


def run_naive(world: Path, params_path: Path | None = None) -> dict:
    """The same score on whole in-memory mosaics.

    With ``params_path`` (written by the landcheck side) the scene's gains, offsets and
    reflectance scale are landcheck's, so both sides compute the same score whatever sample
    landcheck took its statistics from; without, they are fitted here on the lattice sample.
    """
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
    if params_path is not None:
        given = json.loads(Path(params_path).read_text(encoding="utf-8"))
        gains, offsets, scale = (np.asarray(given["gains"], np.float32), np.asarray(given["offsets"], np.float32),
                                 float(given["scale"]))
    else:
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


def _tile_offsets(paths, grid) -> list[tuple[str, int, int, int, int]]:
    """``(path, row_off, col_off, height, width)`` of each tile on the grid (north-up, aligned)."""
    import rasterio

    out = []
    t = grid.transform
    for p in paths:
        with rasterio.open(p) as src:
            st = src.transform
            out.append((str(p), int(round((st.f - t.f) / t.e)), int(round((st.c - t.c) / t.a)),
                        src.height, src.width))
    return out


def run_read(world: Path, chunk: int) -> dict:
    """Read both dates with rasterio, window by window over landcheck's chunks, nothing else."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    import rasterio
    from rasterio.windows import Window

    from pipeline.config import load_config
    from pipeline.imagery import axis_chunks, open_imagery

    cfg = load_config(world / "bench.yaml")
    grid = open_imagery(cfg.imagery, chunk).grid
    bands = [cfg.imagery.bands[b] for b in ("blue", "green", "red", "nir")]
    start = time.perf_counter()
    tiles = _tile_offsets(cfg.imagery.before, grid) + _tile_offsets(cfg.imagery.after, grid)
    rows, cols = axis_chunks(grid.height, chunk), axis_chunks(grid.width, chunk)
    windows = [(r0, r0 + h, c0, c0 + w)
               for r0, h in zip(np.cumsum((0,) + rows[:-1]), rows)
               for c0, w in zip(np.cumsum((0,) + cols[:-1]), cols)]

    def read_chunk(win: tuple[int, int, int, int]) -> int:
        r0, r1, c0, c1 = win
        n = 0
        for path, tr, tc, th, tw in tiles:
            a0, a1, b0, b1 = max(r0, tr), min(r1, tr + th), max(c0, tc), min(c1, tc + tw)
            if a0 < a1 and b0 < b1:
                with rasterio.open(path) as src:
                    n += src.read(bands, window=Window(b0 - tc, a0 - tr, b1 - b0, a1 - a0)).size
        return n

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        values = sum(pool.map(read_chunk, windows))
    return {"seconds": time.perf_counter() - start, "values_read": int(values),
            "megapixels": grid.height * grid.width / 1e6}


def run_read_landcheck(world: Path, chunk: int) -> dict:
    """Read both dates and the cloud masks through landcheck's reader (dask, default scheduler)."""
    import dask

    from pipeline.config import load_config
    from pipeline.imagery import open_imagery

    cfg = load_config(world / "bench.yaml")
    img = open_imagery(cfg.imagery, chunk)
    start = time.perf_counter()
    dask.compute(img.before.sum(axis=0).sum(), img.after.sum(axis=0).sum(), img.cloud.sum())
    return {"seconds": time.perf_counter() - start,
            "megapixels": img.grid.height * img.grid.width / 1e6}


def run_gdal(world: Path, params_path: Path) -> dict:
    """gdalbuildvrt + gdal_calc.py + gdal_sieve.py + gdal_polygonize.py with landcheck's parameters."""
    import subprocess
    import tempfile

    import pyogrio

    from pipeline.config import load_config

    cfg = load_config(world / "bench.yaml")
    p = json.loads(params_path.read_text(encoding="utf-8"))
    bands = cfg.imagery.bands
    gb, ob = p["gains"][0], p["offsets"][0]
    # the spectral score (detection.score.construction_score): A before blue; B, C, D after blue,
    # red, NIR; E after cloud.
    blue_gain = f"numpy.maximum((((1.0*B - {ob!r}) / {gb!r}) - A) / {p['scale']!r}, 0)"
    ndvi = "(1.0*D - C) / numpy.maximum(1.0*D + C, 1e-9)"
    red = "(1.0*C - B) / numpy.maximum(1.0*C + B, 1e-9)"
    score = (f"{blue_gain} * numpy.clip((0.35 - {ndvi}) / 0.2, 0, 1)"
             f" * numpy.clip((0.2 - {red}) / 0.1, 0, 1)")
    # valid: data in the three after bands and the before blue (0 = nodata in these tiles), no
    # cloud; written as 0 rather than nodata so that gdal_sieve can merge small patches into it
    calc = f"(({score}) > {p['threshold']!r}) * (E == 0) * (A > 0) * (B > 0) * (C > 0) * (D > 0)"
    min_px = max(1, int(round(p["min_area_m2"] / p["pixel_area_m2"])))
    steps: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="gdal_chain_") as tmp:
        t = Path(tmp)

        def run(label: str, cmd: list[str]) -> None:
            s0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            steps[label] = time.perf_counter() - s0

        start = time.perf_counter()
        run("buildvrt", ["gdalbuildvrt", "-q", str(t / "before.vrt"), *map(str, cfg.imagery.before)])
        run("buildvrt", ["gdalbuildvrt", "-q", str(t / "after.vrt"), *map(str, cfg.imagery.after)])
        clouds = list(map(str, cfg.imagery.after_cloud_masks))
        run("buildvrt", ["gdalbuildvrt", "-q", "-vrtnodata", "None", str(t / "cloud.vrt"), *clouds])
        run("gdal_calc", ["gdal_calc.py", "--quiet", "--extent=union", "--type=Byte",
                          "--hideNoData", "--co=TILED=YES",
                          "-A", str(t / "before.vrt"), f"--A_band={bands['blue']}",
                          "-B", str(t / "after.vrt"), f"--B_band={bands['blue']}",
                          "-C", str(t / "after.vrt"), f"--C_band={bands['red']}",
                          "-D", str(t / "after.vrt"), f"--D_band={bands['nir']}",
                          "-E", str(t / "cloud.vrt"),
                          f"--outfile={t / 'change.tif'}", f"--calc={calc}"])
        run("gdal_sieve", ["gdal_sieve.py", "-q", "-st", str(min_px), "-4",
                           str(t / "change.tif"), str(t / "sieved.tif")])
        run("gdal_polygonize", ["gdal_polygonize.py", "-q", str(t / "sieved.tif"),
                                "-mask", str(t / "sieved.tif"), "-f", "GPKG", str(t / "out.gpkg")])
        seconds = time.perf_counter() - start
        polygons = int(pyogrio.read_info(t / "out.gpkg")["features"])
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "polygons": polygons, "steps_s": steps,
            "min_area_px": min_px, "peak_child_rss_mb": children_mb}


def main() -> None:
    """Run one side and print its JSON line (with this process's peak RSS)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("side", choices=["make-world", "landcheck", "naive", "read", "read-landcheck",
                                         "gdal", "learned"])
    parser.add_argument("world", type=Path)
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--threshold-sample", choices=["auto", "windows"], default="auto",
                        help="landcheck: 'windows' takes the threshold from windows whatever the size")
    parser.add_argument("--stats-sample", choices=["auto", "lattice", "windows"], default="auto",
                        help="landcheck: the statistics sample on the lattice (a full read) or from "
                             "windows whatever the size")
    parser.add_argument("--baseline", action="store_true",
                        help="learned: with scipy's, LightGBM's and skimage's own calls (see run_learned)")
    parser.add_argument("--params", type=Path, default=None,
                        help="landcheck: write the score parameters here; gdal: read them from here")
    args = parser.parse_args()
    if args.side == "make-world":
        result = make_world(args.world, args.scale)
    elif args.side == "landcheck":
        result = run_landcheck(args.world, args.chunk, args.threshold_sample, args.params,
                               args.stats_sample)
    elif args.side == "learned":
        result = run_learned(args.world, args.chunk, args.baseline)
    elif args.side == "read":
        result = run_read(args.world, args.chunk)
    elif args.side == "read-landcheck":
        result = run_read_landcheck(args.world, args.chunk)
    elif args.side == "gdal":
        if args.params is None:
            parser.error("gdal needs --params (written by the landcheck side)")
        result = run_gdal(args.world, args.params)
    else:
        result = run_naive(args.world, args.params)
    result["side"] = args.side
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if "peak_child_rss_mb" in result:
        result["peak_rss_mb"] = max(result["peak_rss_mb"], result["peak_child_rss_mb"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
