"""Reading polygon layers window by window (county by county) instead of whole."""
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import pipeline.layers as layers_module
from pipeline.config import LayerConfig
from pipeline.errors import BadVectorError
from pipeline.layers import open_source, read_polygons, read_window, window_report

BOWTIE = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
X0, Y0 = 500000.0, 4800000.0


def parcels(n: int = 20, size: float = 100.0) -> gpd.GeoDataFrame:
    boxes = [shapely.box(X0 + i * size, Y0 + j * size, X0 + (i + 1) * size, Y0 + (j + 1) * size)
             for j in range(n) for i in range(n)]
    return gpd.GeoDataFrame({"DLBM": ["0101"] * len(boxes)}, geometry=boxes, crs=4551)


def snapshot(folder):
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir())


@pytest.mark.parametrize("suffix", [".gpkg", ".shp"])
def test_a_window_reads_the_features_that_meet_it_with_the_files_own_ids(tmp_path, suffix):
    src = tmp_path / "in"
    src.mkdir()
    path = src / f"farmland{suffix}"
    parcels().to_file(path)
    before = snapshot(src)
    source = open_source(LayerConfig(path), "farmland", index_dir=tmp_path / "work")
    bbox = (X0 + 250, Y0 + 250, X0 + 450, Y0 + 350)
    window = read_window(source, bbox)
    direct = pyogrio.read_dataframe(path, bbox=bbox, fid_as_index=True)
    assert sorted(window.frame["fid"]) == sorted(direct.index)
    assert len(window.frame) == 3 * 2  # columns 2..4 x rows 2..3
    assert snapshot(src) == before  # nothing written beside the user's file
    if suffix == ".shp":  # no spatial index: an indexed copy was made in the work folder
        assert source.read_path.parent == tmp_path / "work" and source.path == path
    else:
        assert source.read_path == path


def test_windows_covering_the_layer_give_the_whole_layer_and_count_repairs_once(tmp_path):
    frame = parcels(10)
    bad = frame.geometry.values.copy()
    bad[55] = shapely.affinity.translate(BOWTIE, X0 + 500, Y0 + 500)  # straddles two windows
    bad[3] = None
    frame = frame.set_geometry(gpd.GeoSeries(bad, crs=4551))
    path = tmp_path / "f.shp"
    frame.to_file(path)
    source = open_source(LayerConfig(path), "farmland", index_dir=tmp_path / "work")
    windows = [read_window(source, (X0 + x, Y0, X0 + x + 505, Y0 + 1000)) for x in (0, 495)]
    whole, report = read_polygons(LayerConfig(path), "farmland")
    seen = {}
    for w in windows:
        for fid, geom in zip(w.frame["fid"], w.frame.geometry):
            seen[int(fid)] = geom
    assert sum(shapely.area(g) for g in seen.values()) == pytest.approx(whole.area.sum())
    merged = window_report(source, windows)
    assert (merged.repaired_invalid, merged.dropped_empty, merged.features) == \
        (report.repaired_invalid, report.dropped_empty, report.features) == (1, 1, 99)


def test_open_source_refuses_an_empty_farmland_layer_and_coordinates_outside_the_crs(tmp_path):
    empty = tmp_path / "empty.gpkg"
    gpd.GeoDataFrame(geometry=[], crs=4551).to_file(empty)
    with pytest.raises(BadVectorError, match="no features") as err:
        open_source(LayerConfig(empty), "farmland")
    assert str(empty) in str(err.value)
    degrees = tmp_path / "deg.gpkg"
    zone_prefixed = shapely.box(42500000, 4800000, 42500100, 4800100)  # easting with a zone number
    gpd.GeoDataFrame(geometry=[zone_prefixed], crs=4551).to_file(degrees)
    with pytest.raises(BadVectorError, match="do not fit its CRS"):
        open_source(LayerConfig(degrees), "farmland")


def test_window_ids_of_an_indexed_copy_are_the_originals(tmp_path):
    path = tmp_path / "f.shp"
    parcels(5).to_file(path)
    source = open_source(LayerConfig(path), "basic_farmland", index_dir=tmp_path / "work")
    window = read_window(source, (X0 + 150, Y0 + 150, X0 + 160, Y0 + 160))
    original = pyogrio.read_dataframe(path, fid_as_index=True)
    for fid, geom in zip(window.frame["fid"], window.frame.geometry):
        assert shapely.equals(geom, original.geometry.loc[int(fid)])
    assert np.isin(window.frame["fid"], original.index).all() and len(window.frame) == 1


