"""Field verdicts coming back: check them against the run's pieces, then apply them.

Pure functions over DataFrames / GeoDataFrames (no I/O; ``pipeline/verdicts.py``
reads the returned files). Three steps:

1. :func:`check_verdicts` turns the raw rows read from the returned files (one
   row per feature / sheet row, the fields of
   :data:`~overlay.contracts.VERDICT_FILE_FIELDS` as found) into the checked
   verdict table (:data:`~overlay.contracts.VERDICT_COLUMNS`) and a list of
   :class:`Problem` (one line each). Nothing is guessed: a value that does not
   say exactly one thing is a problem, and a run refuses verdicts with problems.
2. :func:`apply_verdicts` gives every piece its verified figures
   (:data:`~overlay.contracts.VERIFIED_COLUMNS`).
3. :func:`verification_progress` says per county how much is verified
   (:data:`~overlay.contracts.PROGRESS_COLUMNS`).

Rules (../shared/domain.md "Patches and verdicts": only verified construction
counts once verdicts exist; before that the ratio is "suspected"):

- Which piece a row is for. A row names a patch by its JCBH. Its county is
  XZQDM when given, else the county its package zip is named for
  (``220202.zip``), else none: the row is then for every piece of the JCBH. So a
  received patch straddling two counties (one JCBH, two pieces) gets one verdict
  per piece from each county's package (which carries XZQDM), and a row without
  XZQDM (an Excel sheet, say) gives both pieces the same verdict. A WFMJ is an
  area of one piece: with WFMJ, a straddling patch needs XZQDM.
- Effects (``effects``: verdict code -> one of :data:`~overlay.contracts.EFFECTS`,
  defaults :attr:`~overlay.contracts.Verdict.default_effect`):

  * ``illegal`` (违法): verified illegal farmland (the numerator) = WFMJ when given
    (capped at the piece's farmland), else the overlay's farmland outside approvals;
    verified legal farmland = the piece's farmland - verified illegal;
  * ``legal`` (合法): illegal 0, legal = the piece's farmland (denominator only);
  * ``not_construction`` (伪变化, 设施农用地, 临时用地): illegal 0, legal 0: the piece
    leaves numerator and denominator (``counts_as_construction`` False);
  * ``unverified`` (其他, PDLX empty, or no row names the piece): the overlay's
    illegal and legal farmland stand, and the county is not complete
    (:func:`verification_progress`).

  The denominator contribution (``verified_farmland_m2``) is legal + illegal: the
  farmland the construction occupies, unchanged by a 违法 / 合法 verdict
  (监发〔2009〕5号: the denominator is the farmland actually occupied, legal and
  illegal together), so a 违法 verdict with WFMJ moves farmland between the legal
  and the illegal part and never changes the denominator. WFMJ is read as the
  illegal *farmland* area of the piece (the check refuses a WFMJ above the
  piece's farmland). WFMJ empty or 0 means "not given" (ArcGIS stores an empty
  number in a Shapefile as 0); a WFMJ above 0 with a verdict not counted as
  illegal is a contradiction and refused.
- The same piece given twice: the same verdict (PDLX and WFMJ) twice is accepted
  (the first row's remarks are kept); different verdicts are a problem on the
  later row. A row with PDLX empty says nothing and conflicts with nothing.
"""
from __future__ import annotations

import datetime
import math
import numbers
import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
import shapely
from geopandas import GeoDataFrame, GeoSeries
from pyproj import CRS

from overlay.contracts import (EFFECT_ILLEGAL, EFFECT_LEGAL, EFFECT_NOT_CONSTRUCTION, EFFECT_UNVERIFIED, EFFECTS,
                               PROGRESS_COLUMNS, VERDICT_BY_CODE, VERDICT_COLUMNS, default_effects,
                               rectification_of, verdict_of)
from overlay.crs import CGCS2000_GEOGRAPHIC, zone_epsg_for_geometries

