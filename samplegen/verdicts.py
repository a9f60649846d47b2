"""The sample's returned field verdicts and their truth (``make sample``).

From the committed sample and the CURRENT detector: the pieces of ``configs/sample.yaml``
(``pipeline.run.compute_pieces``: detection, overlay, JCBH) are written as field packages with
landcheck's own writer, then filled in the way a field team would, from the planted truth
(``truth/truth.gpkg``):

- a piece mostly over a planted construction: 违法 when the construction occupies farmland
  outside approvals inside the piece (every other one with WFMJ = that true area, m² to 0.01;
  ZGZT cycling 已整改 / 整改中 / 未整改), else 合法;
- a piece over no planted construction (a harvested, ploughed or flooded field the detector
  took for change): 伪变化; over a greenhouse of a facility-agriculture approval: 设施农用地.

Which counties come back how (county codes in order; only counties with pieces):

- the county with the most pieces comes back PARTLY: its last third of rows left empty and one
  row 其他 (待复核): unverified, the county incomplete;
- of the others, the one with the most pieces (ties: smaller code) has ONE BAD ROW: PDLX '违建'
  (not a verdict) on its first row occupying farmland; a run reports and ignores it (that piece
  stays unverified);
- every other county comes back fully filled.

Written into the sample folder:

- ``verdicts/<county code>.zip``: the returned packages (the Shapefile only, byte-reproducible);
- ``vectors/key_projects.gpkg``: one key project (a provincial key project around the largest
  verified illegal construction of a fully verified county, 10 m around the planted outline);
- ``truth/verified_patches.csv``: every piece's verdict as written and its expected decisive
  illegal / occupied farmland;
- ``truth/verified_ratios.csv``: the expected decisive figures per county, computed here by plain
  arithmetic from the rules of ../shared/domain.md (not with ``overlay.verdicts``), with the
  sample's severe-impact county (:data:`SEVERE_IMPACT`).

Retraining the detector changes the pieces and their JCBH: rerun ``make sample`` (or
``python -m samplegen data/sample_tiles --config-dir configs --verdicts-only``);
``tests/samplegen/test_verdicts.py`` fails while the folder is stale.
"""
from __future__ import annotations

import csv
import math
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import fiona
import geopandas as gpd
import pandas as pd
import shapely
import yaml
from pyproj import CRS

from samplegen.layout import APPROVED_FILE, FARMLAND_FILE, TRUTH_FILE
from samplegen.vectors import write_layer

__all__ = ["VERDICTS_DIR", "KEY_PROJECTS_FILE", "VERIFIED_RATIOS_FILE", "VERIFIED_PATCHES_FILE",
           "SEVERE_IMPACT", "BAD_PDLX", "make_sample_verdicts"]

VERDICTS_DIR = Path("verdicts")
KEY_PROJECTS_FILE = Path("vectors") / "key_projects.gpkg"
VERIFIED_RATIOS_FILE = Path("truth") / "verified_ratios.csv"
VERIFIED_PATCHES_FILE = Path("truth") / "verified_patches.csv"
SEVERE_IMPACT = {"county_code": "220211",
                 "reason": "样例：违法占地建设经媒体曝光，造成恶劣社会影响"}
"""The sample's severe-impact county (``severe_impact:`` of configs/sample.yaml)."""
BAD_PDLX = "违建"
"""The one bad row's PDLX: not a verdict."""

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_DBF_DATE = "1980-01-01"
_RECTIFICATIONS = ("已整改", "整改中", "未整改")
_INTERVIEW, _ACCOUNTABILITY = 0.10, 0.15
_KEY_BUFFER_M = 10.0
_MIN_SHARE = 0.5


def _detect_config(config_path: Path):
    """configs/sample.yaml without the sections this step writes (they may be stale or missing)."""
    from pipeline.config import parse_config

    data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    for key in ("verdicts", "key_projects", "severe_impact", "previous_run"):
        data.pop(key, None)
    return parse_config(data, config_path)


