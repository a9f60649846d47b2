"""Returned field verdicts: reading, `landcheck verdicts check`, unsafe zips, applying to the sample.

The run's pieces are those of configs/sample_truth.yaml (the sample's planted patches, received
with their official numbers T001..T026; T018 straddles 220202 and 220204). Relevant pieces
(m², from data/sample_tiles/truth/truth_patches_by_county.csv):

| JCBH | county | farmland | illegal (outside approvals) |
|------|--------|----------|-----------------------------|
| T006 | 220202 | 2720     | 952                         |
| T011 | 220202 | 440      | 440                         |
| T012 | 220202 | 2304     | 2304                        |
| T018 | 220202 | 1003.137 | 1003.137                    |
| T018 | 220204 | 744.863  | 744.863                     |
| T019 | 220204 | 3432     | 1408                        |
"""
from __future__ import annotations

import datetime
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import geopandas as gpd
import openpyxl
import pyogrio
import pytest
import yaml
from click.testing import CliRunner
from pyproj import CRS

from overlay.crs import zone_epsg_for_geometries
from pipeline import output_folder
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.errors import ConfigError, OutputError
from pipeline.manifest import input_files
from pipeline.run import compute_pieces
from pipeline.verdicts import (MAX_ZIP_MEMBERS, VerdictError, check_config_verdicts,
                               verdicts_for_run)
from reports.field_package import write_field_packages

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "configs" / "sample_truth.yaml"
ALLOWED = "合法、违法、伪变化、设施农用地、临时用地、其他"


# ------------------------------------------------------------------------- fixtures and helpers

