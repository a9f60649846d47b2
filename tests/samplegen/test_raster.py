"""samplegen.raster (and .spectra, .scene): tile format, cuts, nodata edges, clouds and masks."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.features import geometry_mask
from rasterio.merge import merge
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from samplegen.frame import MARGIN_M, PIXEL_M, make_frame
from samplegen.layout import IMAGERY_DIRS, TRUTH_FILE
from samplegen.raster import SHIFT_PX
from samplegen.scene import CLOUD_FEATHER_M
from samplegen.spectra import DN_STEP
from tests.samplegen.helpers import read, read_raster, tiles


def test_tiles_format(world):
    root = world[0]
    for kind, date in (("before", "2024-10-15"), ("after", "2025-10-12")):
        paths = tiles(root, kind)
        assert len(paths) >= 4, kind
        for path in paths:
            with rasterio.open(path) as src:
                assert (src.count, src.dtypes[0], src.nodata) == (4, "uint16", 0), path.name
                assert src.crs.to_epsg() == 4551 and src.res == (2.0, 2.0), path.name
                t = src.transform
                assert t.b == 0 and t.d == 0 and t.c % 2 == 0 and t.f % 2 == 0, path.name
                assert src.tags()["ACQUISITION_DATE"] == date
                assert src.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
                assert src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"
                assert set(src.block_shapes) == {(256, 256)}
                assert src.descriptions == ("blue", "green", "red", "nir")


def _bounds(path: Path) -> tuple[float, ...]:
    with rasterio.open(path) as src:
        return tuple(src.bounds)


def test_dates_are_cut_differently_with_nodata_edges(world):
    root = world[0]
    bounds = {kind: {_bounds(p) for p in tiles(root, kind)} for kind in ("before", "after")}
    assert bounds["before"].isdisjoint(bounds["after"])
    for kind in ("before", "after"):
        nodata = [(read_raster(p)[0] == 0).all(axis=0).mean() for p in tiles(root, kind)]
        assert max(nodata) > 0.05 and max(nodata) < 0.5, (kind, nodata)


def test_overlapping_tiles_hold_the_same_values(world):
    root = world[0]
    for kind in ("before", "after"):
        arrays = [(data, meta["transform"]) for data, meta in map(read_raster, tiles(root, kind))]
        overlaps = 0
        for (a, ta), (b, tb) in itertools.combinations(arrays, 2):
            col, row = int((tb.c - ta.c) / 2), int((ta.f - tb.f) / 2)
            ra, ca = max(row, 0), max(col, 0)
            rb, cb = max(-row, 0), max(-col, 0)
            h = min(a.shape[1] - ra, b.shape[1] - rb)
            w = min(a.shape[2] - ca, b.shape[2] - cb)
            if h > 0 and w > 0:
                overlaps += 1
                np.testing.assert_array_equal(a[:, ra:ra + h, ca:ca + w],
                                              b[:, rb:rb + h, cb:cb + w])
        assert overlaps >= 4, kind


def _opaque_core(cloud: np.ndarray) -> np.ndarray:
    """Cloud pixels more than the feather distance inside the mask and the tile (opaque)."""
    inside = ndimage.distance_transform_edt(np.pad(cloud, 1))[1:-1, 1:-1] * PIXEL_M
    return inside > CLOUD_FEATHER_M


def test_cloud_masks_align_and_cover_the_cloud(world):
    root = world[0]
    after, masks = tiles(root, "after"), tiles(root, "cloud")
    assert [m.name for m in masks] == [t.stem + "_cloud.tif" for t in after]
    cloudy = 0
    for tile, mask in zip(after, masks):
        data, meta = read_raster(tile)
        flag, mask_meta = read_raster(mask)
        assert mask_meta["dtype"] == "uint8"
        assert (mask_meta["transform"], mask_meta["crs"]) == (meta["transform"], meta["crs"])
        assert flag.shape[1:] == data.shape[1:]
        assert set(np.unique(flag)) <= {0, 1}
        cloud = flag[0] == 1
        clear = ~cloud & (data > 0).all(axis=0)
        assert data[:, clear].max() < 5000, f"{tile.name}: bright pixel outside the cloud mask"
        cloudy += int(cloud.sum())
        core = _opaque_core(cloud)
        if core.any():
            assert (data[:, core] > 5500).all(), f"{tile.name}: cloud core not bright"
    assert cloudy > 1000


def test_planted_patches_are_clear_of_cloud_and_nodata(world):
    root = world[0]
    patches = read(root / TRUTH_FILE, "planted_patches")
    zones = patches.geometry.buffer(MARGIN_M, join_style="mitre")
    for kind in ("before", "after"):
        covered = np.zeros(len(patches), dtype=bool)
        for path in tiles(root, kind):
            data, meta = read_raster(path)
            shape = data.shape[1:]
            mask = root / IMAGERY_DIRS["cloud"] / f"{path.stem}_cloud.tif"
            cloud = read_raster(mask)[0][0] == 1 if kind == "after" else np.zeros(shape, bool)
            bad = (data == 0).any(axis=0) | cloud
            for k, zone in enumerate(zones):
                near = ~geometry_mask([zone], shape, meta["transform"], all_touched=True)
                assert not (near & bad).any(), f"{patches.truth_id[k]}: nodata/cloud in {path.name}"
                inner = ~geometry_mask([patches.geometry[k]], shape, meta["transform"])
                covered[k] |= inner.sum() * 4 == round(patches.geometry[k].area)
        assert covered.all(), f"{kind}: a patch is not wholly inside any tile"


def test_dn_are_stored_in_steps(world):
    data = read_raster(tiles(world[0], "after")[0])[0]
    assert (data % DN_STEP == 0).all()


def _mosaic(root, kind: str) -> tuple[np.ndarray, Affine]:
    """One date's tiles merged on the sample window (0 = nodata)."""
    srcs = [rasterio.open(p) for p in tiles(root, kind)]
    try:
        frame = make_frame(1)
        arr, transform = merge(srcs, bounds=(frame.west, frame.south, frame.east, frame.north),
                               nodata=0, method="max" if kind == "cloud" else "first")
    finally:
        for s in srcs:
            s.close()
    return arr, transform


