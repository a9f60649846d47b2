"""The land cover of the sample world, designed as vectors.

Straight roads cut the window into blocks; each block has a theme (farm, forest, village) and is
filled with rows of rectangular parcels; a meandering river crosses the window from north to
south. Farmland parcels become the farmland layer (a coverage without overlaps), some of them
basic farmland. Each feature carries its land-cover class on both dates: farmland is harvested,
ploughed or still green depending on the year (a false change), village houses have roofs of
the same materials as new construction, with sloped roofs and shadows lit by each date's sun.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import shapely
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from samplegen import frame as fr
from samplegen.features import Feature, building
from samplegen.frame import MARGIN_M, STRADDLE_PAIR, TARGET_RATIO, Frame, even, prepared, union

__all__ = [
    "ROAD_SPACING_M", "ROAD_WIDTHS_M", "FIELD_ROW_M", "FIELD_LENGTH_M", "BUILDING_M", "THEMES",
    "VILLAGE_CELLS", "VILLAGE_ROOFS", "HOUSE", "THEME_WEIGHTS", "COVERS", "DLBM", "DLBM_WEIGHTS",
    "BASIC_SHARE", "SEASONS", "SEASON_WEIGHTS", "SEASON_CASES", "Feature", "Parcel", "River",
    "Landscape", "design_landscape", "fields", "house",
]

ROAD_SPACING_M = {"x": (500, 900), "y": (350, 650)}
ROAD_WIDTHS_M = (6, 8, 10, 12)
FIELD_ROW_M = (40, 110)
FIELD_LENGTH_M = (60, 220)
BUILDING_M = (10, 24)
THEMES = {  # block theme -> probabilities of farmland, vegetation, built parcels
    "farm": (0.82, 0.15, 0.03),
    "forest": (0.20, 0.80, 0.00),
    "village": (0.30, 0.15, 0.55),
}
VILLAGE_CELLS = (("house", 0.65), ("vegetation", 0.20), ("bare", 0.15))  # houses, trees, yards
#: roofs of the existing houses: the same materials as new construction, weathered (dimmer)
VILLAGE_ROOFS = (("red_tile", 0.40), ("grey_concrete", 0.25), ("blue_steel", 0.20),
                 ("white_steel", 0.15))
#: existing houses: lane on the west and north side of the plot (m), eave height (m), weathering
HOUSE = {"lane_m": 2, "height_m": 4.0, "weathered": 0.85}
#: roof pitch (degrees) per material; 0 = flat
ROOF_TILT = {"red_tile": 15.0, "blue_steel": 6.0, "white_steel": 6.0, "grey_concrete": 0.0}
THEME_WEIGHTS = (0.6, 0.2, 0.2)
COVERS = ("farmland", "vegetation", "built")
DLBM = {"0101": "水田", "0102": "水浇地", "0103": "旱地"}
DLBM_WEIGHTS = (0.15, 0.15, 0.70)
BASIC_SHARE = 0.35
#: farmland cover (before, after): mid-October, one year's harvest is early, the next late
SEASONS = (("crop", "stubble"), ("crop", "ploughed"), ("stubble", "ploughed"),
           ("stubble", "crop"), ("ploughed", "crop"), ("crop", "crop"), ("stubble", "stubble"),
           ("ploughed", "ploughed"))
SEASON_WEIGHTS = (0.25, 0.12, 0.08, 0.10, 0.05, 0.15, 0.15, 0.10)
#: the false change a seasonal swap is (swaps not listed are no change)
SEASON_CASES = {("crop", "stubble"): "harvest", ("crop", "ploughed"): "ploughing",
                ("stubble", "ploughed"): "ploughing", ("stubble", "crop"): "late_harvest",
                ("ploughed", "crop"): "late_harvest"}


@dataclass(frozen=True)
class Parcel:
    """A farmland parcel (耕地图斑) and its cover on each date."""

    geometry: Polygon
    dlbm: str
    basic: bool
    before: str
    after: str


@dataclass(frozen=True)
class River:
    """The river: its water on the earlier date, centre line and width (m)."""

    water: BaseGeometry
    line: shapely.LineString
    width_m: float


@dataclass(frozen=True)
class Landscape:
    """The designed land cover and the regions patches are placed in."""

    features: tuple[Feature, ...]
    parcels: tuple[Parcel, ...]
    farmland: BaseGeometry        # all farmland parcels
    plain_farmland: BaseGeometry  # farmland that is not basic farmland
    basic_farmland: BaseGeometry
    vegetation: BaseGeometry      # forest / grass away from water
    roads: BaseGeometry
    river: River


def design_landscape(frame: Frame, counties: dict[str, BaseGeometry],
                     rng: np.random.Generator) -> Landscape:
    """Roads, blocks of fields / forest / villages, a river: land cover designed as vectors.

    Parameters
    ----------
    frame : Frame
        The window.
    counties : dict of str to shapely geometry
        The four counties in EPSG:4551: the no-ratio county is mostly forest and the parcels
        along the straddle border are plain farmland.
    rng : numpy.random.Generator

    Returns
    -------
    Landscape
    """
    roads, blocks = _roads_and_blocks(frame, rng)
    river = _river(frame, rng)
    water = river.water
    river_zone = prepared(water.buffer(MARGIN_M))
    forest_county = prepared(union(g for c, g in counties.items() if TARGET_RATIO[c] is None))
    a, b = (counties[c] for c in STRADDLE_PAIR)
    border = prepared(a.buffer(1).intersection(b.buffer(1)))
    features: list[Feature] = []
    parcels: list[Parcel] = []
    vegetation: list[Polygon] = []
    for block in blocks:
        theme = list(THEMES)[int(rng.choice(len(THEMES), p=THEME_WEIGHTS))]
        for geom in fields(block, FIELD_ROW_M, FIELD_LENGTH_M, rng):
            cover = _cover(geom, theme, rng, river_zone, forest_county, border)
            if cover == "farmland":
                parcel, feature = _farmland_parcel(geom, rng, forced_plain=border.intersects(geom))
                parcels.append(parcel)
                features.append(feature)
            elif cover == "vegetation":
                vegetation.append(geom)
                features.append(Feature(geom, "vegetation", "vegetation"))
            else:
                features.extend(_village(geom, rng))
    features.append(Feature(water, "water", "water"))
    features.extend(Feature(r, "built", "built") for r in roads)
    return Landscape(
        features=tuple(features),
        parcels=tuple(parcels),
        farmland=prepared(union(p.geometry for p in parcels)),
        plain_farmland=prepared(union(p.geometry for p in parcels if not p.basic)),
        basic_farmland=prepared(union(p.geometry for p in parcels if p.basic)),
        vegetation=prepared(union(vegetation).difference(river_zone)),
        roads=prepared(union(roads)),
        river=river,
    )


def _roads_and_blocks(frame: Frame, rng: np.random.Generator
                      ) -> tuple[list[Polygon], list[tuple[int, int, int, int]]]:
    """Straight roads along x and y cuts; the blocks between them as (x0, y0, x1, y1)."""
    spans = {}
    roads = []
    for axis, (start, stop) in (("x", (frame.west, frame.east)), ("y", (frame.south, frame.north))):
        cuts = fr.cuts(start, stop, ROAD_SPACING_M[axis], rng)
        widths = [int(rng.choice(ROAD_WIDTHS_M)) for _ in cuts[1:-1]]
        spans[axis] = list(zip([start] + [c + w for c, w in zip(cuts[1:-1], widths)], cuts[1:]))
        for c, w in zip(cuts[1:-1], widths):
            roads.append(box(c, frame.south, c + w, frame.north) if axis == "x"
                         else box(frame.west, c, frame.east, c + w))
    blocks = [(x0, y0, x1, y1) for (y0, y1) in spans["y"] for (x0, x1) in spans["x"]]
    return roads, blocks


def fields(bounds: tuple[float, ...], row_span: tuple[int, int], length_span: tuple[int, int],
           rng: np.random.Generator) -> list[Polygon]:
    """Rows of rectangles filling ``bounds``, rows along x or y at random.

    Each rectangle also carries the corners of its neighbours in the next rows as vertices, so
    the set is a proper coverage that stays one after reprojection (no T-junctions).

    Parameters
    ----------
    bounds : tuple of float
        (x0, y0, x1, y1) of the area to fill.
    row_span, length_span : tuple of int
        Smallest and largest row width and rectangle length, metres.
    rng : numpy.random.Generator

    Returns
    -------
    list of shapely.Polygon
    """
    x0, y0, x1, y1 = (int(v) for v in bounds)
    along_x = bool(rng.integers(2))
    (u0, u1), (v0, v1) = ((x0, x1), (y0, y1)) if along_x else ((y0, y1), (x0, x1))
    row_cuts = fr.cuts(v0, v1, row_span, rng)
    rows = [fr.cuts(u0, u1, length_span, rng) for _ in row_cuts[1:]]
    polygons = []
    for k, (va, vb) in enumerate(pairwise(row_cuts)):
        below = rows[k - 1] if k > 0 else []
        above = rows[k + 1] if k + 1 < len(rows) else []
        for ua, ub in pairwise(rows[k]):
            bottom = [ua] + [u for u in below if ua < u < ub] + [ub]
            top = [ub] + [u for u in reversed(above) if ua < u < ub] + [ua]
            ring = [(u, va) for u in bottom] + [(u, vb) for u in top]
            polygons.append(Polygon(ring if along_x else [(v, u) for u, v in ring]))
    return polygons


def _cover(geom: Polygon, theme: str, rng: np.random.Generator, river_zone: BaseGeometry,
           forest_county: BaseGeometry, border: BaseGeometry) -> str:
    """Land cover of one parcel: by its block's theme, with riverbanks green, the no-ratio
    county mostly forest and fields across the straddle border."""
    if forest_county.contains(geom.centroid):
        theme = "forest"
    cover = COVERS[int(rng.choice(len(COVERS), p=THEMES[theme]))]
    if river_zone.intersects(geom):
        return "vegetation"
    if border.intersects(geom):
        return "farmland"
    return cover


def _village(geom: Polygon, rng: np.random.Generator) -> list[Feature]:
    """A built-up parcel as a grid of houses, trees and yards that do not change."""
    classes, weights = zip(*VILLAGE_CELLS)
    roofs, roof_weights = zip(*VILLAGE_ROOFS)
    cells = fields(geom.bounds, BUILDING_M, BUILDING_M, rng)
    picks = rng.choice(len(classes), size=len(cells), p=weights)
    roof_picks = rng.choice(len(roofs), size=len(cells), p=roof_weights)
    out: list[Feature] = []
    for cell, k, r in zip(cells, picks, roof_picks):
        if classes[k] == "house":
            out.extend(house(cell, roofs[r]))
        else:
            out.append(Feature(cell, classes[k], classes[k]))
    return out


def house(plot: Polygon, roof: str) -> list[Feature]:
    """An existing house on ``plot``: a paved lane on the plot's west and north sides, and a
    weathered roof (sloped unless concrete) over the rest.

    Parameters
    ----------
    plot : shapely.Polygon
        A rectangular cell on the 2 m grid.
    roof : str
        Roof material.

    Returns
    -------
    list of Feature
        The plot (paved), then the roof slopes on top.
    """
    x0, y0, x1, y1 = (int(v) for v in plot.bounds)
    lane = HOUSE["lane_m"]
    footprint = box(x0 + lane, y0, x1, y1 - lane)
    return [Feature(plot, "built", "built"),
            *building(footprint, roof, HOUSE["height_m"], ROOF_TILT[roof],
                      factor=HOUSE["weathered"])]


def _farmland_parcel(geom: Polygon, rng: np.random.Generator, *, forced_plain: bool
                     ) -> tuple[Parcel, Feature]:
    """A farmland parcel (land class, basic or not) and its seasonal land cover."""
    dlbm = list(DLBM)[int(rng.choice(len(DLBM), p=DLBM_WEIGHTS))]
    basic = bool(rng.random() < BASIC_SHARE) and not forced_plain
    before, after = SEASONS[int(rng.choice(len(SEASONS), p=SEASON_WEIGHTS))]
    along_x = bool(rng.integers(2))  # the direction it is ploughed / sown in
    return Parcel(geom, dlbm, basic, before, after), Feature(geom, before, after, along_x=along_x)


def _river(frame: Frame, rng: np.random.Generator) -> River:
    """A meandering river strip crossing the window from north to south."""
    width = even(rng.uniform(40, 64))
    amplitude, wavelength = rng.uniform(60, 120), rng.uniform(800, 1400)
    phase = rng.uniform(0, 2 * np.pi)
    x_mid = frame.west + (frame.east - frame.west) * rng.uniform(0.5, 0.6)
    ys = np.linspace(frame.north + 100, frame.south - 100, 200)
    xs = x_mid + amplitude * np.sin(2 * np.pi * (ys - frame.north) / wavelength + phase)
    line = shapely.LineString(np.column_stack([xs, ys]))
    water = line.buffer(width / 2, cap_style="flat").intersection(frame.polygon)
    return River(water=water, line=line, width_m=width)
