"""The whole run: read inputs, detect (or read) patches, overlay, account, write deliverables.

Outputs are written into a staging folder beside the output folder and moved
into place only when everything succeeded, so a failed run leaves nothing
half-written. Per-county overlay tasks run on the active dask scheduler: a
``distributed.Client`` when a scheduler address is given, else in-process.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import geopandas as gpd
import pandas as pd
from pyproj import CRS
from tqdm.auto import tqdm

from overlay.accounting import county_ratios
from overlay.contracts import PATCH_COLUMNS
from overlay.crs import zone_epsg_for_geometries
from overlay.qa import overlapping_counties, overlapping_patches
from overlay.split import combine_pieces, county_tasks, split_county, unassigned_parts
from pipeline import layers, output_folder
from pipeline.config import RunConfig
from pipeline.diskio import writing
from pipeline.imagery import Imagery, open_imagery
from pipeline.errors import SchedulerError
from pipeline.manifest import build_manifest, input_files, landcheck_version, write_json
from pipeline.quality import data_quality, warning_lines

__all__ = ["RunResult", "run_pipeline", "load_patches", "compute_pieces"]

Log = Callable[[str], None]


@dataclass
class RunResult:
    """What a run produced, for the CLI and the tests."""

    output: Path
    pieces: gpd.GeoDataFrame
    ratios: pd.DataFrame
    manifest: dict
    outputs: dict[str, Path] = field(default_factory=dict)


class _Timings(dict):
    @contextmanager
    def stage(self, name: str, log: Log) -> Iterator[None]:
        log(f"[{len(self) + 1}] {name} ...")
        start = time.perf_counter()
        yield
        self[name] = round(time.perf_counter() - start, 3)


def open_run_imagery(config: RunConfig) -> Imagery | None:
    """The run's imagery checked and placed on one grid (metadata only), or None with ``patches``."""
    if config.patches is not None:
        return None
    return open_imagery(config.imagery, config.detection.chunk_px,
                        max_grid_pixels=config.detection.max_grid_pixels)


def imagery_bounds(imagery: Imagery | None) -> tuple | None:
    """``(minx, miny, maxx, maxy, crs)`` of the imagery grid, for the layer extent checks."""
    if imagery is None:
        return None
    return (*imagery.grid.bounds, imagery.grid.crs)


def load_patches(config: RunConfig, *, imagery: Imagery | None = None,
                 progress: bool = True) -> tuple[gpd.GeoDataFrame, dict]:
    """Patches to overlay: received ones if ``patches`` is configured, else detected from imagery.

    ``imagery`` is the already opened imagery (opened here when not given).
    Columns: :data:`overlay.contracts.PATCH_COLUMNS`, geometry.
    """
    if config.patches is not None:
        patches, report = layers.read_patches(config.patches)
        patches["origin"] = "received"
        patches["mean_score"] = float("nan")
        stats = {"source": "received", "layer": report.to_dict()}
    else:
        from pipeline.detect import detect_on_imagery

        img = imagery if imagery is not None else open_run_imagery(config)
        patches, stats = detect_on_imagery(img, config.detection, progress=progress)
        patches = patches.copy()
        patches["origin"] = "detected"
        stats = {"source": "detected", **stats}
    dates = config.imagery
    patches["before_date"] = dates.before_date if dates else None
    patches["after_date"] = dates.after_date if dates else None
    return patches[[*PATCH_COLUMNS, patches.geometry.name]], stats


def _overlay(tasks: list, client, progress: bool) -> list[gpd.GeoDataFrame]:
    """Run the per-county tasks, on a dask.distributed client when one is given."""
    bar = tqdm(total=len(tasks), desc="overlay", unit="county", disable=not progress, leave=False)
    try:
        if client is None:
            results = []
            for task in tasks:
                results.append(split_county(task))
                bar.update()
            return results
        from distributed import as_completed

        futures = client.map(split_county, tasks, pure=False)
        for _ in as_completed(futures):
            bar.update()
        return client.gather(futures)
    finally:
        bar.close()


