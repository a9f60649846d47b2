"""The false changes: what differs between the dates but is not new construction.

* **harvest and ploughing** -- farmland parcels whose cover differs between the years (green
  crop -> pale stubble or dark ploughed soil, or still green this year): designed with the
  landscape (:data:`samplegen.landscape.SEASONS`), listed here;
* **plastic greenhouses** (塑料大棚) -- rows of bright film tunnels put up on farmland. In China
  they are facility agricultural land (设施农用地): registered (备案), not construction and not in
  the occupation ratio. Each one lies under an approval of type 设施农用地, so a detector that
  flags one adds *approved* occupied farmland and lowers the county's ratio;
* **water level** -- the river is lower along one stretch (exposed mud) and higher along
  another (flooded bank grass);
* **a shifted date** -- the later date's landscape is misregistered by a fraction of a pixel to
  one pixel (:data:`samplegen.raster.SHIFT_PX`), so every edge moves;
* **a different sun** -- a lower sun further east on the later date: other gain and offset,
  longer shadows turned further west, other brightness of roof slopes (:mod:`samplegen.sun`).

The first three have polygons (the ``false_changes`` truth layer); the last two touch the whole
scene and are written to ``truth/scene_changes.csv``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from samplegen.features import Feature
from samplegen.frame import MARGIN_M, Frame, even, prepared
from samplegen.landscape import SEASON_CASES, Landscape
from samplegen.patches import APPROVAL_PAD_M, Approval, Patch, approval
from samplegen.raster import SHIFT_PX
from samplegen.scene import Scene
from samplegen.spectra import BAND_NAMES, GAIN, OFFSET
from samplegen.sun import SUN

__all__ = [
    "GREENHOUSE", "WATER", "FalseChange", "FalseChanges", "design_false_changes", "scene_changes",
]

#: plastic greenhouse sites: count per scale**2, largest side (m), tunnel and gap widths (m),
#: distance kept from construction (m; shadows fall up to 10 m from new buildings)
GREENHOUSE = {"count": 3, "max_side_m": (100, 60), "min_side_m": 30, "inset_m": 6,
              "tunnel_m": 8, "gap_m": 2, "clearance_m": 2 * MARGIN_M}
#: the river: how far the water falls (per bank, m) and rises (m), and the share of the
#: window's height each stretch covers
WATER = {"fall_m": 10, "rise_m": 8, "stretch": (0.25, 0.35)}


@dataclass(frozen=True)
class FalseChange:
    """A change between the dates that is not construction (truth layer ``false_changes``)."""

    geometry: Polygon
    case: str
    material: str  # the later date's surface


@dataclass(frozen=True)
class FalseChanges:
    """The false changes with polygons, what they paint on the later date, their approvals."""

    changes: tuple[FalseChange, ...]
    #: painted over the landscape on the later date (water level, greenhouse tunnels)
    overlays: tuple[Feature, ...]
    #: 设施农用地 approvals of the greenhouses
    approvals: tuple[Approval, ...]


def design_false_changes(frame: Frame, landscape: Landscape, scene: Scene,
                         counties: dict[str, BaseGeometry], patches: list[Patch],
                         approvals: list[Approval], scale: int, rng: np.random.Generator
                         ) -> FalseChanges:
    """Greenhouses, water level and the seasonal farmland changes.

    Parameters
    ----------
    frame : Frame
    landscape : Landscape
    scene : Scene
    counties : dict of str to shapely geometry
    patches : list of Patch
        Greenhouses keep clear of them.
    approvals : list of Approval
        Greenhouse approvals never overlap them (the construction truth stays as it is).
    scale : int
    rng : numpy.random.Generator

    Returns
    -------
    FalseChanges
        ``changes`` numbered north-west first.

    Raises
    ------
    RuntimeError
        A greenhouse cannot be placed.
    """
    sites, tunnels, gh_approvals = _greenhouses(landscape, scene, counties, patches, approvals,
                                                scale, rng)
    water_changes, water_overlays = _water_level(frame, landscape, rng)
    changes = [FalseChange(p.geometry, SEASON_CASES[(p.before, p.after)], p.after)
               for p in landscape.parcels if (p.before, p.after) in SEASON_CASES]
    changes += [FalseChange(site, "greenhouse", "plastic_film") for site in sites]
    changes += water_changes
    changes.sort(key=lambda c: (-c.geometry.bounds[3], c.geometry.bounds[0]))
    return FalseChanges(tuple(changes), tuple(water_overlays + tunnels), tuple(gh_approvals))


def _greenhouses(landscape: Landscape, scene: Scene, counties: dict[str, BaseGeometry],
                 patches: list[Patch], approvals: list[Approval], scale: int,
                 rng: np.random.Generator
                 ) -> tuple[list[Polygon], list[Feature], list[Approval]]:
    """Greenhouse sites inside plain farmland parcels, their tunnels and 设施农用地 approvals."""
    g = GREENHOUSE
    safe = prepared(scene.safe)
    inner = [prepared(c.buffer(-MARGIN_M)) for c in counties.values()]
    candidates = [p for p in landscape.parcels if not p.basic]
    built = [p.geometry for p in patches]
    approved = [a.geometry for a in approvals]
    sites: list[Polygon] = []
    tunnels: list[Feature] = []
    new_approvals: list[Approval] = []
    for _ in range(g["count"] * scale ** 2):
        for _attempt in range(3000):
            parcel = candidates[int(rng.integers(len(candidates)))]
            site = _site_in(parcel.geometry)
            if site is None or not safe.contains(site) or not any(c.contains(site) for c in inner):
                continue
            if any(site.distance(b) < g["clearance_m"] for b in built):
                continue
            if any(site.distance(s) < MARGIN_M for s in sites):
                continue
            pad = site.buffer(APPROVAL_PAD_M, join_style="mitre")
            if any(pad.intersects(a) for a in approved):
                continue
            sites.append(site)
            tunnels.extend(_tunnels(site))
            new = approval(pad, rng, kind="设施农用地")
            new_approvals.append(new)
            approved.append(new.geometry)
            break
        else:
            raise RuntimeError("sample: could not place a greenhouse")
    return sites, tunnels, new_approvals


def _site_in(parcel: Polygon) -> Polygon | None:
    """The greenhouse site centred in a parcel: inset, at most ``max_side_m``, on the grid."""
    g = GREENHOUSE
    x0, y0, x1, y1 = (int(v) for v in parcel.bounds)
    w, h = x1 - x0 - 2 * g["inset_m"], y1 - y0 - 2 * g["inset_m"]
    long_side, short_side = g["max_side_m"]
    w, h = (min(w, long_side), min(h, short_side)) if w >= h else (min(w, short_side),
                                                                    min(h, long_side))
    if min(w, h) < g["min_side_m"]:
        return None
    cx, cy = even((x0 + x1) / 2 - w / 2), even((y0 + y1) / 2 - h / 2)
    return box(cx, cy, cx + even(w), cy + even(h))


def _tunnels(site: Polygon) -> list[Feature]:
    """Film tunnels along the site's long side, ``tunnel_m`` wide with ``gap_m`` of soil between."""
    g = GREENHOUSE
    x0, y0, x1, y1 = (int(v) for v in site.bounds)
    along_x = x1 - x0 >= y1 - y0
    start, stop = (y0, y1) if along_x else (x0, x1)
    out = []
    for a in range(start, stop - g["tunnel_m"] + 1, g["tunnel_m"] + g["gap_m"]):
        b = a + g["tunnel_m"]
        strip = box(x0, a, x1, b) if along_x else box(a, y0, b, y1)
        out.append(Feature(strip, "plastic_film", "plastic_film", along_x=along_x))
    return out


