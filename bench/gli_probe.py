"""Probe (not make eval): can a visible-band vegetation index stand in for the NDVI veto on RGB imagery?

On the western (training) half of every NAIP date, pixels where blue does not exceed green
(the NDVI veto's own exception), sampled every 7th: the Green Leaf Index
GLI = (2G - R - B) / (2G + R + B) against NDVI. For each GLI threshold, the share of pixels it
selects that NDVI calls vegetated (>= 0.35) or bare (<= 0.15), and how many vegetated pixels
it finds. Source of the GLI sentence in docs/benchmarks.md ("Without NIR"):

    .venv/bin/python bench/gli_probe.py
"""
import sys
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent)); sys.path.insert(0, str(HERE))
import numpy as np
import eval_detection as ev
from train_default import naip_split
naip = ev.naip_dates(HERE.parent.parent / "shared" / "data" / "naip_north_dakota")
G, N = [], []
for p in naip:
    x = ev.read_on_grid(p).astype(np.float32)
    west, _ = naip_split(x.shape[2]); x = x[:, :, west]
    R, Gr, B, NIR = x
    s = R + Gr + B
    ok = np.isfinite(s) & (s > 0)
    gli = (2 * Gr - R - B) / np.maximum(2 * Gr + R + B, 1e-6)
    ndvi = (NIR - R) / np.maximum(NIR + R, 1e-6)
    bg = B > Gr
    G.append(gli[ok & ~bg][::7]); N.append(ndvi[ok & ~bg][::7])
g = np.concatenate(G); n = np.concatenate(N)
print("pixels", len(g), "share NDVI>=0.35", (n >= 0.35).mean(), "NDVI<=0.15", (n <= 0.15).mean())
for t in [0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15]:
    sel = g >= t
    print(f"GLI>={t:.2f}: share {sel.mean():.3f}; of them NDVI>=0.35 {np.mean(n[sel] >= 0.35):.3f}, NDVI<=0.15 {np.mean(n[sel] <= 0.15):.4f}; recall of NDVI>=0.35 {np.mean(sel[n >= 0.35]):.3f}")
