"""The whole run: read inputs, detect (or read) patches, overlay, account, write deliverables.

Outputs are written into a staging folder beside the output folder and moved
into place only when everything succeeded, so a failed run leaves nothing
half-written. Per-county overlay tasks run on the active dask scheduler: a
``distributed.Client`` when a scheduler address is given, else in-process.
"""
from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import geopandas as gpd
import pandas as pd

from overlay.contracts import PATCH_COLUMNS
from overlay.verified import decisive_ratios, key_project_mask, level_counts, previous_unrectified
from pipeline import layers, output_folder
from pipeline.config import RunConfig
from pipeline.background import ChildCall, ChildLost, start_in_child
from pipeline.county_package import check_package_texts, deliver_packages, package_job
from pipeline.county_runner import local_cluster_client
from pipeline.diskio import writing
from pipeline.imagery import Imagery, open_imagery
from pipeline.errors import ConfigError, CountyFailedError, SchedulerError
from pipeline.manifest import build_manifest, input_files, jsonable, landcheck_version, write_json
from pipeline.overlay_stage import SMALL_RUN_COUNTIES, open_layer_sources, overlay_by_county
from pipeline.previous import PreviousRun, read_previous_run
from pipeline.quality import data_quality, warning_lines
from pipeline.verdicts import RunVerdicts, run_verdicts

__all__ = ["RunResult", "run_pipeline", "load_patches", "compute_pieces", "level_summary"]

Log = Callable[[str], None]


@dataclass
class RunResult:
    """What a run produced, for the CLI and the tests."""

    output: Path
    pieces: gpd.GeoDataFrame
    ratios: pd.DataFrame
    manifest: dict
    outputs: dict[str, Path] = field(default_factory=dict)
    failures: list = field(default_factory=list)


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