def _water_level(frame: Frame, landscape: Landscape, rng: np.random.Generator
                 ) -> tuple[list[FalseChange], list[Feature]]:
    """The river lower along one stretch (mud along both banks), higher along another."""
    river = landscape.river
    height = frame.north - frame.south
    lengths = [height * rng.uniform(*WATER["stretch"]) for _ in range(2)]
    fall_top = frame.north - height * rng.uniform(0.05, 0.15)
    rise_top = fall_top - lengths[0] - height * rng.uniform(0.05, 0.15)
    fall_box = box(frame.west, even(fall_top - lengths[0]), frame.east, even(fall_top))
    rise_box = box(frame.west, even(rise_top - lengths[1]), frame.east, even(rise_top))
    low = river.line.buffer(river.width_m / 2 - WATER["fall_m"], cap_style="flat")
    high = river.line.buffer(river.width_m / 2 + WATER["rise_m"], cap_style="flat")
    fall = river.water.difference(low).intersection(fall_box).difference(landscape.roads)
    rise = (high.difference(river.water).intersection(rise_box).intersection(frame.polygon)
            .difference(landscape.roads))
    changes, overlays = [], []
    for zone, case, after in ((fall, "water_fall", "mudflat"), (rise, "water_rise", "water")):
        for part in shapely.get_parts(zone):
            if part.geom_type == "Polygon" and part.area >= 100:
                changes.append(FalseChange(part, case, after))
                overlays.append(Feature(part, after, after))
    return changes, overlays


def scene_changes() -> list[dict[str, object]]:
    """The false changes that touch the whole later date, as ``change, parameter, value`` rows.

    Returns
    -------
    list of dict
    """
    rows: list[dict[str, object]] = [
        {"change": "shifted_date", "parameter": "shift_east_px", "value": SHIFT_PX[0]},
        {"change": "shifted_date", "parameter": "shift_south_px", "value": SHIFT_PX[1]},
    ]
    for date in ("before", "after"):
        rows.append({"change": "different_sun", "parameter": f"sun_azimuth_deg_{date}",
                     "value": SUN[date][0]})
        rows.append({"change": "different_sun", "parameter": f"sun_elevation_deg_{date}",
                     "value": SUN[date][1]})
    for band, gain, offset in zip(BAND_NAMES, GAIN, OFFSET):
        rows.append({"change": "different_sun", "parameter": f"gain_{band}", "value": gain})
        rows.append({"change": "different_sun", "parameter": f"offset_{band}_dn", "value": offset})
    return rows
