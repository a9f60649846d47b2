"""Dask as a thin wrapper: the per-chunk functions of ``detection`` mapped over chunked arrays.

Each function here only maps an eager function that is tested on plain numpy arrays
(:mod:`detection.normalize`, :mod:`detection.score`, :mod:`detection.clean`,
:mod:`detection.vectorize`); the tests check that the mapped result equals the eager one for
several chunkings. Everything mapped is a module-level function with plain arguments, so the
graphs pickle to ``distributed`` workers.
"""
from __future__ import annotations

from typing import Callable

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed

from detection.clean import clean_depth, clean_mask
from detection.score import construction_score
from detection.threshold import SCORE_BINS, SCORE_RANGE, histogram_edges
from detection.vectorize import chunk_components

__all__ = ["score_block", "score_array", "score_histogram", "clean_array", "components_tasks",
           "registered_score_array", "histogram_array", "source_window"]


def score_block(
    before: np.ndarray,
    after: np.ndarray,
    valid: np.ndarray,
    gains: np.ndarray,
    offsets: np.ndarray,
    scale: float,
) -> np.ndarray:
    """Score one block (eager; :func:`detection.score.construction_score`).

    Parameters
    ----------
    before, after
        ``(4, rows, cols)`` DN, NaN = no data.
    valid
        ``(rows, cols)`` or ``(1, rows, cols)`` bool.
    gains, offsets
        ``after = gain * before + offset`` per band.
    scale
        DN per unit reflectance.
    """
    valid = np.asarray(valid, dtype=bool)
    if valid.ndim == 3:
        valid = valid[0]
    return construction_score(before, after, valid, scale=scale, gains=gains, offsets=offsets)


def score_array(
    before: da.Array,
    after: da.Array,
    valid: da.Array,
    gains: np.ndarray,
    offsets: np.ndarray,
    scale: float,
) -> da.Array:
    """:func:`score_block` mapped over spatial chunks; ``(H, W)`` float32."""
    if before.chunks != after.chunks or before.chunks[1:] != valid.chunks:
        raise ValueError("before, after and valid must share their spatial chunks")
    if len(before.chunks[0]) != 1:
        before = before.rechunk({0: -1})
        after = after.rechunk({0: -1})
    return da.map_blocks(
        score_block, before, after, valid[None, :, :],
        np.asarray(gains, dtype=np.float64), np.asarray(offsets, dtype=np.float64), float(scale),
        drop_axis=0, dtype=np.float32, meta=np.empty((0, 0), dtype=np.float32),
    )


def score_histogram(score: da.Array, valid: da.Array, bins: int = SCORE_BINS,
                    value_range: tuple[float, float] = SCORE_RANGE) -> tuple[da.Array, np.ndarray]:
    """Lazy histogram counts of the score over valid pixels, and the bin edges.

    Scores above the range are counted in the last bin; invalid pixels are not counted.
    """
    edges = histogram_edges(bins, value_range)
    lo, hi = value_range
    values = da.where(valid, da.clip(score, lo, hi), np.float32(lo - 1.0))
    counts, _ = da.histogram(values, bins=edges)
    return counts, edges


def _clean_block(mask: np.ndarray, valid: np.ndarray, opening_radius: int, closing_radius: int) -> np.ndarray:
    return clean_mask(mask, valid, opening_radius=opening_radius, closing_radius=closing_radius)


def _merge_thin(chunks: tuple[int, ...], depth: int) -> tuple[int, ...]:
    """Chunk sizes with every chunk thinner than ``depth`` merged into its neighbour."""
    out: list[int] = []
    for c in chunks:
        if out and (c < depth or out[-1] < depth):
            out[-1] += c
        else:
            out.append(c)
    return tuple(out)


