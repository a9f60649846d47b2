"""The imagery: the design rasterised into one scene per date, cut into overlapping GeoTIFF
tiles (cut differently per date), and the later date's uint8 cloud masks.

The later date is misregistered: its landscape (everything but the planted construction) is
moved by :data:`SHIFT_PX` (bilinear for the fractional part), as an orthorectification error
would move it. Planted construction stays where its truth polygon is.
"""
from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio
from affine import Affine
from rasterio.features import rasterize
from shapely.geometry.base import BaseGeometry

from samplegen.features import Feature
from samplegen.frame import DATES, PROJECTED_CRS, Frame
from samplegen.landscape import Landscape
from samplegen.layout import IMAGERY_DIRS
from samplegen.patches import Patch
from samplegen.scene import Scene
from samplegen.spectra import (BAND_NAMES, ROW_BLOCK, Tables, cloud_alpha, cloud_texture,
                               finish, mottle_field, render, spectra_tables)
from samplegen.sun import cast_shadow

__all__ = ["TILE_OVERLAP_PX", "SHIFT_PX", "write_imagery", "burn", "tile_spans"]

TILE_OVERLAP_PX = 100
#: the later date's landscape moved by (east, south) pixels: sub-pixel south, a whole pixel east
SHIFT_PX = (1.0, 0.5)


def write_imagery(out_dir: Path, frame: Frame, landscape: Landscape, scene: Scene,
                  patches: Sequence[Patch], overlays: Sequence[Feature],
                  rng: np.random.Generator, scale: int) -> dict[str, list[str]]:
    """Rasterise the design into one scene per date and cut each into overlapping tiles.

    Parameters
    ----------
    out_dir : Path
        The sample folder.
    frame : Frame
    landscape : Landscape
    scene : Scene
    patches : sequence of Patch
        Painted (their ``features``) on the later date only, not shifted.
    overlays : sequence of Feature
        False changes painted over the landscape on the later date (water level, greenhouses).
    rng : numpy.random.Generator
    scale : int
        ``2 * scale`` tiles per side.

    Returns
    -------
    dict
        ``before_tiles``, ``after_tiles``, ``cloud_masks``: the written paths.
    """
    land = list(landscape.features)
    planted = [f for p in patches for f in p.features]
    features = land + list(overlays) + planted
    tables = spectra_tables(features, rng)
    shape = (frame.height, frame.width)
    t = frame.transform
    ids_before = burn(shape, t, [f.geometry for f in land])
    ids_land = burn(shape, t, [f.geometry for f in overlays], first_id=len(land) + 1,
                    out=ids_before.copy())
    ids_after = burn(shape, t, [f.geometry for f in planted],
                     first_id=len(land) + len(overlays) + 1, out=ids_land.copy())
    shadow_before = cast_shadow(tables.height[ids_before], "before")
    shadow_land = cast_shadow(tables.height[ids_land], "after")
    shadow_after = cast_shadow(tables.height[ids_after], "after")
    # planted construction and the shadows it casts are painted where they are; the rest moves
    planted_zone = (ids_after > len(land) + len(overlays)) | (shadow_after & ~shadow_land)
    valid = {d: burn(shape, t, [g]) > 0 for d, g in scene.footprints.items()}
    cloud = (burn(shape, t, [scene.cloud]) > 0) & valid["after"]
    alpha = cloud_alpha(cloud)
    texture = cloud_texture(shape, rng)
    mottle = mottle_field(shape, rng)
    cols = np.arange(shape[1])
    written: dict[str, list[str]] = {"before_tiles": [], "after_tiles": [], "cloud_masks": []}
    for date in ("before", "after"):  # one date in memory at a time
        is_after = date == "after"
        data = np.zeros((4, *shape), dtype=np.uint16)
        for r0 in range(0, shape[0], ROW_BLOCK):
            rows = np.arange(r0, min(r0 + ROW_BLOCK, shape[0]))
            block = slice(rows[0], rows[-1] + 1)
            if is_after:
                moved = _shifted(tables, ids_land, shadow_land, mottle, rows, cols, shape)
                here = render(tables, "after", ids_after, shadow_after, mottle, rows, cols)
                dn = np.where(planted_zone[block], here, moved)
                data[:, block] = finish(dn, valid["after"][block], rng,
                                        (alpha[block], texture[block]))
            else:
                dn = render(tables, "before", ids_before, shadow_before, mottle, rows, cols)
                data[:, block] = finish(dn, valid["before"][block], rng, None)
        for name, rows_, cols_ in tile_spans(frame, scale, phase=0.15 if is_after else 0.0):
            if not valid[date][rows_, cols_].any():
                continue
            stem = f"{DATES[date].replace('-', '')}_{name}"
            path = out_dir / IMAGERY_DIRS[date] / f"{stem}.tif"
            _write_tile(path, data[:, rows_, cols_], frame, rows_, cols_, date)
            written[f"{date}_tiles"].append(str(path))
            if is_after:
                mask_path = out_dir / IMAGERY_DIRS["cloud"] / f"{stem}_cloud.tif"
                _write_mask(mask_path, cloud[rows_, cols_], frame, rows_, cols_)
                written["cloud_masks"].append(str(mask_path))
        del data
    return written


