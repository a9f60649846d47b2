"""Training the learned detector: labelled pairs -> pixel samples -> a LightGBM model.

Pure functions over arrays; :func:`read_pair_folder` is the one reader (the LEVIR-CD layout:
``A/``, ``B/``, ``label/`` PNGs of the same names). ``bench/train_default.py`` is the command
that trains and writes the default model (``detection/models/``).

Samples
-------
Every labelled pair is used at several pixel sizes (block means of ``factor x factor`` pixels;
the label of a block is "change" when at least half of it is), so the model sees buildings
at 0.5 to 4 m. From each pair and size, change and no-change pixels are drawn at random (at
most ``n_pos`` / ``n_neg``), with weights so that a small crop does not count as much as a
full tile.

Augmentation: seasonal farmland change
---------------------------------------
Building-change sets (LEVIR-CD: suburbs of Texas) hold few examples of what an enforcement
check over farmland sees most: whole fields changing colour between the dates (harvest,
tillage, a crop turning pale beige) with their boundaries unchanged. :func:`recolour_segments`
makes such negatives from the labelled pairs themselves: the before date is over-segmented
(Felzenszwalb), and segments away from any labelled change are recoloured in the after date
(their mean colour replaced by the mean colour of another segment of the scene, their
texture scaled), label unchanged (no change). The recoloured areas follow boundaries that
exist in both dates, as real field changes do; a new building brings boundaries of its own.
The augmented copy also gets synthetic new roofs of every common colour with cast shadows
(:func:`paste_roofs`, labelled change: red clay, blue steel, dark grey, white), a random gamma
per band and date and, at random, a one-pixel shift of the after date (misregistration), so
neither the colour of the training region's roofs nor a gamma or a shift reads as the answer.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import ndimage

from detection.features import DEFAULT_SPEC, FeatureSpec, feature_names, feature_stack
from detection.normalize import (
    apply_gain_offset,
    relative_correction,
    robust_standardise,
    robust_standardise_params,
)

__all__ = [
    "LabelledPair",
    "TrainingSettings",
    "read_pair_folder",
    "block_mean",
    "standardise_pair",
    "recolour_segments",
    "ROOF_COLOURS",
    "paste_roofs",
    "pair_samples",
    "training_matrix",
    "fit_model",
]


@dataclass(frozen=True)
class LabelledPair:
    """A before/after pair with its change label.

    Attributes
    ----------
    name
        Pair name (file stem).
    group
        Independent unit for leave-one-pair-out (crops of one tile share it).
    before, after
        ``(3, H, W)`` float32 red, green, blue DN.
    label
        ``(H, W)`` bool, True = new construction.
    pixel_size_m
        Ground pixel size.
    factors
        Block factors to use for this pair (None = ``TrainingSettings.factors``); e.g. a
        5 m pair is used at 5 m only.
    sample_share
        Multiplies the pair's sample budget (``n_pos`` / ``n_neg``), e.g. to let many pairs
        of one scene together weigh like a few.
    """

    name: str
    group: str
    before: np.ndarray
    after: np.ndarray
    label: np.ndarray
    pixel_size_m: float
    factors: tuple[int, ...] | None = None
    sample_share: float = 1.0


@dataclass(frozen=True)
class TrainingSettings:
    """How samples are drawn and the model is fitted."""

    factors: tuple[int, ...] = (1, 2, 4, 8)
    n_pos: int = 5000
    n_neg: int = 10000
    augment: bool = True
    seed: int = 0
    rounds: int = 200
    params: dict[str, Any] = field(default_factory=lambda: {
        "objective": "binary", "learning_rate": 0.06, "num_leaves": 31,
        "min_data_in_leaf": 100, "feature_fraction": 0.7, "bagging_fraction": 0.7,
        "bagging_freq": 1, "lambda_l2": 1.0, "verbose": -1, "num_threads": 2, "seed": 0,
        "deterministic": True, "force_row_wise": True,
    })
    spec: FeatureSpec = DEFAULT_SPEC

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable view for the model card."""
        return {"factors": list(self.factors), "n_pos": self.n_pos, "n_neg": self.n_neg,
                "augment": self.augment, "seed": self.seed, "rounds": self.rounds,
                "params": dict(self.params), "spec": json.loads(json.dumps(self.spec.__dict__))}


