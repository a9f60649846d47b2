"""The output folder: inputs and foreign files are never touched, runs lock, leftovers are handled.

Every refusal must be exit 3 with one line naming the folder, and leave every file under
``tmp_path`` (inputs, unrelated files) byte-identical: the whole tree is hashed before and after.
"""
import errno
import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from pipeline import output_folder as of
from pipeline.config import load_config
from pipeline.errors import OutputError
from pipeline.manifest import input_files
from tests.pipeline.cli_helpers import invoke

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample_tiles"
PATH_KEYS = {"path", "before", "after", "before_cloud_masks", "after_cloud_masks", "output"}


# --------------------------------------------------------------------------- helpers

def absolute_paths(node, base: Path):
    """A config with every relative path made absolute against ``base``."""
    if isinstance(node, dict):
        return {k: (os.path.normpath(base / v) if k in PATH_KEYS and isinstance(v, str) else absolute_paths(v, base))
                for k, v in node.items()}
    return node


def write_config(path: Path, *, name: str = "sample_truth.yaml", sample: Path = SAMPLE, **changes) -> Path:
    """configs/<name> with its inputs taken from ``sample`` (a copy of data/sample_tiles)."""
    data = yaml.safe_load((REPO / "configs" / name).read_text(encoding="utf-8"))
    data = absolute_paths(data, REPO / "configs")
    text = yaml.safe_dump(data, allow_unicode=True).replace(str(SAMPLE), str(sample))
    data = yaml.safe_load(text)
    data.update(changes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def tree(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (hidden ones too) with its content hash, link target or 'dir'."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def assert_refused(res, folder, *fragments):
    """Exit 3, exactly one line ``landcheck: error: <folder>: ...`` holding every fragment."""
    assert res.exit_code == 3, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert lines[0].startswith(f"landcheck: error: {folder}: "), lines[0]
    assert "Traceback" not in res.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def config(tmp_path) -> Path:
    """The received-patches sample config in tmp_path, reading the committed sample."""
    return write_config(tmp_path / "cfg" / "run.yaml")


@pytest.fixture
def sample_copy(tmp_path) -> tuple[Path, Path]:
    """A copy of data/sample_tiles in tmp_path and a config (beside it) reading the copy."""
    data = tmp_path / "data" / "sample_tiles"
    shutil.copytree(SAMPLE, data)
    cfg = write_config(tmp_path / "cfg" / "run.yaml", sample=data)
    for name in ("run.yaml", "detect.yaml"):  # guard: the tests must never point at the committed sample
        config = load_config(write_config(tmp_path / "check" / name, sample=data,
                                          name="sample.yaml" if name == "detect.yaml" else "sample_truth.yaml"))
        assert all(tmp_path in p.parents for _, p in input_files(config))
    shutil.rmtree(tmp_path / "check")
    return data, cfg


@pytest.fixture(scope="module")
def previous_output(tmp_path_factory) -> Path:
    """A real landcheck output (one run), to copy where a test needs an earlier output."""
    base = tmp_path_factory.mktemp("prev")
    cfg = write_config(base / "run.yaml")
    res = invoke("run", cfg, "--out", base / "o", "--quiet")
    assert res.exit_code == 0, res.output
    return base / "o"


def copy_previous(previous_output: Path, dest: Path) -> Path:
    shutil.copytree(previous_output, dest, symlinks=True)
    return dest


def started_at(folder: Path) -> str:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["finished_at"]


# --------------------------------------------------------------------------- pure helpers

def test_staging_and_lock_names():
    out = Path("/x/y/o")
    assert of.staging_path(out, "partial", 12) == Path("/x/y/.o.partial-12")
    assert of.staging_path(out, "old", 7) == Path("/x/y/.o.old-7")
    assert of.staging_path(out, "partial") == Path(f"/x/y/.o.partial-{os.getpid()}")
    assert of.lock_path(out) == Path("/x/y/.o.lock")


def test_parse_leftover():
    assert of.parse_leftover(".o.partial-99999", "o") == ("partial", 99999)
    assert of.parse_leftover(".o.old-12", "o") == ("old", 12)
    assert of.parse_leftover(".o.lock", "o") is None
    assert of.parse_leftover(".oo.old-12", "o") is None
    assert of.parse_leftover(".o.old-12x", "o") is None
    assert of.parse_leftover(".a.b.partial-3", "a.b") == ("partial", 3)
    assert of.parse_leftover(".axb.partial-3", "a.b") is None  # the dot is literal


def test_input_conflict():
    inputs = [Path("/d/cfg/run.yaml"), Path("/d/data/vectors/farmland.gpkg"), Path("/d/gdb/x.gdb")]
    assert of.input_conflict(Path("/d/data"), inputs) == ("contains", inputs[1])
    assert of.input_conflict(Path("/d"), inputs) == ("contains", inputs[0])
    assert of.input_conflict(Path("/d/gdb/x.gdb"), inputs) == ("is", inputs[2])
    assert of.input_conflict(Path("/d/gdb/x.gdb/out"), inputs) == ("inside", inputs[2])
    assert of.input_conflict(Path("/d/cfg/run.yaml/out"), inputs) == ("inside", inputs[0])
    assert of.input_conflict(Path("/d/data2"), inputs) is None       # a common prefix is not containment
    assert of.input_conflict(Path("/d/cfg/out"), inputs) is None     # a sibling of an input is fine
    assert of.input_conflict(Path("/d/x"), []) is None


def test_foreign_entries():
    listed = ["county_ratios.csv", "patches.gpkg", "ratio_chart.png", "field_verification/220202.zip"]
    ok = ["manifest.json", "county_ratios.csv", "patches.gpkg", "patches.gpkg-wal", "patches.gpkg-shm",
          "patches.gpkg-journal", "ratio_chart.png.aux.xml", "field_verification/220202.zip", of.MARKER]
    assert of.foreign_entries(ok, listed) == []
    assert of.foreign_entries(ok + ["notes.txt", "field_verification/x.zip", "foo.tif-wal"], listed) == [
        "field_verification/x.zip", "foo.tif-wal", "notes.txt"]
    assert of.foreign_entries(["manifest.json.aux.xml", "a"], []) == ["a"]


def test_read_manifest_outputs(tmp_path):
    assert of.read_manifest_outputs(tmp_path) is None
    (tmp_path / "manifest.json").write_text("{not json")
    assert of.read_manifest_outputs(tmp_path) is None
    (tmp_path / "manifest.json").write_text(json.dumps({"outputs": [{"path": "a"}]}))
    assert of.read_manifest_outputs(tmp_path) is None                  # not landcheck's
    (tmp_path / "manifest.json").write_text(json.dumps({"landcheck_manifest": 1, "outputs": [{"x": 1}]}))
    assert of.read_manifest_outputs(tmp_path) is None                  # malformed outputs
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"landcheck_manifest": 1, "outputs": [{"path": "a.csv"}, {"path": "field_verification/1.zip"}]}))
    assert of.read_manifest_outputs(tmp_path) == ["a.csv", "field_verification/1.zip"]


