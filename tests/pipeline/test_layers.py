"""Reading vector inputs: repairs are counted, bad layers are one-line errors naming the file."""
import geopandas as gpd
import pytest
import shapely

from pipeline.config import CountyLayerConfig, LayerConfig, PatchesConfig
from pipeline.errors import BadVectorError
from pipeline.layers import layer_files, read_counties, read_patches, read_polygons

BOWTIE = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])  # self-intersecting


def save(tmp_path, name, frame, **kw):
    path = tmp_path / name
    frame.to_file(path, **kw)
    return path


def test_invalid_polygons_repaired_and_empty_dropped_are_counted(tmp_path):
    frame = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1), BOWTIE, None], crs=4551)
    path = save(tmp_path, "f.gpkg", frame)
    out, report = read_polygons(LayerConfig(path), "farmland")
    assert len(out) == 2 and out.is_valid.all()
    assert report.repaired_invalid == 1 and report.dropped_empty == 1 and report.features == 2
    assert out.geometry.iloc[1].area == pytest.approx(50.0)  # bow-tie: two 25 m² triangles
    assert report.crs == "EPSG:4551"


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_no_crs_is_an_error(tmp_path):
    path = save(tmp_path, "f.gpkg", gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)]))
    with pytest.raises(BadVectorError, match="no CRS") as err:
        read_polygons(LayerConfig(path), "farmland")
    assert str(path) in str(err.value)


def test_points_are_an_error(tmp_path):
    path = save(tmp_path, "f.gpkg", gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs=4551))
    with pytest.raises(BadVectorError, match="must hold polygons, found Point"):
        read_polygons(LayerConfig(path), "farmland")


def test_wrong_layer_name_lists_layers(tmp_path):
    path = save(tmp_path, "f.gpkg", gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)], crs=4551),
                layer="parcels")
    with pytest.raises(BadVectorError, match="no layer 'farmland' \\(layers: parcels\\)"):
        read_polygons(LayerConfig(path, "farmland"), "farmland")


def test_not_a_vector_file(tmp_path):
    path = tmp_path / "f.gpkg"
    path.write_text("hello")
    with pytest.raises(BadVectorError, match="cannot open farmland layer"):
        read_polygons(LayerConfig(path), "farmland")


def counties_frame(codes, names=None):
    names = names or ["县"] * len(codes)
    geoms = [shapely.box(i, 0, i + 1, 1) for i in range(len(codes))]
    return gpd.GeoDataFrame({"XZQDM": codes, "XZQMC": names}, geometry=geoms, crs=4490)


def test_counties_normalised(tmp_path):
    path = save(tmp_path, "c.gpkg", counties_frame([220202, 220203], ["昌邑区", "龙潭区"]))
    out, report = read_counties(CountyLayerConfig(path))
    assert list(out.county_code) == ["220202", "220203"]
    assert list(out.county_name) == ["昌邑区", "龙潭区"]


@pytest.mark.parametrize("codes, message", [
    (["22020", "220203"], "6-digit county codes, found '22020'"),
    (["220202", "220202"], "appears more than once"),
])
def test_bad_county_codes(tmp_path, codes, message):
    path = save(tmp_path, "c.gpkg", counties_frame(codes))
    with pytest.raises(BadVectorError, match=message):
        read_counties(CountyLayerConfig(path))


def test_missing_field_lists_fields(tmp_path):
    path = save(tmp_path, "c.gpkg", counties_frame(["220202"]))
    with pytest.raises(BadVectorError, match="no field 'ADCODE' \\(fields: XZQDM, XZQMC\\)"):
        read_counties(CountyLayerConfig(path, code_field="ADCODE"))


def test_patches_ids_from_field_or_row_order(tmp_path):
    frame = gpd.GeoDataFrame({"JCBH": ["A1", "A2"]}, geometry=[shapely.box(0, 0, 1, 1)] * 2, crs=4551)
    path = save(tmp_path, "p.gpkg", frame)
    out, _ = read_patches(PatchesConfig(path, id_field="JCBH"))
    assert list(out.source_id) == ["A1", "A2"]
    out, _ = read_patches(PatchesConfig(path))
    assert list(out.source_id) == ["R000001", "R000002"]
    dup = save(tmp_path, "d.gpkg", frame.assign(JCBH=["A1", "A1"]))
    with pytest.raises(BadVectorError, match="'A1' .* not unique"):
        read_patches(PatchesConfig(dup, id_field="JCBH"))


def test_shapefile_sidecars_are_inputs(tmp_path):
    path = save(tmp_path, "b.shp", gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)], crs=4551))
    names = {p.suffix for p in layer_files(path)}
    assert {".shp", ".shx", ".dbf", ".prj"} <= names