def read_pair_folder(folder: Path, pixel_size_m: float = 0.5) -> list[LabelledPair]:
    """Labelled pairs of a LEVIR-CD style folder (``A/``, ``B/``, ``label/`` PNG, 255 = change).

    ``group`` strips a trailing ``_RRRR_CCCC`` crop suffix (``test_7_0256_0512`` -> ``test_7``).
    """
    from PIL import Image

    def read(path: Path) -> np.ndarray:
        with Image.open(path) as im:
            return np.asarray(im)

    pairs = []
    for lab in sorted((Path(folder) / "label").glob("*.png")):
        m = re.match(r"^(.*?)(?:_\d{4}_\d{4})?$", lab.stem)
        label = read(lab)
        if label.ndim == 3:
            label = label[..., 0]
        pairs.append(LabelledPair(
            name=lab.stem, group=m.group(1) if m else lab.stem,
            before=read(Path(folder) / "A" / lab.name)[..., :3].transpose(2, 0, 1).astype(np.float32),
            after=read(Path(folder) / "B" / lab.name)[..., :3].transpose(2, 0, 1).astype(np.float32),
            label=label > 127, pixel_size_m=float(pixel_size_m)))
    return pairs


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor x factor`` blocks over the last two axes (the remainder is cut)."""
    if factor == 1:
        return np.asarray(image, dtype=np.float32)
    a = np.asarray(image, dtype=np.float32)
    h, w = (a.shape[-2] // factor) * factor, (a.shape[-1] // factor) * factor
    a = a[..., :h, :w]
    shape = a.shape[:-2] + (h // factor, factor, w // factor, factor)
    return a.reshape(shape).mean(axis=(-3, -1))


def standardise_pair(before: np.ndarray, after: np.ndarray,
                     valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each date standardised on its own valid pixels, then the after date brought onto the
    before date over the unchanged pixels (:func:`detection.normalize.relative_correction`)."""
    ok = np.isfinite(before).all(axis=0) & np.isfinite(after).all(axis=0)
    if valid is not None:
        ok &= valid
    out = []
    for img in (before, after):
        c, s = robust_standardise_params(img[:, ok])
        out.append(robust_standardise(img, c, s))
    step = max(1, int(np.sqrt(ok.sum() / 60_000)))
    sub = ok[::step, ::step]
    gains, offsets = relative_correction(out[0][:, ::step, ::step][:, sub], out[1][:, ::step, ::step][:, sub])
    return out[0], apply_gain_offset(out[1], gains, offsets)


