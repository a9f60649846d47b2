"""Bring your own network: a change-detection ONNX model run on overlapping, blended tiles.

A provincial centre's trained network replaces the hand-made construction score
(:mod:`detection.score`): it gives a per-pixel change probability in [0, 1] and the rest of the
detection (threshold, clean-up, vectorising, overlay) stays as it is. The model runs through
``onnxruntime`` on the CPU; install it with ``pip install 'landcheck[onnx]'``.

Calling conventions
-------------------
The graph's inputs and first output decide how it is called (:func:`load_change_model`):

* **two inputs** ``(N, C, H, W)`` float32: the before and the after date. They are matched by
  name when exactly one name contains ``before`` and the other ``after`` (any case), otherwise
  taken in the graph's declared order (before first);
* **one input** ``(N, 2C, H, W)`` float32: the two dates stacked on channels, before first;
* **output** ``(N, 1, H, W)`` change logit or probability, ``(N, 2, H, W)`` two-class
  (no change, change) logits or probabilities -- channel 1 after a softmax is the change
  probability -- or ``(N, H, W)``. The output has the input's height and width.

Model metadata
--------------
Optional ONNX ``metadata_props`` describe what the network was trained on. Every key starting
with ``landcheck.`` must be one of :data:`METADATA_KEYS` (a typo is an error, not ignored);
other keys are ignored.

``landcheck.bands``
    Comma-separated band names per date in the order of the network's channels, from the
    imagery's bands (``blue, green, red, nir``), e.g. ``red,green,blue``. Default: a
    3-channel network takes ``red,green,blue``; any other channel count takes the imagery's
    bands in their own order, and the counts must match.
``landcheck.normalize``
    What the network's inputs were scaled to. ``unit`` (default): DN / ``scale``, i.e.
    reflectance or 8-bit DN / 255 in 0..1; ``imagenet``: ``unit``, then minus the ImageNet
    mean and divided by its standard deviation per band (red, green and blue bands only);
    ``meanstd``: ``unit``, then ``(x - mean) / std`` with ``landcheck.mean`` and
    ``landcheck.std``; ``zscore``: each date and band standardised by its own mean and standard
    deviation over the image (pass :class:`BandStats` from a whole-image sample so chunks
    agree); ``none``: DN as float32.
``landcheck.mean``, ``landcheck.std``
    For ``meanstd``: comma-separated numbers, one per band of ``landcheck.bands``, on the
    ``unit`` scale.
``landcheck.output``
    ``probability`` (default) or ``logit``. A logit is turned into a probability with the
    sigmoid (one channel) or the softmax (two channels). Declared or default ``probability``
    outputs are checked: values outside [0, 1] stop the run with an error that says to declare
    ``logit``, so logits are never read as probabilities by accident.
``landcheck.tile``
    Tile size in pixels for a network whose height and width are not fixed (default 256). A
    network with a fixed input height and width is always run on tiles of that size.
``landcheck.overlap``
    Pixels shared by neighbouring tiles (default 32, at most half the tile).
``landcheck.pixel_size_m``
    The ground resolution the network was trained on, in metres. Informative: the imagery is
    not resampled, but :meth:`ChangeModel.pixel_size_warning` says when it differs.
``landcheck.threshold``
    The change probability above which a pixel is change, in (0, 1): the default of
    ``detection.threshold: auto`` for this network (0.5 when not declared).

Tiles and blended edges
-----------------------
The image is padded by reflection by the overlap on every side (and up to a whole number of
tiles at the end), cut into tiles at a stride of ``tile - overlap`` and run in batches. Each
tile's result is weighted by a window (:func:`blend_window`) that is 0 over the outer quarter
of the overlap, rises as a raised cosine over its middle half and is 1 inside; the weighted sum
is divided by the sum of the weights. Across any overlap the two windows add up to exactly 1,
so seams vanish; and as no weight falls within ``overlap // 4`` pixels of a tile edge, the
result equals the network run on the whole image wherever the network's receptive-field
radius is at most ``overlap // 4`` (a stack of L 3x3 convolutions has radius L). For a larger
receptive field the blend hides the seams, but the result is approximate. A pointwise network
gives exactly its whole-image result.

Chunk by chunk
--------------
The result at a pixel depends on the input up to :attr:`ChangeModel.depth` (= the overlap)
pixels away, so the caller maps :func:`predict_block` with ``dask.array.map_overlap`` at that
depth and ``boundary="none"`` (:func:`predict_array` does it); dask tasks then carry the
model's path, never an onnxruntime session, and each worker process opens the model once
(cached on path, size and modification time).

Nodata: NaN in any used band of either date. Such pixels are filled with the band's mean of
that date before the network sees them (:class:`BandStats`, or the mean of the array given),
and their output is NaN.
"""
from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import dask.array as da

__all__ = [
    "METADATA_KEYS",
    "NORMALIZATIONS",
    "OUTPUT_KINDS",
    "DEFAULT_TILE",
    "DEFAULT_OVERLAP",
    "DEFAULT_BATCH_SIZE",
    "INSTALL_HINT",
    "ModelError",
    "BandStats",
    "ChangeModel",
    "band_stats",
    "blend_window",
    "load_change_model",
    "predict_block",
    "predict_array",
]

