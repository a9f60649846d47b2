"""``landcheck train``: fit the learned detector from labelled pairs and from verified runs.

Sources (combinable)
--------------------
* **labelled pairs** (``--pairs DIR``): a folder in the LEVIR-CD layout, ``A/`` (before),
  ``B/`` (after) and ``label/`` (255 = change) PNGs of the same names and sizes, at the pixel
  size given (PNGs carry none). Read by :func:`detection.training.read_pair_folder` after the
  layout is checked here (:func:`read_pairs`); sampled by
  :func:`detection.training.training_matrix` (several pixel sizes, augmentation).
* **a verified run** (``--from-run DIR``): the output folder of a ``landcheck run`` (its
  ``manifest.json`` names the config and the imagery with their sha256, ``patches.gpkg`` holds
  the pieces with their JCBH) plus the verdict files that came back from the field (``--verdicts``,
  or the run config's ``verdicts:`` section; with several runs, each ``--verdicts`` row goes to the
  run holding its JCBH, :func:`read_runs`). The verdicts are read and checked as for a run
  (:mod:`pipeline.verdicts`, read-only use) and turned into pixels by
  :mod:`detection.verdict_labels`: 合法 / 违法 positive, 伪变化 hard negative, background sparse,
  the rest not used. The imagery is read block by block around the verdict patches (and a few
  blocks elsewhere for background), prepared exactly as at detection time (the scene's
  standardisation and shift).
* **a base model** (``--base MODEL``): training continues from it (LightGBM ``init_model``),
  with its feature scales; its thresholds are kept unless given.

The output is a LightGBM model ``OUT.txt`` with its card ``OUT.json`` (what ``detection.model``
needs) and ``OUT.md``. Each is written to a temporary file and renamed into place; an existing
file is replaced only with ``overwrite`` and only when it is a landcheck model, and never an
input.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from detection.training import LabelledPair, TrainingSettings
from pipeline.errors import BadRasterError, ConfigError, InputFileError, OutputError

__all__ = ["RunSource", "TrainResult", "read_pairs", "read_run", "read_runs", "run_samples", "check_model_output",
           "train"]

Log = Callable[[str], None]
#: pixels sampled for the scene statistics of a run's imagery (as ``pipeline.detect``)
SAMPLE_TARGET = 250_000


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- labelled pairs
def read_pairs(folder: Path, pixel_size_m: float) -> list[LabelledPair]:
    """The labelled pairs of a LEVIR-CD style folder, the layout checked first.

    Raises
    ------
    InputFileError
        The folder, ``A/``, ``B/`` or ``label/`` is missing, a label has no image of the same
        name in ``A/`` or ``B/``, a file cannot be read, or the three of a pair differ in size.
    """
    from PIL import Image, UnidentifiedImageError

    from detection.training import read_pair_folder

    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(folder, "labelled pair folder not found" if not folder.exists()
                             else "is a file, not a labelled pair folder (A/, B/, label/)")
    for sub in ("A", "B", "label"):
        if not (folder / sub).is_dir():
            raise InputFileError(folder, f"has no {sub}/ folder: a labelled pair folder holds A/ (before), "
                                         "B/ (after) and label/ (255 = change) PNGs of the same names")
    labels = sorted((folder / "label").glob("*.png"))
    if not labels:
        raise InputFileError(folder / "label", "holds no .png label")
    for lab in labels:
        sizes = {}
        for sub in ("A", "B", "label"):
            path = folder / sub / lab.name
            if not path.is_file():
                raise InputFileError(path, f"missing: the label {lab.name} has no {'before' if sub == 'A' else 'after'} "
                                           "image of the same name")
            try:
                with Image.open(path) as im:
                    sizes[sub] = (im.width, im.height, len(im.getbands()))
            except (UnidentifiedImageError, OSError) as exc:
                raise InputFileError(path, f"cannot be read as an image ({type(exc).__name__})") from None
        if len({s[:2] for s in sizes.values()}) != 1:
            shown = ", ".join(f"{k}/ {w} x {h} px" for k, (w, h, _) in sizes.items())
            raise BadRasterError(folder / "label" / lab.name, f"the pair's images differ in size ({shown})")
        for sub in ("A", "B"):
            if sizes[sub][2] < 3:
                raise BadRasterError(folder / sub / lab.name, f"has {sizes[sub][2]} band(s); RGB is needed")
    return read_pair_folder(folder, pixel_size_m=float(pixel_size_m))


# --------------------------------------------------------------------------- verified runs
@dataclass
class RunSource:
    """A verified run, read: its imagery config, pieces with verdict codes, and provenance."""

    folder: Path
    imagery: Any
    pieces: Any  # GeoDataFrame: geometry, patch_id, county_code, verdict
    record: dict[str, Any] = field(default_factory=dict)


def _load_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"cannot be read as JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise InputFileError(path, "is not a landcheck manifest")
    return data


def _verdicts_config(files: Sequence[Path]) -> Any:
    from overlay.verdicts import DEFAULT_MAX_RESHAPE, DEFAULT_MAX_SHIFT_M, resolve_effects
    from pipeline.config import LayerConfig, VerdictsConfig

    for f in files:
        if not Path(f).is_file():
            raise InputFileError(f, "verdict file not found" if not Path(f).exists() else "is a folder, not a verdict file")
    return VerdictsConfig(files=tuple(LayerConfig(Path(f)) for f in files), effects=resolve_effects(None),
                          max_reshape=DEFAULT_MAX_RESHAPE, max_shift_m=DEFAULT_MAX_SHIFT_M)


def _run_manifest(folder: Path) -> tuple[dict, Path, Any]:
    """The manifest, its path and the run's imagery config (as the run used it)."""
    from pipeline.config import parse_detect_config

    if not folder.is_dir():
        raise InputFileError(folder, "run output folder not found" if not folder.exists()
                             else "is a file, not a landcheck run output folder")
    mpath = folder / "manifest.json"
    if not mpath.is_file():
        raise InputFileError(folder, "has no manifest.json: not a landcheck run output folder")
    manifest = _load_json(mpath)
    if not manifest.get("landcheck_manifest"):
        raise InputFileError(mpath, "is not a landcheck manifest")
    if manifest.get("command") == "detect":
        raise InputFileError(folder, "is a 'landcheck detect' output: its patches have no JCBH to match "
                                     "verdicts with; give the output folder of a 'landcheck run'")
    raw = (manifest.get("config") or {}).get("raw")
    source = manifest.get("config_file")
    if not isinstance(raw, dict) or not source:
        raise InputFileError(mpath, "does not record the run's config (config.raw, config_file)")
    if raw.get("patches") is not None:
        raise InputFileError(folder, "is a run on received patches: it has no imagery to learn from")
    try:
        dcfg = parse_detect_config(raw, source)
    except ConfigError as exc:
        raise InputFileError(mpath, f"the run's recorded config is not usable: {exc}") from None
    return manifest, mpath, dcfg.imagery


