"""`make eval`: detection quality on the real labelled pairs of ``../shared/data``.

    python bench/eval_detection.py              # every method, writes bench/out/eval.json + docs
    python bench/eval_detection.py --worker NAME --out FILE   # one method (used internally)

Sets (all real, third-party; see ``../shared/data/README.md``):

* ``levir_cd_samples`` -- 11 RGB 256x256 building-change pairs, label 255 = change;
* ``levir_cd_full_tiles`` -- 3 RGB 1024x1024 pairs; ``test_7`` and ``test_102`` of the samples
  are crops of two of them (``levir_combined`` pools the full tiles with the 9 other samples, so
  no pixel is counted twice);
* ``naip_north_dakota`` -- 10 dates of one NAIP quarter-quad, R,G,B,NIR; every pair of different
  years (45, earlier = before) has almost no construction, so the share of the scene flagged is
  a false-alarm rate. The grids of the dates differ by 1-3 m and a row: the after date is
  resampled (nearest) onto the before date's grid with a ``WarpedVRT``;
* ``no_change_pair`` -- two byte-identical 4-band scenes: every patch is a false positive.

Methods are the :data:`METHODS` registry: ``name -> callable(before, after, *, bands,
pixel_size_m) -> (H, W) bool``, with ``before``/``after`` ``(bands, H, W)`` float32 DN on the
same grid, NaN = no data, and ``bands`` the band names in order (``"red"``, ``"green"``,
``"blue"``, ``"nir"``). A method that cannot run on a set raises :class:`Refused`. Adding a
detector is one line in :data:`METHODS`.

Each method runs in its own process (its peak RSS is its own); figures go to
``bench/out/eval.json`` and a Markdown block between ``<!-- eval:start -->`` and
``<!-- eval:end -->`` in ``docs/benchmarks.md``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from detection.baselines import cva_otsu, pca_kmeans  # noqa: E402
from detection.metrics import (  # noqa: E402
    Confusion,
    confusion,
    count_patches,
    flagged_share,
    pooled_scores,
)

DATA = REPO.parent / "shared" / "data"
OUT = REPO / "bench" / "out" / "eval.json"
DOC = REPO / "docs" / "benchmarks.md"
START, END = "<!-- eval:start -->", "<!-- eval:end -->"
SECTION = "## Detection quality on real pairs (make eval)"

#: minimum patch area for patch counts, m² (landcheck's default ``detection.min_area_m2``)
MIN_AREA_M2 = 400.0
#: targets the new detector must meet (issue: detection quality judged on real pairs)
TARGET_LEVIR_F1 = 0.45
TARGET_NAIP_SHARE = 0.01
TARGET_NO_CHANGE_PATCHES = 0

RGB = ("red", "green", "blue")
RGBN = ("red", "green", "blue", "nir")


# --------------------------------------------------------------------------- methods
class Refused(Exception):
    """A method cannot run on this input (e.g. it needs a band the set does not have)."""


class Method(Protocol):
    """What the registry holds."""

    def __call__(self, before: np.ndarray, after: np.ndarray, *, bands: tuple[str, ...],
                 pixel_size_m: float) -> np.ndarray: ...


def _valid(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.isfinite(before).all(axis=0) & np.isfinite(after).all(axis=0)


def run_cva_otsu(before: np.ndarray, after: np.ndarray, *, bands: tuple[str, ...],
                 pixel_size_m: float) -> np.ndarray:
    """:func:`detection.baselines.cva_otsu` on all bands."""
    return cva_otsu(before, after, _valid(before, after))


def run_pca_kmeans(before: np.ndarray, after: np.ndarray, *, bands: tuple[str, ...],
                   pixel_size_m: float) -> np.ndarray:
    """:func:`detection.baselines.pca_kmeans` (h = 4, S = 3) on all bands."""
    return pca_kmeans(before, after, _valid(before, after), block=4, components=3)


def _source_dtype(*arrays: np.ndarray) -> str:
    """The tile data type the DN came from: uint8 / uint16 when integer-valued, else float32.

    landcheck reads the reflectance scale from the tiles' data type
    (:func:`detection.score.reflectance_scale`); arrays handed over as float32 DN lose it, so it
    is recovered from the values (every set here is 8-bit).
    """
    finite = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays])
    if finite.size and np.all(finite == np.round(finite)) and finite.min() >= 0:
        return "uint8" if finite.max() <= 255 else "uint16"
    return "float32"


def run_landcheck(before: np.ndarray, after: np.ndarray, *, bands: tuple[str, ...],
                  pixel_size_m: float) -> np.ndarray:
    """The current detector, :func:`pipeline.detect.detect_on_imagery`, on in-memory arrays.

    The arrays are wrapped into the same lazy dask :class:`pipeline.imagery.Imagery` the
    pipeline builds from tiles (blue, green, red, NIR order, NaN = no data, no cloud), on a
    synthetic north-up grid of ``pixel_size_m`` (only the pixel area matters), with the default
    :class:`pipeline.config.DetectionConfig`. The patches it returns (after opening/closing and
    the minimum area) are burnt back into a pixel mask; they follow pixel edges, so the mask is
    exact.
    """
    import dask.array as da
    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.features import rasterize

    from detection.grid import Grid
    from pipeline.config import BANDS, DetectionConfig
    from pipeline.detect import detect_on_imagery
    from pipeline.imagery import Imagery, axis_chunks

    missing = [b for b in BANDS if b not in bands]
    if missing:
        raise Refused("needs " + ", ".join(m.upper() if m == "nir" else m for m in missing))
    order = [bands.index(b) for b in BANDS]
    det = DetectionConfig(method="spectral", threshold="otsu")
    _, h, w = before.shape
    grid = Grid(h, w, Affine(pixel_size_m, 0.0, 500_000.0, 0.0, -pixel_size_m, 5_000_000.0),
                CRS.from_epsg(32650))
    chunks = (axis_chunks(h, det.chunk_px), axis_chunks(w, det.chunk_px))
    dtype = _source_dtype(before, after)
    img = Imagery(
        grid,
        da.from_array(np.ascontiguousarray(before[order], dtype=np.float32), chunks=((4,),) + chunks),
        da.from_array(np.ascontiguousarray(after[order], dtype=np.float32), chunks=((4,),) + chunks),
        da.zeros((h, w), dtype=bool, chunks=chunks),
        dtype, dtype, (1, 1),
    )
    patches, _ = detect_on_imagery(img, det, progress=False)
    if len(patches) == 0:
        return np.zeros((h, w), dtype=bool)
    burnt = rasterize(((g, 1) for g in patches.geometry), out_shape=(h, w),
                      transform=grid.transform, fill=0, dtype="uint8")
    return burnt.astype(bool)


# --------------------------------------------------------------------------- learned, LOPO
LOPO_DIR = REPO / "bench" / "out" / "lopo"
_LOPO: dict[str, Any] = {}


def _array_key(before: np.ndarray) -> str:
    import hashlib

    return hashlib.sha1(np.ascontiguousarray(before, dtype=np.float32).tobytes()).hexdigest()


def _lopo_state() -> dict[str, Any]:
    """Fold models of the learned detector, trained here (cached in ``bench/out/lopo``).

    The training pairs are those of ``bench/train_default.py`` (LEVIR full tiles + the
    samples that are not crops of them). For every LEVIR group (a tile and its crops) one model
    is trained without that group; a LEVIR pair given to the method is recognised by the
    bytes of its before image and scored by the model that never saw its tile. Anything else
    (NAIP, no_change_pair) is scored by the shipped default model, which saw no NAIP pixel.
    Cross-set models: trained on the full tiles only / on the samples only.
    """
    if _LOPO:
        return _LOPO
    import shutil

    from detection.learned import DEFAULT_MODEL
    from detection.training import fit_model
    from train_default import (
        NAIP_GROUP,
        SETTINGS,
        cached_training_matrix,
        fingerprint,
        training_pairs,
        write_model,
    )

    pairs = training_pairs(DATA)
    key = fingerprint(pairs, SETTINGS)
    folder = LOPO_DIR / key
    groups = sorted({p.group for p in pairs if p.group != NAIP_GROUP})
    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text(encoding="utf-8"))
    full_names = {p.name for p in levir_pairs_light(DATA / "levir_cd_full_tiles")}
    naip_names = [p.name for p in pairs if p.group == NAIP_GROUP]
    wanted = {f"without_{g}": [p.name for p in pairs if p.group != g] for g in groups}
    wanted["full_tiles_only"] = [p.name for p in pairs if p.name in full_names] + naip_names
    wanted["samples_only"] = [p.name for p in pairs if p.name not in full_names
                              and p.group != NAIP_GROUP] + naip_names
    missing = [k for k in wanted if not (folder / f"{k}.txt").is_file()]
    if missing:
        t = time.perf_counter()
        samples = cached_training_matrix(pairs, SETTINGS, folder)
        for k in missing:
            booster = fit_model([samples[n] for n in wanted[k]], SETTINGS)
            write_model(booster, folder / f"{k}.txt", {**card, "fold": k, "trained_on": wanted[k]})
        print(f"eval: trained {len(missing)} fold models in {time.perf_counter() - t:.0f} s", flush=True)
    for k in wanted:  # thresholds are the shipped card's (not part of the fold training)
        path = folder / f"{k}.json"
        fold_card = json.loads(path.read_text(encoding="utf-8"))
        if any(fold_card.get(t) != card[t] for t in ("threshold_low", "threshold_high")):
            fold_card.update(threshold_low=card["threshold_low"], threshold_high=card["threshold_high"])
            path.write_text(json.dumps(fold_card, indent=1), encoding="utf-8")
    if LOPO_DIR.is_dir():  # fold models of older code / data are of no use
        for old in LOPO_DIR.iterdir():
            if old.is_dir() and old.name != key:
                shutil.rmtree(old, ignore_errors=True)
    group_of = {}
    for sub in ("levir_cd_full_tiles", "levir_cd_samples"):
        for p in levir_pairs(DATA / sub):
            group_of[_array_key(p["before"])] = p["group"]
    _LOPO.update(folder=folder, group_of=group_of, fingerprint=key, mode="lopo")
    return _LOPO


def levir_pairs_light(folder: Path) -> list[Path]:
    """Label files of a LEVIR folder (names only)."""
    return [Path(p.stem) for p in sorted((folder / "label").glob("*.png"))]


def _learned(before: np.ndarray, after: np.ndarray, *, bands: tuple[str, ...], pixel_size_m: float,
             min_area_m2: float | str) -> np.ndarray:
    from detection.compose import Settings, detect_arrays

    state = _lopo_state()
    group = state["group_of"].get(_array_key(before))
    model = None
    if group is not None:
        fold = {"lopo": f"without_{group}", "full": "full_tiles_only",
                "samples": "samples_only"}[state.get("mode", "lopo")]
        model = str(state["folder"] / f"{fold}.txt")
    order = [bands.index(b) if b in bands else None for b in ("blue", "green", "red", "nir")]
    h, w = before.shape[1:]
    nan = np.full((h, w), np.nan, dtype=np.float32)
    b4 = np.stack([before[i] if i is not None else nan for i in order])
    a4 = np.stack([after[i] if i is not None else nan for i in order])
    res = detect_arrays(b4, a4, pixel_size_m=pixel_size_m,
                        settings=Settings(model=model, min_area_m2=min_area_m2),
                        dtype=_source_dtype(before, after))
    return res.patches_mask


def run_learned(before: np.ndarray, after: np.ndarray, *, bands: tuple[str, ...],
                pixel_size_m: float) -> np.ndarray:
    """The learned detector (:func:`detection.compose.detect_arrays`, default settings: patches
    after opening, closing, hysteresis core and the 400 m² minimum area); LEVIR pairs scored
    by leave-one-pair-out fold models (see :func:`_lopo_state`)."""
    return _learned(before, after, bands=bands, pixel_size_m=pixel_size_m, min_area_m2=MIN_AREA_M2)


def run_learned_auto(before: np.ndarray, after: np.ndarray, *, bands: tuple[str, ...],
                     pixel_size_m: float) -> np.ndarray:
    """As :func:`run_learned` with ``min_area_m2: auto``
    (:func:`detection.compose.resolve_min_area`: 50 m², one rural house, but at least 16
    pixels: 50 m² at LEVIR's 0.5 m, 400 m² at NAIP's 5 m)."""
    return _learned(before, after, bands=bands, pixel_size_m=pixel_size_m, min_area_m2="auto")


#: the methods compared; a new detector is one more line
METHODS: dict[str, Method] = {
    "cva_otsu": run_cva_otsu,
    "pca_kmeans": run_pca_kmeans,
    "landcheck": run_landcheck,
    "learned": run_learned,
    "learned_auto": run_learned_auto,
}

DESCRIPTIONS = {
    "cva_otsu": "CVA + Otsu (per-date standardised bands)",
    "pca_kmeans": "PCA-KMeans (Celik 2009, 4x4 blocks, 3 components)",
    "landcheck": "landcheck spectral rule (`method: spectral`, `detect_on_imagery`)",
    "learned": "landcheck learned (`method: learned`, default; LEVIR leave-one-pair-out; min area 400 m²)",
    "learned_auto": "landcheck learned, `min_area_m2: auto` = max(50 m², 16 px): 50 m² at 0.5 m, 400 m² at 5 m (LEVIR leave-one-pair-out)",
}


# --------------------------------------------------------------------------- data
def _read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im)


def _label(path: Path) -> np.ndarray:
    lab = _read_png(path)
    values = np.unique(lab)
    if lab.ndim != 2 or not set(values.tolist()) <= {0, 255}:
        raise SystemExit(f"eval: {path}: expected a single-band 0/255 label, got shape {lab.shape} "
                         f"values {values[:10].tolist()}")
    return lab == 255


def _rgb(path: Path) -> np.ndarray:
    return _read_png(path)[:, :, :3].transpose(2, 0, 1).astype(np.float32)


def levir_pairs(folder: Path) -> Iterator[dict[str, Any]]:
    """``{name, group, before, after, label}`` for every labelled pair of a LEVIR-CD folder.

    ``group`` is the LEVIR tile a pair comes from (``test_7_0256_0512`` -> ``test_7``): crops of
    one tile are one pair for leave-one-pair-out.
    """
    for lab in sorted((folder / "label").glob("*.png")):
        m = re.match(r"^(.*?)(?:_\d{4}_\d{4})?$", lab.stem)
        yield {"name": lab.stem, "group": m.group(1) if m else lab.stem,
               "before": _rgb(folder / "A" / lab.name), "after": _rgb(folder / "B" / lab.name),
               "label": _label(lab)}


def _as_float(data: np.ndarray, nodata: float | None) -> np.ndarray:
    """``(bands, H, W)`` float32 DN, NaN where any band equals nodata (0 when none declared),
    as :mod:`pipeline.imagery` treats tiles."""
    nd = 0.0 if nodata is None else nodata
    out = data.astype(np.float32)
    out[:, (data == nd).any(axis=0)] = np.nan
    return out


def read_on_grid(path: Path, like: Path | None = None) -> np.ndarray:
    """A GeoTIFF as float32 DN with NaN = no data, on its own grid or resampled (nearest) onto
    the grid of ``like`` (outside the source = no data)."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    with rasterio.open(path) as src:
        nodata = src.nodata
        if like is None:
            return _as_float(src.read(), nodata)
        with rasterio.open(like) as ref:
            crs, transform, h, w = ref.crs, ref.transform, ref.height, ref.width
        nd = 0.0 if nodata is None else nodata
        with WarpedVRT(src, crs=crs, transform=transform, width=w, height=h,
                       resampling=Resampling.nearest, nodata=nd) as vrt:
            return _as_float(vrt.read(), nd)


