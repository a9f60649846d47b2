"""Vector inputs that used to give wrong figures silently: each is now a one-line error naming the
file (exit 3, or 2 for config problems), or is accepted and reported.

Cases: an empty farmland layer; coordinates that cannot be in the declared CRS; a layer nowhere near
the counties; GBK text read as Latin-1 (mojibake); a folder given as a layer path; repair and drop
counts.
"""
import hashlib
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
import yaml

from pipeline.config import CountyLayerConfig, LayerConfig, PatchesConfig, load_config
from pipeline.errors import BadVectorError, ConfigError
from pipeline.layers import (LayerReport, check_layer_extents, read_counties,
                             read_patches, read_polygons)
from tests.pipeline.cli_helpers import invoke

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "data" / "sample_tiles" / "vectors"
BOWTIE = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])  # self-intersecting, 2 x 25 m²
SLIVER = shapely.Polygon([(0, 0), (5, 5), (10, 10), (0, 0)])  # zero area: nothing left after repair
# The sample's basic farmland is in EPSG:4551 (CGCS2000 3-degree GK CM 126E), metres.
METRES = (544760.0, 4857400.0, 547960.0, 4859200.0)


# ---------------------------------------------------------------------------------------- helpers

PATH_KEYS = {"path", "before", "after", "before_cloud_masks", "after_cloud_masks", "output"}


def absolute_paths(node, base: Path):
    if isinstance(node, dict):
        return {k: (str(base / v) if k in PATH_KEYS and isinstance(v, str) else absolute_paths(v, base))
                for k, v in node.items()}
    return node


@pytest.fixture
def make_config(tmp_path):
    """sample_truth.yaml with absolute paths, written to tmp_path; ``layers`` entries replaced."""
    def make(**layers) -> Path:
        data = yaml.safe_load((REPO / "configs" / "sample_truth.yaml").read_text(encoding="utf-8"))
        data = absolute_paths(data, REPO / "configs")
        for role, entry in layers.items():
            if role == "patches":
                data["patches"] = entry
            else:
                data["layers"][role] = entry
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path
    return make


