"""Rendering of the deliverables from the county ratios and the patch pieces.

Pure renderers: each takes the DataFrames of docs/architecture.md (``ratios``,
``pieces``, whose columns are :mod:`overlay.contracts`) and a ``run_info`` dict,
and writes one deliverable atomically (temporary file in the same folder, then
rename). Of landcheck, reports/ imports only :mod:`overlay.contracts`.
"""
from __future__ import annotations

from overlay.contracts import LEVEL_LABELS_ZH, STATUS_LABELS_ZH
from reports.charts import render_ratio_chart
from reports.excel import write_excel_report
from reports.field_package import write_field_packages
from reports.geopackage import write_patches_gpkg
from reports.html_report import write_html_report
from reports.report_map import render_report_map
from reports.report_pdf import write_pdf_report
from reports.tables import sort_ratios, write_county_csv, write_unrectified_csv
from reports.units import M2_PER_MU, m2_to_ha, m2_to_mu

__all__ = [
    "M2_PER_MU",
    "LEVEL_LABELS_ZH",
    "STATUS_LABELS_ZH",
    "m2_to_mu",
    "m2_to_ha",
    "sort_ratios",
    "write_county_csv",
    "write_unrectified_csv",
    "write_patches_gpkg",
    "write_field_packages",
    "render_ratio_chart",
    "write_html_report",
    "write_excel_report",
    "render_report_map",
    "write_pdf_report",
]
