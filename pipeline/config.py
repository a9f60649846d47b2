"""The run configuration: YAML parsed once into frozen, typed objects.

Validation happens here, before any work starts: unknown keys, missing keys and
bad values are one-line :class:`~pipeline.errors.ConfigError` messages naming
the config file and the key. Relative paths resolve against the config file's
folder.
"""
from __future__ import annotations

import datetime
import glob
import math
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from detection.objects import MIN_SEGMENT_COVERAGE
from overlay.accounting import RULES, Thresholds as ThresholdConfig
from pipeline.errors import ConfigError, InputFileError

__all__ = [
    "BANDS",
    "RULES",
    "LayerConfig",
    "CountyLayerConfig",
    "PatchesConfig",
    "ImageryConfig",
    "DetectionConfig",
    "ThresholdConfig",
    "RunConfig",
    "FieldPackagesConfig",
    "KeyProjectsConfig",
    "SevereImpactConfig",
    "VERDICT_PROBLEM_ACTIONS",
    "load_config",
    "parse_config",
    "band_mapping",
    "DetectConfig",
    "load_detect_config",
    "parse_detect_config",
    "check_model",
    "REQUIRED_BANDS",
    "BAND_SHORTHANDS",
    "RESAMPLING_METHODS",
]

BANDS = ("blue", "green", "red", "nir")
#: the bands every image must have; ``nir`` is optional
REQUIRED_BANDS = ("blue", "green", "red")
#: ``imagery.bands`` / ``--bands`` shorthands: the order in which the file stores its bands
BAND_SHORTHANDS: dict[str, dict[str, int]] = {
    "rgb": {"red": 1, "green": 2, "blue": 3},
    "rgbn": {"red": 1, "green": 2, "blue": 3, "nir": 4},
    "bgr": {"blue": 1, "green": 2, "red": 3},
    "bgrn": {"blue": 1, "green": 2, "red": 3, "nir": 4},
}
DEFAULT_BANDS = {"blue": 1, "green": 2, "red": 3, "nir": 4}
#: ``imagery.resample`` / ``--resample`` values; ``none`` = tiles must be pixel-aligned
RESAMPLING_METHODS = ("none", "nearest", "bilinear", "cubic")
THRESHOLD_METHODS = ("auto", "otsu")


@dataclass(frozen=True)
class LayerConfig:
    """A vector layer: file path, optional layer name inside it, optional text encoding.

    ``encoding`` (a Python codec name, normalised, e.g. ``gbk``) overrides what GDAL would
    guess from a Shapefile's .cpg / LDID byte; keyword-only so subclasses keep their order.
    """

    path: Path
    layer: str | None = None
    encoding: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class CountyLayerConfig(LayerConfig):
    """The county layer with the fields that hold the 6-digit code and the name."""

    code_field: str = "XZQDM"
    name_field: str = "XZQMC"


@dataclass(frozen=True)
class PatchesConfig(LayerConfig):
    """Monitoring patches received from elsewhere, used instead of detection."""

    id_field: str | None = None


@dataclass(frozen=True)
class ImageryConfig:
    """Two dates of GeoTIFF tiles and their optional cloud masks.

    ``bands`` maps ``blue``, ``green``, ``red`` and optionally ``nir`` to 1-based band indexes
    (see :func:`band_mapping`). ``resample`` is ``none`` (tiles must be pixel-aligned) or the
    method (``nearest``, ``bilinear``, ``cubic``) used to read tiles whose grid is within a
    pixel of the first before tile's onto that grid.
    """

    before: tuple[Path, ...]
    after: tuple[Path, ...]
    bands: Mapping[str, int]
    before_cloud_masks: tuple[Path, ...] = ()
    after_cloud_masks: tuple[Path, ...] = ()
    before_date: str | None = None
    after_date: str | None = None
    resample: str = "none"


@dataclass(frozen=True)
class DetectionConfig:
    """Change-detection settings.

    ``method`` is a name of :data:`detection.registry.METHOD_NAMES` (default ``learned``, or
    the one the model's suffix names); ``model`` a LightGBM model file with its ``.json`` card
    for ``learned`` (None = the shipped default) or an ONNX change network (``.onnx``) for
    ``onnx`` (:func:`check_model`); ``threshold`` ``auto`` (the method's per-image rule), ``otsu`` or a
    number; ``min_threshold`` the floor of an automatic threshold (None = the method's
    default: 0.08 for ``spectral``, the model's lower threshold for ``learned``);
    ``correct_shift`` measures and corrects a misregistration of the after date;
    ``min_segment_coverage`` drops a patch covering less than this share of the after-date
    segments it touches (a piece of a whole field that changed; 0 = no test,
    :mod:`detection.objects`). ``chunk_px`` None takes the method's default
    (:func:`default_chunk_px`).
    """

    min_area_m2: float | str = 400.0
    threshold: str | float = "auto"
    min_threshold: float | None = None
    opening_radius_px: int = 1
    closing_radius_px: int = 1
    chunk_px: int | None = None
    max_grid_pixels: int = 10_000_000_000
    method: str = "learned"
    model: Path | None = None
    correct_shift: bool = True
    min_segment_coverage: float = MIN_SEGMENT_COVERAGE

    def __post_init__(self) -> None:
        if self.chunk_px is None:
            object.__setattr__(self, "chunk_px", default_chunk_px(self.method))


