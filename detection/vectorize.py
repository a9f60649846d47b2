"""Change mask -> polygons, chunk by chunk, without breaking polygons at chunk borders.

Per chunk (:func:`chunk_components`): the cleaned mask is labelled into 4-connected components
(``scipy.ndimage.label``), each component is traced by ``rasterio.features.shapes`` (also
4-connected) in **integer pixel coordinates** of the whole grid (the chunk offset is a
translation, so coordinates are exact), and its pixel count, score sum and
first pixel (raster order) are recorded, together with the labels on the four chunk edges.

Across chunks (:func:`merge_components`): two pieces belong to the same polygon exactly when a
pixel of one is 4-adjacent to a pixel of the other across a chunk border, i.e. the pieces share
an edge of positive length. The edge rows/columns give those pairs directly; connected
components of that graph (``scipy.sparse.csgraph``) group the pieces, and each group is united
(``shapely.union_all``; the pieces only share edges, so the union is exact on the integer
coordinates). Every polygon -- merged or not -- then goes through the same canonical form
(collinear vertices removed, :func:`shapely.normalize`), so the output does not depend on the
chunking, and only then is mapped to map coordinates with the grid's affine
(:func:`to_map_coordinates`).

Score sums are accumulated as integers (score quantised to 1e-6), so ``mean_score`` is exact
and identical for any chunking.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from affine import Affine
from rasterio import features
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = [
    "SCORE_QUANTUM",
    "ChunkComponents",
    "Components",
    "chunk_components",
    "merge_components",
    "to_map_coordinates",
    "source_ids",
]

#: resolution of the exact integer score sums
SCORE_QUANTUM = 1e-6
_FOUR = ndimage.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class ChunkComponents:
    """The 4-connected change components of one chunk (``n`` of them, labels 1..n).

    Attributes
    ----------
    row_off, col_off
        Position of the chunk in the grid.
    shape
        Chunk ``(rows, cols)``.
    geometries
        ``(n,)`` shapely Polygons in grid pixel coordinates, index ``i`` = label ``i + 1``.
    pixels
        ``(n,)`` int64 pixel counts.
    score_sums
        ``(n,)`` int64 sums of ``round(score / SCORE_QUANTUM)``.
    first_rows, first_cols
        ``(n,)`` int64 grid position of each component's first pixel in raster order.
    top, bottom, left, right
        Labels (0 = no change) of the chunk's first/last row and first/last column.
    score_maxes
        ``(n,)`` float64 largest score of each component (exact: a maximum, no rounding).
    """

    row_off: int
    col_off: int
    shape: tuple[int, int]
    geometries: np.ndarray
    pixels: np.ndarray
    score_sums: np.ndarray
    first_rows: np.ndarray
    first_cols: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray
    score_maxes: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n(self) -> int:
        """Number of components."""
        return int(self.pixels.size)


@dataclass(frozen=True)
class Components:
    """Whole-grid change polygons, sorted in raster order of their first pixel.

    Attributes
    ----------
    geometries
        ``(m,)`` Polygons in grid pixel coordinates (canonical form).
    pixels
        ``(m,)`` int64 pixel counts.
    mean_scores
        ``(m,)`` float64 mean score over each polygon's pixels.
    first_rows, first_cols
        ``(m,)`` int64 first pixel in raster order.
    max_scores
        ``(m,)`` float64 largest score over each polygon's pixels.
    """

    geometries: np.ndarray
    pixels: np.ndarray
    mean_scores: np.ndarray
    first_rows: np.ndarray
    first_cols: np.ndarray
    max_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return int(self.pixels.size)

    def select(self, keep: np.ndarray) -> "Components":
        """The subset given by a boolean or index array, order kept."""
        maxes = self.max_scores[keep] if self.max_scores.size == self.pixels.size else self.max_scores
        return Components(self.geometries[keep], self.pixels[keep], self.mean_scores[keep],
                          self.first_rows[keep], self.first_cols[keep], maxes)


def _empty_i64() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def chunk_components(
    mask: np.ndarray,
    score: np.ndarray,
    row_off: int = 0,
    col_off: int = 0,
) -> ChunkComponents:
    """Label, trace and measure the change components of one chunk.

    Parameters
    ----------
    mask
        ``(rows, cols)`` bool cleaned change mask of the chunk.
    score
        ``(rows, cols)`` float score of the same pixels.
    row_off, col_off
        Offset of the chunk in the grid.

    Returns
    -------
    ChunkComponents
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or np.shape(score) != mask.shape:
        raise ValueError(f"mask and score must be 2-D of the same shape, got {mask.shape} and {np.shape(score)}")
    labels, n = ndimage.label(mask, structure=_FOUR)
    labels = labels.astype(np.int32, copy=False)
    edges = dict(top=labels[0, :].copy(), bottom=labels[-1, :].copy(),
                 left=labels[:, 0].copy(), right=labels[:, -1].copy())
    if n == 0:
        return ChunkComponents(int(row_off), int(col_off), mask.shape, np.empty(0, dtype=object),
                               _empty_i64(), _empty_i64(), _empty_i64(), _empty_i64(), **edges)
    flat = labels.ravel()
    pixels = np.bincount(flat, minlength=n + 1)[1:].astype(np.int64)
    q = np.where(mask, np.rint(np.asarray(score, dtype=np.float64) / SCORE_QUANTUM), 0.0).ravel()
    # float64 sums of integers are exact below 2**53; beyond that (never for sane chunks) use int64
    if float(np.abs(q).max(initial=0.0)) * flat.size < 2.0**52:
        sums = np.rint(np.bincount(flat, weights=q, minlength=n + 1)[1:]).astype(np.int64)
    else:
        sums = np.zeros(n + 1, dtype=np.int64)
        np.add.at(sums, flat, q.astype(np.int64))
        sums = sums[1:]
    at = np.flatnonzero(flat)  # the labelled pixels, in raster order
    at_label = flat[at]
    first = np.full(n, flat.size, dtype=np.int64)  # first occurrence of labels 1..n, raster order
    np.minimum.at(first, at_label - 1, at)
    first_rows = first // mask.shape[1] + int(row_off)
    first_cols = first % mask.shape[1] + int(col_off)
    geoms = _traced(labels, n, row_off, col_off)
    maxes = np.full(n, -np.inf)
    np.maximum.at(maxes, at_label - 1, np.asarray(score, dtype=np.float64).ravel()[at])
    return ChunkComponents(int(row_off), int(col_off), mask.shape, geoms, pixels, sums,
                           first_rows.astype(np.int64), first_cols.astype(np.int64), **edges,
                           score_maxes=maxes)


