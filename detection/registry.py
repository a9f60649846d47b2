"""The score registry: which per-pixel change scores exist and what each needs.

Each :class:`ScoreMethod` declares its name, its neighbourhood depth (pixels of context a
block needs for chunked results to equal whole-grid ones, as a function of the pixel size),
the range of its values, and whether it needs a NIR band. ``detection.method`` in the run
config picks one (validated against :data:`METHOD_NAMES`); :mod:`detection.compose` runs it.

``learned`` (default)
    :mod:`detection.learned`: LightGBM probability over change and structure features
    (:mod:`detection.features`); RGB or RGBN (NIR only vetoes vegetated pixels), any
    resolution from about 0.5 to 5 m. Values are probabilities in [0, 1].
``spectral``
    :mod:`detection.score`: the hand-set rule "blue gained x not vegetated x not red-sloped"
    in blue-reflectance units; needs NIR; pixel-wise (depth 0). Kept as an alternative.
``onnx``
    :mod:`detection.onnx_model`: your own change-detection network (``detection.model:
    x.onnx``, chosen automatically for a ``.onnx`` model) run through onnxruntime on
    overlapping tiles with blended edges. Its depth is the model's tile overlap
    (``landcheck.overlap``, default 32 px; :func:`detection.compose.score_depth` opens the
    model to read it); values are probabilities in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["ScoreMethod", "METHODS", "METHOD_NAMES", "DEFAULT_METHOD", "MODEL_SUFFIXES", "get_method",
           "method_for_model"]


@dataclass(frozen=True)
class ScoreMethod:
    """A registered change score.

    Attributes
    ----------
    name
        Config name.
    description
        One line for messages and the manifest.
    depth
        ``pixel_size_m -> pixels`` of context per block.
    value_range
        ``(low, high)`` of the score (the histogram range of the threshold).
    needs_nir
        True when the score cannot run without a NIR band.
    """

    name: str
    description: str
    depth: Callable[[float], int]
    value_range: tuple[float, float]
    needs_nir: bool


def _learned_depth(pixel_size_m: float) -> int:
    from detection.learned import learned_depth

    return learned_depth(pixel_size_m)


METHODS: dict[str, ScoreMethod] = {
    "learned": ScoreMethod(
        "learned",
        "LightGBM probability over change, texture and morphological-index features "
        "(detection/models/construction_lgbm.txt)",
        _learned_depth, (0.0, 1.0), False),
    "spectral": ScoreMethod(
        "spectral",
        "hand-set spectral rule: blue gained x not vegetated x not red-sloped (detection/score.py)",
        lambda pixel_size_m: 0, (0.0, 1.0), True),
}

def _onnx_depth(pixel_size_m: float) -> int:
    from detection.onnx_model import DEFAULT_OVERLAP

    return DEFAULT_OVERLAP  # nominal: the model's own overlap is used (compose.score_depth)


METHODS["onnx"] = ScoreMethod(
    "onnx",
    "your change-detection network (detection.model: x.onnx) run through onnxruntime on "
    "overlapping tiles with blended edges (detection/onnx_model.py)",
    _onnx_depth, (0.0, 1.0), False)
METHOD_NAMES = tuple(METHODS)
DEFAULT_METHOD = "learned"
#: model file suffix -> the method that runs it
MODEL_SUFFIXES = {".txt": "learned", ".onnx": "onnx"}


def method_for_model(path: str) -> str | None:
    """The method a model file is run by, from its suffix (``.txt`` learned, ``.onnx`` onnx)."""
    from pathlib import Path

    return MODEL_SUFFIXES.get(Path(path).suffix.lower())


def get_method(name: str) -> ScoreMethod:
    """The registered method, or ValueError listing the allowed names."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown detection method {name!r} (allowed: {', '.join(METHOD_NAMES)})") from None