def _check_hashes(manifest: dict, mpath: Path, roles: tuple[str, ...]) -> list[dict]:
    """Inputs of these roles hashed again and compared with the manifest; their records."""
    from pipeline.manifest import sha256_file

    out = []
    for entry in manifest.get("inputs", []):
        if entry.get("role") not in roles:
            continue
        path = Path(entry["path"])
        if not path.is_file():
            raise InputFileError(path, f"not found: the run ({mpath}) read it")
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            raise InputFileError(path, f"has changed since the run (sha256 differs from {mpath})")
        out.append({"role": entry["role"], "path": str(path), "sha256": digest})
    return out


def _open_run(folder: Path) -> tuple[dict, Path, Any, Any, dict[str, Any]]:
    """A run folder's manifest, its path, imagery config, pieces (no verdicts) and provenance."""
    import geopandas as gpd

    from overlay.contracts import VERIFIED_COLUMNS
    from pipeline.manifest import sha256_file

    manifest, mpath, imagery = _run_manifest(folder)
    images = _check_hashes(manifest, mpath, ("imagery.before", "imagery.after", "imagery.before_cloud_masks",
                                             "imagery.after_cloud_masks"))
    gpkg = folder / "patches.gpkg"
    if not gpkg.is_file():
        raise InputFileError(folder, "has no patches.gpkg: not a complete landcheck run output")
    listed = {o.get("path"): o.get("sha256") for o in manifest.get("outputs", [])}
    digest = sha256_file(gpkg)
    if "patches.gpkg" in listed and listed["patches.gpkg"] != digest:
        raise InputFileError(gpkg, f"has changed since the run (sha256 differs from {mpath})")
    try:
        pieces = gpd.read_file(gpkg, layer="patches", engine="pyogrio")
    except Exception as exc:
        raise InputFileError(gpkg, f"cannot read its 'patches' layer ({type(exc).__name__})") from None
    missing = [c for c in ("patch_id", "county_code", "farmland_m2") if c not in pieces.columns]
    if missing or pieces.crs is None:
        raise InputFileError(gpkg, f"layer 'patches' lacks {', '.join(missing) or 'a CRS'}: not a landcheck run's patches")
    pieces = pieces.drop(columns=[c for c in VERIFIED_COLUMNS if c in pieces.columns])
    for col in ("legal_farmland_m2", "illegal_farmland_m2"):
        if col not in pieces.columns:
            pieces[col] = 0.0
    pieces["county_code"] = pieces["county_code"].astype(str)
    pieces["patch_id"] = pieces["patch_id"].astype(str)
    record = {"kind": "run", "path": str(folder.resolve()), "manifest_sha256": sha256_file(mpath),
              "patches_sha256": digest, "imagery": images}
    return manifest, mpath, imagery, pieces, record


