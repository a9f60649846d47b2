"""The model card of a learned detector: JSON beside the model, rendered to Markdown.

The card (``<model>.json``) holds what :func:`detection.learned.load_model` needs (feature
names, scales, thresholds) and the provenance: training data, parameters, how to retrain, and
the quality measured by ``make eval`` (``quality``). :func:`card_markdown` renders it for
people (``<model>.md``).
"""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["card_markdown", "write_card_markdown"]


def card_markdown(card: dict) -> str:
    """The model card as Markdown (``<model>.md`` beside the model)."""
    t = card["training"]
    st = t["settings"]
    lines = [
        f"# Model card: {card['name']}",
        "",
        f"**Task.** {card['task']}.",
        "",
        "**Use.** `detection.method: learned` (the default); `detection.model: path/to/model.txt` "
        "for another model with its `.json` card beside it. Loaded by "
        "`detection.learned.load_model`; the run statistics record `model_id` "
        "(`<stem>@<sha256 of the model text, 12 hex>`).",
        "",
        "## Features",
        "",
        f"{len(card['features'])} per-pixel features of both dates, each date standardised on its own "
        "(median / IQR, order statistics: a linear rescale of the DN gives identical features), "
        "then the after date corrected onto the before date over unchanged pixels. Brightness and "
        "chroma, local texture at two scales, gradient, white and black top-hats over line "
        "structuring elements (morphological building / shadow index, Huang & Zhang 2012) at "
        f"{', '.join(str(int(v)) for v in card['spec']['lines_m'])} m, their change (log ratios), "
        "colour-difference magnitude at three scales, a misregistration-tolerant difference and "
        "top-hat change context. Scales in metres (`detection/features.py`, `FeatureSpec`).",
        "",
        "`" + "`, `".join(card["features"]) + "`",
        "",
        *(_sources_lines(card) if card.get("sources") is not None else _levir_lines(card)),
        "## Parameters",
        "",
        f"LightGBM {t['lightgbm']}, {st['rounds']} rounds, " + ", ".join(
            f"{k} {v}" for k, v in st["params"].items() if k not in ("verbose",)) + ". "
        f"Per pair and pixel size at most {st['n_pos']} change and {st['n_neg']} no-change pixels. "
        f"Trained in {t['seconds']:.0f} s on 2 cores.",
        "",
        f"Thresholds: a patch grows over pixels with probability > `threshold_low` "
        f"({card['threshold_low']}) (raised per image to Otsu's split of the probability "
        f"histogram when that is higher, up to `threshold_high`) and is kept only if it reaches "
        f"`threshold_high` ({card['threshold_high']}) somewhere, covers the minimum area, and, "
        "from 5,000 m², fills at least 60 % of its minimum rotated rectangle. With NIR, vegetated "
        "after-date pixels (NDVI ramp 0.15-0.35, unless blue > green) and before-date open water "
        "(NIR < green, +1 px) are vetoed. Last, the object test (`detection/objects.py`, "
        "`detection.min_segment_coverage`, default 0.15, 0 = off): a patch covering less than that "
        "share of the after-date segments it touches (Felzenszwalb) is a piece of a whole field that "
        "changed, not an object, and is dropped. These rules are the pipeline's, not the model's: "
        "the quality below is measured with them.",
        "",
        *([f"How the thresholds were chosen: {card['thresholds_chosen']}.", ""]
          if card.get("thresholds_chosen") else []),
        "## How to retrain",
        "",
        *([f"`{card['command']}` (`landcheck train`, landcheck {card.get('landcheck_version', '?')}, "
           f"{card.get('trained_at', '?')}) rewrites this model, its `.json` card and this page.", ""]
          if card.get("command") else _retrain_default_lines()),
        "## Quality",
        "",
    ]
    q = card.get("quality")
    if not q:
        lines.append("Not measured yet: run `make eval` (it writes the figures here)." if not card.get("command")
                     else "Not measured by landcheck: score it on labelled pairs it was not trained on "
                          "before relying on it.")
    else:
        lines += [f"Measured by `make eval` on {q['when']} (`bench/out/eval.json`).", ""]
        for row in q["rows"]:
            lines.append(f"- {row}")
    return "\n".join(lines) + "\n"


def _levir_lines(card: dict) -> list[str]:
    """The training data of the shipped default model."""
    t = card["training"]
    return [
        "## Training data",
        "",
        "LEVIR-CD (Chen & Shi 2020; research / academic use), RGB 0.5 m, Texas suburbs, labels = new "
        "buildings only: " + ", ".join(t["data"]) + f". Used at {', '.join(str(v) for v in t['pixel_sizes_m'])} m "
        "(block means). Augmented copies: before-date segments away from change recoloured in the "
        "after date (seasonal field change, label no-change), synthetic rectangular roofs of every "
        "common colour with cast shadows (label change), random gamma, random 1-px shift. "
        f"{t['rows']:,} sampled pixels ({t['positive_rows']:,} change). Not used: "
        + ", ".join(t["not_used"]) + ".",
        "",
        *([str(t["also"]), ""] if t.get("also") else []),
    ]


def _retrain_default_lines() -> list[str]:
    return [
        "`python bench/train_default.py` (about 10-15 minutes on 2 cores, most of it the features of "
        "the 57 pairs, which are cached in `bench/out/lopo/<fingerprint>/samples.npz`; about 2 "
        "minutes from that cache) rewrites this model, its `.json` card and this page. Other labelled pairs: `landcheck train --pairs DIR`, or "
        "`detection.training.read_pair_folder` (LEVIR layout), `training_matrix`, `fit_model`.",
        "",
    ]


def _sources_lines(card: dict) -> list[str]:
    """The training data of a model written by ``landcheck train``: sources, base, pixels."""
    lines = ["## Training data", ""]
    base = card.get("base_model")
    if base:
        lines += [f"Continued from the base model `{base['path']}` (sha256 `{base['sha256']}`, "
                  f"`{base.get('model_id', '')}`): its trees are kept and new ones added.", ""]
    for src in card["sources"]:
        if src["kind"] == "pairs":
            lines.append(f"- labelled pairs `{src['path']}` at {src['pixel_size_m']:g} m: "
                         f"{len(src['pairs'])} pair(s)")
        else:
            verdicts = ", ".join(f"`{v['path']}`" for v in src.get("verdicts", []))
            lines.append(f"- run `{src['path']}` (manifest sha256 `{src.get('manifest_sha256', '')}`) with "
                         f"its field verdicts {verdicts}")
    px = card.get("pixels", {})
    if px:
        lines += ["", "Training pixels: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in px.items() if v)
                  + ". Verdicts: 合法 / 违法 positive, 伪变化 hard negative (weighted), pixels outside every "
                  "patch sparse background negatives, 设施农用地 / 临时用地 / 其他 / unverified not used."]
    lines += ["", "Every source is listed with its sha256 in the `.json` card.", ""]
    return lines


def write_card_markdown(path: Path) -> None:
    """Render the ``.json`` card beside ``path`` to ``.md``."""
    card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    path.with_suffix(".md").write_text(card_markdown(card), encoding="utf-8")
