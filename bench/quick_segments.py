"""Quick experiment (not make eval): drop patches that are a small part of their after-date segment.

An object-level test the issue suggests ("object-level decisions on segments of the after date"):
the after date is segmented (Felzenszwalb graph segmentation, skimage) and a patch is dropped when
it covers less than ``cov`` of the segments it touches (a fragment of a field that changed as a
whole, not an object). Replays the cached probability maps of ``bench/quick_eval.py probs``
(tag ``naip1``: the shipped model's fold maps, LEVIR cross-set, NAIP eastern half):

    .venv/bin/python bench/quick_segments.py scale=50 cov=0,0.1,0.15,0.2,0.3 area=100

Results are in docs/benchmarks.md ("How the learned detector's settings were chosen").
"""
import sys, itertools, numpy as np, time
sys.path.insert(0,'bench'); sys.path.insert(0,'.')
import quick_eval as q, eval_detection as ev
from train_default import naip_split
from detection.metrics import confusion, pooled_scores
from scipy import ndimage
from skimage.segmentation import felzenszwalb

z=np.load('bench/out/quick/naip1.npz')
args=dict(a.split('=') for a in sys.argv[1:])
SCALE=float(args.get('scale',200)); MINM2=float(args.get('minm2',25)); COVS=[float(c) for c in args.get('cov','0,0.2,0.3,0.4,0.5').split(',')]
AREA=float(args.get('area',100))

def norm(x):
    x=np.nan_to_num(x[:3].astype(np.float32))
    out=np.empty_like(x)
    for i in range(3):
        lo,hi=np.percentile(x[i],[1,99]); out[i]=np.clip((x[i]-lo)/max(hi-lo,1e-6),0,1)
    return out.transpose(1,2,0)

def coverage(mask, after, pixel):
    if args.get('mode') == 'objects':
        return coverage_objects(mask, after, pixel)
    seg=felzenszwalb(norm(after), scale=SCALE, sigma=0.8, min_size=max(4,int(MINM2/pixel/pixel)))
    lab,n=ndimage.label(mask, structure=np.ones((3,3)))
    if n==0: return lab, np.zeros(0)
    # segments touched by each patch: area of segments touched (majority >=50% of seg inside?), use pixels
    segsize=np.bincount(seg.ravel())
    cov=np.zeros(n)
    for i,sl in enumerate(ndimage.find_objects(lab),1):
        m=lab[sl]==i
        s=seg[sl][m]
        ids,cnt=np.unique(s,return_counts=True)
        # segments mostly inside patch count fully; else the whole segment counts as the object's extent
        ext=segsize[ids].sum()
        cov[i-1]=m.sum()/ext
    return lab,cov

def coverage_objects(mask, after, pixel):
    """The shipped implementation: detection.objects on each patch's own window."""
    from detection.objects import coverage_of_patches, stretch_limits
    from detection.vectorize import chunk_components, merge_components
    lab,n=ndimage.label(mask, structure=np.ones((3,3)))
    if n==0: return lab, np.zeros(0)
    comps=merge_components([chunk_components(mask, mask.astype(np.float32))])
    lo,hi=stretch_limits(after[:3].reshape(3,-1)[:, ::7])
    cov=coverage_of_patches(comps.geometries, lambda r0,r1,c0,c1: after[:, r0:r1, c0:c1], mask.shape,
                            lo=lo, hi=hi, pixel_size_m=pixel)
    # components -> labels: the label under each component's first pixel
    out=np.ones(n)
    out[lab[comps.first_rows, comps.first_cols]-1]=cov
    return lab,out

t=time.time()
lev={c:[] for c in COVS}
keys=sorted(k.split('/',1)[1] for k in z.files if k.startswith('levir/'))
pairs={p['name']:p for p in q.levir_combined()}
for k in keys:
    m,_=q.post_mask(z['levir/'+k].astype(np.float32), z['ok/'+k],0.5,low=.25,high=.5,area=AREA)
    lab,cov=coverage(m, pairs[k]['after'], 0.5)
    for c in COVS:
        mm=m & ~np.isin(lab, 1+np.flatnonzero(cov<c))
        lev[c].append(confusion(mm, z['label/'+k], ignore=~z['ok/'+k]))
print('levir', time.time()-t, flush=True)
dates={d.stem.rsplit('_',1)[-1]:d for d in ev.naip_dates(q.DATA/'naip_north_dakota')}
sh={c:[] for c in COVS}
for key in sorted(k.split('/',1)[1] for k in z.files if k.startswith('naip/')):
    b,a=key.split('_')
    s=z['naip/'+key].astype(np.float32); ok=z['ok/'+key]
    m,_=q.post_mask(s,ok,5.0,low=.25,high=.5,area=max(AREA,400))
    if not m.any():
        for c in COVS: sh[c].append(0.0)
        continue
    A=ev.read_on_grid(dates[a],like=dates[b]); _,east=naip_split(A.shape[2]); A=A[:,:,east]
    lab,cov=coverage(m,A,5.0)
    for c in COVS:
        mm=m & ~np.isin(lab, 1+np.flatnonzero(cov<c))
        sh[c].append((mm&ok).sum()/ok.sum())
for c in COVS:
    p=pooled_scores(lev[c]); s=np.array(sh[c])
    print(f"cov>={c}: LEVIR P {p['precision']:.3f} R {p['recall']:.3f} F1 {p['f1']:.3f} | NAIP {(s<=.01).sum()}/45 max {100*s.max():.2f}%")
print(time.time()-t)
