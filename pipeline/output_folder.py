"""Where a run may write, and how it replaces an earlier output without a window of loss.

A run writes only into a folder that does not exist, is empty, or is landcheck's
own earlier output (a ``manifest.json`` with ``"landcheck_manifest"`` that lists
every other file in the folder). It never writes into, over, or around an input
file. While it runs it holds an exclusive ``flock`` on ``.<name>.lock`` beside
the output folder, cleans up what killed runs left there (``.<name>.partial-PID``
and ``.<name>.old-PID`` staging folders carrying landcheck's marker, restoring
an earlier output a kill left renamed away), and finally swaps the staging
folder into place with ``renameat2(RENAME_EXCHANGE)`` where the system has it,
so at every instant either the old or the new output is at the path.

Every refusal is an :class:`~pipeline.errors.OutputError` (exit 3) whose message
names the folder and the reason on one line.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Callable, Iterable, Literal

from pipeline.diskio import os_reason
from pipeline.errors import OutputError

__all__ = [
    "MARKER",
    "WORK_DIR",
    "SIDECAR_SUFFIXES",
    "OutputClaim",
    "staging_path",
    "lock_path",
    "parse_leftover",
    "input_conflict",
    "foreign_entries",
    "read_manifest_outputs",
    "check_output_folder",
    "claim_output",
    "recover_leftovers",
    "make_staging",
    "publish",
    "remove_tree",
    "check_output_file",
    "write_file_atomically",
]

MARKER = ".landcheck-staging"
"""Marker file written first into every staging folder: cleanup removes only marked folders."""

WORK_DIR = ".work"
"""Folder inside a staging folder for what a run needs but does not deliver (county checkpoints,
indexed copies of inputs); kept when a killed run is resumed, removed before publishing."""

SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal", ".aux.xml")
"""Files GDAL/SQLite may leave beside a listed output; tolerated in an earlier output."""

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_SHOWN = 3  # foreign entries named in a refusal

Relation = Literal["is", "contains", "inside"]
Log = Callable[[str], None]


# --------------------------------------------------------------------------- pure helpers

def staging_path(output: Path, kind: Literal["partial", "old"], pid: int | None = None) -> Path:
    """The staging (``partial``) or set-aside (``old``) folder beside ``output``.

    Parameters
    ----------
    output : pathlib.Path
        The output folder (absolute, resolved).
    kind : {"partial", "old"}
        ``partial`` for the folder a run writes into, ``old`` for the earlier output set aside.
    pid : int, optional
        Process id in the name; the current process by default.

    Returns
    -------
    pathlib.Path
        ``<parent>/.<name>.<kind>-<pid>``.
    """
    return output.parent / f".{output.name}.{kind}-{os.getpid() if pid is None else pid}"


def lock_path(output: Path) -> Path:
    """The lock file ``<parent>/.<name>.lock`` beside the output folder."""
    return output.parent / f".{output.name}.lock"


def parse_leftover(name: str, output_name: str) -> tuple[str, int] | None:
    """``("partial" | "old", pid)`` if ``name`` is a staging name of ``output_name``, else None."""
    match = re.fullmatch(rf"\.{re.escape(output_name)}\.(partial|old)-(\d+)", name)
    return (match.group(1), int(match.group(2))) if match else None


def input_conflict(output: Path, inputs: Iterable[Path]) -> tuple[Relation, Path] | None:
    """The first input the output folder would clobber, with how.

    Parameters
    ----------
    output : pathlib.Path
        Resolved output folder.
    inputs : iterable of pathlib.Path
        Resolved input paths (files or folders).

    Returns
    -------
    tuple of (str, pathlib.Path) or None
        ``("is", p)`` when the output is input ``p``, ``("contains", p)`` when ``p`` lies
        under the output, ``("inside", p)`` when the output lies under ``p``; None if no
        input is involved.
    """
    for path in inputs:
        if path == output:
            return "is", path
        if output in path.parents:
            return "contains", path
        if path in output.parents:
            return "inside", path
    return None


def foreign_entries(entries: Iterable[str], listed: Iterable[str]) -> list[str]:
    """Entries of an earlier output that its manifest does not account for.

    Parameters
    ----------
    entries : iterable of str
        Relative POSIX paths of every non-folder entry in the folder.
    listed : iterable of str
        The manifest's ``outputs`` paths.

    Returns
    -------
    list of str
        Sorted entries that are neither ``manifest.json``, the staging marker, a listed
        output nor a sidecar (``-wal``, ``-shm``, ``-journal``, ``.aux.xml``) of one.
    """
    known = {str(PurePosixPath(p)) for p in listed} | {"manifest.json", MARKER}
    known |= {p + suffix for p in list(known) for suffix in SIDECAR_SUFFIXES}
    return sorted(e for e in entries if str(PurePosixPath(e)) not in known)


def _named(entries: list[str]) -> str:
    shown = ", ".join(f"'{e}'" for e in entries[:_SHOWN])
    more = len(entries) - _SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


# --------------------------------------------------------------------------- folder inspection

def read_manifest_outputs(folder: Path) -> list[str] | None:
    """The ``outputs`` paths of ``folder/manifest.json`` if it is a landcheck manifest, else None."""
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "landcheck_manifest" not in data:
        return None
    outputs = data.get("outputs", [])
    if not isinstance(outputs, list):
        return None
    paths = [e.get("path") for e in outputs if isinstance(e, dict)]
    if len(paths) != len(outputs) or not all(isinstance(p, str) for p in paths):
        return None
    return paths


def _entries(folder: Path) -> list[str]:
    """Relative POSIX paths of every non-folder entry under ``folder`` (symlinks not followed)."""
    found: list[str] = []

    def fail(exc: OSError) -> None:
        raise exc

    for root, dirs, files in os.walk(folder, onerror=fail):
        rel = Path(root).relative_to(folder)
        for name in list(dirs):
            if os.path.islink(os.path.join(root, name)):  # a link to a folder is an entry, not walked
                dirs.remove(name)
                files.append(name)
        found += [(rel / name).as_posix() for name in files]
    return found


def _is_landcheck_made(folder: Path) -> bool:
    """True if ``folder`` carries the staging marker or is a complete landcheck output."""
    if (folder / MARKER).is_file():
        return True
    listed = read_manifest_outputs(folder)
    try:
        return listed is not None and not foreign_entries(_entries(folder), listed)
    except OSError:
        return False


def _is_complete(folder: Path) -> bool:
    """True if ``folder`` holds a landcheck manifest and every output it lists (worth restoring)."""
    listed = read_manifest_outputs(folder)
    return listed is not None and all((folder / p).is_file() for p in listed)


def _os_error(shown: object, doing: str, exc: OSError) -> OutputError:
    reason = os_reason(exc) or (os.strerror(exc.errno) if exc.errno else str(exc))
    return OutputError(shown, f"{doing}: {reason}")


def check_output_folder(output: Path, inputs: Iterable[Path]) -> Path:
    """Refuse an output folder the run must not write to; read-only, nothing is created.

    Parameters
    ----------
    output : pathlib.Path
        The output folder as the user gave it (named in messages).
    inputs : iterable of pathlib.Path
        Every input file or folder of the run.

    Returns
    -------
    pathlib.Path
        The resolved output folder (symlinks followed).

    Raises
    ------
    OutputError
        If the output is, contains or lies inside an input; is the root, a file or below
        a file; or is a non-empty folder that is not an earlier landcheck output.
    """
    inputs = list(inputs)
    target = _resolve(output)
    if not target.name:
        raise OutputError(output, "is the root of the file system; choose a folder for the outputs")
    conflict = input_conflict(target, (_resolve(Path(p)) for p in inputs))
    if conflict is not None:
        relation, path = conflict
        what = {"is": "output folder is an input of this run",
                "contains": "output folder contains input files",
                "inside": "output folder lies inside an input"}[relation]
        raise OutputError(output, f"{what} ({_shown_input(path, inputs)}); choose another folder")
    cwd = _resolve(Path.cwd())
    if target == cwd or target in cwd.parents:
        raise OutputError(output, "is (or contains) the current folder, and a run replaces its whole "
                                  "output folder; choose a new sub-folder such as out/")
    blocker = _file_ancestor(target)
    if blocker == target:
        raise OutputError(output, "is a file, not a folder; choose a folder for the outputs")
    if blocker is not None:
        raise OutputError(output, f"lies below '{blocker}', which is a file, not a folder")
    if not os.path.isdir(target):
        return target  # does not exist yet
    try:
        top = sorted(os.listdir(target))
        listed = read_manifest_outputs(target)
        entries = _entries(target) if listed is not None else []
    except OSError as exc:
        raise _os_error(output, "cannot read the output folder", exc) from None
    if not top:
        return target
    if listed is None:
        raise OutputError(output, f"is not empty and not a landcheck output (holds {_named(top)}); "
                                  "choose an empty or new folder")
    foreign = foreign_entries(entries, listed)
    if foreign:
        raise OutputError(output, f"is a landcheck output but also holds files it did not write "
                                  f"({_named(foreign)}); move them away or choose another folder")
    return target


def _file_ancestor(path: Path) -> Path | None:
    """The first of ``path`` and its parents that exists and is not a folder (None if a folder comes first)."""
    for candidate in [path, *path.parents]:
        if os.path.isdir(candidate):
            return None
        if os.path.lexists(candidate):
            return candidate
    return None


def _resolve(path: Path) -> Path:
    """``path.resolve()`` (symlinks followed), a symlink loop becoming an OutputError."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:
        raise OutputError(path, f"cannot resolve the path: {exc}") from None