def _verdict_of_piece(geom: shapely.Geometry, planted: gpd.GeoDataFrame, false: gpd.GeoDataFrame,
                      farmland: shapely.Geometry, approved: shapely.Geometry) -> dict[str, Any]:
    """What a field team finds at a piece (geometries in one projected CRS)."""
    area = geom.area
    overlaps = shapely.area(shapely.intersection(planted.geometry.values, geom))
    best = int(overlaps.argmax()) if len(overlaps) else -1
    if best >= 0 and overlaps[best] > 0.1 * area:
        site = planted.iloc[best]
        true_illegal = shapely.intersection(shapely.intersection(geom, site.geometry), farmland)
        true_illegal = shapely.difference(true_illegal, approved).area
        if true_illegal > 1.0:
            return {"PDLX": "违法", "basis": site.truth_id, "true_illegal": true_illegal}
        return {"PDLX": "合法", "basis": site.truth_id, "true_illegal": 0.0}
    f_overlaps = shapely.area(shapely.intersection(false.geometry.values, geom))
    basis, verdict = "", "伪变化"
    if len(f_overlaps) and f_overlaps.max() > 0:
        change = false.iloc[int(f_overlaps.argmax())]
        basis = change.truth_id
        if change.case == "greenhouse":
            verdict = "设施农用地"
    return {"PDLX": verdict, "basis": basis, "true_illegal": 0.0}


def _plan(pieces: gpd.GeoDataFrame, sample_dir: Path) -> pd.DataFrame:
    """Every piece with what comes back for it (PDLX as written, WFMJ, ZGZT, ...)."""
    crs = CRS.from_user_input(pieces.crs)
    planted = gpd.read_file(sample_dir / TRUTH_FILE, layer="planted_patches").to_crs(crs)
    false = gpd.read_file(sample_dir / TRUTH_FILE, layer="false_changes").to_crs(crs)
    farmland = shapely.union_all(gpd.read_file(sample_dir / FARMLAND_FILE).to_crs(crs).geometry.values)
    approved = shapely.union_all(gpd.read_file(sample_dir / APPROVED_FILE).to_crs(crs).geometry.values)
    rows = []
    for piece in pieces.sort_values(["county_code", "patch_id"], kind="stable").itertuples(index=False):
        found = _verdict_of_piece(piece.geometry, planted, false, farmland, approved)
        rows.append({"JCBH": piece.patch_id, "XZQDM": piece.county_code, "XZQMC": piece.county_name,
                     "farmland_m2": float(piece.farmland_m2),
                     "illegal_farmland_m2": float(piece.illegal_farmland_m2), **found})
    plan = pd.DataFrame(rows)
    counts = plan.groupby("XZQDM").size()
    order = sorted(counts.index, key=lambda c: (-int(counts[c]), c))
    partly = order[0]
    bad = next((c for c in order[1:] if counts[c] >= 2), None)
    plan["returned"] = "full"
    plan.loc[plan.XZQDM == partly, "returned"] = "partly"
    if bad is not None:
        plan.loc[plan.XZQDM == bad, "returned"] = "bad_row"
    plan["written"] = plan["PDLX"]
    plan["WFMJ"] = math.nan
    plan["ZGZT"] = ""
    plan["HCSM"] = ""
    n_illegal = 0
    for i in plan.index:
        if plan.at[i, "PDLX"] == "违法":
            if n_illegal % 2 == 0:
                plan.at[i, "WFMJ"] = round(float(plan.at[i, "true_illegal"]), 2)
            plan.at[i, "ZGZT"] = _RECTIFICATIONS[n_illegal % 3]
            n_illegal += 1
    part = plan.index[plan.XZQDM == partly]
    keep = math.ceil(2 * len(part) / 3)
    plan.loc[part[keep:], "written"] = ""
    plan.loc[part[keep:], ["ZGZT"]] = ""
    plan.loc[part[keep:], "WFMJ"] = math.nan
    if keep >= 1:
        plan.at[part[keep - 1], "written"] = "其他"
        plan.at[part[keep - 1], "HCSM"] = "待复核"
        plan.at[part[keep - 1], "WFMJ"] = math.nan
        plan.at[part[keep - 1], "ZGZT"] = ""
    if bad is not None:  # on a piece that occupies farmland where there is one, so that it matters
        rows_bad = plan.index[plan.XZQDM == bad]
        on_farmland = [i for i in rows_bad if plan.at[i, "farmland_m2"] > 0]
        first = (on_farmland or list(rows_bad))[0]
        plan.at[first, "written"] = BAD_PDLX
        plan.at[first, "WFMJ"] = math.nan
        plan.at[first, "ZGZT"] = ""
    return plan