__all__ = [
    "WFMJ_TOLERANCE_M2", "WFMJ_TOLERANCE_SHARE", "DEFAULT_MAX_RESHAPE", "DEFAULT_MAX_SHIFT_M",
    "Problem", "check_verdicts", "apply_verdicts", "verification_progress", "resolve_effects",
]

WFMJ_TOLERANCE_M2 = 0.01
"""A WFMJ may exceed the piece's farmland by this much (m²) plus :data:`WFMJ_TOLERANCE_SHARE`
of it (rounding to 2 decimals in the DBF, another GIS's area formula); it is then capped."""
WFMJ_TOLERANCE_SHARE = 0.001

DEFAULT_MAX_RESHAPE = 0.01
"""Largest symmetric difference between a returned geometry and its piece, as a share of the
piece's area (``verdicts.max_reshape``)."""
DEFAULT_MAX_SHIFT_M = 1.0
"""Largest distance (m) between the centroids of a returned geometry and its piece
(``verdicts.max_shift_m``)."""

_COUNTY_CODE = re.compile(r"^\d{6}$")
_EXACT_DIGITS = 15  # a number stored in Excel / a DBF keeps 15 significant digits


@dataclass(frozen=True)
class Problem:
    """One problem with a returned verdict file: ``file`` as shown to the user, the 1-based
    ``row`` (None for the whole file), the ``jcbh`` when known and the ``message``."""

    file: str
    row: int | None
    jcbh: str | None
    message: str

    def line(self) -> str:
        """``<file>: row N: JCBH <j>: <message>`` (row and JCBH left out when unknown)."""
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.jcbh:
            parts.append(f"JCBH {self.jcbh}")
        return ": ".join(parts + [self.message])


# --------------------------------------------------------------------------------- values

def _blank(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, np.datetime64) and np.isnat(value):
        return True
    return isinstance(value, str) and not value.strip()


def _shown(value: Any) -> str:
    """A cell value as the user wrote it, for messages."""
    if isinstance(value, str):
        return repr(value.strip())
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _code_text(value: Any, field: str) -> str:
    """Text of an identifier cell (JCBH, XZQDM); raises ValueError with the problem."""
    if isinstance(value, str):
        text = value.strip()
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
            raise ValueError(f"{field} {text!r} holds control characters (a line break?)")
        return text
    if isinstance(value, bool):
        raise ValueError(f"{field} {value} is not text")
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isfinite(v) and v.is_integer() and abs(v) < 10 ** _EXACT_DIGITS:
            return str(int(v))
        raise ValueError(f"{field} is stored as a number ({v:.15g}) that has lost digits: "
                         "store the column as text")
    raise ValueError(f"{field} {value!s} is not text")


def _area(value: Any) -> float:
    """WFMJ in m², NaN when not given (empty or 0); raises ValueError with the problem."""
    if _blank(value):
        return math.nan
    if isinstance(value, bool):
        raise ValueError(f"WFMJ {value} is not a number of m²")
    if isinstance(value, numbers.Real):
        number = float(value)
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"WFMJ {_shown(value)} is not a number of m²") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"WFMJ {_shown(value)} is not an area: it must be 0 or more m²")
    return math.nan if number == 0 else number


def _date(value: Any) -> str | None:
    """HCRQ as ``YYYY-MM-DD``; raises ValueError with the problem."""
    if _blank(value):
        return None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, datetime.datetime):  # pd.Timestamp too
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        try:
            day = datetime.date.fromisoformat(text)
        except ValueError:
            day = None
        if day is not None and len(text) == 10:
            return day.isoformat()
    raise ValueError(f"HCRQ {_shown(value)} is not a real date written YYYY-MM-DD")


def _text(value: Any) -> str | None:
    if _blank(value):
        return None
    return str(value).strip()


def _m2(value: float) -> str:
    return f"{value:.2f} m²"


def _share(value: float) -> str:
    return f"{100 * value:.2f} %"