def naip_dates(folder: Path) -> list[Path]:
    """NAIP tiles sorted by acquisition date (``..._YYYYMMDD.tif``)."""
    return sorted(folder.glob("*.tif"), key=lambda p: p.stem.rsplit("_", 1)[-1])


def grid_offsets(paths: list[Path]) -> list[dict[str, Any]]:
    """Origin, shape of each tile relative to the first (for the record)."""
    import rasterio

    out = []
    with rasterio.open(paths[0]) as ref:
        x0, y0 = ref.transform.c, ref.transform.f
    for p in paths:
        with rasterio.open(p) as s:
            out.append({"file": p.name, "height": s.height, "width": s.width,
                        "dx_m": round(s.transform.c - x0, 3), "dy_m": round(s.transform.f - y0, 3)})
    return out


# --------------------------------------------------------------------------- one method
def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Timer:
    def __init__(self) -> None:
        self.seconds = 0.0

    def call(self, fn: Callable[..., np.ndarray], *args: Any, **kw: Any) -> np.ndarray:
        t = time.perf_counter()
        try:
            return fn(*args, **kw)
        finally:
            self.seconds += time.perf_counter() - t


def _labelled(name: str, method: Method, pairs: list[dict[str, Any]], pixel: float,
              bands: tuple[str, ...]) -> dict[str, Any]:
    timer = _Timer()
    rows = []
    try:
        for p in pairs:
            pred = timer.call(method, p["before"], p["after"], bands=bands, pixel_size_m=pixel)
            c = confusion(pred, p["label"], ignore=~_valid(p["before"], p["after"]))
            rows.append({"name": p["name"], "group": p["group"], **c.as_dict()})
    except Refused as exc:
        return {"refused": str(exc), "seconds": timer.seconds}
    return {"pooled": pooled_scores(Confusion(r["tp"], r["fp"], r["fn"], r["tn"]) for r in rows),
            "pairs": rows, "seconds": timer.seconds}


