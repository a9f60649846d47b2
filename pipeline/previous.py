"""Reading last year's run (``previous_run:``): its county ratios and its patch pieces.

The folder must be a landcheck output: a ``manifest.json`` written by landcheck that lists
``county_ratios.csv`` and ``patches.gpkg``, both present. Its year (from the manifest's config)
must be earlier than this run's. Anything else is refused with one line naming the folder.
What is taken from it: ``county_code``, ``ratio``, ``level`` of ``county_ratios.csv`` (the
decisive figures of a run with verdicts, the overlay's of an older one) and the ``patches`` layer
of ``patches.gpkg`` (no geometry), from which the unrectified illegal patches are listed
(``overlay.verified.previous_unrectified``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyogrio

from overlay.contracts import LEVELS
from pipeline.errors import InputFileError

__all__ = ["PreviousRun", "read_previous_run"]


@dataclass
class PreviousRun:
    """Last year's run: its folder, year, county ratios (``county_code``, ``ratio``, ``level``)
    and pieces (attributes only)."""

    folder: Path
    year: int | None
    ratios: pd.DataFrame
    pieces: pd.DataFrame


def _fail(folder: Path, problem: str) -> InputFileError:
    return InputFileError(folder, f"previous_run: {problem}")


def read_previous_run(folder: Path, year: int) -> PreviousRun:
    """Read last year's output folder; :class:`~pipeline.errors.InputFileError` (exit 3, one line)
    when it is not a landcheck output or not of an earlier year."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or "landcheck_manifest" not in manifest:
        raise _fail(folder, "is not a landcheck output folder (no manifest.json written by landcheck); "
                            "give the output folder of last year's 'landcheck run'")
    listed = {e.get("path") for e in manifest.get("outputs", []) if isinstance(e, dict)}
    for name in ("county_ratios.csv", "patches.gpkg"):
        if name not in listed or not (folder / name).is_file():
            raise _fail(folder, f"is not the output of a 'landcheck run' (no {name}; a 'landcheck "
                                "detect' folder has no ratios)")
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    previous_year = config.get("year")
    if isinstance(previous_year, int) and previous_year >= year:
        raise _fail(folder, f"is the run of {previous_year}, not of a year before {year}")
    try:
        ratios = pd.read_csv(folder / "county_ratios.csv", dtype={"county_code": str}, encoding="utf-8-sig")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise _fail(folder, f"county_ratios.csv cannot be read ({type(exc).__name__})") from None
    missing = [c for c in ("county_code", "ratio", "level") if c not in ratios.columns]
    if missing:
        raise _fail(folder, f"county_ratios.csv has no column {missing[0]}")
    bad = sorted(set(ratios["level"].astype(str)) - set(LEVELS))
    if bad:
        raise _fail(folder, f"county_ratios.csv has an unknown level {bad[0]!r}")
    try:
        pieces = pyogrio.read_dataframe(folder / "patches.gpkg", layer="patches", read_geometry=False)
    except Exception as exc:  # pyogrio raises its own DataSourceError / DataLayerError
        raise _fail(folder, f"patches.gpkg has no readable 'patches' layer "
                            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    missing = [c for c in ("patch_id", "county_code", "illegal_farmland_m2") if c not in pieces.columns]
    if missing:
        raise _fail(folder, f"patches.gpkg layer 'patches' has no column {missing[0]}")
    return PreviousRun(folder=folder, year=previous_year if isinstance(previous_year, int) else None,
                       ratios=ratios[["county_code", "ratio", "level"]].copy(), pieces=pd.DataFrame(pieces))