def _shifted(tables: Tables, ids: np.ndarray, shadow: np.ndarray, mottle: np.ndarray,
             rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The later date's landscape at ``rows`` x ``cols``, content moved by :data:`SHIFT_PX`
    (bilinear between the four source pixels; edges repeat)."""
    east, south = SHIFT_PX
    out = np.zeros((4, rows.size, cols.size), dtype=np.float32)
    for dy, wy in ((math.floor(south), 1 - (south - math.floor(south))),
                   (math.floor(south) + 1, south - math.floor(south))):
        for dx, wx in ((math.floor(east), 1 - (east - math.floor(east))),
                       (math.floor(east) + 1, east - math.floor(east))):
            weight = wy * wx
            if weight == 0:
                continue
            src_rows = np.clip(rows - dy, 0, shape[0] - 1)
            src_cols = np.clip(cols - dx, 0, shape[1] - 1)
            out += np.float32(weight) * render(tables, "after", ids, shadow, mottle, src_rows,
                                               src_cols)
    return out


def burn(shape: tuple[int, int], transform: Affine, geoms: Sequence[BaseGeometry],
         first_id: int = 1, out: np.ndarray | None = None) -> np.ndarray:
    """Rasterise ``geoms`` with ids ``first_id, first_id + 1, ...`` (later ones on top).

    Parameters
    ----------
    shape : tuple of int
    transform : affine.Affine
    geoms : sequence of shapely geometry
    first_id : int, optional
    out : numpy.ndarray of int32, optional
        Burned into in place; a new zero array when None.

    Returns
    -------
    numpy.ndarray of int32
    """
    if out is None:
        out = np.zeros(shape, dtype=np.int32)
    if geoms:
        rasterize(zip(geoms, range(first_id, first_id + len(geoms))), out=out,
                  transform=transform)
    return out


def tile_spans(frame: Frame, scale: int, *, phase: float) -> list[tuple[str, slice, slice]]:
    """(name, rows, cols) of ``2 * scale`` x ``2 * scale`` overlapping tiles.

    Parameters
    ----------
    frame : Frame
    scale : int
    phase : float
        Shifts the inner cuts by a fraction of a tile so the dates are cut differently.

    Returns
    -------
    list of tuple
    """
    n = 2 * scale

    def spans(length: int) -> list[slice]:
        cuts = [0] + [round(length * (i + phase) / n) for i in range(1, n)] + [length]
        half = TILE_OVERLAP_PX // 2
        return [slice(max(a - half, 0), min(b + half, length))
                for a, b in pairwise(cuts)]

    return [(f"r{i}c{j}", rows, cols) for i, rows in enumerate(spans(frame.height))
            for j, cols in enumerate(spans(frame.width))]


def _tile_profile(frame: Frame, rows: slice, cols: slice, count: int, dtype: str) -> dict:
    transform = frame.transform @ Affine.translation(cols.start, rows.start)
    return {"driver": "GTiff", "width": cols.stop - cols.start, "height": rows.stop - rows.start,
            "count": count, "dtype": dtype, "crs": PROJECTED_CRS, "transform": transform,
            "compress": "deflate", "predictor": 2, "zlevel": 9, "tiled": True,
            "blockxsize": 256, "blockysize": 256}


def _write_tile(path: Path, data: np.ndarray, frame: Frame, rows: slice, cols: slice,
                date: str) -> None:
    profile = _tile_profile(frame, rows, cols, 4, "uint16") | {"nodata": 0}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.update_tags(ACQUISITION_DATE=DATES[date], REFLECTANCE_SCALE="10000")
        for i, name in enumerate(BAND_NAMES, start=1):
            dst.set_band_description(i, name)


def _write_mask(path: Path, cloud: np.ndarray, frame: Frame, rows: slice, cols: slice) -> None:
    with rasterio.open(path, "w", **_tile_profile(frame, rows, cols, 1, "uint8")) as dst:
        dst.write(cloud.astype(np.uint8), 1)
        dst.update_tags(ACQUISITION_DATE=DATES["after"], VALUES="1 = cloud, 0 = clear")