def evaluate_method(name: str) -> dict[str, Any]:
    """All sets for one method (run in its own process for an honest peak RSS)."""
    method = METHODS[name]
    # data that stays in memory the whole run, and every library the methods import, are
    # loaded before the baseline RSS is taken
    import dask.array  # noqa: F401
    import geopandas  # noqa: F401
    import rasterio.features  # noqa: F401

    import pipeline.detect  # noqa: F401

    samples = list(levir_pairs(DATA / "levir_cd_samples"))
    full = list(levir_pairs(DATA / "levir_cd_full_tiles"))
    naip = naip_dates(DATA / "naip_north_dakota")
    nc = sorted((DATA / "no_change_pair").glob("*.tif"))
    if name.startswith("learned"):  # fold models trained (or loaded) outside the timed calls
        _lopo_state()
    rss_loaded = _rss_mb()
    res: dict[str, Any] = {"method": name}
    t_all = time.perf_counter()

    res["levir_cd_samples"] = _labelled(name, method, samples, 0.5, RGB)
    res["levir_cd_full_tiles"] = _labelled(name, method, full, 0.5, RGB)

    # NAIP: every pair of different dates, earlier = before, after put on the before's grid
    timer = _Timer()
    rows: list[dict[str, Any]] = []
    refused = None
    min_px = int(np.ceil(MIN_AREA_M2 / 25.0 - 1e-9))
    cache: dict[Path, np.ndarray] = {}
    from train_default import USE_NAIP, naip_split

    naip_east = USE_NAIP
    res["naip_half"] = "east" if naip_east else "whole"
    for b, a in itertools.combinations(naip, 2):
        if b not in cache:
            cache.clear()
            cache[b] = read_on_grid(b)
        before, after = cache[b], read_on_grid(a, like=b)
        if naip_east:  # the western half trains the shipped model: score the eastern half only
            _, east = naip_split(before.shape[2])
            before, after = before[:, :, east], after[:, :, east]
        try:
            pred = timer.call(method, before, after, bands=RGBN, pixel_size_m=5.0)
        except Refused as exc:
            refused = str(exc)
            break
        valid = _valid(before, after)
        rows.append({"before": b.stem.rsplit("_", 1)[-1], "after": a.stem.rsplit("_", 1)[-1],
                     "flagged_share": flagged_share(pred, valid),
                     "patches": count_patches(pred & valid, min_px),
                     "valid_pixels": int(valid.sum())})
    if refused:
        res["naip_north_dakota"] = {"refused": refused, "seconds": timer.seconds}
    else:
        shares = np.array([r["flagged_share"] for r in rows])
        res["naip_north_dakota"] = {
            "pairs": rows, "seconds": timer.seconds, "n_pairs": len(rows),
            "share_min": float(shares.min()), "share_median": float(np.median(shares)),
            "share_max": float(shares.max()),
            "pairs_at_most_1pct": int(np.count_nonzero(shares <= TARGET_NAIP_SHARE)),
            "half": res["naip_half"],
        }

    timer = _Timer()
    before, after = read_on_grid(nc[0]), read_on_grid(nc[1], like=nc[0])
    try:
        pred = timer.call(method, before, after, bands=RGBN, pixel_size_m=5.0)
        valid = _valid(before, after)
        res["no_change_pair"] = {"patches": count_patches(pred & valid, min_px),
                                 "flagged_pixels": int((pred & valid).sum()),
                                 "valid_pixels": int(valid.sum()), "seconds": timer.seconds,
                                 "identical": bool(np.array_equal(before, after, equal_nan=True))}
    except Refused as exc:
        res["no_change_pair"] = {"refused": str(exc), "seconds": timer.seconds}

    res["wall_seconds"] = time.perf_counter() - t_all
    res["method_seconds"] = sum(res[k]["seconds"] for k in
                                ("levir_cd_samples", "levir_cd_full_tiles", "naip_north_dakota",
                                 "no_change_pair"))
    res["rss_loaded_mb"] = rss_loaded
    res["peak_rss_mb"] = _rss_mb()
    return res