def _connect(scheduler: str | None):
    if scheduler is None:
        return None
    try:
        from distributed import Client

        return Client(scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerError(f"cannot reach dask scheduler at {scheduler}: {exc}") from None


@dataclass
class _Overlaid:
    """What reading the inputs and overlaying the patches gave (shared by the run and
    :func:`compute_pieces`)."""

    imagery: Imagery | None
    counties: gpd.GeoDataFrame
    pieces: gpd.GeoDataFrame
    patch_stats: dict
    layer_reports: list
    unassigned: gpd.GeoDataFrame
    overlaps: pd.DataFrame
    county_overlaps: pd.DataFrame
    failures: list = field(default_factory=list)
    county_seconds: dict = field(default_factory=dict)
    resumed_counties: int = 0
    packages: dict = field(default_factory=dict)  # county code -> PackageRecord, written by the jobs


def _county_client(client, n_counties: int, workers: int | None = None):
    """The client county jobs run on: the given one; else, with ``workers`` (> 1) a LocalCluster
    of that many workers, with ``workers`` 1 none (this process); by default a LocalCluster sized
    to the machine for runs of many counties, else none. Returns ``(client, owned)``."""
    if client is not None:
        return client, False
    if workers is not None:
        return (local_cluster_client(workers), True) if workers > 1 else (None, False)
    cores = os.cpu_count() or 1
    if cores < 2 or n_counties < SMALL_RUN_COUNTIES * cores:
        return None, False
    return local_cluster_client(cores), True


def _read_and_overlay(config: RunConfig, *, client, progress: bool, log: Log, timings: _Timings,
                      work: Path, imagery: Imagery | None = None, workers: int | None = None,
                      packages: bool = False) -> _Overlaid:
    """Read and check every layer, detect or read the patches, overlay them county by county
    (:mod:`pipeline.overlay_stage`: each county job reads its own windows, on dask.distributed
    when there is a client or the run is large; finished counties are checkpointed in ``work``).
    ``packages``: each job also writes its county's field package into ``work``."""
    with timings.stage("read layers", log):
        if imagery is None:
            imagery = open_run_imagery(config)  # checks every tile and mask before any pixel is read
        counties, county_report = layers.read_counties(config.counties, with_fid=True)
        _check_severe_impact(config, counties)  # a config mistake: before any detection
        if packages:
            check_package_texts(config, counties=counties)
        sources = open_layer_sources(config, work, counties, imagery_bounds(imagery))
    stage_name = "read received patches" if config.patches else "detect patches"
    with timings.stage(stage_name, log):
        patches, patch_stats = load_patches(config, imagery=imagery, progress=progress)
        if config.patches is not None:
            layers.check_layer_extents((counties, config.counties.path),
                                       {"patches": (patches, config.patches.path)})
        if packages:
            check_package_texts(config, patches=patches)
    log(f"    {len(patches)} patches ({patch_stats['source']})")
    with timings.stage("overlay by county", log):
        jobs_client, owned = _county_client(client, len(counties), workers)
        try:
            stage = overlay_by_county(config, patches, work, client=jobs_client, progress=progress,
                                      log=log, counties=(counties, county_report), sources=sources,
                                      packages=package_job(config, imagery, work) if packages else None)
        finally:
            if owned:
                cluster = jobs_client.cluster
                jobs_client.close()
                cluster.close()
    return _Overlaid(imagery=imagery, counties=stage.counties, pieces=stage.pieces,
                     patch_stats=patch_stats, layer_reports=stage.layer_reports,
                     unassigned=stage.unassigned, overlaps=stage.overlaps,
                     county_overlaps=stage.county_overlaps, failures=stage.failures,
                     county_seconds=stage.county_seconds, resumed_counties=stage.resumed_counties,
                     packages=stage.packages)


def _check_severe_impact(config: RunConfig, counties: gpd.GeoDataFrame) -> None:
    """Every ``severe_impact`` county must be a county of the county layer (ConfigError, exit 2)."""
    codes = set(counties["county_code"].astype(str))
    for i, entry in enumerate(config.severe_impact):
        if entry.county_code not in codes:
            raise ConfigError(f"{config.source}: 'severe_impact[{i}].county_code' {entry.county_code} is not "
                              f"a county of the county layer {config.counties.path}")


@dataclass
class _Decided:
    """The decisive picture: verified pieces (with ``key_project``), the county table, the
    verdicts as read, last year's unrectified illegal pieces, and what to report about them."""

    pieces: gpd.GeoDataFrame
    ratios: pd.DataFrame
    verdicts: RunVerdicts
    unrectified: pd.DataFrame | None
    previous: PreviousRun | None
    layer_reports: list
    key_projects_unknown: tuple[str, ...]

    def run_info(self, config: RunConfig, counties: gpd.GeoDataFrame) -> dict:
        """What the reports say about verdicts, key projects, severe impact and last year."""
        names = dict(zip(counties["county_code"].astype(str), counties["county_name"].astype(str)))
        key = self.pieces["key_project"].astype(bool)
        info: dict = {
            "verified": config.verdicts is not None,
            "verdict_files": len(config.verdicts.files) if config.verdicts is not None else 0,
            "verdict_problems": [p.line() for p in self.verdicts.problems],
            "severe_impact": [{"county_code": e.county_code, "county_name": names.get(e.county_code, ""),
                               "reason": e.reason} for e in config.severe_impact],
            "key_projects": None if config.key_projects is None else {
                "jcbh": list(config.key_projects.jcbh),
                "layer": str(config.key_projects.layer.path) if config.key_projects.layer else None,
                "pieces": sorted(self.pieces.loc[key, "patch_id"].astype(str)),
                "illegal_m2": float(self.ratios["key_project_illegal_m2"].sum()),
                "unknown_jcbh": list(self.key_projects_unknown),
            },
            "previous_run": None,
        }
        if self.previous is not None:
            table = self.unrectified if self.unrectified is not None else pd.DataFrame()
            info["previous_run"] = {
                "folder": str(self.previous.folder), "year": self.previous.year,
                "n_unrectified": int(len(table)),
                "unrectified_m2": float(table["illegal_farmland_m2"].sum()) if len(table) else 0.0,
                "unrectified": jsonable(table.to_dict("records")),
            }
        return info

    def manifest_section(self) -> dict:
        """The manifest's ``verification``: counts of both pictures and the verdict problems."""
        return {
            "counties_by_level": level_counts(self.ratios, "level"),
            "counties_by_suspected_level": level_counts(self.ratios, "suspected_level"),
            "pieces_verified": int(self.ratios["n_verified"].sum()),
            "pieces": int(len(self.pieces)),
            "counties_complete": sorted(self.ratios.loc[self.ratios["complete"].astype(bool),
                                                        "county_code"].astype(str)),
            "verdict_problems": [p.line() for p in self.verdicts.problems],
            "verdicts_ignored_jcbh": list(self.verdicts.ignored_jcbh),
            "key_project_pieces": sorted(self.pieces.loc[self.pieces["key_project"].astype(bool),
                                                         "patch_id"].astype(str)),
            "previous_run_unrectified": int(len(self.unrectified)) if self.unrectified is not None else None,
        }


@dataclass
class _Extras:
    """What a run reads besides the layers and patches: the key-project layer (and its report)
    and last year's run; read before any detection, so that a bad one fails early."""

    key_polygons: gpd.GeoDataFrame | None = None
    layer_reports: list = field(default_factory=list)
    previous: PreviousRun | None = None


def read_extras(config: RunConfig) -> _Extras:
    """Read ``key_projects.layer`` and ``previous_run`` (one-line errors, exit 3)."""
    extras = _Extras()
    if config.key_projects is not None and config.key_projects.layer is not None:
        extras.key_polygons, report = layers.read_polygons(config.key_projects.layer, "key_projects")
        extras.layer_reports.append(report)
    if config.previous_run is not None:
        extras.previous = read_previous_run(config.previous_run, config.year)
    return extras


def _decide(config: RunConfig, pieces: gpd.GeoDataFrame, counties: gpd.GeoDataFrame,
            extras: _Extras, failed: dict[str, str] | None = None) -> _Decided:
    """Verdicts applied, key projects marked, last year compared: the run's county table."""
    verdicts = run_verdicts(config, pieces, counties)
    verified = verdicts.verified
    unknown: tuple[str, ...] = ()
    jcbh: tuple[str, ...] = ()
    if config.key_projects is not None:
        jcbh = config.key_projects.jcbh
        unknown = tuple(j for j in jcbh if j not in set(pieces["patch_id"].astype(str)))
    verified["key_project"] = key_project_mask(verified, jcbh, extras.key_polygons)
    previous, unrectified = extras.previous, None
    if previous is not None:
        unrectified = previous_unrectified(previous.pieces)
    ratios = decisive_ratios(
        verified, counties, config.thresholds,
        severe_impact={e.county_code: e.reason for e in config.severe_impact},
        previous_ratios=previous.ratios if previous is not None else None,
        unrectified=unrectified, failed=failed)
    return _Decided(pieces=verified, ratios=ratios, verdicts=verdicts, unrectified=unrectified,
                    previous=previous, layer_reports=extras.layer_reports, key_projects_unknown=unknown)


def level_summary(ratios: pd.DataFrame) -> str:
    """``levels: accountability 2, ... (suspected: ...); 15 of 22 pieces verified, 2 of 4 counties
    complete``: the decisive levels beside the overlay's, for the console."""
    def counts(column: str) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in level_counts(ratios, column).items())

    text = f"levels: {counts('level')}"
    if "suspected_level" not in ratios.columns:
        return text
    pieces = int(ratios["n_patches"].sum())
    complete = int(ratios["complete"].astype(bool).sum())
    return (f"{text} (suspected, overlay alone: {counts('suspected_level')}); "
            f"{int(ratios['n_verified'].sum())} of {pieces} pieces verified, {complete} of "
            f"{len(ratios)} counties complete")