def test_check_output_folder_rules(tmp_path):
    inp = tmp_path / "in" / "a.gpkg"
    inp.parent.mkdir()
    inp.write_bytes(b"x")
    assert of.check_output_folder(tmp_path / "new" / "o", [inp]) == (tmp_path / "new" / "o").resolve()
    (tmp_path / "empty").mkdir()
    assert of.check_output_folder(tmp_path / "empty", [inp]) == (tmp_path / "empty").resolve()
    with pytest.raises(OutputError, match="contains input files"):
        of.check_output_folder(tmp_path / "in", [inp])
    with pytest.raises(OutputError, match="is an input"):
        of.check_output_folder(inp, [inp])
    with pytest.raises(OutputError, match="lies inside an input"):
        of.check_output_folder(inp / "sub", [inp])
    with pytest.raises(OutputError, match="root of the file system"):
        of.check_output_folder(Path("/"), [])
    (tmp_path / "empty" / "link").symlink_to(tmp_path / "in")
    with pytest.raises(OutputError, match=r"not a landcheck output \(holds 'link'\)"):
        of.check_output_folder(tmp_path / "empty", [inp])
    with pytest.raises(OutputError, match="contains input files"):  # symlinks are followed
        of.check_output_folder(tmp_path / "empty" / "link", [inp])
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    with pytest.raises(OutputError, match="cannot resolve"):
        of.check_output_folder(tmp_path / "loop_a" / "o", [inp])


