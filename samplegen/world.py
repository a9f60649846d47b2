"""The whole sample world in one call: :func:`make_sample`."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from samplegen.counties import default_county_source, projected_counties, read_counties
from samplegen.false_changes import design_false_changes, scene_changes
from samplegen.frame import make_frame, union
from samplegen.landscape import design_landscape
from samplegen.layout import COUNTIES_FILE, prepare_folders
from samplegen.patches import CASES, MATERIALS, plant
from samplegen.raster import write_imagery
from samplegen.readme import readme
from samplegen.scene import design_scene
from samplegen.truth import county_ratios, patch_rows, pieces, write_truth
from samplegen.vectors import write_layer, write_vectors

__all__ = ["make_sample"]


def make_sample(out_dir: Path, *, seed: int = 2025, counties_source: Path | None = None,
                scale: int = 1) -> dict:
    """Write the whole sample world (imagery, vectors, truth, README) into ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Target folder; created if needed. Existing tiles in its imagery folders are removed so
        a smaller world never inherits stale tiles.
    seed : int, optional
        Seed of the single random generator; the same seed gives identical arrays and vectors.
    counties_source : Path or None, optional
        County boundaries: the shared ``china_counties_wgs84.gpkg`` (fields ``adcode``,
        ``district``) or a copy written by this function (``XZQDM``, ``XZQMC``). Default: the
        shared file beside the repository if present, else the committed copy in
        ``data/sample_tiles/vectors/counties.gpkg``.
    scale : int, optional
        1 = the committed sample (3.2 km x 1.8 km, 2 x 2 tiles per date). ``n`` multiplies the
        window's sides by ``n``, the tiles per side by ``n`` and the planted cases by ``n**2``.

    Returns
    -------
    dict
        ``out_dir``, ``seed``, ``scale``, ``window`` (EPSG:4551 bounds), the written paths
        (``before_tiles``, ``after_tiles``, ``cloud_masks``, ``vectors``, ``truth``), ``n_patches``,
        ``cases`` (count per case), ``materials`` (count per material), ``false_changes``
        (count per false-change case) and ``levels`` (truth level per county code).

    Raises
    ------
    InputFileError
        No county boundaries found.
    BadVectorError
        The county source lacks a field or one of the four counties.
    ValueError
        ``scale`` is below 1.
    """
    if scale < 1:
        raise ValueError(f"scale must be at least 1, got {scale}")
    out_dir = Path(out_dir)
    counties_geo = read_counties(counties_source or default_county_source())
    rng = np.random.default_rng(seed)
    frame = make_frame(scale)
    prepare_folders(out_dir)
    counties_path = out_dir / COUNTIES_FILE
    write_layer(counties_geo, counties_path, "counties")
    counties = projected_counties(counties_path)

    landscape = design_landscape(frame, counties, rng)
    scene = design_scene(frame, scale, rng)
    patches, approvals = plant(landscape, scene, counties, scale, rng)
    false = design_false_changes(frame, landscape, scene, counties, patches, approvals, scale, rng)
    approvals = approvals + list(false.approvals)

    tiles = write_imagery(out_dir, frame, landscape, scene, patches, false.overlays, rng, scale)
    vectors = write_vectors(out_dir, landscape, approvals)
    rows = pieces(patches, counties, landscape.farmland, union(a.geometry for a in approvals))
    ratios = county_ratios(rows)
    truth = write_truth(out_dir, patches, rows, ratios, false.changes, scene_changes())
    summary = {
        "out_dir": str(out_dir), "seed": seed, "scale": scale,
        "window": (frame.west, frame.south, frame.east, frame.north),
        **tiles, "vectors": {"counties": str(counties_path), **vectors}, "truth": truth,
        "n_patches": len(patches),
        "cases": {case: sum(p.case == case for p in patches) for case in CASES},
        "materials": {m: sum(p.material == m for p in patches) for m in MATERIALS},
        "false_changes": dict(Counter(c.case for c in false.changes)),
        "levels": {r["county_code"]: r["level"] for r in ratios},
    }
    (out_dir / "README.md").write_text(readme(summary, ratios, patch_rows(patches, rows)),
                                       encoding="utf-8")
    return summary