def _publish(staging: Path, output: Path) -> None:
    """Swap the finished staging folder into place atomically (the old output is removed only after)."""
    output_folder.publish(staging, output)


def run_pipeline(
    config: RunConfig, *, scheduler: str | None = None, progress: bool = True, log: Log = print,
    warn: Log | None = None, resume: bool = False, workers: int | None = None,
) -> RunResult:
    """Run every stage for one config and write all deliverables to ``config.output``.

    ``log`` receives progress lines, ``warn`` the warnings (default: ``log``); the CLI keeps
    warnings on stderr even with ``--quiet``. ``resume``: continue a killed run of the same
    inputs (only the counties it had not finished are computed). Counties whose job failed are
    in :attr:`RunResult.failures` (and in every report); the CLI exits 4 then. ``workers``: local
    worker processes for the county jobs without a scheduler (1 = this process; default: by size).
    """
    warn = warn or log
    from pipeline.gis_project import write_run_gis_project
    from reports import (render_ratio_chart, render_report_map, write_county_csv, write_excel_report,
                         write_html_report, write_patches_gpkg, write_pdf_report,
                         write_unrectified_csv)

    started = datetime.now(timezone.utc)
    timings = _Timings()
    # Refuse a bad output folder and take its lock before any work (see pipeline.output_folder).
    claim = output_folder.claim_output(config.output, [p for _, p in input_files(config)], log=warn,
                                       resume=resume)
    client = None
    staging: Path | None = None
    try:
        client = _connect(scheduler)
        staging = output_folder.make_staging(claim.path, resume=resume)
        extras = read_extras(config)
        overlaid = _read_and_overlay(config, client=client, progress=progress, log=log, timings=timings,
                                     work=staging / output_folder.WORK_DIR, workers=workers, packages=True)
        counties, pieces = overlaid.counties, overlaid.pieces
        failed = {f.county_code: f.reason for f in overlaid.failures}

        with timings.stage("verdicts and county ratios", log):
            decided = _decide(config, pieces, counties, extras, failed)
        quality = data_quality(overlaid.layer_reports + decided.layer_reports
                               + _patch_layer_report(overlaid.patch_stats),
                               overlaid.county_overlaps, overlaid.overlaps, overlaid.unassigned,
                               verdict_problems=[p.line() for p in decided.verdicts.problems],
                               verdicts_ignored=decided.verdicts.ignored_jcbh,
                               key_projects_unknown=decided.key_projects_unknown,
                               failed_counties=[{"county_code": f.county_code, "county_name": f.county_name,
                                                 "reason": f.reason} for f in overlaid.failures])
        for line in warning_lines(quality):
            warn(f"    warning: {line}")
        ratios = decided.ratios
        layer_reports = overlaid.layer_reports + decided.layer_reports
        patch_stats = overlaid.patch_stats
        log(f"    {level_summary(ratios)}")

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
            **decided.run_info(config, counties),
        }
        outputs: dict[str, Path] = {}

        def _final(path: Path) -> Path:  # where a staged file will be, for messages
            return config.output / path.relative_to(staging)
        with timings.stage("write deliverables", log), _excel_beside(ratios, decided.pieces, run_info,
                                                                  staging / "report.xlsx") as excel:
            outputs["county_ratios"] = staging / "county_ratios.csv"
            with writing(outputs["county_ratios"], _final(outputs["county_ratios"])):
                write_county_csv(ratios, outputs["county_ratios"])
            outputs["patches"] = staging / "patches.gpkg"
            with writing(outputs["patches"], _final(outputs["patches"])):
                write_patches_gpkg(decided.pieces, ratios, counties, outputs["patches"])
            with writing(staging / "landcheck.qgz", _final(staging / "landcheck.qgz")):
                outputs.update(write_run_gis_project(config, decided.pieces, counties, staging,
                                                     generated_at=started))
            if decided.unrectified is not None:
                outputs["previous_unrectified"] = staging / "previous_unrectified.csv"
                with writing(outputs["previous_unrectified"], _final(outputs["previous_unrectified"])):
                    write_unrectified_csv(decided.unrectified, outputs["previous_unrectified"])
            with writing(staging / "field_verification", _final(staging / "field_verification")):
                packages = deliver_packages(overlaid.packages.items(), staging / output_folder.WORK_DIR,
                                            staging)  # written by the county jobs
            outputs["chart"] = staging / "ratio_chart.png"
            with writing(outputs["chart"], _final(outputs["chart"])):
                render_ratio_chart(ratios, run_info, outputs["chart"])
            outputs["map"] = staging / "report_map.png"
            with writing(outputs["map"], _final(outputs["map"])):
                render_report_map(ratios, counties, decided.pieces, run_info, outputs["map"])
            outputs["report_html"] = staging / "report.html"
            with writing(outputs["report_html"], _final(outputs["report_html"])):
                write_html_report(ratios, run_info, outputs["chart"], outputs["report_html"],
                                  map_png=outputs["map"], pieces=decided.pieces)
            outputs["report_pdf"] = staging / "report.pdf"
            with writing(outputs["report_pdf"], _final(outputs["report_pdf"])):
                write_pdf_report(ratios, run_info, outputs["report_pdf"], chart_png=outputs["chart"],
                                 map_png=outputs["map"], pieces=decided.pieces)
            outputs["report_xlsx"] = staging / "report.xlsx"
            with writing(outputs["report_xlsx"], _final(outputs["report_xlsx"])):
                written = False
                if excel is not None:
                    try:
                        excel.result()  # written by a child process meanwhile
                        written = True
                    except ChildLost as exc:
                        warn(f"    warning: the process writing report.xlsx stopped ({exc}); "
                             f"writing it here instead")
                if not written:
                    write_excel_report(ratios, decided.pieces, run_info, outputs["report_xlsx"])
            for code, (path, _) in sorted(packages.items()):
                outputs[f"field_verification/{code}"] = path

        manifest = build_manifest(
            config=config, started=started, timings=dict(timings), layer_reports=layer_reports,
            patch_stats=patch_stats, pieces=pieces, ratios=ratios, unassigned=overlaid.unassigned,
            overlaps=overlaid.overlaps, outputs=outputs, staging=staging, scheduler=scheduler, quality=quality,
            extra={"verification": decided.manifest_section(),
                   "counties": _county_section(overlaid)},
            known_hashes={path: (rec.bytes, rec.sha256) for path, rec in packages.values()},
        )
        with writing(staging / "manifest.json", _final(staging / "manifest.json")):
            write_json(manifest, staging / "manifest.json")
        _publish(staging, claim.path)
    except BaseException as exc:
        # an interruption (Ctrl-C, SIGTERM) keeps the finished counties for --resume; an error
        # does not (a kill leaves them anyway, and the next run tidies or resumes them)
        interrupted = not isinstance(exc, Exception)
        if staging is not None and interrupted and _has_checkpoints(staging):
            warn(f"    kept the finished counties for 'landcheck run {config.source} --resume' "
                 f"({staging.name})")
        elif staging is not None:
            output_folder.remove_tree(staging)
        raise
    finally:
        claim.release()
        if client is not None:
            client.close()
    final = {name: config.output / path.relative_to(staging) for name, path in outputs.items()}
    final["manifest"] = config.output / "manifest.json"
    return RunResult(output=config.output, pieces=decided.pieces, ratios=ratios, manifest=manifest,
                     outputs=final, failures=list(overlaid.failures))


