"""The learned new-construction detector: features -> LightGBM probability, per block.

:class:`LearnedModel` wraps a LightGBM text model and its card (``<model>.json`` beside it:
feature names, scales, the thresholds measured leave-one-pair-out). :func:`probability_block`
is the per-block function the pipeline maps with ``dask.array.map_overlap`` (depth
:func:`learned_depth`): it corrects the after date by the whole-pixel shift found for the
scene, standardises both dates with the scene's statistics, computes
:func:`detection.features.feature_stack`, predicts, vetoes vegetated after-date pixels when
a NIR band is present, and smooths the probability (a roof is a region, not a pixel).

The NIR vetoes: the classifier is trained on RGB (the labelled building-change sets are RGB);
where NIR is present two physical facts are added, both from band ratios of the DN as
delivered (a common rescale of the bands changes neither):

* a pixel whose after-date NDVI is above :data:`NDVI_VEGETATED` is vegetated, not a new roof
  or pavement; the probability is ramped to 0 between :data:`NDVI_BARE` and it -- except
  where blue exceeds green (blue-coated steel roofs have a vegetation-like NDVI, but leaves
  reflect more green than blue);
* a pixel that was open water at the before date (NIR below green), or next to it (one
  pixel), is not scored: water-level and turbidity changes of ponds and their drying rims
  are the largest false alarms on farmland with potholes. The price: a pond filled and
  built on within the year is missed where NIR is given.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from detection.features import (_TRUNCATE, FeatureSpec, _reach, _sigma, feature_depth,
                                feature_names, feature_stack)
from detection.normalize import apply_gain_offset, robust_standardise
from detection.trees import CompiledTrees, compile_lightgbm, predict_proba

__all__ = [
    "DEFAULT_MODEL",
    "NDVI_BARE",
    "NDVI_VEGETATED",
    "PROB_SMOOTH_M",
    "LearnedModel",
    "load_model",
    "learned_depth",
    "shift_image",
    "probability_block",
]

#: the default model shipped in the repository (LightGBM text format + ``.json`` card)
DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "construction_lgbm.txt"
#: after-date NDVI up to which the NIR veto does not act
NDVI_BARE = 0.15
#: after-date NDVI from which a pixel cannot be new construction
NDVI_VEGETATED = 0.35
#: pixels around before-date open water that are not scored either
WATER_MARGIN_PX = 1
#: smoothing of the probability map, metres (sigma)
PROB_SMOOTH_M = 1.25
#: largest misregistration (whole pixels) corrected; the block depth includes it
MAX_SHIFT_PX = 3
_PREDICT_BATCH = 65_536


@dataclass(frozen=True)
class LearnedModel:
    """A loaded model and its card.

    Attributes
    ----------
    path
        The model file.
    model_id
        ``<file stem>@<first 12 hex of the sha256 of the model text>``.
    card
        The card (``.json`` beside the model): ``features``, ``spec``, ``threshold_low``,
        ``threshold_high`` and training provenance.
    booster
        The ``lightgbm.Booster``.
    trees
        The same trees compiled for :func:`detection.trees.predict_proba` (LightGBM's results,
        1.5-2x as fast); None when the model is outside what it reproduces (then the
        booster predicts).
    """

    path: str
    model_id: str
    card: dict[str, Any]
    booster: Any
    trees: CompiledTrees | None = None

    @property
    def spec(self) -> FeatureSpec:
        """The feature scales the model was trained with."""
        s = dict(self.card.get("spec", {}))
        for k, v in list(s.items()):
            if isinstance(v, list):
                s[k] = tuple(v)
        return FeatureSpec(**s)

    @property
    def threshold_low(self) -> float:
        """Probability from which a pixel may belong to a patch."""
        return float(self.card["threshold_low"])

    @property
    def threshold_high(self) -> float:
        """Probability a patch must reach somewhere (hysteresis)."""
        return float(self.card["threshold_high"])

    def predict(self, features: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """Probability of new construction per pixel of a ``(F, rows, cols)`` stack.

        ``where``: ``(rows, cols)`` bool, the pixels to predict (0 elsewhere); None = all. Each
        pixel's probability depends on its own features only, so a pixel gets the same value
        whichever others are predicted with it.
        """
        f = np.asarray(features, dtype=np.float32)
        flat = f.reshape(f.shape[0], -1)
        out = np.zeros(flat.shape[1], dtype=np.float32)
        wanted = None if where is None else np.asarray(where, dtype=bool).reshape(-1)
        picked = None if wanted is None or wanted.all() else np.flatnonzero(wanted)
        if self.trees is not None:  # the features are read where they are: no row-major copy
            if picked is None:
                out[:] = predict_proba(self.trees, flat)
            else:
                out[picked] = predict_proba(self.trees, flat, picked)
            return out.reshape(f.shape[1:])
        n = flat.shape[1] if picked is None else len(picked)
        # rows in batches: the row-major copy LightGBM needs stays small (memory per task)
        for start in range(0, n, _PREDICT_BATCH):
            if picked is None:
                rows = np.ascontiguousarray(flat[:, start:start + _PREDICT_BATCH].T)
                out[start:start + rows.shape[0]] = self.booster.predict(rows, num_threads=1)
            else:
                at = picked[start:start + _PREDICT_BATCH]
                out[at] = self.booster.predict(np.ascontiguousarray(flat[:, at].T), num_threads=1)
        return out.reshape(f.shape[1:])

    def __reduce__(self):  # pickles as its path (dask workers reload it once)
        return (load_model, (self.path,))


@lru_cache(maxsize=8)
def load_model(path: str | Path | None = None) -> LearnedModel:
    """Load a LightGBM text model and its ``.json`` card (cached per path).

    Parameters
    ----------
    path
        Model file; :data:`DEFAULT_MODEL` when None.

    Raises
    ------
    FileNotFoundError
        The model or its card is missing.
    ValueError
        The card's feature names differ from the model's.
    """
    import hashlib

    import lightgbm as lgb

    p = Path(path) if path is not None else DEFAULT_MODEL
    text = p.read_text(encoding="utf-8")
    card_path = p.with_suffix(".json")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    booster = lgb.Booster(model_str=text)
    if list(booster.feature_name()) != list(card["features"]):
        raise ValueError(f"{p}: the model's features differ from its card {card_path.name}")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    model = LearnedModel(str(p), f"{p.stem}@{digest}", card, booster, compile_lightgbm(text))
    if feature_names(model.spec) != list(card["features"]):
        raise ValueError(f"{p}: the card's features do not match its feature spec")
    return model


def learned_depth(pixel_size_m: float, spec: FeatureSpec | None = None) -> int:
    """Block overlap of :func:`probability_block`: features + shift + probability smoothing."""
    from detection.features import DEFAULT_SPEC

    s = spec if spec is not None else DEFAULT_SPEC
    return (feature_depth(pixel_size_m, s) + MAX_SHIFT_PX + WATER_MARGIN_PX
            + _reach(_sigma(PROB_SMOOTH_M, pixel_size_m)))


def shift_image(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate the last two axes by whole pixels: ``out[..., y, x] = image[..., y - dy, x - dx]``.

    Pixels shifted in from outside are NaN (float) / False (bool).
    """
    if dy == 0 and dx == 0:
        return image
    out = np.full_like(image, np.nan if np.issubdtype(image.dtype, np.floating) else False)
    h, w = image.shape[-2:]
    ys_dst = slice(max(dy, 0), h + min(dy, 0))
    ys_src = slice(max(-dy, 0), h + min(-dy, 0))
    xs_dst = slice(max(dx, 0), w + min(dx, 0))
    xs_src = slice(max(-dx, 0), w + min(-dx, 0))
    out[..., ys_dst, xs_dst] = image[..., ys_src, xs_src]
    return out


