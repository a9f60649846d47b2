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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from overlay.accounting import RULES, Thresholds as ThresholdConfig
from pipeline.errors import ConfigError

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
    "load_config",
    "parse_config",
]

BANDS = ("blue", "green", "red", "nir")
THRESHOLD_METHODS = ("otsu",)


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
    """Two dates of GeoTIFF tiles and their optional cloud masks."""

    before: tuple[Path, ...]
    after: tuple[Path, ...]
    bands: Mapping[str, int]
    before_cloud_masks: tuple[Path, ...] = ()
    after_cloud_masks: tuple[Path, ...] = ()
    before_date: str | None = None
    after_date: str | None = None


@dataclass(frozen=True)
class DetectionConfig:
    """Change-detection settings."""

    min_area_m2: float = 400.0
    threshold: str | float = "otsu"
    min_threshold: float = 0.08
    opening_radius_px: int = 1
    closing_radius_px: int = 1
    chunk_px: int = 1024
    max_grid_pixels: int = 10_000_000_000


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
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a config file")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
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
    return parse_config(data, path, output=output)


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
    """``value`` relative to the config's folder, ``..`` folded (``data/x``, not ``configs/../data/x``)."""
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = source.parent / p
    return Path(os.path.normpath(p))


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


def _imagery(section: _Section) -> ImageryConfig:
    section.check_keys(("before", "after", "bands", "before_cloud_masks", "after_cloud_masks",
                        "before_date", "after_date"))
    before = _expand_glob(section, "before", True)
    after = _expand_glob(section, "after", True)
    before_masks = _expand_glob(section, "before_cloud_masks", False)
    after_masks = _expand_glob(section, "after_cloud_masks", False)
    raw_bands = section.get("bands", {"blue": 1, "green": 2, "red": 3, "nir": 4}, (dict, list))
    if isinstance(raw_bands, list):
        if len(raw_bands) != 4:
            section.fail(f"'{section.key('bands')}' must list 4 band indexes (blue, green, red, nir)")
        raw_bands = dict(zip(BANDS, raw_bands))
    bands_section = _Section(raw_bands, section.key("bands"), section.source)
    bands_section.check_keys(BANDS)
    bands = {}
    for name in BANDS:
        value = bands_section.get(name, ..., int)
        if value < 1:
            bands_section.fail(f"'{bands_section.key(name)}' must be a 1-based band index, got {value}")
        bands[name] = int(value)
    if len(set(bands.values())) != 4:
        section.fail(f"'{section.key('bands')}' uses the same band twice: {bands}")
    dates = _dates(section)
    return ImageryConfig(before=before, after=after, bands=bands,
                         before_cloud_masks=before_masks, after_cloud_masks=after_masks,
                         before_date=dates["before_date"], after_date=dates["after_date"])


_TILE_KEYS = ("before", "after", "bands", "before_cloud_masks", "after_cloud_masks")


def _dates_only_imagery(section: _Section) -> ImageryConfig:
    """With received ``patches``, ``imagery`` may only carry the dates written to QSX / HSX.

    Tiles given as well would be silently ignored (the received patches are used, not
    detection), so they are refused.
    """
    section.check_keys(_TILE_KEYS + ("before_date", "after_date"))
    tiles = [k for k in _TILE_KEYS if section.data.get(k) is not None]
    if tiles:
        section.fail(f"both 'patches' and imagery tiles ('{section.key(tiles[0])}') are given: the "
                     "received patches would be used and the imagery ignored; remove one (with "
                     "'patches', 'imagery' may hold only before_date / after_date)")
    dates = _dates(section)
    return ImageryConfig(before=(), after=(), bands=dict(zip(BANDS, (1, 2, 3, 4))),
                         before_date=dates["before_date"], after_date=dates["after_date"])


def _detection(section: _Section | None) -> DetectionConfig:
    if section is None:
        return DetectionConfig()
    section.check_keys(("min_area_m2", "threshold", "min_threshold", "opening_radius_px",
                        "closing_radius_px", "chunk_px", "max_grid_pixels"))
    d = DetectionConfig()
    threshold = section.get("threshold", d.threshold, (str, int, float))
    if isinstance(threshold, str) and threshold not in THRESHOLD_METHODS:
        section.fail(f"'{section.key('threshold')}' must be a number or one of "
                     f"{', '.join(THRESHOLD_METHODS)}, got {threshold!r}")
    if not isinstance(threshold, str):
        threshold = section.number("threshold", d.threshold, low=0.0, low_open=True)
    chunk = section.get("chunk_px", d.chunk_px, int)
    if chunk < 64:
        section.fail(f"'{section.key('chunk_px')}' must be at least 64, got {chunk}")
    radii = {}
    for key in ("opening_radius_px", "closing_radius_px"):
        value = section.get(key, getattr(d, key), int)
        if not 0 <= value <= 10:
            section.fail(f"'{section.key(key)}' must be in [0, 10], got {value}")
        radii[key] = value
    return DetectionConfig(
        min_area_m2=section.number("min_area_m2", d.min_area_m2, low=0.0),
        threshold=threshold,
        min_threshold=section.number("min_threshold", d.min_threshold, low=0.0),
        chunk_px=int(chunk),
        max_grid_pixels=int(section.number("max_grid_pixels", d.max_grid_pixels, low=1.0)),
        **radii,
    )


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


TOP_KEYS = ("year", "imagery", "layers", "patches", "detection", "thresholds", "output")
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
        raw=dict(data),
    )
