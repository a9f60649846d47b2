"""`make bench`: run each benchmark side in its own process and write docs/benchmarks.md.

Each side runs in a fresh Python process so its peak RSS is its own. Both sides of
a comparison run in the same invocation, on the same machine, on the same data,
and their results are checked to agree before a ratio is reported.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DOC = REPO / "docs" / "benchmarks.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def side(script: str, *args: str) -> dict:
    """Run one benchmark side in a subprocess and parse its JSON line."""
    cmd = [sys.executable, str(HERE / script), *args]
    print("  $", " ".join(cmd[1:]), flush=True)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


OVERLAY_RUNS = (
    # (patches, parcel cells, shapes): rectangles, then
    # pixel-traced patches on irregular parcels (bench/overlay_bench.py --shapes realistic)
    (5000, 20000, "rect"), (50000, 200000, "rect"), (200000, 700000, "rect"),
    (50000, 200000, "realistic"),
    # (200000, 700000, "realistic") adds about 15 min here; run it by hand:
    #   bench/overlay_bench.py landcheck|naive --patches 200000 --parcels 700000 --shapes realistic
)


def overlay_rows() -> list[str]:
    rows = []
    for n_patches, n_parcels, shapes in OVERLAY_RUNS:
        print(f"overlay: {n_patches} patches, {n_parcels} parcel cells, {shapes} shapes", flush=True)
        args = ("--patches", str(n_patches), "--parcels", str(n_parcels), "--shapes", shapes)
        ours = side("overlay_bench.py", "landcheck", *args)
        naive = side("overlay_bench.py", "naive", *args)
        agree = _totals_agree(ours["totals"], naive["totals"])
        kind = "" if shapes == "rect" else ", pixel-traced patches x irregular parcels"
        rows.append(_row(f"overlay{kind}, {ours['patches']:,} patches x {ours['parcels']:,} parcels", ours,
                         "geopandas.overlay chain", naive, agree))
    return rows


DETECTION: dict = {}  # filled by detection_rows(): the side-by-side table below the main one


def detection_rows() -> list[str]:
    """Detection rows of the main table, and (in DETECTION) the read / GDAL comparison table."""
    script = HERE / "detect_bench.py"
    if not script.exists():
        return []
    rows = []
    world = REPO / "bench" / "out" / "world"
    params = REPO / "bench" / "out" / "detect_params.json"
    print("detection: generating a scale-3 sample world", flush=True)
    side("detect_bench.py", "make-world", str(world), "--scale", "3")
    naive = None
    table = []
    for chunk, sample in (("256", "auto"), ("1024", "auto"), ("1024", "windows")):
        ours = side("detect_bench.py", "landcheck", str(world), "--chunk", chunk,
                    "--threshold-sample", sample, "--params", str(params))
        if naive is None:  # the same scene statistics as landcheck (its sample of this image)
            naive = side("detect_bench.py", "naive", str(world), "--params", str(params))
        if sample == "windows":  # its own threshold, from windows: within 0.5 % of the pixels
            agree = abs(ours["changed_pixels"] - naive["changed_pixels"]) <= 0.005 * naive["changed_pixels"]
        else:
            agree = ours["changed_pixels"] == naive["changed_pixels"]
        label = f"detection, {ours['megapixels']:.1f} Mpx x 2 dates, chunk_px {chunk}"
        if sample == "windows":
            label += ", threshold from windows (forced)"
        rows.append(_row(label, ours, "whole-array numpy + rasterio.merge", naive, agree))
        read = side("detect_bench.py", "read", str(world), "--chunk", chunk)
        reader = side("detect_bench.py", "read-landcheck", str(world), "--chunk", chunk)
        gdal = side("detect_bench.py", "gdal", str(world), "--params", str(params))
        table.append(
            f"| {chunk} | {ours['threshold_sample']} | {ours['seconds']:.2f} | {ours['peak_rss_mb']:.0f} | "
            f"{read['seconds']:.2f} | {ours['seconds'] / read['seconds']:.1f} | "
            f"{reader['seconds']:.2f} | {ours['seconds'] / reader['seconds']:.1f} | "
            f"{gdal['seconds']:.2f} | {gdal['peak_rss_mb']:.0f} | {ours['seconds'] / gdal['seconds']:.2f} | "
            f"{ours['polygons']} / {gdal['polygons']} |")
    for i, line in enumerate(table):
        table[i] = f"| synthetic sample, {ours['megapixels']:.0f} Mpx " + line
    table.append(_big_pair_row())
    # the learned default against the same method on the library calls it replaced
    learned = side("detect_bench.py", "learned", str(world), "--chunk", "512")
    baseline = side("detect_bench.py", "learned", str(world), "--chunk", "512", "--baseline")
    rows.append(_row(f"learned detection (the default), {learned['megapixels']:.1f} Mpx x 2 dates, "
                     f"chunk_px 512", learned, "the same on scipy / LightGBM / skimage calls", baseline,
                     learned["digest"] == baseline["digest"]))
    DETECTION["table"] = """| world | chunk_px | threshold from | landcheck s | landcheck MB | read both dates s | ours / read | landcheck reader s | ours / reader | GDAL chain s | GDAL MB | ours / GDAL | polygons (ours / GDAL) |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(table)
    return rows


