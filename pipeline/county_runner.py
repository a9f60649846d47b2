"""Running county jobs: in this process or on dask.distributed, checkpointed and failure-isolated.

:func:`run_jobs` runs every :class:`~pipeline.county_run.CountyJob` (on a
``distributed.Client`` when given, else one after another here), records each county's
time, and keeps going when a county fails: the failure is recorded with its reason
(:class:`CountyFailure`) and the run decides what to do with it.

:class:`Checkpoints` saves each finished county atomically in the run's work folder under a
key of the run's inputs and settings, so ``--resume`` after a kill recomputes only the
counties that had not finished, and a changed input invalidates every checkpoint. Each file
carries a digest of its content instead of being flushed to disk one by one (an fsync per
county costs milliseconds each, thousands in a national run): a file a system crash left torn
fails its digest and that county is recomputed.
"""
from __future__ import annotations

import gc
import hashlib
import json
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from tqdm.auto import tqdm

from pipeline.county_run import CountyJob, CountyResult, run_county
from pipeline.errors import OutputError

__all__ = ["CountyFailure", "Checkpoints", "run_jobs", "local_cluster_client", "collect_less_often",
           "GC_THRESHOLDS"]

_MAGIC = b"landcheck-county-1\n"  # checkpoint format: magic, sha256 of the pickle, the pickle


@dataclass(frozen=True)
class CountyFailure:
    """A county whose job failed: named in every report, never silently left out."""

    county_code: str
    county_name: str
    reason: str
    seconds: float


