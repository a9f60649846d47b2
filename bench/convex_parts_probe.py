"""Probe (not make bench): areas of patch x parcel pairs by convex parts of the parcel, against GEOS.

Builds the realistic overlay world of bench/overlay_bench.py (50,000 patches, 175,000 parcels),
captures the first large batch of pairs `overlay.split.covered_parts` sends to
`shapely.intersection`, and measures their areas both ways: GEOS intersection + area, and the
parcel cut into triangles (`shapely.constrained_delaunay_triangles`) with the patch clipped per
triangle in numpy (`overlay.split.clipped_areas`). Source of the "convex parts" paragraph in
docs/benchmarks.md:

    .venv/bin/python bench/convex_parts_probe.py
"""
import sys, time
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent)); sys.path.insert(0, str(HERE))
import shapely, numpy as np
import overlay_bench as ob
import overlay.split as sp
patches, counties, farmland, basic, approved = ob.world(n_patches=50000, n_parcels=175000, shapes="realistic")
# capture the GEOS pairs of the farmland covered_parts
G = []
orig = sp.shapely.intersection
cap = {}
def grab(a, b, *x, **k):
    if "pairs" not in cap and np.size(a) > 1000: cap["pairs"] = (np.asarray(a), np.asarray(b))
    return orig(a, b, *x, **k)
shapely.intersection = grab
sp.split_patches(patches.iloc[:20000], counties, farmland, basic, approved, year=2025)
shapely.intersection = orig
a, b = cap["pairs"]
print("pairs", len(a), "patch holes", (shapely.get_num_interior_rings(a) > 0).sum(), "feature holes", (shapely.get_num_interior_rings(b) > 0).sum(),
      "feature convex", sp.convex_polygons(b).sum(), "patch convex", sp.convex_polygons(a).sum())
t = time.perf_counter(); ref = shapely.area(shapely.intersection(a, b)); t_geos = time.perf_counter() - t
ok = (shapely.get_num_interior_rings(a) == 0) & (shapely.get_num_interior_rings(b) == 0) & (shapely.get_type_id(a) == 3) & (shapely.get_type_id(b) == 3)
A, B = a[ok], b[ok]
t = time.perf_counter()
ub, inv = np.unique(np.array([id(x) for x in B]), return_inverse=True)
first = np.zeros(len(ub), dtype=np.int64); first[inv] = np.arange(len(B))
feats = B[first]
tris = shapely.constrained_delaunay_triangles(feats)
parts, fidx = shapely.get_parts(tris, return_index=True)
t_tri = time.perf_counter() - t
# expand pairs
order = np.argsort(fidx, kind="stable"); parts, fidx = parts[order], fidx[order]
start = np.searchsorted(fidx, np.arange(len(feats))); cnt = np.bincount(fidx, minlength=len(feats))
pc = cnt[inv]
pair = np.repeat(np.arange(len(A)), pc)
tri_i = np.concatenate([np.arange(start[f], start[f] + cnt[f]) for f in inv]) if len(A) else np.zeros(0, int)
ab = shapely.bounds(A); tb = shapely.bounds(parts)
keep = sp._boxes_overlap(ab[pair], tb[tri_i])
pair, tri_i = pair[keep], tri_i[keep]
t2 = time.perf_counter()
m = sp.clipped_areas(A[pair], parts[tri_i])
area = np.bincount(pair, m, minlength=len(A))
t_clip = time.perf_counter() - t2
print("ok pairs", ok.sum(), "triangles", len(parts), "expanded", len(pair), "geos s", round(t_geos, 2), "tri s", round(t_tri, 2), "clip s", round(t_clip, 2), "total new", round(time.perf_counter() - t, 2))
err = np.abs(area - ref[ok]); print("max abs err m2", err.max(), "rel", (err / np.maximum(ref[ok], 1e-9)).max())
