"""One immutable raster grid type: shape, affine transform and CRS together."""
from __future__ import annotations

from dataclasses import dataclass

from affine import Affine
from rasterio.crs import CRS

__all__ = ["Grid"]


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid.

    Parameters
    ----------
    height, width
        Number of rows and columns.
    transform
        Affine transform from (col, row) pixel corners to (x, y) map coordinates.
    crs
        Coordinate reference system of the map coordinates.
    """

    height: int
    width: int
    transform: Affine
    crs: CRS

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (self.height, self.width)

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size (x, y), both positive."""
        return (abs(self.transform.a), abs(self.transform.e))

    @property
    def pixel_area(self) -> float:
        """Area of one pixel in CRS units squared."""
        return abs(self.transform.a * self.transform.e - self.transform.b * self.transform.d)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in map coordinates."""
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (self.width, self.height)
        return (min(left, right), min(bottom, top), max(left, right), max(bottom, top))

    def xy(self, row: float, col: float) -> tuple[float, float]:
        """Map coordinates (x, y) of a fractional pixel position (row, col)."""
        x, y = self.transform @ (col, row)
        return (x, y)

    def window(self, row_off: int, col_off: int, height: int, width: int) -> "Grid":
        """The sub-grid starting at (row_off, col_off) with the given size."""
        return Grid(height, width, self.transform @ Affine.translation(col_off, row_off), self.crs)
