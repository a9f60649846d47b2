"""Quick experiments on the learned detector (exploration tool, not `make eval`).

    python bench/quick_eval.py probs --models DIR --tag NAME [--naip N]
        probability maps of the LEVIR combined pairs, each scored by DIR/without_<group>.txt
        (leave-one-pair-out), and of N NAIP pairs (every k-th of the 45) scored by
        DIR/all.txt (or the shipped model when absent), cached in bench/out/quick/<tag>.npz
    python bench/quick_eval.py post --tag NAME [--low .4 --high .8 --area 100 ...]
        post-processing of the cached maps: pooled LEVIR F1 and NAIP flagged shares
    python bench/quick_eval.py train --tag NAME [--folds test_7,test_12,test_102 ...]
        trains fold models with the current detection.training code (num_threads 1)

Never scores a LEVIR pair with a model that saw its tile.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for p in (str(REPO), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from detection.metrics import confusion, pooled_scores  # noqa: E402

DATA = REPO.parent / "shared" / "data"
QUICK = REPO / "bench" / "out" / "quick"


def levir_combined():
    import eval_detection as ev

    full = list(ev.levir_pairs(DATA / "levir_cd_full_tiles"))
    tiles = {p["group"] for p in full}
    samples = [p for p in ev.levir_pairs(DATA / "levir_cd_samples") if p["group"] not in tiles]
    return full + samples


def naip_pairs(n: int):
    import eval_detection as ev

    dates = ev.naip_dates(DATA / "naip_north_dakota")
    pairs = list(itertools.combinations(dates, 2))
    if n >= len(pairs):
        return pairs
    idx = np.linspace(0, len(pairs) - 1, n).round().astype(int)
    return [pairs[i] for i in idx]


def _b4(x: np.ndarray, bands: int) -> np.ndarray:
    """RGB[N] -> blue, green, red, nir (NaN nir when absent)."""
    h, w = x.shape[1:]
    out = [x[2], x[1], x[0], x[3] if bands == 4 else np.full((h, w), np.nan, np.float32)]
    return np.stack(out).astype(np.float32)


def score_map(before, after, model: str | None, pixel: float):
    from detection.compose import Settings, detect_arrays

    res = detect_arrays(before, after, pixel_size_m=pixel, settings=Settings(model=model, threshold=0.99),
                        dtype="uint8")
    ok = np.isfinite(before[:3]).all(axis=0) & np.isfinite(after[:3]).all(axis=0)
    return res.score, ok


def cmd_probs(args) -> None:
    import eval_detection as ev

    folder = Path(args.models)
    out = {}
    t = time.perf_counter()
    if not args.skip_levir:
        for p in levir_combined():
            m = folder / f"without_{p['group']}.txt"
            if args.quick and p["name"] not in ("test_7", "test_12", "test_102"):
                m = folder / "full_tiles_only.txt"
            s, ok = score_map(_b4(p["before"], 3), _b4(p["after"], 3), str(m), 0.5)
            out[f"levir/{p['name']}"] = s.astype(np.float16)
            out[f"label/{p['name']}"] = p["label"]
            out[f"ok/{p['name']}"] = ok
        print(f"levir {time.perf_counter() - t:.0f} s", flush=True)
    model = args.naip_model or None
    from train_default import naip_split

    for b, a in naip_pairs(args.naip):
        before, after = ev.read_on_grid(b), ev.read_on_grid(a, like=b)
        if args.east:
            _, east = naip_split(before.shape[2])
            before, after = before[:, :, east], after[:, :, east]
        s, ok = score_map(_b4(before, 4), _b4(after, 4), model, 5.0)
        k = b.stem.rsplit("_", 1)[-1] + "_" + a.stem.rsplit("_", 1)[-1]
        out[f"naip/{k}"] = s.astype(np.float16)
        out[f"ok/{k}"] = ok
    print(f"total {time.perf_counter() - t:.0f} s", flush=True)
    QUICK.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(QUICK / f"{args.tag}.npz", **out)


def post_mask(score, ok, pixel, *, low, high, area, otsu=True, rect=True, open_r=1, close_r=1,
              high_rel=None, ring_px=0, ring_max=1.0, ring_stat="mean"):
    from detection.clean import clean_mask
    from detection.compose import LARGE_LOT_M2, MIN_RECTANGULARITY
    from detection.threshold import histogram_edges, otsu_threshold
    from detection.vectorize import chunk_components, merge_components

    score = score.astype(np.float32)
    t = low
    if otsu:
        edges = histogram_edges(1000, (0.0, 1.0))
        counts, _ = np.histogram(np.clip(score[ok], 0, 1), bins=edges)
        t = min(max(otsu_threshold(counts, edges), low), high)
    mask = clean_mask((score > t) & ok, ok, opening_radius=open_r, closing_radius=close_r)
    comps = merge_components([chunk_components(mask, score)])
    areas = comps.pixels * pixel * pixel
    keep = areas >= area * (1 - 1e-12)
    hh = max(high, t)
    if len(comps):
        keep &= comps.max_scores >= hh
        if rect:
            large = keep & (areas >= LARGE_LOT_M2)
            if large.any():
                import shapely

                g = comps.geometries[large]
                r = shapely.area(g) / np.maximum(shapely.area(shapely.minimum_rotated_rectangle(g)), 1e-12)
                keep[np.flatnonzero(large)[r < MIN_RECTANGULARITY]] = False
    kept = comps.geometries[keep]
    if len(kept) == 0:
        return np.zeros(score.shape, bool), t
    from affine import Affine
    from rasterio.features import rasterize

    mask = rasterize(((g, 1) for g in kept), out_shape=score.shape, transform=Affine.identity(),
                     fill=0, dtype="uint8").astype(bool)
    if ring_px:
        mask = ring_filter(mask, score, ring_px, ring_max, ring_stat, t)
    return mask, t


def ring_filter(mask, score, ring_px, ring_max, stat, t):
    """Drop objects whose surrounding ring (ring_px wide) scores high too: a field-wide change."""
    from scipy import ndimage

    lab, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return mask
    dist, (ii, jj) = ndimage.distance_transform_edt(~mask, return_indices=True)
    ring = np.where((dist > 1.5) & (dist <= ring_px + 1.5), lab[ii, jj], 0)
    ids = np.arange(1, n + 1)
    if stat == "mean":
        v = ndimage.mean(score, labels=ring, index=ids)
    else:
        v = ndimage.mean((score > stat_t(stat, t)).astype(np.float32), labels=ring, index=ids)
    v = np.nan_to_num(np.asarray(v, float), nan=0.0)
    drop = ids[v > ring_max]
    return mask & ~np.isin(lab, drop)


def stat_t(stat, t):
    return float(stat.split(":")[1]) if ":" in stat else t


def cmd_post(args) -> None:
    z = np.load(QUICK / f"{args.tag}.npz")
    keys = sorted(k.split("/", 1)[1] for k in z.files if k.startswith("levir/"))
    for area in args.area:
        rows, full = [], []
        ts = []
        for k in keys:
            m, t = post_mask(z[f"levir/{k}"], z[f"ok/{k}"], 0.5, low=args.low, high=args.high, area=area,
                             otsu=not args.no_otsu, rect=not args.no_rect, ring_px=args.ring_px,
                             ring_max=args.ring_max, ring_stat=args.ring_stat)
            c = confusion(m, z[f"label/{k}"], ignore=~z[f"ok/{k}"])
            rows.append(c)
            ts.append(t)
            if k in ("test_7", "test_12", "test_102"):
                full.append(c)
        comb = pooled_scores(rows)
        fl = pooled_scores(full) if full else None
        line = (f"low {args.low} high {args.high} area {area:g}: LEVIR combined P {comb['precision']:.3f} "
                f"R {comb['recall']:.3f} F1 {comb['f1']:.3f}")
        if fl:
            line += f" | full P {fl['precision']:.2f} R {fl['recall']:.2f} F1 {fl['f1']:.2f}"
        if args.verbose:
            line += " | t " + " ".join(f"{t:.2f}" for t in ts)
        nk = sorted(k.split("/", 1)[1] for k in z.files if k.startswith("naip/"))
        if nk:
            sh = []
            for k in nk:
                m, _ = post_mask(z[f"naip/{k}"], z[f"ok/{k}"], 5.0, low=args.low, high=args.high,
                                 area=max(area, args.naip_area or 0), otsu=not args.no_otsu,
                                 rect=not args.no_rect, ring_px=round(args.ring_px * 0.1) if args.ring_metres else args.ring_px,
                                 ring_max=args.ring_max, ring_stat=args.ring_stat)
                sh.append(float((m & z[f"ok/{k}"]).sum() / max(z[f"ok/{k}"].sum(), 1)))
            sh = np.array(sh)
            line += (f" | NAIP {int((sh <= 0.01).sum())}/{len(sh)} <=1%, median {100 * np.median(sh):.2f} "
                     f"max {100 * sh.max():.2f} %")
            if args.verbose:
                line += "\n   " + " ".join(f"{k}:{100 * s:.1f}" for k, s in zip(nk, sh) if s > 0.01)
        print(line, flush=True)


def cmd_train(args) -> None:
    from detection.training import TrainingSettings, fit_model, training_matrix
    from train_default import SETTINGS, cached_training_matrix, training_pairs, write_model

    pairs = training_pairs(DATA, naip=args.naip)
    params = dict(SETTINGS.params, num_threads=1)
    s = TrainingSettings(**{**SETTINGS.__dict__, "params": params,
                            "rounds": args.rounds or SETTINGS.rounds,
                            "n_pos": args.n_pos or SETTINGS.n_pos, "n_neg": args.n_neg or SETTINGS.n_neg})
    t = time.perf_counter()
    samples = cached_training_matrix(pairs, s)
    if args.drop:
        from detection.features import feature_names as _fn

        cols = [_fn(s.spec).index(n) for n in args.drop.split(",")]
        for X, _, _ in samples.values():
            X[:, cols] = 0.0
    print(f"matrix {time.perf_counter() - t:.0f} s, rows {sum(len(v[1]) for v in samples.values())}", flush=True)
    folder = QUICK / "models" / args.tag
    groups = sorted({p.group for p in pairs if p.group != "naip_west"})
    folds = args.folds.split(",") if args.folds else groups
    card = json.loads((REPO / "detection" / "models" / "construction_lgbm.json").read_text())
    card["features"] = __import__("detection.features", fromlist=["x"]).feature_names(s.spec)
    card["spec"] = json.loads(json.dumps(s.spec.__dict__))
    todo = [(f"without_{g}", [p.name for p in pairs if p.group != g]) for g in folds]
    if args.all:
        todo.append(("all", [p.name for p in pairs]))
    if args.full_only:
        todo.append(("full_tiles_only", [p.name for p in pairs if p.name in ("test_7", "test_12", "test_102")
                                         or p.group == "naip_west"]))
    for name, names in todo:
        booster = fit_model([samples[n] for n in names], s)
        write_model(booster, folder / f"{name}.txt", {**card, "fold": name})
        print(f"{name} {time.perf_counter() - t:.0f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probs")
    p.add_argument("--models", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--naip", type=int, default=12)
    p.add_argument("--skip-levir", action="store_true")
    p.add_argument("--quick", action="store_true", help="samples scored by full_tiles_only")
    p.add_argument("--east", action="store_true", help="NAIP: eastern (held-out) half only")
    p.add_argument("--naip-model", default="")
    q = sub.add_parser("post")
    q.add_argument("--tag", required=True)
    q.add_argument("--low", type=float, default=0.4)
    q.add_argument("--high", type=float, default=0.8)
    q.add_argument("--area", type=float, nargs="+", default=[400.0, 100.0])
    q.add_argument("--naip-area", type=float, default=None)
    q.add_argument("--no-otsu", action="store_true")
    q.add_argument("--no-rect", action="store_true")
    q.add_argument("-v", "--verbose", action="store_true")
    q.add_argument("--ring-px", type=int, default=0, help="ring width, LEVIR pixels (0.5 m)")
    q.add_argument("--ring-metres", action="store_true", help="NAIP ring = same metres (ring_px / 10)")
    q.add_argument("--ring-max", type=float, default=1.0)
    q.add_argument("--ring-stat", default="mean", help="mean | frac | frac:T")
    r = sub.add_parser("train")
    r.add_argument("--tag", required=True)
    r.add_argument("--folds", default="")
    r.add_argument("--rounds", type=int, default=0)
    r.add_argument("--all", action="store_true")
    r.add_argument("--full-only", action="store_true")
    r.add_argument("--naip", action="store_true", help="add the western half of NAIP")
    r.add_argument("--n-pos", type=int, default=0)
    r.add_argument("--n-neg", type=int, default=0)
    r.add_argument("--drop", default="", help="features set to 0 in training (never split on)")
    a = ap.parse_args()
    {"probs": cmd_probs, "post": cmd_post, "train": cmd_train}[a.cmd](a)


if __name__ == "__main__":
    main()
