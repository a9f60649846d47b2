"""``python -m samplegen OUT_DIR [--seed N] [--scale N] [--config-dir DIR] [--verdicts-only]``.

Run from the repository root (``make sample``). Errors are one line on stderr: exit 3 for a
missing or wrong county source, 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from pipeline.errors import LandcheckError
from samplegen.configs import write_sample_configs
from samplegen.verdicts import VERDICTS_DIR, make_sample_verdicts
from samplegen.world import make_sample

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the sample world; return the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 3 when the county source is missing or wrong.
    """
    parser = argparse.ArgumentParser(
        prog="python -m samplegen",
        description="Generate the deterministic landcheck sample world into OUT_DIR.")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.add_argument("--seed", type=int, default=2025, help="random seed (default 2025)")
    parser.add_argument("--scale", type=int, default=1, choices=range(1, 65), metavar="N",
                        help="1 = the committed sample (default); n makes a world n x n as "
                             "large, for benchmarks (1-64)")
    parser.add_argument("--config-dir", type=Path, default=None, metavar="DIR",
                        help="also write sample.yaml and sample_truth.yaml here, and the returned "
                             "verdicts of the current detector (samplegen.verdicts)")
    parser.add_argument("--verdicts-only", action="store_true",
                        help="keep the world as it is; rewrite only the returned verdicts, the key "
                             "project, their truth and the configs (after retraining the detector)")
    args = parser.parse_args(argv)
    if args.verdicts_only and args.config_dir is None:
        parser.error("--verdicts-only needs --config-dir")
    try:
        if not args.verdicts_only:
            summary = make_sample(args.out_dir, seed=args.seed, scale=args.scale)
            print(f"samplegen: sample written to {args.out_dir}: {summary['n_patches']} planted patches, "
                  f"{len(summary['before_tiles'])}+{len(summary['after_tiles'])} tiles, "
                  f"levels {summary['levels']}")
        if args.config_dir is not None:
            write_sample_configs(args.out_dir, args.config_dir)
            if args.scale == 1:
                verdicts = make_sample_verdicts(args.out_dir, Path(args.config_dir) / "sample.yaml")
                write_sample_configs(args.out_dir, args.config_dir)  # now with verdicts and key project
                print(f"samplegen: returned verdicts written to {Path(args.out_dir) / VERDICTS_DIR}: "
                      f"{verdicts['returned']}, decisive levels {verdicts['levels']}")
    except LandcheckError as exc:
        print(f"samplegen: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
