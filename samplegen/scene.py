"""Where each date has data (slanted, jagged scan edges) and where the later date is cloudy."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from shapely import affinity
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from samplegen.frame import MARGIN_M, PIXEL_M, Frame, union

__all__ = ["SCAN_EDGES", "CLOUD_FEATHER_M", "Scene", "design_scene"]

#: nodata corners per date, as fractions of the window: the north-west cut reaches this far down
#: the west edge and along the north edge, the south-east cut along the south and up the east edge
SCAN_EDGES = {"before": ((0.35, 0.45), (0.45, 0.55), (0.45, 0.55), (0.10, 0.15)),
              "after": ((0.30, 0.40), (0.40, 0.50), (0.50, 0.60), (0.15, 0.20))}
CLOUD_FEATHER_M = 40


@dataclass(frozen=True)
class Scene:
    """Where each date has data and where the later date is cloudy (EPSG:4551 polygons)."""

    footprints: dict[str, BaseGeometry]
    cloud: BaseGeometry

    @property
    def safe(self) -> BaseGeometry:
        """Where planted construction may go: imaged on both dates, away from edges and cloud."""
        both = self.footprints["before"].intersection(self.footprints["after"])
        # +2 m: a pixel whose centre is inside a polygon reaches up to one pixel beyond it
        return both.buffer(-MARGIN_M - PIXEL_M).difference(self.cloud.buffer(MARGIN_M + PIXEL_M))


def design_scene(frame: Frame, scale: int, rng: np.random.Generator) -> Scene:
    """Each date's footprint and the later date's clouds.

    A date is a strip running south-west to north-east: its slanted, jagged scan edges cut off
    the window's north-west and south-east corners (zero-filled), differently for each date.

    Parameters
    ----------
    frame : Frame
    scale : int
        One cloud per cell of a ``scale`` x ``scale`` split of the window.
    rng : numpy.random.Generator

    Returns
    -------
    Scene
    """
    w, h = frame.east - frame.west, frame.north - frame.south
    footprints = {}
    for date, (down_west, along_north, along_south, up_east) in SCAN_EDGES.items():
        nw = _scan_edge_cut((frame.west, frame.north),
                            (frame.west, frame.north - h * rng.uniform(*down_west)),
                            (frame.west + w * rng.uniform(*along_north), frame.north), rng)
        se = _scan_edge_cut((frame.east, frame.south),
                            (frame.east - w * rng.uniform(*along_south), frame.south),
                            (frame.east, frame.south + h * rng.uniform(*up_east)), rng)
        footprints[date] = frame.polygon.difference(nw).difference(se)
    clouds = [_cloud(frame, i, j, scale, rng) for i in range(scale) for j in range(scale)]
    return Scene(footprints=footprints, cloud=union(clouds))


def _scan_edge_cut(corner: tuple[float, float], start: tuple[float, float],
                   end: tuple[float, float], rng: np.random.Generator) -> Polygon:
    """The corner triangle cut off by a slightly jagged line from ``start`` to ``end``."""
    t = np.linspace(0, 1, 16)[1:-1]
    dx, dy = end[0] - start[0], end[1] - start[1]
    normal = np.array([-dy, dx]) / np.hypot(dx, dy)
    jitter = rng.uniform(-6, 6, t.size)
    edge = [(start[0] + ti * dx + j * normal[0], start[1] + ti * dy + j * normal[1])
            for ti, j in zip(t, jitter)]
    return Polygon([corner, start, *edge, end])


def _cloud(frame: Frame, i: int, j: int, scale: int, rng: np.random.Generator) -> BaseGeometry:
    """A cloud of a few overlapping ellipses in cell (i, j) of a scale x scale split."""
    cell_w = (frame.east - frame.west) / scale
    cell_h = (frame.north - frame.south) / scale
    cx = frame.west + cell_w * (i + rng.uniform(0.3, 0.6))
    cy = frame.south + cell_h * (j + rng.uniform(0.35, 0.65))
    blobs = []
    for _ in range(int(rng.integers(3, 6))):
        ellipse = affinity.scale(Point(0, 0).buffer(1), rng.uniform(50, 130), rng.uniform(40, 100))
        ellipse = affinity.rotate(ellipse, rng.uniform(0, 180))
        blobs.append(affinity.translate(ellipse, cx + rng.normal(0, 50), cy + rng.normal(0, 40)))
    return union(blobs)
