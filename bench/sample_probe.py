"""Probe a model on the committed sample (exploration tool, not a quality measure): mean and
90th-percentile probability on each planted material and false-change case.

    python bench/sample_probe.py MODEL.txt [MODEL2.txt ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def mosaic(folder: Path):
    import rasterio
    from rasterio.merge import merge

    srcs = [rasterio.open(p) for p in sorted(folder.glob("*.tif"))]
    arr, transform = merge(srcs, nodata=0)
    return arr.astype(np.float32), transform, srcs[0].crs


def main() -> None:
    import geopandas as gpd
    from rasterio.features import rasterize

    from detection.compose import Settings, detect_arrays

    root = REPO / "data" / "sample_tiles"
    before, transform, crs = mosaic(root / "imagery" / "before")
    after, _, _ = mosaic(root / "imagery" / "after")
    for img in (before, after):
        img[img == 0] = np.nan
    truth = root / "truth" / "truth.gpkg"
    planted = gpd.read_file(truth, layer="planted_patches").to_crs(crs)
    false = gpd.read_file(truth, layer="false_changes").to_crs(crs)
    shape = before.shape[1:]

    def zones(frame, key):
        out = {}
        for name, grp in frame.groupby(key):
            out[name] = rasterize(((g, 1) for g in grp.geometry), out_shape=shape, transform=transform) > 0
        return out

    zs = {**{f"+{k}": v for k, v in zones(planted, "material").items()},
          **{f"-{k}": v for k, v in zones(false, "case").items()}}
    for model in sys.argv[1:]:
        res = detect_arrays(before, after, pixel_size_m=2.0,
                            settings=Settings(model=model, threshold=0.99), dtype="uint16")
        s = res.score
        line = [Path(model).parent.name + "/" + Path(model).stem]
        for k, z in zs.items():
            v = s[z & np.isfinite(s)]
            line.append(f"{k} {v.mean():.2f}/{np.quantile(v, .9):.2f}")
        print(" | ".join(line), flush=True)


if __name__ == "__main__":
    main()
