"""One writer in a child process while the driver writes the others.

The national deliverables are written by the driver after the county jobs, one after another,
in pure-Python writers (openpyxl, reportlab) that hold the GIL: a thread would not overlap
them. :func:`start_in_child` runs one call in a fresh ``spawn`` process (never ``fork``: the
driver holds threads of dask's client and of the progress bar) and returns a
:class:`ChildCall`; :meth:`ChildCall.result` waits for it and re-raises its exception as the
same type, as the call would have raised in this process.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

__all__ = ["ChildCall", "start_in_child"]


class ChildCall:
    """A call running in its own process (:func:`start_in_child`)."""

    def __init__(self, executor: ProcessPoolExecutor, future: Future) -> None:
        self._executor = executor
        self._future = future

    def result(self) -> Any:
        """Wait for the call; its return value, or its exception raised here."""
        try:
            return self._future.result()
        finally:
            self.close()

    def close(self) -> None:
        """Wait for a running call to end (never leave it writing), then stop the process."""
        self._future.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)


def start_in_child(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> ChildCall:
    """Start ``fn(*args, **kwargs)`` in a new process; ``fn`` and the arguments must pickle."""
    executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        return ChildCall(executor, executor.submit(fn, *args, **kwargs))
    except BaseException:
        executor.shutdown(wait=True, cancel_futures=True)
        raise