def recolour_segments(before: np.ndarray, after: np.ndarray, label: np.ndarray,
                      rng: np.random.Generator, *, share: float = 0.35,
                      min_px: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic seasonal change: recolour before-date segments away from labelled change.

    Parameters
    ----------
    before, after
        ``(3, H, W)`` DN.
    label
        ``(H, W)`` bool change label; segments within 3 px of it are left alone.
    rng
        Random generator.
    share
        Fraction of the eligible segments recoloured.
    min_px
        Smallest segment recoloured.

    Returns
    -------
    after : numpy.ndarray
        The recoloured after date (float32).
    recoloured : numpy.ndarray
        ``(H, W)`` bool, the recoloured pixels.
    """
    from skimage.segmentation import felzenszwalb

    h, w = label.shape
    rgb = np.moveaxis(before[:3], 0, -1).astype(np.float64)
    lo, hi = np.percentile(rgb, [1, 99])
    rgb = np.clip((rgb - lo) / max(hi - lo, 1e-6), 0, 1)
    seg = felzenszwalb(rgb, scale=max(50.0, 0.002 * h * w), sigma=0.8, min_size=min_px)
    n = int(seg.max()) + 1
    near = ndimage.binary_dilation(label, iterations=3)
    touched = np.bincount(seg.ravel(), weights=near.ravel(), minlength=n) > 0
    sizes = np.bincount(seg.ravel(), minlength=n)
    eligible = np.flatnonzero(~touched & (sizes >= min_px))
    out = np.asarray(after, dtype=np.float32).copy()
    mask = np.zeros((h, w), dtype=bool)
    if eligible.size == 0:
        return out, mask
    chosen = rng.choice(eligible, size=max(1, int(share * eligible.size)), replace=False)
    flat = out.reshape(3, -1)
    sums = np.stack([np.bincount(seg.ravel(), weights=flat[c], minlength=n) for c in range(3)])
    means = sums / np.maximum(sizes, 1)
    donors = rng.integers(0, n, size=chosen.size)
    for s, d in zip(chosen, donors):
        sel = seg == s
        k = rng.uniform(0.4, 1.3)
        shift = rng.normal(0.0, 12.0)
        for c in range(3):
            out[c, sel] = means[c, d] + shift + (out[c, sel] - means[c, s]) * k
        mask |= sel
    np.clip(out, 1.0, 255.0, out=out)
    return out, mask


#: roof colour families of :func:`paste_roofs` (R, G, B DN of an 8-bit image): red clay / brick,
#: blue and cyan coated steel, dark grey, light grey / white, green coated steel, brown
ROOF_COLOURS = np.array([[170, 70, 60], [150, 60, 70], [60, 100, 170], [70, 150, 190],
                         [45, 45, 50], [70, 70, 75], [200, 200, 205], [230, 230, 225],
                         [60, 130, 90], [120, 90, 60]], dtype=np.float32)


def paste_roofs(after: np.ndarray, label: np.ndarray, rng: np.random.Generator, *,
                count: int = 12, side_px: tuple[int, int] = (4, 28)) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic new buildings of any roof colour, with a cast shadow, on the after date.

    The labelled sets hold the roof colours of one region; construction elsewhere has red
    clay tiles, blue steel sheds, dark grey or white roofs. Rectangles (random size and
    orientation, colour from :data:`ROOF_COLOURS` with jitter, mild texture and a darker
    ridge half) are pasted away from labelled change, each with a shadow strip on one side,
    and labelled change, so the model learns "a new compact object with new edges" rather
    than the colour of the training region's roofs.

    Returns
    -------
    after : numpy.ndarray
        The after date with the roofs (float32).
    label : numpy.ndarray
        The label with the roofs added.
    """
    from skimage.draw import polygon

    out = np.asarray(after, dtype=np.float32).copy()
    lab = label.copy()
    h, w = label.shape
    busy = ndimage.binary_dilation(label, iterations=4)
    for _ in range(count):
        a, b = (int(v) for v in rng.integers(side_px[0], side_px[1] + 1, size=2))
        if a + 8 >= h or b + 8 >= w:
            continue
        cy, cx = int(rng.integers(a // 2 + 4, h - a // 2 - 4)), int(rng.integers(b // 2 + 4, w - b // 2 - 4))
        t = rng.uniform(0, np.pi)
        ca, sa = np.cos(t), np.sin(t)
        corners = np.array([[-a / 2, -b / 2], [-a / 2, b / 2], [a / 2, b / 2], [a / 2, -b / 2]])
        rr, cc = polygon(cy + corners[:, 0] * ca - corners[:, 1] * sa,
                         cx + corners[:, 0] * sa + corners[:, 1] * ca, shape=(h, w))
        if rr.size == 0 or busy[rr, cc].any():
            continue
        roof = np.zeros((h, w), dtype=bool)
        roof[rr, cc] = True
        dy, dx = (int(v) for v in rng.integers(1, 4, size=2))
        shadow = np.roll(roof, (dy, dx), axis=(0, 1)) & ~roof
        out[:, shadow] *= np.float32(rng.uniform(0.35, 0.7))
        colour = ROOF_COLOURS[rng.integers(len(ROOF_COLOURS))] * rng.uniform(0.8, 1.2, size=3)
        half = roof & (((np.arange(h)[:, None] - cy) * sa - (np.arange(w)[None, :] - cx) * ca) > 0)
        for c in range(3):
            out[c, roof] = colour[c] + rng.normal(0, 4, size=int(roof.sum()))
            out[c, half] *= np.float32(rng.uniform(0.8, 1.0))
        lab |= roof
        busy |= ndimage.binary_dilation(roof | shadow, iterations=3)
    np.clip(out, 1.0, 255.0, out=out)
    return out, lab


def _gamma(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.empty_like(image, dtype=np.float32)
    for c in range(image.shape[0]):
        x = image[c]
        top = max(float(np.nanmax(x)), 1.0)
        out[c] = top * (np.clip(x, 0, None) / top) ** rng.uniform(0.8, 1.25)
    return out


def pair_samples(pair: LabelledPair, factor: int, settings: TrainingSettings,
                 rng: np.random.Generator, *, augmented: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows of one pair at one block factor.

    Returns
    -------
    X : numpy.ndarray
        ``(n, features)`` float32.
    y : numpy.ndarray
        ``(n,)`` int8 labels.
    w : numpy.ndarray
        ``(n,)`` float32 weights (a pair's rows weigh in proportion to its area).
    """
    before = block_mean(pair.before, factor)
    after = block_mean(pair.after, factor)
    label = block_mean(pair.label.astype(np.float32)[None], factor)[0] >= 0.5
    special = np.zeros(label.shape, dtype=bool)
    if augmented:
        after, special = recolour_segments(before, after, label, rng)
        after, label = paste_roofs(after, label, rng)
        before, after = _gamma(before, rng), _gamma(after, rng)
        if rng.random() < 0.5:
            dy, dx = (int(v) for v in rng.choice([-1, 0, 1], size=2))
            after = np.roll(after, (dy, dx), axis=(1, 2))
            label = np.roll(label, (dy, dx), axis=(0, 1))
            special = np.roll(special, (dy, dx), axis=(0, 1))
    zb, za = standardise_pair(before, after)
    feats = feature_stack(zb, za, pair.pixel_size_m * factor, settings.spec)
    flat = feats.reshape(feats.shape[0], -1)
    y = label.ravel()
    area = label.size * factor * factor / (1024.0 * 1024.0)  # in full LEVIR tiles
    scale = min(1.0, 4.0 * area) * float(pair.sample_share)
    pos = np.flatnonzero(y)
    neg_special = np.flatnonzero(~y & special.ravel())
    neg = np.flatnonzero(~y & ~special.ravel())
    n_pos = min(pos.size, max(1, int(settings.n_pos * scale)))
    n_neg = max(1, int(settings.n_neg * scale))
    picks = [rng.choice(pos, n_pos, replace=False)] if pos.size else []
    if neg_special.size:
        k = min(neg_special.size, n_neg // 2)
        picks.append(rng.choice(neg_special, k, replace=False))
        n_neg -= k
    picks.append(rng.choice(neg, min(neg.size, n_neg), replace=False))
    idx = np.concatenate(picks)
    weight = np.full(idx.size, np.float32(1.0))
    return flat[:, idx].T.copy(), y[idx].astype(np.int8), weight


def training_matrix(pairs: Sequence[LabelledPair], settings: TrainingSettings
                    ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Samples of every pair (all factors, original and augmented), keyed by pair name."""
    out = {}
    for i, pair in enumerate(pairs):
        rng = np.random.default_rng([settings.seed, i])
        parts = []
        for f in (pair.factors if pair.factors is not None else settings.factors):
            if min(pair.label.shape) // f < 24:
                continue
            parts.append(pair_samples(pair, f, settings, rng))
            if settings.augment:
                parts.append(pair_samples(pair, f, settings, rng, augmented=True))
        out[pair.name] = tuple(np.concatenate(p) for p in zip(*parts))  # type: ignore[assignment]
    return out


def fit_model(samples: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
              settings: TrainingSettings):
    """A LightGBM booster fitted on the concatenated samples."""
    import lightgbm as lgb

    parts = list(samples)
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    w = np.concatenate([p[2] for p in parts])
    data = lgb.Dataset(X, y.astype(np.float32), weight=w,
                       feature_name=feature_names(settings.spec), free_raw_data=True)
    return lgb.train(dict(settings.params), data, num_boost_round=settings.rounds)
