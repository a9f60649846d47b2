"""The run's read-and-overlay stage, county by county (issue 8).

Only the county layer and the patches are held whole in this process; farmland, basic
farmland and approvals are opened as sources (:func:`pipeline.layers.open_source`, an
indexed copy in the run's work folder where a layer has no spatial index) and each county job
reads its own windows where it runs (:mod:`pipeline.county_run`), here or on
dask.distributed (:mod:`pipeline.county_runner`). Finished counties are checkpointed in the
work folder under a key of the run's inputs, so ``--resume`` recomputes only the rest.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from overlay.contracts import PATCH_COLUMNS
from overlay.qa import overlapping_counties, overlapping_patches
from overlay.split import unassigned_parts
from pipeline import layers
from pipeline.config import LayerConfig, RunConfig
from pipeline.county_package import PackageJob, PackageRecord, package_present
from pipeline.county_run import CountyJob, CountyResult, Sources, bounds_in, empty_pieces, plan_jobs
from pipeline.county_runner import Checkpoints, CountyFailure, run_jobs
from pipeline.diskio import writing
from pipeline.manifest import input_files, landcheck_version

__all__ = ["CountyOverlay", "open_layer_sources", "overlay_by_county", "run_key", "combine_results", "SMALL_RUN_COUNTIES"]

Log = Callable[[str], None]

SMALL_RUN_COUNTIES = 8
"""Without ``--scheduler``, runs with fewer counties than this per core run in this process
(a LocalCluster costs seconds to start); larger ones start a LocalCluster sized to the machine."""


@dataclass
class CountyOverlay:
    """What the stage produced: the pieces of every finished county, what failed, and the checks."""

    counties: gpd.GeoDataFrame
    pieces: gpd.GeoDataFrame
    failures: list[CountyFailure]
    layer_reports: list[layers.LayerReport]
    unassigned: gpd.GeoDataFrame
    overlaps: pd.DataFrame
    county_overlaps: pd.DataFrame
    county_seconds: dict[str, float] = field(default_factory=dict)
    resumed_counties: int = 0
    packages: dict[str, PackageRecord] = field(default_factory=dict)  # by county code, written by the jobs


def run_key(config: RunConfig) -> str:
    """Identity of a run's inputs and settings for checkpoints: every input file's path, size and
    modification time, the config's own bytes and landcheck's version (cheap: nothing is hashed
    but the config; the manifest hashes the inputs in full)."""
    digest = hashlib.sha256()
    digest.update(landcheck_version().encode())
    digest.update(Path(config.source).read_bytes())
    for role, path in input_files(config):
        try:
            st = os.stat(path)
            digest.update(f"{role}\0{Path(path).resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{role}\0{path}\0missing\n".encode())
    return digest.hexdigest()


def _extent_frame(source: layers.LayerSource) -> gpd.GeoDataFrame:
    """A one-box frame of a source's extent, for :func:`pipeline.layers.check_layer_extents`."""
    if source.features == 0 or not all(map(_finite, source.bounds)):
        return gpd.GeoDataFrame(geometry=[], crs=source.crs)
    return gpd.GeoDataFrame(geometry=[shapely.box(*source.bounds)], crs=source.crs)


def _finite(v: float) -> bool:
    return v == v and abs(v) != float("inf")


def _write_patches(patches: gpd.GeoDataFrame, path: Path) -> None:
    """The run's patches (:data:`PATCH_COLUMNS`) as an indexed GeoPackage the jobs read by window."""
    frame = patches[[*PATCH_COLUMNS, patches.geometry.name]].copy()
    frame["mean_score"] = frame["mean_score"].astype(float)
    for column in ("before_date", "after_date"):
        frame[column] = frame[column].astype(object)
    pyogrio.write_dataframe(frame, path, layer="patches", driver="GPKG", promote_to_multi=True)


def combine_results(results: list[CountyResult], year: int, template_crs) -> gpd.GeoDataFrame:
    """All counties' pieces in one CRS (the zone when every county shares one, else EPSG:4490),
    sorted by county and JCBH, with the check's ``year`` after ``county_name``."""
    parts = [r.pieces for r in results if len(r.pieces)]
    crss = {CRS.from_user_input(p.crs) for p in parts}
    crs = crss.pop() if len(crss) == 1 else CRS.from_epsg(4490)
    if parts:
        pieces = gpd.GeoDataFrame(pd.concat([p.to_crs(crs) for p in parts], ignore_index=True), crs=crs)
    else:
        pieces = empty_pieces(template_crs or CRS.from_epsg(4490))
    pieces = pieces.sort_values(["county_code", "patch_id", "source_id"], kind="stable") \
        .reset_index(drop=True)
    pieces.insert(pieces.columns.get_loc("county_name") + 1, "year", year)
    return pieces