def _combined(res: dict[str, Any]) -> dict[str, Any] | None:
    """LEVIR full tiles + the samples that are not crops of them (no pixel counted twice)."""
    s, f = res["levir_cd_samples"], res["levir_cd_full_tiles"]
    if "refused" in s or "refused" in f:
        return None
    tiles = {r["group"] for r in f["pairs"]}
    rows = f["pairs"] + [r for r in s["pairs"] if r["group"] not in tiles]
    out = pooled_scores(Confusion(r["tp"], r["fp"], r["fn"], r["tn"]) for r in rows)
    out["pairs"] = [r["name"] for r in rows]
    return out


def cross_set() -> dict[str, Any]:
    """The learned detector trained on one LEVIR set and scored on the other.

    ``full_tiles_only`` (3 full tiles) scored on the 9 samples that are not crops of them;
    ``samples_only`` (those 9 samples) scored on the 3 full tiles. Pooled P/R/F1 of the
    patches (opening, closing, hysteresis core) with the 400 m² and the 100 m² minimum area.
    """
    from detection.compose import Settings, detect_arrays

    state = _lopo_state()
    full = list(levir_pairs(DATA / "levir_cd_full_tiles"))
    tiles = {p["group"] for p in full}
    samples = [p for p in levir_pairs(DATA / "levir_cd_samples") if p["group"] not in tiles]
    out: dict[str, Any] = {}
    for fold, test, label in (("full_tiles_only", samples, "trained on the 3 full tiles, scored on the 9 other samples"),
                              ("samples_only", full, "trained on the 9 samples, scored on the 3 full tiles")):
        for area in (MIN_AREA_M2, 100.0):
            counts = []
            for p in test:
                h, w = p["label"].shape
                nan = np.full((1, h, w), np.nan, dtype=np.float32)
                b4 = np.concatenate([p["before"][::-1], nan])  # RGB -> blue, green, red, (nir)
                a4 = np.concatenate([p["after"][::-1], nan])
                res = detect_arrays(b4, a4, pixel_size_m=0.5, dtype="uint8",
                                    settings=Settings(model=str(state["folder"] / f"{fold}.txt"),
                                                      min_area_m2=area))
                counts.append(confusion(res.patches_mask, p["label"]))
            out[f"{fold}_min{int(area)}"] = {"what": label, "min_area_m2": area, **pooled_scores(counts)}
    return out


