"""Repairs, drops and overlaps are counted, printed as warnings and written into the reports."""
import pandas as pd

from pipeline.layers import LayerReport
from pipeline.quality import data_quality, warning_lines
from reports.texts import data_quality_lines_zh


def report(role, features=10, repaired=0, dropped=0):
    return LayerReport(role=role, path=f"{role}.gpkg", layer=None, crs="EPSG:4490",
                       features=features, repaired_invalid=repaired, dropped_empty=dropped)


EMPTY_OVERLAPS = pd.DataFrame(columns=["a", "b", "overlap_m2"])
EMPTY_PARTS = pd.DataFrame(columns=["source_id", "area_m2"])


def test_clean_inputs_give_no_warning_and_say_so_in_chinese():
    q = data_quality([report("farmland")], EMPTY_OVERLAPS, EMPTY_OVERLAPS, EMPTY_PARTS)
    assert warning_lines(q) == []
    assert data_quality_lines_zh(q) == [("数据检查", "输入图层无需修复，未发现行政区或图斑重叠")]


def test_every_repair_drop_and_overlap_becomes_a_warning_with_its_count():
    counties = pd.DataFrame({"county_code_a": ["220202"], "county_code_b": ["220203"],
                             "overlap_m2": [12.5]})
    patches = pd.DataFrame({"source_id_a": ["P1", "P3"], "source_id_b": ["P2", "P4"],
                            "overlap_m2": [1.0, 2.0]})
    parts = pd.DataFrame({"source_id": ["P9"], "area_m2": [30.0]})
    q = data_quality([report("farmland", repaired=2, dropped=1), report("approved", features=0)],
                     counties, patches, parts)
    lines = warning_lines(q)
    assert lines == [
        "farmland layer: 2 invalid polygons repaired (make_valid), 1 null or empty geometry dropped",
        "approved-land layer has no features",
        "1 pair(s) of counties overlap by 12.50 m² in all; each overlap is counted once, in the "
        "county with the smaller code",
        "2 pair(s) of patches overlap by 3.00 m² in all; that area counts once per patch "
        "(listed in the manifest)",
        "1 patch part(s), 30.00 m², lie in no county of the county layer and are not counted "
        "(listed in the manifest)",
    ]
    zh = dict(data_quality_lines_zh(q))
    assert "2 个无效多边形" in zh["数据修复"] and "1 个空几何要素" in zh["数据剔除"]
    assert zh["数据缺失"] == "批准用地图层没有任何要素"
    assert "12.50 平方米" in zh["行政区重叠"] and "3.00 平方米" in zh["图斑重叠"]
    assert "30.00 平方米" in zh["图斑在辖区外"]


# ---------------------------------------------------------------- end to end through the CLI
import geopandas as gpd  # noqa: E402
import openpyxl  # noqa: E402
import shapely  # noqa: E402
import yaml  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from pathlib import Path  # noqa: E402

from pipeline.cli import main  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "data" / "sample_tiles" / "vectors"


def test_repairs_and_overlapping_counties_are_printed_and_in_the_reports(tmp_path):
    farmland = gpd.read_file(VECTORS / "farmland.gpkg", layer="farmland")
    # under a patch: layers are read county by county in the windows of their patches, and what
    # is repaired is counted among the features read (each once)
    truth = gpd.read_file(REPO / "data" / "sample_tiles" / "truth" / "truth.gpkg", layer="planted_patches")
    x0, y0, x1, y1 = truth.to_crs(farmland.crs).geometry.iloc[0].bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    extra = gpd.GeoDataFrame({c: [farmland[c].iloc[0]] * 2 for c in farmland.columns if c != "geometry"},
                             geometry=[bowtie, None], crs=farmland.crs)
    bad_farmland = pd.concat([farmland, extra], ignore_index=True)
    bad_farmland.to_file(tmp_path / "farmland.gpkg", layer="farmland")
    counties = gpd.read_file(VECTORS / "counties.gpkg", layer="counties")
    zone = counties.to_crs(4551)
    zone.loc[0, "geometry"] = zone.geometry.iloc[0].buffer(20.0)  # now overlaps its neighbours
    zone.to_crs(counties.crs).to_file(tmp_path / "counties.gpkg", layer="counties")

    data = yaml.safe_load((REPO / "configs" / "sample_truth.yaml").read_text("utf-8"))
    base = REPO / "configs"
    data["layers"]["counties"]["path"] = str(tmp_path / "counties.gpkg")
    data["layers"]["farmland"]["path"] = str(tmp_path / "farmland.gpkg")
    for key in ("basic_farmland", "approved"):
        data["layers"][key]["path"] = str(base / data["layers"][key]["path"])
    data["patches"]["path"] = str(base / data["patches"]["path"])
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    res = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert ("warning: farmland layer: 1 invalid polygon repaired (make_valid), 1 null or empty "
            "geometry dropped") in res.output
    assert "pair(s) of counties overlap by" in res.output

    notes = dict(openpyxl.load_workbook(tmp_path / "o" / "report.xlsx")["说明"].iter_rows(
        min_row=2, values_only=True))
    assert "1 个无效多边形" in notes["数据修复"] and "1 个空几何要素" in notes["数据剔除"]
    assert "对行政区边界相互重叠" in notes["行政区重叠"]
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "<h2>数据检查</h2>" in html and "对行政区边界相互重叠" in html


def test_layer_warnings_only_for_non_zero_counts_and_plurals_read_right():
    q = data_quality([report("counties", 4), report("farmland", 10, repaired=1, dropped=1),
                      report("basic_farmland", 5, dropped=2), report("approved", 0),
                      report("patches", 0, dropped=1)], EMPTY_OVERLAPS, EMPTY_OVERLAPS, EMPTY_PARTS)
    assert warning_lines(q) == [
        "farmland layer: 1 invalid polygon repaired (make_valid), 1 null or empty geometry dropped",
        "basic-farmland layer: 2 null or empty geometries dropped",
        "approved-land layer has no features",
        "received patches layer has no features (1 null or empty geometry dropped)",
    ]