@pytest.mark.parametrize("index_dir", [None, "work"])
def test_read_by_ids_gives_those_features_from_the_file_or_its_indexed_copy(tmp_path, index_dir):
    path = tmp_path / "c.shp"
    parcels(4).to_file(path)
    source = open_source(LayerConfig(path), "counties",
                         index_dir=None if index_dir is None else tmp_path / index_dir)
    window = read_window(source, fids=[2, 7])
    original = pyogrio.read_dataframe(path, fid_as_index=True)
    assert sorted(window.frame["fid"]) == [2, 7]
    for fid, geom in zip(window.frame["fid"], window.frame.geometry):
        assert shapely.equals(geom, original.geometry.loc[int(fid)])
    assert read_window(source, fids=[]).frame.empty


# --- GeoPackage windows read over a connection kept open (pipeline.layers._gpkg_window) ----------

def _shuffled_parcels(n: int = 30) -> gpd.GeoDataFrame:
    """Parcels written in a scattered order, so R-tree order differs from feature id order, with
    an invalid one, an empty one and text, real and integer fields."""
    frame = parcels(n)
    order = np.random.default_rng(3).permutation(len(frame))
    frame = frame.iloc[order].reset_index(drop=True)
    geoms = frame.geometry.values.copy()
    geoms[5] = shapely.affinity.translate(BOWTIE, X0 + 1005, Y0 + 1005)
    geoms[9] = shapely.Polygon()
    return gpd.GeoDataFrame({"name": [f"p{i}" if i % 7 else None for i in range(len(frame))],
                             "area": [float(i) if i % 5 else np.nan for i in range(len(frame))],
                             "code": np.arange(len(frame), dtype=np.int64)},
                            geometry=gpd.GeoSeries(geoms, crs=4551))


def _through_gdal(monkeypatch, source, *args, **kwargs):
    with monkeypatch.context() as m:
        m.setattr(layers_module, "_gpkg_window", lambda *a, **k: None)
        return read_window(source, *args, **kwargs)


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    assert a.frame.crs == b.frame.crs
    assert (a.repaired, a.dropped) == (b.repaired, b.dropped)


def test_geopackage_windows_read_over_sqlite_equal_gdals_features_order_and_values(tmp_path, monkeypatch):
    path = tmp_path / "farmland.gpkg"
    _shuffled_parcels().to_file(path, layer="farmland")
    source = open_source(LayerConfig(path, "farmland"), "farmland")
    used = []
    real = layers_module._gpkg_window
    monkeypatch.setattr(layers_module, "_gpkg_window", lambda *a, **k: used.append(real(*a, **k)) or used[-1])
    extent = source.bounds
    boxes = [(X0 + 250, Y0 + 250, X0 + 1450, Y0 + 1350),  # edges on parcel edges: touching counts
             (X0 + 950, Y0 + 950, X0 + 1100, Y0 + 1100),  # the bowtie
             (extent[0] - 1, extent[1] - 1, extent[2] + 1, extent[3] + 1),  # the whole layer: table order
             (X0 - 500, Y0 - 500, X0 - 400, Y0 - 400)]  # nothing
    for box in boxes:
        fast = read_window(source, box, columns=("name", "area", "code"))
        _same(fast, _through_gdal(monkeypatch, source, box, columns=("name", "area", "code")))
    by_id = read_window(source, fids=[12, 3, 10, 6])
    _same(by_id, _through_gdal(monkeypatch, source, fids=[12, 3, 10, 6]))
    assert list(by_id.frame["fid"]) == [12, 3, 6]  # in the order asked; 10 (empty) dropped
    assert by_id.dropped == {10} and by_id.repaired == {6}
    first = read_window(source, boxes[0]).frame["fid"].tolist()
    assert first != sorted(first)  # R-tree order, as GDAL gives it, not id order
    assert all(u is not None for u in used)  # every window above was read over SQLite
    window = read_window(source, boxes[0], columns=("name", "area", "code"))
    keep = np.arange(len(window)) % 3 != 1
    expected = window.frame[keep].reset_index(drop=True)
    pd.testing.assert_frame_equal(window.rows(keep), expected, check_exact=True)
    pd.testing.assert_frame_equal(window.rows(keep, with_fid=False), expected.drop(columns="fid"), check_exact=True)
    assert window.rows(keep).crs == window.frame.crs and len(window) == len(window.frame)


def test_a_geopackage_rewritten_in_place_is_read_anew(tmp_path):
    path = tmp_path / "patches.gpkg"
    parcels(3).to_file(path, layer="patches")
    source = open_source(LayerConfig(path, "patches"), "patches")
    box = (X0, Y0, X0 + 1000, Y0 + 1000)
    assert len(read_window(source, box).frame) == 9
    path.unlink()
    parcels(4).to_file(path, layer="patches")  # e.g. a resumed run writes its patches again
    source = open_source(LayerConfig(path, "patches"), "patches")
    assert len(read_window(source, box).frame) == 16