def input_hashes(config: Path) -> dict[str, str]:
    """sha256 of the config and of every file beside every layer it names (sidecars included)."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    entries = list(data["layers"].values()) + ([data["patches"]] if data.get("patches") else [])
    files = {config}
    for entry in entries:
        path = Path(entry["path"])
        if path.is_dir():
            files |= {p for p in path.rglob("*") if p.is_file()}
        else:
            files |= {p for p in path.parent.glob(path.stem + ".*") if p.is_file()}
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files)}


def assert_refused(config: Path, tmp_path: Path, exit_code: int, *fragments: str) -> None:
    """``validate`` and ``run`` both stop with one error line, write nothing, change no input."""
    before = input_hashes(config)
    for args in (("validate", config), ("run", config, "--out", tmp_path / "o", "--quiet")):
        res = invoke(*args)
        assert res.exit_code == exit_code, (args[0], res.output)
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1, (args[0], res.output)
        assert lines[0].startswith("landcheck: error: "), res.output
        assert "Traceback" not in res.output
        for fragment in fragments:
            assert fragment in lines[0], (fragment, lines[0])
    assert not (tmp_path / "o").exists()
    assert not list(tmp_path.glob(".o.partial*"))
    assert input_hashes(config) == before


def save(path: Path, frame: gpd.GeoDataFrame, **kw) -> Path:
    frame.to_file(path, engine="pyogrio", **kw)
    return path


def one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------- 1. empty farmland layer

def test_farmland_with_no_features_is_refused(tmp_path):
    path = save(tmp_path / "f.gpkg", gpd.GeoDataFrame(geometry=[], crs=4490))
    with pytest.raises(BadVectorError) as err:
        read_polygons(LayerConfig(path), "farmland")
    assert one_line(err) == (f"{path}: farmland layer has no features: "
                             "every ratio would be 'no ratio'")


def test_farmland_with_only_empty_geometries_is_refused(tmp_path):
    frame = gpd.GeoDataFrame(geometry=[None, shapely.Polygon(), SLIVER], crs=4551)
    path = save(tmp_path / "f.gpkg", frame)
    with pytest.raises(BadVectorError) as err:
        read_polygons(LayerConfig(path), "farmland")
    assert one_line(err) == (f"{path}: farmland layer has no features (3 empty geometries dropped): "
                             "every ratio would be 'no ratio'")


@pytest.mark.parametrize("role", ["basic_farmland", "approved"])
def test_empty_basic_farmland_or_approvals_are_accepted_and_reported(tmp_path, role):
    path = save(tmp_path / "a.gpkg", gpd.GeoDataFrame(geometry=[], crs=4551))
    frame, report = read_polygons(LayerConfig(path), role)
    assert len(frame) == 0 and report.features == 0  # warned by pipeline.quality


def test_cli_empty_farmland(make_config, tmp_path):
    empty = save(tmp_path / "farmland.gpkg", gpd.GeoDataFrame(geometry=[], crs=4490))
    assert_refused(make_config(farmland={"path": str(empty)}), tmp_path, 3,
                   str(empty), "farmland layer has no features")


def test_cli_empty_approvals_are_valid(make_config, tmp_path):
    empty = save(tmp_path / "approved.gpkg", gpd.GeoDataFrame(geometry=[], crs=4551))
    res = invoke("validate", make_config(approved={"path": str(empty)}))
    assert res.exit_code == 0, res.output
    assert "is valid" in res.output


def test_run_with_no_approvals_and_no_basic_farmland_counts_everything_illegal(make_config, tmp_path):
    empty = save(tmp_path / "empty.gpkg", gpd.GeoDataFrame(geometry=[], crs=4551))
    config = make_config(approved={"path": str(empty)}, basic_farmland={"path": str(empty)})
    res = invoke("run", config, "--out", tmp_path / "o", "--quiet")
    assert res.exit_code == 0, res.output
    manifest = yaml.safe_load((tmp_path / "o" / "manifest.json").read_text(encoding="utf-8"))
    features = {layer["role"]: layer["features"] for layer in manifest["layers"]}
    assert features["approved"] == features["basic_farmland"] == 0 and features["farmland"] > 0
    ratios = gpd.pd.read_csv(tmp_path / "o" / "county_ratios.csv", encoding="utf-8-sig")
    assert (ratios.legal_farmland_m2 == 0).all()
    assert set(ratios.level) <= {"accountability", "no_ratio"}


# ------------------------------------------------------------- 2a. coordinates not in declared CRS

def test_metres_labelled_as_geographic_crs(tmp_path):
    path = save(tmp_path / "f.gpkg", gpd.GeoDataFrame(geometry=[shapely.box(*METRES)], crs=4490))
    with pytest.raises(BadVectorError) as err:
        read_polygons(LayerConfig(path), "farmland")
    assert one_line(err) == (
        f"{path}: farmland layer coordinates look projected: its extent (544760, 4857400, 547960, "
        "4859200) is outside longitude -180..180 / latitude -90..90, but its CRS EPSG:4490 is "
        "geographic (degrees); is its CRS (.prj) right?")


def test_zone_prefixed_eastings_labelled_as_zone_without_prefix(tmp_path):
    # EPSG:4513-4533 eastings carry the zone number (42 544 760); EPSG:4551 ones do not
    box = shapely.box(42_000_000 + METRES[0], METRES[1], 42_000_000 + METRES[2], METRES[3])
    path = save(tmp_path / "b.shp", gpd.GeoDataFrame(geometry=[box], crs=4551))
    with pytest.raises(BadVectorError) as err:
        read_polygons(LayerConfig(path), "basic_farmland")
    assert one_line(err).startswith(f"{path}: basic_farmland layer coordinates do not fit its CRS "
                                    "EPSG:4551: its extent (42544760, 4857400, 42547960, 4859200) "
                                    "cannot be placed on the earth in that CRS, made for "
                                    "longitudes 124.5..127.5; is its CRS (.prj) right?")


def test_another_projection_far_from_its_area_of_use(tmp_path):
    # Gauss-Krüger CM 126E metres labelled as UTM zone 33N (9E..15E): they land at about 16E
    path = save(tmp_path / "a.gpkg", gpd.GeoDataFrame(geometry=[shapely.box(*METRES)], crs=32633))
    read_polygons(LayerConfig(path), "approved")  # 16E is within the generous margin
    far = save(tmp_path / "far.gpkg",
               gpd.GeoDataFrame(geometry=[shapely.box(5_000_000, 4857400, 5_003_000, 4859200)],
                                crs=32633))
    with pytest.raises(BadVectorError) as err:
        read_polygons(LayerConfig(far), "approved")
    assert one_line(err) == (f"{far}: approved layer coordinates do not fit its CRS EPSG:32633: its "
                             "extent (5000000, 4857400, 5003000, 4859200) lands at longitude "
                             "61.67..61.70, far outside longitudes 12..18; is its CRS (.prj) right?")


def test_metres_labelled_as_geographic_through_the_cli(make_config, tmp_path):
    wrong = tmp_path / "basic_farmland.gpkg"
    save(wrong, gpd.read_file(VECTORS / "basic_farmland.shp").set_crs(4490, allow_override=True))
    assert_refused(make_config(basic_farmland={"path": str(wrong)}), tmp_path, 3,
                   str(wrong), "basic_farmland layer coordinates look projected")


# ------------------------------------------------------------- 2b. a layer nowhere near the counties

def counties_frame(crs=4490):
    return gpd.GeoDataFrame({"XZQDM": ["220202"], "XZQMC": ["昌邑区"]},
                            geometry=[shapely.box(126.0, 43.4, 127.0, 44.3)], crs=4490).to_crs(crs)


def test_layer_in_the_wrong_zone_lies_nowhere_near_the_counties(tmp_path):
    # CM 126E metres labelled as CM 117E (EPSG:4548): they land near 117.5E, 9 degrees west
    farmland = gpd.GeoDataFrame(geometry=[shapely.box(*METRES)], crs=4548)
    with pytest.raises(BadVectorError) as err:
        check_layer_extents((counties_frame(), tmp_path / "c.gpkg"),
                            {"farmland": (farmland, tmp_path / "f.shp")})
    message = one_line(err)
    assert message.startswith(f"{tmp_path / 'f.shp'}: farmland layer lies nowhere near the counties: "
                              "its extent (117.")
    assert message.endswith(") does not meet the county layer's (126, 43.4, 127, 44.3) in EPSG:4490; "
                            "is its CRS right?")


def test_extents_that_meet_pass_in_any_crs(tmp_path):
    right = gpd.GeoDataFrame(geometry=[shapely.box(*METRES)], crs=4551)
    empty = gpd.GeoDataFrame(geometry=[], crs=4551)
    check_layer_extents(counties_frame(), {"farmland": (right, "f"), "approved": (empty, "a")})
    check_layer_extents((counties_frame(4551), "c"), {"farmland": (right.to_crs(4490), "f")})


def test_counties_must_meet_the_imagery_when_given(tmp_path):
    counties = (counties_frame(), tmp_path / "c.gpkg")
    check_layer_extents(counties, {}, imagery_bounds=(*METRES, "EPSG:4551"))
    with pytest.raises(BadVectorError) as err:
        check_layer_extents(counties, {}, imagery_bounds=(0, 0, 1000, 1000, "EPSG:32633"))
    assert one_line(err).startswith(f"{tmp_path / 'c.gpkg'}: county layer lies nowhere near the "
                                    "imagery: its extent (126, 43.4, 127, 44.3) does not meet the "
                                    "imagery's (")


def test_layer_nowhere_near_the_counties_through_the_cli(make_config, tmp_path):
    wrong = tmp_path / "farmland_wrong_zone.gpkg"
    farmland = gpd.read_file(VECTORS / "farmland.gpkg").to_crs(4551).set_crs(4548, allow_override=True)
    save(wrong, farmland)
    assert_refused(make_config(farmland={"path": str(wrong)}), tmp_path, 3,
                   str(wrong), "farmland layer lies nowhere near the counties", "is its CRS right?")


def test_patches_nowhere_near_the_counties_fail_validate(make_config, tmp_path):
    wrong = tmp_path / "patches.gpkg"
    patches = gpd.read_file(REPO / "data" / "sample_tiles" / "truth" / "truth.gpkg",
                            layer="planted_patches").set_crs(4548, allow_override=True)
    save(wrong, patches)
    config = make_config(patches={"path": str(wrong), "id_field": "truth_id"})
    res = invoke("validate", config)
    assert res.exit_code == 3, res.output
    assert f"{wrong}: patches layer lies nowhere near the counties" in res.output


# --------------------------------------------------------------------- 3. GBK text read as Latin-1

def gbk_shapefile(folder: Path, name: str = "counties") -> Path:
    """The sample counties as a GBK Shapefile with no .cpg and language-driver byte 0."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.shp"
    gpd.read_file(VECTORS / "counties.gpkg").to_file(path, engine="pyogrio", encoding="gbk")
    path.with_suffix(".cpg").unlink()
    dbf = path.with_suffix(".dbf")
    raw = bytearray(dbf.read_bytes())
    raw[29] = 0  # LDID: no code page declared
    dbf.write_bytes(bytes(raw))
    return path


