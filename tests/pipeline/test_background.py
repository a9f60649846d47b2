"""pipeline.background: a call in a spawned child process, its result or its exception here."""
from __future__ import annotations

import os
import time

import pytest

from pipeline.background import ChildLost, start_in_child


def _pid_and_sum(a: int, b: int) -> tuple[int, int]:
    return os.getpid(), a + b


def _refuse(path: str) -> None:
    raise FileNotFoundError(2, "No such file or directory", path)


def _die() -> None:
    os._exit(9)  # as a kill or the out-of-memory killer would end it: no answer


def _touch_after(path: str, seconds: float) -> None:
    time.sleep(seconds)
    open(path, "w").close()


def test_runs_in_another_process_and_returns_its_value():
    pid, total = start_in_child(_pid_and_sum, 2, b=3).result()
    assert total == 5 and pid != os.getpid()


def test_the_childs_exception_is_raised_here_with_its_type():
    call = start_in_child(_refuse, "/nowhere/x.xlsx")
    with pytest.raises(FileNotFoundError) as info:
        call.result()
    assert info.value.filename == "/nowhere/x.xlsx"  # an OSError keeps what diskio.writing names


def test_a_child_that_dies_without_an_answer_is_reported():
    with pytest.raises(ChildLost, match="exit code 9"):
        start_in_child(_die).result()


def test_close_stops_a_running_child(tmp_path):
    """An error or an interruption in the driver: the child is stopped before it writes."""
    marker = tmp_path / "written"
    call = start_in_child(_touch_after, str(marker), 30.0)
    started = time.monotonic()
    call.close()
    assert time.monotonic() - started < 20  # stopped, not waited for
    time.sleep(0.2)
    assert not marker.exists()