EXCEL_BESIDE_MIN_PIECES = 50_000
"""From this many pieces on, ``report.xlsx`` is written by a child process while the driver
writes the other deliverables (:func:`_excel_beside`); below, starting the process costs more
than it saves."""


@contextmanager
def _excel_beside(ratios: pd.DataFrame, pieces: gpd.GeoDataFrame, run_info: dict,
                  path: Path) -> Iterator[ChildCall | None]:
    """Start writing ``report.xlsx`` in a child process when the run is large, else yield None.

    The workbook is the same either way, member by member (save times aside; test); its writer, openpyxl, is pure Python,
    so on the national world it took 12 of the driver's 31 s of deliverables. A child still
    running when the block ends (an error or an interruption in the driver) is stopped first,
    so nothing writes into a staging folder that is being removed; a child that dies (killed,
    out of memory) leaves the workbook to the driver, with a warning.
    """
    if len(pieces) < EXCEL_BESIDE_MIN_PIECES:
        yield None
        return
    from reports.excel import write_excel_report

    attributes = pd.DataFrame(pieces.drop(columns=pieces.geometry.name))  # the sheet has no geometry
    try:
        child = start_in_child(write_excel_report, ratios, attributes, run_info, path)
    except OSError:  # no process can be started here (limits, no /dev/shm): the driver writes it
        yield None
        return
    try:
        yield child
    finally:
        child.close()