def published_check() -> dict[str, Any]:
    """Pooled scores of the published deep models' outputs on levir_cd_samples (metric check)."""
    folder = DATA / "levir_cd_samples"
    out = {}
    for model in sorted(p for p in (folder / "published_predictions").iterdir() if p.is_dir()):
        counts = []
        for pred in sorted(model.glob("*.png")):
            counts.append(confusion(_label(pred), _label(folder / "label" / pred.name)))
        out[model.name] = {"n_pairs": len(counts), **pooled_scores(counts)}
    return out


# --------------------------------------------------------------------------- report
def _prf(d: dict[str, Any]) -> str:
    if "refused" in d:
        return f"refused: {d['refused']}"
    p = d["pooled"] if "pooled" in d else d
    return f"{p['precision']:.2f} / {p['recall']:.2f} / {p['f1']:.2f}"


def markdown(results: dict[str, Any]) -> str:
    """The generated block (without the markers)."""
    meta = results["meta"]
    naip_where = (" (eastern half)" if any(r.get("naip_half") == "east" for r in results["methods"].values())
                  else "")
    lines = [
        f"Measured by `make eval` on {meta['when']}: {meta['machine']}, {meta['cores']} cores, "
        f"Python {meta['python']}; whole run {meta['total_seconds']:.0f} s. Figures: "
        "`bench/out/eval.json`.",
        "",
        "| method | LEVIR samples (11) P / R / F1 | LEVIR full tiles (3) P / R / F1 | "
        f"LEVIR combined (12) F1 | NAIP{naip_where} flagged share min / median / max (45 pairs) | "
        "NAIP pairs ≤ 1 % | no_change_pair patches |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results["methods"].items():
        comb = r.get("levir_combined")
        n = r["naip_north_dakota"]
        naip = ("refused: " + n["refused"]) if "refused" in n else (
            f"{100 * n['share_min']:.1f} / {100 * n['share_median']:.1f} / {100 * n['share_max']:.1f} %")
        naip_ok = "" if "refused" in n else f"{n['pairs_at_most_1pct']} / {n['n_pairs']}"
        nc = r["no_change_pair"]
        comb_f1 = "refused" if comb is None else f"{comb['f1']:.2f}"
        lines.append(
            f"| {DESCRIPTIONS.get(name, name)} | {_prf(r['levir_cd_samples'])} | "
            f"{_prf(r['levir_cd_full_tiles'])} | {comb_f1} | "
            f"{naip} | {naip_ok} | {('refused: ' + nc['refused']) if 'refused' in nc else nc['patches']} |")
    lines.append(f"| **target** | | | ≥ {TARGET_LEVIR_F1:.2f} | ≤ 1 % on every pair | 45 / 45 | "
                 f"{TARGET_NO_CHANGE_PATCHES} |")
    lines += [
        "",
        "| method | s LEVIR samples | s LEVIR full tiles | s NAIP (45 pairs) | s no_change_pair | "
        "s total in the method | peak RSS MB | MB above the loaded data |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["methods"].items():
        s = [r[k]["seconds"] for k in ("levir_cd_samples", "levir_cd_full_tiles",
                                        "naip_north_dakota", "no_change_pair")]
        lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in s) +
                     f" | {r['method_seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
                     f"{r['peak_rss_mb'] - r['rss_loaded_mb']:.0f} |")
    if results.get("cross_set"):
        lines += ["", "Cross-set, learned detector (pooled P / R / F1 of its patches):", ""]
        for k, v in results["cross_set"].items():
            lines.append(f"- {v['what']}, min area {v['min_area_m2']:.0f} m²: "
                         f"{v['precision']:.2f} / {v['recall']:.2f} / {v['f1']:.2f}")
    pub = results["published_predictions"]
    lines += [
        "",
        "Metric check, the published deep models' outputs on the 7 `test_*` tiles of "
        "levir_cd_samples (pooled F1, same code): "
        + ", ".join(f"{m} {v['f1']:.3f}" for m, v in pub.items()) + ".",
    ]
    return "\n".join(lines)


