"""The verified ratio in a whole run, on a tiny world built here (not the sample).

Two counties side by side, farmland everywhere, one approval strip in A, received patches with
official numbers (m², all farmland):

| JCBH | county | area | overlay (suspected)        | verdict returned        | decisive illegal / occupied |
|------|--------|------|----------------------------|-------------------------|-----------------------------|
| P1   | A      | 2000 | illegal 2000 (basic 2000)   | 违法, WFMJ 1500, 未整改  | 1500 / 2000                 |
| P2   | A      | 2000 | legal (approved)            | 合法                    | 0 / 2000                    |
| P3   | A      | 2000 | illegal 2000                | 伪变化                  | 0 / 0                       |
| P4   | A      | 1000 | illegal 1000                | 设施农用地              | 0 / 0                       |
| P5   | A      | 1000 | illegal 1000                | 临时用地                | 0 / 0                       |
| P6   | A      | 1000 | illegal 1000                | 其他 (unverified)       | 1000 / 1000                 |
| Q1   | B      | 2000 | illegal 2000                | 违法, 已整改             | 2000 / 2000                 |
| Q2   | B      | 2000 | illegal 2000                | 伪变化                  | 0 / 0                       |
| Q3   | B      | 1000 | legal (approved in B)       | 合法                    | 0 / 1000                    |

A: suspected 7000 / 9000, decisive 2500 / 5000 = 0.5, incomplete (P6).
B: suspected 4000 / 5000, decisive 2000 / 3000, complete.
"""
from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import geopandas as gpd
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
import yaml
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.errors import InputFileError
from pipeline.run import level_summary, run_pipeline
from pipeline.verdicts import VerdictError
from reports.excel import RANKING_HEADER_ROW, PATCH_SHEET, RANKING_SHEET, UNRECTIFIED_SHEET, VERIFIED_RANKING_HEADERS

X0, Y0 = 546000.0, 4857000.0
A, B = "220202", "220204"
PATCHES = {"P1": (0, 50, 40), "P2": (200, 50, 40), "P3": (400, 50, 40), "P4": (500, 50, 20),
           "P5": (600, 50, 20), "P6": (700, 20, 50), "Q1": (1100, 50, 40), "Q2": (1200, 50, 40),
           "Q3": (1300, 50, 20)}
FILLED = {A: {"P1": {"PDLX": "违法", "WFMJ": 1500.0, "ZGZT": "未整改", "HCR": "张三", "HCRQ": "2025-11-03"},
              "P2": {"PDLX": "合法"}, "P3": {"PDLX": "伪变化"}, "P4": {"PDLX": "设施农用地"},
              "P5": {"PDLX": "临时用地"}, "P6": {"PDLX": "其他", "HCSM": "待复核"}},
          B: {"Q1": {"PDLX": "违法", "ZGZT": "已整改"}, "Q2": {"PDLX": "伪变化"}, "Q3": {"PDLX": "合法"}}}


def box(x: float, w: float, h: float, y: float = 0.0) -> shapely.Polygon:
    return shapely.box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


def quiet(_msg: str) -> None:
    pass


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("world")
    crs = 4551

    def layer(name: str, geoms: list, **fields) -> None:
        gpd.GeoDataFrame(fields, geometry=geoms, crs=crs).to_file(root / f"{name}.gpkg", layer=name)

    layer("counties", [box(0, 1000, 1000), box(1000, 1000, 1000)], XZQDM=[A, B], XZQMC=["昌邑区", "船营区"])
    layer("farmland", [box(0, 2000, 1000)])
    layer("basic", [box(0, 100, 100)])
    layer("approved", [box(200, 100, 1000), box(1300, 100, 1000)])
    layer("patches", [box(x, w, h) for x, w, h in PATCHES.values()], JCBH=list(PATCHES))
    layer("key", [box(-10, 70, 60)])  # around P1
    return root