def clean_array(mask: da.Array, valid: da.Array, opening_radius: int, closing_radius: int) -> da.Array:
    """:func:`detection.clean.clean_mask` with enough overlap between chunks to be exact.

    Along an axis that has a single chunk no overlap is needed. Chunks thinner than the overlap
    (which ``map_overlap`` cannot use) are merged into a neighbour for the operation; the
    result has the chunks of ``mask``.
    """
    if mask.chunks != valid.chunks:
        raise ValueError("mask and valid must share their chunks")
    depth = clean_depth(opening_radius, closing_radius)
    if depth == 0:
        return da.map_blocks(_clean_block, mask, valid, opening_radius, closing_radius,
                             dtype=bool, meta=np.empty((0, 0), dtype=bool))
    work = tuple(_merge_thin(c, depth) for c in mask.chunks)
    m, v = (mask, valid) if work == mask.chunks else (mask.rechunk(work), valid.rechunk(work))
    depths = {axis: (depth if len(c) > 1 else 0) for axis, c in enumerate(work)}
    out = da.map_overlap(_clean_block, m, v, depth=depths, boundary="none", trim=True,
                         dtype=bool, meta=np.empty((0, 0), dtype=bool),
                         opening_radius=opening_radius, closing_radius=closing_radius)
    return out if work == mask.chunks else out.rechunk(mask.chunks)


def components_tasks(mask: da.Array, score: da.Array, *, optimize_graph: bool = True) -> list[Delayed]:
    """One delayed :func:`detection.vectorize.chunk_components` per spatial chunk.

    The graphs of ``mask`` and ``score`` are optimised together (``optimize_graph``; pass False
    when the caller already optimised them jointly with other outputs of the same compute): apart,
    each gets its own fused copy of what they share (the score, hence the imagery reads).
    """
    if mask.chunks != score.chunks:
        raise ValueError("mask and score must share their chunks")
    if optimize_graph:
        mask, score = dask.optimize(mask, score)
    row_offs = np.cumsum((0,) + mask.chunks[0][:-1])
    col_offs = np.cumsum((0,) + mask.chunks[1][:-1])
    mblocks = mask.to_delayed(optimize_graph=False)
    sblocks = score.to_delayed(optimize_graph=False)
    fn = dask.delayed(chunk_components, pure=True)
    return [fn(mblocks[i, j], sblocks[i, j], int(row_offs[i]), int(col_offs[j]))
            for i in range(len(row_offs)) for j in range(len(col_offs))]


# --------------------------------------------------------------------------- registered scores
def _registered_block(valid: np.ndarray, before: np.ndarray, after: np.ndarray, *, settings,
                      stats, pixel_size_m: float, depths: tuple[int, int] = (0, 0),
                      block_info=None) -> np.ndarray:
    """One block of :func:`detection.compose.score_block`, as ``(1, rows, cols)`` (valid
    first: dask takes the output's block shape from it).

    ``depths``: the overlap ``map_overlap`` added on each side of each spatial axis (none on
    the grid's edge, ``boundary="none"``); the score keeps the block without it.
    """
    from detection.compose import score_block as _score

    scored = None
    if block_info is not None and any(depths):
        where, count = block_info[0]["chunk-location"], block_info[0]["num-chunks"]
        rows, cols = valid.shape[-2:]
        (dr, dc), (i, j), (ni, nj) = depths, where[1:], count[1:]
        scored = (slice(dr if i > 0 else 0, rows - (dr if i < ni - 1 else 0)),
                  slice(dc if j > 0 else 0, cols - (dc if j < nj - 1 else 0)))
    return _score(before, after, valid, settings=settings, stats=stats,
                  pixel_size_m=pixel_size_m, scored=scored)[None]