def _reason(exc: BaseException) -> str:
    """One line: the error's own message (landcheck errors name their file)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Checkpoints:
    """Finished counties of one run, one file each, written atomically.

    ``key`` identifies the run's inputs and settings (e.g. the hashes of every input file and
    the config); checkpoints written under another key are ignored and removed. ``check``: a
    loaded result it refuses (e.g. its field package is gone) is recomputed.
    """

    def __init__(self, folder: Path, key: str, check: Callable[[CountyResult], bool] | None = None) -> None:
        self.folder = Path(folder)
        self.key = key
        self.check = check
        self._read: dict[str, tuple[tuple[int, int, int], CountyResult]] = {}  # by code: file version, result
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = self.folder / "run-key.json"
        if stamp.exists():
            try:
                old = json.loads(stamp.read_text(encoding="utf-8")).get("key")
            except (OSError, ValueError):
                old = None
            if old != key:
                for path in self.folder.glob("*.pkl"):
                    path.unlink()
        _atomic_write(stamp, json.dumps({"key": key}).encode("utf-8"))

    def _path(self, code: str) -> Path:
        return self.folder / f"{code}.pkl"

    def load(self, codes: Iterable[str]) -> dict[str, CountyResult]:
        """The finished counties among ``codes`` (unreadable checkpoints are recomputed). A file
        this object already read, unchanged since, is not read again."""
        done = {}
        for code in codes:
            path = self._path(code)
            try:
                st = path.stat()
            except OSError:
                continue
            version = (st.st_ino, st.st_size, st.st_mtime_ns)
            try:
                if code in self._read and self._read[code][0] == version:
                    result = self._read[code][1]
                else:
                    result = _unpack(path.read_bytes())  # our own file, in the run's own work folder
                    self._read[code] = (version, result)
            except (OSError, EOFError, ValueError, pickle.UnpicklingError, AttributeError):
                path.unlink(missing_ok=True)
                continue
            if isinstance(result, CountyResult) and result.county_code == code \
                    and (self.check is None or self.check(result)):
                done[code] = result
        return done

    def save(self, result: CountyResult, pickled: bytes | None = None) -> None:
        """Write one county's result (temporary file with a digest, rename; no fsync, see above);
        ``pickled``: the result already pickled (protocol 5), as a dask task returns it."""
        payload = pickled if pickled is not None else pickle.dumps(result, protocol=5)
        _atomic_write(self._path(result.county_code),
                      _MAGIC + hashlib.sha256(payload).digest() + payload, sync=False)


def _unpack(data: bytes) -> CountyResult:
    """The result a checkpoint file holds; ValueError when it is not whole (torn, truncated, foreign)."""
    head = len(_MAGIC) + 32
    if not data.startswith(_MAGIC) or len(data) < head:
        raise ValueError("not a landcheck county checkpoint")
    payload = data[head:]
    if hashlib.sha256(payload).digest() != data[len(_MAGIC):head]:
        raise ValueError("checkpoint does not match its digest")
    return pickle.loads(payload)


def _atomic_write(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Write ``data`` to a temporary file and rename it to ``path`` (flushed to disk first with
    ``sync``)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        if sync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def _timed(job: CountyJob) -> CountyResult | CountyFailure:
    """Run one job; a failure comes back as a value (so one county cannot stop the others)."""
    started = time.perf_counter()
    try:
        return run_county(job)
    except OutputError:  # a full disk, a read-only folder: the run's environment, not the county
        raise
    except Exception as exc:  # noqa: BLE001 - every county failure is recorded with its reason
        return CountyFailure(job.county_code, job.county_name, _reason(exc),
                             time.perf_counter() - started)


GC_THRESHOLDS = (10_000, 50, 100)
"""Python's cyclic garbage collector's thresholds where county jobs run and in the run's driver
(Python's are 700, 10, 10). Almost everything a run allocates is freed by reference counting; with
Python's thresholds the driver of a national run spent 5.8 s in 18 full collections, each
traversing every county's result it holds, and the workers about 1.4 ms a county."""


def collect_less_often() -> None:
    """Raise this process's garbage-collector thresholds to :data:`GC_THRESHOLDS` (never lowers one)."""
    gc.set_threshold(*(max(now, ours) for now, ours in zip(gc.get_threshold(), GC_THRESHOLDS)))


def _timed_batch(jobs: list[CountyJob]) -> list[bytes | CountyFailure]:
    """:func:`_timed` for each job of one dask task, in order; each result pickled here (protocol 5),
    the bytes its checkpoint holds: the driver writes them as they come and unpickles them once,
    instead of unpickling what dask sent and pickling it again for the checkpoint."""
    collect_less_often()
    return [o if isinstance(o, CountyFailure) else pickle.dumps(o, protocol=5) for o in map(_timed, jobs)]


MAX_COUNTIES_PER_TASK = 8
"""A dask task runs up to this many counties one after another (:func:`batch_size`)."""


def batch_size(n_jobs: int, n_threads: int) -> int:
    """Counties per dask task: one, unless every worker thread still gets 16 tasks or more.

    A county job takes 50-100 ms on the national world; each task also costs the scheduler and
    the driver (which gathers and checkpoints its result) a few milliseconds, on the same cores
    as the workers when the cluster is local. Batches cut that cost; each county is still
    checkpointed, reported and failed on its own (a lost worker fails its task's counties).
    """
    return max(1, min(MAX_COUNTIES_PER_TASK, n_jobs // (16 * max(1, n_threads))))


def run_jobs(
    jobs: list[CountyJob], *, client=None, checkpoints: Checkpoints | None = None,
    progress: bool = True, on_result: Callable[[CountyResult], None] | None = None,
) -> tuple[list[CountyResult], list[CountyFailure]]:
    """Run every job not already checkpointed; results and failures in the jobs' order.

    ``on_result`` is called in this process for each county as it finishes (checkpointed ones
    included), e.g. to write that county's deliverables.
    """
    collect_less_often()
    done = checkpoints.load(j.county_code for j in jobs) if checkpoints else {}
    todo = [j for j in jobs if j.county_code not in done]
    outcomes: dict[str, CountyResult | CountyFailure] = dict(done)
    bar = tqdm(total=len(jobs), initial=len(done), desc="counties", unit="county",
               disable=not progress, leave=False)

    def finished(outcome: CountyResult | CountyFailure, pickled: bytes | None = None) -> None:
        outcomes[outcome.county_code] = outcome
        if isinstance(outcome, CountyResult):
            if checkpoints is not None and outcome.county_code not in done:
                checkpoints.save(outcome, pickled)
            if on_result is not None:
                on_result(outcome)
        bar.update()

    try:
        for result in done.values():
            if on_result is not None:
                on_result(result)
        if client is None:
            for job in todo:
                finished(_timed(job))
        else:
            from distributed import as_completed

            threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
            size = batch_size(len(todo), threads)
            batches = [todo[i:i + size] for i in range(0, len(todo), size)]
            futures = client.map(_timed_batch, batches, pure=False)
            batch_of = {f.key: b for f, b in zip(futures, batches)}
            with client.as_current():  # as_completed finds the client this way, not by default
                for future in as_completed(futures):
                    batch = batch_of[future.key]
                    try:
                        outcomes_of_batch = future.result()
                    except OutputError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - a lost worker fails its counties only
                        outcomes_of_batch = [CountyFailure(job.county_code, job.county_name, _reason(exc), 0.0)
                                             for job in batch]
                    for outcome in outcomes_of_batch:
                        if isinstance(outcome, bytes):  # a result, pickled by the task
                            finished(pickle.loads(outcome), outcome)  # our own workers' bytes
                        else:
                            finished(outcome)
                    future.release()
    finally:
        bar.close()
    ordered = [outcomes[j.county_code] for j in jobs]
    return ([o for o in ordered if isinstance(o, CountyResult)],
            [o for o in ordered if isinstance(o, CountyFailure)])


def local_cluster_client(n_workers: int | None = None):
    """A ``distributed.Client`` on a LocalCluster sized to this machine: one single-threaded
    worker process per core (GEOS releases the GIL, but GDAL reads and pandas do not), memory
    shared evenly. Not the default scheduler of dask collections (detection keeps its own).
    Its workers do not run distributed's statistical profiler (a stack sample every 10 ms, for
    a dashboard this cluster does not have)."""
    import dask
    from distributed import Client, LocalCluster

    workers = n_workers or max(1, os.cpu_count() or 1)
    with dask.config.set({"distributed.worker.profile.enabled": False}):  # the nannies pass it on
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
    return Client(cluster, set_as_default=False)