@pytest.fixture(scope="module")
def run():
    """The sample run's pieces and counties (nothing written)."""
    return compute_pieces(load_config(SAMPLE))


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Path]:
    """The sample config in tmp_path with absolute input paths and the given ``verdicts``."""
    def make(files=None, **verdicts) -> Path:
        data = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
        for section in (*data["layers"].values(), data["patches"]):
            section["path"] = str((SAMPLE.parent / section["path"]).resolve())
        data["output"] = str(tmp_path / "out")
        if files is not None:
            data["verdicts"] = {"files": [str(f) if isinstance(f, Path) else f for f in files],
                                **verdicts}
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path
    return make


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch) -> Path:
    """Where tempfile puts temporary folders during the test (to see they are gone afterwards)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture(scope="module")
def sent(tmp_path_factory, run) -> dict[str, Path]:
    """The field packages as landcheck sends them out, by county code (do not modify them)."""
    pieces, counties = run
    zones = dict(zip(counties["county_code"], zone_epsg_for_geometries(counties)))
    return write_field_packages(pieces, tmp_path_factory.mktemp("sent"),
                                county_crs={k: CRS.from_epsg(int(v)) for k, v in zones.items()})


def check(config: Path):
    return CliRunner().invoke(main, ["verdicts", "check", str(config)])


def error_lines(res) -> list[str]:
    return [ln for ln in res.stderr.splitlines() if ln.strip()]


def returned(source: Path, target: Path, edit: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame],
             *, encoding: str = "UTF-8", cpg: str | None = "UTF-8", stem: str | None = None) -> Path:
    """A package as a field team sends it back: the Shapefile of ``source`` edited with pyogrio
    (``encoding``; ``cpg`` the .cpg content, None for none), re-zipped as ``target``."""
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        with zipfile.ZipFile(source) as zf:
            zf.extractall(work)
        shp = next(Path(work).glob("*.shp"))
        frame = edit(gpd.read_file(shp))
        for p in Path(work).glob(shp.stem + ".*"):
            p.unlink()
        name = Path(work) / f"{stem or shp.stem}.shp"
        pyogrio.write_dataframe(frame, name, encoding=encoding)
        cpg_file = name.with_suffix(".cpg")
        if cpg is None:
            cpg_file.unlink(missing_ok=True)
        else:
            cpg_file.write_text(cpg, encoding="ascii")
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(Path(work).iterdir()):
                zf.write(p, p.name)
    return target


def fill(verdicts: dict[str, dict]) -> Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]:
    """An edit filling fields of the rows of some JCBHs: {JCBH: {field: value}}."""
    def edit(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        frame = frame.copy()
        for fields in verdicts.values():
            for field in fields:
                if field not in frame.columns:
                    frame[field] = None
        for jcbh, fields in verdicts.items():
            for field, value in fields.items():
                frame.loc[frame["JCBH"] == jcbh, field] = value
        return frame
    return edit


def write_xlsx(path: Path, rows: list[list], *, header=("JCBH", "PDLX", "WFMJ", "XZQDM", "HCRQ", "ZGZT"),
               title: str | None = None, sheet: str = "核查结果") -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    if title:
        ws.append([title])
    ws.append(list(header))
    for row in rows:
        ws.append(row)
    book.save(path)
    return path


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# ------------------------------------------------------------------------- config

def test_config_reads_files_globs_and_effects(tmp_path, make_config):
    folder = tmp_path / "returned"
    folder.mkdir()
    for name in ("220204.zip", "220202.zip"):
        (folder / name).write_bytes(b"")
    sheet = write_xlsx(tmp_path / "late.xlsx", [])
    cfg = load_config(make_config([str(folder / "*.zip"), {"path": str(sheet), "layer": "核查结果"}],
                                  effects={"临时用地": "legal", "other": "not_construction"},
                                  max_shift_m=2.5))
    v = cfg.verdicts
    assert [f.path for f in v.files] == [folder / "220202.zip", folder / "220204.zip", sheet]
    assert v.files[2].layer == "核查结果"
    assert v.effects == {"legal": "legal", "illegal": "illegal", "false_change": "not_construction",
                         "facility_agriculture": "not_construction", "temporary_use": "legal",
                         "other": "not_construction"}
    assert (v.max_reshape, v.max_shift_m) == (0.01, 2.5)
    roles = [(role, p) for role, p in input_files(cfg) if role == "verdicts"]
    assert [p for _, p in roles] == [folder / "220202.zip", folder / "220204.zip", sheet]
    assert cfg.to_dict()["verdicts"]["files"][0]["path"] == str(folder / "220202.zip")


def test_verdict_files_are_protected_inputs(tmp_path, make_config, sent):
    cfg = load_config(make_config([sent["220202"]]))
    with pytest.raises(OutputError, match="220202.zip"):
        output_folder.check_output_folder(sent["220202"].parent, [p for _, p in input_files(cfg)])
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    with zipfile.ZipFile(sent["220202"]) as zf:
        zf.extractall(shp_dir)
    cfg = load_config(make_config([shp_dir / "220202.shp"]))
    hashed = sorted(p.name for role, p in input_files(cfg) if role == "verdicts")
    assert hashed == [f"220202{s}" for s in (".cpg", ".dbf", ".prj", ".shp", ".shx")]


@pytest.mark.parametrize("verdicts, message", [
    ({"files": ["nope.zip"]}, "'verdicts.files[0].path' file not found: {tmp}/nope.zip"),
    ({"files": ["r*.zip"]}, "'verdicts.files[0].path' matches no file: {tmp}/r*.zip"),
    ({"files": ["run.yaml"]}, "'verdicts.files[0].path' {tmp}/run.yaml is not a verdict file: give a "
                              "returned field package (.zip), a GeoPackage (.gpkg), a Shapefile (.shp) "
                              "or an Excel sheet (.xlsx)"),
    ({"files": []}, "'verdicts.files' lists no file"),
    ({"files": ["s.xlsx", "./s.xlsx"]}, "'verdicts.files[1].path' {tmp}/s.xlsx is listed twice "
                                        "(verdicts.files[0] and verdicts.files[1])"),
    ({"files": [{"path": "s.xlsx", "encoding": "gbk"}]},
     "'verdicts.files[0].encoding' is for Shapefiles: an Excel sheet needs none ({tmp}/s.xlsx)"),
    ({"files": ["s.xlsx"], "effects": {"临时用地": "void"}},
     "'verdicts.effects.临时用地' must be one of illegal, legal, not_construction, unverified, got 'void'"),
    ({"files": ["s.xlsx"], "effects": {"违章": "legal"}},
     "'verdicts.effects.违章' is not a verdict: the keys are PDLX values (合法, 违法, 伪变化, 设施农用地, "
     "临时用地, 其他) or their codes"),
    ({"files": ["s.xlsx"], "effects": {"违法": "legal", "illegal": "legal"}},
     "'verdicts.effects' gives the effect of 违法 twice"),
    ({"files": ["s.xlsx"], "max_reshape": 2}, "'verdicts.max_reshape' must be in [0.0, 1.0], got 2"),
    ({"files": ["s.xlsx"], "colour": "red"},
     "unknown key 'verdicts.colour' (allowed: files, effects, max_reshape, max_shift_m, on_problem)"),
])
def test_config_errors(tmp_path, make_config, verdicts, message):
    write_xlsx(tmp_path / "s.xlsx", [])
    cfg = make_config([])
    data = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    data["verdicts"] = verdicts
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert str(info.value) == f"{cfg}: " + message.format(tmp=tmp_path)
    res = check(cfg)
    assert res.exit_code == 2
    assert error_lines(res) == [f"landcheck: error: {cfg}: " + message.format(tmp=tmp_path)]


def test_check_without_verdicts_section(make_config):
    cfg = make_config()
    res = check(cfg)
    assert res.exit_code == 2
    assert error_lines(res) == [f"landcheck: error: {cfg}: has no 'verdicts' section: nothing to check"]


# ------------------------------------------------------------------------- every problem, one line

def one_problem(make_config, files, expected: str):
    res = check(make_config(files))
    assert res.exit_code == 3, res.output
    assert res.stdout == ""
    assert error_lines(res) == [f"landcheck: error: {expected}"]


def test_problem_unknown_jcbh(tmp_path, make_config):
    x = write_xlsx(tmp_path / "r.xlsx", [["T999", "合法"]])
    one_problem(make_config, [x], f"{x}: row 2: JCBH T999: no patch of this run has this JCBH")


def test_problem_no_jcbh(tmp_path, make_config):
    x = write_xlsx(tmp_path / "r.xlsx", [["T006", "违法"], [None, "合法"]])
    one_problem(make_config, [x], f"{x}: row 3: no JCBH")


def test_problem_twice_with_different_verdicts_across_files(tmp_path, make_config):
    a = write_xlsx(tmp_path / "a.xlsx", [["T006", "违法"]])
    b = write_xlsx(tmp_path / "b.xlsx", [["T005", "合法"], ["T006", "合法"]])
    one_problem(make_config, [a, b],
                f"{b}: row 3: JCBH T006: given twice with different verdicts: 合法 here, 违法 in {a} row 2")


def test_problem_twice_with_different_wfmj(tmp_path, make_config):
    a = write_xlsx(tmp_path / "a.xlsx", [["T006", "违法", 900], ["T006", "违法", 952]])
    one_problem(make_config, [a],
                f"{a}: row 3: JCBH T006: given twice with different verdicts: 违法, WFMJ 952.00 m² here, "
                f"违法, WFMJ 900.00 m² in {a} row 2")


def test_same_verdict_twice_and_empty_rows_are_no_problem(tmp_path, make_config):
    a = write_xlsx(tmp_path / "a.xlsx", [["T006", "违法"], ["T006", " 违法"], ["T006", None]])
    res = check(make_config([a]))
    assert res.exit_code == 0, res.output
    assert res.stdout == "landcheck: 3 verdict rows in 1 file: no problems\n"


def test_problem_pdlx_outside_the_vocabulary(tmp_path, make_config):
    x = write_xlsx(tmp_path / "r.xlsx", [["T006", "违建"]])
    one_problem(make_config, [x], f"{x}: row 2: JCBH T006: PDLX '违建' is not a verdict: expected one of "
                                  f"{ALLOWED}")


def test_problem_wfmj_larger_than_the_farmland_part(tmp_path, make_config):
    x = write_xlsx(tmp_path / "r.xlsx", [["T006", "违法", 2800]])
    one_problem(make_config, [x], f"{x}: row 2: JCBH T006: WFMJ 2800.00 m² is larger than the patch's "
                                  "farmland part 2720.00 m² in county 220202 (tolerance 2.73 m²)")


def test_problem_wfmj_not_a_number(tmp_path, make_config):
    x = write_xlsx(tmp_path / "r.xlsx", [["T006", "违法", "约300"]])
    one_problem(make_config, [x], f"{x}: row 2: JCBH T006: WFMJ '约300' is not a number of m²")


def test_problem_wfmj_with_a_verdict_not_counted_as_illegal(tmp_path, make_config):
    x = write_xlsx(tmp_path / "r.xlsx", [["T006", "合法", 120]])
    one_problem(make_config, [x], f"{x}: row 2: JCBH T006: WFMJ 120.00 m² given with PDLX 合法: WFMJ is "
                                  "the illegal area of a verdict counted as illegal")


def test_problem_wfmj_for_a_straddling_patch_without_county(tmp_path, make_config):
    x = write_xlsx(tmp_path / "r.xlsx", [["T018", "违法", 500]])
    one_problem(make_config, [x], f"{x}: row 2: JCBH T018: WFMJ given for a patch in counties 220202, "
                                  "220204: give XZQDM to say which piece it is for")


def test_problem_geometry_moved(tmp_path, make_config, sent):
    def move(frame):
        frame = frame.copy()
        at = frame["JCBH"] == "T006"
        frame.loc[at, "geometry"] = frame.loc[at].geometry.translate(2.0, 0.0)  # T006: 40 m x 68 m
        frame.loc[at, "PDLX"] = "违法"
        return frame
    z = returned(sent["220202"], tmp_path / "220202.zip", move)
    row = list(gpd.read_file(f"zip://{z}!220202.shp")["JCBH"]).index("T006") + 1
    # symmetric difference 2 x (2 m x 68 m) = 272 m² = 10 % of 2720 m²
    one_problem(make_config, [z], f"{z}: row {row}: JCBH T006: geometry moved or reshaped against the "
                                  "patch's piece in 220202: 10.00 % of its area differs (tolerance "
                                  "1.00 %), centroid moved 2.00 m (tolerance 1 m)")


def test_geometry_tolerance_is_configurable(tmp_path, make_config, sent):
    def nudge(frame):
        frame = frame.copy()
        at = frame["JCBH"] == "T006"
        frame.loc[at, "geometry"] = frame.loc[at].geometry.translate(0.0, 0.5)  # 40 m wide: 1.47 %
        return frame
    z = returned(sent["220202"], tmp_path / "220202.zip", nudge)
    assert check(make_config([z])).exit_code == 3
    assert check(make_config([z], max_reshape=0.02)).exit_code == 0


def test_problem_xzqdm_of_another_county(tmp_path, make_config):
    x = write_xlsx(tmp_path / "r.xlsx", [["T006", "违法", None, "220204"]])
    one_problem(make_config, [x], f"{x}: row 2: JCBH T006: XZQDM 220204 is not the patch's county "
                                  "(it lies in county 220202)")


def test_problem_patch_of_another_county_in_a_package(tmp_path, make_config, sent):
    def smuggle(frame):
        other = gpd.read_file(f"zip://{sent['220202']}!220202.shp")
        extra = other[other["JCBH"] == "T006"].to_crs(frame.crs)
        extra = extra.assign(XZQDM=None)
        return gpd.GeoDataFrame(gpd.pd.concat([frame, extra], ignore_index=True), crs=frame.crs)
    z = returned(sent["220204"], tmp_path / "220204.zip", smuggle)
    row = len(gpd.read_file(f"zip://{z}!220204.shp"))
    one_problem(make_config, [z], f"{z}: row {row}: JCBH T006: patch of county 220202 in the package "
                                  "of county 220204")


def test_problem_invalid_hcrq(tmp_path, make_config):
    x = write_xlsx(tmp_path / "r.xlsx", [["T006", "违法", None, None, "2025-02-30"]])
    one_problem(make_config, [x], f"{x}: row 2: JCBH T006: HCRQ '2025-02-30' is not a real date "
                                  "written YYYY-MM-DD")


def test_problem_zgzt_outside_the_vocabulary(tmp_path, make_config):
    x = write_xlsx(tmp_path / "r.xlsx", [["T006", "违法", None, None, None, "拆了"]])
    one_problem(make_config, [x], f"{x}: row 2: JCBH T006: ZGZT '拆了' is not a rectification state: "
                                  "expected one of 已整改、整改中、未整改")


def test_problem_jcbh_stored_as_a_number_that_lost_digits(tmp_path, make_config):
    x = write_xlsx(tmp_path / "r.xlsx", [[2.20202202554601e20, "违法"]])  # Excel keeps 15 digits
    one_problem(make_config, [x], f"{x}: row 2: JCBH is stored as a number (2.20202202554601e+20) that "
                                  "has lost digits: store the column as text")


def test_problem_missing_column(tmp_path, make_config):
    x = write_xlsx(tmp_path / "r.xlsx", [["T006", "x"]], header=("JCBH", "备注"))
    one_problem(make_config, [x], f"{x}: has no PDLX column (判定类型; columns: JCBH, 备注)")


def test_all_problems_are_listed_one_line_each(tmp_path, make_config):
    a = write_xlsx(tmp_path / "a.xlsx", [["T999", "合法"], ["T006", "违建", None, None, "2025/11/03"]])
    b = write_xlsx(tmp_path / "b.xlsx", [["T006", "合法"]], header=("JCBH", "备注"))
    res = check(make_config([a, b]))
    assert res.exit_code == 3
    assert error_lines(res) == [
        f"landcheck: error: {a}: row 2: JCBH T999: no patch of this run has this JCBH",
        f"landcheck: error: {a}: row 3: JCBH T006: PDLX '违建' is not a verdict: expected one of {ALLOWED}",
        f"landcheck: error: {a}: row 3: JCBH T006: HCRQ '2025/11/03' is not a real date written YYYY-MM-DD",
        f"landcheck: error: {b}: has no PDLX column (判定类型; columns: JCBH, 备注)",
    ]


def test_run_refuses_bad_verdicts_with_the_first_problem_and_a_hint(tmp_path, make_config, run):
    a = write_xlsx(tmp_path / "a.xlsx", [["T999", "合法"], ["T006", "违建"]])
    cfg_path = make_config([a])
    pieces, counties = run
    with pytest.raises(VerdictError) as info:
        verdicts_for_run(load_config(cfg_path), pieces, counties)
    assert info.value.exit_code == 3
    assert str(info.value) == (f"{a}: row 2: JCBH T999: no patch of this run has this JCBH (2 problems "
                               f"in the returned verdicts; run 'landcheck verdicts check {cfg_path}' to "
                               "list them all)")


# ------------------------------------------------------------------------- untrusted zips

def evil(tmp_path: Path, sent: dict[str, Path], add: Callable[[zipfile.ZipFile], None]) -> Path:
    """The 220202 package as sent, plus what ``add`` puts into it."""
    target = tmp_path / "returned" / "220202.zip"
    target.parent.mkdir(exist_ok=True)
    shutil.copy(sent["220202"], target)
    with zipfile.ZipFile(target, "a") as zf:
        add(zf)
    return target


def zeros(zf: zipfile.ZipFile, name: str, size: int) -> None:
    member = zipfile.ZipInfo(name)
    member.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(member, "w", force_zip64=True) as dst:
        block = bytes(1 << 20)
        for _ in range(size >> 20):
            dst.write(block)


def refused(tmp_path, make_config, temp_dir, target: Path, message: str) -> None:
    cfg = make_config([target])
    before = tree(tmp_path)
    res = check(cfg)
    assert res.exit_code == 3, res.output
    assert error_lines(res) == [f"landcheck: error: {target}: {message}"]
    assert tree(tmp_path) == before  # nothing written anywhere, the zip's folder and its parent included
    assert list(temp_dir.iterdir()) == []  # no temporary folder left


def info(name: str, mode: int) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name)
    zi.external_attr = mode << 16
    zi.create_system = 3
    return zi


def test_zip_slip_refused(tmp_path, make_config, temp_dir, sent):
    z = evil(tmp_path, sent, lambda zf: zf.writestr("../evil.txt", b"pwned"))
    refused(tmp_path, make_config, temp_dir, z,
            "member '../evil.txt' would unpack outside its folder (zip-slip); refused")
    assert not (tmp_path / "evil.txt").exists() and not (temp_dir.parent / "evil.txt").exists()


def test_zip_slip_in_a_shapefile_member_refused(tmp_path, make_config, temp_dir, sent):
    z = evil(tmp_path, sent, lambda zf: zf.writestr("sub/../../220202.prj", b"x"))
    refused(tmp_path, make_config, temp_dir, z,
            "member 'sub/../../220202.prj' would unpack outside its folder (zip-slip); refused")


def test_absolute_path_refused(tmp_path, make_config, temp_dir, sent):
    z = evil(tmp_path, sent, lambda zf: zf.writestr(zipfile.ZipInfo(f"{tmp_path}/evil.txt"), b"pwned"))
    refused(tmp_path, make_config, temp_dir, z,
            f"member '{tmp_path}/evil.txt' has an absolute path; refused")


def test_windows_absolute_path_refused(tmp_path, make_config, temp_dir, sent):
    z = evil(tmp_path, sent, lambda zf: zf.writestr(zipfile.ZipInfo("C:\\evil.txt"), b"pwned"))
    refused(tmp_path, make_config, temp_dir, z, "member 'C:\\\\evil.txt' has an absolute path; refused")


def test_symlink_refused(tmp_path, make_config, temp_dir, sent):
    link = info("photos/link.jpg", stat.S_IFLNK | 0o777)
    z = evil(tmp_path, sent, lambda zf: zf.writestr(link, str(tmp_path / "secret")))
    refused(tmp_path, make_config, temp_dir, z, "member 'photos/link.jpg' is a symbolic link; refused")


def test_too_many_members_refused(tmp_path, make_config, temp_dir, sent, monkeypatch):
    import pipeline.verdicts as verdicts_mod

    assert MAX_ZIP_MEMBERS >= 7 + 2 * 20_000  # a package of 20,000 patches with both chips fits
    monkeypatch.setattr(verdicts_mod, "MAX_ZIP_MEMBERS", 1000)  # the rule, on a small archive

    def many(zf):
        for i in range(1000):
            zf.writestr(f"photos/{i}.jpg", b"")
    z = evil(tmp_path, sent, many)
    with zipfile.ZipFile(sent["220202"]) as zf:
        n = len(zf.infolist()) + 1000
    refused(tmp_path, make_config, temp_dir, z,
            f"holds {n} members (limit 1000): not a field package; refused")


def test_zip_bomb_by_ratio_refused(tmp_path, make_config, temp_dir, sent):
    z = evil(tmp_path, sent, lambda zf: zeros(zf, "photos/a.jpg", 40 << 20))
    with zipfile.ZipFile(z) as zf:
        ratio = sum(i.file_size for i in zf.infolist()) / sum(i.compress_size for i in zf.infolist())
    assert ratio > 100
    refused(tmp_path, make_config, temp_dir, z,
            f"unpacks {ratio:.0f} times its packed size (limit 100): refused as a zip bomb")


def test_zip_bomb_by_size_refused(tmp_path, make_config, temp_dir, sent, monkeypatch):
    import pipeline.verdicts as verdicts_mod

    monkeypatch.setattr(verdicts_mod, "MAX_ZIP_UNPACKED_BYTES", 200 << 20)  # the rule, smaller
    z = evil(tmp_path, sent, lambda zf: zeros(zf, "photos/a.jpg", 201 << 20))
    refused(tmp_path, make_config, temp_dir, z,
            "would unpack to 201 MiB (limit 200 MiB): refused as a zip bomb")


def test_not_a_zip(tmp_path, make_config, temp_dir):
    z = tmp_path / "220202.zip"
    z.write_bytes(b"PK but not really")
    refused(tmp_path, make_config, temp_dir, z, "is not a zip archive (File is not a zip file)")


# ------------------------------------------------------------------------- encodings and Excel

@pytest.mark.parametrize("encoding, cpg", [("UTF-8", "UTF-8"), ("GBK", "GBK"), ("GBK", "936")])
def test_returned_package_in_utf8_or_gbk(tmp_path, make_config, temp_dir, sent, encoding, cpg):
    z = returned(sent["220202"], tmp_path / "220202.zip",
                 fill({"T006": {"PDLX": "违法", "HCSM": "新建厂房，未批先建"}, "T012": {"PDLX": "伪变化"}}),
                 encoding=encoding, cpg=cpg)
    result = check_config_verdicts(load_config(make_config([z])))
    assert result.problems == []
    rows = result.table.set_index("patch_id")
    assert rows.loc["T006", "verdict"] == "illegal" and rows.loc["T012", "verdict"] == "false_change"
    assert rows.loc["T006", "remarks"] == "新建厂房，未批先建"
    assert rows.loc["T006", "county_code"] == "220202"
    assert list(temp_dir.iterdir()) == []  # the temporary folder is removed after reading


def test_gbk_package_without_cpg_is_refused_then_read_with_encoding(tmp_path, make_config, sent):
    z = returned(sent["220202"], tmp_path / "220202.zip", fill({"T006": {"PDLX": "违法"}}),
                 encoding="GBK", cpg=None)
    res = check(make_config([z]))
    assert res.exit_code == 3
    assert error_lines(res) == [f"landcheck: error: {z}: field 'PDLX' looks mis-decoded ('Î¥·¨' reads "
                                "as '违法' in GBK); set `encoding: gbk` for this file in 'verdicts.files'"]
    res = check(make_config([{"path": str(z), "encoding": "gbk"}]))
    assert res.exit_code == 0, res.output


def test_gbk_package_declared_utf8_is_refused(tmp_path, make_config, sent):
    z = returned(sent["220202"], tmp_path / "220202.zip", fill({"T006": {"PDLX": "违法"}}),
                 encoding="GBK", cpg="UTF-8")
    res = check(make_config([z]))
    assert res.exit_code == 3
    [line] = error_lines(res)
    assert line.startswith(f"landcheck: error: {z}: text is not valid UTF-8 (")
    assert "set `encoding` for this file in 'verdicts.files'" in line


def test_excel_sheet_with_chinese_headers_and_a_title_row(tmp_path, make_config, run):
    x = write_xlsx(tmp_path / "核查结果.xlsx", [
        ["T006", "违法", 1000, None, datetime.datetime(2025, 11, 3), "整改中", "张三"],
        ["T018", "伪变化", None, 220204, "2025-11-04", None, "李四"],
        [None, None, None, None, None, None, None],  # blank rows are skipped
        ["T019", "合法", 0, "220204", None, "已整改", None],
    ], header=("监测图斑编号", "判定类型", "违法面积", "行政区代码", "核查日期", "整改状态", "核查人"),
        title="2025年度卫片执法外业核查结果（吉林市）")
    cfg = load_config(make_config([x]))
    result = check_config_verdicts(cfg)
    assert result.problems == [] and result.n_rows == 3
    t = result.table
    assert list(t["row"]) == [3, 4, 6]  # the rows Excel shows (title in row 1, header in row 2)
    assert list(t["verified_on"]) == ["2025-11-03", "2025-11-04", None]
    assert list(t["county_code"]) == [None, "220204", "220204"]
    pieces, counties = run
    verified, progress = verdicts_for_run(cfg, pieces, counties)
    t006 = verified[verified.patch_id == "T006"].iloc[0]
    assert (t006.verified_illegal_farmland_m2, t006.verified_legal_farmland_m2) == (1000, 1720)
    assert t006.verdict_source == f"{x} row 3" and t006.rectification == "in_progress"
    t018 = verified[verified.patch_id == "T018"].set_index("county_code")
    assert t018.loc["220204", "effect"] == "not_construction"
    assert t018.loc["220202", "effect"] == "unverified"  # the row named county 220204's piece only


# ------------------------------------------------------------------------- the round trip

def test_round_trip_export_fill_check_apply(tmp_path, make_config, temp_dir, sent, run):
    back = tmp_path / "back"
    back.mkdir()
    z202 = returned(sent["220202"], back / "220202.zip", fill({
        "T006": {"PDLX": "违法", "WFMJ": 1000.0, "HCR": "张三", "HCRQ": "2025-11-03"},
        "T011": {"PDLX": "合法"},
        "T012": {"PDLX": "伪变化"},
        "T018": {"PDLX": "违法"},
        "T003": {"PDLX": "其他", "HCSM": "待复核"},
    }))
    z204 = returned(sent["220204"], back / "220204.zip", fill({
        "T018": {"PDLX": "合法"},  # the other piece of the straddling patch, another verdict
        "T019": {"PDLX": "设施农用地"},
    }))
    cfg_path = make_config([str(back / "*.zip")])
    res = check(cfg_path)
    assert res.exit_code == 0, res.output
    assert res.stdout == "landcheck: 20 verdict rows in 2 files: no problems\n"  # 15 + 5 pieces

    pieces, counties = run
    verified, progress = verdicts_for_run(load_config(cfg_path), pieces, counties)

    def sums(code: str) -> tuple[float, float, float, float]:
        part = verified[verified.county_code == code]
        return (part.illegal_farmland_m2.sum(), part.farmland_m2.sum(),
                part.verified_illegal_farmland_m2.sum(), part.verified_farmland_m2.sum())

    # 220202 suspected: illegal 952 + 440 + 2304 + 1003.137 + 832 = 5531.137; occupied 45055.137
    # (3456 + 3480 + 2720 + 4388 + 5180 + 440 + 2304 + 4216 + 2400 + 4136 + 5424 + 1003.137 + 832 + 4056).
    # Verified: T006 952 -> WFMJ 1000; T011 440 -> 0 (合法); T012 2304 leaves both (伪变化); T018 stays
    # 1003.137 (违法 without WFMJ); T003 其他 and the rest unverified.
    t018_202 = 1003.1366014482487
    assert sums("220202") == pytest.approx((
        952 + 440 + 2304 + t018_202 + 832,
        3456 + 3480 + 2720 + 4388 + 5180 + 440 + 2304 + 4216 + 2400 + 4136 + 5424 + t018_202 + 832 + 4056,
        1000 + 0 + t018_202 + 832,
        3456 + 3480 + 2720 + 4388 + 5180 + 440 + 4216 + 2400 + 4136 + 5424 + t018_202 + 832 + 4056,
    ))
    # 220204: T018 744.863 -> 0 (合法, still occupied); T019 3432 (1408 illegal) leaves both (设施农用地)
    t018_204 = 744.8633985517513
    assert sums("220204") == pytest.approx((
        t018_204 + 1408 + 2856, t018_204 + 3432 + 4508 + 2660 + 2856,
        2856, t018_204 + 4508 + 2660 + 2856,
    ))
    t006 = verified[verified.patch_id == "T006"].iloc[0]
    assert (t006.verdict, t006.effect, t006.wfmj_m2, t006.verified_legal_farmland_m2) == \
        ("illegal", "illegal", 1000.0, 1720.0)
    assert t006.verdict_source.startswith(f"{z202} row ")
    progress = progress.set_index("county_code")
    assert progress.loc["220202", ["n_pieces", "n_verified", "complete"]].tolist() == [15, 4, False]
    assert progress.loc["220204", ["n_pieces", "n_verified", "complete"]].tolist() == [5, 2, False]
    assert progress.loc["220203", ["n_pieces", "n_verified", "complete"]].tolist() == [2, 0, False]
    assert list(temp_dir.iterdir()) == []
    assert z204.exists()


# ------------------------------------------------------------------------- more formats and cases

def test_geopackage_with_geometry_and_attribute_table(tmp_path, make_config, run):
    pieces, _ = run
    layer = pieces[pieces.patch_id.isin(["T006", "T019"])][["patch_id", "county_code", "geometry"]]
    layer = layer.rename(columns={"patch_id": "jcbh", "county_code": "xzqdm"}).to_crs(4490)
    layer["pdlx"] = ["违法", "合法"]
    gpkg = tmp_path / "returned.gpkg"
    pyogrio.write_dataframe(layer, gpkg, layer="verdicts")
    table = gpd.pd.DataFrame({"监测图斑编号": ["T012"], "判定类型": ["伪变化"]})
    pyogrio.write_dataframe(table, gpkg, layer="late", append=False)
    res = check(make_config([gpkg]))
    assert error_lines(res) == [f"landcheck: error: {gpkg}: has 2 layers, set 'layer' to one of: "
                                "verdicts, late"]
    cfg = load_config(make_config([{"path": str(gpkg), "layer": "verdicts"},
                                   {"path": str(gpkg), "layer": "late"}]))  # once per layer
    assert [p for role, p in input_files(cfg) if role == "verdicts"] == [gpkg]  # hashed once
    result = check_config_verdicts(cfg)
    assert result.problems == [] and (result.n_rows, result.n_files) == (3, 2)
    assert dict(zip(result.table.patch_id, result.table.verdict)) == \
        {"T006": "illegal", "T019": "legal", "T012": "false_change"}
    assert set(result.table.source_file) == {f"{gpkg} (layer verdicts)", f"{gpkg} (layer late)"}


def test_workbook_listed_once_per_sheet(tmp_path, make_config):
    x = write_xlsx(tmp_path / "r.xlsx", [["T006", "违法"]], sheet="昌邑区")
    book = openpyxl.load_workbook(x)
    other = book.create_sheet("船营区")
    other.append(["JCBH", "PDLX"])
    other.append(["T019", "合规"])
    book.save(x)
    res = check(make_config([{"path": str(x), "layer": "昌邑区"}, {"path": str(x), "layer": "船营区"}]))
    assert error_lines(res) == [f"landcheck: error: {x} (sheet 船营区): row 2: JCBH T019: PDLX '合规' is not "
                                f"a verdict: expected one of {ALLOWED}"]
    res = check(make_config([x]))
    assert error_lines(res) == [f"landcheck: error: {x}: has 2 sheets, set 'layer' to one of: 昌邑区, 船营区"]


def test_geopackage_layers(tmp_path, make_config, run):
    pieces, _ = run
    layer = pieces[pieces.patch_id.isin(["T006", "T019"])][["patch_id", "county_code", "geometry"]]
    layer = layer.rename(columns={"patch_id": "jcbh", "county_code": "xzqdm"}).to_crs(4490)
    layer["pdlx"] = ["违法", "合法"]
    a, b = tmp_path / "a.gpkg", tmp_path / "b.gpkg"
    pyogrio.write_dataframe(layer, a, layer="verdicts")
    pyogrio.write_dataframe(gpd.pd.DataFrame({"监测图斑编号": ["T012"], "判定类型": ["伪变化"]}), b,
                            layer="late")
    cfg = load_config(make_config([a, b]))
    result = check_config_verdicts(cfg)
    assert result.problems == [] and (result.n_rows, result.n_files) == (3, 2)
    assert dict(zip(result.table.patch_id, result.table.verdict)) == \
        {"T006": "illegal", "T019": "legal", "T012": "false_change"}


def test_zip_from_a_mac_with_a_subfolder(tmp_path, make_config, temp_dir, sent):
    z = tmp_path / "220202_returned.zip"
    with zipfile.ZipFile(sent["220202"]) as src, zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as dst:
        for member in src.infolist():
            dst.writestr(f"220202/{member.filename}", src.read(member))
            dst.writestr(f"__MACOSX/220202/._{member.filename}", b"\x00\x05\x16\x07")
    result = check_config_verdicts(load_config(make_config([z])))
    assert result.problems == [] and result.n_rows == 15
    assert set(result.table.county_code) == {"220202"}  # the package's county, from the zip's name
    assert list(temp_dir.iterdir()) == []


def test_damaged_member(tmp_path, make_config, temp_dir, sent):
    z = tmp_path / "220202.zip"
    data = bytearray(sent["220202"].read_bytes())
    with zipfile.ZipFile(sent["220202"]) as zf:
        dbf = next(i for i in zf.infolist() if i.filename.endswith(".dbf"))
    start = dbf.header_offset + 30 + len(dbf.filename.encode()) + len(dbf.extra) + 10
    data[start:start + 8] = bytes(8)
    z.write_bytes(bytes(data))
    res = check(make_config([z]))
    assert res.exit_code == 3
    [line] = error_lines(res)
    assert line.startswith(f"landcheck: error: {z}: member '220202.dbf' is damaged (")
    assert list(temp_dir.iterdir()) == []


def test_run_without_verdicts_leaves_every_piece_unverified(make_config, run):
    pieces, counties = run
    verified, progress = verdicts_for_run(load_config(make_config()), pieces, counties)
    assert set(verified.effect) == {"unverified"}
    assert (verified.verified_illegal_farmland_m2 == verified.illegal_farmland_m2).all()
    assert (verified.verified_farmland_m2 == verified.farmland_m2).all()
    assert list(progress.county_code) == list(counties.county_code)
    assert not progress.complete.any()


def test_returned_shapefile_named_for_its_county(tmp_path, make_config, sent):
    z = returned(sent["220202"], tmp_path / "220202.zip", fill({"T006": {"PDLX": "违法"}}))
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(z) as zf:
        zf.extractall(folder)
    result = check_config_verdicts(load_config(make_config([folder / "220202.shp"])))
    assert result.problems == [] and result.n_rows == 15
    assert set(result.table.county_code) == {"220202"}
    assert result.table.set_index("patch_id").loc["T006", "verdict"] == "illegal"
