"""The run manifest: what went in (with sha256), what came out, versions, counts and timings.

It is what makes a run auditable years later: every input file is named with
its hash, every output too, and the exact config is embedded.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from pipeline.config import RunConfig
from pipeline.layers import LayerReport, layer_files

__all__ = ["sha256_file", "input_files", "model_files", "library_versions", "jsonable", "hashed", "landcheck_version",
           "build_manifest", "write_json"]

_LIBRARIES = ("numpy", "pandas", "rasterio", "geopandas", "shapely", "pyogrio", "pyproj", "dask",
              "distributed", "scikit-image", "scipy", "openpyxl", "matplotlib", "lightgbm",
              "onnxruntime")


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def input_files(config: RunConfig) -> list[tuple[str, Path]]:
    """Every input file of a run with its role (Shapefile sidecars included)."""
    files: list[tuple[str, Path]] = [("config", config.source)]
    for role, layer in (("counties", config.counties), ("farmland", config.farmland),
                        ("basic_farmland", config.basic_farmland), ("approved", config.approved)):
        files += [(role, p) for p in layer_files(layer.path)]
    if config.patches is not None:
        files += [("patches", p) for p in layer_files(config.patches.path)]
    else:
        im = config.imagery
        for role, paths in (("imagery.before", im.before), ("imagery.after", im.after),
                            ("imagery.before_cloud_masks", im.before_cloud_masks),
                            ("imagery.after_cloud_masks", im.after_cloud_masks)):
            files += [(role, p) for p in paths]
        files += model_files(config.detection)
    if config.verdicts is not None:  # returned field verdicts: inputs of the run, hashed, protected
        listed = {p for _, p in files}
        for verdict_file in config.verdicts.files:  # a file listed once per layer is hashed once
            for p in layer_files(verdict_file.path):
                if p not in listed:
                    files.append(("verdicts", p))
                    listed.add(p)
    key_projects = getattr(config, "key_projects", None)
    if key_projects is not None and key_projects.layer is not None:
        files += [("key_projects", p) for p in layer_files(key_projects.layer.path)]
    previous = getattr(config, "previous_run", None)
    if previous is not None:  # last year's output: what this run reads of it
        files += [("previous_run", previous / name) for name in PREVIOUS_RUN_FILES
                  if (previous / name).is_file()]
    return files


PREVIOUS_RUN_FILES: tuple[str, ...] = ("manifest.json", "county_ratios.csv", "patches.gpkg")
"""What a run reads of ``previous_run`` (last year's output folder)."""


def model_files(detection: Any) -> list[tuple[str, Path]]:
    """``(role, path)`` of a configured detector model (and its ``.json`` card): inputs of a run."""
    if detection.model is None:
        return []
    files = [("detection.model", Path(detection.model))]
    card = Path(detection.model).with_suffix(".json")
    if detection.method == "learned" and card.is_file():
        files.append(("detection.model_card", card))
    return files


def library_versions() -> dict[str, str]:
    """Versions of Python, GDAL, PROJ and the libraries the numbers depend on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in ("landcheck",) + _LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    try:
        import rasterio
        import pyproj

        out["gdal"] = rasterio.__gdal_version__
        out["proj"] = pyproj.proj_version_str
    except ImportError:
        pass
    return out


def jsonable(value: Any) -> Any:
    """``value`` with paths, numpy scalars/arrays and NaN turned into plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if value is None or isinstance(value, (str, int)):
        return value
    if value is pd.NA:
        return None
    return str(value)


def landcheck_version() -> str:
    """The installed landcheck version, or ``unknown``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("landcheck")
    except PackageNotFoundError:
        return "unknown"


def hashed(entries: Iterable[tuple[str, Path]], relative_to: Path | None = None,
           known: Mapping[Path, tuple[int, str]] | None = None) -> list[dict]:
    """``role, path, bytes, sha256`` of each file (path shown relative to ``relative_to``);
    ``known``: ``(bytes, sha256)`` of files hashed when they were written (not read again)."""
    out = []
    for role, path in entries:
        shown = path.relative_to(relative_to) if relative_to else path
        size, digest = (known or {}).get(path) or (path.stat().st_size, sha256_file(path))
        out.append({"role": role, "path": str(shown), "bytes": size, "sha256": digest})
    return out


def build_manifest(
    *, config: RunConfig, started: datetime, timings: dict[str, float],
    layer_reports: list[LayerReport], patch_stats: dict, pieces: pd.DataFrame, ratios: pd.DataFrame,
    unassigned: pd.DataFrame, overlaps: pd.DataFrame, outputs: dict[str, Path], staging: Path, scheduler: str | None,
    quality: dict | None = None, extra: Mapping[str, Any] | None = None,
    known_hashes: Mapping[Path, tuple[int, str]] | None = None,
) -> dict:
    """The manifest dict (JSON-ready); ``extra`` adds top-level sections (e.g. ``verification``);
    ``known_hashes``: outputs hashed when written (the county jobs' field packages)."""
    levels = ratios["level"].value_counts().to_dict()
    manifest = {
        "landcheck_manifest": 1,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "scheduler": scheduler or "local"},
        "config_file": str(config.source),
        "config": config.to_dict(),
        "inputs": hashed(input_files(config)),
        "versions": library_versions(),
        "layers": [r.to_dict() for r in layer_reports],
        "patches": patch_stats,
        "counts": {
            "patches": int(pieces["source_id"].nunique()) if len(pieces) else 0,
            "pieces": len(pieces),
            "patches_straddling_counties": int((pieces.groupby("source_id").size() > 1).sum())
            if len(pieces) else 0,
            "counties": len(ratios),
            "counties_by_level": {k: int(v) for k, v in sorted(levels.items())},
            "unassigned_parts": len(unassigned),
            "unassigned_area_m2": float(unassigned["area_m2"].sum()) if len(unassigned) else 0.0,
            "unassigned_source_ids": sorted(unassigned["source_id"].astype(str).unique().tolist())
            if len(unassigned) else [],
            "overlapping_patch_pairs": overlaps.to_dict("records"),
        },
        "totals_m2": {
            "patch_area": float(pieces["area_m2"].sum()) if len(pieces) else 0.0,
            "occupied_farmland": float(ratios["occupied_farmland_m2"].sum()),
            "illegal_farmland": float(ratios["illegal_farmland_m2"].sum()),
        },
        "data_quality": quality or {},
        "timings_s": timings,
        "outputs": hashed(sorted(outputs.items()), relative_to=staging, known=known_hashes),
        **dict(extra or {}),
    }
    return jsonable(manifest)


def write_json(data: dict, path: Path) -> None:
    """Write JSON (UTF-8, Chinese kept readable) via a temp file and rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(jsonable(data), ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)
