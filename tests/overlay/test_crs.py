import geopandas as gpd
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
