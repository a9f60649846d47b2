"""The ground truth: per planted patch and county, and per county, computed with plain shapely
from the design geometries (never from the written files).

``truth/truth.gpkg`` holds two layers with the same fields (``truth_id``, ``kind``, ``case``,
``material``, ``area_m2``): ``planted_patches`` (kind ``construction``, what the ratios count
and what ``configs/sample_truth.yaml`` reads) and ``false_changes`` (kind ``false_change``: the
harvested and ploughed fields, greenhouses and water-level changes that a detector must not
report). The scene-wide false changes (shifted date, different sun) are in
``truth/scene_changes.csv``.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import geopandas as gpd
from shapely.geometry.base import BaseGeometry

from samplegen.frame import COUNTIES, PROJECTED_CRS
from samplegen.layout import PIECES_FILE, RATIOS_FILE, SCENE_FILE, TRUTH_FILE
from samplegen.vectors import write_layer

if TYPE_CHECKING:
    from samplegen.false_changes import FalseChange
    from samplegen.patches import Patch

__all__ = ["KINDS", "TRUTH_FIELDS", "pieces", "level", "county_ratios", "truth_ids",
           "false_change_ids", "patch_rows", "write_truth", "write_csv"]

#: the values of the ``kind`` field
KINDS = ("construction", "false_change")
#: the fields of both truth layers, before the geometry
TRUTH_FIELDS = ("truth_id", "kind", "case", "material", "area_m2")


def pieces(patches: Sequence[Patch], counties: dict[str, BaseGeometry], farmland: BaseGeometry,
           approved: BaseGeometry) -> list[dict[str, Any]]:
    """One row per (patch, county it touches): areas in m² with plain shapely.

    Parameters
    ----------
    patches : sequence of Patch
    counties : dict of str to shapely geometry
    farmland, approved : shapely geometry
        Unions of the farmland parcels and of the approvals (EPSG:4551).

    Returns
    -------
    list of dict
        ``index`` (into ``patches``), ``county_code``, ``area_m2``, ``farmland_m2``,
        ``illegal_farmland_m2``.
    """
    rows = []
    for index, patch in enumerate(patches):
        for code, county in counties.items():
            piece = patch.geometry.intersection(county)
            if piece.area == 0:
                continue
            on_farmland = piece.intersection(farmland)
            rows.append({"index": index, "county_code": code, "area_m2": piece.area,
                         "farmland_m2": on_farmland.area,
                         "illegal_farmland_m2": on_farmland.difference(approved).area})
    return rows


def level(ratio: float | None) -> str:
    """The county's level for ``ratio`` (reaches 10 % interview, 15 % accountability)."""
    if ratio is None:
        return "no_ratio"
    if ratio >= 0.15:
        return "accountability"
    if ratio >= 0.10:
        return "interview"
    return "none"


def county_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per county: occupied and illegal farmland, ratio ('' when nothing is occupied), level.

    Parameters
    ----------
    rows : list of dict
        From :func:`pieces`.

    Returns
    -------
    list of dict
    """
    out = []
    for code, name in COUNTIES.items():
        mine = [r for r in rows if r["county_code"] == code]
        occupied = sum(r["farmland_m2"] for r in mine)
        illegal = sum(r["illegal_farmland_m2"] for r in mine)
        ratio = illegal / occupied if occupied > 0 else None
        out.append({"county_code": code, "county_name": name,
                    "occupied_farmland_m2": occupied, "illegal_farmland_m2": illegal,
                    "ratio": "" if ratio is None else ratio, "level": level(ratio)})
    return out


def truth_ids(patches: Sequence[Patch]) -> list[str]:
    """``T001``, ``T002``, ... in the patches' order."""
    return [f"T{k:03d}" for k in range(1, len(patches) + 1)]


def false_change_ids(changes: Sequence[FalseChange]) -> list[str]:
    """``F001``, ``F002``, ... in the false changes' order."""
    return [f"F{k:03d}" for k in range(1, len(changes) + 1)]


def patch_rows(patches: Sequence[Patch], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The :func:`pieces` rows with the patch's truth id, case and material."""
    ids = truth_ids(patches)
    return [{"truth_id": ids[r["index"]], "county_code": r["county_code"],
             "case": patches[r["index"]].case, "material": patches[r["index"]].material,
             "area_m2": r["area_m2"], "farmland_m2": r["farmland_m2"],
             "illegal_farmland_m2": r["illegal_farmland_m2"]} for r in rows]


def write_truth(out_dir: Path, patches: Sequence[Patch], rows: list[dict[str, Any]],
                ratios: list[dict[str, Any]], changes: Sequence[FalseChange],
                scene_changes: list[dict[str, Any]]) -> dict[str, str]:
    """Write the planted patches, the false changes, the per-piece and the per-county truth.

    Parameters
    ----------
    out_dir : Path
        The sample folder.
    patches : sequence of Patch
    rows : list of dict
        From :func:`pieces`.
    ratios : list of dict
        From :func:`county_ratios`.
    changes : sequence of FalseChange
    scene_changes : list of dict
        ``change``, ``parameter``, ``value``: the scene-wide false changes.

    Returns
    -------
    dict
        ``patches``, ``ratios``, ``patches_by_county``, ``scene_changes``: the written paths.
    """
    planted = gpd.GeoDataFrame(
        {"truth_id": truth_ids(patches), "kind": ["construction"] * len(patches),
         "case": [p.case for p in patches], "material": [p.material for p in patches],
         "area_m2": [round(p.geometry.area, 2) for p in patches]},
        geometry=[p.geometry for p in patches], crs=PROJECTED_CRS)
    false = gpd.GeoDataFrame(
        {"truth_id": false_change_ids(changes), "kind": ["false_change"] * len(changes),
         "case": [c.case for c in changes], "material": [c.material for c in changes],
         "area_m2": [round(c.geometry.area, 2) for c in changes]},
        geometry=[c.geometry for c in changes], crs=PROJECTED_CRS)
    write_layer(planted, out_dir / TRUTH_FILE, "planted_patches")
    write_layer(false, out_dir / TRUTH_FILE, "false_changes", add=True)
    piece_fields = ("truth_id", "county_code", "area_m2", "farmland_m2", "illegal_farmland_m2")
    write_csv(out_dir / PIECES_FILE, piece_fields,
              [{k: r[k] for k in piece_fields} for r in patch_rows(patches, rows)])
    write_csv(out_dir / RATIOS_FILE, tuple(ratios[0]), ratios)
    write_csv(out_dir / SCENE_FILE, ("change", "parameter", "value"), scene_changes)
    return {"patches": str(out_dir / TRUTH_FILE), "ratios": str(out_dir / RATIOS_FILE),
            "patches_by_county": str(out_dir / PIECES_FILE),
            "scene_changes": str(out_dir / SCENE_FILE)}


def write_csv(path: Path, fields: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` as a UTF-8 CSV with the header ``fields``."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)
