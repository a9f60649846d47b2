"""samplegen.vectors: farmland coverage, basic farmland, approvals."""
from __future__ import annotations

import shapely

from samplegen.frame import PROJECTED_CRS
from samplegen.layout import APPROVED_FILE, BASIC_FILE, FARMLAND_FILE
from tests.samplegen.helpers import read


def test_farmland_is_a_coverage_and_basic_farmland_a_subset(world):
    root = world[0]
    farmland = read(root / FARMLAND_FILE, "farmland")
    assert farmland.crs.to_epsg() == 4490
    assert set(farmland["DLBM"]) <= {"0101", "0102", "0103"}
    projected = farmland.to_crs(PROJECTED_CRS).geometry.values
    tree = shapely.STRtree(projected)
    left, right = tree.query(projected, predicate="intersects")
    pairs = left < right
    overlap = shapely.area(shapely.intersection(projected[left[pairs]], projected[right[pairs]]))
    assert overlap.sum() < 1e-3, f"farmland parcels overlap by {overlap.sum():.4f} m²"
    basic = read(root / BASIC_FILE)
    assert basic.crs.to_epsg() == 4551
    assert (root / BASIC_FILE).with_suffix(".cpg").read_text().strip() == "UTF-8"
    assert 0 < len(basic) < len(farmland)
    outside = shapely.union_all(basic.geometry.values).difference(shapely.union_all(projected))
    assert outside.area < 1e-3


def test_shapefile_header_date_is_pinned(world):
    """The .dbf header's last-update date is fixed (else every regeneration differs)."""
    header = (world[0] / BASIC_FILE).with_suffix(".dbf").read_bytes()[1:4]
    assert tuple(header) == (125, 12, 31)  # 2025-12-31


def test_approvals_layer(world):
    approved = read(world[0] / APPROVED_FILE, "approved")
    assert approved.crs.to_epsg() == 4551
    assert set(approved["PZLX"]) == {"农用地转用", "设施农用地", "临时用地"}
    assert approved["PZWH"].str.endswith("号").all()