def _expected(plan: pd.DataFrame) -> pd.DataFrame:
    """Each piece's decisive illegal and occupied farmland, by the rules of ../shared/domain.md."""
    illegal, occupied, verified = [], [], []
    for row in plan.itertuples(index=False):
        said = row.written
        if said == "违法":
            # WFMJ (2 decimals) counts, capped at the piece's farmland part
            illegal.append(min(row.WFMJ, row.farmland_m2) if not math.isnan(row.WFMJ)
                           else row.illegal_farmland_m2)
            occupied.append(row.farmland_m2)
            verified.append(True)
        elif said == "合法":
            illegal.append(0.0)
            occupied.append(row.farmland_m2)
            verified.append(True)
        elif said in ("伪变化", "设施农用地", "临时用地"):
            illegal.append(0.0)
            occupied.append(0.0)
            verified.append(True)
        else:  # 其他, empty, or the bad row: the overlay's figure stands
            illegal.append(row.illegal_farmland_m2)
            occupied.append(row.farmland_m2)
            verified.append(False)
    out = plan.copy()
    out["expected_illegal_m2"] = illegal
    out["expected_occupied_m2"] = occupied
    out["verified"] = verified
    return out


def _level(ratio: float) -> str:
    if math.isnan(ratio):
        return "no_ratio"
    if ratio >= _ACCOUNTABILITY:
        return "accountability"
    if ratio >= _INTERVIEW:
        return "interview"
    return "none"


def _write_package(source_zip: Path, rows: pd.DataFrame, target: Path) -> None:
    """The package's Shapefile with the verdicts filled in, zipped alone as ``target``."""
    with tempfile.TemporaryDirectory() as work:
        with zipfile.ZipFile(source_zip) as zf:
            shp_name = next(n for n in zf.namelist() if n.endswith(".shp"))
            stem = shp_name[:-4]
            for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                zf.extract(stem + suffix, work)
        src_path = Path(work) / shp_name
        out_dir = Path(work) / "filled"
        out_dir.mkdir()
        by_jcbh = rows.set_index("JCBH")
        with fiona.open(src_path, encoding="utf-8") as src:
            meta = src.meta
            records = []
            for feature in src:
                props = dict(feature["properties"])
                row = by_jcbh.loc[props["JCBH"]]
                if row["written"]:
                    props["PDLX"] = row["written"]
                    props["HCR"] = "样例核查员"
                    props["HCRQ"] = "2025-11-10"
                    props["HCSM"] = row["HCSM"] or "现场核查"
                if not math.isnan(row["WFMJ"]):
                    props["WFMJ"] = float(row["WFMJ"])
                if row["ZGZT"]:
                    props["ZGZT"] = row["ZGZT"]
                records.append(fiona.Feature(geometry=feature.geometry,
                                             properties=fiona.Properties.from_dict(props)))
        out_shp = out_dir / shp_name
        with fiona.open(out_shp, "w", encoding="utf-8", DBF_DATE_LAST_UPDATE=_DBF_DATE, **meta) as dst:
            dst.writerecords(records)
        (out_dir / f"{stem}.cpg").write_text("UTF-8", encoding="ascii")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        with zipfile.ZipFile(tmp, "w") as zf:
            for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                info = zipfile.ZipInfo(stem + suffix, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3
                info.external_attr = 0o644 << 16
                zf.writestr(info, (out_dir / (stem + suffix)).read_bytes())
        tmp.replace(target)


def _key_project(plan: pd.DataFrame, pieces: gpd.GeoDataFrame, sample_dir: Path) -> gpd.GeoDataFrame:
    """One key project: around the planted site of the largest verified illegal piece of a fully
    returned county (10 m around its outline)."""
    full = plan[(plan.returned == "full") & (plan.written == "违法")]
    if not len(full):
        full = plan[plan.written == "违法"]
    crs = CRS.from_user_input(pieces.crs)
    planted = gpd.read_file(sample_dir / TRUTH_FILE, layer="planted_patches").to_crs(crs)
    if not len(full):
        geometry = []
    else:
        chosen = full.sort_values(["expected_illegal_m2", "JCBH"], ascending=[False, True]).iloc[0]
        site = planted.set_index("truth_id").loc[chosen.basis].geometry
        geometry = [site.buffer(_KEY_BUFFER_M, join_style="mitre")]
    return gpd.GeoDataFrame({"XMMC": ["样例省重点项目（道路工程）"][:len(geometry)],
                             "XMLX": ["省级重点项目"][:len(geometry)]}, geometry=geometry, crs=crs)


def _key_flags(pieces: gpd.GeoDataFrame, key: gpd.GeoDataFrame) -> dict[str, bool]:
    """Piece (JCBH, county) -> more than half of its area inside the key project."""
    inside = shapely.union_all(key.to_crs(pieces.crs).geometry.values) if len(key) else shapely.Polygon()
    out = {}
    for piece in pieces.itertuples(index=False):
        area = piece.geometry.area
        out[(piece.patch_id, piece.county_code)] = area > 0 and \
            shapely.intersection(piece.geometry, inside).area / area > _MIN_SHARE
    return out


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, float):
            return repr(value)
        return str(value)

    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(frame.columns)
        for row in frame.itertuples(index=False, name=None):
            writer.writerow([cell(v) for v in row])


