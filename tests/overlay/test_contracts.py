"""The shared contracts: the stages produce what overlay.contracts says, and the tables are whole."""
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely

from overlay import contracts as c
from overlay.accounting import Thresholds, classify_ratio, county_ratios
from overlay.split import measure_pieces, split_patches


def test_contracts_module_is_pure_data():
    """No I/O, no landcheck or third-party imports: reports/ may import it alone."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(c.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "math", "dataclasses", "typing"}
    assert set(c.__all__) <= set(dir(c))


def test_columns():
    assert c.PIECE_COLUMNS[:4] == ("patch_id", "source_id", "county_code", "county_name")
    assert set(c.RUN_PIECE_COLUMNS) == set(c.PIECE_COLUMNS) | set(c.PATCH_COLUMNS) | {"year"}
    assert len(set(c.RUN_PIECE_COLUMNS)) == len(c.RUN_PIECE_COLUMNS)
    assert c.COUNTY_LEADING_COLUMNS == ("county_code", "county_name", "occupied_farmland_m2",
                                        "illegal_farmland_m2", "ratio", "level", "rank")
    assert set(c.PIECE_KEY) <= set(c.PIECE_COLUMNS)


def test_overlay_and_accounting_produce_the_contract():
    crs = 4551
    counties = gpd.GeoDataFrame({"county_code": ["220201", "220202"], "county_name": ["甲", "乙"]},
                                geometry=[shapely.box(546000, 4857000, 546100, 4857100),
                                          shapely.box(546100, 4857000, 546200, 4857100)], crs=crs)
    patches = gpd.GeoDataFrame({"source_id": ["P1", "P2"]},
                               geometry=[shapely.box(546010, 4857010, 546040, 4857030),
                                         shapely.box(546150, 4857050, 546170, 4857070)], crs=crs)
    farmland = gpd.GeoDataFrame(geometry=[shapely.box(546000, 4857000, 546030, 4857100)], crs=crs)
    pieces = split_patches(patches, counties, farmland, farmland.iloc[:0], farmland.iloc[:0], year=2025)
    assert list(pieces.columns[:4]) == list(c.PIECE_COLUMNS[:4])
    assert set(c.PIECE_COLUMNS) <= set(pieces.columns)
    assert set(pieces.status) <= set(c.STATUSES)
    ratios = county_ratios(pieces, counties, Thresholds())
    assert tuple(ratios.columns) == c.COUNTY_COLUMNS
    assert set(ratios.level) <= set(c.LEVELS)


def test_measured_columns_and_statuses():
    square = shapely.box(0, 0, 10, 10)
    pieces = np.array([square, square, square, square])
    farm = np.array([shapely.box(0, 0, 10, 10)])
    out = measure_pieces(pieces, farm, np.array([]), np.array([shapely.box(0, 0, 5, 10)]))
    assert tuple(out.columns) == c.MEASURE_COLUMNS
    none_farm = measure_pieces(pieces[:1], np.array([]), np.array([]), np.array([]))
    assert set(out.status) | set(none_farm.status) <= set(c.STATUSES)


def test_every_level_has_labels_and_colours():
    assert set(c.LEVELS) == {"none", "interview", "accountability", "no_ratio", "failed"}
    assert c.LEVELS[0] == "accountability"  # most serious first
    for table in (c.LEVEL_LABELS_ZH, c.LEVEL_LABELS_EN, c.LEVEL_COLOURS, c.LEVEL_FILLS):
        assert set(table) == set(c.LEVELS)
    assert c.LEVEL_LABELS_ZH["interview"] == "约谈"
    assert c.LEVEL_LABELS_ZH["accountability"] == "问责"
    t = Thresholds()
    # every level but "failed" (a county whose job failed) comes from a ratio
    assert {classify_ratio(r, t) for r in (math.nan, 0.0, 0.1, 0.15)} == set(c.LEVELS) - {c.LEVEL_FAILED}


def test_rules():
    assert c.RULES == ("reaches", "exceeds") == tuple(c.RULE_SYMBOLS) == tuple(c.RULE_WORDS_ZH)
    assert c.rule_symbol("reaches") == "≥" and c.rule_symbol("exceeds") == ">"
    assert c.rule_words_zh("reaches") == "达到（≥）" and c.rule_words_zh("exceeds") == "超过（>）"
    assert c.rule_words_en("exceeds") == "exceeds (>)"
    for bad in ("at least", None):
        with pytest.raises(ValueError, match="unknown threshold rule"):
            c.rule_words_zh(bad)


def test_statuses_and_origins_have_labels():
    assert tuple(c.STATUS_LABELS_ZH) == c.STATUSES
    assert tuple(c.ORIGIN_LABELS_ZH) == c.ORIGINS


def test_verdicts_and_their_default_effects():
    effect = {v.label_zh: v.default_effect for v in c.VERDICTS}
    assert effect == {
        "合法": c.EFFECT_LEGAL,
        "违法": c.EFFECT_ILLEGAL,
        "伪变化": c.EFFECT_NOT_CONSTRUCTION,
        "设施农用地": c.EFFECT_NOT_CONSTRUCTION,
        "临时用地": c.EFFECT_NOT_CONSTRUCTION,
        "其他": c.EFFECT_UNVERIFIED,
    }
    assert c.VERDICTS_ZH == ("合法", "违法", "伪变化", "设施农用地", "临时用地", "其他")
    assert {v.default_effect for v in c.VERDICTS} == set(c.EFFECTS)
    assert len({v.code for v in c.VERDICTS}) == len(c.VERDICTS) == len(c.VERDICT_BY_CODE)
    assert c.VERDICT_BY_CODE["false_change"].label_zh == "伪变化"
    assert c.verdict_of(" 违法 ") is c.VERDICT_BY_CODE["illegal"]
    for empty in (None, "", "  ", float("nan")):
        assert c.verdict_of(empty) is None  # not verified yet
    with pytest.raises(ValueError, match="not a verdict"):
        c.verdict_of("违章")


def test_rectification_states():
    assert c.RECTIFICATIONS_ZH == ("已整改", "整改中", "未整改")
    assert [r.code for r in c.RECTIFICATIONS] == ["rectified", "in_progress", "not_rectified"]
    assert c.RECTIFICATION_BY_LABEL["整改中"].code == "in_progress"


def test_shapefile_fields():
    names = [f.name for f in c.SHAPEFILE_FIELDS]
    assert len(names) == len(set(names)) == len(c.FIELD_BY_NAME)
    assert all(len(n) <= c.FIELD_NAME_MAX and n.isascii() and n.isupper() for n in names)
    official = {f.name for f in c.SHAPEFILE_FIELDS if f.official}
    assert official == {"JCBH", "XZQDM", "XZQMC", "TBMJ", "JCMJ", "QSX", "HSX", "TBLX", "PDLX", "WFMJ",
                        "HCSM", "HCR", "HCRQ", "ZGZT", "ZP"}
    assert c.FIELD_BY_NAME["PDLX"].alias_zh == "判定类型"
    for f in c.SHAPEFILE_FIELDS:
        kind, width = f.dbf_type.split(":")
        assert kind in ("str", "float") and f.alias_zh and f.meaning_zh and f.meaning_en
        if kind == "str":
            assert int(width) <= 254
    pdlx_bytes = int(c.FIELD_BY_NAME["PDLX"].dbf_type.split(":")[1])
    assert max(len(v.encode()) for v in c.VERDICTS_ZH) <= pdlx_bytes
    zgzt_bytes = int(c.FIELD_BY_NAME["ZGZT"].dbf_type.split(":")[1])
    assert max(len(v.encode()) for v in c.RECTIFICATIONS_ZH) <= zgzt_bytes
    assert c.JCBH_MAX_CHARS <= int(c.FIELD_BY_NAME["JCBH"].dbf_type.split(":")[1])


def test_location_code_and_jcbh():
    assert c.location_code(546015.2, 4857031.9) == "54601485703"
    assert c.location_code(546019.999, 4857039.999) == "54601485703"  # floored, not rounded
    assert c.location_code(340000.0, 440000.0) == "34000044000"  # a southern point keeps 6 digits
    with pytest.raises(ValueError, match="not finite"):
        c.location_code(math.nan, 1.0)
    assert [c.collision_suffix(i) for i in (0, 1, 2, 26, 27, 28, 702, 703)] == \
        ["", "A", "B", "Z", "AA", "AB", "ZZ", "AAA"]
    jcbh = c.make_jcbh("220202", 2025, "54601485703" + c.collision_suffix(1))
    assert jcbh == "220202202554601485703A" and len(jcbh) <= c.JCBH_MAX_CHARS


def _points_hard_for_location_codes() -> tuple[list[float], list[float]]:
    """Random points of every kind the location code meets, and its edge cases."""
    rng = np.random.default_rng(20251122)
    n = 20000
    xs = [rng.uniform(333000, 667000, n),  # inside a 3-degree zone
          rng.uniform(-1e6, 1e6, n),  # negative and short coordinates
          rng.uniform(-50, 50, n),  # around zero: -0.x floors to -1
          np.exp(rng.uniform(-30, 50, n)) * rng.choice([-1, 1], n),  # tiny to huge (over 1e21)
          np.round(rng.uniform(-1e5, 1e7, n), -1)]  # exactly on cell borders
    ys = [rng.uniform(2e6, 6e6, n), rng.uniform(-1e7, 1e7, n), rng.uniform(-50, 50, n),
          np.exp(rng.uniform(-30, 50, n)) * rng.choice([-1, 1], n), np.round(rng.uniform(-1e5, 1e7, n), -1)]
    border = np.round(rng.uniform(-1e7, 1e7, n), -1)  # one ulp either side of cell borders
    xs += [np.nextafter(border, -np.inf), np.nextafter(border, np.inf)]
    ys += [np.nextafter(border[::-1], np.inf), np.nextafter(border[::-1], -np.inf)]
    # zone borders (333 / 667 km), the largest easting / northing of each digit count, signed zeros
    special = [0.0, -0.0, 5e-324, -5e-324, 9.999999999999998, 10.0, -10.0, 99999.99999999999,
               100000.0, 333000.0, 333333.3333333333, 666666.6666666666, 667000.0, 999999.9999999999,
               1e6, 5999999.999999999, 6e6, 1e15, 2.0 ** 53, 1e300, -1e300, 1.7976931348623157e308]
    sx, sy = np.meshgrid(special, special)
    xs, ys = np.concatenate(xs + [sx.ravel()]), np.concatenate(ys + [sy.ravel()])
    return xs.tolist(), ys.tolist()


def test_location_codes_equal_location_code_on_many_points():
    xs, ys = _points_hard_for_location_codes()
    assert c.location_codes(xs, ys) == [c.location_code(x, y) for x, y in zip(xs, ys)]
    # numpy floats and ints give the same strings as Python floats
    assert c.location_codes(np.asarray(xs[:5000]), np.asarray(ys[:5000])) == c.location_codes(xs[:5000], ys[:5000])
    ints = list(range(-25, 25))
    assert c.location_codes(ints, ints[::-1]) == [c.location_code(x, y) for x, y in zip(ints, ints[::-1])]
    assert c.location_codes([], []) == []
    assert c.location_codes([-0.5], [-0.0]) == ["-0001000000"]  # a negative coordinate keeps its sign


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_location_codes_raise_as_location_code(bad):
    xs, ys = [546015.2, 546016.0, bad], [4857031.9, bad, 1.0]
    with pytest.raises(ValueError) as scalar:
        c.location_code(xs[1], ys[1])
    with pytest.raises(ValueError) as batch:
        c.location_codes(xs, ys)
    assert str(batch.value) == str(scalar.value)  # the first bad point's error
    with pytest.raises(ValueError):
        c.location_codes(np.array(xs), np.array(ys))
    with pytest.raises(ValueError, match="northings"):
        c.location_codes([1.0, 2.0], [1.0])


def test_make_jcbhs_equal_make_jcbh():
    rng = np.random.default_rng(3)
    xs, ys = _points_hard_for_location_codes()
    pick = rng.integers(0, len(xs), 5000)
    locations = [c.location_code(xs[i], ys[i]) + c.collision_suffix(int(r))
                 for i, r in zip(pick, rng.integers(0, 800, 5000))]
    codes = [str(v) for v in rng.integers(110000, 659999, 5000)]
    for year in (2025, 999, 0, 12345, np.int64(2024), "2026"):
        assert c.make_jcbhs(codes, year, locations) == \
            [c.make_jcbh(code, year, loc) for code, loc in zip(codes, locations)]
    assert c.make_jcbhs([], 2025, []) == []
    with pytest.raises(ValueError, match="locations"):
        c.make_jcbhs(["220201"], 2025, [])
