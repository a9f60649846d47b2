"""The landcheck exception tree.

Every error a user can cause derives from :class:`LandcheckError`; the CLI turns
it into one line on stderr and a non-zero exit code, never a traceback. Each
subclass also inherits the matching builtin so callers can catch either.
"""
from __future__ import annotations

__all__ = [
    "LandcheckError",
    "ConfigError",
    "InputFileError",
    "BadRasterError",
    "BadVectorError",
    "CRSError",
    "OutputError",
    "SchedulerError",
    "CountyFailedError",
]


class LandcheckError(Exception):
    """Root of all errors landcheck reports to the user."""

    exit_code = 3  # subclasses narrow it; every code is in the README


class ConfigError(LandcheckError, ValueError):
    """The run configuration is missing, malformed or has bad values."""

    exit_code = 2


class InputFileError(LandcheckError, OSError):
    """An input file is missing or cannot be read."""

    exit_code = 3

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        # Rebuild from (path, problem) so the error survives the trip back from a dask worker.
        return (type(self), (self.path, self.problem))


class BadRasterError(InputFileError):
    """An imagery tile or mask is unusable (bands, CRS, resolution, dtype)."""


class BadVectorError(InputFileError):
    """A vector layer is unusable (missing field, geometry type, CRS)."""


class CRSError(LandcheckError, ValueError):
    """A coordinate reference system is missing or unsuitable for areas."""

    exit_code = 3


class OutputError(InputFileError):
    """The output cannot be written where asked: it would clobber an input or foreign files, is
    locked by another run, or the disk / file system refused (full, read-only, no permission)."""


class SchedulerError(LandcheckError, ConnectionError):
    """The dask.distributed scheduler given with ``--scheduler`` cannot be reached."""

    exit_code = 4


class CountyFailedError(LandcheckError, RuntimeError):
    """One or more counties' jobs failed; the others finished and every report names the failed
    ones and why (a run exits 4 after writing its outputs)."""

    exit_code = 4
