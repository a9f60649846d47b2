"""Failures of the user's file system while writing, turned into one clear line.

A full disk, a read-only mount or a missing permission is the user's environment, not a bug:
it must read ``no space left on device while writing patches.gpkg`` (exit 3), not
``internal error``. Libraries report these differently: Python raises ``OSError`` with an
errno, GDAL (pyogrio) often only says "Failed to commit transaction", so after a failure the
folder itself is examined (free space, read-only flag, write permission).
"""
from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipeline.errors import LandcheckError, OutputError

__all__ = ["os_reason", "writing", "LOW_SPACE_BYTES"]

#: a folder with less free space than this after a failed write is taken to be full
LOW_SPACE_BYTES = 1 << 20

_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder",
    errno.ENAMETOOLONG: "file name too long",
    errno.EIO: "input/output error",
}
_MESSAGES = (
    ("no space left", "no space left on device"),
    ("disk is full", "no space left on device"),
    ("disk full", "no space left on device"),
    ("quota exceeded", "disk quota exceeded"),
    ("read-only file system", "read-only file system"),
    ("readonly database", "read-only file system"),
    ("permission denied", "permission denied"),
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _folder_state(folder: Path) -> str | None:
    """What is wrong with ``folder`` as a place to write, if anything."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return "a part of the path is a file, not a folder"
    try:
        stat = os.statvfs(probe)
    except OSError:
        return None
    if stat.f_flag & os.ST_RDONLY:
        return "read-only file system"
    if stat.f_bavail * stat.f_frsize < LOW_SPACE_BYTES:
        return "no space left on device"
    if not os.access(probe, os.W_OK):
        return "permission denied"
    return None


def os_reason(exc: BaseException, folder: Path | None = None) -> str | None:
    """The file-system reason behind ``exc`` in plain words, or None if it is not one.

    Looks at errno values along the exception chain, then at well-known words in the
    messages (GDAL, SQLite), then, when ``folder`` is given, at the folder itself.
    """
    for link in _chain(exc):
        if isinstance(link, OSError) and link.errno in _REASONS:
            return _REASONS[link.errno]
    for link in _chain(exc):
        text = str(link).lower()
        for needle, reason in _MESSAGES:
            if needle in text:
                return reason
    if folder is not None:
        return _folder_state(Path(folder))
    return None


@contextmanager
def writing(path: Path, shown_as: Path | None = None) -> Iterator[None]:
    """Turn a file-system failure while writing ``path`` into one :class:`OutputError` line.

    ``shown_as`` is the path named in the message (the final place of a file written into a
    staging folder). Other exceptions (bugs) pass through unchanged.
    """
    try:
        yield
    except LandcheckError:
        raise
    except Exception as exc:
        reason = os_reason(exc, Path(path).parent)
        if reason is None:
            raise
        raise OutputError(shown_as or path, f"{reason} while writing {Path(path).name}") from None
