from affine import Affine
from rasterio.crs import CRS

from detection.grid import Grid

GRID = Grid(10, 20, Affine(2.0, 0.0, 544760.0, 0.0, -2.0, 4859200.0), CRS.from_epsg(4551))


def test_bounds_res_and_area():
    assert GRID.shape == (10, 20)
    assert GRID.res == (2.0, 2.0)
    assert GRID.pixel_area == 4.0
    assert GRID.bounds == (544760.0, 4859180.0, 544800.0, 4859200.0)


def test_xy_and_window():
    assert GRID.xy(0, 0) == (544760.0, 4859200.0)
    assert GRID.xy(0.5, 0.5) == (544761.0, 4859199.0)
    sub = GRID.window(2, 3, 4, 5)
    assert sub.shape == (4, 5) and sub.crs == GRID.crs
    assert sub.xy(0, 0) == GRID.xy(2, 3)
