"""Training labels from field verdicts: a previous run's patches, judged in the field, as pixels.

A run's patches went to the field teams and came back with a verdict each (PDLX). Those
verdicts are the province's own labels of what its imagery shows, and the hardest ones are
exactly the detector's own mistakes (伪变化: it flagged something, nothing was built). This
module turns them into training pixels on the imagery grid; ``pipeline/train.py`` reads the
run, its imagery and the verdict files.

Classes (:data:`VERDICT_KIND`, by verdict code of :data:`overlay.contracts.VERDICTS`)
------------------------------------------------------------------------------------
* **positive** -- 合法 (legal) and 违法 (illegal): something was built, with or without approval;
* **hard negative** -- 伪变化 (false change): nothing was built where the detector saw change;
  weighted :attr:`VerdictSampling.hard_weight`;
* **excluded** -- 设施农用地, 临时用地, 其他 and patches without a verdict: facility agriculture and
  temporary use are real changes that are not construction in the enforcement sense, "other"
  and unverified say nothing sure, so none of them is used;
* **background** -- pixels outside every patch of the run (verified or not): negatives, drawn
  sparsely and weighted :attr:`VerdictSampling.background_weight`, because the earlier detector
  may have missed construction there;
* a ring of :attr:`VerdictSampling.margin_m` around every patch is excluded too: outlines drawn
  from a detector's mask are approximate.

Everything here is pure (arrays and geometries in, arrays out).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import ndimage

__all__ = [
    "BACKGROUND",
    "POSITIVE",
    "HARD_NEGATIVE",
    "EXCLUDED",
    "KIND_NAMES",
    "VERDICT_KIND",
    "VerdictSampling",
    "verdict_kind",
    "kind_raster",
    "kind_counts",
    "sample_rates",
    "block_features",
    "block_samples",
]

#: pixel kinds of :func:`kind_raster` (uint8)
BACKGROUND, POSITIVE, HARD_NEGATIVE, EXCLUDED = 0, 1, 2, 3
KIND_NAMES = {BACKGROUND: "background", POSITIVE: "positive", HARD_NEGATIVE: "hard_negative",
              EXCLUDED: "excluded"}

#: verdict code (``overlay.contracts.VERDICTS``) -> pixel kind; anything else (None: no verdict) is excluded
VERDICT_KIND: Mapping[str, int] = {
    "legal": POSITIVE,
    "illegal": POSITIVE,
    "false_change": HARD_NEGATIVE,
    "facility_agriculture": EXCLUDED,
    "temporary_use": EXCLUDED,
    "other": EXCLUDED,
}


@dataclass(frozen=True)
class VerdictSampling:
    """How many pixels of each kind are drawn from one run, and their weights.

    Attributes
    ----------
    n_pos, n_hard, n_background
        Pixels drawn per run at most (positive, hard negative, background).
    hard_weight, background_weight
        Sample weights (positives weigh 1).
    margin_m
        Ring around every patch that is not used, metres.
    block_px
        Side of the blocks the imagery is read in (the core; the feature depth is added).
    max_blocks
        Blocks with verdict patches read at most (a random choice when there are more).
    max_background_blocks
        Blocks without any verdict patch read for background pixels, at most.
    seed
        Random seed of the draws.
    """

    n_pos: int = 5000
    n_hard: int = 5000
    n_background: int = 5000
    hard_weight: float = 3.0
    background_weight: float = 0.3
    margin_m: float = 2.0
    block_px: int = 512
    max_blocks: int = 400
    max_background_blocks: int = 16
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON view for the model card."""
        return dict(self.__dict__)


def verdict_kind(code: str | None) -> int:
    """The pixel kind of a verdict code (None or unknown: :data:`EXCLUDED`)."""
    if code is None or (isinstance(code, float) and np.isnan(code)):
        return EXCLUDED
    return VERDICT_KIND.get(str(code), EXCLUDED)


def kind_raster(geometries: Sequence[Any], kinds: Sequence[int], shape: tuple[int, int],
                transform: Any, *, margin_px: int = 0) -> np.ndarray:
    """Pixel kinds of one window: background, or the kind of the patch covering the pixel.

    Parameters
    ----------
    geometries
        Patch polygons in the grid's CRS (shapely).
    kinds
        Their kinds (:data:`POSITIVE`, :data:`HARD_NEGATIVE`, :data:`EXCLUDED`).
    shape, transform
        The window's ``(rows, cols)`` and affine transform.
    margin_px
        Ring around every patch marked :data:`EXCLUDED`.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` uint8. A pixel covered by patches of two different kinds is excluded.
    """
    from rasterio.features import rasterize

    out = np.zeros(shape, dtype=np.uint8)
    if len(geometries) == 0:
        return out
    layers = {}
    for kind in (POSITIVE, HARD_NEGATIVE, EXCLUDED):
        gs = [g for g, k in zip(geometries, kinds) if k == kind and g is not None and not g.is_empty]
        layers[kind] = (rasterize(((g, 1) for g in gs), out_shape=shape, transform=transform, fill=0,
                                  dtype="uint8", all_touched=False).astype(bool)
                        if gs else np.zeros(shape, dtype=bool))
    covered = layers[POSITIVE] | layers[HARD_NEGATIVE] | layers[EXCLUDED]
    out[layers[POSITIVE]] = POSITIVE
    out[layers[HARD_NEGATIVE]] = HARD_NEGATIVE
    conflict = (layers[POSITIVE] & layers[HARD_NEGATIVE]) | layers[EXCLUDED]
    out[conflict] = EXCLUDED
    if margin_px > 0 and covered.any():
        ring = ndimage.binary_dilation(covered, iterations=int(margin_px)) & ~covered
        out[ring] = EXCLUDED
    return out