@pytest.fixture
def make_config(world: Path, tmp_path: Path) -> Callable[..., Path]:
    def make(year: int = 2025, **extra) -> Path:
        data = {"year": year,
                "layers": {"counties": {"path": str(world / "counties.gpkg")},
                           "farmland": {"path": str(world / "farmland.gpkg")},
                           "basic_farmland": {"path": str(world / "basic.gpkg")},
                           "approved": {"path": str(world / "approved.gpkg")}},
                "patches": {"path": str(world / "patches.gpkg"), "id_field": "JCBH"},
                "output": str(tmp_path / f"out{year}"), **extra}
        path = tmp_path / f"run{year}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path
    return make


def fill(package: Path, target: Path, values: dict[str, dict]) -> Path:
    """A field package as a team sends it back: its Shapefile filled in, zipped again."""
    with tempfile.TemporaryDirectory() as work:
        with zipfile.ZipFile(package) as zf:
            zf.extractall(work)
        shp = next(Path(work).glob("*.shp"))
        frame = gpd.read_file(shp)
        for jcbh, fields in values.items():
            for field, value in fields.items():
                frame.loc[frame["JCBH"] == jcbh, field] = value
        for p in Path(work).glob(shp.stem + ".*"):
            p.unlink()
        pyogrio.write_dataframe(frame, shp, encoding="UTF-8")
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(Path(work).glob(shp.stem + ".*")):
                zf.write(p, p.name)
    return target


