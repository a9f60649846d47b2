"""NAIP eastern half scored with and without its NIR band (exploration, not `make eval`).

Most very-high-resolution mosaics and aerial photos are RGB only. Every NAIP pair of different
years (eastern half, as `make eval`) is scored by the shipped model twice: R, G, B, NIR (the
`make eval` figure) and R, G, B only. Prints each pair's flagged share and the count at or under
1 %. Source of the "without NIR" line in docs/benchmarks.md. About 8 minutes on 2 cores:

    .venv/bin/python bench/naip_rgb_eval.py
"""
import sys, itertools
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent)); sys.path.insert(0, str(HERE))
import numpy as np
import eval_detection as ev
from train_default import naip_split
DATA = HERE.parent.parent / "shared" / "data"
naip = ev.naip_dates(DATA / "naip_north_dakota"); cache = {}
shares = {"rgbn": [], "rgb": []}
for b, a in itertools.combinations(naip, 2):
    if b not in cache: cache.clear(); cache[b] = ev.read_on_grid(b)
    before, after = cache[b], ev.read_on_grid(a, like=b)
    _, east = naip_split(before.shape[2]); before, after = before[:, :, east], after[:, :, east]
    valid = ev._valid(before, after)
    for bands, name in ((ev.RGBN, "rgbn"), (ev.RGB, "rgb")):
        B, A = (before, after) if name == "rgbn" else (before[:3], after[:3])
        pred = ev.run_learned(B, A, bands=bands, pixel_size_m=5.0)
        shares[name].append(ev.flagged_share(pred, valid))
    print(b.stem[-8:], a.stem[-8:], round(100 * shares["rgbn"][-1], 2), round(100 * shares["rgb"][-1], 2), flush=True)
for k, v in shares.items():
    v = np.array(v); print(k, "pairs <=1%:", int((v <= 0.01).sum()), "/", len(v), "median %.2f max %.2f %%" % (100 * np.median(v), 100 * v.max()))