def _shown_input(resolved: Path, inputs: Iterable[Path]) -> str:
    """The input as configured (normalised), for a message; its resolved path if not found."""
    for path in inputs:
        if _resolve(Path(path)) == resolved:
            return os.path.normpath(path)
    return str(resolved)


# --------------------------------------------------------------------------- lock and recovery

def _open_lock_file(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


@dataclass
class OutputClaim:
    """An output folder this process may write: checked, locked, leftovers handled.

    Use as a context manager, or call :meth:`release` when publishing is done. The lock is
    an ``flock`` on ``.<name>.lock`` beside the folder; the kernel drops it if the process
    dies. The lock file itself stays (removing it would let two runs lock different files).

    Attributes
    ----------
    path : pathlib.Path
        The resolved output folder.
    lock_file : pathlib.Path
        The lock file beside it.
    messages : list of str
        What leftover handling did or left alone, for the caller to log as warnings.
    """

    path: Path
    lock_file: Path
    messages: list[str] = field(default_factory=list)
    resumed_from: str | None = None
    _fd: int | None = None

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "OutputClaim":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _lock(output: Path, shown: object) -> tuple[Path, int]:
    """Create the parent folder and take the exclusive lock beside ``output``."""
    lock = lock_path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_error(shown, f"cannot create the folder '{output.parent}'", exc) from None
    try:
        fd = _open_lock_file(lock)
    except OSError as exc:
        raise _os_error(shown, f"cannot write beside the output folder ({lock.name})", exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        try:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
        except OSError:
            holder = ""
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise OutputError(shown, f"another landcheck run{who} is writing this output folder; "
                                     "wait for it to finish or choose another folder") from None
        raise _os_error(shown, f"cannot lock {lock.name}", exc) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
    except OSError:
        pass  # the pid is only informative
    return lock, fd


def _adopt_for_resume(output: Path, candidates: list[Path]) -> Path | None:
    """Rename the newest staging folder holding a work folder to this process's staging name."""
    usable = sorted((p for p in candidates if (p / WORK_DIR).is_dir()),
                    key=lambda p: (p / WORK_DIR).stat().st_mtime, reverse=True)
    if not usable:
        return None
    mine = staging_path(output, "partial")
    if usable[0] != mine:
        if os.path.lexists(mine):
            remove_tree(mine)
        usable[0].rename(mine)
    return usable[0]


def recover_leftovers(output: Path, *, resume: bool = False) -> list[str]:
    """Clean up what killed runs left beside ``output``; call only while holding its lock.

    With ``resume``, the newest staging folder that holds a work folder (:data:`WORK_DIR`,
    where finished counties are checkpointed) is kept and renamed to this process's staging
    name (:func:`staging_path`), instead of being removed; the first message says so.

    If ``output`` is missing but a complete set-aside ``.<name>.old-PID`` exists (a kill
    between the two renames of a publish), it is renamed back first. Other
    ``.<name>.partial-PID`` / ``.<name>.old-PID`` folders carrying the marker (or holding a
    complete landcheck output) are removed; any others are left alone.

    Parameters
    ----------
    output : pathlib.Path
        The resolved output folder.

    Returns
    -------
    list of str
        One message per leftover restored, removed or left alone.
    """
    messages: list[str] = []
    try:
        names = sorted(os.listdir(output.parent))
    except OSError:
        return messages
    leftovers = [(output.parent / n, *parsed) for n in names
                 if (parsed := parse_leftover(n, output.name)) is not None]
    ours = {p for p, _, _ in leftovers if p.is_dir() and not p.is_symlink() and _is_landcheck_made(p)}
    if not os.path.lexists(output):
        olds = sorted((p for p, kind, _ in leftovers if kind == "old" and p in ours and _is_complete(p)),
                      key=lambda p: p.stat().st_mtime, reverse=True)
        if olds:
            try:
                olds[0].rename(output)
                (output / MARKER).unlink(missing_ok=True)
                ours.discard(olds[0])
                messages.append(f"restored the previous output from {olds[0].name} "
                                "(an earlier run was stopped while replacing it)")
            except OSError as exc:
                messages.append(f"could not restore the previous output from {olds[0]}: "
                                f"{os_reason(exc) or os.strerror(exc.errno or 0)}")
    if resume:
        partials = [p for p, kind, _ in leftovers if kind == "partial" and p in ours]
        try:
            adopted = _adopt_for_resume(output, partials)
        except OSError as exc:
            adopted = None
            messages.append(f"could not resume from an interrupted run's folder: "
                            f"{os_reason(exc) or os.strerror(exc.errno or 0)}")
        if adopted is not None:
            messages.insert(0, f"resuming from {adopted.name}")
            ours.discard(adopted)
            ours.discard(staging_path(output, "partial"))
            leftovers = [x for x in leftovers if x[0] not in (adopted, staging_path(output, "partial"))]
    for path, kind, _ in leftovers:
        if not os.path.lexists(path):
            continue
        if path in ours:
            remove_tree(path)
            if os.path.lexists(path):
                messages.append(f"could not fully remove {path.name}, left by an interrupted run")
            else:
                messages.append(f"removed {path.name}, left by an interrupted run")
        else:
            messages.append(f"left {path} alone: it has a landcheck staging name but was not made "
                            "by landcheck; remove it yourself if it is not needed")
    return messages


def claim_output(output: Path, inputs: Iterable[Path], *, log: Log | None = None,
                 resume: bool = False) -> OutputClaim:
    """Check, lock and tidy the output folder before any work is done.

    With ``resume`` the work of an interrupted run is kept (see :func:`recover_leftovers`);
    :func:`make_staging` with ``resume=True`` then keeps its work folder.

    Parameters
    ----------
    output : pathlib.Path
        The output folder as configured.
    inputs : iterable of pathlib.Path
        Every input file of the run (``pipeline.manifest.input_files``).
    log : callable, optional
        Receives one ``warning: ...`` line per leftover message.

    Returns
    -------
    OutputClaim
        Holding the lock; release it once the output is published (or the run failed).

    Raises
    ------
    OutputError
        See :func:`check_output_folder`; also when another run holds the lock or the
        parent folder or lock file cannot be created.
    """
    inputs = list(inputs)
    target = check_output_folder(output, inputs)  # refuse before writing anything
    lock, fd = _lock(target, output)
    claim = OutputClaim(path=target, lock_file=lock, _fd=fd)
    try:
        claim.messages = recover_leftovers(target, resume=resume)
        if claim.messages and claim.messages[0].startswith("resuming from "):
            claim.resumed_from = claim.messages[0][len("resuming from "):]
        for message in claim.messages:
            if log is not None:
                log(f"    warning: {message}")
        check_output_folder(output, inputs)  # again: the folder may have changed before we locked
    except BaseException:
        claim.release()
        raise
    return claim


# --------------------------------------------------------------------------- staging and publish

def remove_tree(path: Path) -> None:
    """Remove a landcheck-made folder, its marker last, so a partial removal stays recognisable."""
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_dir():
        return
    for child in path.iterdir():
        if child.name == MARKER:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            try:
                child.unlink()
            except OSError:
                pass
    shutil.rmtree(path, ignore_errors=True)


def _mark(folder: Path) -> None:
    (folder / MARKER).write_text(f"landcheck staging folder of pid {os.getpid()}\n", encoding="utf-8")


def make_staging(output: Path, *, resume: bool = False) -> Path:
    """Create ``.<name>.partial-PID`` beside ``output`` with the marker written first.

    With ``resume``, an existing staging folder of this name (adopted by
    :func:`recover_leftovers`) keeps its work folder; everything else in it is removed.
    """
    staging = staging_path(output, "partial")
    try:
        if os.path.lexists(staging):
            if not (staging.is_dir() and _is_landcheck_made(staging)):
                raise OutputError(staging, "exists and was not made by landcheck; remove it or "
                                           "choose another output folder")
            if resume and (staging / WORK_DIR).is_dir():
                for child in staging.iterdir():
                    if child.name in (MARKER, WORK_DIR):
                        continue
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
                _mark(staging)
                return staging
            remove_tree(staging)
        staging.mkdir()
        _mark(staging)
    except OSError as exc:
        raise _os_error(output, f"cannot create the staging folder {staging.name}", exc) from None
    return staging


_renameat2: Callable[..., int] | None | Literal[False] = False  # False: not looked up yet


def _libc_renameat2() -> Callable[..., int] | None:
    global _renameat2
    if _renameat2 is False:
        try:
            func = ctypes.CDLL(None, use_errno=True).renameat2
            func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            func.restype = ctypes.c_int
            _renameat2 = func
        except (AttributeError, OSError, TypeError):
            _renameat2 = None
    return _renameat2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with ``renameat2(RENAME_EXCHANGE)``; False if unavailable."""
    func = _libc_renameat2()
    if func is None:
        return False
    if func(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def publish(staging: Path, output: Path) -> None:
    """Put the finished staging folder at ``output``; the earlier output is removed only after.

    With an existing output the two are exchanged atomically (``renameat2``), so the path
    always holds either the old or the new output. Without ``renameat2`` it falls back to
    two renames through ``.<name>.old-PID``, which :func:`recover_leftovers` repairs if the
    process is killed in between.

    Raises
    ------
    OutputError
        If the file system refuses (no space, read-only, permission, ...); the earlier
        output is then still in place.
    """
    try:
        shutil.rmtree(staging / WORK_DIR, ignore_errors=True)  # checkpoints are not delivered
        (staging / MARKER).unlink(missing_ok=True)  # the published folder carries no marker
        if not os.path.lexists(output):
            staging.rename(output)
            return
        if _exchange(staging, output):
            _remove_old(staging)  # the earlier output, now under the staging name
            return
        old = staging_path(output, "old")
        _mark(output)  # so the set-aside folder is recognisably ours if we are killed now
        output.rename(old)
        try:
            staging.rename(output)
        except BaseException:  # put the earlier output back; if even that fails, recovery will
            try:
                old.rename(output)
                (output / MARKER).unlink(missing_ok=True)
            except OSError:
                pass
            raise
        _remove_old(old)
    except OSError as exc:
        try:
            (output / MARKER).unlink(missing_ok=True)  # if the earlier output could not be set aside
        except OSError:
            pass
        raise _os_error(output, "cannot put the new output in place", exc) from None


def _remove_old(folder: Path) -> None:
    try:
        _mark(folder)
    except OSError:
        pass
    remove_tree(folder)


# --------------------------------------------------------------------------- single output file

def check_output_file(out: Path, inputs: Iterable[Path], *, overwrite: bool = False) -> Path:
    """Refuse an output file that is an input, a folder, below a file, or exists without ``overwrite``.

    Parameters
    ----------
    out : pathlib.Path
        The file to write, as the user gave it.
    inputs : iterable of pathlib.Path
        Every input file of the run.
    overwrite : bool
        Whether an existing (non-input) file may be replaced.

    Returns
    -------
    pathlib.Path
        The resolved path.
    """
    inputs = list(inputs)
    target = _resolve(out)
    conflict = input_conflict(target, (_resolve(Path(p)) for p in inputs))
    if conflict is not None and conflict[0] in ("is", "inside"):
        what = "is an input of this run" if conflict[0] == "is" else "lies inside an input"
        raise OutputError(out, f"{what} ({_shown_input(conflict[1], inputs)}); choose another file")
    if os.path.isdir(target):
        raise OutputError(out, "is a folder; give a file name such as patches.gpkg")
    blocker = _file_ancestor(target.parent)
    if blocker is not None:
        raise OutputError(out, f"lies below '{blocker}', which is a file, not a folder")
    if os.path.lexists(out) and not overwrite:
        raise OutputError(out, "already exists; pass --overwrite to replace it")
    return target


def write_file_atomically(out: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a hidden temp file beside ``out``, then ``os.replace`` it into place.

    The temp file (and SQLite sidecars) is removed if writing fails; OS errors become
    :class:`OutputError` naming ``out``.
    """
    tmp = out.with_name(f".{out.stem}.partial-{os.getpid()}{out.suffix}")
    leftovers = [tmp] + [tmp.with_name(tmp.name + s) for s in ("-wal", "-shm", "-journal")]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for path in leftovers:
            path.unlink(missing_ok=True)
        write(tmp)
        os.replace(tmp, out)
    except BaseException as exc:
        for path in leftovers:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise _os_error(out, "cannot write the output file", exc) from None
        raise
