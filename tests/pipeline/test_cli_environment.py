"""The user's environment failing (disk full, read-only, SIGTERM, no scheduler): one line, a
documented exit code, no traceback, nothing half-written, inputs untouched."""
from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipeline.cli import TERMINATED_EXIT, main
from pipeline.diskio import os_reason

REPO = Path(__file__).resolve().parents[2]
PATH_KEYS = {"path", "before", "after", "before_cloud_masks", "after_cloud_masks", "output"}


def absolute(node, base: Path):
    if isinstance(node, dict):
        return {k: (str(base / v) if k in PATH_KEYS and isinstance(v, str) else absolute(v, base))
                for k, v in node.items()}
    return node


@pytest.fixture
def config(tmp_path) -> Path:
    data = absolute(yaml.safe_load((REPO / "configs" / "sample_truth.yaml").read_text("utf-8")),
                    REPO / "configs")
    path = tmp_path / "cfg" / "run.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def one_error_line(res) -> str:
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert "Traceback" not in res.output
    return lines[0]


def test_no_space_left_names_the_file_and_exits_3(config, tmp_path, monkeypatch):
    import reports

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(reports, "write_excel_report", full)
    before = tree_hashes(REPO / "data" / "sample_tiles")
    res = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "o"), "--quiet"])
    line = one_error_line(res)
    assert res.exit_code == 3
    assert line == f"landcheck: error: {tmp_path / 'o' / 'report.xlsx'}: no space left on device " \
                   "while writing report.xlsx"
    assert not (tmp_path / "o").exists()
    assert not list(tmp_path.glob(".o.partial*"))
    assert tree_hashes(REPO / "data" / "sample_tiles") == before


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 300 KB tmpfs (needs root and mount rights; skipped where the sandbox forbids it)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {res.stderr.strip() or res.returncode}")
    yield mount
    subprocess.run(["umount", str(mount)], capture_output=True)


def test_real_full_disk_while_gdal_writes(config, tiny_disk):
    # GDAL only says "Failed to commit transaction": the reason comes from the folder itself.
    res = CliRunner().invoke(main, ["run", str(config), "--out", str(tiny_disk / "o"), "--quiet"])
    line = one_error_line(res)
    assert res.exit_code == 3, res.output
    assert "no space left on device while writing" in line
    assert str(tiny_disk / "o") in line
    assert not (tiny_disk / "o").exists()
    assert not [p for p in tiny_disk.iterdir() if "partial" in p.name]


def test_read_only_file_system_is_the_users_environment(config, tmp_path, monkeypatch):
    import reports

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    monkeypatch.setattr(reports, "write_patches_gpkg", read_only)
    res = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 3
    assert "read-only file system while writing patches.gpkg" in one_error_line(res)


def test_a_bug_is_still_an_internal_error(config, tmp_path, monkeypatch):
    import reports

    def bug(*args, **kwargs):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(reports, "render_ratio_chart", bug)
    res = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 70
    assert one_error_line(res).startswith("landcheck: internal error: ZeroDivisionError")


def test_sigterm_stops_cleanly_like_ctrl_c(config, tmp_path, monkeypatch):
    from pipeline import layers

    real = layers.open_source  # the run opens each polygon layer as a source to read by county

    def then_terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # a batch system ending the job mid-run
        return real(*args, **kwargs)
    monkeypatch.setattr(layers, "open_source", then_terminated)
    handler = signal.getsignal(signal.SIGTERM)
    res = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == TERMINATED_EXIT == 143
    assert one_error_line(res).startswith("landcheck: terminated (SIGTERM)")
    assert not (tmp_path / "o").exists()
    assert not list(tmp_path.glob(".o.partial*"))
    assert signal.getsignal(signal.SIGTERM) is handler  # restored after the command


def test_unreachable_scheduler_exits_4(config, tmp_path, monkeypatch):
    import distributed

    def refused(address, timeout=None):
        raise OSError(f"Timed out trying to connect to {address} after {timeout}")
    monkeypatch.setattr(distributed, "Client", refused)
    res = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "o"), "--quiet",
                                    "--scheduler", "tcp://127.0.0.1:9"])
    assert res.exit_code == 4
    assert "cannot reach dask scheduler at tcp://127.0.0.1:9" in one_error_line(res)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("exc, reason", [
    (OSError(errno.ENOSPC, "x"), "no space left on device"),
    (RuntimeError("sqlite3_exec failed: database or disk is full"), "no space left on device"),
    (RuntimeError("attempt to write a readonly database"), "read-only file system"),
    (ValueError("bad value"), None),
])
def test_os_reason_reads_errno_and_library_messages(exc, reason):
    assert os_reason(exc) == reason


def test_os_reason_follows_the_exception_chain():
    try:
        try:
            raise OSError(errno.EDQUOT, "quota")
        except OSError as inner:
            raise RuntimeError("write failed") from inner
    except RuntimeError as outer:
        assert os_reason(outer) == "disk quota exceeded"


def test_closed_stdout_is_not_an_internal_error(config, tmp_path):
    """`landcheck run ... | head`: the reader closes the pipe; the outputs are published already."""
    import sys

    exe = Path(sys.executable).with_name("landcheck")
    proc = subprocess.Popen([str(exe), "run", str(config), "--out", str(tmp_path / "o"), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 0, err
    assert "internal error" not in err and "Traceback" not in err
    assert (tmp_path / "o" / "manifest.json").is_file()
