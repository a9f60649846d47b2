"""What the inputs needed repairing or looked odd: counted, printed as warnings, written into the
reports' notes and the manifest. Nothing repaired or skipped is silent.
"""
from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from pipeline.layers import LayerReport

__all__ = ["data_quality", "warning_lines"]

ROLE_WORDS = {"counties": "county layer", "farmland": "farmland layer",
              "basic_farmland": "basic-farmland layer", "approved": "approved-land layer",
              "patches": "received patches layer", "key_projects": "key-projects layer"}


def data_quality(layer_reports: Iterable[LayerReport], county_overlaps: pd.DataFrame,
                 patch_overlaps: pd.DataFrame, unassigned: pd.DataFrame, *,
                 verdict_problems: Iterable[str] = (), verdicts_ignored: Iterable[str] = (),
                 key_projects_unknown: Iterable[str] = (),
                 failed_counties: Iterable[dict] = ()) -> dict[str, Any]:
    """A JSON-ready summary of repairs, drops and overlaps (only what is non-zero matters), the
    returned-verdict problems a run ignored (one line each, and the JCBHs left unverified because
    of them), the key-project JCBHs that are no patch of the run, and the counties whose job
    failed (``county_code``, ``county_name``, ``reason``)."""
    layers = [{"role": r.role, "path": r.path, "features": int(r.features),
               "repaired_invalid": int(r.repaired_invalid), "dropped_empty": int(r.dropped_empty)}
              for r in layer_reports]
    return {
        "layers": layers,
        "overlapping_counties": {
            "pairs": int(len(county_overlaps)),
            "area_m2": float(county_overlaps["overlap_m2"].sum()) if len(county_overlaps) else 0.0,
            "list": county_overlaps.to_dict("records"),
        },
        "overlapping_patches": {
            "pairs": int(len(patch_overlaps)),
            "area_m2": float(patch_overlaps["overlap_m2"].sum()) if len(patch_overlaps) else 0.0,
        },
        "unassigned_parts": {
            "parts": int(len(unassigned)),
            "area_m2": float(unassigned["area_m2"].sum()) if len(unassigned) else 0.0,
        },
        "verdict_problems": list(verdict_problems),
        "verdicts_ignored_jcbh": list(verdicts_ignored),
        "key_projects_unknown_jcbh": list(key_projects_unknown),
        "failed_counties": [dict(f) for f in failed_counties],
    }


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def warning_lines(quality: dict[str, Any]) -> list[str]:
    """Short English warnings for the console, one per problem found."""
    lines = []
    for layer in quality["layers"]:
        what = ROLE_WORDS.get(layer["role"], layer["role"])
        parts = []
        if layer["repaired_invalid"]:
            parts.append(_count(layer["repaired_invalid"], "invalid polygon", "invalid polygons")
                         + " repaired (make_valid)")
        if layer["dropped_empty"]:
            parts.append(_count(layer["dropped_empty"], "null or empty geometry",
                                "null or empty geometries") + " dropped")
        if layer["features"] == 0:
            lines.append(f"{what} has no features" + (f" ({', '.join(parts)})" if parts else ""))
        elif parts:
            lines.append(f"{what}: {', '.join(parts)}")
    pairs = quality["overlapping_counties"]
    if pairs["pairs"]:
        lines.append(f"{pairs['pairs']} pair(s) of counties overlap by {pairs['area_m2']:.2f} m² in "
                     "all; each overlap is counted once, in the county with the smaller code")
    pairs = quality["overlapping_patches"]
    if pairs["pairs"]:
        lines.append(f"{pairs['pairs']} pair(s) of patches overlap by {pairs['area_m2']:.2f} m² in "
                     "all; that area counts once per patch (listed in the manifest)")
    parts = quality["unassigned_parts"]
    if parts["parts"]:
        lines.append(f"{parts['parts']} patch part(s), {parts['area_m2']:.2f} m², lie in no county "
                     "of the county layer and are not counted (listed in the manifest)")
    for problem in quality.get("verdict_problems", []):
        lines.append(f"returned verdicts: {problem} (row ignored: the patch stays unverified)")
    for jcbh in quality.get("key_projects_unknown_jcbh", []):
        lines.append(f"key_projects: JCBH {jcbh} is no patch of this run: nothing is deducted for it")
    for f in quality.get("failed_counties", []):
        lines.append(f"county {f['county_code']} {f['county_name']} failed and has no figures: {f['reason']}")
    return lines
