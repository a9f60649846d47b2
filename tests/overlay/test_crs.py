import geopandas as gpd
import numpy as np
import pytest
import shapely

from overlay.crs import gk3_central_meridian, gk3_epsg_for_lon, zone_epsg_for_geometries


@pytest.mark.parametrize("lon, cm, epsg", [
    (75.0, 75, 4534), (76.4, 75, 4534), (76.6, 78, 4535), (126.55, 126, 4551),
    (127.49, 126, 4551), (127.51, 129, 4552), (135.0, 135, 4554), (70.0, 75, 4534), (136.9, 135, 4554),
])
def test_zone_nearest_central_meridian(lon, cm, epsg):
    assert gk3_central_meridian(lon) == cm
    assert gk3_epsg_for_lon(lon) == epsg


def test_zone_from_geographic_and_projected_geometries_agree():
    geo = gpd.GeoSeries([shapely.box(126.4, 43.8, 126.6, 43.9), shapely.box(127.6, 43.8, 127.8, 43.9)],
                        crs=4490)
    assert list(zone_epsg_for_geometries(geo)) == [4551, 4552]
    assert list(zone_epsg_for_geometries(geo.to_crs(4551))) == [4551, 4552]


def test_rejects_missing_crs():
    with pytest.raises(ValueError):
        zone_epsg_for_geometries(gpd.GeoSeries([shapely.box(0, 0, 1, 1)]))


def test_reprojected_gives_geopandas_to_crs_coordinates_bit_for_bit():
    """The same coordinates as GeoSeries.to_crs (z kept, missing and empty geometries kept),
    from a CRS given as an object, EPSG text or WKT; the same CRS leaves them as they are."""
    import shapely
    from geopandas import GeoSeries
    from pyproj import CRS
    from shapely.geometry import Polygon

    from overlay.crs import reprojected

    rng = np.random.default_rng(3)
    geoms = [shapely.box(x, y, x + 0.01, y + 0.005) for x, y in zip(rng.uniform(110, 116, 20),
                                                                    rng.uniform(22, 40, 20))]
    geoms += [Polygon([(113, 30, 5), (113.1, 30, 6), (113.1, 30.1, 7)]), None, Polygon()]
    series = GeoSeries(geoms, crs=4490)
    arr = np.asarray(series.values)
    for dst in (CRS.from_epsg(4547), "EPSG:4547", CRS.from_epsg(4547).to_wkt()):
        expected = np.asarray(series.to_crs(dst).values)
        for src in (series.crs, "EPSG:4490", series.crs.to_wkt()):
            got = reprojected(arr, src, dst)
            assert got[-2] is None and got[-1].is_empty
            assert all(shapely.equals_exact(a, b, tolerance=0) for a, b in zip(got[:-2], expected[:-2]))
            np.testing.assert_array_equal(shapely.get_coordinates(got, include_z=True),
                                          shapely.get_coordinates(expected, include_z=True))
    assert shapely.has_z(reprojected(arr, 4490, 4547)[20])
    same = reprojected(arr, "EPSG:4490", series.crs)
    np.testing.assert_array_equal(shapely.get_coordinates(same), shapely.get_coordinates(arr))