#: chunk side of the learned method: its features take about 650 MB per 1,024 px chunk and
#: thread; at 512 px a 36 Mpx pair ran as fast (102 s against 105 s) with 1.2 GB at peak
#: instead of 2.9-3.1 GB
LEARNED_CHUNK_PX = 512
#: chunk side of the other methods (the spectral score: 512 px was 5-20 % slower)
CHUNK_PX = 1024


def default_chunk_px(method: str) -> int:
    """The chunk side ``detection.chunk_px`` takes when the config does not set it."""
    return LEARNED_CHUNK_PX if method == "learned" else CHUNK_PX


def with_model(detection: DetectionConfig, model: Path | None, method: str) -> DetectionConfig:
    """``detection`` with another model and method; a chunk side that was the old method's
    default becomes the new method's."""
    chunk = None if detection.chunk_px == default_chunk_px(detection.method) else detection.chunk_px
    return replace(detection, model=model, method=method, chunk_px=chunk)


@dataclass(frozen=True)
class FieldPackagesConfig:
    """The per-county field-verification packages (``field_packages:``).

    ``encoding``: ``utf-8`` (default) or ``gbk``, the Shapefile attributes' encoding (the .cpg
    says which). ``chips``: before / after image chips of every patch in the package and on its
    sheet (default true; only where the run has imagery).
    """

    encoding: str = "utf-8"
    chips: bool = True


@dataclass(frozen=True)
class RunConfig:
    """Everything one enforcement-check run needs."""

    source: Path
    year: int
    counties: CountyLayerConfig
    farmland: LayerConfig
    basic_farmland: LayerConfig
    approved: LayerConfig
    output: Path
    imagery: ImageryConfig | None = None
    patches: PatchesConfig | None = None
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    thresholds: ThresholdConfig = field(default_factory=ThresholdConfig)
    raw: Mapping[str, Any] = field(default_factory=dict)
    verdicts: VerdictsConfig | None = None
    field_packages: FieldPackagesConfig = field(default_factory=FieldPackagesConfig)
    key_projects: KeyProjectsConfig | None = None
    severe_impact: tuple[SevereImpactConfig, ...] = ()
    previous_run: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable view (paths as strings) for the manifest."""
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a key given twice in one mapping (the last would win)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.setdefault(key, key_node.start_mark.line + 1)
        except TypeError:  # an unhashable key; the constructor below reports it
            continue
        if first != key_node.start_mark.line + 1:
            raise _DuplicateKey(key, first, key_node.start_mark.line + 1)
    return loader.construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first: int, again: int) -> None:
        super().__init__(key, first, again)
        self.key, self.first, self.again = key, first, again


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_config(path: str | Path, output: str | Path | None = None) -> RunConfig:
    """Read and validate a YAML run config; ``output`` overrides its ``output`` key."""
    path = Path(path)
    return parse_config(_read_yaml(path), path, output=output)


class _Section:
    """Reads one mapping of the config, tracking which keys were used."""

    def __init__(self, data: Any, name: str, source: Path) -> None:
        self.name = name
        self.source = source
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.fail(f"'{name or 'top level'}' must be a mapping")
        self.data = dict(data)

    def fail(self, message: str) -> None:
        raise ConfigError(f"{self.source}: {message}")

    def key(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def check_keys(self, allowed: tuple[str, ...]) -> None:
        unknown = sorted(set(self.data) - set(allowed))
        if unknown:
            self.fail(
                f"unknown key '{self.key(str(unknown[0]))}' (allowed: {', '.join(allowed)})"
            )

    def get(self, key: str, default: Any = ..., kind: type | tuple[type, ...] | None = None) -> Any:
        if key not in self.data or self.data[key] is None:
            if default is ...:
                self.fail(f"missing required key '{self.key(key)}'")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if kind is not None and (not isinstance(value, kind)
                                 or (isinstance(value, bool) and bool not in kinds)):
            self.fail(f"'{self.key(key)}' must be {_kind_name(kind)}, got {_describe(value)}")
        return value

    def number(self, key: str, default: Any, *, low: float, high: float = math.inf,
               low_open: bool = False) -> float:
        value = self.get(key, default, (int, float))
        ok = (value > low if low_open else value >= low) and value <= high
        if not ok or not math.isfinite(value):
            lo = "(" if low_open else "["
            self.fail(f"'{self.key(key)}' must be in {lo}{low}, {high}], got {_describe(value)}")
        return float(value)

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.get(key, default, str)
        if value not in allowed:
            self.fail(f"'{self.key(key)}' must be one of {', '.join(allowed)}, got {_describe(value)}")
        return value

    def path(self, key: str, default: Any = ...) -> Path | None:
        value = self.get(key, default, str)
        if value is None:
            return None
        return _resolve(value, self.source)

    def sub(self, key: str, required: bool = True) -> "_Section | None":
        if key not in self.data or self.data[key] is None:
            if required:
                self.fail(f"missing required key '{self.key(key)}'")
            return None
        return _Section(self.data[key], self.key(key), self.source)


_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               dict: "a mapping", list: "a list", datetime.date: "a date (YYYY-MM-DD)"}


def _kind_name(kind: Any) -> str:
    """Plain words for an expected type or tuple of types ("a mapping or a list")."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if set(kinds) == {int, float}:
        return "a number"
    return " or ".join(_KIND_NAMES.get(k, getattr(k, "__name__", str(k))) for k in kinds)


