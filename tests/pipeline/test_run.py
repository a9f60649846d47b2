"""The whole run on the committed sample, checked against the sample's ground truth."""
import json
import math
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.manifest import sha256_file
from pipeline.run import run_pipeline

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample_tiles"
TRUTH_RATIOS = SAMPLE / "truth" / "truth_ratios.csv"


def quiet(_msg: str) -> None:
    pass


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return pd.read_csv(TRUTH_RATIOS, dtype={"county_code": str}).set_index("county_code")


@pytest.fixture(scope="module")
def truth_run(tmp_path_factory):
    cfg = load_config(REPO / "configs" / "sample_truth.yaml", output=tmp_path_factory.mktemp("t") / "out")
    return run_pipeline(cfg, progress=False, log=quiet)


@pytest.fixture(scope="module")
def detect_run(tmp_path_factory):
    cfg = load_config(REPO / "configs" / "sample.yaml", output=tmp_path_factory.mktemp("d") / "out")
    return run_pipeline(cfg, progress=False, log=quiet)


def read_ratios(result) -> pd.DataFrame:
    return pd.read_csv(result.output / "county_ratios.csv", dtype={"county_code": str},
                       encoding="utf-8-sig").set_index("county_code")


def test_truth_patches_reproduce_true_ratios_exactly(truth_run, truth):
    got = read_ratios(truth_run)
    assert set(got.index) == set(truth.index)
    for code, row in truth.iterrows():
        if row.level == "no_ratio":
            assert math.isnan(got.loc[code, "ratio"]) and got.loc[code, "level"] == "no_ratio"
            continue
        assert got.loc[code, "ratio"] == pytest.approx(row.ratio, rel=1e-9, abs=1e-12)
        assert got.loc[code, "occupied_farmland_m2"] == pytest.approx(row.occupied_farmland_m2, abs=0.01)
        assert got.loc[code, "illegal_farmland_m2"] == pytest.approx(row.illegal_farmland_m2, abs=0.01)
        assert got.loc[code, "level"] == row.level


def test_sample_covers_every_level(truth):
    assert set(truth.level) == {"none", "interview", "accountability", "no_ratio"}


def test_detected_patches_give_the_true_levels(detect_run, truth):
    got = read_ratios(detect_run)  # the overlay's picture (the sample's verdicts decide the other)
    assert dict(got["suspected_level"]) == dict(truth["level"])


def test_straddling_patch_split_into_two_counties(truth_run):
    pieces = truth_run.pieces
    per_patch = pieces.groupby("source_id").county_code.nunique()
    straddling = per_patch[per_patch > 1]
    assert len(straddling) == 1 and straddling.iloc[0] == 2
    planted = gpd.read_file(SAMPLE / "truth" / "truth.gpkg", layer="planted_patches")
    whole = planted.set_index("truth_id").loc[straddling.index[0]].geometry.area
    assert pieces[pieces.source_id == straddling.index[0]].area_m2.sum() == pytest.approx(whole, rel=1e-9)


@pytest.mark.parametrize("run_name", ["truth_run", "detect_run"])
def test_invariants_and_traceability(run_name, request):
    result = request.getfixturevalue(run_name)
    p = result.pieces
    # the piece key is (JCBH, county): a received straddling patch keeps one official JCBH
    assert not p.duplicated(["patch_id", "county_code"]).any()
    assert np.allclose(p.area_m2, p.farmland_m2 + p.other_m2, rtol=0, atol=1e-6)
    assert np.allclose(p.farmland_m2, p.legal_farmland_m2 + p.illegal_farmland_m2, rtol=0, atol=1e-6)
    assert (p.basic_farmland_m2 <= p.farmland_m2 + 1e-9).all()
    # the decisive picture too: verified farmland = verified legal + verified illegal
    assert np.allclose(p.verified_farmland_m2, p.verified_legal_farmland_m2 + p.verified_illegal_farmland_m2,
                       rtol=0, atol=1e-6)
    # every county figure is the sum of its patches' figures: the suspected ones of the overlay's,
    # the decisive ones of the verified figures (the same without verdicts)
    ratios = result.ratios.set_index("county_code")
    sums = p.groupby("county_code")[["farmland_m2", "illegal_farmland_m2", "verified_farmland_m2",
                                     "verified_illegal_farmland_m2"]].sum()
    for code, row in sums.iterrows():
        assert ratios.loc[code, "suspected_occupied_farmland_m2"] == pytest.approx(row.farmland_m2)
        assert ratios.loc[code, "suspected_illegal_farmland_m2"] == pytest.approx(row.illegal_farmland_m2)
        assert ratios.loc[code, "occupied_farmland_m2"] == pytest.approx(row.verified_farmland_m2)
        assert ratios.loc[code, "illegal_farmland_m2"] == pytest.approx(row.verified_illegal_farmland_m2)
        assert ratios.loc[code, "occupied_farmland_m2"] == pytest.approx(
            ratios.loc[code, "legal_farmland_m2"] + ratios.loc[code, "illegal_farmland_m2"])


