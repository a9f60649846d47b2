"""Planted new construction and the approvals (批准用地) that cover some of it.

Every case is placed at random under all the constraints (on the land the case names, inside its
county, imaged on both dates, clear of cloud, apart from the other patches); then one partly
approved patch per county is cut by its approval so that the county's ratio comes out at its
target, and a few approvals are added that nothing was built on.

Each patch is a construction site of one material (:data:`MATERIALS`, dealt out in turn so
that every material is planted about equally often) with the structure that material has:
buildings (red tile houses, blue or white steel sheds, flat concrete blocks) stand in rows on
hardened ground and cast shadows; asphalt and earthworks are flat lots.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from samplegen.features import Feature, building, oriented_along_x
from samplegen.frame import (COUNTIES, MARGIN_M, STRADDLE_PAIR, TARGET_RATIO, even, prepared,
                             random_point, union)
from samplegen.landscape import Landscape, fields
from samplegen.scene import Scene
from samplegen.truth import pieces

__all__ = [
    "FIXED_CASES", "CASES", "PATCH_AREA", "DEFAULT_PATCH_AREA", "APPROVAL_PAD_M", "TUNED_SHARE",
    "FARMLAND_SHARE", "APPROVAL_TYPES", "APPROVAL_WEIGHTS", "MATERIALS", "STRUCTURE", "Patch",
    "Approval", "plant", "approval", "site_features",
]

#: the cases planted in each county before tuning (repeated scale**2 times)
FIXED_CASES = {
    "220202": ("farmland_unapproved", "basic_farmland_unapproved", "partly_on_farmland",
               "off_farmland"),
    "220203": ("off_farmland", "off_farmland"),
    "220204": ("farmland_unapproved",),
    "220211": ("off_farmland",),
}
CASES = ("farmland_unapproved", "farmland_approved", "farmland_partly_approved",
         "basic_farmland_unapproved", "off_farmland", "partly_on_farmland", "county_border")
PATCH_AREA = {"farmland_approved": (2000, 5600), "farmland_partly_approved": (1600, 4000)}
DEFAULT_PATCH_AREA = (700, 3200)
APPROVAL_PAD_M = 4     # an approval reaches this far beyond the construction it covers
TUNED_SHARE = (0.2, 0.8)  # the tuned patch's unapproved share of its area stays in this range
FARMLAND_SHARE = (0.3, 0.7)  # farmland share of a partly-on-farmland patch / straddle side >= 0.3
APPROVAL_TYPES = {"农用地转用": "吉政土批〔{y}〕{n}号", "设施农用地": "吉市设农备〔{y}〕{n}号",
                  "临时用地": "吉市临用〔{y}〕{n}号"}
APPROVAL_WEIGHTS = (0.6, 0.25, 0.15)
#: materials of new construction, dealt out to the patches in a shuffled, repeating order
MATERIALS = ("red_tile", "blue_steel", "white_steel", "grey_concrete", "asphalt", "earthworks")
#: per material: what stands on the site. Buildings: ``cell_m`` (plot side range), ``lane_m``
#: (ground left on the plot's west and north sides), ``height_m``, ``tilt_deg`` (roof pitch,
#: 0 = flat) and the site's ``ground``; a lot is the material over the whole site.
STRUCTURE: dict[str, dict] = {
    "red_tile": {"kind": "houses", "cell_m": (10, 16), "lane_m": 2, "height_m": 4.0,
                 "tilt_deg": 15.0, "ground": "grey_concrete"},
    "blue_steel": {"kind": "sheds", "cell_m": (20, 40), "lane_m": 4, "height_m": 6.0,
                   "tilt_deg": 6.0, "ground": "grey_concrete"},
    "white_steel": {"kind": "sheds", "cell_m": (20, 40), "lane_m": 4, "height_m": 6.0,
                    "tilt_deg": 6.0, "ground": "grey_concrete"},
    "grey_concrete": {"kind": "blocks", "cell_m": (16, 30), "lane_m": 4, "height_m": 7.0,
                      "tilt_deg": 0.0, "ground": "asphalt"},
    "asphalt": {"kind": "lot"},
    "earthworks": {"kind": "lot"},
}


@dataclass(frozen=True)
class Patch:
    """Planted new construction."""

    geometry: Polygon
    case: str
    material: str
    #: what is painted on the later date (site ground, roof slopes); the truth is ``geometry``
    features: tuple[Feature, ...] = ()


@dataclass(frozen=True)
class Approval:
    """An approved-land polygon (批准用地)."""

    geometry: Polygon
    kind: str
    number: str
    date: str


def plant(landscape: Landscape, scene: Scene, counties: dict[str, BaseGeometry], scale: int,
          rng: np.random.Generator) -> tuple[list[Patch], list[Approval]]:
    """Plant every case, tune each county's partly approved patch to its target ratio, add
    approvals that nothing was built on, and number the patches north-west first.

    Parameters
    ----------
    landscape : Landscape
    scene : Scene
    counties : dict of str to shapely geometry
        EPSG:4551.
    scale : int
        Every fixed case is planted ``scale**2`` times.
    rng : numpy.random.Generator

    Returns
    -------
    patches : list of Patch
        North-west first, with their painted structure.
    approvals : list of Approval

    Raises
    ------
    RuntimeError
        A case cannot be placed, or a county cannot be tuned.
    """
    planter = _Planter(landscape, scene, counties, rng)
    planter.place("county_border", STRADDLE_PAIR[0])
    for code in COUNTIES:
        for case in FIXED_CASES[code] * scale ** 2:
            planter.place(case, code)
        if TARGET_RATIO[code] is not None:
            planter.tune(code, TARGET_RATIO[code])
    for k in range(3 * scale ** 2):  # every approval type appears at least once
        planter.unbuilt_approval(list(APPROVAL_TYPES)[k % len(APPROVAL_TYPES)])
    order = sorted(range(len(planter.patches)),
                   key=lambda k: (-planter.patches[k].geometry.bounds[3],
                                  planter.patches[k].geometry.bounds[0]))
    patches = [planter.patches[k] for k in order]
    patches = [replace(p, features=site_features(p.geometry, p.material, rng)) for p in patches]
    return patches, planter.approvals


def site_features(site: Polygon, material: str, rng: np.random.Generator) -> tuple[Feature, ...]:
    """The structure painted on a construction site of ``material`` (see :data:`STRUCTURE`).

    Buildings: the site is cut into plots; on each, a building leaves a lane of ground on the
    plot's west and north sides, where its shadow falls (the sun is in the south-east).

    Parameters
    ----------
    site : shapely.Polygon
        The patch, on the 2 m grid.
    material : str
    rng : numpy.random.Generator

    Returns
    -------
    tuple of Feature
        The ground first, buildings on top (all new: ``before`` is unused).
    """
    spec = STRUCTURE[material]
    if spec["kind"] == "lot":
        return (Feature(site, material, material, along_x=oriented_along_x(site)),)
    out = [Feature(site, spec["ground"], spec["ground"])]
    lane = spec["lane_m"]
    for plot in fields(site.bounds, spec["cell_m"], spec["cell_m"], rng):
        x0, y0, x1, y1 = (int(v) for v in plot.bounds)
        footprint = box(x0 + lane, y0, x1, y1 - lane).intersection(site)
        if footprint.geom_type != "Polygon" or footprint.area < 48:
            continue
        out.extend(building(footprint, material, spec["height_m"], spec["tilt_deg"]))
    return tuple(out)


def approval(geom: Polygon, rng: np.random.Generator, kind: str | None = None) -> Approval:
    """An approval of ``geom`` with a type (drawn unless given), a number and a date.

    Parameters
    ----------
    geom : shapely.Polygon
    rng : numpy.random.Generator
    kind : str or None, optional
        One of :data:`APPROVAL_TYPES`; drawn with :data:`APPROVAL_WEIGHTS` when None.

    Returns
    -------
    Approval
    """
    if kind is None:
        kind = list(APPROVAL_TYPES)[int(rng.choice(len(APPROVAL_TYPES), p=APPROVAL_WEIGHTS))]
    day = np.datetime64("2024-03-01") + int(rng.integers(0, 550))
    year = str(day)[:4]
    number = APPROVAL_TYPES[kind].format(y=year, n=int(rng.integers(1, 400)))
    return Approval(geom, kind, number, str(day))


class _Planter:
    """Places patches one at a time under all the constraints, with their approvals."""

    ATTEMPTS = 3000

    def __init__(self, landscape: Landscape, scene: Scene, counties: dict[str, BaseGeometry],
                 rng: np.random.Generator) -> None:
        self.land = landscape
        self.counties = counties
        self.rng = rng
        self.safe = prepared(scene.safe)
        self.farmland_or_green = prepared(landscape.plain_farmland.union(landscape.vegetation))
        self.patches: list[Patch] = []
        self.approvals: list[Approval] = []
        self._materials = [MATERIALS[k] for k in rng.permutation(len(MATERIALS))]
        self._zones: dict[tuple[str, str], tuple[BaseGeometry, BaseGeometry]] = {}

    # --- placement ---------------------------------------------------------------------------
    def place(self, case: str, code: str) -> Patch:
        """Place one patch of ``case`` in county ``code``; approve it as the case says."""
        allowed, anchors = self._zone(case, code)
        lo, hi = PATCH_AREA.get(case, DEFAULT_PATCH_AREA)
        for _ in range(self.ATTEMPTS):
            anchor = random_point(anchors, self.rng)
            if anchor is None:
                break
            shape = _shape(self.rng, lo, hi, rectangle=case == "farmland_partly_approved")
            geom = _at(shape, anchor)
            if allowed.contains(geom) and self._apart(geom) and self._fits(case, code, geom):
                material = self._materials[len(self.patches) % len(self._materials)]
                patch = Patch(geom, case, material)
                self.patches.append(patch)
                if case == "farmland_approved":
                    self._approve(geom.buffer(APPROVAL_PAD_M, join_style="mitre"))
                return patch
        raise RuntimeError(f"sample: could not place a '{case}' patch in county {code}")

    def _zone(self, case: str, code: str) -> tuple[BaseGeometry, BaseGeometry]:
        """(where the whole patch must lie, where its centre is drawn from) for a case."""
        key = (case, code)
        if key not in self._zones:
            if case == "county_border":
                a, b = (self.counties[c] for c in STRADDLE_PAIR)
                allowed = a.union(b).buffer(-MARGIN_M).intersection(self.safe)
                cover = a.buffer(20).intersection(b.buffer(20)).intersection(
                    self.land.plain_farmland)
            else:
                allowed = self.counties[code].buffer(-MARGIN_M).intersection(self.safe)
                cover = self._cover_zone(case)
            self._zones[key] = (prepared(allowed), prepared(cover.intersection(allowed)))
        return self._zones[key]

    def _cover_zone(self, case: str) -> BaseGeometry:
        land = self.land
        if case == "basic_farmland_unapproved":
            return land.basic_farmland
        if case == "off_farmland":
            return land.vegetation.difference(land.farmland.buffer(MARGIN_M))
        if case == "partly_on_farmland":
            return land.plain_farmland.buffer(20).intersection(land.vegetation.buffer(20))
        return land.plain_farmland

    def _apart(self, geom: Polygon) -> bool:
        return all(geom.distance(p.geometry) >= MARGIN_M for p in self.patches)

    def _fits(self, case: str, code: str, geom: Polygon) -> bool:
        """Does ``geom`` lie on the land cover (and across the border) that ``case`` needs?"""
        land = self.land
        if case == "basic_farmland_unapproved":
            return land.basic_farmland.contains(geom)
        if case == "off_farmland":
            return land.vegetation.contains(geom) and geom.distance(land.farmland) >= MARGIN_M
        if case == "partly_on_farmland":
            share = geom.intersection(land.farmland).area / geom.area
            return (self.farmland_or_green.contains(geom)
                    and FARMLAND_SHARE[0] <= share <= FARMLAND_SHARE[1])
        if case == "county_border":
            sides = [geom.intersection(self.counties[c]).area / geom.area for c in STRADDLE_PAIR]
            return land.plain_farmland.contains(geom) and min(sides) >= FARMLAND_SHARE[0]
        return land.plain_farmland.contains(geom)

    # --- approvals ---------------------------------------------------------------------------
    def _approve(self, geom: Polygon) -> None:
        self.approvals.append(approval(geom, self.rng))

    def unbuilt_approval(self, kind: str) -> None:
        """Approved land of type ``kind`` on farmland that nothing was built on (no ratio)."""
        for _ in range(self.ATTEMPTS):
            anchor = random_point(self.land.plain_farmland, self.rng)
            w, h = (even(v) for v in self.rng.uniform(30, 80, 2))
            geom = _at(box(0, 0, w, h), anchor)
            if self._apart(geom) and all(not geom.intersects(a.geometry) for a in self.approvals):
                self.approvals.append(approval(geom, self.rng, kind))
                return
        raise RuntimeError("sample: could not place an approval without construction")

    # --- tuning ------------------------------------------------------------------------------
    def tune(self, code: str, target: float) -> None:
        """Plant a partly approved patch and as many approved / unapproved patches as needed
        for the county's ratio to come out at ``target``; cut the approval to hit it."""
        tuned = self.place("farmland_partly_approved", code)
        # each patch moves the ratio less the more a county already has (larger --scale), so the
        # bound grows with the county's patches rather than staying at a fixed count
        for _ in range(100 + 20 * len(self.patches)):
            share = self._unapproved_share(code, tuned, target)
            if share < TUNED_SHARE[0]:
                self.place("farmland_approved", code)
            elif share > TUNED_SHARE[1]:
                self.place("farmland_unapproved", code)
            else:
                break
        else:
            raise RuntimeError(f"sample: could not tune county {code} to {target}")
        x0, y0, x1, y1 = (int(v) for v in tuned.geometry.bounds)
        cut = x1 - even(share * (x1 - x0))
        self._approve(box(x0 - APPROVAL_PAD_M, y0 - APPROVAL_PAD_M, cut, y1 + APPROVAL_PAD_M))

    def _unapproved_share(self, code: str, tuned: Patch, target: float) -> float:
        """Share of ``tuned`` to leave unapproved so that the county's ratio is ``target``."""
        others = [p for p in self.patches if p is not tuned]
        approved = union(a.geometry for a in self.approvals)
        rows = [r for r in pieces(others, self.counties, self.land.farmland, approved)
                if r["county_code"] == code]
        occupied = sum(r["farmland_m2"] for r in rows)
        illegal = sum(r["illegal_farmland_m2"] for r in rows)
        area = tuned.geometry.area
        return (target * (occupied + area) - illegal) / area


def _shape(rng: np.random.Generator, lo: float, hi: float, *, rectangle: bool) -> Polygon:
    """A rectangle or L-shape at the origin, sides on the grid, area in [lo, hi]."""
    while True:
        w, h = (even(v) for v in rng.uniform(20, 100, 2))
        if max(w, h) > 3 * min(w, h):
            continue
        shape = box(0, 0, w, h)
        if not rectangle and rng.random() < 0.4:
            cw, ch = even(w * rng.uniform(0.3, 0.6)), even(h * rng.uniform(0.3, 0.6))
            cx, cy = (0, w - cw)[int(rng.integers(2))], (0, h - ch)[int(rng.integers(2))]
            shape = shape.difference(box(cx, cy, cx + cw, cy + ch))
        if lo <= shape.area <= hi:
            return shapely.normalize(shape)


def _at(shape: Polygon, anchor: tuple[float, float]) -> Polygon:
    """``shape`` moved so that its bounding box is centred on ``anchor``, snapped to the grid."""
    x0, y0, x1, y1 = shape.bounds
    return affinity.translate(shape, even(anchor[0] - (x1 - x0) / 2),
                              even(anchor[1] - (y1 - y0) / 2))