def _describe(value: Any) -> str:
    """A YAML value as a user wrote it, never a Python repr ("a mapping", "the date 2025-10-12")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"the date {value.isoformat()}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bytes):
        return "binary data"
    return str(value)


def _resolve(value: str, source: Path) -> Path:
    """``value`` relative to the config's folder, as an absolute path with ``..`` folded: the
    paths a run hands to dask workers must name the same files from whatever folder a worker
    was started in (a cluster's workers do not share the run's working folder)."""
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = source.parent / p
    return Path(os.path.abspath(p))


def _expand_glob(section: _Section, key: str, required: bool) -> tuple[Path, ...]:
    pattern = section.get(key, ... if required else None, str)
    if pattern is None:
        return ()
    full = _resolve(pattern, section.source)
    matches = tuple(sorted(Path(m) for m in glob.glob(str(full))))
    if not matches:
        section.fail(f"'{section.key(key)}' matches no file: {full}")
    return matches


def _layer(section: _Section, cls: type = LayerConfig, extra: tuple[str, ...] = ()) -> Any:
    import codecs

    section.check_keys(("path", "layer", "encoding") + extra)
    path = section.path("path")
    if not path.exists():
        section.fail(f"'{section.key('path')}' file not found: {path}")
    if path.is_dir() and path.suffix.lower() not in (".gdb",):  # FileGDB is the one folder format
        section.fail(f"'{section.key('path')}' {path} is a folder, not a layer file: "
                     "give the .shp or .gpkg file itself")
    encoding = section.get("encoding", None, str)
    if encoding is not None:
        key = section.key("encoding")
        try:
            # GDAL (iconv) knows Python's canonical names once '_' becomes '-' (euc_kr -> euc-kr)
            encoding = codecs.lookup(encoding.strip()).name.replace("_", "-")
        except LookupError:
            section.fail(f"'{key}' is not a text encoding Python knows: {encoding!r} "
                         "(e.g. gbk, gb18030, utf-8)")
        try:
            ascii_compatible = "XZQMC 0123".encode(encoding) == b"XZQMC 0123"
        except (LookupError, UnicodeError):
            ascii_compatible = False
        if not ascii_compatible:
            section.fail(f"'{key}' must be an ASCII-compatible text encoding such as gbk, "
                         f"gb18030 or utf-8, got {section.data['encoding']!r}")
        if path.suffix.lower() == ".gpkg" and encoding != "utf-8":
            section.fail(f"'{key}' is for Shapefiles: a GeoPackage is always UTF-8 ({path})")
    kwargs: dict[str, Any] = {"path": path, "layer": section.get("layer", None, str),
                              "encoding": encoding}
    for key in extra:
        if key in section.data:
            kwargs[key] = section.get(key, None, str)
    return cls(**kwargs)


def _dates(section: _Section) -> dict[str, str | None]:
    """``before_date`` / ``after_date`` as ISO ``YYYY-MM-DD`` text, checked to be real dates in order.

    YAML reads an unquoted ``2025-10-12`` as a date; a quoted one is text: both are accepted.
    """
    dates: dict[str, str | None] = {}
    for key in ("before_date", "after_date"):
        value = section.get(key, None, (str, datetime.date))
        if isinstance(value, datetime.datetime):
            value = value.date()
        if isinstance(value, str):
            try:
                value = datetime.date.fromisoformat(value.strip())
            except ValueError:
                section.fail(f"'{section.key(key)}' must be a real date written YYYY-MM-DD, "
                             f"got {_describe(value)}")
            if len(str(section.data[key]).strip()) != 10:
                section.fail(f"'{section.key(key)}' must be written YYYY-MM-DD, "
                             f"got {_describe(section.data[key])}")
        dates[key] = value.isoformat() if value is not None else None
    if dates["before_date"] and dates["after_date"] and dates["before_date"] >= dates["after_date"]:
        section.fail(f"'{section.key('before_date')}' ({dates['before_date']}) must be earlier than "
                     f"'{section.key('after_date')}' ({dates['after_date']})")
    return dates


_BANDS_HELP = ("rgb, rgbn, bgr, bgrn, a list of band indexes in the order blue, green, red[, nir] "
               "such as [3, 2, 1] or [1, 2, 3, 4], or a mapping {blue: 1, green: 2, red: 3, nir: 4} "
               "(nir optional)")


def band_mapping(value: Any, key: str = "imagery.bands") -> dict[str, int]:
    """Band names -> 1-based band indexes from any accepted way of writing ``imagery.bands``.

    Accepted: a shorthand naming the order the file stores its bands (``rgb`` = red 1, green 2,
    blue 3; ``rgbn`` adds nir 4; ``bgr``; ``bgrn``); a list of 3 or 4 indexes for blue, green,
    red[, nir] (``[1, 2, 3, 4]`` as before, or the text ``"3,2,1"`` as ``--bands`` gives it);
    a mapping with ``blue``, ``green``, ``red`` and optionally ``nir``.

    Parameters
    ----------
    value
        The YAML value or the command-line text.
    key
        Where the value came from, named in messages (``imagery.bands``, ``--bands``).

    Returns
    -------
    dict
        ``{"blue": i, "green": j, "red": k[, "nir": n]}``.

    Raises
    ------
    ValueError
        One line naming ``key``.
    """
    listed = False
    if isinstance(value, str):
        text = value.strip().lower()
        if text in BAND_SHORTHANDS:
            return dict(BAND_SHORTHANDS[text])
        if not re.fullmatch(r"\s*\d+\s*(,\s*\d+\s*)*", text):
            raise ValueError(f"'{key}' must be {_BANDS_HELP}, got {_describe(value)}")
        value = [int(v) for v in text.split(",")]
    if isinstance(value, (list, tuple)):
        if len(value) not in (3, 4):
            raise ValueError(f"'{key}' must list 3 or 4 band indexes (blue, green, red[, nir]), "
                             f"got {len(value)}")
        value, listed = dict(zip(BANDS, value)), True
    if not isinstance(value, Mapping):
        raise ValueError(f"'{key}' must be {_BANDS_HELP}, got {_describe(value)}")
    unknown = sorted(str(k) for k in value if k not in BANDS)
    if unknown:
        raise ValueError(f"unknown key '{key}.{unknown[0]}' (allowed: {', '.join(BANDS)})")
    bands: dict[str, int] = {}
    for name in BANDS:
        index = value.get(name)
        if index is None:
            if name in REQUIRED_BANDS:
                raise ValueError(f"'{key}' has no {name} band (blue, green and red are required, "
                                 "nir is optional)")
            continue
        where = f"'{key}' ({name})" if listed else f"'{key}.{name}'"
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError(f"{where} must be a 1-based band index, got {_describe(index)}")
        if index < 1:
            raise ValueError(f"{where} must be a 1-based band index, got {index}")
        bands[name] = int(index)
    if len(set(bands.values())) != len(bands):
        raise ValueError(f"'{key}' uses the same band twice: {bands}")
    return bands


def _bands(section: _Section) -> dict[str, int]:
    """``imagery.bands`` of a section (default blue 1, green 2, red 3, nir 4)."""
    raw = section.get("bands", DEFAULT_BANDS, (str, dict, list))
    try:
        return band_mapping(raw, section.key("bands"))
    except ValueError as exc:
        section.fail(str(exc))
        raise  # unreachable: fail raises


def _imagery(section: _Section) -> ImageryConfig:
    section.check_keys(("before", "after", "bands", "resample", "before_cloud_masks",
                        "after_cloud_masks", "before_date", "after_date"))
    before = _expand_glob(section, "before", True)
    after = _expand_glob(section, "after", True)
    before_masks = _expand_glob(section, "before_cloud_masks", False)
    after_masks = _expand_glob(section, "after_cloud_masks", False)
    bands = _bands(section)
    resample = section.choice("resample", "none", RESAMPLING_METHODS)
    dates = _dates(section)
    return ImageryConfig(before=before, after=after, bands=bands,
                         before_cloud_masks=before_masks, after_cloud_masks=after_masks,
                         before_date=dates["before_date"], after_date=dates["after_date"],
                         resample=resample)


_TILE_KEYS = ("before", "after", "bands", "before_cloud_masks", "after_cloud_masks")


def _dates_only_imagery(section: _Section) -> ImageryConfig:
    """With received ``patches``, ``imagery`` may only carry the dates written to QSX / HSX.

    Tiles given as well would be silently ignored (the received patches are used, not
    detection), so they are refused.
    """
    tile_keys = _TILE_KEYS + ("resample",)
    section.check_keys(tile_keys + ("before_date", "after_date"))
    tiles = [k for k in tile_keys if section.data.get(k) is not None]
    if tiles:
        section.fail(f"both 'patches' and imagery tiles ('{section.key(tiles[0])}') are given: the "
                     "received patches would be used and the imagery ignored; remove one (with "
                     "'patches', 'imagery' may hold only before_date / after_date)")
    dates = _dates(section)
    return ImageryConfig(before=(), after=(), bands=dict(DEFAULT_BANDS),
                         before_date=dates["before_date"], after_date=dates["after_date"])


def _detection(section: _Section | None) -> DetectionConfig:
    if section is None:
        return DetectionConfig()
    section.check_keys(("method", "model", "min_area_m2", "threshold", "min_threshold",
                        "opening_radius_px", "closing_radius_px", "chunk_px", "max_grid_pixels",
                        "correct_shift", "min_segment_coverage"))
    from detection.registry import METHOD_NAMES

    d = DetectionConfig()
    given = section.get("method", None, str)
    if given is not None and given not in METHOD_NAMES:
        section.fail(f"'{section.key('method')}' must be one of {', '.join(METHOD_NAMES)}, "
                     f"got {given!r}")
    model = section.path("model", None)
    try:
        method = check_model(model, given, f"'{section.key('model')}'")
    except ConfigError as exc:
        section.fail(str(exc))
    correct_shift = section.get("correct_shift", d.correct_shift, bool)
    threshold = section.get("threshold", d.threshold, (str, int, float))
    if isinstance(threshold, str) and threshold not in THRESHOLD_METHODS:
        section.fail(f"'{section.key('threshold')}' must be a number or one of "
                     f"{', '.join(THRESHOLD_METHODS)}, got {threshold!r}")
    if not isinstance(threshold, str):
        threshold = section.number("threshold", d.threshold, low=0.0, low_open=True)
    chunk = section.get("chunk_px", None, int)
    if chunk is not None and chunk < 64:
        section.fail(f"'{section.key('chunk_px')}' must be at least 64, got {chunk}")
    radii = {}
    for key in ("opening_radius_px", "closing_radius_px"):
        value = section.get(key, getattr(d, key), int)
        if not 0 <= value <= 10:
            section.fail(f"'{section.key(key)}' must be in [0, 10], got {value}")
        radii[key] = value
    min_threshold = section.get("min_threshold", None, (int, float))
    if min_threshold is not None:
        min_threshold = section.number("min_threshold", None, low=0.0)
    # "auto": one small house but at least 16 pixels (detection.compose.resolve_min_area)
    min_area_m2: float | str = "auto"
    if section.data.get("min_area_m2") != "auto":
        if isinstance(section.data.get("min_area_m2"), str):
            section.fail(f"'{section.key('min_area_m2')}' must be a number (m²) or auto, "
                         f"got {_describe(section.data['min_area_m2'])}")
        min_area_m2 = section.number("min_area_m2", d.min_area_m2, low=0.0)
    return DetectionConfig(
        min_area_m2=min_area_m2,
        threshold=threshold,
        min_threshold=min_threshold,
        chunk_px=None if chunk is None else int(chunk),
        max_grid_pixels=int(section.number("max_grid_pixels", d.max_grid_pixels, low=1.0)),
        method=method,
        model=model,
        correct_shift=bool(correct_shift),
        min_segment_coverage=float(section.number("min_segment_coverage", d.min_segment_coverage,
                                                  low=0.0, high=1.0)),
        **radii,
    )


def check_model(model: Path | None, method: str | None, what: str = "'detection.model'") -> str:
    """The detection method for ``model`` and ``method`` (None = not given), the model checked.

    A ``.txt`` model is a LightGBM model run by ``learned`` and needs its ``.json`` card beside
    it; an ``.onnx`` model is a change network run by ``onnx`` and is opened here (onnxruntime
    installed, inputs, output and metadata usable) so that a bad network stops a run before any
    pixel is read. ``method: onnx`` needs a model.

    Raises
    ------
    ConfigError
        The model and the method do not go together, or the model file is missing (exit 2).
    InputFileError
        The ONNX network cannot be used (one line naming the file, exit 3).
    """
    from detection.registry import DEFAULT_METHOD, MODEL_SUFFIXES, method_for_model

    if model is None:
        if method == "onnx":
            raise ConfigError(f"{what} is missing: method 'onnx' runs your own network, give its "
                              ".onnx file")
        return method or DEFAULT_METHOD
    by_suffix = method_for_model(str(model))
    if by_suffix is None:
        raise ConfigError(f"{what} must be a LightGBM model (.txt with its .json card) or an ONNX "
                          f"network (.onnx), got {model}")
    if method is not None and method != by_suffix:
        kinds = {v: k for k, v in MODEL_SUFFIXES.items()}
        if method not in kinds:
            raise ConfigError(f"{what} is only used with method 'learned' (.txt) or 'onnx' (.onnx), "
                              f"not {method!r}")
        raise ConfigError(f"{what} {model.name} is run by method '{by_suffix}', not {method!r}: "
                          f"method {method!r} takes a {kinds[method]} model")
    if model.is_dir() or not model.is_file():
        raise ConfigError(f"{what} file not found: {model}")
    if by_suffix == "learned" and not model.with_suffix(".json").is_file():
        raise ConfigError(f"{what} has no model card beside it: {model.with_suffix('.json')}")
    if by_suffix == "onnx":
        from detection.onnx_model import ModelError, load_change_model

        try:
            load_change_model(model, threads=1)
        except ModelError as exc:
            raise InputFileError(exc.path, exc.problem) from None
    return by_suffix


def _thresholds(section: _Section | None) -> ThresholdConfig:
    if section is None:
        return ThresholdConfig()
    section.check_keys(("interview", "accountability", "interview_rule", "accountability_rule"))
    d = ThresholdConfig()
    interview = section.number("interview", d.interview, low=0.0, high=1.0, low_open=True)
    accountability = section.number("accountability", d.accountability, low=0.0, high=1.0,
                                    low_open=True)
    if accountability < interview:
        section.fail(f"'{section.key('accountability')}' ({accountability}) is below "
                     f"'{section.key('interview')}' ({interview})")
    return ThresholdConfig(
        interview=interview,
        accountability=accountability,
        interview_rule=section.choice("interview_rule", d.interview_rule, RULES),
        accountability_rule=section.choice("accountability_rule", d.accountability_rule, RULES),
    )


# --------------------------------------------------------------------------- returned verdicts
VERDICT_FILE_SUFFIXES = (".zip", ".gpkg", ".shp", ".xlsx")
VERDICT_PROBLEM_ACTIONS = ("report", "refuse")
"""``verdicts.on_problem``: ignore and report the rows with problems, or refuse the run."""
"""Returned verdict files: field packages as sent back (zipped Shapefile), GeoPackages,
Shapefiles, Excel sheets."""


@dataclass(frozen=True)
class VerdictsConfig:
    """Field verdicts returned by the field teams (``verdicts:``; read by ``pipeline.verdicts``).

    ``files``: every returned file, globs expanded, in the order listed; ``layer`` names the
    GeoPackage layer, the Excel sheet or the Shapefile inside a zip, ``encoding`` a Shapefile's
    text encoding (overrides its .cpg). ``effects``: verdict code -> effect
    (:data:`overlay.contracts.EFFECTS`) for every verdict, the contract's defaults where the
    config says nothing. ``max_reshape`` (share of the piece's area) and ``max_shift_m``
    (centroid distance, m): how far a returned geometry may differ from its piece.
    ``on_problem``: ``report`` (default: a run ignores the rows with problems, warns about each
    and records them; their patches stay unverified) or ``refuse`` (a run stops at the first, exit 3).
    """

    files: tuple[LayerConfig, ...]
    effects: Mapping[str, str]
    max_reshape: float
    max_shift_m: float
    on_problem: str = "report"


def _verdicts(section: _Section | None) -> VerdictsConfig | None:
    """``verdicts:``: ``files`` (paths, globs or mappings ``{path, layer, encoding}``),
    optional ``effects`` (PDLX value or verdict code -> effect), ``max_reshape``, ``max_shift_m``."""
    if section is None:
        return None
    from overlay.contracts import EFFECTS, VERDICT_BY_CODE, VERDICT_BY_LABEL, VERDICTS_ZH
    from overlay.verdicts import DEFAULT_MAX_RESHAPE, DEFAULT_MAX_SHIFT_M, resolve_effects

    section.check_keys(("files", "effects", "max_reshape", "max_shift_m", "on_problem"))
    listed = section.get("files", ..., (list, str))
    listed = [listed] if isinstance(listed, str) else listed
    if not listed:
        section.fail(f"'{section.key('files')}' lists no file")
    files: list[LayerConfig] = []
    seen: dict[tuple[Path, str | None], str] = {}
    for i, item in enumerate(listed):
        name = f"{section.key('files')}[{i}]"
        if isinstance(item, str):
            entry: dict[str, Any] = {"path": item}
        elif isinstance(item, Mapping):
            entry = dict(item)
        else:
            section.fail(f"'{name}' must be a file path or a mapping with 'path', got {_describe(item)}")
        sub = _Section(entry, name, section.source)
        sub.check_keys(("path", "layer", "encoding"))
        full = _resolve(sub.get("path", ..., str), section.source)
        matches = [full]
        if re.search(r"[*?\[]", str(full)):
            matches = sorted(Path(m) for m in glob.glob(str(full)))
            if not matches:
                sub.fail(f"'{sub.key('path')}' matches no file: {full}")
        for match in matches:
            one = _layer(_Section({**entry, "path": os.path.relpath(match, section.source.parent)}, name,
                                  section.source))
            suffix = match.suffix.lower()
            if suffix not in VERDICT_FILE_SUFFIXES:
                sub.fail(f"'{sub.key('path')}' {match} is not a verdict file: give a returned field "
                         "package (.zip), a GeoPackage (.gpkg), a Shapefile (.shp) or an Excel "
                         "sheet (.xlsx)")
            if one.encoding is not None and suffix == ".xlsx":
                sub.fail(f"'{sub.key('encoding')}' is for Shapefiles: an Excel sheet needs none ({match})")
            key = (match.resolve(), one.layer)  # one file may be listed once per layer / sheet
            if key in seen:
                sub.fail(f"'{sub.key('path')}' {match} is listed twice ({seen[key]} and {name})")
            seen[key] = name
            files.append(one)
    effects: dict[str, str] = {}
    given = section.sub("effects", required=False)
    for label, effect in (given.data.items() if given is not None else ()):
        verdict = VERDICT_BY_LABEL.get(str(label).strip()) or VERDICT_BY_CODE.get(str(label).strip())
        if verdict is None:
            given.fail(f"'{given.key(str(label))}' is not a verdict: the keys are PDLX values "
                       f"({', '.join(VERDICTS_ZH)}) or their codes")
        if verdict.code in effects:
            given.fail(f"'{given.name}' gives the effect of {verdict.label_zh} twice")
        if effect not in EFFECTS:
            given.fail(f"'{given.key(str(label))}' must be one of {', '.join(EFFECTS)}, "
                       f"got {_describe(effect)}")
        effects[verdict.code] = effect
    return VerdictsConfig(
        files=tuple(files),
        effects=resolve_effects(effects),
        max_reshape=section.number("max_reshape", DEFAULT_MAX_RESHAPE, low=0.0, high=1.0),
        max_shift_m=section.number("max_shift_m", DEFAULT_MAX_SHIFT_M, low=0.0),
        on_problem=section.choice("on_problem", "report", VERDICT_PROBLEM_ACTIONS),
    )


# --------------------------------------------------------------------------- decisive figures
@dataclass(frozen=True)
class KeyProjectsConfig:
    """Key projects whose illegal area is deducted for ``after_deduction_ratio`` (``key_projects:``).

    ``jcbh``: monitoring numbers of key-project patches; ``layer``: a polygon layer of key projects
    (a piece more than half inside it is a key-project piece). Either or both.
    """

    jcbh: tuple[str, ...] = ()
    layer: LayerConfig | None = None


@dataclass(frozen=True)
class SevereImpactConfig:
    """One county put at accountability whatever its ratio (``severe_impact:``), with the reason."""

    county_code: str
    reason: str


_COUNTY_CODE = re.compile(r"^\d{6}$")


def _code_value(section: _Section, key: str, value: Any, what: str) -> str:
    """A JCBH or county code written as text or as a whole number (YAML reads 220202 as a number)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        section.fail(f"'{key}' must be {what} (text), got {_describe(value)}")
    text = str(value).strip()
    if not text:
        section.fail(f"'{key}' is empty")
    return text


def _key_projects(section: _Section | None) -> KeyProjectsConfig | None:
    """``key_projects:``: ``jcbh`` (a list of monitoring numbers) and / or ``layer`` (a polygon
    layer: a path or ``{path, layer, encoding}``)."""
    if section is None:
        return None
    section.check_keys(("jcbh", "layer"))
    listed = section.get("jcbh", [], list)
    jcbh: list[str] = []
    for i, value in enumerate(listed):
        code = _code_value(section, f"{section.key('jcbh')}[{i}]", value, "a monitoring number (JCBH)")
        if code in jcbh:
            section.fail(f"'{section.key('jcbh')}' lists {code} twice")
        jcbh.append(code)
    layer = None
    given = section.get("layer", None, (str, dict))
    if given is not None:
        data = {"path": given} if isinstance(given, str) else given
        layer = _layer(_Section(data, section.key("layer"), section.source))
    if not jcbh and layer is None:
        section.fail(f"'{section.name}' needs 'jcbh' (a list of monitoring numbers) or 'layer' "
                     "(a polygon layer of key projects)")
    return KeyProjectsConfig(jcbh=tuple(jcbh), layer=layer)


def _severe_impact(top: _Section) -> tuple[SevereImpactConfig, ...]:
    """``severe_impact:``: a list of ``{county_code, reason}``."""
    listed = top.get("severe_impact", [], list)
    out: list[SevereImpactConfig] = []
    for i, item in enumerate(listed):
        name = f"severe_impact[{i}]"
        if not isinstance(item, Mapping):
            top.fail(f"'{name}' must be a mapping with 'county_code' and 'reason', got {_describe(item)}")
        sub = _Section(item, name, top.source)
        sub.check_keys(("county_code", "reason"))
        code = _code_value(sub, sub.key("county_code"), sub.get("county_code"), "a 6-digit county code")
        if not _COUNTY_CODE.match(code):
            sub.fail(f"'{sub.key('county_code')}' must be a 6-digit county code, got {_describe(code)}")
        reason = sub.get("reason", ..., str).strip()
        if not reason:
            sub.fail(f"'{sub.key('reason')}' is empty: say what the severe impact is")
        if any(e.county_code == code for e in out):
            sub.fail(f"'{sub.key('county_code')}' {code} is listed twice")
        out.append(SevereImpactConfig(county_code=code, reason=reason))
    return tuple(out)


def _previous_run(top: _Section) -> Path | None:
    """``previous_run:``: last year's output folder (checked to be a landcheck output when read)."""
    folder = top.path("previous_run", None)
    if folder is None:
        return None
    if not folder.exists():
        top.fail(f"'previous_run' folder not found: {folder}")
    if not folder.is_dir():
        top.fail(f"'previous_run' {folder} is not a folder: give last year's output folder")
    return folder


def _field_packages(section: _Section | None) -> FieldPackagesConfig:
    """``field_packages:``: ``encoding`` (utf-8 | gbk, any case), ``chips`` (true | false)."""
    if section is None:
        return FieldPackagesConfig()
    from overlay.contracts import PACKAGE_ENCODING_BY_NAME

    section.check_keys(("encoding", "chips"))
    d = FieldPackagesConfig()
    encoding = section.get("encoding", d.encoding, str).strip().lower().replace("_", "-")
    if encoding == "utf8":
        encoding = "utf-8"
    if encoding not in PACKAGE_ENCODING_BY_NAME:
        section.fail(f"'{section.key('encoding')}' must be one of {', '.join(PACKAGE_ENCODING_BY_NAME)}, "
                     f"got {_describe(section.data['encoding'])}")
    return FieldPackagesConfig(encoding=encoding, chips=bool(section.get("chips", d.chips, bool)))


TOP_KEYS = ("year", "imagery", "layers", "patches", "detection", "thresholds", "output", "verdicts",
            "field_packages", "key_projects", "severe_impact", "previous_run")
LAYER_KEYS = ("counties", "farmland", "basic_farmland", "approved")


def parse_config(data: Any, source: str | Path, output: str | Path | None = None) -> RunConfig:
    """Validate an already-parsed config mapping; ``source`` names the file for errors."""
    source = Path(source)
    top = _Section(data, "", source)
    top.check_keys(TOP_KEYS)
    year = top.get("year", ..., int)
    if not 1990 <= year <= 2100:
        top.fail(f"'year' must be a calendar year, got {year}")
    layers = top.sub("layers")
    layers.check_keys(LAYER_KEYS)
    counties = _layer(layers.sub("counties"), CountyLayerConfig, ("code_field", "name_field"))
    farmland = _layer(layers.sub("farmland"))
    basic = _layer(layers.sub("basic_farmland"))
    approved = _layer(layers.sub("approved"))
    patches_section = top.sub("patches", required=False)
    patches = _layer(patches_section, PatchesConfig, ("id_field",)) if patches_section else None
    imagery_section = top.sub("imagery", required=False)
    if imagery_section is not None and patches is not None:
        imagery = _dates_only_imagery(imagery_section)
    else:
        imagery = _imagery(imagery_section) if imagery_section else None
    if imagery is None and patches is None:
        top.fail("either 'imagery' (to detect patches) or 'patches' (received patches) is required")
    if output is not None:
        out = Path(output)
    else:
        out = top.path("output")
    return RunConfig(
        source=source,
        year=int(year),
        counties=counties,
        farmland=farmland,
        basic_farmland=basic,
        approved=approved,
        output=out,
        imagery=imagery,
        patches=patches,
        detection=_detection(top.sub("detection", required=False)),
        thresholds=_thresholds(top.sub("thresholds", required=False)),
        verdicts=_verdicts(top.sub("verdicts", required=False)),
        field_packages=_field_packages(top.sub("field_packages", required=False)),
        key_projects=_key_projects(top.sub("key_projects", required=False)),
        severe_impact=_severe_impact(top),
        previous_run=_previous_run(top),
        raw=dict(data),
    )


# --------------------------------------------------------------------------- detect-only configs
@dataclass(frozen=True)
class DetectConfig:
    """What ``landcheck detect`` reads from a config: imagery and detection settings only.

    Attributes
    ----------
    source
        The config file.
    imagery
        The imagery tiles (None for a settings-only config given with ``--before/--after``).
    detection
        Detection settings (defaults where the config has no ``detection`` section).
    min_area_given
        True when the config sets ``detection.min_area_m2`` itself (the pair command has its
        own default otherwise).
    bands, resample
        ``imagery.bands`` / ``imagery.resample`` of a settings-only config, None when not given.
    referenced
        Other files the config names (layers, received patches): not read by ``detect``, but
        inputs all the same, so the output folder may not touch them.
    """

    source: Path
    imagery: ImageryConfig | None
    detection: DetectionConfig
    min_area_given: bool = False
    bands: Mapping[str, int] | None = None
    resample: str | None = None
    referenced: tuple[Path, ...] = ()


def _read_yaml(path: Path) -> Any:
    """The parsed YAML of a config file, every problem a one-line ConfigError (as load_config)."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a config file")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except _DuplicateKey as dup:
        raise ConfigError(f"{path}: key '{dup.key}' is given twice (lines {dup.first} and "
                          f"{dup.again}); remove one") from None
    except yaml.constructor.ConstructorError as exc:
        tag = str(getattr(exc, "problem", "") or "")
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        if "python/" in tag or "!!python" in tag or "tag:yaml.org,2002:python" in tag:
            raise ConfigError(f"{path}: Python object tags (!!python/...) are refused for safety"
                              f"{where}; use plain YAML values") from None
        raise ConfigError(f"{path}: unsupported YAML tag{where}: {' '.join(tag.split())}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc})") from None


def _referenced_paths(top: _Section) -> tuple[Path, ...]:
    """Paths of ``layers.*.path`` and ``patches.path`` as written (resolved, not checked)."""
    found: list[Path] = []
    sections = []
    layers = top.data.get("layers")
    if isinstance(layers, Mapping):
        sections += [v for v in layers.values() if isinstance(v, Mapping)]
    if isinstance(top.data.get("patches"), Mapping):
        sections.append(top.data["patches"])
    for sec in sections:
        value = sec.get("path")
        if isinstance(value, str) and value.strip():
            found.append(_resolve(value, top.source))
    return tuple(found)


def parse_detect_config(data: Any, source: str | Path, *, imagery_required: bool = True) -> DetectConfig:
    """Validate a config for ``landcheck detect``: only ``imagery`` and ``detection`` matter.

    A run config is accepted as it is (``year``, ``layers``, ``thresholds``, ``output``,
    ``patches`` may be there and are ignored), and so is a config holding nothing but
    ``imagery`` and ``detection``.

    Parameters
    ----------
    data
        The parsed YAML.
    source
        The config file, named in errors; relative paths resolve against its folder.
    imagery_required
        True for ``landcheck detect CONFIG`` (the tiles come from the config); False for the
        settings given with ``--before/--after --config CFG``: imagery tiles are then refused
        (the images would be ambiguous), ``imagery.bands`` / ``imagery.resample`` are kept as
        defaults for ``--bands`` / ``--resample``.
    """
    source = Path(source)
    top = _Section(data, "", source)
    top.check_keys(TOP_KEYS)
    detection_data = top.data.get("detection")
    min_area_given = isinstance(detection_data, Mapping) and detection_data.get("min_area_m2") is not None
    detection = _detection(top.sub("detection", required=False))
    section = top.sub("imagery", required=False)
    imagery, bands, resample = None, None, None
    if imagery_required:
        if section is None or section.data.get("before") is None or section.data.get("after") is None:
            top.fail("has no imagery tiles ('imagery.before' / 'imagery.after') to detect from")
        imagery = _imagery(section)
    elif section is not None:
        section.check_keys(("before", "after", "bands", "resample", "before_cloud_masks",
                            "after_cloud_masks", "before_date", "after_date"))
        tiles = [k for k in _TILE_KEYS if k != "bands" and section.data.get(k) is not None]
        if tiles:
            section.fail(f"'{section.key(tiles[0])}' is given, but with --before and --after the "
                         "config supplies detection settings only; remove the imagery tiles from "
                         "it, or run 'landcheck detect CONFIG' without --before/--after")
        if section.data.get("bands") is not None:
            bands = _bands(section)
        if section.data.get("resample") is not None:
            resample = section.choice("resample", "none", RESAMPLING_METHODS)
        _dates(section)  # checked, not used
    return DetectConfig(source=source, imagery=imagery, detection=detection,
                        min_area_given=bool(min_area_given), bands=bands, resample=resample,
                        referenced=_referenced_paths(top))


def load_detect_config(path: str | Path, *, imagery_required: bool = True) -> DetectConfig:
    """Read a config for ``landcheck detect`` (see :func:`parse_detect_config`)."""
    path = Path(path)
    return parse_detect_config(_read_yaml(path), path, imagery_required=imagery_required)