@pytest.fixture(scope="module")
def sent(world, tmp_path_factory) -> dict[str, Path]:
    """The packages a run without verdicts sends out."""
    out = tmp_path_factory.mktemp("sent")
    data = {"year": 2025,
            "layers": {"counties": {"path": str(world / "counties.gpkg")},
                       "farmland": {"path": str(world / "farmland.gpkg")},
                       "basic_farmland": {"path": str(world / "basic.gpkg")},
                       "approved": {"path": str(world / "approved.gpkg")}},
            "patches": {"path": str(world / "patches.gpkg"), "id_field": "JCBH"}, "output": str(out / "out")}
    (out / "run.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run_pipeline(load_config(out / "run.yaml"), progress=False, log=quiet)
    return {code: result.outputs[f"field_verification/{code}"] for code in (A, B)}


def returned(sent: dict[str, Path], folder: Path, values: dict = FILLED) -> Path:
    for code, rows in values.items():
        fill(sent[code], folder / f"{code}.zip", rows)
    return folder


def ratios_csv(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "county_ratios.csv", dtype={"county_code": str}, encoding="utf-8-sig") \
        .set_index("county_code")


# ------------------------------------------------------------------------- the round trip

def test_round_trip_export_fill_import_equals_the_hand_computation(sent, make_config, tmp_path):
    back = returned(sent, tmp_path / "back")
    cfg = make_config(verdicts={"files": str(back / "*.zip")})
    check = CliRunner().invoke(main, ["verdicts", "check", str(cfg)])
    assert check.exit_code == 0 and check.stdout == "landcheck: 9 verdict rows in 2 files: no problems\n"
    lines: list[str] = []
    result = run_pipeline(load_config(cfg), progress=False, log=lines.append)
    r = ratios_csv(result.output)
    a, b = r.loc[A], r.loc[B]
    assert (a.suspected_illegal_farmland_m2, a.suspected_occupied_farmland_m2) == (7000, 9000)
    assert a.suspected_ratio == pytest.approx(7 / 9) and a.suspected_level == "accountability"
    assert (a.illegal_farmland_m2, a.occupied_farmland_m2, a.legal_farmland_m2) == (2500, 5000, 2500)
    assert a.ratio == pytest.approx(0.5) and a.level == "accountability"
    assert (a.n_patches, a.n_verified, a.verified_share, a.complete) == (6, 5, pytest.approx(5 / 6), False)
    assert (b.illegal_farmland_m2, b.occupied_farmland_m2, b.legal_farmland_m2) == (2000, 3000, 1000)
    assert b.ratio == pytest.approx(2 / 3) and (b.n_verified, b.complete) == (3, True)
    assert b.suspected_ratio == pytest.approx(0.8)
    assert (a.rectified_illegal_m2, b.rectified_illegal_m2) == (0, 2000)
    # basic farmland: P1's 2000 m², illegal capped at its WFMJ
    assert (a.basic_farmland_m2, a.illegal_basic_farmland_m2) == (2000, 1500)
    assert list(r.columns[:6]) == ["county_name", "occupied_farmland_m2", "illegal_farmland_m2", "ratio",
                                   "level", "rank"]
    assert set(r.level_reason) == {"ratio"} and r.level_zh.tolist() == ["问责", "问责"]
    # the pieces carry their verdicts; per piece farmland = legal + illegal in both pictures
    p = gpd.read_file(result.output / "patches.gpkg", layer="patches").set_index("patch_id")
    assert p.loc["P1", "verdict"] == "illegal" and p.loc["P1", "verified_illegal_farmland_m2"] == 1500
    assert p.loc["P3", "effect"] == "not_construction" and p.loc["P6", "effect"] == "unverified"
    assert p.loc["P1", "rectification"] == "not_rectified"
    assert ((p.verified_legal_farmland_m2 + p.verified_illegal_farmland_m2 - p.verified_farmland_m2).abs()
            < 1e-6).all()
    assert ((p.legal_farmland_m2 + p.illegal_farmland_m2 - p.farmland_m2).abs() < 1e-6).all()
    # the console line shows both pictures; the manifest too
    assert any(ln.strip().startswith("levels: accountability 2") and "suspected, overlay alone: accountability 2"
               in ln and "8 of 9 pieces verified, 1 of 2 counties complete" in ln for ln in lines)
    manifest = json.loads((result.output / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["verification"]["pieces_verified"] == 8 and manifest["verification"]["counties_complete"] == [B]
    assert {e["role"] for e in manifest["inputs"]} >= {"verdicts"}
    sheet = openpyxl.load_workbook(result.output / "report.xlsx")[PATCH_SHEET]
    headers = [c.value for c in sheet[1]]
    rows = {r[0]: dict(zip(headers, r)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert (rows["P1"]["判定类型"], rows["P1"]["整改状态"], rows["P1"]["核查后违法占用耕地面积(平方米)"]) == \
        ("违法", "未整改", 1500)
    assert rows["P6"]["核查结论"] == "未核查，按套合结果" and rows["P4"]["判定类型"] == "设施农用地"


def test_severe_impact_and_key_projects_in_a_run(sent, make_config, world, tmp_path):
    back = returned(sent, tmp_path / "back")
    cfg = make_config(verdicts={"files": str(back / "*.zip")},
                      severe_impact=[{"county_code": B, "reason": "媒体曝光，影响恶劣"}],
                      key_projects={"jcbh": ["Q1", "NOPE"], "layer": str(world / "key.gpkg")})
    warnings: list[str] = []
    result = run_pipeline(load_config(cfg), progress=False, log=quiet, warn=warnings.append)
    r = ratios_csv(result.output)
    assert r.loc[A, "key_project_illegal_m2"] == 1500  # P1, inside the polygon
    assert r.loc[A, "after_deduction_ratio"] == pytest.approx((2500 - 1500) / 5000)
    assert r.loc[B, "key_project_illegal_m2"] == 2000 and r.loc[B, "after_deduction_ratio"] == 0
    assert r.loc[B, "level"] == "accountability" and r.loc[B, "level_reason"] == "severe_impact"
    assert r.loc[B, "severe_impact_reason"] == "媒体曝光，影响恶劣"
    assert warnings == ["    warning: key_projects: JCBH NOPE is no patch of this run: nothing is deducted for it"]
    html = (result.output / "report.html").read_text(encoding="utf-8")
    assert "媒体曝光，影响恶劣" in html and "扣减后比例" in html and "核查进度" in html
    book = openpyxl.load_workbook(result.output / "report.xlsx")
    notes = " ".join(str(c.value) for row in book["说明"].iter_rows() for c in row)
    assert "媒体曝光，影响恶劣" in notes and "重点项目扣减" in notes and "NOPE" in notes
    ranking = book[RANKING_SHEET]
    headers = [c.value for c in ranking[RANKING_HEADER_ROW]]
    assert set(VERIFIED_RANKING_HEADERS) <= set(headers)
    row_b = next(r for r in ranking.iter_rows(min_row=RANKING_HEADER_ROW + 1, values_only=True) if r[1] == B)
    assert row_b[headers.index("恶劣影响情形")] == "媒体曝光，影响恶劣"
    assert row_b[headers.index("定级依据")] == "造成恶劣影响或者其他严重后果"
    manifest = json.loads((result.output / "manifest.json").read_text(encoding="utf-8"))
    assert "key_projects" in {e["role"] for e in manifest["inputs"]}


def test_unknown_severe_impact_county_is_a_config_error(make_config):
    cfg = make_config(severe_impact=[{"county_code": "999999", "reason": "x"}])
    res = CliRunner().invoke(main, ["run", str(cfg), "--quiet"])
    assert res.exit_code == 2
    assert res.stderr.strip().startswith(f"landcheck: error: {cfg}: 'severe_impact[0].county_code' 999999 is "
                                         "not a county of the county layer")
    assert not (cfg.parent / "out2025").exists()


# ------------------------------------------------------------------------- bad verdict rows

BAD = {A: FILLED[A], B: {**FILLED[B], "Q2": {"PDLX": "违建"}}}


def test_bad_row_is_reported_and_its_patch_stays_unverified(sent, make_config, tmp_path):
    back = returned(sent, tmp_path / "back", BAD)
    cfg = make_config(verdicts={"files": str(back / "*.zip")})
    res = CliRunner().invoke(main, ["run", str(cfg), "--quiet"])
    assert res.exit_code == 0, res.output
    problem = (f"{back / f'{B}.zip'}: row 2: JCBH Q2: PDLX '违建' is not a verdict: expected one of "
               "合法、违法、伪变化、设施农用地、临时用地、其他")
    assert res.stderr.splitlines() == [f"    warning: returned verdicts: {problem} (row ignored: the patch "
                                       "stays unverified)"]
    out = cfg.parent / "out2025"
    r = ratios_csv(out)
    # Q2 keeps the overlay's 2000 illegal: B = (2000 + 2000) / (2000 + 2000 + 1000), incomplete
    assert (r.loc[B, "illegal_farmland_m2"], r.loc[B, "occupied_farmland_m2"]) == (4000, 5000)
    assert r.loc[B, "ratio"] == pytest.approx(0.8) and not r.loc[B, "complete"] and r.loc[B, "n_verified"] == 2
    assert r.loc[A, "ratio"] == pytest.approx(0.5)  # the other file is used as it is
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["data_quality"]["verdict_problems"] == [problem]
    assert manifest["data_quality"]["verdicts_ignored_jcbh"] == ["Q2"]
    notes = " ".join(str(c.value) for row in openpyxl.load_workbook(out / "report.xlsx")["说明"].iter_rows()
                     for c in row)
    assert problem in notes
    assert problem in (out / "report.html").read_text(encoding="utf-8").replace("&#x27;", "'")
    # verdicts check still lists it and fails
    check = CliRunner().invoke(main, ["verdicts", "check", str(cfg)])
    assert check.exit_code == 3 and check.stderr.splitlines() == [f"landcheck: error: {problem}"]


def test_conflicting_rows_leave_the_patch_unverified(sent, make_config, tmp_path):
    back = returned(sent, tmp_path / "back")
    sheet = tmp_path / "late.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["JCBH", "PDLX"])
    book.active.append(["Q1", "合法"])  # Q1 is 违法 in B's package: which is right is not guessed
    book.save(sheet)
    cfg = make_config(verdicts={"files": [str(back / "*.zip"), str(sheet)]})
    warnings: list[str] = []
    result = run_pipeline(load_config(cfg), progress=False, log=quiet, warn=warnings.append)
    assert len(warnings) == 1 and "given twice with different verdicts" in warnings[0]
    q1 = result.pieces.set_index("patch_id").loc["Q1"]
    assert q1.effect == "unverified" and q1.verified_illegal_farmland_m2 == 2000


def test_refuse_stops_the_run_at_the_first_problem(sent, make_config, tmp_path):
    back = returned(sent, tmp_path / "back", BAD)
    cfg = make_config(verdicts={"files": str(back / "*.zip"), "on_problem": "refuse"})
    with pytest.raises(VerdictError) as info:
        run_pipeline(load_config(cfg), progress=False, log=quiet)
    assert info.value.exit_code == 3 and "row 2: JCBH Q2: PDLX '违建' is not a verdict" in str(info.value)
    res = CliRunner().invoke(main, ["run", str(cfg), "--quiet"])
    assert res.exit_code == 3 and len(res.stderr.strip().splitlines()) == 1
    assert not (cfg.parent / "out2025").exists()
    assert not list(cfg.parent.glob(".out2025.partial*"))


# ------------------------------------------------------------------------- last year's run

def test_previous_run_year_over_year_and_unrectified(sent, make_config, tmp_path):
    back = returned(sent, tmp_path / "back")
    last = run_pipeline(load_config(make_config(year=2024, verdicts={"files": str(back / "*.zip")})),
                        progress=False, log=quiet)
    # this year: nothing returned yet, so the overlay's figures decide
    result = run_pipeline(load_config(make_config(previous_run=str(last.output))), progress=False, log=quiet)
    r = ratios_csv(result.output)
    assert r.loc[A, "previous_ratio"] == pytest.approx(0.5) and r.loc[A, "previous_level"] == "accountability"
    assert r.loc[A, "ratio"] == pytest.approx(7 / 9)
    assert r.loc[A, "ratio_change"] == pytest.approx(7 / 9 - 0.5)
    assert r.loc[B, "ratio_change"] == pytest.approx(0.8 - 2 / 3)
    # last year's illegal pieces not rectified: P1 (违法, 未整改, 1500) and P6 (其他: overlay's 1000, no
    # ZGZT); Q1 was rectified
    listed = pd.read_csv(result.output / "previous_unrectified.csv", encoding="utf-8-sig")
    assert listed.patch_id.tolist() == ["P1", "P6"]
    assert listed.illegal_farmland_m2.tolist() == [1500, 1000]
    assert listed.rectification_zh.fillna("").tolist() == ["未整改", ""]
    assert listed.year.tolist() == [2024, 2024]
    assert (r.loc[A, "previous_unrectified_n"], r.loc[A, "previous_unrectified_m2"]) == (2, 2500)
    assert r.loc[B, "previous_unrectified_n"] == 0
    book = openpyxl.load_workbook(result.output / "report.xlsx")
    assert [row[0] for row in book[UNRECTIFIED_SHEET].iter_rows(min_row=2, values_only=True)] == ["P1", "P6"]
    html = (result.output / "report.html").read_text(encoding="utf-8")
    assert "上年度未整改违法图斑" in html and "+27.78 个百分点" in html
    manifest = json.loads((result.output / "manifest.json").read_text(encoding="utf-8"))
    assert {e["path"] for e in manifest["inputs"] if e["role"] == "previous_run"} == \
        {str(last.output / n) for n in ("manifest.json", "county_ratios.csv", "patches.gpkg")}
    assert "previous_unrectified.csv" in {e["path"] for e in manifest["outputs"]}


def test_previous_run_that_is_not_a_landcheck_output(make_config, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "county_ratios.csv").write_text("county_code,ratio,level\n", encoding="utf-8")
    cfg = make_config(previous_run=str(folder))
    res = CliRunner().invoke(main, ["run", str(cfg), "--quiet"])
    assert res.exit_code == 3
    assert res.stderr.strip() == (f"landcheck: error: {folder}: previous_run: is not a landcheck output folder "
                                  "(no manifest.json written by landcheck); give the output folder of last "
                                  "year's 'landcheck run'")
    assert not (tmp_path / "out2025").exists()


def test_previous_run_of_the_same_year_is_refused(sent, make_config, tmp_path):
    last = run_pipeline(load_config(make_config(year=2025)), progress=False, log=quiet)
    moved = tmp_path / "last"
    last.output.rename(moved)
    with pytest.raises(InputFileError, match="is the run of 2025, not of a year before 2025"):
        run_pipeline(load_config(make_config(previous_run=str(moved))), progress=False, log=quiet)


def test_level_summary_without_the_decisive_columns():
    table = pd.DataFrame({"level": ["none", "no_ratio"]})
    assert level_summary(table) == "levels: accountability 0, interview 0, none 1, no ratio 1"