def _source(folder: Path, imagery: Any, pieces: Any, table: Any, verdicts: Any, record: dict) -> RunSource:
    """The run with every piece's verdict code applied, and its provenance completed."""
    from overlay.verdicts import apply_verdicts
    from pipeline.manifest import sha256_file

    verified = apply_verdicts(pieces, table, verdicts.effects)
    record = {**record,
              "verdicts": [{"path": str(Path(f.path).resolve()), "sha256": sha256_file(f.path)} for f in verdicts.files],
              "verdict_counts": {str(k): int(v) for k, v in
                                 verified["verdict"].fillna("none").value_counts().sort_index().items()}}
    return RunSource(folder, imagery, verified[["patch_id", "county_code", "verdict", "geometry"]], record)


def _raise_first(problems: list, where: Path) -> None:
    from pipeline.verdicts import VerdictError

    if problems:
        first, n = problems[0], len(problems)
        detail = first.line()[len(first.file) + 2:]
        raise VerdictError(first.file, f"{detail} ({n} problem{'s' if n > 1 else ''} in the verdicts for "
                                       f"{where})")


def read_run(folder: Path, verdict_files: Sequence[Path] | None = None, *, log: Log = _stderr) -> RunSource:
    """A run output folder with its verdicts: the pieces with a ``verdict`` code each.

    Parameters
    ----------
    folder
        The output folder of a ``landcheck run`` (``manifest.json``, ``patches.gpkg``).
    verdict_files
        Returned verdict files (package zips, GeoPackage, Shapefile, Excel); None = the
        ``verdicts:`` section of the run's config file.

    Raises
    ------
    InputFileError
        The folder is not a run output, its imagery or patches changed since the run, a
        verdict file is unusable or names an unknown JCBH (the first problem, one line).
    ConfigError
        No verdicts at all.
    """
    from pipeline.verdicts import check_verdict_files

    folder = Path(folder)
    manifest, _, imagery, pieces, record = _open_run(folder)
    if verdict_files:
        verdicts = _verdicts_config(verdict_files)
        where = "--verdicts"
    else:
        from pipeline.config import load_config

        cfg = load_config(manifest["config_file"])
        if cfg.verdicts is None:
            raise ConfigError(f"--from-run {folder}: no verdicts: give --verdicts FILE..., or add a "
                              f"'verdicts' section to the run's config {manifest['config_file']}")
        verdicts = cfg.verdicts
        where = f"verdicts of {manifest['config_file']}"
    log(f"train: {folder}: checking {len(verdicts.files)} verdict file(s) ({where}) against "
        f"{len(pieces)} patch pieces")
    result = check_verdict_files(verdicts, pieces)
    _raise_first(result.problems, folder)
    return _source(folder, imagery, pieces, result.table, verdicts, record)