README_HEADING = "## Returned field verdicts (generated by samplegen.verdicts)"


def _readme_section(ratios: pd.DataFrame) -> str:
    """The README section on the returned verdicts, with the expected decisive figures."""
    def pct(v: float) -> str:
        return "—" if math.isnan(v) else f"{100 * v:.2f} %"

    lines = [
        README_HEADING, "",
        "`verdicts/<county>.zip` are the field packages of the CURRENT detector's patches "
        "(`configs/sample.yaml`) as a field team sends them back, filled in from the planted truth: a "
        "patch over a planted construction that occupies farmland outside approvals is 违法 (every "
        "other one with WFMJ, the true illegal area; ZGZT cycling 已整改 / 整改中 / 未整改), one over "
        "other planted construction 合法, one over a harvested, ploughed or flooded field 伪变化, over a "
        "greenhouse 设施农用地. The county with the most patches comes back partly (its last third "
        "empty, one row 其他), the next one has one bad row (PDLX '违建', reported and ignored by a "
        "run), the others are complete. `vectors/key_projects.gpkg` is one key project (10 m around a "
        "verified illegal construction); 220211 is flagged for severe impact in the config. The "
        "expected figures (`truth/verified_ratios.csv`, per patch `truth/verified_patches.csv`) are "
        "computed by plain arithmetic from the rules, not with landcheck. Regenerate after retraining "
        "the detector: `make sample`.", "",
        "| county | returned | verified | suspected ratio | decisive ratio | level | after deduction |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in ratios.itertuples(index=False):
        lines.append(f"| {row.county_code} {row.county_name} | {row.returned} | {row.n_verified}/{row.n_pieces} "
                     f"| {pct(row.suspected_ratio)} | {pct(row.ratio)} | {row.level} ({row.level_reason}) "
                     f"| {pct(row.after_deduction_ratio)} |")
    return "\n".join(lines) + "\n"


def _update_readme(sample_dir: Path, section: str) -> None:
    """Replace (or add) the verdicts section at the end of the sample's README."""
    path = sample_dir / "README.md"
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    if README_HEADING in text:
        text = text[:text.index(README_HEADING)].rstrip("\n") + "\n"
    path.write_text(f"{text.rstrip(chr(10))}\n\n{section}", encoding="utf-8")


def make_sample_verdicts(sample_dir: Path, config_path: Path) -> dict:
    """Write the returned verdicts, the key project and their truth into ``sample_dir``.

    Parameters
    ----------
    sample_dir : Path
        The sample folder (``data/sample_tiles``).
    config_path : Path
        The detect config pointing at it (``configs/sample.yaml``); its ``verdicts``,
        ``key_projects``, ``severe_impact`` and ``previous_run`` are ignored.

    Returns
    -------
    dict
        ``packages`` (county code -> zip), ``returned`` (county code -> full | partly | bad_row)
        and ``levels`` (expected decisive level per county).
    """
    from overlay.crs import zone_epsg_for_geometries
    from pipeline.run import compute_pieces
    from reports.field_package import write_field_packages

    sample_dir = Path(sample_dir)
    config = _detect_config(Path(config_path))
    pieces, counties = compute_pieces(config)
    plan = _expected(_plan(pieces, sample_dir))
    zones = dict(zip(counties["county_code"], zone_epsg_for_geometries(counties)))
    folder = sample_dir / VERDICTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.zip"):
        old.unlink()
    packages = {}
    with tempfile.TemporaryDirectory() as work:
        sent = write_field_packages(pieces, work, county_crs={k: CRS.from_epsg(int(v)) for k, v in zones.items()})
        for code, zip_path in sent.items():
            packages[code] = folder / f"{code}.zip"
            _write_package(zip_path, plan[plan.XZQDM == code], packages[code])

    key = _key_project(plan, pieces, sample_dir)
    write_layer(key, sample_dir / KEY_PROJECTS_FILE, "key_projects")  # pinned timestamps
    flags = _key_flags(pieces, key)
    plan["key_project"] = [flags[(j, c)] for j, c in zip(plan.JCBH, plan.XZQDM)]

    patches = plan[["JCBH", "XZQDM", "returned", "basis", "written", "WFMJ", "ZGZT", "farmland_m2",
                    "illegal_farmland_m2", "verified", "expected_occupied_m2", "expected_illegal_m2",
                    "key_project"]].rename(columns={"written": "PDLX", "basis": "truth_id"})
    _write_csv(sample_dir / VERIFIED_PATCHES_FILE, patches)

    names = dict(zip(counties["county_code"].astype(str), counties["county_name"].astype(str)))
    rows = []
    for code in sorted(names):
        part = plan[plan.XZQDM == code]
        occupied = float(part.expected_occupied_m2.sum())
        illegal = float(part.expected_illegal_m2.sum())
        key_illegal = float(part.loc[part.key_project, "expected_illegal_m2"].sum())
        s_occupied, s_illegal = float(part.farmland_m2.sum()), float(part.illegal_farmland_m2.sum())
        ratio = illegal / occupied if occupied > 0 else math.nan
        suspected = s_illegal / s_occupied if s_occupied > 0 else math.nan
        level = _level(ratio)
        reason = "ratio"
        if code == SEVERE_IMPACT["county_code"]:
            level, reason = "accountability", "severe_impact"
        rows.append({
            "county_code": code, "county_name": names[code],
            "returned": part.returned.iloc[0] if len(part) else "",
            "n_pieces": len(part), "n_verified": int(part.verified.sum()),
            "complete": bool(part.verified.all()),
            "suspected_ratio": suspected, "suspected_level": _level(suspected),
            "occupied_farmland_m2": occupied, "illegal_farmland_m2": illegal,
            "ratio": ratio, "level": level, "level_reason": reason,
            "key_project_illegal_m2": key_illegal,
            "after_deduction_ratio": (illegal - key_illegal) / occupied if occupied > 0 else math.nan,
        })
    ratios = pd.DataFrame(rows)
    _write_csv(sample_dir / VERIFIED_RATIOS_FILE, ratios)
    _update_readme(sample_dir, _readme_section(ratios))
    return {"packages": {k: str(v) for k, v in packages.items()},
            "returned": dict(zip(ratios.county_code, ratios.returned)),
            "levels": dict(zip(ratios.county_code, ratios.level))}