#: The model metadata keys landcheck reads (see the module docstring).
METADATA_KEYS = (
    "landcheck.bands",
    "landcheck.normalize",
    "landcheck.mean",
    "landcheck.std",
    "landcheck.output",
    "landcheck.tile",
    "landcheck.overlap",
    "landcheck.pixel_size_m",
    "landcheck.threshold",
)
#: Values of ``landcheck.normalize``.
NORMALIZATIONS = ("unit", "imagenet", "meanstd", "zscore", "none")
#: Values of ``landcheck.output``.
OUTPUT_KINDS = ("probability", "logit")
#: Tile size for networks without a fixed input height and width.
DEFAULT_TILE = 256
#: Pixels shared by neighbouring tiles.
DEFAULT_OVERLAP = 32
#: Tiles per ``InferenceSession.run`` call.
DEFAULT_BATCH_SIZE = 4
#: What to tell a user who lacks onnxruntime.
INSTALL_HINT = "pip install 'landcheck[onnx]'"

#: ImageNet statistics on the 0..1 scale, by band name.
_IMAGENET = {"red": (0.485, 0.229), "green": (0.456, 0.224), "blue": (0.406, 0.225)}
#: Band names of a 3-channel network that declares none.
_RGB = ("red", "green", "blue")
#: Probability outputs may overshoot [0, 1] by this much (float16 graphs, rounding).
_PROBABILITY_SLACK = 1e-3
#: Share by which the imagery's pixel size may differ from the training one without a warning.
_PIXEL_SIZE_TOLERANCE = 0.25

Convention = Literal["pair", "stacked"]


class ModelError(ValueError):
    """The change-detection model cannot be used: ``str(error)`` is ``"<path>: <problem>"``.

    Parameters
    ----------
    path
        The model file.
    problem
        One line saying what is wrong (and, where it helps, what to do).
    """

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        # Rebuild from (path, problem) so the error survives the trip back from a dask worker.
        return (type(self), (self.path, self.problem))


@dataclass(frozen=True)
class BandStats:
    """Per-band mean and standard deviation of each date, in DN, in the imagery's band order.

    Computed once on a whole-image sample (:func:`band_stats`) and passed to every chunk, so
    that the nodata fill and ``zscore`` normalisation do not depend on the chunking.
    """

    before_mean: tuple[float, ...]
    before_std: tuple[float, ...]
    after_mean: tuple[float, ...]
    after_std: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.before_mean)
        if any(len(v) != n for v in (self.before_std, self.after_mean, self.after_std)):
            raise ValueError("BandStats: all four sequences must have one value per band")

    def select(self, index: Sequence[int]) -> BandStats:
        """The statistics of the bands at ``index``, in that order."""
        def pick(values: tuple[float, ...]) -> tuple[float, ...]:
            return tuple(values[i] for i in index)

        return BandStats(pick(self.before_mean), pick(self.before_std),
                         pick(self.after_mean), pick(self.after_std))


