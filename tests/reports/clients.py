"""The real clients the deliverables are tested in: QGIS (PyQGIS of Debian's python3-qgis, run
by the system Python in a subprocess, since the project's venv cannot import it), LibreOffice
(``soffice --headless``) and Chromium (``chromium --headless``).

``make clients`` installs them (``.ci/run`` does before ``make test``). Where one is missing its
tests are skipped with that reason, except under ``CI=true``, where a missing client fails the
test: CI must never skip them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SYSTEM_PYTHON = Path("/usr/bin/python3")


def _missing(what: str) -> None:
    reason = f"{what} is not installed (run `make clients`, as .ci/run does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


def qgis_python() -> Path:
    """The system Python that imports ``qgis.core``, or skip (fail under CI)."""
    if SYSTEM_PYTHON.is_file():
        probe = subprocess.run([str(SYSTEM_PYTHON), "-c", "import qgis.core"],
                               capture_output=True, text=True)
        if probe.returncode == 0:
            return SYSTEM_PYTHON
    _missing("PyQGIS (Debian package python3-qgis)")
    raise AssertionError("unreachable")


def soffice() -> str:
    """The LibreOffice executable, or skip (fail under CI)."""
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        _missing("LibreOffice (Debian package libreoffice-calc-nogui)")
    return str(exe)


def chromium() -> str:
    """The headless Chromium executable, or skip (fail under CI)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        _missing("Chromium (Debian package chromium)")
    return str(exe)


def qgis_env(tmp: Path) -> dict[str, str]:
    """Environment for a headless PyQGIS subprocess (no display, its own profile folder)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(tmp), HOME=str(tmp))
    return env