def test_all_outputs_written_and_manifest_hashes_match(truth_run):
    out = truth_run.output
    for name in ("county_ratios.csv", "patches.gpkg", "report.xlsx", "report.html", "report.pdf", "ratio_chart.png",
                 "report_map.png", "manifest.json"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["outputs"]:
        assert sha256_file(out / entry["path"]) == entry["sha256"]
    roles = {e["role"] for e in manifest["inputs"]}
    assert {"config", "counties", "farmland", "basic_farmland", "approved", "patches"} <= roles
    assert manifest["counts"]["pieces"] == len(truth_run.pieces)
    assert manifest["counts"]["patches_straddling_counties"] == 1
    layer = gpd.read_file(out / "patches.gpkg", layer="patches")
    assert {"patch_id", "county_code", "area_m2", "farmland_m2", "basic_farmland_m2", "approved_m2",
            "illegal_farmland_m2"} <= set(layer.columns)
    assert len(layer) == len(truth_run.pieces)
    codes_with_pieces = set(truth_run.pieces.county_code)
    zips = {p.stem for p in (out / "field_verification").glob("*.zip")}
    assert zips == codes_with_pieces
    for path in (out / "field_verification").glob("*.zip"):
        names = zipfile.ZipFile(path).namelist()
        assert any(n.endswith(".prj") for n in names) and any(n.endswith(".cpg") for n in names)
    assert not list(out.parent.glob(".*partial*"))


def test_distributed_scheduler_gives_the_same_result(truth_run, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        cfg = load_config(REPO / "configs" / "sample_truth.yaml", output=tmp_path / "out")
        result = run_pipeline(cfg, scheduler=cluster.scheduler_address, progress=False, log=quiet)
    pd.testing.assert_frame_equal(result.ratios, truth_run.ratios)
    assert list(result.pieces.patch_id) == list(truth_run.pieces.patch_id)


@pytest.mark.parametrize(("run_name", "config"), [("truth_run", "sample_truth.yaml"), ("detect_run", "sample.yaml")])
def test_a_cluster_whose_workers_start_elsewhere_gives_the_same_result(run_name, config, request, tmp_path,
                                                                       monkeypatch):
    """On an existing cluster (worker processes, started wherever their node starts them, not in
    the run's folder), a config given by a relative path gives what the run in this process gives:
    detection's pass over the pixels and the county jobs, each reading its files by the paths the
    run hands it."""
    distributed = pytest.importorskip("distributed")
    import os

    expected = request.getfixturevalue(run_name)
    monkeypatch.chdir(REPO)  # as `landcheck run configs/x.yaml --scheduler ...`
    cfg = load_config(Path("configs") / config, output=tmp_path / "out")
    elsewhere = tmp_path / "worker_folder"
    elsewhere.mkdir()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            client.run(os.chdir, str(elsewhere))
            assert set(client.run(os.getcwd).values()) == {str(elsewhere)}
        # with progress: detection's pass then runs through the cluster's own futures (a bar)
        result = run_pipeline(cfg, scheduler=cluster.scheduler_address, progress=True, log=quiet)
    assert not result.failures
    pd.testing.assert_frame_equal(result.ratios, expected.ratios)
    assert list(result.pieces.patch_id) == list(expected.pieces.patch_id)
    assert list(result.pieces.geometry.to_wkb()) == list(expected.pieces.geometry.to_wkb())
    assert not any(elsewhere.iterdir())  # nothing written where the worker happened to start


def test_cli_run_prints_where_outputs_are(tmp_path):
    out = tmp_path / "cli-out"
    res = CliRunner().invoke(main, ["run", str(REPO / "configs" / "sample_truth.yaml"), "--out", str(out),
                                    "--quiet"])
    assert res.exit_code == 0, res.output
    assert str(out.resolve()) in res.output
    assert (out / "report.xlsx").is_file()
    for name in ("county_ratios.csv", "patches.gpkg", "landcheck.qgz", "report.xlsx", "report.html",
                 "report.pdf", "ratio_chart.png", "report_map.png", "manifest.json"):
        assert f"  {out / name}\n" in res.output, name  # every deliverable is named


@pytest.mark.parametrize("run_name", ["truth_run", "detect_run"])
def test_county_jobs_write_the_packages_the_serial_writer_writes(run_name, request, tmp_path):
    """Each county job writes its own package (issue 8); byte for byte what the whole-run writer
    (``write_run_field_packages``, kept as the reference) writes from the same pieces and imagery."""
    from overlay.contracts import RUN_PIECE_COLUMNS
    from overlay.crs import zone_epsg_for_geometries
    from pipeline.chips_io import write_run_field_packages
    from pipeline.layers import read_counties
    from pipeline.run import open_run_imagery
    from pyproj import CRS

    result = request.getfixturevalue(run_name)
    cfg = load_config(REPO / "configs" / ("sample_truth.yaml" if run_name == "truth_run" else "sample.yaml"))
    counties, _ = read_counties(cfg.counties)
    county_crs = {c: CRS.from_epsg(int(e)) for c, e in zip(counties["county_code"],
                                                           zone_epsg_for_geometries(counties))}
    pieces = result.pieces[[*RUN_PIECE_COLUMNS, result.pieces.geometry.name]]
    reference = write_run_field_packages(cfg, pieces, tmp_path, county_crs, open_run_imagery(cfg))
    written = sorted((result.output / "field_verification").glob("*.zip"))
    assert [p.stem for p in written] == sorted(reference) == sorted(set(pieces["county_code"]))
    for path in written:
        assert path.read_bytes() == reference[path.stem].read_bytes(), path.name
    with zipfile.ZipFile(written[0]) as zf:
        assert any(n.startswith("chips/") for n in zf.namelist()) == (run_name == "detect_run")
    manifest = json.loads((result.output / "manifest.json").read_text(encoding="utf-8"))
    listed = {e["path"]: e for e in manifest["outputs"] if e["path"].startswith("field_verification/")}
    assert sorted(listed) == [f"field_verification/{p.name}" for p in written]
    for path in written:
        assert listed[f"field_verification/{path.name}"]["sha256"] == sha256_file(path)
        assert listed[f"field_verification/{path.name}"]["bytes"] == path.stat().st_size


def test_excel_written_beside_is_the_serial_workbook(truth_run, tmp_path):
    """A large run writes report.xlsx in a child process (pipeline.run._excel_beside): the same
    workbook, member by member, as the driver's own writer (save times aside)."""
    from pipeline import run as run_module
    from reports.excel import write_excel_report

    run_info = {"year": 2025, "interview": 0.10, "accountability": 0.15, "interview_rule": "reaches",
                "accountability_rule": "reaches", "config": "configs/sample_truth.yaml",
                "generated_at": "2026-03-01T09:30:00+08:00", "source": "received", "landcheck_version": "0.1.0"}
    serial = write_excel_report(truth_run.ratios, truth_run.pieces, run_info, tmp_path / "serial.xlsx")
    beside = tmp_path / "beside.xlsx"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run_module, "EXCEL_BESIDE_MIN_PIECES", 0)
        with run_module._excel_beside(truth_run.ratios, truth_run.pieces, run_info, beside) as child:
            assert child is not None
            child.result()
    assert _members(beside) == _members(serial)
    with run_module._excel_beside(truth_run.ratios, truth_run.pieces, run_info, tmp_path / "x.xlsx") as child:
        assert child is None  # the sample is far below the threshold: written in the driver


def _members(xlsx) -> dict[str, bytes]:
    import re
    import zipfile

    with zipfile.ZipFile(xlsx) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    # openpyxl stamps the save time as the document's created / modified dates
    members["docProps/core.xml"] = re.sub(rb">\d{4}-\d\d-\d\dT[\d:]+Z<", b"><", members["docProps/core.xml"])
    return members


def test_a_run_writing_excel_beside_gives_the_same_sheets(truth_run, tmp_path, monkeypatch):
    """The whole run with the child process taking the workbook: the same sheets' values."""
    from openpyxl import load_workbook

    from pipeline import run as run_module

    monkeypatch.setattr(run_module, "EXCEL_BESIDE_MIN_PIECES", 0)
    cfg = load_config(REPO / "configs" / "sample_truth.yaml", output=tmp_path / "out")
    result = run_pipeline(cfg, progress=False, log=quiet)
    got, want = (load_workbook(r.output / "report.xlsx", read_only=True) for r in (result, truth_run))
    assert got.sheetnames == want.sheetnames
    for name in got.sheetnames[:2]:  # the ranking and the patch list (说明 names the generation time)
        rows = [list(r) for r in got[name].iter_rows(min_row=3, values_only=True)]
        assert rows == [list(r) for r in want[name].iter_rows(min_row=3, values_only=True)], name


def test_a_lost_excel_child_leaves_the_workbook_to_the_driver(truth_run, tmp_path, monkeypatch):
    """The child writing report.xlsx dies without an answer (a kill, the out-of-memory killer):
    the run says so and writes the workbook itself."""
    import os

    from openpyxl import load_workbook

    from pipeline import background
    from pipeline import run as run_module

    monkeypatch.setattr(run_module, "EXCEL_BESIDE_MIN_PIECES", 0)
    monkeypatch.setattr(run_module, "start_in_child", lambda fn, *a, **k: background.start_in_child(os._exit, 9))
    warnings: list[str] = []
    cfg = load_config(REPO / "configs" / "sample_truth.yaml", output=tmp_path / "out")
    result = run_pipeline(cfg, progress=False, log=quiet, warn=warnings.append)
    assert any("report.xlsx stopped" in w and "exit code 9" in w for w in warnings)
    got, want = (load_workbook(r.output / "report.xlsx", read_only=True) for r in (result, truth_run))
    assert [list(r) for r in got[got.sheetnames[1]].iter_rows(min_row=3, values_only=True)] == \
        [list(r) for r in want[want.sheetnames[1]].iter_rows(min_row=3, values_only=True)]
