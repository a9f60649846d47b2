"""A tiny hand-made ratios / pieces fixture for the report writers.

Five counties of Jilin: two at accountability level, one exactly on the 10 %
interview threshold, one at 0 % and one with no farmland occupied (no ratio).
Pieces are in EPSG:4551 (CGCS2000 3-degree Gauss-Krüger CM 126E).
"""
from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

THIRD = 2000 / 3  # 666.666... m² = exactly 1 亩


def _ratios() -> pd.DataFrame:
    rows = [
        # code, name, occupied, legal, illegal, ratio, level, rank, n, n_ill, basic, ill_basic
        ("220102", "南关区", 10000.0, 8000.0, 2000.0, 0.2, "accountability", 1, 1, 1, 3000.0, 1000.0),
        ("220104", "朝阳区", 6 * THIRD, 5 * THIRD, THIRD, 1 / 6, "accountability", 2, 2, 1, 0.0, 0.0),
        ("220221", "永吉县", 30000.0, 27000.0, 3000.0, 0.1, "interview", 3, 1, 1, 500.0, 0.0),
        ("220203", "龙潭区", 5000.0, 5000.0, 0.0, 0.0, "none", 4, 1, 0, 0.0, 0.0),
        ("220282", "桦甸市", 0.0, 0.0, 0.0, math.nan, "no_ratio", None, 1, 0, 0.0, 0.0),
    ]
    cols = [
        "county_code", "county_name", "occupied_farmland_m2", "legal_farmland_m2", "illegal_farmland_m2",
        "ratio", "level", "rank", "n_patches", "n_illegal_patches", "basic_farmland_m2",
        "illegal_basic_farmland_m2",
    ]
    df = pd.DataFrame(rows, columns=cols)
    df["rank"] = pd.array(df["rank"], dtype="Int64")
    # the accounting stage returns counties in layer order, not rank order
    return df.sample(frac=1.0, random_state=3).reset_index(drop=True)


def _box(x0: float, y0: float, area: float) -> shapely.Polygon:
    side = math.sqrt(area)
    return shapely.box(x0, y0, x0 + side, y0 + side)


def _pieces() -> gpd.GeoDataFrame:
    base_x, base_y = 450000.0, 4860000.0
    recs: list[dict[str, Any]] = [
        dict(patch_id="220102-2025-00001", source_id="D000001", county_code="220102", county_name="南关区",
             area_m2=12000.0, farmland_m2=10000.0, basic_farmland_m2=3000.0, approved_m2=8000.0,
             legal_farmland_m2=8000.0, illegal_farmland_m2=2000.0, illegal_basic_farmland_m2=1000.0,
             other_m2=2000.0, status="partly_legal", origin="detected", mean_score=0.83,
             before_date="2024-10-02", after_date="2025-09-28", year=2025),
        dict(patch_id="220104-2025-00001", source_id="D000002", county_code="220104", county_name="朝阳区",
             area_m2=THIRD, farmland_m2=THIRD, basic_farmland_m2=0.0, approved_m2=0.0,
             legal_farmland_m2=0.0, illegal_farmland_m2=THIRD, illegal_basic_farmland_m2=0.0,
             other_m2=0.0, status="illegal", origin="detected", mean_score=0.71,
             before_date="2024-10-02", after_date="2025-09-28", year=2025),
        dict(patch_id="220104-2025-00002", source_id="D000003", county_code="220104", county_name="朝阳区",
             area_m2=5 * THIRD, farmland_m2=5 * THIRD, basic_farmland_m2=0.0, approved_m2=5 * THIRD,
             legal_farmland_m2=5 * THIRD, illegal_farmland_m2=0.0, illegal_basic_farmland_m2=0.0,
             other_m2=0.0, status="legal", origin="detected", mean_score=0.64,
             before_date="2024-10-02", after_date="2025-09-28", year=2025),
        dict(patch_id="220221-2025-00001", source_id="R-17", county_code="220221", county_name="永吉县",
             area_m2=30000.0, farmland_m2=30000.0, basic_farmland_m2=500.0, approved_m2=27000.0,
             legal_farmland_m2=27000.0, illegal_farmland_m2=3000.0, illegal_basic_farmland_m2=0.0,
             other_m2=0.0, status="partly_legal", origin="received", mean_score=np.nan,
             before_date=None, after_date=None, year=2025),
        dict(patch_id="220203-2025-00001", source_id="D000004", county_code="220203", county_name="龙潭区",
             area_m2=5000.0, farmland_m2=5000.0, basic_farmland_m2=0.0, approved_m2=5000.0,
             legal_farmland_m2=5000.0, illegal_farmland_m2=0.0, illegal_basic_farmland_m2=0.0,
             other_m2=0.0, status="legal", origin="detected", mean_score=0.55,
             before_date="2024-10-02", after_date="2025-09-28", year=2025),
        dict(patch_id="220282-2025-00001", source_id="D000005", county_code="220282", county_name="桦甸市",
             area_m2=900.0, farmland_m2=0.0, basic_farmland_m2=0.0, approved_m2=0.0,
             legal_farmland_m2=0.0, illegal_farmland_m2=0.0, illegal_basic_farmland_m2=0.0,
             other_m2=900.0, status="non_farmland", origin="detected", mean_score=0.6,
             before_date="2024-10-02", after_date="2025-09-28", year=2025),
    ]
    geoms = [_box(base_x + 1000 * i, base_y + 500 * i, r["area_m2"]) for i, r in enumerate(recs)]
    # one piece as a two-part MultiPolygon (a patch cut into two parts by a county line)
    half = math.sqrt(recs[0]["area_m2"] / 2)
    geoms[0] = shapely.MultiPolygon([
        shapely.box(base_x, base_y, base_x + half, base_y + half),
        shapely.box(base_x + 200, base_y, base_x + 200 + half, base_y + half),
    ])
    return gpd.GeoDataFrame(recs, geometry=geoms, crs="EPSG:4551")


@pytest.fixture
def ratios() -> pd.DataFrame:
    """County ratios, shuffled (writers must sort)."""
    return _ratios()


@pytest.fixture
def pieces() -> gpd.GeoDataFrame:
    """Patch pieces in EPSG:4551."""
    return _pieces()


@pytest.fixture
def county_polygons() -> gpd.GeoDataFrame:
    """County outlines in geographic CGCS2000 (EPSG:4490), as counties often arrive."""
    codes = ["220102", "220104", "220221", "220203", "220282"]
    names = ["南关区", "朝阳区", "永吉县", "龙潭区", "桦甸市"]
    geoms = [shapely.box(125.3 + 0.1 * i, 43.8, 125.38 + 0.1 * i, 43.9) for i in range(len(codes))]
    return gpd.GeoDataFrame({"county_code": codes, "county_name": names}, geometry=geoms, crs="EPSG:4490")


@pytest.fixture
def run_info() -> dict[str, Any]:
    """A run description with the default rules."""
    return {
        "year": 2025,
        "interview": 0.10,
        "accountability": 0.15,
        "interview_rule": "reaches",
        "accountability_rule": "reaches",
        "config": "configs/jilin-2025.yaml",
        "generated_at": "2026-03-01T09:30:00+08:00",
        "source": "detected",
        "landcheck_version": "0.1.0",
    }
