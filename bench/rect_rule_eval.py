"""What the large-lot shape rule buys and costs (exploration, not `make eval`).

``detection.compose.object_filter`` keeps a patch of 5,000 m² or more only when it fills at least
``MIN_RECTANGULARITY`` (0.6) of its minimum rotated rectangle. This scores the `make eval` sets
with the rule and without it (0): the 12 LEVIR combined pairs (leave-one-pair-out fold models,
min area 400 m² and auto) and the 45 NAIP eastern-half pairs (shipped model, R, G, B, NIR).
Source of the "large-lot shape rule" paragraph in docs/benchmarks.md. About 10 minutes:

    .venv/bin/python bench/rect_rule_eval.py
"""
import itertools
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import numpy as np  # noqa: E402

import detection.compose as dc  # noqa: E402
import eval_detection as ev  # noqa: E402
from detection.metrics import confusion, pooled_scores  # noqa: E402
from train_default import naip_split  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data"
RULES = (("with the rule (0.6)", 0.6), ("without (0)", 0.0))


def levir() -> None:
    full = list(ev.levir_pairs(DATA / "levir_cd_full_tiles"))
    tiles = {p["group"] for p in full}
    pairs = full + [p for p in ev.levir_pairs(DATA / "levir_cd_samples") if p["group"] not in tiles]
    ev._lopo_state()
    for label, r in RULES:
        dc.MIN_RECTANGULARITY = r
        for name in ("learned", "learned_auto"):
            cs = [confusion(ev.METHODS[name](p["before"], p["after"], bands=ev.RGB, pixel_size_m=0.5),
                            p["label"], ignore=~ev._valid(p["before"], p["after"])) for p in pairs]
            s = pooled_scores(cs)
            print(f"LEVIR {label} {name}: P {s['precision']:.3f} R {s['recall']:.3f} F1 {s['f1']:.3f}", flush=True)


def naip() -> None:
    dates = ev.naip_dates(DATA / "naip_north_dakota")
    cache: dict = {}
    shares: dict[str, list[float]] = {label: [] for label, _ in RULES}
    for b, a in itertools.combinations(dates, 2):
        if b not in cache:
            cache.clear()
            cache[b] = ev.read_on_grid(b)
        before, after = cache[b], ev.read_on_grid(a, like=b)
        _, east = naip_split(before.shape[2])
        before, after = before[:, :, east], after[:, :, east]
        valid = ev._valid(before, after)
        for label, r in RULES:
            dc.MIN_RECTANGULARITY = r
            shares[label].append(ev.flagged_share(ev.run_learned(before, after, bands=ev.RGBN, pixel_size_m=5.0),
                                                  valid))
    for label, v in shares.items():
        v = np.array(v)
        print(f"NAIP {label}: {int((v <= 0.01).sum())} / {len(v)} pairs <= 1 %, median {100 * np.median(v):.2f} %, "
              f"max {100 * v.max():.2f} %, sum of shares {100 * v.sum():.1f} %", flush=True)


if __name__ == "__main__":
    levir()
    naip()