def _traced(labels: np.ndarray, n: int, row_off: int, col_off: int) -> np.ndarray:
    """``(n,)`` polygons of labels 1..n, traced by GDAL (``rasterio.features.shapes``) in grid
    pixel coordinates; built from the traced rings in one shapely call for the chunk, not one
    ``shapely.geometry.shape`` per polygon (the same geometries, tested)."""
    # traced at twice the pixel size, then halved (exact in floating point): an identity
    # transform (the chunk at the grid origin) would make GDAL warn "not georeferenced", and
    # silencing warnings is not thread-safe under dask's threaded scheduler
    doubled = Affine(2.0, 0.0, 2.0 * int(col_off), 0.0, 2.0, 2.0 * int(row_off))
    where: list[int] = []
    rings_of: list[int] = []
    points_of: list[int] = []
    points: list[tuple[float, float]] = []
    for geojson, value in features.shapes(labels, mask=labels > 0, connectivity=4, transform=doubled):
        rings = geojson["coordinates"]
        where.append(int(value) - 1)
        rings_of.append(len(rings))
        for ring in rings:
            points_of.append(len(ring))
            points.extend(ring)
    geoms = np.empty(n, dtype=object)
    if where:
        xy = np.array(points, dtype=np.float64) * 0.5
        rings = shapely.linearrings(xy, indices=np.repeat(np.arange(len(points_of)), points_of))
        geoms[np.array(where)] = shapely.polygons(rings, indices=np.repeat(np.arange(len(where)), rings_of))
    return geoms


def _canonical(geoms: np.ndarray) -> np.ndarray:
    """Collinear vertices removed, rings oriented and started canonically."""
    if geoms.size == 0:
        return geoms
    return shapely.normalize(shapely.simplify(geoms, 0.0, preserve_topology=True))