def kind_counts(kinds: np.ndarray, valid: np.ndarray) -> dict[int, int]:
    """Valid pixels of each kind."""
    k = np.asarray(kinds)[np.asarray(valid, dtype=bool)]
    counts = np.bincount(k.ravel(), minlength=4)
    return {kind: int(counts[kind]) for kind in KIND_NAMES}


def sample_rates(counts: Mapping[int, int], sampling: VerdictSampling) -> dict[int, float]:
    """Probability of drawing a valid pixel of each kind so a run gives at most ``n_*`` of it."""
    caps = {POSITIVE: sampling.n_pos, HARD_NEGATIVE: sampling.n_hard, BACKGROUND: sampling.n_background}
    return {kind: (min(1.0, cap / counts[kind]) if counts.get(kind, 0) > 0 else 0.0)
            for kind, cap in caps.items()}


def block_features(before: np.ndarray, after: np.ndarray, valid: np.ndarray, *, params: Mapping[str, Any],
                   pixel_size_m: float, spec: Any, shift: tuple[int, int] = (0, 0)
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The learned detector's feature stack of one block, prepared as at detection time.

    Mirrors the steps of :func:`detection.learned.probability_block` before the prediction:
    the after date shifted by the scene's whole-pixel shift, both dates standardised with the
    scene's statistics (``params`` of :func:`detection.compose.scene_statistics`, method
    ``learned``), the after date corrected onto the before date, invalid pixels set to 0.

    Parameters
    ----------
    before, after
        ``(bands, rows, cols)`` DN in the order red, green, blue[, nir]; NaN = no data.
    valid
        ``(rows, cols)`` bool.
    params
        Scene statistics: ``centre_before``, ``scale_before``, ``centre_after``,
        ``scale_after``, ``gain_after``, ``offset_after``.
    pixel_size_m
        Ground pixel size.
    spec
        The model's :class:`detection.features.FeatureSpec`.
    shift
        Whole-pixel ``(dy, dx)`` of the after date.

    Returns
    -------
    features : numpy.ndarray
        ``(F, rows, cols)`` float32.
    ok : numpy.ndarray
        ``(rows, cols)`` bool: pixels with data in both dates after the shift.
    """
    from detection.features import feature_stack
    from detection.learned import shift_image
    from detection.normalize import apply_gain_offset, robust_standardise

    dy, dx = (int(v) for v in shift)
    b = np.asarray(before, dtype=np.float32)
    a = shift_image(np.asarray(after, dtype=np.float32), dy, dx)
    ok = np.asarray(valid, dtype=bool)
    if dy or dx:
        ok = ok & shift_image(ok, dy, dx)
    ok = ok & np.isfinite(a).all(axis=0) & np.isfinite(b).all(axis=0)
    nb = min(b.shape[0], 3)
    p = params
    zb = robust_standardise(b[:nb], np.asarray(p["centre_before"])[:nb], np.asarray(p["scale_before"])[:nb])
    za = robust_standardise(a[:nb], np.asarray(p["centre_after"])[:nb], np.asarray(p["scale_after"])[:nb])
    if p.get("gain_after") is not None and p.get("offset_after") is not None:
        za = apply_gain_offset(za, np.asarray(p["gain_after"])[:nb], np.asarray(p["offset_after"])[:nb])
    zb[:, ~ok] = 0.0
    za[:, ~ok] = 0.0
    return feature_stack(zb, za, pixel_size_m, spec), ok


def block_samples(features: np.ndarray, kinds: np.ndarray, ok: np.ndarray, rates: Mapping[int, float],
                  sampling: VerdictSampling, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw training rows from one block's core.

    Parameters
    ----------
    features
        ``(F, rows, cols)`` of the core.
    kinds, ok
        ``(rows, cols)`` pixel kinds (:func:`kind_raster`) and validity of the core.
    rates
        Drawing probability per kind (:func:`sample_rates`).
    sampling
        The weights.
    rng
        Random generator.

    Returns
    -------
    X : numpy.ndarray
        ``(n, F)`` float32 rows.
    y : numpy.ndarray
        ``(n,)`` int8: 1 positive, 0 hard negative or background.
    w : numpy.ndarray
        ``(n,)`` float32 weights.
    kind : numpy.ndarray
        ``(n,)`` uint8 kind of each row.
    """
    k = np.asarray(kinds).ravel()
    v = np.asarray(ok, dtype=bool).ravel()
    draw = rng.random(k.size)
    take = np.zeros(k.size, dtype=bool)
    for kind, rate in rates.items():
        take |= v & (k == kind) & (draw < rate)
    idx = np.flatnonzero(take)
    flat = np.asarray(features, dtype=np.float32).reshape(features.shape[0], -1)
    kind = k[idx].astype(np.uint8)
    y = (kind == POSITIVE).astype(np.int8)
    weight = np.where(kind == HARD_NEGATIVE, np.float32(sampling.hard_weight),
                      np.where(kind == BACKGROUND, np.float32(sampling.background_weight), np.float32(1.0)))
    return flat[:, idx].T.copy(), y, weight.astype(np.float32), kind
