"""Counties as the unit of work: a job carries paths and windows, never features.

:func:`plan_jobs` turns the county layer into one :class:`CountyJob` per county: its code,
name, feature id, zone, bounding box, the ids of the neighbours with a smaller code that may
overlap it, and the :class:`~pipeline.layers.LayerSource` of every input (paths, CRS, no
data). :func:`run_county` does one county's whole overlay where it runs (this process or a
dask worker): it reads the county and its earlier neighbours by id, the patches in the
county's window, then farmland, basic farmland and approvals in the window of those patches
only, and splits and measures them (:func:`overlay.split.split_county`). In a run it then
writes the county's field package (:mod:`pipeline.county_package`). Peak memory is set by the
largest county, not by the country.

Patch ids (JCBH) are assigned per county (:func:`overlay.split.assign_patch_ids` on the
county's pieces): the number starts with the county code, so it is unique within the county
and cannot depend on any other county's patches.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache

import geopandas as gpd
import numpy as np
import shapely

from overlay.contracts import PATCH_COLUMNS
from overlay.crs import epsg_crs, reprojected, transformer, zone_epsg_for_geometries
from overlay.split import CountyTask, assign_patch_ids, split_county
from pipeline.county_package import PackageJob, PackageRecord, write_county_package
from pipeline.layers import LayerSource, Window, crs_of, read_window

__all__ = ["Sources", "CountyJob", "CountyResult", "plan_jobs", "run_county", "bounds_in", "empty_pieces"]


@dataclass(frozen=True)
class Sources:
    """Every vector input of a run, as sources (paths and descriptions, no features).

    ``patches`` holds :data:`~overlay.contracts.PATCH_COLUMNS` (the run writes received or
    detected patches there first); ``counties`` is read by feature id.
    """

    counties: LayerSource
    patches: LayerSource
    farmland: LayerSource
    basic_farmland: LayerSource
    approved: LayerSource


@dataclass(frozen=True)
class CountyJob:
    """One county's work: what to read and where, no features."""

    county_code: str
    county_name: str
    county_fid: int
    earlier_fids: tuple[int, ...]
    epsg: int
    bbox: tuple[float, float, float, float]  # the county's bounds in the counties' CRS
    sources: Sources
    year: int
    official_ids: bool = False
    package: PackageJob | None = None  # write the county's field package (None: the caller does)


@dataclass
class CountyResult:
    """What one county's job produced: its pieces (zone CRS, JCBH assigned), what it read, and its
    field package when the job wrote one."""

    county_code: str
    pieces: gpd.GeoDataFrame
    seconds: float
    repaired: dict[str, set[int]] = field(default_factory=dict)
    dropped: dict[str, set[int]] = field(default_factory=dict)
    features_read: dict[str, int] = field(default_factory=dict)
    package: PackageRecord | None = None


def bounds_in(bounds, src, dst) -> tuple[float, float, float, float]:
    """``bounds`` given in ``src`` as a box in ``dst`` (edges densified, so curved edges are inside)."""
    tr = transformer(src, dst)
    if tr is None:
        return tuple(float(v) for v in bounds)
    out = tr.transform_bounds(*bounds, densify_pts=21)
    return tuple(float(v) for v in out)


@lru_cache(maxsize=64)
def _is_projected(crs: str) -> bool:
    """Whether ``crs`` (text) is projected, decided once per process."""
    return crs_of(crs).is_projected


def _grow(bounds, margin: float) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = bounds
    return (minx - margin, miny - margin, maxx + margin, maxy + margin)


