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


@click.group()
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="landcheck")
def main(debug: bool) -> None:
    """landcheck: the annual satellite land-enforcement check (土地卫片执法检查)."""


@main.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Output folder (overrides the config's 'output').")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on an existing dask.distributed cluster, e.g. tcp://10.0.0.5:8786.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@_handle_errors
def run(config: Path, out: Path | None, scheduler: str | None, quiet: bool) -> None:
    """Run the whole pipeline for CONFIG: detect, overlay, ratios, reports."""
    from pipeline.config import load_config
    from pipeline.run import run_pipeline

    cfg = load_config(config, output=out)
    def warn(msg: str) -> None:
        click.echo(msg, err=True)
    log = (lambda _msg: None) if quiet else warn
    result = run_pipeline(cfg, scheduler=scheduler, progress=not quiet, log=log, warn=warn)
    levels = result.ratios["level"].value_counts()
    click.echo(f"landcheck: {len(result.pieces)} patch pieces in {len(result.ratios)} counties "
               f"(accountability {levels.get('accountability', 0)}, "
               f"interview {levels.get('interview', 0)}, none {levels.get('none', 0)}, "
               f"no ratio {levels.get('no_ratio', 0)})")
    click.echo(f"landcheck: outputs in {result.output.resolve()}")
    for name in ("county_ratios", "patches", "report_xlsx", "report_html", "chart", "manifest"):
        if name in result.outputs:
            click.echo(f"  {result.outputs[name]}")
    click.echo(f"  {result.output / 'field_verification'}/ "
               f"({sum(k.startswith('field_verification/') for k in result.outputs)} county packages)")


@main.command()
@click.argument("config", type=click.Path(path_type=Path))
@_handle_errors
def validate(config: Path) -> None:
    """Check CONFIG and its input files without running anything."""
    from pipeline import layers
    from pipeline.config import load_config
    from pipeline.run import imagery_bounds, open_run_imagery

    cfg = load_config(config)
    counties, _ = layers.read_counties(cfg.counties)
    frames = {}
    for role in ("farmland", "basic_farmland", "approved"):
        frame, _ = layers.read_polygons(getattr(cfg, role), role)
        frames[role] = (frame, getattr(cfg, role).path)
    imagery = open_run_imagery(cfg)
    if cfg.patches is not None:
        patches, _ = layers.read_patches(cfg.patches)
        frames["patches"] = (patches, cfg.patches.path)
    layers.check_layer_extents((counties, cfg.counties.path), frames,
                               imagery_bounds=imagery_bounds(imagery))
    click.echo(f"landcheck: {config} is valid")


@main.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="GeoPackage to write the detected patches to.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing file at --out (never one of the run's input files).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@_handle_errors
def detect(config: Path, out: Path, overwrite: bool, quiet: bool) -> None:
    """Only detect change patches from CONFIG's imagery and write them to a GeoPackage."""
    from pipeline.config import load_config
    from pipeline.detect import detect_patches
    from pipeline.manifest import input_files
    from pipeline.output_folder import check_output_file, write_file_atomically

    cfg = load_config(config)
    if cfg.imagery is None or not cfg.imagery.before:
        raise ConfigError(f"{config}: has no imagery tiles ('imagery.before' / 'imagery.after') "
                          "to detect from")
    check_output_file(out, [p for _, p in input_files(cfg)], overwrite=overwrite)  # before any work
    patches, stats = detect_patches(cfg.imagery, cfg.detection, progress=not quiet)
    write_file_atomically(
        out, lambda tmp: patches.to_file(tmp, layer="patches", driver="GPKG", engine="pyogrio"))
    click.echo(f"landcheck: {len(patches)} patches (threshold {stats.get('threshold')}) -> {out}")


@main.command("make-sample")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=2025, show_default=True)
@click.option("--scale", type=click.IntRange(1, 64), default=1, show_default=True,
              help="1 = the committed sample; larger makes a bigger world for benchmarks.")
@click.option("--config-dir", type=click.Path(path_type=Path), default=None,
              help="Also write sample.yaml and sample_truth.yaml here.")
@_handle_errors
def make_sample(out_dir: Path, seed: int, scale: int, config_dir: Path | None) -> None:
    """Generate the deterministic sample world into OUT_DIR."""
    from pipeline.sample import make_sample as generate, write_sample_configs

    summary = generate(out_dir, seed=seed, scale=scale)
    if config_dir is not None:
        write_sample_configs(out_dir, config_dir)
    click.echo(f"landcheck: sample written to {out_dir}: {summary['n_patches']} planted patches, "
               f"{len(summary['before_tiles'])}+{len(summary['after_tiles'])} tiles, "
               f"levels {summary['levels']}")


if __name__ == "__main__":  # pragma: no cover
    main()