INTRO = f"""{SECTION}

`make eval` (`bench/eval_detection.py`) scores every detector on the real pairs of
`../shared/data` only. Pixel precision / recall / F1 are **pooled** (confusion counts summed over
the pairs of a set, then P/R/F1 once; `detection/metrics.py` defines the 0/0 cases). LEVIR-CD
label 255 = change; "combined" pools the 3 full tiles with the 9 samples that are not crops of
them. NAIP: every pair of different dates (earlier = before), the after date resampled (nearest)
onto the before's grid, **eastern half of the scene only** (columns from the middle: the
western half is training data of the learned detector, see below; every method is scored on the
same half); the flagged share is flagged / valid pixels of the method's final mask
(for landcheck: its patches after opening, closing and the minimum area; for the
baselines: their raw mask). Patches = 4-connected components of at least 400 m² (16 px at 5 m).
Each method runs in its own process; time is spent inside the method only (no reading), peak RSS
is the process's (libraries, all LEVIR pairs and one NAIP pair loaded: the last column subtracts
the RSS measured just before the first call). The spectral rule needs blue, green, red and NIR,
so it refuses the RGB-only LEVIR sets rather than running on an invented NIR band.

The learned detector (`detection.method: learned`, the default) is scored honestly on LEVIR:
each LEVIR pair is scored by a model trained without its tile (leave-one-pair-out over the 11
LEVIR tiles; crops of one tile are one pair), trained inside `make eval` with the settings of
`bench/train_default.py` and cached in `bench/out/lopo/` (its time is not in the method's
seconds). Every model (folds and shipped) also learns hard negatives from the **western half**
of NAIP North Dakota (all 45 pairs of different years at 5 m, labelled no change: harvest,
tillage, crop colour, water level); NAIP is split by location, so the NAIP figures below are
on the eastern half, which no model saw. NAIP and no_change_pair are scored by the shipped
model. The eastern half was used to *design* the object filter and the NIR vetoes (open water,
vegetation) and to choose the hysteresis thresholds (0.3 / 0.7), so its figure is not a blind
test. It runs `detection.compose.detect_arrays`, the eager form of the pipeline's chunked path
(the same block functions; tests check chunked == eager). Two rows: the pipeline's default
400 m² minimum patch area, and `min_area_m2: auto` (`detection.compose.resolve_min_area`:
max(50 m², 16 pixels), as `landcheck detect` does for a pair: 50 m² at LEVIR's 0.5 m, 400 m² at NAIP's 5 m).
"""