def _ndvi(nir: np.ndarray, red: np.ndarray) -> np.ndarray:
    s = nir + red
    out = np.zeros(s.shape, dtype=np.float32)
    np.divide(nir - red, s, out=out, where=s > 0)
    return out


def probability_block(
    before: np.ndarray,
    after: np.ndarray,
    valid: np.ndarray,
    *,
    model: LearnedModel,
    centre_before: np.ndarray,
    scale_before: np.ndarray,
    centre_after: np.ndarray,
    scale_after: np.ndarray,
    gain_after: np.ndarray | None = None,
    offset_after: np.ndarray | None = None,
    pixel_size_m: float,
    shift: tuple[int, int] = (0, 0),
    use_nir: bool = True,
    scored: tuple[slice, slice] | None = None,
) -> np.ndarray:
    """Smoothed probability of new construction on one block (with its overlap).

    Parameters
    ----------
    before, after
        ``(bands, rows, cols)`` DN in the order red, green, blue[, nir]; NaN = no data.
    valid
        ``(rows, cols)`` bool (data in both dates, no cloud).
    model
        The loaded model.
    centre_before, scale_before, centre_after, scale_after
        Per-band standardisation of each date
        (:func:`detection.normalize.robust_standardise_params` of a scene sample).
    gain_after, offset_after
        Relative correction of the standardised after date
        (:func:`detection.normalize.relative_correction`), red, green, blue; None = none.
    pixel_size_m
        Ground pixel size.
    shift
        Whole-pixel ``(dy, dx)`` applied to the after date (and to ``valid``) first.
    use_nir
        Apply the NIR veto when a fourth band is present.
    scored
        The part of the block whose probability the caller keeps (the block without its
        overlap); None = all of it. The model runs only there and within the smoothing's reach
        of it: the probability of a kept pixel is the same, the rest of the block is not valid.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` float32 in [0, 1]; 0 where invalid.
    """
    dy, dx = (int(v) for v in shift)
    a = shift_image(np.asarray(after, dtype=np.float32), dy, dx)
    ok = np.asarray(valid, dtype=bool)
    if dy or dx:
        ok = ok & shift_image(ok, dy, dx)
    ok = ok & np.isfinite(a).all(axis=0) & np.isfinite(before).all(axis=0)
    nb = min(before.shape[0], 3)
    zb = robust_standardise(before[:nb], centre_before[:nb], scale_before[:nb])
    za = robust_standardise(a[:nb], centre_after[:nb], scale_after[:nb])
    if gain_after is not None and offset_after is not None:
        za = apply_gain_offset(za, np.asarray(gain_after)[:nb], np.asarray(offset_after)[:nb])
    zb[:, ~ok] = 0.0
    za[:, ~ok] = 0.0
    feats = feature_stack(zb, za, pixel_size_m, model.spec)
    # the model runs only where its probability can count: valid, not vetoed, not water (the
    # vetoes multiply it by 0 elsewhere; on farmland in season they cover half the scene or more)
    needed = ok
    veto = water = None
    if use_nir and before.shape[0] >= 4:
        ndvi = _ndvi(a[3], a[0])
        veto = np.clip((np.float32(NDVI_VEGETATED) - ndvi) / np.float32(NDVI_VEGETATED - NDVI_BARE), 0, 1)
        # blue-coated steel reflects NIR and little red (a high NDVI) but, unlike leaves,
        # more blue than green: never vetoed
        veto = np.where(a[2] > a[1], np.float32(1.0), veto)
        veto = np.where(np.isfinite(veto), veto, 0).astype(np.float32)
        water = np.asarray(before[3] < before[1])
        if WATER_MARGIN_PX > 0:
            water = ndimage.binary_dilation(water, iterations=WATER_MARGIN_PX, border_value=0)
        needed = ok & (veto > 0) & ~water
    if scored is not None:  # the overlap's own probabilities are cut away: only the smoothing reads them
        reach = _reach(_sigma(PROB_SMOOTH_M, pixel_size_m))
        (r0, r1, _), (c0, c1, _) = (part.indices(size) for part, size in zip(scored, needed.shape))
        near = np.zeros_like(needed)
        near[max(r0 - reach, 0):r1 + reach, max(c0 - reach, 0):c1 + reach] = True
        needed = needed & near
    p = model.predict(feats, where=needed)
    if veto is not None:
        p = p * veto
        p = np.where(water, np.float32(0.0), p)
    p = np.where(ok, p, np.float32(0.0))
    p = ndimage.gaussian_filter(p, _sigma(PROB_SMOOTH_M, pixel_size_m), mode="reflect",
                                truncate=_TRUNCATE)
    return np.where(ok, p, np.float32(0.0)).astype(np.float32, copy=False)
