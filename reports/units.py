"""Units shared by every report.

Data are in square metres; reports show 亩 (mu) and 公顷 (hectares) beside them.
The wording of levels, patch statuses, rules and verdicts (Chinese labels,
colours) lives in :mod:`overlay.contracts`, so the CSV, HTML, Excel, chart and
field packages say the same thing as the overlay and the accounting.
"""
from __future__ import annotations

import math
from typing import Any, Final

import pandas as pd

__all__ = ["M2_PER_MU", "M2_PER_HA", "m2_to_mu", "m2_to_ha", "format_percent"]

M2_PER_MU: Final[float] = 10000 / 15
"""Square metres in one 亩 (mu): 10000/15 ≈ 666.67 m²."""

M2_PER_HA: Final[float] = 10000.0
"""Square metres in one 公顷 (hectare)."""


def m2_to_mu(m2: Any) -> Any:
    """Convert square metres to 亩 (mu).

    Parameters
    ----------
    m2 : float, numpy array or pandas Series
        Area in square metres. NaN / NA propagate.

    Returns
    -------
    float, numpy array or pandas Series
        Area in 亩, same shape as the input (1 亩 = 10000/15 m²).
    """
    return m2 / M2_PER_MU


def m2_to_ha(m2: Any) -> Any:
    """Convert square metres to 公顷 (hectares).

    Parameters
    ----------
    m2 : float, numpy array or pandas Series
        Area in square metres. NaN / NA propagate.

    Returns
    -------
    float, numpy array or pandas Series
        Area in hectares, same shape as the input (1 公顷 = 10000 m²).
    """
    return m2 / M2_PER_HA


def format_percent(value: Any, decimals: int = 2) -> str:
    """Format a ratio (0..1) as a percent string, empty for NaN / NA / None.

    Parameters
    ----------
    value : float or None
        The ratio.
    decimals : int, default 2
        Digits after the decimal point.

    Returns
    -------
    str
        For example ``"12.34%"``, or ``""`` when there is no ratio.
    """
    if value is None or value is pd.NA:
        return ""
    v = float(value)
    if math.isnan(v):
        return ""
    return f"{v * 100:.{decimals}f}%"