def _jcbh_text(value: Any) -> str | None:
    """A JCBH cell as text for routing (numbers without a fraction as integers); None if blank."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def read_runs(folders: Sequence[Path], verdict_files: Sequence[Path] | None = None, *,
              log: Log = _stderr) -> list[RunSource]:
    """Several runs; the rows of ``verdict_files`` go to the run holding their JCBH.

    Without ``verdict_files`` each run reads its config's ``verdicts`` (:func:`read_run`).
    A row whose JCBH is in no run, or in two of them, stops with one line (exit 3).
    """
    from overlay.verdicts import Problem, check_verdicts
    from pipeline.verdicts import read_verdict_files

    if not verdict_files or len(folders) == 1:
        return [read_run(Path(f), list(verdict_files) if verdict_files else None, log=log) for f in folders]
    verdicts = _verdicts_config(verdict_files)
    opened = [(Path(f),) + _open_run(Path(f)) for f in folders]
    raw, problems = read_verdict_files(verdicts)
    _raise_first(problems, Path(folders[0]))
    owners = [set(o[4]["patch_id"]) for o in opened]
    route = np.full(len(raw), -1)
    problems = []
    for i, rec in enumerate(raw[["source_file", "row", "JCBH"]].itertuples(index=False)):
        jcbh = _jcbh_text(rec.JCBH)
        hits = [k for k, ids in enumerate(owners) if jcbh in ids]
        if len(hits) == 1:
            route[i] = hits[0]
        elif hits:
            problems.append(Problem(rec.source_file, int(rec.row), jcbh,
                                    f"is a patch of {len(hits)} of the runs given "
                                    f"({', '.join(str(opened[k][0]) for k in hits)}): train on them one at a time"))
        elif jcbh is not None:
            problems.append(Problem(rec.source_file, int(rec.row), jcbh, "no patch of the runs given has this JCBH"))
        else:
            route[i] = 0  # no JCBH: the check of the first run reports it
    _raise_first(problems, Path(folders[0]))
    out = []
    for k, (folder, _, _, imagery, pieces, record) in enumerate(opened):
        subset = raw[route == k]
        log(f"train: {folder}: checking {len(subset)} verdict row(s) of --verdicts against {len(pieces)} patch pieces")
        table, problems = check_verdicts(subset, pieces, effects=verdicts.effects,
                                         max_reshape=verdicts.max_reshape, max_shift_m=verdicts.max_shift_m)
        _raise_first(problems, folder)
        out.append(_source(folder, imagery, pieces, table, verdicts, record))
    return out


def run_samples(run: RunSource, spec: Any, sampling: Any, *, log: Log = _stderr
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """Training rows of a verified run (:mod:`detection.verdict_labels`), read block by block.

    Returns
    -------
    X, y, w
        Rows, labels (1 change) and weights.
    counts
        Rows drawn per kind (``positive``, ``hard_negative``, ``background``).
    """
    import dask
    import shapely

    from detection.compose import SceneStats, Settings, _windows, scene_statistics
    from detection.learned import learned_depth
    from detection.normalize import sample_stride
    from detection.register import estimate_shift
    from detection.verdict_labels import (BACKGROUND, HARD_NEGATIVE, KIND_NAMES, POSITIVE, block_features,
                                          block_samples, kind_raster, sample_rates, verdict_kind)
    from pipeline.imagery import open_imagery

    img = open_imagery(run.imagery, 1024)
    grid = img.grid
    px = float(np.sqrt(grid.pixel_area))
    names = tuple(img.band_names)
    rgb = [names.index(b) for b in ("red", "green", "blue")]
    valid = img.data_valid & ~img.cloud
    # scene statistics and shift, as pipeline.detect does
    stride = sample_stride(grid.height, grid.width, SAMPLE_TARGET)
    wins = _windows(grid.shape)
    sb, sa, sv, *win_arrays = dask.compute(
        img.before[:, ::stride, ::stride], img.after[:, ::stride, ::stride], valid[::stride, ::stride],
        *[x[:, r, c] for r, c in wins for x in (img.before, img.after)])
    stats = scene_statistics(Settings(method="learned"), sb[:, sv], sa[:, sv], dtype=img.before_dtype,
                             has_nir="nir" in names)
    shift = estimate_shift(list(win_arrays[0::2]), list(win_arrays[1::2])).applied if wins else (0, 0)
    stats = SceneStats(stats.method, stats.has_nir, stats.params, shift)

    pieces = run.pieces.to_crs(grid.crs)
    kinds = np.array([verdict_kind(v) for v in pieces["verdict"]], dtype=np.uint8)
    geoms = np.asarray(pieces.geometry.values, dtype=object)
    tree = shapely.STRtree(geoms) if len(geoms) else None
    bp = int(sampling.block_px)
    blocks = [(r, c) for r in range(0, grid.height, bp) for c in range(0, grid.width, bp)]

    def box(r0: int, r1: int, c0: int, c1: int):
        t = grid.transform
        (x0, y0), (x1, y1) = t @ (c0, r0), t @ (c1, r1)
        return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    labelled, other = [], []
    for r, c in blocks:
        hits = tree.query(box(r, min(r + bp, grid.height), c, min(c + bp, grid.width)), predicate="intersects") \
            if tree is not None else []
        (labelled if any(kinds[h] in (POSITIVE, HARD_NEGATIVE) for h in hits) else other).append((r, c))
    rng = np.random.default_rng(sampling.seed)
    extra = [other[i] for i in sorted(rng.choice(len(other), min(len(other), sampling.max_background_blocks),
                                                 replace=False))] if other else []
    if len(labelled) > sampling.max_blocks:  # a whole province: a random share of the blocks is enough
        labelled = [labelled[i] for i in sorted(rng.choice(len(labelled), sampling.max_blocks, replace=False))]
    chosen = labelled + extra
    if not labelled:
        raise InputFileError(run.folder, "no verified patch (合法, 违法 or 伪变化) lies on the run's imagery: "
                                         "nothing to learn from")
    # expected pixels per kind, from the areas (the rates need totals before reading)
    areas = np.nan_to_num(shapely.area(geoms) / grid.pixel_area)
    expected = {POSITIVE: int(areas[kinds == POSITIVE].sum()), HARD_NEGATIVE: int(areas[kinds == HARD_NEGATIVE].sum())}
    core_px = sum(min(bp, grid.height - r) * min(bp, grid.width - c) for r, c in chosen)
    expected[BACKGROUND] = max(core_px - int(areas.sum()), 1)
    rates = sample_rates(expected, sampling)
    depth = learned_depth(px, spec)
    margin = int(np.ceil(sampling.margin_m / px))
    parts: list[tuple[np.ndarray, ...]] = []
    log(f"train: {run.folder}: reading {len(chosen)} block(s) of {bp} px ({len(labelled)} with verdict "
        f"patches) at {px:g} m")
    from affine import Affine

    for i, (r, c) in enumerate(chosen):
        r1, c1 = min(r + bp, grid.height), min(c + bp, grid.width)
        R0, R1 = max(r - depth, 0), min(r1 + depth, grid.height)
        C0, C1 = max(c - depth, 0), min(c1 + depth, grid.width)
        b, a, v = dask.compute(img.before[:, R0:R1, C0:C1], img.after[:, R0:R1, C0:C1], valid[R0:R1, C0:C1])
        feats, ok = block_features(b[rgb], a[rgb], v, params=stats.params, pixel_size_m=px, spec=spec,
                                   shift=shift)
        transform = grid.transform @ Affine.translation(C0, R0)
        hits = tree.query(box(R0, R1, C0, C1), predicate="intersects") if tree is not None else []
        kr = kind_raster(geoms[hits], kinds[hits], (R1 - R0, C1 - C0), transform, margin_px=margin)
        core = (slice(r - R0, r1 - R0), slice(c - C0, c1 - C0))
        parts.append(block_samples(feats[:, core[0], core[1]], kr[core], ok[core], rates, sampling,
                                   np.random.default_rng([sampling.seed, i])))
        if (i + 1) % 10 == 0:
            log(f"train: {run.folder}: {i + 1} of {len(chosen)} blocks")
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    w = np.concatenate([p[2] for p in parts])
    k = np.concatenate([p[3] for p in parts])
    counts = {KIND_NAMES[kind]: int((k == kind).sum()) for kind in (POSITIVE, HARD_NEGATIVE, BACKGROUND)}
    if counts["positive"] + counts["hard_negative"] == 0:
        raise InputFileError(run.folder, "the verified patches cover no valid pixel of the imagery: nothing "
                                         "to learn from")
    return X, y, w, counts


# --------------------------------------------------------------------------- output
def _is_landcheck_model(path: Path) -> bool:
    """True when ``path`` (.txt, .json or .md of a model) is what ``landcheck train`` writes."""
    try:
        if path.suffix == ".txt":
            head = path.read_text(encoding="utf-8", errors="replace")[:4096]
            return head.startswith("tree\n") and "version=" in head
        if path.suffix == ".json":
            card = json.loads(path.read_text(encoding="utf-8"))
            return isinstance(card, dict) and "features" in card and "threshold_low" in card
        if path.suffix == ".md":
            return path.read_text(encoding="utf-8", errors="replace").startswith("# Model card: ")
    except (OSError, ValueError):
        return False
    return False


def check_model_output(out: Path, inputs: Sequence[Path], *, overwrite: bool) -> list[Path]:
    """The three files ``out`` (.txt), ``.json`` and ``.md``, checked before any work.

    Raises
    ------
    ConfigError
        ``out`` does not end in ``.txt``.
    OutputError
        One of them is an input, exists without ``overwrite``, or exists and is not a
        landcheck model.
    """
    from pipeline.output_folder import check_output_file

    out = Path(out)
    if out.suffix.lower() != ".txt":
        raise ConfigError(f"--out {out}: a model is written as NAME.txt (LightGBM text) with NAME.json and "
                          "NAME.md beside it; give a .txt path")
    files = [out, out.with_suffix(".json"), out.with_suffix(".md")]
    for f in files:
        check_output_file(f, inputs, overwrite=overwrite)
        if f.exists() and not _is_landcheck_model(f):
            raise OutputError(f, "exists and is not a landcheck model file; it is not replaced")
    return files


def _write(files: list[Path], texts: list[str]) -> None:
    from pipeline.output_folder import write_file_atomically

    # the card and its page first, the model last: a model file never stands beside an older card
    for f, text in sorted(zip(files, texts), key=lambda ft: ft[0].suffix == ".txt"):
        write_file_atomically(f, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))


# --------------------------------------------------------------------------- the command
@dataclass
class TrainResult:
    """What ``landcheck train`` wrote."""

    out: Path
    card: dict[str, Any]
    files: list[Path]


def train(out: Path, *, pairs: Sequence[Path] = (), pixel_size_m: float | None = None,
          runs: Sequence[Path] = (), verdicts: Sequence[Path] = (), base: Path | None = None,
          settings: TrainingSettings | None = None, sampling: Any = None,
          threshold_low: float | None = None, threshold_high: float | None = None,
          overwrite: bool = False, command: str | None = None, log: Log = _stderr) -> TrainResult:
    """Fit the learned detector from the sources and write ``out`` with its cards.

    Parameters
    ----------
    out
        The model file (``.txt``); ``.json`` and ``.md`` are written beside it.
    pairs, pixel_size_m
        Labelled pair folders (LEVIR layout) and their pixel size in metres.
    runs, verdicts
        Run output folders, and verdict files for them (None: each run config's ``verdicts``).
    base
        A LightGBM model (with its ``.json`` card) to continue from.
    settings, sampling
        :class:`detection.training.TrainingSettings` and
        :class:`detection.verdict_labels.VerdictSampling` (defaults when None).
    threshold_low, threshold_high
        The card's thresholds (default: the base model's, else 0.4 and 0.8).
    overwrite
        Replace an earlier landcheck model at ``out``.
    command
        The command line, recorded in the card.
    """
    from detection.model_card import card_markdown
    from detection.trainer import base_card, fit_samples
    from detection.training import training_matrix
    from detection.verdict_labels import VerdictSampling
    from pipeline.manifest import landcheck_version, sha256_file

    if not pairs and not runs:
        raise ConfigError("train: give at least one source: --pairs DIR (labelled pairs) or --from-run DIR "
                          "(a run with its field verdicts)")
    if verdicts and not runs:
        raise ConfigError("train: --verdicts go with --from-run (the run whose patches they judge)")
    if pairs and (pixel_size_m is None or not pixel_size_m > 0):
        raise ConfigError("train: --pairs needs --pixel-size METRES (the PNGs carry no pixel size; LEVIR-CD "
                          "is 0.5)")
    s = settings if settings is not None else TrainingSettings()
    vs = sampling if sampling is not None else VerdictSampling()
    base_model = None
    inputs: list[Path] = []
    if base is not None:
        from detection.learned import load_model

        base = Path(base)
        if base.suffix.lower() != ".txt":
            raise ConfigError(f"--base {base}: a base model is a LightGBM model (.txt with its .json card)")
        if not base.is_file():
            raise ConfigError(f"--base {base}: model file not found")
        if not base.with_suffix(".json").is_file():
            raise ConfigError(f"--base {base}: has no model card beside it: {base.with_suffix('.json')}")
        try:
            base_model = load_model(base)
        except Exception as exc:
            raise InputFileError(base, f"cannot be loaded as a landcheck model ({str(exc).splitlines()[0][:200]})") from None
        s = replace(s, spec=base_model.spec)
        inputs += [base, base.with_suffix(".json")]
    for folder in pairs:
        inputs.append(Path(folder))
    for folder in runs:
        inputs.append(Path(folder))
    inputs += [Path(v) for v in verdicts]
    files = check_model_output(Path(out), inputs, overwrite=overwrite)

    t0 = time.perf_counter()
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    sources: list[dict[str, Any]] = []
    pixels = {"positive": 0, "negative": 0, "hard_negative": 0, "background": 0}
    all_pairs: list[LabelledPair] = []
    for folder in pairs:
        folder = Path(folder)
        got = read_pairs(folder, float(pixel_size_m))
        log(f"train: {folder}: {len(got)} labelled pair(s) at {pixel_size_m:g} m")
        all_pairs += got
        sources.append({"kind": "pairs", "path": str(folder.resolve()), "pixel_size_m": float(pixel_size_m),
                        "pairs": [{"name": p.name, "files": [
                            {"path": str((folder / sub / f"{p.name}.png").resolve()),
                             "sha256": sha256_file(folder / sub / f"{p.name}.png")} for sub in ("A", "B", "label")]}
                            for p in got]})
    if all_pairs:
        names = [p.name for p in all_pairs]
        if len(set(names)) != len(names):  # two folders with the same file names: keep them apart
            all_pairs = [replace(p, name=f"{i}:{p.name}") for i, p in enumerate(all_pairs)]
        log(f"train: features of {len(all_pairs)} pair(s) at pixel sizes x{', x'.join(str(f) for f in s.factors)}")
        for name, (X, y, w) in training_matrix(all_pairs, s).items():
            samples.append((X, y, w))
            pixels["positive"] += int(y.sum())
            pixels["negative"] += int((y == 0).sum())
    for run in (read_runs([Path(f) for f in runs], list(verdicts) or None, log=log) if runs else []):
        X, y, w, counts = run_samples(run, s.spec, vs, log=log)
        samples.append((X, y, w))
        pixels["positive"] += counts["positive"]
        pixels["hard_negative"] += counts["hard_negative"]
        pixels["background"] += counts["background"]
        sources.append(run.record)
    rows = sum(len(x[1]) for x in samples)
    positive = sum(int(x[1].sum()) for x in samples)
    if positive == 0 or positive == rows:
        raise InputFileError(Path(runs[0] if runs else pairs[0]),
                             "the sources give only one class of pixels (change or no change): nothing to learn")
    log(f"train: fitting LightGBM on {rows:,} pixels ({positive:,} change), {s.rounds} rounds"
        + (f", continuing {base}" if base is not None else ""))
    booster = fit_samples(samples, s, init_model=base_model.booster if base_model is not None else None)
    low = threshold_low if threshold_low is not None else (base_model.threshold_low if base_model else 0.4)
    high = threshold_high if threshold_high is not None else (base_model.threshold_high if base_model else 0.8)
    if not 0 < low <= high < 1:
        raise ConfigError(f"train: thresholds must satisfy 0 < low <= high < 1, got {low} and {high}")
    card = base_card(
        out, s, low, high, data=[p.name for p in all_pairs] + [str(r) for r in runs],
        pixel_sizes_m=[p.pixel_size_m * f for p in all_pairs for f in s.factors],
        rows=rows, positive_rows=positive, seconds=time.perf_counter() - t0)
    card.update({
        "base_model": ({"path": str(base.resolve()), "sha256": sha256_file(base), "model_id": base_model.model_id,
                        "card_sha256": sha256_file(base.with_suffix(".json"))} if base_model else None),
        "sources": sources,
        "pixels": pixels,
        "verdict_sampling": vs.to_dict() if runs else None,
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "landcheck_version": landcheck_version(),
        "command": command or "landcheck train",
        "retrain": "landcheck train (pipeline/train.py)",
    })
    texts = [booster.model_to_string(), json.dumps(card, indent=1, ensure_ascii=False), card_markdown(card)]
    _write(files, texts)
    log(f"train: wrote {files[0]} (+ .json card, .md) in {time.perf_counter() - t0:.0f} s")
    return TrainResult(Path(out), card, files)