def _has_checkpoints(staging: Path) -> bool:
    """True when a stopped run finished some counties (kept for ``--resume``)."""
    folder = staging / output_folder.WORK_DIR / "counties"
    return folder.is_dir() and any(folder.glob("*.pkl"))


def _county_section(overlaid: _Overlaid) -> dict:
    """The manifest's ``counties``: each county's job time, the failed ones and why, resumed count."""
    seconds = sorted(overlaid.county_seconds.values())

    def pct(q: float) -> float | None:
        return round(seconds[min(len(seconds) - 1, int(q * len(seconds)))], 3) if seconds else None
    return {
        "seconds": {k: round(v, 3) for k, v in sorted(overlaid.county_seconds.items())},
        "p50_s": pct(0.5), "p95_s": pct(0.95),
        "failed": [{"county_code": f.county_code, "county_name": f.county_name, "reason": f.reason}
                   for f in overlaid.failures],
        "resumed": overlaid.resumed_counties,
    }


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
    with tempfile.TemporaryDirectory(prefix="landcheck-") as work:
        overlaid = _read_and_overlay(config, imagery=imagery, client=None, progress=progress,
                                     log=lambda _msg: None, timings=_Timings(), work=Path(work))
    if overlaid.failures:
        first = overlaid.failures[0]
        raise CountyFailedError(f"county {first.county_code} {first.county_name}: {first.reason}"
                                + (f" (and {len(overlaid.failures) - 1} more)" if len(overlaid.failures) > 1
                                   else ""))
    return overlaid.pieces, overlaid.counties