def plan_jobs(counties: gpd.GeoDataFrame, sources: Sources, *, year: int,
              official_ids: bool = False) -> list[CountyJob]:
    """One job per county, in code order.

    ``counties``: ``fid`` (the feature id in the county layer), ``county_code``,
    ``county_name``, geometry (as read by :func:`pipeline.layers.read_counties`).
    """
    counties = counties.reset_index(drop=True)
    zones = zone_epsg_for_geometries(counties)
    geoms = np.asarray(counties.geometry.values, dtype=object)
    codes = counties["county_code"].astype(str).to_numpy()
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    jobs = []
    for i in np.argsort(codes, kind="stable"):
        touching = right[(left == i) & (right != i)]
        earlier = sorted(int(counties["fid"].iloc[j]) for j in touching if codes[j] < codes[i])
        jobs.append(CountyJob(
            county_code=str(codes[i]), county_name=str(counties["county_name"].iloc[i]),
            county_fid=int(counties["fid"].iloc[i]), earlier_fids=tuple(earlier), epsg=int(zones[i]),
            bbox=tuple(float(v) for v in shapely.bounds(geoms[i])), sources=sources, year=year,
            official_ids=official_ids,
        ))
    return jobs


def _window_of(source: LayerSource, bounds, crs, margin_m: float = 1.0) -> Window:
    """The source's window covering ``bounds`` (given in ``crs``), grown by a small margin."""
    box = bounds_in(bounds, crs, source.crs)
    if not all(math.isfinite(v) for v in box):
        return read_window(source, fids=[])
    margin = margin_m if _is_projected(source.crs) else margin_m / 1e5
    return read_window(source, _grow(box, margin))


def _record(result: CountyResult, role: str, window: Window) -> None:
    result.repaired.setdefault(role, set()).update(window.repaired)
    result.dropped.setdefault(role, set()).update(window.dropped)
    result.features_read[role] = result.features_read.get(role, 0) + len(window)


def run_county(job: CountyJob) -> CountyResult:
    """Read one county's windows and split and measure its patches, then write its field package
    when ``job.package`` asks (a county without pieces has none); writes nothing else."""
    started = time.perf_counter()
    src = job.sources
    result = CountyResult(job.county_code, None, 0.0)  # its pieces are set on every way out
    county = read_window(src.counties, fids=[job.county_fid])
    earlier = read_window(src.counties, fids=list(job.earlier_fids))
    _record(result, "counties", county)
    county_geom = shapely.union_all(county.geoms)
    patches = read_window(src.patches, bounds_in(job.bbox, src.counties.crs, src.patches.crs),
                          columns=PATCH_COLUMNS)
    _record(result, "patches", patches)
    shapely.prepare(county_geom)
    inside = shapely.intersects(county_geom, reprojected(patches.geoms, patches.crs, src.counties.crs))
    if not inside.any():
        result.pieces = empty_pieces(epsg_crs(job.epsg))
        result.seconds = time.perf_counter() - started
        return result
    patch_bounds = tuple(float(v) for v in shapely.total_bounds(patches.geoms[inside]))
    layers = {}
    for role in ("farmland", "basic_farmland", "approved"):
        window = _window_of(getattr(src, role), patch_bounds, src.patches.crs)
        _record(result, role, window)
        layers[role] = window.geometry
    task = CountyTask(
        county_code=job.county_code, county_name=job.county_name, epsg=job.epsg,
        county=county.geometry, earlier_counties=earlier.geometry,
        patches=patches.rows(inside, with_fid=False), farmland=layers["farmland"],
        basic_farmland=layers["basic_farmland"], approved=layers["approved"],
    )
    pieces = split_county(task)
    result.pieces = assign_patch_ids(pieces, job.year, official_ids=job.official_ids) if len(pieces) \
        else empty_pieces(epsg_crs(job.epsg))
    if job.package is not None:
        result.package = write_county_package(job.package, result.pieces, job.year)
    result.seconds = time.perf_counter() - started
    return result


def empty_pieces(crs) -> gpd.GeoDataFrame:
    """No pieces, with the columns a county's pieces have (before the run adds ``year``)."""
    from overlay.contracts import MEASURE_COLUMNS

    columns = ["patch_id", "source_id", "county_code", "county_name", *PATCH_COLUMNS[1:],
               *MEASURE_COLUMNS]
    return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=crs)