def open_layer_sources(config: RunConfig, work: Path, counties: gpd.GeoDataFrame,
                       imagery_bounds: tuple | None = None) -> dict[str, layers.LayerSource]:
    """Open farmland, basic farmland and approvals as sources (checked from their descriptions,
    indexed copies in ``work/index`` where needed) and check their extents against the counties'
    (and the counties' against the imagery's)."""
    work.mkdir(parents=True, exist_ok=True)
    sources = {role: layers.open_source(cfg, role, index_dir=work / "index")
               for role, cfg in (("farmland", config.farmland), ("basic_farmland", config.basic_farmland),
                                 ("approved", config.approved))}
    layers.check_layer_extents(
        (counties, config.counties.path),
        {role: (_extent_frame(src), src.path) for role, src in sources.items()},
        imagery_bounds=imagery_bounds,
    )
    return sources


def overlay_by_county(
    config: RunConfig, patches: gpd.GeoDataFrame, work: Path, *, client=None, progress: bool = True,
    log: Log = print,
    counties: tuple[gpd.GeoDataFrame, layers.LayerReport] | None = None,
    sources: dict[str, layers.LayerSource] | None = None,
    on_result: Callable[[CountyResult], None] | None = None,
    packages: PackageJob | None = None,
) -> CountyOverlay:
    """Plan one job per county and run them; see the module docstring.

    ``patches``: the run's patches (received or detected; :data:`PATCH_COLUMNS`). ``work``: the
    run's work folder (checkpoints, indexed copies). ``counties``: the county layer already read
    with ``with_fid=True``, ``sources``: :func:`open_layer_sources` (both done here otherwise).
    ``packages``: each job also writes its county's field package (:mod:`pipeline.county_package`).
    """
    work.mkdir(parents=True, exist_ok=True)
    county_frame, county_report = counties or layers.read_counties(config.counties, with_fid=True)
    if sources is None:
        sources = open_layer_sources(config, work, county_frame)
    patches_path = work / "patches.gpkg"
    _write_patches(patches, patches_path)
    all_sources = Sources(
        counties=layers.open_source(config.counties, "counties"),
        patches=layers.open_source(LayerConfig(patches_path, "patches"), "patches"),
        **sources,
    )
    official_ids = config.patches is not None and config.patches.id_field is not None
    jobs: list[CountyJob] = plan_jobs(county_frame, all_sources, year=config.year,
                                      official_ids=official_ids)
    if packages is not None:
        jobs = [dataclasses.replace(j, package=packages.for_county(_grid_bounds(j, packages)))
                for j in jobs]
    # a fresh run's work folder is new (pipeline.output_folder.make_staging), so only a resumed
    # run finds checkpoints here, and only those written under the same key count; a county
    # whose package is gone is recomputed
    check = (lambda r: package_present(r.package, work)) if packages is not None else None
    checkpoints = Checkpoints(work / "counties", run_key(config), check=check)
    resumed = len(checkpoints.load(j.county_code for j in jobs))
    if resumed:
        log(f"    resuming: {resumed} of {len(jobs)} counties already finished")
    # the national checks need no county's result: they run in a thread meanwhile (GEOS releases
    # the GIL), on the core the county jobs leave to the driver
    # a full disk while a county's checkpoint or package is written names the output folder
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="landcheck-checks") as pool, \
            writing(work / "counties" / "county checkpoints", shown_as=config.output):
        checks = pool.submit(_national_checks, patches, county_frame)
        results, failures = run_jobs(jobs, client=client, checkpoints=checkpoints, progress=progress,
                                     on_result=on_result)
        unassigned, overlaps, county_overlaps = checks.result()
    pieces = combine_results(results, config.year, patches.crs)
    reports = [county_report]
    for role, src in sources.items():
        repaired = set().union(*(r.repaired.get(role, set()) for r in results))
        dropped = set().union(*(r.dropped.get(role, set()) for r in results))
        reports.append(layers.window_report(src, repaired=repaired, dropped=dropped))
    return CountyOverlay(
        counties=county_frame.drop(columns="fid"), pieces=pieces, failures=failures,
        layer_reports=reports, unassigned=unassigned, overlaps=overlaps, county_overlaps=county_overlaps,
        county_seconds={r.county_code: r.seconds for r in results}, resumed_counties=resumed,
        packages={r.county_code: r.package for r in results if r.package is not None},
    )


def _national_checks(patches: gpd.GeoDataFrame, counties: gpd.GeoDataFrame
                     ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Patch parts in no county, overlapping patches, overlapping counties (:mod:`overlay.qa`)."""
    return unassigned_parts(patches, counties), overlapping_patches(patches), overlapping_counties(counties)


def _grid_bounds(job: CountyJob, packages: PackageJob) -> tuple[float, float, float, float] | None:
    """The county's bounding box in the imagery grid's CRS (None without chips)."""
    if packages.chips is None:
        return None
    try:
        return bounds_in(job.bbox, job.sources.counties.crs, packages.chips.grid.crs)
    except Exception:  # noqa: BLE001 - no narrowing: the job gets every tile
        return None
