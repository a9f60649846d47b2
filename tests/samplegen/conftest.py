"""Fixtures of the samplegen tests: the scale-1 world, generated twice with the defaults."""
from __future__ import annotations

from pathlib import Path

import pytest

from samplegen import make_sample
from samplegen.layout import COMMITTED_SAMPLE, COUNTIES_FILE, SHARED_COUNTIES


def _have_counties() -> bool:
    return SHARED_COUNTIES.is_file() or (COMMITTED_SAMPLE / COUNTIES_FILE).is_file()


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> tuple[Path, dict]:
    """The scale-1 sample generated with the defaults (seed, county source): (folder, summary)."""
    if not _have_counties():
        pytest.skip(f"no county boundaries: neither {SHARED_COUNTIES} nor the committed "
                    f"copy {COMMITTED_SAMPLE / COUNTIES_FILE} exists")
    out = tmp_path_factory.mktemp("world")
    return out, make_sample(out)


@pytest.fixture(scope="session")
def world_again(world, tmp_path_factory) -> Path:
    """The same world generated a second time into another folder."""
    out = tmp_path_factory.mktemp("world_again")
    make_sample(out)
    return out


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print the detection quality table of tests/samplegen/test_sample_detection.py."""
    from tests.samplegen.helpers import QUALITY_REPORT

    lines = config.stash.get(QUALITY_REPORT, None)
    if lines:
        terminalreporter.section("detection on the committed sample (quality report)")
        for line in lines:
            terminalreporter.write_line(line)