def _big_pair_row() -> str:
    """The issue's size on real texture (``bench/big_pair.py``, generated once): landcheck, the
    read alone, landcheck's reader and the GDAL chain, side by side."""
    world = REPO / "bench" / "out" / "big_pair"
    params = REPO / "bench" / "out" / "big_pair_params.json"
    if not (world / "bench.yaml").exists():
        print("detection: generating the 12,000 x 12,000 NAIP-texture pair (about a minute)", flush=True)
        subprocess.run([sys.executable, str(HERE / "big_pair.py"), str(world)], check=True, cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    ours = side("detect_bench.py", "landcheck", str(world), "--chunk", "1024", "--params", str(params))
    read = side("detect_bench.py", "read", str(world), "--chunk", "1024")
    reader = side("detect_bench.py", "read-landcheck", str(world), "--chunk", "1024")
    gdal = side("detect_bench.py", "gdal", str(world), "--params", str(params))
    return (f"| NAIP texture, {ours['megapixels']:.0f} Mpx (`big_pair.py`) | 1024 | {ours['threshold_sample']} | "
            f"{ours['seconds']:.2f} | {ours['peak_rss_mb']:.0f} | "
            f"{read['seconds']:.2f} | {ours['seconds'] / read['seconds']:.1f} | "
            f"{reader['seconds']:.2f} | {ours['seconds'] / reader['seconds']:.1f} | "
            f"{gdal['seconds']:.2f} | {gdal['peak_rss_mb']:.0f} | {ours['seconds'] / gdal['seconds']:.2f} | "
            f"{ours['polygons']} / {gdal['polygons']} |")


def _row(task: str, ours: dict, alt_name: str, alt: dict, agree: bool) -> str:
    return (f"| {task} | {ours['seconds']:.2f} | {ours['peak_rss_mb']:.0f} | {alt_name} | "
            f"{alt['seconds']:.2f} | {alt['peak_rss_mb']:.0f} | {alt['seconds'] / ours['seconds']:.2f} | "
            f"{ours['peak_rss_mb'] / alt['peak_rss_mb']:.2f} | {'yes' if agree else 'NO'} |")


def _totals_agree(a: dict, b: dict, tol: float = 0.05) -> bool:
    return a.keys() == b.keys() and all(
        abs(a[k][c] - b[k][c]) <= tol for k in a for c in a[k])


def main() -> None:
    rows = overlay_rows() + detection_rows()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""Measured by `make bench` on {when}: {platform.machine()}, {os.cpu_count()} cores, Python
{platform.python_version()}. Each side runs in its own process; peak memory is that process's max RSS
(including the Python interpreter and libraries, about 100 MB). Both sides read the same generated
data and must give the same result ("agree").

| task | landcheck s | landcheck MB | alternative | alt. s | alt. MB | speed-up (alt. s / ours) | memory (ours / alt.) | agree |
|---|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + """

""" + DETECTION.get("table", "") + """

- **overlay**: `overlay.split.split_patches` (spatial-index pairs; the areas of (patch, parcel) and
  (patch, parcel, approval) intersections measured by a compiled kernel without building them
  (`overlay/overlap_areas.py`) wherever only an area is needed; disjoint parts summed where measured
  common areas show a layer overlap-free, a union only where its features overlap) against what an analyst would script: `geopandas.overlay` patches x counties,
  x farmland, dissolve per piece, x the union of approvals. Synthetic world: four 10 km counties, a
  coverage of parcels sharing exact corners (a topologically built layer), 2,000 approvals, random 20-80 m patches
  (`bench/overlay_bench.py`). Agreement: county totals equal to 0.05 m² (the chain applies landcheck's
  0.01 m² sliver rule). In the plain rows every patch and parcel is a rectangle; the "pixel-traced" rows
  (`--shapes realistic`) use staircase patches traced from 2 m pixel blobs as detection makes them
  (concave, about one in ten with holes) on a coverage of irregular parcels of four to eight vertices
  (a perturbed grid sharing every vertex, about a third convex), closer to real layers.
- **detection**: `pipeline.detect.detect_patches` (dask chunks, bounded memory) against the same
  score computed on whole numpy arrays read at once (`bench/detect_bench.py`), with the scene's
  gains, offsets and scale landcheck found (its statistics sample: a lattice up to 4 Mpx, 16 small
  windows above). Agreement: identical count of changed pixels (within 0.5 % for the row whose
  threshold comes from windows). Every detection side uses the simple registered spectral score with
  Otsu's threshold (not the learned default, which neither the whole-array side nor `gdal_calc.py`
  can express).
- **learned detection**: the default method, `bench/detect_bench.py learned`, against the same
  detection on the library calls landcheck replaced (`--baseline`): scipy's `grey_opening` /
  `grey_closing` with line footprints instead of `detection/morphology.py`, LightGBM's
  `Booster.predict` instead of `detection/trees.py`, the model run on each block's whole overlap,
  skimage's `felzenszwalb` instead of `detection/graph_segments.py`. Agreement: the same polygons,
  byte for byte (a digest of their WKB).

Reading the detection rows: landcheck reads the imagery in full once for the score, threshold,
clean-up, vectorisation and the object test (one small window of the after date per kept patch),
after a sample for the scene statistics: a lattice of pixels up to 4 Mpx (a full read, as its
stride is below the tile blocks), 16 small windows read straight from the tiles above (this
world). The threshold comes from the score of every pixel, kept in memory, up to
16 Mpx (this world), from 64 windows of 256 px above (the "forced" row runs that rule here: its
threshold may differ slightly from the whole-array one). The second table sets the same runs side by side with
the time to read both dates alone (rasterio, window by window over the same chunks, 4 bands, native
type, as many threads as cores), with landcheck's reader alone (pipeline.imagery: NaN fill, nodata,
tile priority, cloud masks), and with the GDAL command-line chain on the same pair (`gdalbuildvrt`,
`gdal_calc.py` with the score and the gains, offsets and threshold landcheck found,
`gdal_sieve.py` at the minimum area in place of the opening / closing, `gdal_polygonize.py`; its
memory is its largest process's; it finds more polygons since a sieve is not an opening). The
whole-array version's memory grows with the raster (about 100 MB per megapixel of two 4-band dates
here), while landcheck's is set by `chunk_px`. Small chunks (256) cost time in per-task overhead;
1024 is the spectral score's default (512 the learned one's). The last row is the issue's size on real texture (`bench/big_pair.py`: the
NAIP North Dakota scene of 2019 and 2020 mirrored to 12,000 x 12,000 px, 4 bands of 12-bit values
in uint16, 1.8 GB of DEFLATE tiles, generated once into `bench/out/big_pair`): real fields and
water give thousands of patches, the object test's part grows with them (one after-date window
per patch, segmented), and reading costs more per pixel than on the smooth synthetic sample.
"""
    write_block(DOC, text)
    print(text)


def write_block(doc: Path, block: str) -> None:
    """Replace the text between the bench markers of ``doc``, keeping every other section
    (``make eval`` writes its own block in the same file)."""
    old = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    new = f"{START}\n{block.rstrip()}\n{END}"
    if START in old and END in old:
        text = old[:old.index(START)] + new + old[old.index(END) + len(END):]
    else:
        text = old.rstrip() + "\n\n" + new + "\n"
    doc.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
