"""One writer in a child process while the driver writes the others.

The national deliverables are written by the driver after the county jobs, one after another,
in pure-Python writers (openpyxl, reportlab) that hold the GIL: a thread would not overlap
them. :func:`start_in_child` runs one call in a fresh ``spawn`` process (never ``fork``: the
driver holds threads of dask's client and of the progress bar) and returns a
:class:`ChildCall`; :meth:`ChildCall.result` waits for it and re-raises its exception as the
same type, as the call would have raised in this process. A child that dies without an answer
(killed, out of memory) raises :class:`ChildLost`. :meth:`ChildCall.close` stops a child that
is still running (an error or an interruption in the driver), so nothing keeps writing into a
folder that is being removed.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

__all__ = ["ChildCall", "ChildLost", "start_in_child"]


class ChildLost(RuntimeError):
    """The child process ended without returning (killed, out of memory, crashed)."""


def _child_main(conn: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    try:
        answer = ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        answer = ("error", exc)
    try:
        conn.send(answer)
    except Exception as exc:  # noqa: BLE001 - the value or the exception does not pickle
        conn.send(("error", RuntimeError(f"{type(answer[1]).__name__}: {answer[1]} "
                                         f"(could not be sent back: {exc})")))
    finally:
        conn.close()


class ChildCall:
    """A call running in its own process (:func:`start_in_child`)."""

    def __init__(self, process: Any, conn: Any) -> None:
        self._process = process
        self._conn = conn
        self._done = False

    def result(self) -> Any:
        """Wait for the call; its return value, or its exception raised here."""
        try:
            try:
                kind, value = self._conn.recv()
            except EOFError:
                self._process.join()
                raise ChildLost(f"the child process ended without an answer "
                                f"(exit code {self._process.exitcode})") from None
            self._done = True
            if kind == "error":
                raise value
            return value
        finally:
            self.close()

    def close(self) -> None:
        """Stop the child if it is still running (its answer is not wanted), and wait for it."""
        if self._process.is_alive() and not self._done:
            self._process.terminate()
        self._process.join()
        self._conn.close()


def start_in_child(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> ChildCall:
    """Start ``fn(*args, **kwargs)`` in a new process; ``fn`` and the arguments must pickle."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, args=(child, fn, args, kwargs), daemon=True,
                              name="landcheck-writer")
    process.start()
    child.close()  # the parent keeps only its end: EOF when the child is gone
    return ChildCall(process, parent)