def _number(value: float) -> str:
    return f"{value:g}"


def resolve_effects(effects: Mapping[str, str] | None) -> dict[str, str]:
    """Verdict code -> effect: the contract's defaults, overridden by ``effects`` (codes or labels)."""
    out = default_effects()
    for key, effect in (effects or {}).items():
        verdict = VERDICT_BY_CODE.get(key) or verdict_of(key)
        if verdict is None:
            raise ValueError(f"an empty verdict has no configurable effect (always {EFFECT_UNVERIFIED})")
        if effect not in EFFECTS:
            raise ValueError(f"effect {effect!r} of {key!r} must be one of {', '.join(EFFECTS)}")
        out[verdict.code] = effect
    return out


# --------------------------------------------------------------------------------- check

def _pieces_by_jcbh(pieces: pd.DataFrame) -> dict[str, list[int]]:
    by: dict[str, list[int]] = {}
    for i, jcbh in enumerate(pieces["patch_id"].astype(str)):
        by.setdefault(jcbh, []).append(i)
    return by


def _zones(pieces: GeoDataFrame, zones: Mapping[str, int] | None) -> dict[str, int]:
    """County code -> EPSG of the county's zone; from the pieces themselves where not given."""
    out = {str(k): int(v) for k, v in (zones or {}).items()}
    missing = sorted(set(pieces["county_code"].astype(str)) - set(out))
    if missing and len(pieces):
        codes = pieces["county_code"].astype(str)
        for code in missing:
            part = pieces[codes == code]
            out[code] = int(zone_epsg_for_geometries(
                GeoSeries([shapely.union_all(part.geometry.values)], crs=pieces.crs))[0])
    return out


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry | None:
    """The returned geometry made valid, polygonal parts only; None when it has none."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = shapely.get_parts(geom)
    polys = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
    if not len(polys):
        return None
    return shapely.union_all(polys)


@dataclass
class _GeometryTask:
    """One returned geometry to compare with its piece(s), in the zone ``epsg``."""

    index: int  # of the row
    returned: shapely.Geometry  # polygonal, in the raw rows' CRS
    target: shapely.Geometry  # the piece(s), in the pieces' CRS
    epsg: int
    where: str


def _geometry_problems(tasks: list[_GeometryTask], raw_crs: Any, piece_crs: Any, max_reshape: float,
                       max_shift_m: float) -> dict[int, str]:
    """Row index -> the message of each returned geometry moved or reshaped beyond the tolerances.

    Both geometries are projected to the zone in bulk, one zone at a time; the change is the
    symmetric difference over the piece's area, the shift the distance between centroids.
    """
    out: dict[int, str] = {}
    for epsg in sorted({t.epsg for t in tasks}):
        group = [t for t in tasks if t.epsg == epsg]
        zone = CRS.from_epsg(epsg)
        mine = GeoSeries([t.returned for t in group], crs=raw_crs).to_crs(zone).values
        theirs = GeoSeries([t.target for t in group], crs=piece_crs).to_crs(zone).values
        area = shapely.area(theirs)
        with np.errstate(divide="ignore", invalid="ignore"):
            changed = np.where(area > 0, shapely.area(shapely.symmetric_difference(mine, theirs)) / area,
                               np.inf)
        shift = shapely.distance(shapely.centroid(mine), shapely.centroid(theirs))
        for t, c, d in zip(group, changed, shift):
            if c > max_reshape or d > max_shift_m:
                out[t.index] = (f"geometry moved or reshaped against the patch's {t.where}: "
                                f"{_share(c)} of its area differs (tolerance {_share(max_reshape)}), "
                                f"centroid moved {d:.2f} m (tolerance {_number(max_shift_m)} m)")
    return out


def check_verdicts(
    raw: pd.DataFrame,
    pieces: GeoDataFrame,
    *,
    effects: Mapping[str, str] | None = None,
    zones: Mapping[str, int] | None = None,
    max_reshape: float = DEFAULT_MAX_RESHAPE,
    max_shift_m: float = DEFAULT_MAX_SHIFT_M,
) -> tuple[pd.DataFrame, list[Problem]]:
    """Check the rows read from the returned files against the run's pieces.

    Parameters
    ----------
    raw : pandas.DataFrame or geopandas.GeoDataFrame
        One row per returned row, in file order: ``source_file`` (as shown in
        messages), ``row`` (1-based), optional ``package_county`` (the county a
        package zip is named for, or None), the fields of
        :data:`~overlay.contracts.VERDICT_FILE_FIELDS` found (raw cell values;
        absent columns count as empty) and, when the files had geometry, a
        ``geometry`` column (None where absent) in ``raw.crs``.
    pieces : geopandas.GeoDataFrame
        The run's pieces (``patch_id``, ``county_code``, ``farmland_m2``, geometry).
    effects : mapping, optional
        Verdict code -> effect (:func:`resolve_effects`); a WFMJ is allowed only with
        a verdict whose effect is ``illegal``.
    zones : mapping, optional
        County code -> EPSG of its Gauss-Krüger zone, where geometries are compared
        (default: the zone of the county's pieces).
    max_reshape, max_shift_m : float
        Geometry tolerances: symmetric difference / piece area, and centroid distance (m).

    Returns
    -------
    (pandas.DataFrame, list of Problem)
        The checked rows without problems (:data:`~overlay.contracts.VERDICT_COLUMNS`)
        and every problem, in file and row order (a conflict is reported on the later
        row).
    """
    effect_of = resolve_effects(effects)
    by_jcbh = _pieces_by_jcbh(pieces)
    codes = pieces["county_code"].astype(str).to_numpy()
    farmland = pieces["farmland_m2"].to_numpy(dtype=float)
    zone_of = _zones(pieces, zones) if "geometry" in raw.columns else {}
    raw_crs = getattr(raw, "crs", None) or CRS.from_epsg(CGCS2000_GEOGRAPHIC)
    claimed: dict[tuple[str, str], tuple[tuple[str, float | None], str, int]] = {}
    problems: list[Problem] = []
    records: list[dict] = []
    rows: list[tuple] = []  # what the first pass found of each row
    tasks: list[_GeometryTask] = []

    def cell(rec: Mapping[str, Any], name: str) -> Any:
        return rec.get(name) if name in rec else None

    for rec in raw.to_dict("records"):
        file, row = str(rec["source_file"]), int(rec["row"])
        found: list[str] = []
        jcbh: str | None = None
        try:
            jcbh = _code_text(cell(rec, "JCBH"), "JCBH") if not _blank(cell(rec, "JCBH")) else None
        except ValueError as exc:
            found.append(str(exc))
        if jcbh is None and not found:
            found.append("no JCBH")

        verdict = None
        try:
            verdict = verdict_of(cell(rec, "PDLX"))
        except ValueError as exc:
            found.append(str(exc))
        wfmj = math.nan
        try:
            wfmj = _area(cell(rec, "WFMJ"))
        except ValueError as exc:
            found.append(str(exc))
        rectification = None
        try:
            rectification = rectification_of(cell(rec, "ZGZT"))
        except ValueError as exc:
            found.append(str(exc))
        verified_on = None
        try:
            verified_on = _date(cell(rec, "HCRQ"))
        except ValueError as exc:
            found.append(str(exc))
        xzqdm = None
        if not _blank(cell(rec, "XZQDM")):
            try:
                xzqdm = _code_text(cell(rec, "XZQDM"), "XZQDM")
                if not _COUNTY_CODE.match(xzqdm):
                    raise ValueError(f"XZQDM {xzqdm!r} is not a 6-digit county code")
            except ValueError as exc:
                xzqdm = None
                found.append(str(exc))
        effect = effect_of[verdict.code] if verdict is not None else EFFECT_UNVERIFIED
        if not math.isnan(wfmj) and effect != EFFECT_ILLEGAL:
            said = f"PDLX {verdict.label_zh}" if verdict is not None else "PDLX empty"
            found.append(f"WFMJ {_m2(wfmj)} given with {said}: WFMJ is the illegal area of a "
                         "verdict counted as illegal")

        targets: list[int] = []
        package = rec.get("package_county")
        package = None if _blank(package) else str(package)
        county = xzqdm or package
        if jcbh is not None and jcbh not in by_jcbh:
            found.append("no patch of this run has this JCBH")
        elif jcbh is not None:
            mine = by_jcbh[jcbh]
            counties = sorted({codes[i] for i in mine})
            lies = f"county {counties[0]}" if len(counties) == 1 else f"counties {', '.join(counties)}"
            if xzqdm is not None and xzqdm not in counties:
                found.append(f"XZQDM {xzqdm} is not the patch's county (it lies in {lies})")
            elif package is not None and package not in counties:
                found.append(f"patch of {lies} in the package of county {package}")
            elif package is not None and xzqdm is not None and xzqdm != package:
                found.append(f"XZQDM {xzqdm} in the package of county {package}")
            else:
                targets = [i for i in mine if county is None or codes[i] == county]
                if not math.isnan(wfmj) and len(targets) > 1:
                    found.append(f"WFMJ given for a patch in {lies}: give XZQDM to say which "
                                 "piece it is for")
                elif not math.isnan(wfmj):
                    part = farmland[targets[0]]
                    allowed = part + WFMJ_TOLERANCE_M2 + WFMJ_TOLERANCE_SHARE * part
                    if wfmj > allowed:
                        found.append(f"WFMJ {_m2(wfmj)} is larger than the patch's farmland part "
                                     f"{_m2(part)} in county {codes[targets[0]]} (tolerance "
                                     f"{_m2(allowed - part)})")
                geom = rec.get("geometry")
                if targets and geom is not None and not _blank(geom) and not geom.is_empty:
                    poly = _polygonal(geom)
                    if poly is None:
                        found.append(f"geometry is a {geom.geom_type}, not a polygon")
                    else:
                        first = min(codes[i] for i in targets)
                        where = (f"piece in {first}" if len(targets) == 1
                                 else f"pieces in {', '.join(sorted({codes[i] for i in targets}))}")
                        tasks.append(_GeometryTask(
                            len(rows), poly, shapely.union_all(pieces.geometry.values[targets]),
                            zone_of[first], where))
        rows.append((rec, file, row, jcbh, found, verdict, wfmj, rectification, verified_on, county,
                     targets))

    moved = _geometry_problems(tasks, raw_crs, pieces.crs, max_reshape, max_shift_m)
    for index, (rec, file, row, jcbh, found, verdict, wfmj, rectification, verified_on, county,
                targets) in enumerate(rows):
        if index in moved:
            found.append(moved[index])
        if not found and verdict is not None:
            said = verdict.label_zh + ("" if math.isnan(wfmj) else f", WFMJ {_m2(wfmj)}")
            what = (verdict.code, None if math.isnan(wfmj) else round(wfmj, 2))
            for i in targets:
                first = claimed.setdefault((jcbh, codes[i]), (what, said, index))
                if first[0] != what:
                    other = records[first[2]]
                    found.append(f"given twice with different verdicts: {said} here, {first[1]} in "
                                 f"{other['source_file']} row {other['row']}")
                    break
        for message in found:
            problems.append(Problem(file, row, jcbh, message))
        records.append({
            "patch_id": jcbh, "county_code": county,
            "verdict": verdict.code if verdict is not None else None,
            "wfmj_m2": wfmj,
            "rectification": rectification.code if rectification is not None else None,
            "remarks": _text(cell(rec, "HCSM")), "verifier": _text(cell(rec, "HCR")),
            "verified_on": verified_on, "photos": _text(cell(rec, "ZP")),
            "source_file": file, "row": row, "_ok": not found,
        })
    table = pd.DataFrame(records, columns=[*VERDICT_COLUMNS, "_ok"], dtype=object)  # None stays None
    table = table[table["_ok"].astype(bool)].drop(columns="_ok").reset_index(drop=True)
    table["wfmj_m2"] = table["wfmj_m2"].astype(float)
    table["row"] = table["row"].astype(np.int64)
    return table, problems


# --------------------------------------------------------------------------------- apply

def _said(rec: Mapping[str, Any]) -> tuple[str, float | None]:
    """What a verdict row says: its verdict and its WFMJ (to the DBF's 2 decimals)."""
    wfmj = float(rec["wfmj_m2"])
    return str(rec["verdict"]), None if math.isnan(wfmj) else round(wfmj, 2)


def _assignments(pieces: pd.DataFrame, verdicts: pd.DataFrame) -> list[dict | None]:
    """For each piece, the verdict row that decides it (the first with a verdict, else the first
    row at all), or None; ValueError for a row no piece matches or conflicting verdicts."""
    by_jcbh = _pieces_by_jcbh(pieces)
    codes = pieces["county_code"].astype(str).to_numpy()
    chosen: list[dict | None] = [None] * len(pieces)
    for rec in verdicts.to_dict("records"):
        jcbh = str(rec["patch_id"])
        county = None if _blank(rec.get("county_code")) else str(rec["county_code"])
        targets = [i for i in by_jcbh.get(jcbh, []) if county is None or codes[i] == county]
        if not targets:
            raise ValueError(f"verdict row {rec.get('source_file')} row {rec.get('row')}: no piece "
                             f"({jcbh}, {county}); check the verdicts first (check_verdicts)")
        for i in targets:
            have = chosen[i]
            if have is None or (_blank(have["verdict"]) and not _blank(rec["verdict"])):
                chosen[i] = rec
            elif not _blank(rec["verdict"]) and _said(rec) != _said(have):
                raise ValueError(f"piece ({jcbh}, {codes[i]}) has two different verdicts; check the "
                                 "verdicts first (check_verdicts)")
    return chosen


def apply_verdicts(pieces: GeoDataFrame | pd.DataFrame, verdicts: pd.DataFrame,
                   effects: Mapping[str, str] | None = None) -> GeoDataFrame | pd.DataFrame:
    """The pieces with their verified figures: :data:`~overlay.contracts.VERIFIED_COLUMNS` added.

    Parameters
    ----------
    pieces : DataFrame or GeoDataFrame
        The run's pieces (``patch_id``, ``county_code``, ``farmland_m2``,
        ``legal_farmland_m2``, ``illegal_farmland_m2``); left unchanged.
    verdicts : DataFrame
        The checked verdict table of :func:`check_verdicts` (only the rows without
        problems). A row whose ``county_code`` is None is for every piece of its JCBH.
    effects : mapping, optional
        Verdict code (or PDLX label) -> effect; the contract's defaults otherwise.

    Returns
    -------
    DataFrame or GeoDataFrame
        A copy of ``pieces`` with ``verdict`` (code or None), ``effect``, ``wfmj_m2``,
        ``verified_illegal_farmland_m2``, ``verified_legal_farmland_m2``,
        ``verified_farmland_m2`` (= legal + illegal: the piece's share of the denominator),
        ``counts_as_construction`` (False only for ``not_construction``),
        ``rectification`` (code or None) and ``verdict_source`` (``<file> row <n>`` or
        None). The rules are in the module docstring.

    Raises
    ------
    ValueError
        A verdict row for no piece, or two different verdicts for one piece (what
        :func:`check_verdicts` reports as problems).
    """
    effect_of = resolve_effects(effects)
    chosen = _assignments(pieces, verdicts)
    farmland = pieces["farmland_m2"].to_numpy(dtype=float)
    overlay_illegal = pieces["illegal_farmland_m2"].to_numpy(dtype=float)
    overlay_legal = pieces["legal_farmland_m2"].to_numpy(dtype=float)
    n = len(pieces)
    verdict = [None if c is None or _blank(c["verdict"]) else c["verdict"] for c in chosen]
    effect = np.array([EFFECT_UNVERIFIED if v is None else effect_of[v] for v in verdict], dtype=object)
    wfmj = np.array([math.nan if c is None or _blank(c["verdict"]) else float(c["wfmj_m2"])
                     for c in chosen], dtype=float)
    illegal = overlay_illegal.copy()
    legal = overlay_legal.copy()
    is_illegal = effect == EFFECT_ILLEGAL
    given = is_illegal & ~np.isnan(wfmj)
    illegal[given] = np.minimum(wfmj[given], farmland[given])
    legal[is_illegal] = farmland[is_illegal] - illegal[is_illegal]
    is_legal = effect == EFFECT_LEGAL
    illegal[is_legal], legal[is_legal] = 0.0, farmland[is_legal]
    gone = effect == EFFECT_NOT_CONSTRUCTION
    illegal[gone], legal[gone] = 0.0, 0.0
    out = pieces.copy()
    out["verdict"] = pd.Series(verdict, index=out.index, dtype=object)
    out["effect"] = effect if n else np.array([], dtype=object)
    out["wfmj_m2"] = wfmj
    out["verified_illegal_farmland_m2"] = illegal
    out["verified_legal_farmland_m2"] = legal
    out["verified_farmland_m2"] = illegal + legal
    out["counts_as_construction"] = ~gone
    out["rectification"] = pd.Series([None if c is None else c.get("rectification") for c in chosen],
                                     index=out.index, dtype=object)
    out["verdict_source"] = pd.Series(
        [None if c is None else f"{c['source_file']} row {int(c['row'])}" for c in chosen],
        index=out.index, dtype=object)
    return out


def verification_progress(pieces_verified: pd.DataFrame,
                          counties: pd.DataFrame | None = None) -> pd.DataFrame:
    """How far verification has got, per county (:data:`~overlay.contracts.PROGRESS_COLUMNS`).

    A piece is verified when its verdict's effect is not ``unverified`` (其他, an empty
    PDLX and a piece no row names are unverified). ``complete`` is True when every piece
    of the county is verified: only then are its verified figures decisive. With
    ``counties`` (``county_code``, ``county_name``), every county is listed (one without
    pieces: 0 pieces, share NaN, complete); else only counties with pieces, by code.
    """
    codes = pieces_verified["county_code"].astype(str)
    verified = (pieces_verified["effect"] != EFFECT_UNVERIFIED).to_numpy()
    names = pieces_verified.groupby(codes)["county_name"].first().astype(str) \
        if "county_name" in pieces_verified.columns else pd.Series(dtype=object)
    counts = pd.DataFrame({
        "n_pieces": codes.groupby(codes).size(),
        "n_verified": pd.Series(verified, index=codes.index).groupby(codes).sum(),
    })
    if counties is not None:
        base = pd.DataFrame({"county_code": counties["county_code"].astype(str).to_numpy(),
                             "county_name": counties["county_name"].astype(str).to_numpy()}) \
            .drop_duplicates("county_code")
    else:
        base = pd.DataFrame({"county_code": sorted(counts.index)})
        base["county_name"] = [names.get(c, "") for c in base["county_code"]]
    table = base.merge(counts, left_on="county_code", right_index=True, how="left")
    table[["n_pieces", "n_verified"]] = table[["n_pieces", "n_verified"]].fillna(0).astype(np.int64)
    table["n_unverified"] = table["n_pieces"] - table["n_verified"]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["verified_share"] = np.where(table["n_pieces"] > 0,
                                           table["n_verified"] / table["n_pieces"].clip(lower=1), np.nan)
    table["complete"] = table["n_unverified"] == 0
    return table[list(PROGRESS_COLUMNS)].reset_index(drop=True)