def merge_components(chunks: list[ChunkComponents]) -> Components:
    """Join the pieces of all chunks into whole-grid polygons.

    Parameters
    ----------
    chunks
        One :class:`ChunkComponents` per chunk of a regular chunking of the grid (any order).

    Returns
    -------
    Components
        Sorted in raster order of the first pixel.
    """
    if not chunks:
        return Components(np.empty(0, dtype=object), _empty_i64(), np.zeros(0), _empty_i64(), _empty_i64())
    base = {}
    total = 0
    for c in chunks:
        base[(c.row_off, c.col_off)] = total
        total += c.n
    if total == 0:
        return Components(np.empty(0, dtype=object), _empty_i64(), np.zeros(0), _empty_i64(), _empty_i64())
    by_pos = {(c.row_off, c.col_off): c for c in chunks}
    src, dst = [], []
    for c in chunks:
        h, w = c.shape
        for other, mine, theirs in (
            ((c.row_off + h, c.col_off), c.bottom, "top"),
            ((c.row_off, c.col_off + w), c.right, "left"),
        ):
            nb = by_pos.get(other)
            if nb is None or nb.n == 0 or c.n == 0:
                continue
            edge = getattr(nb, theirs)
            if edge.shape != mine.shape:
                raise ValueError(f"chunks at {c.row_off, c.col_off} and {other} do not line up")
            both = (mine > 0) & (edge > 0)
            if both.any():
                pairs = np.unique(np.stack([mine[both], edge[both]], axis=1), axis=0)
                src.append(pairs[:, 0].astype(np.int64) - 1 + base[(c.row_off, c.col_off)])
                dst.append(pairs[:, 1].astype(np.int64) - 1 + base[other])
    if src:
        s, d = np.concatenate(src), np.concatenate(dst)
    else:
        s = d = _empty_i64()
    graph = coo_matrix((np.ones(s.size, dtype=np.int8), (s, d)), shape=(total, total))
    ncomp, comp = connected_components(graph, directed=False)

    pieces = np.concatenate([c.geometries for c in chunks if c.n])
    pixels = np.zeros(ncomp, dtype=np.int64)
    np.add.at(pixels, comp, np.concatenate([c.pixels for c in chunks if c.n]))
    sums = np.zeros(ncomp, dtype=np.int64)
    np.add.at(sums, comp, np.concatenate([c.score_sums for c in chunks if c.n]))
    maxes = np.full(ncomp, -np.inf)
    piece_max = [c.score_maxes if c.score_maxes.size == c.n else np.full(c.n, np.nan)
                 for c in chunks if c.n]
    np.maximum.at(maxes, comp, np.concatenate(piece_max))
    rows = np.concatenate([c.first_rows for c in chunks if c.n])
    cols = np.concatenate([c.first_cols for c in chunks if c.n])
    # first pixel of a component = lexicographic minimum (row, col) of its pieces' first pixels
    order = np.lexsort((cols, rows, comp))
    firsts = order[np.r_[True, comp[order][1:] != comp[order][:-1]]]
    first_rows = np.empty(ncomp, dtype=np.int64)
    first_cols = np.empty(ncomp, dtype=np.int64)
    first_rows[comp[firsts]] = rows[firsts]
    first_cols[comp[firsts]] = cols[firsts]

    geoms = np.empty(ncomp, dtype=object)
    sizes = np.bincount(comp, minlength=ncomp)
    single = sizes[comp] == 1
    geoms[comp[single]] = pieces[single]
    multi = np.flatnonzero(~single)
    if multi.size:
        grouped = multi[np.argsort(comp[multi], kind="stable")]
        gcomp = comp[grouped]
        starts = np.flatnonzero(np.r_[True, gcomp[1:] != gcomp[:-1]])
        for start, stop in zip(starts, np.r_[starts[1:], grouped.size]):
            geoms[gcomp[start]] = shapely.union_all(pieces[grouped[start:stop]])
    geoms = _canonical(geoms)

    out_order = np.lexsort((first_cols, first_rows))
    return Components(
        geometries=geoms[out_order],
        pixels=pixels[out_order],
        mean_scores=(sums[out_order].astype(np.float64) * SCORE_QUANTUM) / pixels[out_order],
        first_rows=first_rows[out_order],
        first_cols=first_cols[out_order],
        max_scores=maxes[out_order],
    )


def to_map_coordinates(geoms: np.ndarray, transform: Affine) -> np.ndarray:
    """Map grid pixel coordinates (col, row) to map coordinates (x, y) with an affine.

    Parameters
    ----------
    geoms
        Geometries in pixel coordinates.
    transform
        The grid's affine transform.

    Returns
    -------
    numpy.ndarray
        Normalised geometries in map coordinates.
    """
    if len(geoms) == 0:
        return np.asarray(geoms, dtype=object)
    t = transform
    m = np.array([[t.a, t.d], [t.b, t.e]])
    shift = np.array([t.c, t.f])
    return shapely.normalize(shapely.transform(np.asarray(geoms, dtype=object),
                                               lambda xy: xy @ m + shift))


def source_ids(n: int, prefix: str = "D", digits: int = 6) -> list[str]:
    """``D000001`` .. in order."""
    return [f"{prefix}{i:0{digits}d}" for i in range(1, n + 1)]