def test_gbk_fixture_really_reads_as_mojibake(tmp_path):
    path = gbk_shapefile(tmp_path)
    names = list(gpd.read_file(path, engine="pyogrio")["XZQMC"])
    assert names[0] == "²ýÒØÇø" == "昌邑区".encode("gbk").decode("latin-1")


def test_gbk_names_read_as_latin1_are_refused(tmp_path):
    path = gbk_shapefile(tmp_path)
    assert gpd.read_file(path, engine="pyogrio")["XZQMC"].iloc[0] == "²ýÒØÇø"  # GDAL: ISO-8859-1
    with pytest.raises(BadVectorError) as err:
        read_counties(CountyLayerConfig(path))
    assert one_line(err) == (f"{path}: field 'XZQMC' looks mis-decoded ('²ýÒØÇø' reads as '昌邑区' "
                             "in GBK); set `encoding: gbk` for this layer in the config")


def test_encoding_gbk_reads_the_names_right(tmp_path):
    path = gbk_shapefile(tmp_path)
    counties, report = read_counties(CountyLayerConfig(path, encoding="gbk"))
    assert list(counties.county_name) == ["昌邑区", "龙潭区", "船营区", "丰满区"]
    assert report.encoding == "gbk (config)"


def test_encoding_overrides_a_wrong_cpg(tmp_path):
    path = gbk_shapefile(tmp_path)
    path.with_suffix(".cpg").write_text("UTF-8")
    with pytest.raises(BadVectorError) as err:
        read_counties(CountyLayerConfig(path))
    assert one_line(err).startswith(f"{path}: counties layer text is not valid UTF-8 (")
    assert "set `encoding: gbk` (or the file's real encoding)" in str(err.value)
    counties, _ = read_counties(CountyLayerConfig(path, encoding="gbk"))
    assert counties.county_name.iloc[0] == "昌邑区"