def test_many_foreign_entries_are_summarised(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    for name in "abcde":
        (out / name).write_text(name)
    with pytest.raises(OutputError, match=r"holds 'a', 'b', 'c' and 2 more\)"):
        of.check_output_folder(out, [])


def test_exchange_swaps_two_folders(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "from_a").write_text("a")
    (b / "from_b").write_text("b")
    if not of._exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    assert [p.name for p in a.iterdir()] == ["from_b"]
    assert [p.name for p in b.iterdir()] == ["from_a"]


def test_remove_tree_and_make_staging(tmp_path):
    out = tmp_path / "o"
    staging = of.make_staging(out)
    assert staging == tmp_path / f".o.partial-{os.getpid()}"
    assert (staging / of.MARKER).is_file()
    (staging / "sub").mkdir()
    (staging / "sub" / "f").write_text("x")
    again = of.make_staging(out)  # a marked leftover of this pid is replaced
    assert sorted(p.name for p in again.iterdir()) == [of.MARKER]
    of.remove_tree(again)
    assert not again.exists()
    again.mkdir()
    (again / "mine.txt").write_text("not landcheck's")
    with pytest.raises(OutputError, match="not made by landcheck"):
        of.make_staging(out)
    assert (again / "mine.txt").read_text() == "not landcheck's"


def test_check_output_file(tmp_path):
    inp = tmp_path / "in.gpkg"
    inp.write_bytes(b"x")
    (tmp_path / "old.gpkg").write_bytes(b"y")
    assert of.check_output_file(tmp_path / "new.gpkg", [inp]) == (tmp_path / "new.gpkg").resolve()
    with pytest.raises(OutputError, match="is an input"):
        of.check_output_file(inp, [inp], overwrite=True)
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        of.check_output_file(tmp_path / "old.gpkg", [inp])
    assert of.check_output_file(tmp_path / "old.gpkg", [inp], overwrite=True)
    with pytest.raises(OutputError, match="is a folder"):
        of.check_output_file(tmp_path, [inp], overwrite=True)
    with pytest.raises(OutputError, match="lies below"):
        of.check_output_file(tmp_path / "old.gpkg" / "x.gpkg", [inp])


def test_write_file_atomically_removes_temp_on_failure(tmp_path):
    out = tmp_path / "p.gpkg"
    out.write_bytes(b"before")

    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        Path(str(tmp) + "-wal").write_bytes(b"w")
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        of.write_file_atomically(out, fail)
    assert out.read_bytes() == b"before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.gpkg"]
    of.write_file_atomically(out, lambda tmp: tmp.write_bytes(b"after"))
    assert out.read_bytes() == b"after"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.gpkg"]


# --------------------------------------------------------------------------- run: refusals

def test_out_at_the_folder_holding_the_inputs(tmp_path, sample_copy):
    data, cfg = sample_copy
    before = tree(tmp_path)
    res = invoke("run", cfg, "--out", data, "--quiet")
    assert_refused(res, data, "output folder contains input files", str(data / "vectors"),
                   "choose another folder")
    res = invoke("run", cfg, "--out", data.parent)  # its parent too
    assert_refused(res, data.parent, "contains input files")
    assert tree(tmp_path) == before


def test_out_at_an_input_file_or_inside_an_input_folder(tmp_path, sample_copy):
    data, cfg = sample_copy
    gdb = tmp_path / "received.gdb"  # a folder dataset (FileGDB-like) as an input
    gdb.mkdir()
    (gdb / "a00000001.gdbtable").write_bytes(b"table")
    write_config(cfg, sample=data, patches={"path": str(gdb)})
    before = tree(tmp_path)
    farmland = data / "vectors" / "farmland.gpkg"
    assert_refused(invoke("run", cfg, "--out", farmland), farmland, "output folder is an input")
    assert_refused(invoke("run", cfg, "--out", gdb / "out"), gdb / "out", "lies inside an input",
                   str(gdb))
    assert_refused(invoke("run", cfg, "--out", gdb), gdb, "is an input")
    assert tree(tmp_path) == before


