"""Helpers shared by the report writers: atomic output, input checks, missing values.

The columns the writers require are the contracts of :mod:`overlay.contracts`
(``COUNTY_COLUMNS``, ``RUN_PIECE_COLUMNS``).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["atomic_output", "require_columns", "require_run_info", "is_missing"]

RUN_INFO_KEYS: tuple[str, ...] = ("year", "interview", "accountability", "interview_rule", "accountability_rule")
"""Keys a ``run_info`` dict must have; the others are optional."""


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file is a hidden file in the same folder (so the final rename is
    atomic on one file system). On any exception it is removed and ``path`` is left
    as it was.

    Parameters
    ----------
    path : str or os.PathLike
        The final file. Its folder is created when missing.

    Yields
    ------
    pathlib.Path
        A path that does not exist yet and ends with the same suffix as ``path``
        (some writers pick the format from the suffix).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".tmp{final.suffix}", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # writers such as GDAL want to create the file themselves
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        for leftover in (tmp, *(tmp.with_name(tmp.name + s) for s in ("-journal", "-wal", "-shm"))):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise ``ValueError`` naming every column of ``columns`` missing from ``frame``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table to check.
    columns : iterable of str
        Required column names.
    what : str
        Name of the table in the message, e.g. ``"ratios"``.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} table lacks column(s): {', '.join(missing)}")


def require_run_info(run_info: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` when ``run_info`` lacks a required key.

    Parameters
    ----------
    run_info : mapping
        The run description (year, thresholds, rules, ...).
    """
    missing = [k for k in RUN_INFO_KEYS if k not in run_info]
    if missing:
        raise ValueError(f"run_info lacks key(s): {', '.join(missing)}")


def is_missing(value: Any) -> bool:
    """True for None, pandas NA / NaT and float NaN.

    Parameters
    ----------
    value : object
        Any scalar.

    Returns
    -------
    bool
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return False