def _connect(scheduler: str | None):
    if scheduler is None:
        return None
    try:
        from distributed import Client

        return Client(scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerError(f"cannot reach dask scheduler at {scheduler}: {exc}") from None


def _staging_dir(output: Path) -> Path:
    """A fresh marked ``.<name>.partial-PID`` folder beside the (claimed, resolved) output."""
    return output_folder.make_staging(output)


def _publish(staging: Path, output: Path) -> None:
    """Swap the finished staging folder into place atomically (the old output is removed only after)."""
    output_folder.publish(staging, output)


def run_pipeline(
    config: RunConfig, *, scheduler: str | None = None, progress: bool = True, log: Log = print,
    warn: Log | None = None,
) -> RunResult:
    """Run every stage for one config and write all deliverables to ``config.output``.

    ``log`` receives progress lines, ``warn`` the warnings (default: ``log``); the CLI keeps
    warnings on stderr even with ``--quiet``.
    """
    warn = warn or log
    from pipeline.chips_io import write_run_field_packages
    from reports import (render_ratio_chart, write_county_csv, write_excel_report,
                         write_html_report, write_patches_gpkg)

    started = datetime.now(timezone.utc)
    timings = _Timings()
    # Refuse a bad output folder and take its lock before any work (see pipeline.output_folder).
    claim = output_folder.claim_output(config.output, [p for _, p in input_files(config)], log=warn)
    client = None
    staging: Path | None = None
    try:
        client = _connect(scheduler)
        staging = _staging_dir(claim.path)
        with timings.stage("read layers", log):
            imagery = open_run_imagery(config)  # checks every tile and mask before any pixel is read
            counties, county_report = layers.read_counties(config.counties)
            farmland, farm_report = layers.read_polygons(config.farmland, "farmland")
            basic, basic_report = layers.read_polygons(config.basic_farmland, "basic_farmland")
            approved, approved_report = layers.read_polygons(config.approved, "approved")
            layers.check_layer_extents(
                (counties, config.counties.path),
                {"farmland": (farmland, config.farmland.path),
                 "basic_farmland": (basic, config.basic_farmland.path),
                 "approved": (approved, config.approved.path)},
                imagery_bounds=imagery_bounds(imagery),
            )
        layer_reports = [county_report, farm_report, basic_report, approved_report]

        stage_name = "read received patches" if config.patches else "detect patches"
        with timings.stage(stage_name, log):
            patches, patch_stats = load_patches(config, imagery=imagery, progress=progress)
            if config.patches is not None:
                layers.check_layer_extents((counties, config.counties.path),
                                           {"patches": (patches, config.patches.path)})
        log(f"    {len(patches)} patches ({patch_stats['source']})")

        with timings.stage("overlay by county", log):
            tasks = county_tasks(patches, counties, farmland, basic, approved)
            parts = _overlay(tasks, client, progress)
            official_ids = config.patches is not None and config.patches.id_field is not None
            pieces = combine_pieces(parts, year=config.year, template=patches, official_ids=official_ids)
            pieces.insert(pieces.columns.get_loc("county_name") + 1, "year", config.year)
            unassigned = unassigned_parts(patches, counties)
            overlaps = overlapping_patches(patches)
            county_overlaps = overlapping_counties(counties)
        quality = data_quality(layer_reports + _patch_layer_report(patch_stats), county_overlaps,
                               overlaps, unassigned)
        for line in warning_lines(quality):
            warn(f"    warning: {line}")

        with timings.stage("county ratios", log):
            ratios = county_ratios(pieces, counties, config.thresholds)

        run_info = {
            "year": config.year,
            "interview": config.thresholds.interview,
            "accountability": config.thresholds.accountability,
            "interview_rule": config.thresholds.interview_rule,
            "accountability_rule": config.thresholds.accountability_rule,
            "config": str(config.source),
            "generated_at": started.isoformat(timespec="seconds"),
            "source": patch_stats["source"],
            "landcheck_version": landcheck_version(),
            "data_quality": quality,
        }
        outputs: dict[str, Path] = {}

        def _final(path: Path) -> Path:  # where a staged file will be, for messages
            return config.output / path.relative_to(staging)
        with timings.stage("write deliverables", log):
            zones = dict(zip(counties["county_code"], zone_epsg_for_geometries(counties)))
            county_crs = {code: CRS.from_epsg(int(epsg)) for code, epsg in zones.items()}
            outputs["county_ratios"] = staging / "county_ratios.csv"
            with writing(outputs["county_ratios"], _final(outputs["county_ratios"])):
                write_county_csv(ratios, outputs["county_ratios"])
            outputs["patches"] = staging / "patches.gpkg"
            with writing(outputs["patches"], _final(outputs["patches"])):
                write_patches_gpkg(pieces, ratios, counties, outputs["patches"])
            with writing(staging / "field_verification", _final(staging / "field_verification")):
                packages = write_run_field_packages(config, pieces, staging, county_crs, imagery)
            outputs["chart"] = staging / "ratio_chart.png"
            with writing(outputs["chart"], _final(outputs["chart"])):
                render_ratio_chart(ratios, run_info, outputs["chart"])
            outputs["report_html"] = staging / "report.html"
            with writing(outputs["report_html"], _final(outputs["report_html"])):
                write_html_report(ratios, run_info, outputs["chart"], outputs["report_html"])
            outputs["report_xlsx"] = staging / "report.xlsx"
            with writing(outputs["report_xlsx"], _final(outputs["report_xlsx"])):
                write_excel_report(ratios, pieces, run_info, outputs["report_xlsx"])
            for code, path in sorted(packages.items()):
                outputs[f"field_verification/{code}"] = path

        manifest = build_manifest(
            config=config, started=started, timings=dict(timings), layer_reports=layer_reports,
            patch_stats=patch_stats, pieces=pieces, ratios=ratios, unassigned=unassigned, overlaps=overlaps,
            outputs=outputs, staging=staging, scheduler=scheduler, quality=quality,
        )
        with writing(staging / "manifest.json", _final(staging / "manifest.json")):
            write_json(manifest, staging / "manifest.json")
        _publish(staging, claim.path)
    except BaseException:
        if staging is not None:
            output_folder.remove_tree(staging)
        raise
    finally:
        claim.release()
        if client is not None:
            client.close()
    final = {name: config.output / path.relative_to(staging) for name, path in outputs.items()}
    final["manifest"] = config.output / "manifest.json"
    return RunResult(output=config.output, pieces=pieces, ratios=ratios, manifest=manifest, outputs=final)


def _patch_layer_report(patch_stats: dict) -> list[layers.LayerReport]:
    """The received-patches layer report (repairs, drops), if patches were received."""
    layer = patch_stats.get("layer")
    return [layers.LayerReport(**layer)] if layer else []


def compute_pieces(config: RunConfig, *, progress: bool = False,
                   imagery: Imagery | None = None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The run's patch pieces, computed from the config's inputs without writing anything.

    The same reading, patches (received, or detected when ``imagery`` is configured) and
    per-county overlay as :func:`run_pipeline`, in-process: for commands that compare something
    with the run's pieces (``landcheck verdicts check``). No output folder is claimed or touched.

    Returns ``(pieces, counties)``: the pieces as the renderers receive them
    (:data:`overlay.contracts.RUN_PIECE_COLUMNS`, ``year`` included) and the county layer
    (``county_code``, ``county_name``, geometry).
    """
    imagery = imagery if imagery is not None else open_run_imagery(config)
    counties, _ = layers.read_counties(config.counties)
    farmland, _ = layers.read_polygons(config.farmland, "farmland")
    basic, _ = layers.read_polygons(config.basic_farmland, "basic_farmland")
    approved, _ = layers.read_polygons(config.approved, "approved")
    layers.check_layer_extents(
        (counties, config.counties.path),
        {"farmland": (farmland, config.farmland.path),
         "basic_farmland": (basic, config.basic_farmland.path),
         "approved": (approved, config.approved.path)},
        imagery_bounds=imagery_bounds(imagery),
    )
    patches, _ = load_patches(config, imagery=imagery, progress=progress)
    if config.patches is not None:
        layers.check_layer_extents((counties, config.counties.path),
                                   {"patches": (patches, config.patches.path)})
    tasks = county_tasks(patches, counties, farmland, basic, approved)
    parts = _overlay(tasks, None, progress)
    official_ids = config.patches is not None and config.patches.id_field is not None
    pieces = combine_pieces(parts, year=config.year, template=patches, official_ids=official_ids)
    pieces.insert(pieces.columns.get_loc("county_name") + 1, "year", config.year)
    return pieces, counties