def test_output_dot_beside_the_config(tmp_path):
    project = tmp_path / "project"
    cfg = write_config(project / "run.yaml", output=".")
    (project / "notes.txt").write_text("keep me")
    (project / "other.yaml").write_text("year: 2024\n")
    before = tree(tmp_path)
    res = invoke("run", cfg, "--quiet")
    assert_refused(res, project, "output folder contains input files", str(cfg))
    assert tree(tmp_path) == before


def test_out_at_the_working_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    cfg = write_config(project / "configs" / "run.yaml")
    (project / "README.md").write_text("the checkout")
    monkeypatch.chdir(project)
    before = tree(tmp_path)
    assert_refused(invoke("run", cfg, "--out", "."), ".", "contains input files")
    assert_refused(invoke("run", cfg, "--out", project), project, "contains input files")
    assert tree(tmp_path) == before


def test_out_at_an_unrelated_non_empty_folder(tmp_path, config):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "foo.tif").write_bytes(b"\x00" * 100)
    (out / "album").mkdir()
    (out / "album" / "a.jpg").write_bytes(b"jpg")
    before = tree(tmp_path)
    res = invoke("run", config, "--out", out, "--quiet")
    assert_refused(res, out, "is not empty and not a landcheck output (holds 'album', 'foo.tif')",
                   "choose an empty or new folder")
    assert tree(tmp_path) == before


def test_out_through_a_symlink_to_inputs(tmp_path, sample_copy):
    data, cfg = sample_copy
    link = tmp_path / "link"
    link.symlink_to(data)
    before = tree(tmp_path)
    assert_refused(invoke("run", cfg, "--out", link, "--quiet"), link, "contains input files")
    assert tree(tmp_path) == before


def test_output_is_checked_before_connecting_to_a_scheduler(tmp_path, config):
    out = tmp_path / "o"
    out.write_text("a file")
    res = invoke("run", config, "--out", out, "--scheduler", "tcp://127.0.0.1:9", "--quiet")
    assert_refused(res, out, "is a file, not a folder")


def test_out_at_an_existing_file(tmp_path, config):
    out = tmp_path / "o"
    out.write_text("a file")
    before = tree(tmp_path)
    assert_refused(invoke("run", config, "--out", out, "--quiet"), out, "is a file, not a folder")
    assert tree(tmp_path) == before


def test_out_below_a_file(tmp_path, config):
    (tmp_path / "somefile.txt").write_text("text")
    out = tmp_path / "somefile.txt" / "sub"
    before = tree(tmp_path)
    assert_refused(invoke("run", config, "--out", out, "--quiet"), out,
                   f"lies below '{tmp_path / 'somefile.txt'}', which is a file")
    assert tree(tmp_path) == before


def test_previous_output_with_a_foreign_file_is_refused(tmp_path, config, previous_output):
    out = copy_previous(previous_output, tmp_path / "o")
    (out / "my_notes.docx").write_bytes(b"notes")
    (out / "field_verification" / "extra.zip").write_bytes(b"zip")
    before = tree(tmp_path)
    res = invoke("run", config, "--out", out, "--quiet")
    assert_refused(res, out, "is a landcheck output but also holds files it did not write",
                   "'field_verification/extra.zip', 'my_notes.docx'")
    assert tree(tmp_path) == before


def test_a_held_lock_refuses_a_second_run(tmp_path, config, previous_output):
    out = copy_previous(previous_output, tmp_path / "o")
    lock = tmp_path / ".o.lock"
    with open(lock, "w") as fh:
        fh.write("4321\n")
        fh.flush()
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        before = tree(tmp_path)
        res = invoke("run", config, "--out", out, "--quiet")
        assert_refused(res, out, "another landcheck run (pid 4321) is writing this output folder")
        assert tree(tmp_path) == before
    res = invoke("run", config, "--out", out, "--quiet")  # lock released: the run goes ahead
    assert res.exit_code == 0, res.output