def test_utf8_shapefile_without_cpg_suggests_utf8(tmp_path):
    path = tmp_path / "c.shp"
    gpd.read_file(VECTORS / "counties.gpkg").to_file(path, engine="pyogrio")  # UTF-8 + .cpg
    path.with_suffix(".cpg").unlink()
    with pytest.raises(BadVectorError, match="in UTF-8\\); set `encoding: utf-8`") as err:
        read_counties(CountyLayerConfig(path))
    assert one_line(err).startswith(f"{path}: field 'XZQMC' looks mis-decoded (")


def test_replacement_characters_are_refused(tmp_path):
    frame = gpd.GeoDataFrame({"XZQDM": ["220202"], "XZQMC": ["\ufffd\ufffd区"]},
                             geometry=[shapely.box(126, 43, 127, 44)], crs=4490)
    path = save(tmp_path / "c.gpkg", frame)
    with pytest.raises(BadVectorError, match="field 'XZQMC' holds undecodable text") as err:
        read_counties(CountyLayerConfig(path))
    assert one_line(err).startswith(str(path))


def test_mis_decoded_patch_ids_are_refused(tmp_path):
    frame = gpd.GeoDataFrame({"JCBH": ["昌邑区0001", "昌邑区0002"]},
                             geometry=[shapely.box(*METRES)] * 2, crs=4551)
    path = tmp_path / "p.shp"
    frame.to_file(path, engine="pyogrio", encoding="gbk")
    path.with_suffix(".cpg").unlink()
    with pytest.raises(BadVectorError, match="field 'JCBH' looks mis-decoded"):
        read_patches(PatchesConfig(path, id_field="JCBH"))
    patches, _ = read_patches(PatchesConfig(path, id_field="JCBH", encoding="gbk"))
    assert list(patches.source_id) == ["昌邑区0001", "昌邑区0002"]


