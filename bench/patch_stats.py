"""Per-patch measures of the learned detector's kept patches (exploration, not `make eval`).

Every kept patch of the 12 LEVIR combined pairs (leave-one-pair-out fold models, with the share of
its pixels labelled change) and of the 45 NAIP eastern-half pairs (shipped model), `min_area_m2:
auto`: area, mean / max probability, rectangularity, solidity, holes, share above 0.5, and whether
its outline follows a before / after date edge. Pickled to bench/out/patch_stats.pkl (a list of
dicts; load with pandas). Source of the "What the NAIP false alarms left" table in
docs/benchmarks.md. About 4 minutes on 2 cores:

    .venv/bin/python bench/patch_stats.py
"""
import sys, itertools, pickle
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent)); sys.path.insert(0, str(HERE))
import numpy as np
from pathlib import Path
import eval_detection as ev
from train_default import naip_split
from detection.compose import Settings, detect_arrays
import shapely
DATA = HERE.parent.parent / "shared" / "data"
state = ev._lopo_state()
rows = []
from scipy import ndimage
def gradmap(x):
    l = np.nan_to_num(np.nanmean(x[:3].astype(np.float32), axis=0))
    lo, hi = np.percentile(l, [1, 99]); l = (l - lo) / max(hi - lo, 1e-6)
    g = np.hypot(ndimage.sobel(l, 0), ndimage.sobel(l, 1))
    return g
def feats(res, pixel, label=None, ok=None, name="", B=None, A=None):
    c = res.components
    gb, ga = gradmap(B), gradmap(A)
    tb, ta = np.percentile(gb, 80), np.percentile(ga, 80)
    eb = ndimage.maximum_filter(gb > tb, 3); ea = ndimage.maximum_filter(ga > ta, 3)
    idx = np.flatnonzero(res.keep)
    from rasterio.features import rasterize
    from affine import Affine
    for i in idx:
        g = c.geometries[i]
        r = {"name": name, "pixel": pixel, "px": int(c.pixels[i]), "m2": float(c.pixels[i]*pixel*pixel),
             "mean": float(c.mean_scores[i]), "max": float(c.max_scores[i]),
             "rect": float(shapely.area(g)/max(shapely.area(shapely.minimum_rotated_rectangle(g)),1e-9)),
             "solid": float(shapely.area(g)/max(shapely.area(shapely.convex_hull(g)),1e-9)),
             "perim": float(shapely.length(g)), "area_g": float(shapely.area(g)),
             "holes": sum(len(p.interiors) for p in getattr(g, 'geoms', [g]))}
        if label is not None:
            m = rasterize([(g,1)], out_shape=label.shape, transform=Affine.identity(), dtype="uint8").astype(bool)
            r["tp_frac"] = float(label[m].mean())
        # core fraction
        m = rasterize([(g,1)], out_shape=res.score.shape, transform=Affine.identity(), dtype="uint8").astype(bool)
        s = res.score[m]
        ring = m & ~ndimage.binary_erosion(m)
        r["edge_b"] = float(eb[ring].mean()); r["edge_a"] = float(ea[ring].mean())
        r["gb_ring"] = float(gb[ring].mean()/tb); r["ga_ring"] = float(ga[ring].mean()/ta)
        r["gb_in"] = float(gb[m].mean()/tb); r["ga_in"] = float(ga[m].mean()/ta)
        r["core05"] = float((s > 0.5).mean()); r["p50"] = float(np.median(s)); r["p90"]=float(np.percentile(s,90))
        rows.append(r)
def run(before, after, bands, pixel, model):
    order = [bands.index(b) if b in bands else None for b in ("blue","green","red","nir")]
    h, w = before.shape[1:]; nan = np.full((h,w), np.nan, np.float32)
    b4 = np.stack([before[i] if i is not None else nan for i in order]).astype(np.float32)
    a4 = np.stack([after[i] if i is not None else nan for i in order]).astype(np.float32)
    return detect_arrays(b4, a4, pixel_size_m=pixel, settings=Settings(model=model, min_area_m2="auto"), dtype="uint8")
full = list(ev.levir_pairs(DATA/"levir_cd_full_tiles")); tiles={p["group"] for p in full}
levir = full + [p for p in ev.levir_pairs(DATA/"levir_cd_samples") if p["group"] not in tiles]
for p in levir:
    model = str(state["folder"]/f"without_{p['group']}.txt")
    res = run(p["before"], p["after"], ev.RGB, 0.5, model)
    feats(res, 0.5, label=p["label"].astype(bool), name="levir/"+p["name"], B=p["before"], A=p["after"])
    print(p["name"], flush=True)
naip = ev.naip_dates(DATA/"naip_north_dakota"); cache={}
for b, a in itertools.combinations(naip, 2):
    if b not in cache: cache.clear(); cache[b] = ev.read_on_grid(b)
    before, after = cache[b], ev.read_on_grid(a, like=b)
    _, east = naip_split(before.shape[2]); before, after = before[:,:,east], after[:,:,east]
    res = run(before, after, ev.RGBN, 5.0, None)
    feats(res, 5.0, name="naip/"+b.stem[-8:]+"_"+a.stem[-8:], B=before, A=after)
OUT = Path(__file__).resolve().parent / "out" / "patch_stats.pkl"
OUT.parent.mkdir(exist_ok=True)
pickle.dump(rows, open(OUT, "wb"))
print(len(rows))
import pandas as pd
df = pd.DataFrame(rows)
naip_px = df[df.name.str.startswith("naip/")].px
print(f"NAIP flagged px {naip_px.sum():,}, in patches >= 5000 m2 {naip_px[naip_px >= 200].sum():,}, "
      f"4 largest {naip_px.nlargest(4).sum():,}")
lev = df[df.name.str.startswith("levir/")]
print(f"LEVIR largest kept {lev.m2.max():,.0f} m2, largest true positive {lev[lev.tp_frac > 0.5].m2.max():,.0f} m2")
