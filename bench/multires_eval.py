"""LEVIR at other pixel sizes (exploration, not `make eval`): does the learned detector carry over?

Every LEVIR combined pair (the 3 full tiles + the 9 samples of other tiles, as `make eval`) is
block-averaged to 1 m and 2 m (labels: change where at least half the block is), then scored
by the leave-one-pair-out fold models (`learned_auto`: `min_area_m2: auto`) and by the two classic
baselines of `make eval`, computed by the same functions. Prints pooled pixel F1 per pixel size.
Source of the "other pixel sizes" line in docs/benchmarks.md. About 3 minutes on 2 cores:

    .venv/bin/python bench/multires_eval.py
"""
import sys
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent)); sys.path.insert(0, str(HERE))
import numpy as np
from pathlib import Path
import eval_detection as ev
from detection.metrics import confusion, pooled_scores, Confusion
DATA = HERE.parent.parent / "shared" / "data"
full = list(ev.levir_pairs(DATA/"levir_cd_full_tiles")); tiles = {p["group"] for p in full}
pairs = full + [p for p in ev.levir_pairs(DATA/"levir_cd_samples") if p["group"] not in tiles]
def block(x, k):
    b, h, w = x.shape; h2, w2 = h//k*k, w//k*k
    return x[:, :h2, :w2].reshape(b, h2//k, k, w2//k, k).mean(axis=(2, 4))
state = ev._lopo_state()
for k in (1, 2, 4):
    res = {"learned_auto": [], "cva_otsu": [], "pca_kmeans": []}
    for p in pairs:
        B = block(p["before"].astype(np.float32), k); A = block(p["after"].astype(np.float32), k)
        L = block(p["label"][None].astype(np.float32), k)[0] >= 0.5
        # keep the LOPO model lookup working: register the downsampled before under the pair's group
        state["group_of"][ev._array_key(B)] = p["group"]
        ok = ev._valid(B, A)
        for name in res:
            pred = ev.METHODS[name](B, A, bands=ev.RGB, pixel_size_m=0.5 * k)
            res[name].append(confusion(pred, L, ignore=~ok))
    print(f"pixel {0.5*k} m:", {n: round(pooled_scores(v)["f1"], 3) for n, v in res.items()}, flush=True)