def test_mis_decoded_field_name_is_named_instead_of_missing(tmp_path):
    frame = gpd.GeoDataFrame({"XZQDM": ["220202"], "行政区名称": ["昌邑区"]},
                             geometry=[shapely.box(126, 43, 127, 44)], crs=4490)
    path = tmp_path / "c.shp"
    frame.to_file(path, engine="pyogrio", encoding="gbk")
    path.with_suffix(".cpg").unlink()
    with pytest.raises(BadVectorError, match="field name looks mis-decoded .* set `encoding: gbk`"):
        read_counties(CountyLayerConfig(path, name_field="行政区名称"))
    counties, _ = read_counties(CountyLayerConfig(path, name_field="行政区名称", encoding="gbk"))
    assert counties.county_name.iloc[0] == "昌邑区"


@pytest.mark.parametrize("names", [["Müller", "Zürich"], ["Café", "Ångström"], ["龙潭区", "No. 2"]])
def test_real_latin_or_chinese_text_is_not_mojibake(tmp_path, names):
    frame = gpd.GeoDataFrame({"XZQDM": ["220202", "220203"], "XZQMC": names},
                             geometry=[shapely.box(126, 43, 126.5, 44), shapely.box(126.5, 43, 127, 44)],
                             crs=4490)
    counties, report = read_counties(CountyLayerConfig(save(tmp_path / "c.gpkg", frame)))
    assert list(counties.county_name) == names
    assert report.encoding == "UTF-8"


def test_report_says_where_a_shapefile_encoding_came_from(tmp_path):
    path = tmp_path / "c.shp"
    gpd.read_file(VECTORS / "counties.gpkg").to_file(path, engine="pyogrio")
    assert read_counties(CountyLayerConfig(path))[1].encoding == "UTF-8 (.cpg)"


def test_cli_gbk_counties(make_config, tmp_path):
    path = gbk_shapefile(tmp_path / "gbk")
    entry = {"path": str(path), "code_field": "XZQDM", "name_field": "XZQMC"}
    assert_refused(make_config(counties=entry), tmp_path, 3,
                   f"{path}: field 'XZQMC' looks mis-decoded ('²ýÒØÇø' reads as '昌邑区' in GBK); "
                   "set `encoding: gbk` for this layer in the config")
    res = invoke("validate", make_config(counties={**entry, "encoding": "gbk"}))
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("value, normalised", [("GBK", "gbk"), ("cp936", "gbk"), ("GB18030", "gb18030"),
                                               ("utf8", "utf-8"), ("latin_1", "iso8859-1"),
                                               ("euc_kr", "euc-kr")])
def test_config_encoding_is_normalised_for_gdal(make_config, tmp_path, value, normalised):
    path = gbk_shapefile(tmp_path / "gbk")
    config = load_config(make_config(counties={"path": str(path), "encoding": value}))
    assert config.counties.encoding == normalised
    assert config.farmland.encoding is None


@pytest.mark.parametrize("value, message", [
    ("gbkk", "'layers.counties.encoding' is not a text encoding Python knows: 'gbkk'"),
    ("utf-16", "'layers.counties.encoding' must be an ASCII-compatible text encoding"),
    ("rot13", "'layers.counties.encoding' must be an ASCII-compatible text encoding"),
])
def test_config_encoding_must_be_a_usable_codec(make_config, tmp_path, value, message):
    path = gbk_shapefile(tmp_path / "gbk")
    config = make_config(counties={"path": str(path), "encoding": value})
    with pytest.raises(ConfigError, match=message) as err:
        load_config(config)
    assert one_line(err).startswith(f"{config}: ")
    assert_refused(config, tmp_path, 2, str(config), message)


