"""The whole run: read inputs, detect (or read) patches, overlay, account, write deliverables.

Outputs are written into a staging folder beside the output folder and moved
into place only when everything succeeded, so a failed run leaves nothing
half-written. Per-county overlay tasks run on the active dask scheduler: a
``distributed.Client`` when a scheduler address is given, else in-process.
"""
from __future__ import annotations

import os
import shutil
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
from overlay.crs import zone_epsg_for_geometries
from overlay.qa import overlapping_patches
from overlay.split import combine_pieces, county_tasks, split_county, unassigned_parts
from pipeline import layers
from pipeline.config import RunConfig
from pipeline.diskio import writing
from pipeline.errors import LandcheckError, SchedulerError
from pipeline.manifest import build_manifest, write_json

__all__ = ["RunResult", "run_pipeline", "load_patches"]

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


def load_patches(config: RunConfig, *, progress: bool = True) -> tuple[gpd.GeoDataFrame, dict]:
    """Patches to overlay: received ones if ``patches`` is configured, else detected from imagery.

    Columns: ``source_id, origin, mean_score, before_date, after_date``, geometry.
    """
    if config.patches is not None:
        patches, report = layers.read_patches(config.patches)
        patches["origin"] = "received"
        patches["mean_score"] = float("nan")
        stats = {"source": "received", "layer": report.to_dict()}
    else:
        from pipeline.detect import detect_patches

        patches, stats = detect_patches(config.imagery, config.detection, progress=progress)
        patches = patches.copy()
        patches["origin"] = "detected"
        stats = {"source": "detected", **stats}
    dates = config.imagery
    patches["before_date"] = dates.before_date if dates else None
    patches["after_date"] = dates.after_date if dates else None
    columns = ["source_id", "origin", "mean_score", "before_date", "after_date"]
    return patches[columns + [patches.geometry.name]], stats


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
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def _publish(staging: Path, output: Path) -> None:
    """Swap the finished staging folder into place (the old output is removed only after)."""
    old = None
    if output.exists():
        old = output.parent / f".{output.name}.old-{os.getpid()}"
        output.rename(old)
    staging.rename(output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def run_pipeline(
    config: RunConfig, *, scheduler: str | None = None, progress: bool = True, log: Log = print
) -> RunResult:
    """Run every stage for one config and write all deliverables to ``config.output``."""
    from reports import (render_ratio_chart, write_county_csv, write_excel_report,
                         write_field_packages, write_html_report, write_patches_gpkg)

    started = datetime.now(timezone.utc)
    timings = _Timings()
    client = _connect(scheduler)
    staging = _staging_dir(config.output)
    try:
        with timings.stage("read layers", log):
            counties, county_report = layers.read_counties(config.counties)
            farmland, farm_report = layers.read_polygons(config.farmland, "farmland")
            basic, basic_report = layers.read_polygons(config.basic_farmland, "basic_farmland")
            approved, approved_report = layers.read_polygons(config.approved, "approved")
        layer_reports = [county_report, farm_report, basic_report, approved_report]

        stage_name = "read received patches" if config.patches else "detect patches"
        with timings.stage(stage_name, log):
            patches, patch_stats = load_patches(config, progress=progress)
        log(f"    {len(patches)} patches ({patch_stats['source']})")

        with timings.stage("overlay by county", log):
            tasks = county_tasks(patches, counties, farmland, basic, approved)
            parts = _overlay(tasks, client, progress)
            pieces = combine_pieces(parts, year=config.year, template=patches)
            pieces.insert(pieces.columns.get_loc("county_name") + 1, "year", config.year)
            unassigned = unassigned_parts(patches, counties)
            overlaps = overlapping_patches(patches)
        if len(overlaps):
            log(f"    warning: {len(overlaps)} pair(s) of patches overlap by "
                f"{overlaps.overlap_m2.sum():.2f} m² in all; that area counts once per patch "
                "(listed in the manifest)")
        if len(unassigned):
            log(f"    warning: {len(unassigned)} patch part(s), {unassigned.area_m2.sum():.2f} m², "
                "lie in no county of the county layer; listed in the manifest")

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
            "landcheck_version": _version(),
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
                packages = write_field_packages(pieces, staging, county_crs=county_crs)
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
            outputs=outputs, staging=staging, scheduler=scheduler,
        )
        with writing(staging / "manifest.json", _final(staging / "manifest.json")):
            write_json(manifest, staging / "manifest.json")
        _publish(staging, config.output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if client is not None:
            client.close()
    final = {name: config.output / path.relative_to(staging) for name, path in outputs.items()}
    final["manifest"] = config.output / "manifest.json"
    return RunResult(output=config.output, pieces=pieces, ratios=ratios, manifest=manifest, outputs=final)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("landcheck")
    except PackageNotFoundError:
        return "unknown"
