"""Rendering of the deliverables from the county ratios and the patch pieces.

Pure renderers: each takes the DataFrames of docs/architecture.md (``ratios``,
``pieces``, whose columns are :mod:`overlay.contracts`) and a ``run_info`` dict,
and writes one deliverable atomically (temporary file in the same folder, then
rename). Of landcheck, reports/ imports only :mod:`overlay.contracts`.
"""
from __future__ import annotations

import importlib
from typing import Any

# name -> module: imported at first use (PEP 562), so that a process using one renderer (a county
# job writes field packages; its worker imported matplotlib, openpyxl and reportlab's platypus for
# the others: 0.7 of the 2.0 s a worker took to import a county job's code)
_HOMES = {
    "LEVEL_LABELS_ZH": "overlay.contracts",
    "STATUS_LABELS_ZH": "overlay.contracts",
    "render_ratio_chart": "reports.charts",
    "write_excel_report": "reports.excel",
    "write_field_packages": "reports.field_package",
    "write_patches_gpkg": "reports.geopackage",
    "write_html_report": "reports.html_report",
    "render_report_map": "reports.report_map",
    "write_pdf_report": "reports.report_pdf",
    "sort_ratios": "reports.tables",
    "write_county_csv": "reports.tables",
    "write_unrectified_csv": "reports.tables",
    "M2_PER_MU": "reports.units",
    "m2_to_ha": "reports.units",
    "m2_to_mu": "reports.units",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'reports' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))


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
