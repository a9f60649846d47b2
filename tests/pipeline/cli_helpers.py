"""Helpers the command-line tests share: invoke the CLI, assert a one-line error."""
from __future__ import annotations

from click.testing import CliRunner, Result

from pipeline.cli import main


def invoke(*args) -> Result:
    """``landcheck ARGS...`` in-process; arguments may be paths or numbers."""
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(res: Result, code: int, *fragments: str) -> str:
    """The run failed with ``code`` and printed exactly one ``landcheck: error:`` line holding every
    fragment, no traceback; returns that line."""
    assert res.exit_code == code, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert lines[0].startswith("landcheck: error: ") and "Traceback" not in res.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
