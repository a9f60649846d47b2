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

__all__ = ["train_to_files"]


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

    import lightgbm

    from detection.model_card import write_card_markdown

    s = settings if settings is not None else TrainingSettings()
    t0 = time.perf_counter()
    samples = training_matrix(pairs, s)
    booster = fit_model(samples.values(), s)
    card = {
        "name": Path(out).stem,
        "task": "pixel probability of new construction between two dates, RGB; NIR when "
                "present only vetoes vegetated / open-water pixels",
        "features": feature_names(s.spec),
        "spec": json.loads(json.dumps(s.spec.__dict__)),
        "threshold_low": float(threshold_low),
        "threshold_high": float(threshold_high),
        "training": {
            "data": [p.name for p in pairs], "not_used": [],
            "pixel_sizes_m": sorted({p.pixel_size_m * f for p in pairs for f in s.factors}),
            "rows": int(sum(len(v[1]) for v in samples.values())),
            "positive_rows": int(sum(int(v[1].sum()) for v in samples.values())),
            "settings": s.to_dict(), "seconds": round(time.perf_counter() - t0, 1),
            "lightgbm": lightgbm.__version__,
        },
        "retrain": "detection.training.train_to_files",
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(booster.model_to_string(), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(card, indent=1), encoding="utf-8")
    write_card_markdown(out)
    return card