def write_doc(block: str) -> None:
    """Replace the block between the markers, or append the section when they are absent."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    new_block = f"{START}\n{block}\n{END}"
    if START in text and END in text and text.index(START) < text.index(END):
        i, j = text.index(START), text.index(END) + len(END)
        text = text[:i] + new_block + text[j:]
    else:
        text = text.rstrip("\n") + "\n\n" + INTRO + "\n" + new_block + "\n"
    DOC.write_text(text, encoding="utf-8")


def _check_data() -> None:
    needed = ["levir_cd_samples", "levir_cd_full_tiles", "naip_north_dakota", "no_change_pair"]
    missing = [n for n in needed if not (DATA / n).is_dir()]
    if missing:
        raise SystemExit(f"eval: the real data sets are not at {DATA} (missing: {', '.join(missing)}); "
                         "make eval needs ../shared/data beside the checkout")


def update_model_card(results: dict[str, Any]) -> None:
    """Write the learned detector's measured quality into the shipped model card (.json, .md)."""
    from detection.learned import DEFAULT_MODEL
    from train_default import write_card_markdown

    methods = results["methods"]
    if "learned" not in methods:
        return
    path = DEFAULT_MODEL.with_suffix(".json")
    card = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for name in ("learned", "learned_auto"):
        r = methods.get(name)
        if not r:
            continue
        area = "400 m²" if name == "learned" else "auto (50 m² at 0.5 m, 400 m² at 5 m)"
        comb = r.get("levir_combined")
        if comb:
            rows.append(f"LEVIR combined (3 full tiles + 9 other samples, pooled), leave-one-pair-out, "
                        f"min area {area}: P {comb['precision']:.2f} / R {comb['recall']:.2f} / "
                        f"F1 {comb['f1']:.2f}")
        n = r["naip_north_dakota"]
        if "refused" not in n:
            half = ("eastern half of the scene; the western half was trained on" if n.get("half") == "east"
                    else "whole scene, not trained on")
            rows.append(f"NAIP North Dakota, 45 pairs of different years (5 m, RGBN, farmland, {half}), "
                        f"min area {area}: flagged share min / median / max "
                        f"{100 * n['share_min']:.2f} / {100 * n['share_median']:.2f} / "
                        f"{100 * n['share_max']:.2f} %, {n['pairs_at_most_1pct']} / {n['n_pairs']} "
                        "pairs at most 1 %")
        nc = r["no_change_pair"]
        if "refused" not in nc:
            rows.append(f"no_change_pair (identical dates), min area {area}: {nc['patches']} patches")
    for v in (results.get("cross_set") or {}).values():
        rows.append(f"cross-set, {v['what']}, min area {v['min_area_m2']:.0f} m²: P {v['precision']:.2f} / "
                    f"R {v['recall']:.2f} / F1 {v['f1']:.2f}")
    card["quality"] = {"when": results["meta"]["when"], "rows": rows}
    path.write_text(json.dumps(card, indent=1), encoding="utf-8")
    write_card_markdown(DEFAULT_MODEL)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", choices=sorted(METHODS), help="evaluate one method (internal)")
    ap.add_argument("--out", type=Path, help="JSON output of --worker")
    ap.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=list(METHODS))
    ap.add_argument("--card-only", action="store_true",
                    help="only copy the learned figures of bench/out/eval.json into the model card")
    args = ap.parse_args(argv)
    if args.card_only:
        update_model_card(json.loads(OUT.read_text(encoding="utf-8")))
        return
    _check_data()
    if args.worker:
        res = evaluate_method(args.worker)
        if args.out:
            args.out.write_text(json.dumps(res), encoding="utf-8")
        else:
            print(json.dumps(res))
        return

    t0 = time.perf_counter()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    methods: dict[str, Any] = {}
    for name in args.methods:
        print(f"eval: {name} ...", flush=True)
        tmp = OUT.parent / f"eval_{name}.json"
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", name, "--out", str(tmp)],
                       check=True, cwd=REPO, env=env)
        res = json.loads(tmp.read_text(encoding="utf-8"))
        tmp.unlink()
        res["levir_combined"] = _combined(res)
        methods[name] = res
        print(f"eval: {name} done in {res['wall_seconds']:.1f} s, peak {res['peak_rss_mb']:.0f} MB", flush=True)
    results = {
        "meta": {"when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "machine": platform.machine(), "cores": os.cpu_count(),
                 "python": platform.python_version(), "data": str(DATA),
                 "min_area_m2": MIN_AREA_M2,
                 "naip_grids": grid_offsets(naip_dates(DATA / "naip_north_dakota")),
                 "total_seconds": 0.0},
        "targets": {"levir_combined_f1_min": TARGET_LEVIR_F1, "naip_share_max": TARGET_NAIP_SHARE,
                    "no_change_patches": TARGET_NO_CHANGE_PATCHES},
        "published_predictions": published_check(),
        "methods": methods,
    }
    if "learned" in methods:
        print("eval: cross-set figures of the learned detector ...", flush=True)
        results["cross_set"] = cross_set()
    results["meta"]["total_seconds"] = time.perf_counter() - t0
    OUT.write_text(json.dumps(results, indent=1), encoding="utf-8")
    update_model_card(results)
    block = markdown(results)
    write_doc(block)
    print(block)
    print(f"eval: wrote {OUT.relative_to(REPO)} and {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    main()