def test_read_only_parent_is_refused(tmp_path, config, monkeypatch):
    def read_only(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
    monkeypatch.setattr(of, "_open_lock_file", read_only)
    out = tmp_path / "o"
    before = tree(tmp_path)
    res = invoke("run", config, "--out", out, "--quiet")
    assert_refused(res, out, "cannot write beside the output folder", "read-only file system")
    assert tree(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits, so chmod 0o555 does not "
                    "stop writes (test_read_only_mount covers a real read-only file system)")
def test_read_only_parent_by_permission(tmp_path, config):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        before = tree(tmp_path)
        res = invoke("run", config, "--out", parent / "o", "--quiet")
        assert_refused(res, parent / "o", "permission denied")
        assert tree(tmp_path) == before
    finally:
        parent.chmod(0o755)


def test_read_only_mount(tmp_path, config):
    """A real read-only file system (a tmpfs mounted ro; skipped where mounting is not allowed)."""
    import subprocess

    mount = tmp_path / "ro"
    mount.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {res.stderr.strip() or res.returncode}")
    try:
        res = invoke("run", config, "--out", mount / "o", "--quiet")
        assert_refused(res, mount / "o", "read-only file system")
        assert list(mount.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_publish_failure_keeps_the_previous_output(tmp_path, config, previous_output, monkeypatch):
    out = copy_previous(previous_output, tmp_path / "o")

    def full(a, b):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(b))
    monkeypatch.setattr(of, "_exchange", full)
    before = tree(tmp_path)
    res = invoke("run", config, "--out", out, "--quiet")
    assert_refused(res, out, "cannot put the new output in place", "no space left on device")
    after = tree(tmp_path)
    assert after.pop(".o.lock") and after == before


# --------------------------------------------------------------------------- run: accepted

def test_previous_output_is_replaced_and_rerun_works(tmp_path, config, previous_output):
    out = copy_previous(previous_output, tmp_path / "o")
    (out / "patches.gpkg-wal").write_bytes(b"")  # SQLite sidecars of a listed file are tolerated
    first = started_at(out)
    res = invoke("run", config, "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    assert started_at(out) != first or json.loads((out / "manifest.json").read_text())["outputs"]
    assert not (out / "patches.gpkg-wal").exists() and not (out / of.MARKER).exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".o.lock"]
    res = invoke("run", config, "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [".o.lock", "cfg", "o"]
    listed = of.read_manifest_outputs(out)
    assert listed and not of.foreign_entries(of._entries(out), listed)


def test_new_and_empty_folders_are_accepted(tmp_path, config):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "deep" / "new" / "o"):
        res = invoke("run", config, "--out", out, "--quiet")
        assert res.exit_code == 0, res.output
        assert (out / "manifest.json").is_file()


def test_fallback_publish_without_renameat2(tmp_path, config, previous_output, monkeypatch):
    monkeypatch.setattr(of, "_renameat2", None)  # as on a system without renameat2
    out = copy_previous(previous_output, tmp_path / "o")
    renames = []
    real_rename = Path.rename

    def spy(self, target):
        renames.append((Path(self).name, Path(target).name))
        return real_rename(self, target)
    monkeypatch.setattr(Path, "rename", spy)
    res = invoke("run", config, "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    pid = os.getpid()
    assert renames == [("o", f".o.old-{pid}"), (f".o.partial-{pid}", "o")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".o.lock", "cfg", "o"]
    assert not (out / of.MARKER).exists()
    listed = of.read_manifest_outputs(out)
    assert listed and not of.foreign_entries(of._entries(out), listed)


def test_exchange_publish_never_leaves_the_path_empty(tmp_path, config, previous_output, monkeypatch):
    out = copy_previous(previous_output, tmp_path / "o")
    seen = []
    real = of._exchange

    def spy(a, b):
        done = real(a, b)
        seen.append((done, (b / "manifest.json").is_file()))
        return done
    monkeypatch.setattr(of, "_exchange", spy)
    res = invoke("run", config, "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    if seen != [(True, True)]:
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".o.lock", "cfg", "o"]


def test_stale_leftovers_are_cleaned_or_reported(tmp_path, config, previous_output):
    out = copy_previous(previous_output, tmp_path / "o")
    partial = tmp_path / ".o.partial-99999"
    partial.mkdir()
    (partial / of.MARKER).write_text("")
    (partial / "patches.gpkg").write_bytes(b"half written")
    old = tmp_path / ".o.old-99998"
    copy_previous(previous_output, old)
    (old / of.MARKER).write_text("")
    foreign_partial = tmp_path / ".o.partial-99997"
    foreign_partial.mkdir()
    (foreign_partial / "thesis.tex").write_text("not landcheck's")
    foreign_old = tmp_path / ".o.old-99996"
    foreign_old.mkdir()
    (foreign_old / "keep.txt").write_text("keep")
    untouched = {k: v for k, v in tree(tmp_path).items() if k.startswith((".o.partial-99997", ".o.old-99996"))}
    res = invoke("run", config, "--out", out)
    assert res.exit_code == 0, res.output
    assert "warning: removed .o.partial-99999" in res.output
    assert "warning: removed .o.old-99998" in res.output
    assert f"left {foreign_partial} alone" in res.output and f"left {foreign_old} alone" in res.output
    assert not partial.exists() and not old.exists()
    after = tree(tmp_path)
    assert {k: v for k, v in after.items() if k.startswith((".o.partial-", ".o.old-"))} == untouched


def test_kill_between_the_two_renames_is_restored(tmp_path, config, previous_output, monkeypatch):
    """Output missing, the earlier output set aside as .o.old-PID: the next run puts it back first."""
    old = copy_previous(previous_output, tmp_path / ".o.old-424242")
    expected = tree(old)
    out = tmp_path / "o"
    import reports

    def boom(*args, **kwargs):  # the new run fails: the restored output must survive it
        raise RuntimeError("stop")
    monkeypatch.setattr(reports, "write_excel_report", boom)
    res = invoke("run", config, "--out", out)
    assert res.exit_code == 70, res.output
    assert "warning: restored the previous output from .o.old-424242" in res.output
    assert tree(out) == expected and not old.exists()
    monkeypatch.undo()
    res = invoke("run", config, "--out", out, "--quiet")  # and a later run replaces it normally
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [".o.lock", "cfg", "o"]


def test_kill_between_renames_with_marker_is_restored_without_it(tmp_path, config, previous_output):
    old = copy_previous(previous_output, tmp_path / ".o.old-424243")
    (old / of.MARKER).write_text("")
    messages = of.recover_leftovers((tmp_path / "o").resolve())
    assert messages == ["restored the previous output from .o.old-424243 "
                        "(an earlier run was stopped while replacing it)"]
    assert not (tmp_path / "o" / of.MARKER).exists()
    of.check_output_folder(tmp_path / "o", [])  # a complete landcheck output again


# --------------------------------------------------------------------------- detect --out

def test_detect_out_at_an_input_gpkg(tmp_path, sample_copy):
    """detect --out names a folder now: an input file, the folder holding the inputs, or a link
    to an input are refused whatever the flags, and nothing is written."""
    data, _ = sample_copy
    cfg = write_config(tmp_path / "cfg" / "detect.yaml", name="sample.yaml", sample=data)
    before = tree(tmp_path)
    target = data / "vectors" / "farmland.gpkg"
    for extra in ([], ["--overwrite"]):
        res = invoke("detect", cfg, "--out", target, "--quiet", *extra)
        assert_refused(res, target, "output folder is an input of this run", "choose another folder")
        res = invoke("detect", cfg, "--out", data, "--quiet", *extra)
        assert_refused(res, data, "output folder contains input files")
    link = tmp_path / "link.gpkg"
    link.symlink_to(target)
    before[link.name] = "link:" + str(target)
    assert_refused(invoke("detect", cfg, "--out", link, "--quiet", "--overwrite"), link, "is an input")
    assert tree(tmp_path) == before


def test_detect_out_is_a_folder_and_an_earlier_output_needs_overwrite(tmp_path, sample_copy):
    data, _ = sample_copy
    cfg = write_config(tmp_path / "cfg" / "detect.yaml", name="sample.yaml", sample=data)
    results = tmp_path / "results"
    results.mkdir()
    old = results / "patches.gpkg"
    old.write_bytes(b"an earlier result")
    before = tree(tmp_path)
    for extra in ([], ["--overwrite"]):  # an existing file, or a new .gpkg path (the old form)
        assert_refused(invoke("detect", cfg, "--out", old, "--quiet", *extra), old,
                       "is a file, not a folder")
        new = results / "new.gpkg"
        assert_refused(invoke("detect", cfg, "--out", new, "--quiet", *extra), new,
                       "--out now names a folder")
    assert tree(tmp_path) == before
    out = results / "detect"
    res = invoke("detect", cfg, "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["change_mask.tif", "detection.json",
                                                     "manifest.json", "patches.gpkg"]
    assert (out / "patches.gpkg").read_bytes()[:16] == b"SQLite format 3\x00"
    first = started_at(out)
    assert_refused(invoke("detect", cfg, "--out", out, "--quiet"), out,
                   "holds an earlier landcheck output; pass --overwrite to replace it")
    res = invoke("detect", cfg, "--out", out, "--quiet", "--overwrite")
    assert res.exit_code == 0, res.output
    assert started_at(out) >= first
    (out / "notes.txt").write_text("mine", encoding="utf-8")  # foreign: never replaced
    assert_refused(invoke("detect", cfg, "--out", out, "--quiet", "--overwrite"), out,
                   "also holds files it did not write", "'notes.txt'")


def test_detect_write_failure_removes_the_staging_folder(tmp_path, sample_copy, monkeypatch):
    data, _ = sample_copy
    cfg = write_config(tmp_path / "cfg" / "detect.yaml", name="sample.yaml", sample=data)
    out = tmp_path / "results" / "detect"
    import geopandas as gpd

    def full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", full)
    res = invoke("detect", cfg, "--out", out, "--quiet")
    assert_refused(res, out / "patches.gpkg", "no space left on device while writing patches.gpkg")
    assert [p.name for p in out.parent.iterdir()] == [".detect.lock"]  # no output, no staging


def test_real_kill_between_the_two_renames(tmp_path, config, previous_output):
    """SIGKILL right after the earlier output was set aside (fallback publish): the next run restores it."""
    import signal
    import subprocess
    import sys

    out = copy_previous(previous_output, tmp_path / "o")
    expected = tree(out)
    script = f"""
import os, signal
from pathlib import Path
from pipeline import output_folder
from pipeline.cli import main
output_folder._renameat2 = None
real = Path.rename
def rename(self, target):
    result = real(self, target)
    if ".old-" in Path(target).name:
        os.kill(os.getpid(), signal.SIGKILL)
    return result
Path.rename = rename
main(["run", {str(config)!r}, "--out", {str(out)!r}, "--quiet"])
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not out.exists()
    olds = list(tmp_path.glob(".o.old-*"))
    assert len(olds) == 1 and list(tmp_path.glob(".o.partial-*"))
    res = invoke("run", config, "--out", out)
    assert res.exit_code == 0, res.output
    assert f"warning: restored the previous output from {olds[0].name}" in res.output
    assert "warning: removed .o.partial-" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [".o.lock", "cfg", "o"]
    assert tree(out).keys() == expected.keys()


def test_a_complete_earlier_output_left_under_a_staging_name_is_removed(tmp_path, previous_output):
    """A kill right after the exchange leaves the earlier output (no marker) at .o.partial-PID."""
    out = copy_previous(previous_output, tmp_path / "o")
    left = copy_previous(previous_output, tmp_path / ".o.partial-77777")
    assert of.recover_leftovers(out.resolve()) == ["removed .o.partial-77777, left by an interrupted run"]
    assert not left.exists() and out.is_dir()


def test_an_incomplete_set_aside_output_is_not_restored(tmp_path, previous_output):
    """A marked .old-PID whose removal was interrupted (manifest gone) is removed, not restored."""
    old = copy_previous(previous_output, tmp_path / ".o.old-55555")
    (old / of.MARKER).write_text("")
    (old / "manifest.json").unlink()
    assert of.recover_leftovers((tmp_path / "o").resolve()) == [
        "removed .o.old-55555, left by an interrupted run"]
    assert not (tmp_path / "o").exists() and not old.exists()