def band_stats(before: np.ndarray, after: np.ndarray) -> BandStats:
    """Mean and standard deviation of every band of both dates, ignoring NaN.

    Parameters
    ----------
    before, after
        ``(bands, ...)`` DN (a whole image or a pixel sample ``(bands, n)``), NaN = no data.

    Returns
    -------
    BandStats
        A band with no finite value gets mean 0; a standard deviation of 0 (or none) becomes 1.
    """
    def one(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
        x = np.asarray(x, dtype=np.float64).reshape(np.shape(x)[0], -1)
        means, stds = [], []
        for band in x:
            v = band[np.isfinite(band)]
            m = float(v.mean()) if v.size else 0.0
            s = float(v.std()) if v.size else 0.0
            means.append(m)
            stds.append(s if s > 0 else 1.0)
        return tuple(means), tuple(stds)

    bm, bs = one(before)
    am, as_ = one(after)
    if len(bm) != len(am):
        raise ValueError(f"before has {len(bm)} bands and after {len(am)}")
    return BandStats(bm, bs, am, as_)


def blend_window(size: int, overlap: int) -> np.ndarray:
    """1-D weight of a tile's pixels for blending overlapping tiles.

    With ``m = overlap // 4`` and ``d`` a pixel's distance from the nearer tile edge (0 for the
    edge pixel): 0 for ``d < m``, ``sin²(π/2 · (d - m + 0.5) / (overlap - 2m))`` up to
    ``d = overlap - m``, 1 beyond. Two tiles overlapping by ``overlap`` pixels have weights
    adding up to exactly 1 across the overlap. The 2-D window is the outer product of two.

    Parameters
    ----------
    size
        Tile length in pixels.
    overlap
        Pixels shared with the neighbouring tile, ``0 <= 2 * overlap <= size``.

    Returns
    -------
    numpy.ndarray
        ``(size,)`` float64 in [0, 1].
    """
    if overlap < 0 or 2 * overlap > size:
        raise ValueError(f"overlap must be between 0 and half the tile ({size}), got {overlap}")
    if overlap == 0:
        return np.ones(size, dtype=np.float64)
    d = np.minimum(np.arange(size), np.arange(size)[::-1]).astype(np.float64)
    m = overlap // 4
    ramp = overlap - 2 * m
    u = np.clip((d - m + 0.5) / ramp, 0.0, 1.0)
    w = np.sin(0.5 * np.pi * u) ** 2
    w[d < m] = 0.0
    w[d >= overlap - m] = 1.0
    return w


# --------------------------------------------------------------------------------------------
# loading


def _import_onnxruntime(path: object) -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ModelError(path, f"onnxruntime is not installed; {INSTALL_HINT}") from None
    return onnxruntime


def _ort_message(exc: BaseException) -> str:
    """onnxruntime's error text without its code prefix and the repeated path, on one line."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*", "", text)
    text = re.sub(r"^Load model from .*? failed:\s*", "", text)
    return text[:300]


def _static(dim: Any) -> int | None:
    """A dimension of an onnxruntime shape as an int, or None when symbolic/unknown."""
    return dim if isinstance(dim, int) and dim > 0 else None


def _shape_text(shape: Sequence[Any]) -> str:
    return "(" + ", ".join(str(d) if _static(d) else "?" for d in shape) + ")"


@dataclass(frozen=True)
class _Metadata:
    bands: tuple[str, ...] | None
    normalize: str
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    output: str | None
    tile: int | None
    overlap: int | None
    pixel_size_m: float | None
    threshold: float | None = None


def _parse_metadata(path: Path, props: dict[str, str]) -> _Metadata:
    unknown = sorted(k for k in props if k.startswith("landcheck.") and k not in METADATA_KEYS)
    if unknown:
        raise ModelError(path, f"unknown metadata key '{unknown[0]}' (allowed: {', '.join(METADATA_KEYS)})")

    def names(key: str) -> tuple[str, ...] | None:
        if key not in props:
            return None
        items = tuple(s.strip().lower() for s in props[key].split(","))
        if not items or any(not s for s in items):
            raise ModelError(path, f"metadata '{key}' must be comma-separated names, got '{props[key]}'")
        if len(set(items)) != len(items):
            raise ModelError(path, f"metadata '{key}' names a band twice: '{props[key]}'")
        return items

    def numbers(key: str) -> tuple[float, ...] | None:
        if key not in props:
            return None
        try:
            values = tuple(float(s) for s in props[key].split(","))
        except ValueError:
            raise ModelError(path, f"metadata '{key}' must be comma-separated numbers, got '{props[key]}'") from None
        if not all(math.isfinite(v) for v in values):
            raise ModelError(path, f"metadata '{key}' must be finite numbers, got '{props[key]}'")
        return values

    def choice(key: str, allowed: tuple[str, ...]) -> str | None:
        if key not in props:
            return None
        value = props[key].strip().lower()
        if value not in allowed:
            raise ModelError(path, f"metadata '{key}' is '{props[key]}' (allowed: {', '.join(allowed)})")
        return value

    def positive(key: str, kind: type, minimum: float) -> Any:
        if key not in props:
            return None
        try:
            value = kind(props[key].strip())
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value < minimum:
            what = "an integer" if kind is int else "a number"
            raise ModelError(path, f"metadata '{key}' must be {what} >= {minimum:g}, got '{props[key]}'")
        return value

    bands = names("landcheck.bands")
    normalize = choice("landcheck.normalize", NORMALIZATIONS) or "unit"
    mean, std = numbers("landcheck.mean"), numbers("landcheck.std")
    if normalize == "meanstd":
        if mean is None or std is None or bands is None:
            raise ModelError(path, "metadata 'landcheck.normalize' is 'meanstd' but 'landcheck.bands', "
                                   "'landcheck.mean' and 'landcheck.std' are not all given")
        if len(mean) != len(bands) or len(std) != len(bands):
            raise ModelError(path, f"metadata 'landcheck.mean' and 'landcheck.std' need one value per band "
                                   f"of 'landcheck.bands' ({len(bands)})")
        if any(s <= 0 for s in std):
            raise ModelError(path, "metadata 'landcheck.std' values must be > 0")
    elif mean is not None or std is not None:
        raise ModelError(path, "metadata 'landcheck.mean'/'landcheck.std' are used only with "
                               "'landcheck.normalize' = 'meanstd'")
    return _Metadata(
        bands=bands, normalize=normalize, mean=mean, std=std,
        output=choice("landcheck.output", OUTPUT_KINDS),
        tile=positive("landcheck.tile", int, 1),
        overlap=positive("landcheck.overlap", int, 0),
        pixel_size_m=positive("landcheck.pixel_size_m", float, 1e-9),
        threshold=_threshold(path, props),
    )


def _threshold(path: Path, props: dict[str, str]) -> float | None:
    """``landcheck.threshold`` as a number in (0, 1), or None when not declared."""
    key = "landcheck.threshold"
    if key not in props:
        return None
    try:
        value = float(props[key].strip())
    except ValueError:
        value = math.nan
    if not 0.0 < value < 1.0:
        raise ModelError(path, f"metadata '{key}' must be a number between 0 and 1, got '{props[key]}'")
    return value


def _before_after_order(names: Sequence[str]) -> tuple[int, int]:
    """Indexes of the before and after inputs: by name when unambiguous, else declared order."""
    low = [n.lower() for n in names]
    has_b = ["before" in n for n in low]
    has_a = ["after" in n for n in low]
    for b, a in ((0, 1), (1, 0)):
        if has_b[b] and not has_a[b] and has_a[a] and not has_b[a]:
            return b, a
    return 0, 1


def _open_session(path: Path, threads: int) -> Any:
    ort = _import_onnxruntime(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: no warnings on stderr from worker threads
    # No busy-waiting threads between runs: dask runs other tasks on the same cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own classes, not derived from anything useful
        kind = type(exc).__name__
        if kind == "InvalidProtobuf" or "No graph was found" in str(exc):
            raise ModelError(path, "is not an ONNX model (onnxruntime cannot parse it)") from None
        raise ModelError(path, f"onnxruntime {ort.__version__} cannot load the model: {_ort_message(exc)}") from None


def load_change_model(
    path: str | os.PathLike[str],
    *,
    threads: int = 0,
    tile: int | None = None,
    overlap: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    output_kind: str | None = None,
    available_bands: Sequence[str] | None = None,
) -> ChangeModel:
    """Open a change-detection ONNX model and decide how to call it.

    Parameters
    ----------
    path
        The ``.onnx`` file.
    threads
        onnxruntime intra-op threads; 0 lets onnxruntime choose (all physical cores). Use 1
        when dask already runs one task per core.
    tile
        Tile size in pixels; overrides ``landcheck.tile``. A network with a fixed input height
        and width accepts only that size.
    overlap
        Pixels shared by neighbouring tiles; overrides ``landcheck.overlap`` (default 32).
    batch_size
        Tiles per onnxruntime call (a network with a fixed batch dimension uses that).
    output_kind
        ``"logit"`` or ``"probability"``; overrides ``landcheck.output``.
    available_bands
        The imagery's band names (e.g. ``("blue", "green", "red", "nir")``): when given, a model
        that needs other bands fails here rather than at the first chunk.

    Returns
    -------
    ChangeModel

    Raises
    ------
    ModelError
        The file is missing or not an ONNX model, onnxruntime is not installed, the inputs or
        output have an unsupported shape or type, the metadata is invalid, or the model's bands
        are not among ``available_bands``.
    """
    p = Path(path)
    if not p.exists():
        raise ModelError(p, "model file not found")
    if p.is_dir():
        raise ModelError(p, "is a folder, not an ONNX model file")
    if output_kind is not None and output_kind not in OUTPUT_KINDS:
        raise ModelError(p, f"output kind '{output_kind}' is not one of {', '.join(OUTPUT_KINDS)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    session = _open_session(p, threads)
    model = _describe(p, session, output_kind)
    model = model.with_options(tile=tile, overlap=overlap, batch_size=batch_size)
    if available_bands is not None:
        model.band_index(available_bands)
    return model


def _describe(path: Path, session: Any, output_kind: str | None) -> ChangeModel:
    """Inspect the session's inputs, output and metadata (no tile/overlap overrides yet)."""
    props = dict(session.get_modelmeta().custom_metadata_map or {})
    meta = _parse_metadata(path, props)
    inputs = session.get_inputs()
    if len(inputs) not in (1, 2):
        raise ModelError(path, f"has {len(inputs)} inputs; a change model takes two dates "
                               "(before, after) or one input with both dates stacked on channels")
    for inp in inputs:
        if inp.type != "tensor(float)":
            raise ModelError(path, f"input '{inp.name}' is {inp.type}; only float32 inputs are supported")
        if len(inp.shape) != 4:
            raise ModelError(path, f"input '{inp.name}' has shape {_shape_text(inp.shape)}; "
                                   "expected (N, C, H, W)")
    if len(inputs) == 2:
        ib, ia = _before_after_order([i.name for i in inputs])
        inputs = [inputs[ib], inputs[ia]]
        convention: Convention = "pair"
        cs = {_static(i.shape[1]) for i in inputs} - {None}
        if len(cs) > 1:
            raise ModelError(path, f"inputs '{inputs[0].name}' {_shape_text(inputs[0].shape)} and "
                                   f"'{inputs[1].name}' {_shape_text(inputs[1].shape)} differ in channels")
        channels = cs.pop() if cs else None
        dims = [tuple(_static(i.shape[k]) for i in inputs) for k in (0, 2, 3)]
        for k, pair in zip(("batch", "height", "width"), dims):
            if pair[0] is not None and pair[1] is not None and pair[0] != pair[1]:
                raise ModelError(path, f"the two inputs differ in {k}: {_shape_text(inputs[0].shape)} "
                                       f"and {_shape_text(inputs[1].shape)}")
        batch, height, width = (a if a is not None else b for a, b in dims)
    else:
        convention = "stacked"
        shape = inputs[0].shape
        c2 = _static(shape[1])
        if c2 is not None and c2 % 2:
            raise ModelError(path, f"input '{inputs[0].name}' has {c2} channels {_shape_text(shape)}; "
                                   "one input must stack both dates on channels (an even count)")
        channels = c2 // 2 if c2 is not None else None
        batch, height, width = _static(shape[0]), _static(shape[2]), _static(shape[3])

    outputs = session.get_outputs()
    out = outputs[0]
    if out.type not in ("tensor(float)", "tensor(double)", "tensor(float16)"):
        raise ModelError(path, f"output '{out.name}' is {out.type}; a float change map is expected")
    oshape = out.shape
    if len(oshape) == 4:
        oc = _static(oshape[1])
        if oc is not None and oc not in (1, 2):
            raise ModelError(path, f"output '{out.name}' has shape {_shape_text(oshape)}; expected "
                                   "(N, 1, H, W), (N, 2, H, W) or (N, H, W)")
    elif len(oshape) != 3:
        raise ModelError(path, f"output '{out.name}' has shape {_shape_text(oshape)}; expected "
                               "(N, 1, H, W), (N, 2, H, W) or (N, H, W)")
    out_hw = (_static(oshape[-2]), _static(oshape[-1]))
    for got, want in zip(out_hw, (height, width)):
        if got is not None and want is not None and got != want:
            raise ModelError(path, f"output '{out.name}' {_shape_text(oshape)} is not the size of the input "
                                   f"({height}x{width}); only same-size change maps are supported")

    if meta.bands is not None and channels is not None and len(meta.bands) != channels:
        raise ModelError(path, f"metadata 'landcheck.bands' lists {len(meta.bands)} bands "
                               f"({','.join(meta.bands)}) but the network takes {channels} channels per date")
    bands = meta.bands if meta.bands is not None else (_RGB if channels == 3 else None)
    if meta.normalize == "imagenet" and (bands is None or any(b not in _IMAGENET for b in bands)):
        raise ModelError(path, "'imagenet' normalisation is defined for red, green and blue bands only; "
                               f"the model's bands are {','.join(bands) if bands else 'not declared'}")
    if meta.tile is not None and ((height and height != meta.tile) or (width and width != meta.tile)):
        raise ModelError(path, f"metadata 'landcheck.tile' is {meta.tile} but the network's input is fixed at "
                               f"{height or '?'}x{width or '?'}")
    fixed = (height, width)
    default_tile = meta.tile or DEFAULT_TILE
    return ChangeModel(
        path=str(path),
        convention=convention,
        input_names=tuple(i.name for i in inputs),
        output_name=out.name,
        channels=channels,
        bands=bands,
        normalize=meta.normalize,
        mean=meta.mean,
        std=meta.std,
        output=output_kind or meta.output or "probability",
        tile=(height or default_tile, width or default_tile),
        overlap=meta.overlap if meta.overlap is not None else DEFAULT_OVERLAP,
        batch_size=DEFAULT_BATCH_SIZE,
        fixed_batch=batch,
        fixed_tile=fixed,
        pixel_size_m=meta.pixel_size_m,
        metadata=tuple(sorted(props.items())),
        threshold=meta.threshold,
        _session=session,
    )


# --------------------------------------------------------------------------------------------
# the model


@dataclass(frozen=True)
class ChangeModel:
    """An opened change-detection network and how to call it (from :func:`load_change_model`).

    Attributes
    ----------
    path
        The model file.
    convention
        ``"pair"`` (two inputs, before and after) or ``"stacked"`` (one input, dates on channels).
    input_names
        Graph inputs, before first for ``"pair"``.
    output_name
        The graph output used (the first one).
    channels
        Channels per date when the graph fixes them, else None.
    bands
        Band names the network takes, in channel order; None: the imagery's bands as given.
    normalize, mean, std
        Input scaling (see the module docstring).
    output
        ``"probability"`` or ``"logit"``.
    tile
        ``(height, width)`` of the tiles the network is run on.
    overlap
        Pixels shared by neighbouring tiles; also :attr:`depth`.
    batch_size
        Tiles per onnxruntime call (``fixed_batch`` when the graph fixes it).
    fixed_batch, fixed_tile
        What the graph's input shape fixes (None where dynamic).
    pixel_size_m
        Training ground resolution from the metadata, or None.
    metadata
        All of the model's ``metadata_props`` as sorted ``(key, value)`` pairs.
    threshold
        ``landcheck.threshold``, or None when the model declares none.
    """

    path: str
    convention: Convention
    input_names: tuple[str, ...]
    output_name: str
    channels: int | None
    bands: tuple[str, ...] | None
    normalize: str
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    output: str
    tile: tuple[int, int]
    overlap: int
    batch_size: int
    fixed_batch: int | None
    fixed_tile: tuple[int | None, int | None]
    pixel_size_m: float | None
    metadata: tuple[tuple[str, str], ...]
    _session: Any = field(repr=False, compare=False)
    threshold: float | None = None

    @property
    def depth(self) -> int:
        """Pixels of context a block needs on each side (the overlap), for ``map_overlap``."""
        return self.overlap

    def with_options(
        self,
        *,
        tile: int | None = None,
        overlap: int | None = None,
        batch_size: int | None = None,
    ) -> ChangeModel:
        """The same network (and session) with another tile size, overlap or batch size.

        Raises
        ------
        ModelError
            ``tile`` differs from a fixed input size, or the overlap is more than half a tile.
        """
        new_tile = self.tile
        if tile is not None:
            if tile < 1:
                raise ModelError(self.path, f"tile size must be >= 1, got {tile}")
            fh, fw = self.fixed_tile
            if (fh is not None and fh != tile) or (fw is not None and fw != tile):
                raise ModelError(self.path, f"the network's input is fixed at {fh or '?'}x{fw or '?'}; "
                                            f"it cannot run on {tile}x{tile} tiles")
            new_tile = (fh or tile, fw or tile)
        new_overlap = self.overlap if overlap is None else int(overlap)
        if new_overlap < 0 or 2 * new_overlap > min(new_tile):
            raise ModelError(self.path, f"overlap {new_overlap} must be between 0 and half the "
                                        f"{new_tile[0]}x{new_tile[1]} tile")
        new_batch = self.batch_size if batch_size is None else int(batch_size)
        if new_batch < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if self.fixed_batch is not None:
            new_batch = self.fixed_batch
        return replace(self, tile=new_tile, overlap=new_overlap, batch_size=new_batch)

    def band_index(self, available: Sequence[str]) -> tuple[int, ...]:
        """Positions in ``available`` of the bands the network takes, in its channel order.

        Raises
        ------
        ModelError
            A band the network needs is not available, or (no ``landcheck.bands``) the channel
            count differs from the number of available bands.
        """
        have = tuple(str(b).strip().lower() for b in available)
        if self.bands is None:
            if self.channels is not None and self.channels != len(have):
                raise ModelError(self.path, f"the network takes {self.channels} channels per date and declares "
                                            f"no 'landcheck.bands'; the imagery has {len(have)} bands "
                                            f"({', '.join(have)}): add 'landcheck.bands' to the model's metadata")
            return tuple(range(len(have)))
        missing = [b for b in self.bands if b not in have]
        if missing:
            raise ModelError(self.path, f"the network needs bands {', '.join(self.bands)}; the imagery has "
                                        f"{', '.join(have)} (missing: {', '.join(missing)})")
        return tuple(have.index(b) for b in self.bands)

    def pixel_size_warning(self, pixel_size_m: float, tolerance: float = _PIXEL_SIZE_TOLERANCE) -> str | None:
        """A warning when the imagery's pixel size is far from the training one, else None."""
        if self.pixel_size_m is None or pixel_size_m <= 0:
            return None
        if abs(pixel_size_m / self.pixel_size_m - 1.0) <= tolerance:
            return None
        return (f"{self.path}: the network was trained on {self.pixel_size_m:g} m pixels, the imagery has "
                f"{pixel_size_m:g} m; its change probabilities may be unreliable")

    # -- prediction ---------------------------------------------------------------------------

    def predict(
        self,
        before: np.ndarray,
        after: np.ndarray,
        *,
        bands: Sequence[str],
        scale: float | None = None,
        stats: BandStats | None = None,
    ) -> np.ndarray:
        """Change probability of every pixel of one image (or one block with its overlap).

        Parameters
        ----------
        before, after
            ``(len(bands), H, W)`` DN, NaN = no data.
        bands
            Names of the arrays' bands, e.g. ``("blue", "green", "red", "nir")``.
        scale
            DN standing for reflectance 1.0 (:func:`detection.score.reflectance_scale`: 255 for
            8-bit imagery); needed by the ``unit``, ``imagenet`` and ``meanstd`` normalisations.
        stats
            Per-band statistics of the whole image in ``bands`` order (:func:`band_stats`), used
            to fill nodata and for ``zscore``; without them those of the arrays given are used,
            which differ from chunk to chunk.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` float32 change probability in [0, 1]; NaN where either date has no data.

        Raises
        ------
        ModelError
            The network needs bands that are not given, fails, or returns values that are not
            a probability map.
        """
        before = np.asarray(before)
        after = np.asarray(after)
        if before.shape != after.shape or before.ndim != 3:
            raise ValueError(f"before/after must both be (bands, H, W), got {before.shape} and {after.shape}")
        if before.shape[0] != len(bands):
            raise ValueError(f"the arrays have {before.shape[0]} bands but {len(bands)} band names were given")
        index = self.band_index(bands)
        if stats is not None and len(stats.before_mean) != len(bands):
            raise ValueError(f"stats hold {len(stats.before_mean)} bands, the arrays {len(bands)}")
        used = [str(bands[i]).strip().lower() for i in index]
        b = before[list(index)].astype(np.float32, copy=False)
        a = after[list(index)].astype(np.float32, copy=False)
        invalid = ~(np.isfinite(b).all(axis=0) & np.isfinite(a).all(axis=0))
        h, w = invalid.shape
        if invalid.all() or h == 0 or w == 0:
            return np.full((h, w), np.nan, dtype=np.float32)
        st = stats.select(index) if stats is not None else band_stats(b, a)
        x = np.concatenate([
            self._normalise(b, used, st.before_mean, st.before_std, scale),
            self._normalise(a, used, st.after_mean, st.after_std, scale),
        ])
        prob = self._run_tiled(x)
        prob[invalid] = np.nan
        return prob

    def _normalise(self, x: np.ndarray, used: list[str], mean: tuple[float, ...],
                   std: tuple[float, ...], scale: float | None) -> np.ndarray:
        """Nodata filled with the band mean, then the network's input scaling; float32."""
        mean_a = np.asarray(mean, dtype=np.float32)[:, None, None]
        x = np.where(np.isfinite(x), x, mean_a)
        mode = self.normalize
        if mode == "none":
            return x.astype(np.float32, copy=False)
        if mode == "zscore":
            return ((x - mean_a) / np.asarray(std, dtype=np.float32)[:, None, None]).astype(np.float32)
        if scale is None or not scale > 0:
            raise ValueError(f"the model normalises its input with '{mode}': pass scale= (DN per unit "
                             "reflectance, detection.score.reflectance_scale)")
        x = x * np.float32(1.0 / scale)
        if mode == "unit":
            return x.astype(np.float32, copy=False)
        if mode == "imagenet":
            m = np.array([_IMAGENET[b][0] for b in used], dtype=np.float32)
            s = np.array([_IMAGENET[b][1] for b in used], dtype=np.float32)
        else:  # meanstd
            m = np.asarray(self.mean, dtype=np.float32)
            s = np.asarray(self.std, dtype=np.float32)
        return ((x - m[:, None, None]) / s[:, None, None]).astype(np.float32)

    def _run_tiled(self, x: np.ndarray) -> np.ndarray:
        """Blended tiled prediction of a ``(2C, H, W)`` normalised, gap-free input; ``(H, W)``."""
        _, h, w = x.shape
        (th, tw), o = self.tile, self.overlap

        def layout(n: int, t: int) -> tuple[list[int], int]:
            stride = t - o if t - o > 0 else t
            need = n + 2 * o
            k = max(1, math.ceil((need - t) / stride) + 1)
            return [i * stride for i in range(k)], (k - 1) * stride + t

        ys, hp = layout(h, th)
        xs, wp = layout(w, tw)
        padded = np.pad(x, ((0, 0), (o, hp - h - o), (o, wp - w - o)), mode="reflect")
        weight = np.outer(blend_window(th, o), blend_window(tw, o))
        acc = np.zeros((hp, wp), dtype=np.float64)
        wsum = np.zeros((hp, wp), dtype=np.float64)
        origins = [(y, xx) for y in ys for xx in xs]
        for start in range(0, len(origins), self.batch_size):
            batch = origins[start:start + self.batch_size]
            tiles = np.stack([padded[:, y:y + th, xx:xx + tw] for y, xx in batch])
            probs = self._run_batch(tiles)
            for (y, xx), p in zip(batch, probs):
                acc[y:y + th, xx:xx + tw] += weight * p
                wsum[y:y + th, xx:xx + tw] += weight
        out = acc[o:o + h, o:o + w] / wsum[o:o + h, o:o + w]
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    def _run_batch(self, tiles: np.ndarray) -> np.ndarray:
        """Change probability of a ``(n, 2C, th, tw)`` batch of tiles; ``(n, th, tw)``."""
        n = len(tiles)
        if self.fixed_batch is not None and n < self.fixed_batch:  # fill a fixed batch with copies
            tiles = np.concatenate([tiles, np.repeat(tiles[-1:], self.fixed_batch - n, axis=0)])
        tiles = np.ascontiguousarray(tiles, dtype=np.float32)
        c = tiles.shape[1] // 2
        if self.convention == "pair":
            feed = {self.input_names[0]: np.ascontiguousarray(tiles[:, :c]),
                    self.input_names[1]: np.ascontiguousarray(tiles[:, c:])}
        else:
            feed = {self.input_names[0]: tiles}
        try:
            (raw,) = self._session.run([self.output_name], feed)
        except Exception as exc:  # onnxruntime's own exception classes
            raise ModelError(self.path, f"onnxruntime failed on a batch of shape {tiles.shape}: "
                                        f"{_ort_message(exc)}") from None
        return self._to_probability(np.asarray(raw), tiles.shape)[:n]

    def _to_probability(self, raw: np.ndarray, in_shape: tuple[int, ...]) -> np.ndarray:
        n, _, th, tw = in_shape
        ok_shapes = ((n, 1, th, tw), (n, 2, th, tw), (n, th, tw))
        if raw.shape not in ok_shapes:
            raise ModelError(self.path, f"output '{self.output_name}' has shape {raw.shape} for an input batch "
                                        f"of {in_shape}; expected {ok_shapes[0]}, {ok_shapes[1]} or {ok_shapes[2]}")
        raw = raw.astype(np.float64)
        if not np.isfinite(raw).all():
            raise ModelError(self.path, f"output '{self.output_name}' holds NaN or infinite values")
        two = raw.ndim == 4 and raw.shape[1] == 2
        if self.output == "logit":
            z = raw[:, 1] - raw[:, 0] if two else raw.reshape(n, th, tw)
            return 0.5 * (1.0 + np.tanh(0.5 * z))  # the sigmoid, stable for any z
        lo, hi = float(raw.min()), float(raw.max())
        if lo < -_PROBABILITY_SLACK or hi > 1.0 + _PROBABILITY_SLACK:
            raise ModelError(self.path, f"output '{self.output_name}' has values in [{lo:.3g}, {hi:.3g}], not "
                                        "a probability: if the network returns logits, set the metadata "
                                        "'landcheck.output' to 'logit'")
        return raw[:, 1] if two else raw.reshape(n, th, tw)


# --------------------------------------------------------------------------------------------
# chunk by chunk


@functools.lru_cache(maxsize=8)
def _cached_model(path: str, mtime_ns: int, size: int, threads: int, output_kind: str | None) -> ChangeModel:
    """One session per process, model file version and thread count."""
    return load_change_model(path, threads=threads, output_kind=output_kind)


def _model_for(model_path: str | os.PathLike[str], threads: int, output_kind: str | None) -> ChangeModel:
    p = Path(model_path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ModelError(p, "model file not found") from None
    return _cached_model(str(p), st.st_mtime_ns, st.st_size, int(threads), output_kind)


def predict_block(
    before: np.ndarray,
    after: np.ndarray,
    *,
    model_path: str | os.PathLike[str],
    bands: Sequence[str],
    tile: int | None = None,
    overlap: int | None = None,
    scale: float | None = None,
    stats: BandStats | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int = 1,
    output_kind: str | None = None,
) -> np.ndarray:
    """:meth:`ChangeModel.predict` with the model opened (once per process) from its path.

    Everything it takes pickles, so it can be a dask task on ``distributed`` workers.

    Parameters
    ----------
    before, after
        ``(len(bands), H, W)`` DN, NaN = no data.
    model_path
        The ``.onnx`` file, readable from the worker.
    bands, scale, stats
        As for :meth:`ChangeModel.predict`.
    tile, overlap, batch_size, threads, output_kind
        As for :func:`load_change_model`.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float32 change probability, NaN where either date has no data.
    """
    model = _model_for(model_path, threads, output_kind).with_options(tile=tile, overlap=overlap,
                                                                  batch_size=batch_size)
    return model.predict(before, after, bands=tuple(bands), scale=scale, stats=stats)


def _min_chunks(chunks: tuple[int, ...], depth: int) -> tuple[int, ...]:
    """Chunk sizes with every chunk thinner than ``depth`` merged into its neighbour."""
    out: list[int] = []
    for c in chunks:
        if out and (c < depth or out[-1] < depth):
            out[-1] += c
        else:
            out.append(c)
    return tuple(out)


def predict_array(
    before: da.Array,
    after: da.Array,
    *,
    model_path: str | os.PathLike[str],
    bands: Sequence[str],
    tile: int | None = None,
    overlap: int | None = None,
    scale: float | None = None,
    stats: BandStats | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int = 1,
    output_kind: str | None = None,
) -> da.Array:
    """:func:`predict_block` mapped over spatial chunks with ``map_overlap`` at the model's depth.

    The model is opened here once (in the calling process) to check it against ``bands`` and to
    learn its depth, so a wrong model fails before any chunk is computed. The tasks carry the
    path only.

    Parameters
    ----------
    before, after
        ``(len(bands), H, W)`` dask arrays with the same chunks, NaN = no data.
    model_path, bands, tile, overlap, scale, stats, batch_size, threads, output_kind
        As for :func:`predict_block`.

    Returns
    -------
    dask.array.Array
        ``(H, W)`` float32 change probability with the spatial chunks of ``before``; equal to
        :meth:`ChangeModel.predict` on the whole arrays (given the same ``stats``).
    """
    import dask.array as da

    if before.shape != after.shape or before.ndim != 3 or before.chunks != after.chunks:
        raise ValueError("before and after must be (bands, H, W) dask arrays with the same chunks")
    model = _model_for(model_path, threads, output_kind).with_options(tile=tile, overlap=overlap,
                                                                  batch_size=batch_size)
    model.band_index(bands)
    depth = model.depth
    if len(before.chunks[0]) != 1:
        before, after = before.rechunk({0: -1}), after.rechunk({0: -1})
    spatial = before.chunks[1:]
    work = tuple(_min_chunks(c, depth) for c in spatial)
    if work != spatial:
        before = before.rechunk((before.shape[0],) + work)
        after = after.rechunk((after.shape[0],) + work)
    depths = {0: 0, 1: depth if len(work[0]) > 1 else 0, 2: depth if len(work[1]) > 1 else 0}
    out = da.map_overlap(
        predict_block, before, after, depth=depths, boundary="none", trim=True, drop_axis=0,
        dtype=np.float32, meta=np.empty((0, 0), dtype=np.float32),
        model_path=str(model_path), bands=tuple(bands), tile=tile, overlap=model.overlap, scale=scale,
        stats=stats, batch_size=batch_size, threads=threads, output_kind=output_kind,
    )
    return out if out.chunks == spatial else out.rechunk(spatial)
