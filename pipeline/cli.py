"""The ``landcheck`` command: a thin layer over :mod:`pipeline.run` and friends.

Every user error becomes one line ``landcheck: error: <file>: <problem>`` on
stderr and a non-zero exit code; ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import functools
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable

import click

from pipeline.diskio import os_reason
from pipeline.errors import ConfigError, InputFileError, LandcheckError

__all__ = ["main"]

#: exit codes besides the errors' own (pipeline.errors: 2 config, 3 input/output, 4 scheduler)
INTERNAL_ERROR_EXIT = 70
INTERRUPTED_EXIT = 130  # Ctrl-C (SIGINT)
TERMINATED_EXIT = 143  # SIGTERM, e.g. a batch system ending the job


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives (a batch system stopping the job)."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def _handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            return func(*args, **kwargs)
        except LandcheckError as exc:
            if debug:
                raise
            click.echo(f"landcheck: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("landcheck: interrupted; nothing was written to the output folder", err=True)
            sys.exit(INTERRUPTED_EXIT)
        except Terminated:
            click.echo("landcheck: terminated (SIGTERM); nothing was written to the output folder",
                       err=True)
            sys.exit(TERMINATED_EXIT)
        except BrokenPipeError:
            # stdout closed by the reader (`landcheck run ... | head`): the work is done and
            # published; only the summary lines could not be printed
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except Exception as exc:
            if debug:
                raise
            reason = os_reason(exc)
            if reason is not None:  # the user's file system, not a bug
                where = getattr(exc, "filename", None)
                click.echo(f"landcheck: error: {where + ': ' if where else ''}{reason}", err=True)
                sys.exit(InputFileError.exit_code)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            click.echo(f"landcheck: internal error: {type(exc).__name__}: {first} "
                       "(rerun with --debug for the traceback)", err=True)
            sys.exit(INTERNAL_ERROR_EXIT)
        finally:
            signal.signal(signal.SIGTERM, previous)
    return wrapper


def _named_levels(ratios, shown: int = 10) -> list[str]:
    """``accountability (2): 220204 船营区 44.4 %, ...`` for the levels that call for action (and
    failed counties), at most ``shown`` names each; the rest are in county_ratios.csv."""
    from overlay.contracts import LEVEL_FAILED, LEVEL_LABELS_ZH

    lines = []
    for level in ("accountability", "interview", LEVEL_FAILED):
        rows = ratios[ratios["level"].astype(str) == level]
        if not len(rows):
            continue
        names = []
        for _, r in rows.head(shown).iterrows():
            ratio = r.get("ratio")
            figure = "" if ratio != ratio or ratio is None else f" {100 * float(ratio):.2f} %"
            reason = " (severe impact)" if r.get("level_reason") == "severe_impact" else ""
            names.append(f"{r['county_code']} {r['county_name']}{figure}{reason}")
        more = f", and {len(rows) - shown} more (county_ratios.csv)" if len(rows) > shown else ""
        lines.append(f"{level.replace('_', ' ')} {LEVEL_LABELS_ZH[level]} ({len(rows)}): "
                     f"{', '.join(names)}{more}")
    return lines


def _bars(quiet: bool) -> bool:
    """Progress bars only when stderr is a terminal (a log file would fill with redraws)."""
    return not quiet and sys.stderr.isatty()


@click.group(context_settings={"max_content_width": 110})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="landcheck")
def main(debug: bool) -> None:
    """landcheck: the annual satellite land-enforcement check (土地卫片执法检查)."""


@main.command(short_help="Run everything for CONFIG: detect or read patches, overlay, ratios, reports.")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Output folder (overrides the config's 'output').")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on an existing dask.distributed cluster, e.g. tcp://10.0.0.5:8786.")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="Local worker processes for the county jobs without --scheduler (1: in this process; "
                   "default: one per core for runs of 8+ counties per core).")
@click.option("--resume", is_flag=True,
              help="Continue a run of the same inputs that was killed: only unfinished counties are computed.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@_handle_errors
def run(config: Path, out: Path | None, scheduler: str | None, workers: int | None, resume: bool,
        quiet: bool) -> None:
    """Run the whole pipeline for CONFIG: detect, overlay, ratios, reports."""
    from pipeline.config import load_config
    from pipeline.run import level_summary, run_pipeline

    cfg = load_config(config, output=out)
    def warn(msg: str) -> None:
        click.echo(msg, err=True)
    log = (lambda _msg: None) if quiet else warn
    if workers is not None and scheduler is not None:
        from pipeline.errors import ConfigError

        raise ConfigError("--workers is for local runs; with --scheduler the cluster's workers are used")
    # progress bars redraw with carriage returns: only on a terminal, never into a log file
    result = run_pipeline(cfg, scheduler=scheduler, progress=_bars(quiet), log=log, warn=warn, resume=resume,
                          workers=workers)
    click.echo(f"landcheck: {len(result.pieces)} patch pieces in {len(result.ratios)} counties; "
               f"{level_summary(result.ratios)}")
    for line in _named_levels(result.ratios):
        click.echo(f"  {line}")
    click.echo(f"landcheck: outputs in {result.output.resolve()}")
    for name in ("county_ratios", "patches", "qgis_project", "report_xlsx", "report_html", "report_pdf",
                 "chart", "map", "manifest"):
        if name in result.outputs:
            click.echo(f"  {result.outputs[name]}")
    click.echo(f"  {result.output / 'field_verification'}/ "
               f"({sum(k.startswith('field_verification/') for k in result.outputs)} county packages)")
    if result.failures:
        from pipeline.errors import CountyFailedError

        names = ", ".join(f"{f.county_code} {f.county_name}" for f in result.failures)
        raise CountyFailedError(f"{len(result.failures)} of {len(result.ratios)} counties failed and "
                                f"have no figures ({names}); the reasons are in every report")


@main.command(short_help="Check CONFIG and its input files without running anything.")
@click.argument("config", type=click.Path(path_type=Path))
@_handle_errors
def validate(config: Path) -> None:
    """Check CONFIG and its input files without running anything."""
    from pipeline import layers
    from pipeline.config import load_config
    from pipeline.run import imagery_bounds, open_run_imagery, read_extras

    cfg = load_config(config)
    counties, _ = layers.read_counties(cfg.counties)
    read_extras(cfg)  # the key-project layer and last year's run, as `run` reads them
    frames = {}
    for role in ("farmland", "basic_farmland", "approved"):
        frame, _ = layers.read_polygons(getattr(cfg, role), role)
        frames[role] = (frame, getattr(cfg, role).path)
    imagery = open_run_imagery(cfg)
    if imagery is not None:
        from pipeline.detect import check_model

        check_model(cfg.detection, tuple(imagery.band_names))
    if cfg.patches is not None:
        patches, _ = layers.read_patches(cfg.patches)
        frames["patches"] = (patches, cfg.patches.path)
    layers.check_layer_extents((counties, cfg.counties.path), frames,
                               imagery_bounds=imagery_bounds(imagery))
    click.echo(f"landcheck: {config} is valid")


@main.command(short_help="Detect change patches only (a config's tiles or any image pair).")
@click.argument("config", required=False, type=click.Path(path_type=Path))
@click.option("--before", type=click.Path(path_type=Path), default=None,
              help="Before image: any raster GDAL reads (GeoTIFF, JPEG2000, PNG, JPEG). "
                   "With --after, instead of CONFIG.")
@click.option("--after", type=click.Path(path_type=Path), default=None, help="After image.")
@click.option("--config", "settings", type=click.Path(path_type=Path), default=None,
              metavar="CFG",
              help="With --before/--after: a YAML config whose 'detection' section (and "
                   "imagery.bands / imagery.resample, if set) is used; it may not list imagery tiles.")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, metavar="DIR",
              help="Output folder (new, empty, or an earlier landcheck output with --overwrite).")
@click.option("--bands", default=None, metavar="SPEC",
              help="rgb, rgbn, bgr, bgrn, or 1-based band indexes in the order blue,green,red[,nir] "
                   "(e.g. 3,2,1,4). Default: CONFIG's imagery.bands; for a pair, the files' colour "
                   "interpretation, or rgb for 3-band files.")
@click.option("--resample", default=None, metavar="METHOD",
              help="none, nearest, bilinear or cubic: how a grid off by less than a pixel (a pair: "
                   "any after grid) is read onto the reference grid. Default: CONFIG's "
                   "imagery.resample (none); for a pair, nearest.")
@click.option("--min-area-m2", type=click.FloatRange(min=0), default=None, metavar="M2",
              help="Minimum patch area in m². Default: detection.min_area_m2 (400); for a pair "
                   "the larger of 50 m² and 16 pixels.")
@click.option("--min-area-px", type=click.FloatRange(min=0), default=None, metavar="PX",
              help="Minimum patch area in pixels (the unit for images without georeference; "
                   "default 16 there).")
@click.option("--model", "model", type=click.Path(path_type=Path), default=None, metavar="PATH",
              help="Detector model, overriding detection.model: a LightGBM model (.txt with its "
                   ".json card, e.g. from 'landcheck train') or your own change network (.onnx, "
                   "run through onnxruntime on overlapping tiles).")
@click.option("--overwrite", is_flag=True,
              help="Replace an earlier landcheck output in --out (never an input, never foreign files).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@_handle_errors
def detect(config: Path | None, before: Path | None, after: Path | None, settings: Path | None,
           out: Path, bands: str | None, resample: str | None, min_area_m2: float | None,
           min_area_px: float | None, model: Path | None, overwrite: bool, quiet: bool) -> None:
    """Detect change patches only: from CONFIG's imagery tiles, or from any --before/--after pair.

    \b
      landcheck detect CONFIG --out DIR
      landcheck detect --before A.tif --after B.tif --out DIR [--config CFG]

    Writes into the folder DIR: change_mask.tif (uint8 on the before/imagery grid: 1 change,
    0 no change, 255 no data), patches.gpkg (layer 'patches': source_id, mean_score, area_m2 or
    area_px, and the detector's measures), detection.json (statistics, shift, threshold,
    minimum area, inputs with sha256) and manifest.json. Images without georeference (a plain
    PNG or JPEG) are compared pixel by pixel: same size, areas in pixels. CONFIG needs only the
    'imagery' and 'detection' sections.
    """
    import dataclasses

    from pipeline.config import (RESAMPLING_METHODS, DetectionConfig, band_mapping, check_model,
                                 load_detect_config, with_model)
    from pipeline.detect import check_model as check_model_bands
    from pipeline.manifest import model_files
    from pipeline.errors import OutputError
    from pipeline.layers import layer_files
    from pipeline.output_folder import check_output_folder
    from pipeline import pair

    if config is not None and (before is not None or after is not None):
        raise ConfigError("detect: give either CONFIG or --before and --after, not both")
    if (before is None) != (after is None):
        raise ConfigError("detect: --before and --after go together")
    if config is None and before is None:
        raise ConfigError("detect: give CONFIG (a YAML config with imagery tiles) or --before and "
                          "--after (two images)")
    if config is not None and settings is not None:
        raise ConfigError("detect: --config is for --before/--after; CONFIG already holds the "
                          "detection settings")
    if resample is not None and resample not in RESAMPLING_METHODS:
        raise ConfigError(f"--resample must be one of {', '.join(RESAMPLING_METHODS)}, "
                          f"got {resample!r}")
    def check_out(inputs: list[tuple[str, Path]], protect: list[Path]) -> None:
        """Refuse a bad --out before any pixel is read (the folder rules, then the old form)."""
        check_output_folder(out, [p for _, p in inputs] + protect)
        if out.suffix.lower() == ".gpkg" and not out.is_dir():
            raise OutputError(out, "--out now names a folder: detect writes change_mask.tif, "
                                   "patches.gpkg and detection.json into it; give a folder such as "
                                   "out/detect (the patches are then in out/detect/patches.gpkg)")

    def warn(msg: str) -> None:
        click.echo(msg, err=True)
    log = (lambda _msg: None) if quiet else warn

    inputs: list[tuple[str, Path]] = []
    if config is not None:
        from pipeline.imagery import open_imagery

        dcfg = load_detect_config(config)
        imagery = dcfg.imagery
        if bands is not None:
            try:
                imagery = dataclasses.replace(imagery, bands=band_mapping(bands, "--bands"))
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if resample is not None:
            imagery = dataclasses.replace(imagery, resample=resample)
        detection = dcfg.detection
        if model is not None:
            detection = with_model(detection, model, check_model(model, None, "--model"))
        inputs.append(("config", config))
        for role in ("before", "after", "before_cloud_masks", "after_cloud_masks"):
            inputs += [(f"imagery.{role}", p) for p in getattr(imagery, role)]
        protect = [f for p in dcfg.referenced for f in layer_files(p)]
        inputs += model_files(detection)
        check_out(inputs, protect)
        img = open_imagery(imagery, detection.chunk_px, max_grid_pixels=detection.max_grid_pixels)
        source = "detection.min_area_m2" + ("" if dcfg.min_area_given else " (default)")
        min_area = pair.choose_min_area(img.grid, flag_m2=min_area_m2, flag_px=min_area_px,
                                        config_m2=detection.min_area_m2, config_source=source)
        meta = {"mode": "config", "config": str(config),
                "bands": {"before": dict(imagery.bands), "after": dict(imagery.bands),
                          "source": "--bands" if bands is not None else "imagery.bands"},
                "resample": imagery.resample, "notes": []}
        if img.resampled:
            worst = max(max(abs(v) for v in r.offset_px) for r in img.resampled)
            log(f"detect: {len(img.resampled)} tile(s) resampled ({imagery.resample}) onto the "
                f"grid of {imagery.before[0]}, largest offset {worst:.3f} px")
    else:
        dcfg = load_detect_config(settings, imagery_required=False) if settings is not None else None
        detection = dcfg.detection if dcfg is not None else DetectionConfig()
        if model is not None:
            detection = with_model(detection, model, check_model(model, None, "--model"))
        spec, spec_from = bands, "--bands"
        if spec is None and dcfg is not None and dcfg.bands is not None:
            spec, spec_from = dcfg.bands, f"imagery.bands of {settings}"
        method = resample or (dcfg.resample if dcfg is not None and dcfg.resample else None) \
            or pair.PAIR_RESAMPLE_DEFAULT
        inputs += [("before", before), ("after", after)]
        protect = []
        if dcfg is not None:
            inputs.append(("config", settings))
            protect = [f for p in dcfg.referenced for f in layer_files(p)]
        inputs += model_files(detection)
        check_out(inputs, protect)
        img, info = pair.open_pair(before, after, bands=spec, resample=method,
                                   chunk_px=detection.chunk_px,
                                   max_grid_pixels=detection.max_grid_pixels, bands_from=spec_from)
        config_m2 = detection.min_area_m2 if dcfg is not None and dcfg.min_area_given else None
        min_area = pair.choose_min_area(img.grid, flag_m2=min_area_m2, flag_px=min_area_px,
                                        config_m2=config_m2,
                                        config_source=f"detection.min_area_m2 of {settings}")
        meta = {"mode": "pair", "config": str(settings) if settings is not None else None,
                "georeferenced": info.georeferenced,
                "bands": {**info.bands, "source": info.band_source},
                "resample": info.resample, "notes": list(info.notes)}
    check_model_bands(detection, tuple(img.band_names))  # before any pixel is read
    result = pair.run_detect(img, detection, out, inputs, min_area=min_area, meta=meta,
                             protect=protect, overwrite=overwrite, progress=_bars(quiet), log=log,
                             warn=warn)
    rec = result.record
    def num(v: float) -> str:
        return f"{v:,.0f}" if abs(v - round(v)) < 1e-9 else f"{v:,.2f}"
    if img.grid.crs is None:
        area, limit = f"{rec['patches']['area_px']:,.0f} px", f"{num(min_area.px)} px"
    else:
        area = f"{rec['patches']['area_m2']:,.0f} m²"
        limit = f"{num(min_area.m2)} m² = {num(min_area.px)} px"
    threshold = rec.get("threshold")
    thr = f"{threshold:.3g}" if isinstance(threshold, (int, float)) else str(threshold)
    click.echo(f"landcheck: {len(result.patches)} patches, {area} (threshold {thr}, min area "
               f"{limit}) -> {out}/ (change_mask.tif, patches.gpkg, detection.json)")


@main.command(short_help="Fit the learned detector from labelled pairs and/or verified runs.")
@click.option("--pairs", "pairs", multiple=True, type=click.Path(path_type=Path), metavar="DIR",
              help="Labelled pair folder (A/ before, B/ after, label/ 255 = change; PNGs of the same "
                   "names, the LEVIR-CD layout). Repeatable.")
@click.option("--pixel-size", "pixel_size", type=float, default=None, metavar="METRES",
              help="Ground pixel size of the --pairs images (PNGs carry none; LEVIR-CD: 0.5).")
@click.option("--from-run", "runs", multiple=True, type=click.Path(path_type=Path), metavar="DIR",
              help="Output folder of an earlier 'landcheck run' whose patches came back verified: "
                   "合法/违法 = change, 伪变化 = no change (weighted), outside every patch = no change "
                   "(sparse), other verdicts unused. Repeatable.")
@click.option("--verdicts", "verdicts", multiple=True, type=click.Path(path_type=Path), metavar="FILE",
              help="Returned verdict file for --from-run (package .zip, .gpkg, .shp, .xlsx with JCBH and "
                   "PDLX). Repeatable; with several runs each row goes to the run holding its JCBH. "
                   "Default: the 'verdicts' section of each run's config.")
@click.option("--base", "base", type=click.Path(path_type=Path), default=None, metavar="MODEL",
              help="Continue from this LightGBM model (.txt with its .json card), e.g. the shipped "
                   "default detection/models/construction_lgbm.txt.")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, metavar="MODEL.txt",
              help="The model to write; MODEL.json (card) and MODEL.md are written beside it.")
@click.option("--rounds", type=click.IntRange(min=1), default=200, show_default=True,
              help="Boosting rounds (trees added to --base when given).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the sampling.")
@click.option("--threshold-low", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Card threshold a patch grows over (default: the base model's, else 0.4).")
@click.option("--threshold-high", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Card threshold a patch must reach (default: the base model's, else 0.8).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier landcheck model at --out (never an input).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@_handle_errors
def train(pairs: tuple[Path, ...], pixel_size: float | None, runs: tuple[Path, ...],
          verdicts: tuple[Path, ...], base: Path | None, out: Path, rounds: int, seed: int,
          threshold_low: float | None, threshold_high: float | None, overwrite: bool, quiet: bool) -> None:
    """Fit the learned detector from labelled pairs and/or verified runs; write MODEL.txt + cards.

    \b
      landcheck train --pairs levir/ --pixel-size 0.5 --out my_model.txt
      landcheck train --from-run out/2025 --verdicts returned/220202.zip \\
                      --verdicts returned/220203.zip \\
                      --base detection/models/construction_lgbm.txt --out province.txt

    Use the result with 'detection.model: province.txt' in a config, or 'landcheck detect --model'.
    """
    from dataclasses import replace as _replace

    from detection.training import TrainingSettings
    from pipeline.train import train as run_train

    def log(msg: str) -> None:
        if not quiet:
            click.echo(msg, err=True)

    base_settings = TrainingSettings()
    settings = _replace(base_settings, rounds=rounds, seed=seed,
                        params={**base_settings.params, "seed": seed})
    from detection.verdict_labels import VerdictSampling

    import shlex

    words = ["landcheck", "train"]
    words += [w for d in pairs for w in ("--pairs", str(d))]
    words += ["--pixel-size", f"{pixel_size:g}"] if pixel_size is not None else []
    words += [w for d in runs for w in ("--from-run", str(d))]
    words += [w for f in verdicts for w in ("--verdicts", str(f))]
    words += ["--base", str(base)] if base is not None else []
    words += ["--out", str(out), "--rounds", str(rounds), "--seed", str(seed)]
    words += ["--threshold-low", f"{threshold_low:g}"] if threshold_low is not None else []
    words += ["--threshold-high", f"{threshold_high:g}"] if threshold_high is not None else []
    command = shlex.join(words)
    result = run_train(out, pairs=pairs, pixel_size_m=pixel_size, runs=runs, verdicts=verdicts, base=base,
                       settings=settings, sampling=VerdictSampling(seed=seed),
                       threshold_low=threshold_low, threshold_high=threshold_high, overwrite=overwrite,
                       command=command, log=log)
    t = result.card["training"]
    click.echo(f"landcheck: model {result.out} trained on {t['rows']:,} pixels ({t['positive_rows']:,} change); "
               f"use it with 'detection.model: {result.out}'")


# The sample world is generated by the development tool `python -m samplegen` (make sample),
# which is not installed with landcheck: a production command does not make fake worlds.


@main.group("verdicts", short_help="Check returned field verdicts (verdicts check CONFIG).")
def verdicts_group() -> None:
    """Field verdicts returned by the field teams (the config's 'verdicts' section)."""


@verdicts_group.command("check")
@click.argument("config", type=click.Path(path_type=Path))
@_handle_errors
def verdicts_check(config: Path) -> None:
    """Check the returned verdict files of CONFIG against the run's patches, writing nothing.

    \b
      landcheck verdicts check CONFIG

    The run's patch pieces are re-computed from CONFIG's inputs (received patches, or detection
    from its imagery), then every file of 'verdicts.files' (returned field packages .zip,
    GeoPackages, Shapefiles, Excel .xlsx sheets with JCBH and PDLX) is read and checked: unknown
    JCBH, a piece given two different verdicts, PDLX, ZGZT or HCRQ not allowed, WFMJ above the
    patch's farmland part, geometry moved or reshaped, a patch of another county, unsafe zips.
    Exit 0 when there is no problem; exit 3 with one line per problem
    ('landcheck: error: FILE: row N: JCBH ...: ...') otherwise.
    """
    from pipeline.config import load_config
    from pipeline.verdicts import check_config_verdicts

    cfg = load_config(config)
    if cfg.verdicts is None:
        raise ConfigError(f"{config}: has no 'verdicts' section: nothing to check")
    result = check_config_verdicts(cfg)
    if result.problems:
        for problem in result.problems:
            click.echo(f"landcheck: error: {problem.line()}", err=True)
        sys.exit(InputFileError.exit_code)
    rows = f"{result.n_rows} verdict row{'' if result.n_rows == 1 else 's'}"
    files = f"{result.n_files} file{'' if result.n_files == 1 else 's'}"
    click.echo(f"landcheck: {rows} in {files}: no problems")


if __name__ == "__main__":  # pragma: no cover
    main()
