"""The issue's detection size on real texture: a 12,000 x 12,000 x 4 uint16 pair of DEFLATE tiles.

    python bench/big_pair.py DIR [--size 12000] [--tiles 2]

``make bench``'s detection world (``detect_bench.py make-world``) is the synthetic sample at
13 Mpx: smooth surfaces that DEFLATE shrinks to a third, so reading it is fast and every
"x read time" figure on it is harsh. This world is the size issue 8 measured (144 Mpx per date,
about 1.8 GB of DEFLATE tiles) with the texture of real imagery: the NAIP North Dakota
quarter-quad of ``../shared/data`` (2019-09-04 before, 2020-08-31 after: real field and water
changes), mirrored to the full size, scaled to 12 bits (value x 16 plus deterministic noise
below 16, so the low bits carry no pattern DEFLATE could use, as in a real 16-bit sensor),
bands written blue, green, red, NIR, on a 2 m grid in EPSG:4551. Each date is
``tiles x tiles`` GeoTIFFs (DEFLATE, 256 px blocks), the after date with clear cloud masks
(the GDAL chain of ``detect_bench.py`` reads them). ``DIR/bench.yaml`` points at them (the
vector layers are the sample world's: detection does not read them), so
``detect_bench.py landcheck|read|gdal DIR`` run on it unchanged.
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

REPO = Path(__file__).resolve().parents[1]
NAIP = REPO.parent / "shared" / "data" / "naip_north_dakota"
DATES = {"before": "20190904", "after": "20200831"}
X0, Y0, RES = 500000.0, 4500000.0, 2.0
SEED = 2026


def _reflect(n: int, period: int) -> np.ndarray:
    """Indices 0..n-1 folded onto 0..period-1 as a mirror (0 1 .. p-1 p-1 .. 1 0 0 1 ..)."""
    k = np.arange(n) % (2 * period)
    return np.where(k < period, k, 2 * period - 1 - k)


def write_date(out: Path, naip_tif: Path, size: int, tiles: int, seed: int) -> list[Path]:
    with rasterio.open(naip_tif) as src:
        rgbn = src.read()  # R, G, B, NIR uint8
    bgrn = rgbn[[2, 1, 0, 3]].astype(np.uint16)
    rows, cols = _reflect(size, bgrn.shape[1]), _reflect(size, bgrn.shape[2])
    step = size // tiles
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    rng = np.random.default_rng(seed)
    for ti in range(tiles):
        for tj in range(tiles):
            r0, c0 = ti * step, tj * step
            r1, c1 = (size if ti == tiles - 1 else r0 + step), (size if tj == tiles - 1 else c0 + step)
            block = bgrn[:, rows[r0:r1]][:, :, cols[c0:c1]] * np.uint16(16)
            block += rng.integers(0, 16, size=block.shape, dtype=np.uint16)
            block[block == 0] = 1  # 0 is the tiles' nodata
            path = out / f"r{ti}c{tj}.tif"
            profile = dict(driver="GTiff", height=r1 - r0, width=c1 - c0, count=4, dtype="uint16",
                           crs="EPSG:4551", transform=Affine(RES, 0, X0 + c0 * RES, 0, -RES, Y0 - r0 * RES),
                           nodata=0, tiled=True, blockxsize=256, blockysize=256, compress="deflate")
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(block)
            paths.append(path)
            if out.name == "after":  # a cloud mask per tile, clear (the GDAL chain expects masks)
                cloud = out.parent / "after_cloud"
                cloud.mkdir(exist_ok=True)
                with rasterio.open(cloud / path.name, "w", **{**profile, "count": 1, "dtype": "uint8",
                                                              "nodata": None}) as dst:
                    dst.write(np.zeros((1, r1 - r0, c1 - c0), np.uint8))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--size", type=int, default=12000)
    ap.add_argument("--tiles", type=int, default=2)
    args = ap.parse_args()
    world = args.dir
    started = time.perf_counter()
    for k, (date, stamp) in enumerate(DATES.items()):
        write_date(world / "tiles" / date, NAIP / f"m_4709963_se_14_1_{stamp}.tif", args.size, args.tiles, SEED + k)
    vectors = world / "vectors"
    if not vectors.exists():  # the sample world's layers: the config needs them, detection does not
        shutil.copytree(REPO / "bench" / "out" / "world" / "tiles" / "vectors", vectors)
    (world / "bench.yaml").write_text(
        "# Written by bench/big_pair.py: the issue's 12,000 x 12,000 x 4 uint16 pair on NAIP texture.\n"
        "year: 2025\n"
        "imagery:\n  before: tiles/before/*.tif\n  after: tiles/after/*.tif\n"
        "  bands: {blue: 1, green: 2, red: 3, nir: 4}\n"
        "  after_cloud_masks: tiles/after_cloud/*.tif\n"
        "  before_date: '2019-09-04'\n  after_date: '2020-08-31'\n"
        "layers:\n"
        "  counties: {path: vectors/counties.gpkg, layer: counties, code_field: XZQDM, name_field: XZQMC}\n"
        "  farmland: {path: vectors/farmland.gpkg, layer: farmland}\n"
        "  basic_farmland: {path: vectors/basic_farmland.shp}\n"
        "  approved: {path: vectors/approved.gpkg, layer: approved}\n"
        "detection:\n  min_area_m2: 400\n"
        "output: out\n", encoding="utf-8")
    size_mb = sum(p.stat().st_size for p in (world / "tiles").rglob("*.tif")) / 1e6
    print(f"{world}: {args.size} x {args.size} x 4 uint16 per date, {size_mb:,.0f} MB of tiles, "
          f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