#: what a material's site looks like on the later date: a test on its pixels' (B, G, R, NIR)
#: and the share of the site's pixels that must pass it (the rest: lanes, ground, shadows)
SIGNATURES = {
    # sunlit slopes only (the shaded ones are as dark as ploughed soil)
    "red_tile": (lambda b, g, r, n: (r > 1.8 * b) & (r > 1.4 * g) & (r > 1400) & (n > 2500), 0.25),
    "blue_steel": (lambda b, g, r, n: (b > 1.4 * r) & (b > g) & (b > 1600), 0.45),
    "white_steel": (lambda b, g, r, n: np.minimum(np.minimum(b, g), r) > 2800, 0.45),
    "grey_concrete": (lambda b, g, r, n: (b > 1500) & (abs(r - b) < 0.15 * (r + b)), 0.3),
    "asphalt": (lambda b, g, r, n: np.maximum(np.maximum(b, g), np.maximum(r, n)) < 1100, 0.8),
    "earthworks": (lambda b, g, r, n: (r > 1.3 * b) & (b > 1100) & (n < 3300), 0.8),
}


def test_new_construction_appears_in_the_after_date_only(world):
    """Each site shows its material's signature on the later date and not on the earlier."""
    root = world[0]
    patches = read(root / TRUTH_FILE, "planted_patches")
    (before, transform), (after, _) = _mosaic(root, "before"), _mosaic(root, "after")
    assert set(patches["material"]) == set(SIGNATURES)
    for row in patches.itertuples():
        inside = ~geometry_mask([row.geometry], before.shape[1:], transform)
        test, share = SIGNATURES[row.material]
        now = test(*after[:, inside].astype(np.float32)).mean()
        then = test(*before[:, inside].astype(np.float32)).mean()
        assert now >= share, f"{row.truth_id} ({row.material}): {now:.2f} of its pixels look so"
        assert then < 0.2, f"{row.truth_id} ({row.material}): already there before ({then:.2f})"


def test_later_date_is_shifted_as_designed(world):
    """Phase correlation of the dates on a clear, unchanged-looking window finds SHIFT_PX."""
    (before, _), (after, _) = _mosaic(world[0], "before"), _mosaic(world[0], "after")
    rows, cols = slice(350, 650), slice(500, 1100)  # imaged on both dates at scale 1
    for band in range(4):
        shift, _, _ = phase_cross_correlation(before[band, rows, cols].astype(float),
                                              after[band, rows, cols].astype(float),
                                              upsample_factor=20)
        east, south = SHIFT_PX
        assert shift == pytest.approx([-south, -east], abs=0.15), (band, shift)
