"""The renderers with a run's decisive county table (overlay.contracts.RUN_COUNTY_COLUMNS) and
verified pieces: both pictures, progress, deduction, severe impact and last year shown; a plain
county table (no verdicts) renders as before."""
from __future__ import annotations

import csv
import math

import openpyxl
import pandas as pd
import pytest

from overlay.accounting import Thresholds
from overlay.contracts import COUNTY_VERIFIED_COLUMNS, VERDICT_COLUMNS
from overlay.verdicts import apply_verdicts
from overlay.verified import decisive_ratios
from reports import write_county_csv, write_excel_report, write_html_report, write_unrectified_csv
from reports.excel import (RANKING_HEADER_ROW, PATCH_HEADERS, PATCH_SHEET, RANKING_HEADERS, RANKING_SHEET, UNRECTIFIED_SHEET,
                           VERIFIED_PATCH_HEADERS, VERIFIED_RANKING_HEADERS)

REASON = "群众反映强烈，造成恶劣影响"


@pytest.fixture
def decided(pieces, ratios):
    """The conftest pieces with one verdict (南关区's piece: 合法) and 龙潭区 flagged for severe impact."""
    table = pd.DataFrame([{"patch_id": "220102-2025-00001", "county_code": None, "verdict": "legal",
                           "wfmj_m2": math.nan, "rectification": None, "remarks": None, "verifier": None,
                           "verified_on": None, "photos": None, "source_file": "back.xlsx", "row": 2}],
                         columns=VERDICT_COLUMNS)
    verified = apply_verdicts(pieces, table)
    verified["key_project"] = verified["patch_id"] == "220104-2025-00001"
    previous = pd.DataFrame({"county_code": ["220102"], "ratio": [0.3], "level": ["accountability"]})
    table = decisive_ratios(verified, ratios[["county_code", "county_name"]], Thresholds(),
                            severe_impact={"220203": REASON}, previous_ratios=previous)
    return verified, table


def info(run_info: dict) -> dict:
    return {**run_info, "verified": True, "verdict_files": 1, "verdict_problems": [],
            "severe_impact": [{"county_code": "220203", "county_name": "龙潭区", "reason": REASON}],
            "key_projects": {"jcbh": ["220104-2025-00001"], "layer": None, "pieces": ["220104-2025-00001"],
                             "illegal_m2": 666.67, "unknown_jcbh": []},
            "previous_run": {"folder": "out/2024", "year": 2024, "n_unrectified": 1, "unrectified_m2": 100.0,
                             "unrectified": [{"patch_id": "X1", "county_code": "220102", "county_name": "南关区",
                                              "year": 2024, "illegal_farmland_m2": 100.0, "verdict": "illegal",
                                              "rectification": "in_progress"}]}}


def test_excel_shows_both_pictures(decided, run_info, tmp_path):
    verified, table = decided
    path = write_excel_report(table, verified, info(run_info), tmp_path / "r.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [RANKING_SHEET, PATCH_SHEET, UNRECTIFIED_SHEET, "说明"]
    ranking = book[RANKING_SHEET]
    headers = [c.value for c in ranking[RANKING_HEADER_ROW]]
    assert headers[:len(RANKING_HEADERS)] == list(RANKING_HEADERS)
    assert set(VERIFIED_RANKING_HEADERS) <= set(headers) and "上年度违法占用耕地比例" in headers
    rows = {r[1]: dict(zip(headers, r)) for r in ranking.iter_rows(min_row=RANKING_HEADER_ROW + 1, values_only=True) if r[1]}
    nanguan, longtan = rows["220102"], rows["220203"]
    assert nanguan["违法占用耕地比例"] == 0 and nanguan["疑似违法占用耕地比例（套合）"] == pytest.approx(0.2)
    assert nanguan["处理等级"] == "未达约谈比例" and nanguan["疑似处理等级（套合）"] == "问责"
    assert nanguan["核查完成"] == "是" and nanguan["比例同比变化"] == pytest.approx(-0.3)
    assert longtan["处理等级"] == "问责" and longtan["恶劣影响情形"] == REASON
    assert rows["220104"]["扣减后比例"] == pytest.approx(0)
    total = [r for r in ranking.iter_rows(min_row=RANKING_HEADER_ROW + 1, values_only=True) if r[2] == "合计"][0]
    assert dict(zip(headers, total))["已核查图斑数"] == 1
    patch_headers = [c.value for c in book[PATCH_SHEET][1]]
    assert patch_headers == [*PATCH_HEADERS, *VERIFIED_PATCH_HEADERS]
    assert [r[0] for r in book[UNRECTIFIED_SHEET].iter_rows(min_row=2, values_only=True)] == ["X1"]
    notes = " ".join(str(c.value) for row in book["说明"].iter_rows() for c in row)
    assert REASON in notes and "外业核查" in notes and "上年度对比" in notes


def test_html_shows_both_pictures(decided, run_info, tmp_path):
    _, table = decided
    page = write_html_report(table, info(run_info), None, tmp_path / "r.html").read_text(encoding="utf-8")
    for text in ("疑似违法占用耕地比例（套合）", "核查进度", "扣减后比例", REASON, "上年度未整改违法图斑", "X1",
                 "-30.00 个百分点", "仅按套合结果（疑似）"):
        assert text in page, text


def test_plain_county_table_renders_as_before(ratios, pieces, run_info, tmp_path):
    book = openpyxl.load_workbook(write_excel_report(ratios, pieces, run_info, tmp_path / "r.xlsx"))
    assert [c.value for c in book[RANKING_SHEET][RANKING_HEADER_ROW]] == list(RANKING_HEADERS)
    assert [c.value for c in book[PATCH_SHEET][1]] == list(PATCH_HEADERS)
    page = write_html_report(ratios, run_info, None, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "核查进度" not in page and "疑似违法占用耕地比例（套合）" not in page


def test_csv_columns(decided, tmp_path):
    _, table = decided
    with open(write_county_csv(table, tmp_path / "c.csv"), encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh))
    assert header[-len(COUNTY_VERIFIED_COLUMNS) - 2:] == [*COUNTY_VERIFIED_COLUMNS, "level_zh", "suspected_level_zh"]
    rows = pd.DataFrame([{"patch_id": "X1", "county_code": "220102", "county_name": "南关区", "year": 2024,
                          "illegal_farmland_m2": 100.004, "verdict": None, "rectification": "in_progress"}])
    path = write_unrectified_csv(rows, tmp_path / "u.csv")
    assert path.read_text(encoding="utf-8-sig").splitlines() == [
        "patch_id,county_code,county_name,year,illegal_farmland_m2,verdict,rectification,verdict_zh,"
        "rectification_zh", "X1,220102,南关区,2024,100.00,,in_progress,,整改中"]