def registered_score_array(before: da.Array, after: da.Array, valid: da.Array, *, settings,
                           stats, pixel_size_m: float, depth: int) -> da.Array:
    """:func:`detection.compose.score_block` mapped with ``depth`` pixels of overlap.

    ``boundary="none"``: a block on the grid edge sees the real edge, so every pixel is
    computed from the same input neighbourhood as on the whole grid (identical results for
    any chunking). Chunks thinner than the depth are merged into a neighbour for the
    operation; the result has the spatial chunks of ``valid``. ``(H, W)`` float32.
    """
    if before.chunks != after.chunks or before.chunks[1:] != valid.chunks:
        raise ValueError("before, after and valid must share their spatial chunks")
    if len(before.chunks[0]) != 1:
        before = before.rechunk({0: -1})
        after = after.rechunk({0: -1})
    kw = dict(settings=settings, stats=stats, pixel_size_m=float(pixel_size_m))
    spatial = valid.chunks
    work = tuple(_merge_thin(c, max(int(depth), 1)) for c in spatial)
    b, a, v = before, after, valid[None, :, :]
    if work != spatial:
        b = b.rechunk(((b.shape[0],),) + work)
        a = a.rechunk(((a.shape[0],),) + work)
        v = v.rechunk(((1,),) + work)
    meta = np.empty((0, 0, 0), dtype=np.float32)
    if depth == 0:
        out = da.map_blocks(_registered_block, v, b, a, dtype=np.float32, meta=meta, **kw)
    else:
        depths = {0: 0, 1: depth if len(work[0]) > 1 else 0, 2: depth if len(work[1]) > 1 else 0}
        out = da.map_overlap(_registered_block, v, b, a, depth=depths, boundary="none",
                             trim=True, align_arrays=False, dtype=np.float32, meta=meta,
                             depths=(depths[1], depths[2]), **kw)
    out = out[0]
    return out if work == spatial else out.rechunk(spatial)


def histogram_array(score: da.Array, valid: da.Array, edges: np.ndarray,
                    value_range: tuple[float, float]) -> da.Array:
    """Lazy integer histogram counts of the valid scores (clipped to the range)."""
    lo, hi = value_range
    values = da.where(valid, da.clip(score, lo, hi), np.float32(lo - 1.0))
    counts, _ = da.histogram(values, bins=edges)
    return counts


def _read_source(source, key: tuple[slice, ...]) -> np.ndarray:
    return np.asarray(source[key])


def _array_source(arr: da.Array):
    """The lazy reader ``arr`` was built on by ``da.from_array`` (e.g. :mod:`pipeline.imagery`'s),
    or None when ``arr`` is anything else (computed, derived or in memory)."""
    name = "original-" + arr.name
    layers = arr.__dask_graph__().layers
    source = None
    if len(layers) == 2 and name in layers:
        source = dict(layers[name]).get(name)
    if source is None or tuple(getattr(source, "shape", ())) != arr.shape:
        return None
    return source


def window_reader(arr: da.Array) -> Callable[[slice, slice], np.ndarray]:
    """``read(rows, cols)``: ``arr[..., rows, cols]`` as a numpy array, now.

    On an array over a lazy reader the reader is called directly (no dask graph per window:
    the object test reads thousands of small windows, and building and computing a graph for
    each cost about a quarter of its time on a 144 Mpx pair); on any other array the slice is
    computed with the synchronous scheduler. Same values either way as :func:`source_window`.
    """
    source = _array_source(arr)
    lead = (slice(None),) * (arr.ndim - 2)
    if source is None:
        return lambda rows, cols: np.asarray(arr[lead + (rows, cols)].compute(scheduler="sync"))
    return lambda rows, cols: _read_source(source, lead + (rows, cols))


def source_window(arr: da.Array, rows: slice, cols: slice) -> da.Array:
    """``arr[..., rows, cols]`` as one block read straight from the array's source.

    Slicing a dask array built by ``da.from_array`` over a lazy reader (e.g.
    :mod:`pipeline.imagery`'s) reads every whole chunk the window touches; here the reader
    itself is asked for the window only, so a few small windows spread over a large grid read
    only those pixels. Any other array (computed, or wrapping an in-memory array) is sliced
    as usual. Contiguous slices with ``start`` and ``stop`` only.
    """
    key = (slice(None),) * (arr.ndim - 2) + (rows, cols)
    source = _array_source(arr)
    if source is None:
        return arr[key]
    shape = tuple(arr.shape[:-2]) + (rows.stop - rows.start, cols.stop - cols.start)
    block = dask.delayed(_read_source, pure=True)(source, key)
    return da.from_delayed(block, shape=shape, dtype=arr.dtype, meta=arr._meta)