def test_layers_sqlite_cannot_read_as_gdal_does_are_read_by_gdal(tmp_path):
    dated = tmp_path / "dated.gpkg"
    frame = parcels(2)
    frame["when"] = pd.to_datetime(["2024-01-0%d" % (i + 1) for i in range(4)])
    frame.to_file(dated, layer="dated")
    source = open_source(LayerConfig(dated, "dated"), "farmland")
    assert layers_module._gpkg_window(source, ["when"], bbox=source.bounds) is None  # a date field
    assert layers_module._gpkg_window(source, [], bbox=source.bounds) is not None  # not read: fine
    window = read_window(source, source.bounds, columns=("when",))
    assert len(window.frame) == 4 and pd.api.types.is_datetime64_any_dtype(window.frame["when"])
    shp = tmp_path / "f.shp"
    parcels(2).to_file(shp)
    assert layers_module._gpkg_window(open_source(LayerConfig(shp), "farmland"), [], bbox=source.bounds) is None


@pytest.mark.parametrize("nulls", [(), (3,), (0, 7, 19)])
def test_features_without_a_geometry_are_found_from_the_geopackage_r_tree(tmp_path, nulls):
    """Null and empty geometries are the features no window sees (the R-tree holds neither):
    found by the R-tree's row count and, when some exist, by the ids the R-tree lacks. GDAL's
    bounds flag only the null ones (an empty polygon reads as the box 0, 0, 0, 0), so an empty
    polygon used to go uncounted."""
    frame = parcels()
    for i, k in enumerate(nulls):
        frame.loc[k, "geometry"] = None if i % 2 == 0 else shapely.Polygon()
    path = tmp_path / "farmland.gpkg"
    frame.to_file(path, layer="farmland")
    want = tuple(k + 1 for k in nulls)  # the GeoPackage's ids count from 1
    assert layers_module._gpkg_empty_fids(path, "farmland") == want
    source = open_source(LayerConfig(path, "farmland"), "farmland")
    assert source.empty_fids == want
    seen = read_window(source, source.bounds).frame["fid"].tolist()
    assert not set(seen) & set(want) and len(seen) == len(frame) - len(want)
    fids, boxes = pyogrio.read_bounds(path, layer="farmland")
    assert tuple(int(f) for f in fids[np.isnan(boxes).any(axis=0)]) == want[::2]  # GDAL's nulls only
    shp = tmp_path / "farmland.shp"
    frame.to_file(shp)
    assert layers_module._gpkg_empty_fids(shp, "farmland") is None  # not a GeoPackage: GDAL reads the bounds


def test_an_empty_polygon_in_a_layer_gdal_reads_is_counted_too(tmp_path):
    """GeoJSON (no R-tree of its own): GDAL's bounds give an empty polygon the box 0, 0, 0, 0, so
    zero-size boxes are read to tell; a real feature keeps its place."""
    frame = parcels(4)
    frame.loc[2, "geometry"] = shapely.Polygon()
    frame.loc[3, "geometry"] = None
    path = tmp_path / "farmland.geojson"
    frame.to_file(path, driver="GeoJSON")
    source = open_source(LayerConfig(path), "farmland", index_dir=tmp_path / "work")
    assert source.empty_fids == (2, 3)  # GeoJSON ids count from 0
    seen = read_window(source, source.bounds).frame
    assert len(seen) == len(frame) - 2


def test_a_window_read_over_sqlite_still_refuses_mis_decoded_text(tmp_path):
    """Plain ASCII text is passed in one pass; text that is not is checked as every read checks it."""
    frame = _shuffled_parcels()
    path = tmp_path / "patches.gpkg"
    frame.to_file(path, layer="patches")
    source = open_source(LayerConfig(path, "patches"), "patches")
    assert len(read_window(source, source.bounds, columns=("name", "area", "code"))) > 0  # ASCII names, None
    frame["name"] = ["²ýÒØÇø" if i == 4 else v for i, v in enumerate(frame["name"])]  # GBK read as Latin-1
    bad = tmp_path / "bad.gpkg"
    frame.to_file(bad, layer="patches")
    source = open_source(LayerConfig(bad, "patches"), "patches")
    assert layers_module._gpkg_window(source, ["name"], bbox=source.bounds) is not None  # over SQLite
    with pytest.raises(BadVectorError, match="field 'name' looks mis-decoded"):
        read_window(source, source.bounds, columns=("name",))
