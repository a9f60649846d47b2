"""pipeline.background: a call in a spawned child process, its result or its exception here."""
from __future__ import annotations

import os

import pytest

from pipeline.background import start_in_child


def _pid_and_sum(a: int, b: int) -> tuple[int, int]:
    return os.getpid(), a + b


def _refuse(path: str) -> None:
    raise FileNotFoundError(2, "No such file or directory", path)


def test_runs_in_another_process_and_returns_its_value():
    pid, total = start_in_child(_pid_and_sum, 2, b=3).result()
    assert total == 5 and pid != os.getpid()


def test_the_childs_exception_is_raised_here_with_its_type():
    call = start_in_child(_refuse, "/nowhere/x.xlsx")
    with pytest.raises(FileNotFoundError) as info:
        call.result()
    assert info.value.filename == "/nowhere/x.xlsx"  # an OSError keeps what diskio.writing names


def test_close_waits_for_a_running_call(tmp_path):
    marker = tmp_path / "done"
    call = start_in_child(_touch_after, str(marker), 0.5)
    call.close()
    assert marker.is_file()  # close() returned only once the child had finished writing


def _touch_after(path: str, seconds: float) -> None:
    import time

    time.sleep(seconds)
    open(path, "w").close()
