"""One county's broken input fails that county alone, loudly: exit 4, named in every report."""
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import yaml
from click.testing import CliRunner
from openpyxl import load_workbook

from pipeline.cli import main

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample_tiles"


def config_with_broken_farmland(tmp_path: Path) -> Path:
    farmland = gpd.read_file(SAMPLE / "vectors" / "farmland.gpkg", layer="farmland")
    counties = gpd.read_file(SAMPLE / "vectors" / "counties.gpkg", layer="counties")
    truth = gpd.read_file(SAMPLE / "truth" / "truth.gpkg", layer="planted_patches").to_crs(counties.crs)
    county = counties.set_index("XZQDM").loc["220204"].geometry
    point = truth[truth.within(county)].geometry.iloc[0].representative_point()
    broken = pd.concat([farmland, gpd.GeoDataFrame(geometry=[point], crs=counties.crs).to_crs(farmland.crs)],
                       ignore_index=True)
    path = tmp_path / "farmland.gpkg"
    broken.to_file(path, layer="farmland")
    cfg = yaml.safe_load((REPO / "configs" / "sample_truth.yaml").read_text(encoding="utf-8"))
    base = REPO / "configs"
    for key, layer in cfg["layers"].items():
        layer["path"] = str((base / layer["path"]).resolve())
    cfg["layers"]["farmland"]["path"] = str(path)
    cfg["patches"]["path"] = str((base / cfg["patches"]["path"]).resolve())
    cfg["output"] = str(tmp_path / "out")
    out = tmp_path / "run.yaml"
    out.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return out


def test_a_broken_county_fails_alone_with_exit_4_and_is_named_everywhere(tmp_path):
    config = config_with_broken_farmland(tmp_path)
    result = CliRunner().invoke(main, ["run", str(config), "--quiet"])
    assert result.exit_code == 4, result.output
    assert "220204" in result.output and "must hold polygons" in result.output
    out = tmp_path / "out"
    ratios = pd.read_csv(out / "county_ratios.csv", dtype={"county_code": str})
    assert len(ratios) == 4  # no ranking silently omits a county
    failed = ratios[ratios["level"] == "failed"]
    assert "220204" in set(failed["county_code"])
    assert failed["failure_reason"].str.contains("must hold polygons").all()
    assert failed["ratio"].isna().all() and failed["rank"].isna().all()
    ok = ratios[ratios["level"] != "failed"]
    assert len(ok) >= 2 and ok["failure_reason"].isna().all()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "220204" in {f["county_code"] for f in manifest["counties"]["failed"]}
    assert "220204" in (out / "report.html").read_text(encoding="utf-8") and \
        "计算失败" in (out / "report.html").read_text(encoding="utf-8")
    sheet = load_workbook(out / "report.xlsx").worksheets[0]
    cells = {str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None}
    assert "计算失败" in cells


def test_the_failure_reason_is_in_the_notes_of_every_report(tmp_path):
    config = config_with_broken_farmland(tmp_path)
    result = CliRunner().invoke(main, ["run", str(config), "--quiet"])
    assert result.exit_code == 4
    out = tmp_path / "out"
    assert "must hold polygons" in (out / "report.html").read_text(encoding="utf-8")
    book = load_workbook(out / "report.xlsx")
    text = " ".join(str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value)
    assert "must hold polygons" in text and "计算失败" in text
    assert "failed and has no figures" in result.output  # the console warning, even with --quiet


def test_a_county_whose_package_fails_to_write_fails_alone(tmp_path, monkeypatch):
    """The package is written by the county's job: its failure is that county's failure."""
    import reports.field_package as fp

    real = fp._write_zip

    def broken(county, geoms, code, *args, **kwargs):
        if code == "220204":
            raise RuntimeError("the sheet renderer broke on this county")
        return real(county, geoms, code, *args, **kwargs)
    monkeypatch.setattr(fp, "_write_zip", broken)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(REPO / "configs" / "sample_truth.yaml"), "--out", str(out),
                                       "--quiet", "--workers", "1"])
    assert result.exit_code == 4, result.output
    ratios = pd.read_csv(out / "county_ratios.csv", dtype={"county_code": str})
    failed = ratios[ratios["level"] == "failed"]
    assert list(failed["county_code"]) == ["220204"]
    assert failed["failure_reason"].str.contains("the sheet renderer broke").all()
    zips = sorted(p.name for p in (out / "field_verification").iterdir())
    assert zips == ["220202.zip", "220203.zip", "220211.zip"]  # no half zip of the failed county
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    listed = sorted(e["path"] for e in manifest["outputs"] if e["path"].startswith("field_verification/"))
    assert listed == [f"field_verification/{z}" for z in zips]