def test_config_encoding_is_refused_for_a_geopackage(make_config):
    config = make_config(counties={"path": str(VECTORS / "counties.gpkg"), "encoding": "gbk"})
    with pytest.raises(ConfigError, match="'layers.counties.encoding' is for Shapefiles: a GeoPackage "
                                          "is always UTF-8"):
        load_config(config)


# ------------------------------------------------------------------------- 4. a folder as the path

def folder_with_a_shapefile(tmp_path: Path) -> Path:
    folder = tmp_path / "layers"
    folder.mkdir()
    gpd.read_file(VECTORS / "basic_farmland.shp").to_file(folder / "other.shp", engine="pyogrio")
    return folder


def test_folder_path_is_refused_by_the_reader(tmp_path):
    folder = folder_with_a_shapefile(tmp_path)
    with pytest.raises(BadVectorError) as err:
        read_polygons(LayerConfig(folder), "farmland")
    assert one_line(err) == (f"{folder}: is a folder, not a layer file: "
                             "give the .shp or .gpkg file itself")


def test_folder_path_is_refused_by_the_config(make_config, tmp_path):
    folder = folder_with_a_shapefile(tmp_path)
    config = make_config(farmland={"path": str(folder)})
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert one_line(err) == (f"{config}: 'layers.farmland.path' {folder} is a folder, not a layer file: "
                             "give the .shp or .gpkg file itself")
    assert_refused(config, tmp_path, 2, str(folder), "is a folder, not a layer file")


def test_file_geodatabase_folder_is_accepted(make_config, tmp_path):
    gdb = tmp_path / "land.gdb"
    try:
        gpd.read_file(VECTORS / "approved.gpkg").to_file(gdb, layer="approved", driver="OpenFileGDB",
                                                         engine="pyogrio")
    except Exception as exc:  # GDAL built without FileGDB writing
        pytest.skip(f"cannot write a FileGDB here: {exc}")
    config = load_config(make_config(approved={"path": str(gdb), "layer": "approved"}))
    frame, report = read_polygons(config.approved, "approved")
    assert report.features == len(frame) > 0


# --------------------------------------------------------------- 5. repair and drop counts, warnings

@pytest.mark.parametrize("suffix", [".gpkg", ".shp"])
def test_bowties_and_null_geometries_are_counted(tmp_path, suffix):
    geoms = [shapely.box(0, 0, 1, 1), BOWTIE, shapely.affinity.translate(BOWTIE, 20), None,
             shapely.Polygon(), SLIVER]
    path = save(tmp_path / f"f{suffix}", gpd.GeoDataFrame(geometry=geoms, crs=4551))
    frame, report = read_polygons(LayerConfig(path), "farmland")
    assert len(frame) == report.features == 3
    assert report.repaired_invalid == 2  # the two bow-ties; the sliver has no area left: dropped
    assert report.dropped_empty == 3  # null, empty, sliver
    assert frame.is_valid.all()
    assert frame.area.tolist() == pytest.approx([1.0, 50.0, 50.0])


def test_manifest_layer_reports_carry_the_encoding():
    report = LayerReport(role="counties", path="c.shp", layer=None, crs="EPSG:4490", features=4,
                         repaired_invalid=0, dropped_empty=0, encoding="gbk (config)")
    assert report.to_dict()["encoding"] == "gbk (config)"


def test_validate_reads_the_key_project_layer_and_last_years_run(make_config, tmp_path):
    """``validate`` opens what ``run`` opens: a broken key-project layer or a folder that is not a
    landcheck run is refused with one line naming it, as ``run`` refuses it."""
    broken = tmp_path / "key.gpkg"
    broken.write_bytes(b"not a geopackage")
    not_a_run = tmp_path / "last_year"
    not_a_run.mkdir()
    for key, value, fragment in (
            ("key_projects", {"layer": {"path": str(broken)}}, str(broken)),
            ("previous_run", str(not_a_run), "not a landcheck output folder")):
        config = make_config()
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data[key] = value
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        res = invoke("validate", config)
        assert res.exit_code == 3, res.output
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("landcheck: error: "), res.output
        assert fragment in lines[0], lines[0]
