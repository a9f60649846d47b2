"""Training a learned detector into model files: the entry point of a ``landcheck train``.

Reads nothing itself: give it :class:`detection.training.LabelledPair` (for a LEVIR-CD style
folder, :func:`detection.training.read_pair_folder`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from detection.features import feature_names
from detection.training import LabelledPair, TrainingSettings, fit_model, training_matrix

__all__ = ["train_to_files", "fit_samples", "check_base_features"]


def check_base_features(base: Any, settings: TrainingSettings) -> None:
    """ValueError when the base booster's features are not those of ``settings.spec``."""
    names = feature_names(settings.spec)
    if list(base.feature_name()) != names:
        raise ValueError("the base model's features differ from the features being trained")


def fit_samples(samples: Sequence[tuple[Any, Any, Any]], settings: TrainingSettings, *,
                init_model: Any = None) -> Any:
    """A LightGBM booster fitted on ``(X, y, w)`` samples, continuing ``init_model`` when given.

    Without ``init_model`` this is :func:`detection.training.fit_model`. With it (a
    ``lightgbm.Booster`` over the same features), ``settings.rounds`` more trees are added to
    the base model's, fitted to what the base model gets wrong on these samples (LightGBM's
    ``init_model``): a province's own labels refine the shipped model instead of replacing it.
    """
    if init_model is None:
        return fit_model(samples, settings)
    import lightgbm as lgb
    import numpy as np

    check_base_features(init_model, settings)
    parts = list(samples)
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    w = np.concatenate([p[2] for p in parts])
    data = lgb.Dataset(X, y.astype(np.float32), weight=w, feature_name=feature_names(settings.spec),
                       free_raw_data=False)
    return lgb.train(dict(settings.params), data, num_boost_round=settings.rounds, init_model=init_model,
                     keep_training_booster=False)


TASK = ("pixel probability of new construction between two dates, RGB; NIR when present only "
        "vetoes vegetated / open-water pixels")


def base_card(out: Path, settings: TrainingSettings, threshold_low: float, threshold_high: float, *,
              data: Sequence[str], pixel_sizes_m: Sequence[float], rows: int, positive_rows: int,
              seconds: float) -> dict[str, Any]:
    """The model card's fields every trained model has (name, task, features, spec, thresholds,
    training summary); callers add their own (sources, base model, ``retrain``)."""
    import lightgbm

    return {
        "name": Path(out).stem,
        "task": TASK,
        "features": feature_names(settings.spec),
        "spec": json.loads(json.dumps(settings.spec.__dict__)),
        "threshold_low": float(threshold_low),
        "threshold_high": float(threshold_high),
        "training": {
            "data": list(data), "not_used": [],
            "pixel_sizes_m": sorted(set(pixel_sizes_m)),
            "rows": int(rows), "positive_rows": int(positive_rows),
            "settings": settings.to_dict(), "seconds": round(float(seconds), 1),
            "lightgbm": lightgbm.__version__,
        },
    }


def train_to_files(pairs: Sequence[LabelledPair], out: Path, *,
                   settings: TrainingSettings | None = None,
                   threshold_low: float = 0.4, threshold_high: float = 0.8) -> dict[str, Any]:
    """Train on labelled pairs and write ``out`` (LightGBM text), its ``.json`` card and ``.md``.

    The entry point for a ``landcheck train`` command: read pairs with
    :func:`read_pair_folder` (or build :class:`LabelledPair` from your own rasters), call this,
    and point ``detection.model`` at ``out``. Crops of one tile must share a ``group``; pass
    each pixel once (no crop together with the tile it was cut from).

    Returns
    -------
    dict
        The card written.
    """
    import time

    from detection.model_card import write_card_markdown

    s = settings if settings is not None else TrainingSettings()
    t0 = time.perf_counter()
    samples = training_matrix(pairs, s)
    booster = fit_model(samples.values(), s)
    card = base_card(
        out, s, threshold_low, threshold_high, data=[p.name for p in pairs],
        pixel_sizes_m=[p.pixel_size_m * f for p in pairs for f in s.factors],
        rows=sum(len(v[1]) for v in samples.values()),
        positive_rows=sum(int(v[1].sum()) for v in samples.values()),
        seconds=time.perf_counter() - t0)
    card["retrain"] = "detection.training.train_to_files"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(booster.model_to_string(), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(card, indent=1), encoding="utf-8")
    write_card_markdown(out)
    return card
