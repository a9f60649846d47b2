"""Reading the field verdicts that come back (``verdicts:`` in the config), checking and applying them.

The returned files are the field packages as sent back (``<county code>.zip``
with the Shapefile filled in), GeoPackages, Shapefiles and Excel sheets
(``.xlsx``) with at least the fields JCBH and PDLX (optional: WFMJ, HCSM, HCR,
HCRQ, ZGZT, ZP, XZQDM, geometry). A column is found by its field name in any
case or its Chinese alias (``overlay.contracts.SHAPEFILE_FIELDS``: 监测图斑编号,
判定类型, ...); other columns are ignored. Row numbers in messages are 1-based:
the feature's position in a layer (QGIS's and ArcGIS's attribute-table order,
FID + 1 in a Shapefile), the row number Excel shows in a sheet (its header row is
the first of the first :data:`HEADER_SEARCH_ROWS` rows that holds a JCBH column;
blank rows are skipped).

Returned zips (and ``.xlsx`` workbooks, which are zips too) are untrusted. Before
anything is read, an archive is refused when a member

- has a path that leaves its folder (``../``, zip-slip) or is absolute (``/x``,
  ``C:\\x``, ``\\\\server\\x``),
- is a symbolic link (Unix mode ``S_IFLNK`` in its external attributes),
- is encrypted or is named twice,

or when the archive is implausible for a field package (a zip bomb): more than
:data:`MAX_ZIP_MEMBERS` members, more than :data:`MAX_ZIP_UNPACKED_BYTES` unpacked
in all, or, above :data:`ZIP_RATIO_FLOOR_BYTES` unpacked, more than
:data:`MAX_ZIP_RATIO` times smaller packed than unpacked (a field package packs
2-20 times; a Shapefile's blank-padded text fields alone reach about 80 times).
Only the members of the Shapefile (.shp .shx .dbf .prj .cpg) are unpacked, under
fixed names, into a :class:`tempfile.TemporaryDirectory` that is removed
afterwards; unpacking stops at the first byte beyond what a member declared.
The Shapefile's text is decoded as its .cpg (or language-driver byte) says,
unless the file's ``encoding`` is set in the config, and mis-decoded text is
refused as for the input layers (``pipeline.layers``).

Checking and applying are :mod:`overlay.verdicts` (pure); this module reads the
files and re-computes the run's pieces (``pipeline.run.compute_pieces``).
"""
from __future__ import annotations

import re
import stat
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS

from overlay.contracts import FIELD_BY_NAME, VERDICT_COLUMNS, VERDICT_FILE_FIELDS, VERDICT_FILE_REQUIRED
from overlay.crs import CGCS2000_GEOGRAPHIC, zone_epsg_for_geometries
from overlay.verdicts import Problem, apply_verdicts, check_verdicts, verification_progress
from pipeline.config import LayerConfig, RunConfig, VerdictsConfig
from pipeline.errors import BadVectorError, InputFileError

__all__ = [
    "MAX_ZIP_MEMBERS", "MAX_ZIP_UNPACKED_BYTES", "MAX_SHAPEFILE_BYTES", "MAX_ZIP_RATIO", "ZIP_RATIO_FLOOR_BYTES",
    "HEADER_SEARCH_ROWS", "VerdictError", "VerdictCheck", "check_archive", "read_verdict_file",
    "read_verdict_files", "check_verdict_files", "check_config_verdicts", "verdicts_for_run",
    "RunVerdicts", "run_verdicts",
    "package_county", "shown_name",
]

MAX_ZIP_MEMBERS = 100_000
"""Most members a returned zip may hold: a package has 7 plus two image chips per patch, and
field photos may come along (a county with 20,000 patches stays under it)."""
MAX_ZIP_UNPACKED_BYTES = 16 * 1024 ** 3
"""Most bytes a returned zip may declare, all members together (16 GiB: chips and photos are
never unpacked, only counted)."""
MAX_SHAPEFILE_BYTES = 512 * 1024 ** 2
"""Most bytes the Shapefile members that are unpacked may hold together (512 MiB)."""
MAX_ZIP_RATIO = 100
"""Largest unpacked / packed size of a returned zip, all members together ..."""
ZIP_RATIO_FLOOR_BYTES = 1024 * 1024
"""... checked when it unpacks to more than this (1 MiB): a small archive cannot bomb."""
HEADER_SEARCH_ROWS = 20
"""An Excel sheet's header is the first of its first 20 rows holding a JCBH column (title rows
above it are allowed)."""

_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_COUNTY_PREFIX = re.compile(r"^(\d{6})(?!\d)")
_CHUNK = 1 << 16


class VerdictError(InputFileError):
    """The returned verdicts have problems; the message is the first, with a hint to list them all."""


@dataclass
class VerdictCheck:
    """What ``landcheck verdicts check`` found: the checked table (rows without problems),
    every problem in file and row order, and the numbers of rows and files read."""

    table: pd.DataFrame
    problems: list[Problem]
    n_rows: int
    n_files: int


# --------------------------------------------------------------------------- archives

def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        return f"member {name!r} has an absolute path; refused"
    if ".." in PurePosixPath(posix).parts:
        return f"member {name!r} would unpack outside its folder (zip-slip); refused"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"member {name!r} is a symbolic link; refused"
    if info.flag_bits & 0x1:
        return f"member {name!r} is encrypted; refused"
    return None


def check_archive(zf: zipfile.ZipFile, shown: object) -> list[zipfile.ZipInfo]:
    """The archive's members after the safety checks (module docstring); BadVectorError otherwise.

    Nothing is unpacked here: the checks read the central directory only.
    """
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise BadVectorError(shown, f"holds {len(infos)} members (limit {MAX_ZIP_MEMBERS}): not a "
                                    "field package; refused")
    seen: set[str] = set()
    for info in infos:
        problem = _member_problem(info)
        if problem:
            raise BadVectorError(shown, problem)
        key = info.filename.replace("\\", "/").rstrip("/").casefold()
        if key in seen:
            raise BadVectorError(shown, f"member {info.filename!r} is named twice; refused")
        seen.add(key)
    unpacked = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if unpacked > MAX_ZIP_UNPACKED_BYTES:
        raise BadVectorError(shown, f"would unpack to {unpacked / 2**20:.0f} MiB (limit "
                                    f"{MAX_ZIP_UNPACKED_BYTES // 2**20} MiB): refused as a zip bomb")
    if unpacked > ZIP_RATIO_FLOOR_BYTES and unpacked > MAX_ZIP_RATIO * max(packed, 1):
        raise BadVectorError(shown, f"unpacks {unpacked / max(packed, 1):.0f} times its packed size "
                                    f"(limit {MAX_ZIP_RATIO}): refused as a zip bomb")
    return infos


def _unpack(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, shown: object,
            budget: list[int]) -> None:
    """Copy one member to ``target``, stopping at the first byte beyond what it declared."""
    written = 0
    with zf.open(info) as src, open(target, "xb") as dst:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            budget[0] -= len(chunk)
            if written > info.file_size or budget[0] < 0:
                raise BadVectorError(shown, f"member {info.filename!r} unpacks to more than it "
                                            "declares: refused as a zip bomb")
            dst.write(chunk)


def package_county(path: Path, inner: str | None = None) -> str | None:
    """The county a field package is named for: ``220202.zip`` (or ``220202_returned.zip``), else
    the Shapefile inside (``220202.shp``); None when neither name starts with a 6-digit code."""
    for name in (path.stem, PurePosixPath(inner.replace("\\", "/")).stem if inner else ""):
        match = _COUNTY_PREFIX.match(name)
        if match:
            return match.group(1)
    return None


def _is_macos_resource(name: str) -> bool:
    """An AppleDouble file a Mac's zipper adds (``__MACOSX/...``, ``._220202.shp``): not data."""
    posix = PurePosixPath(name.replace("\\", "/"))
    return "__MACOSX" in posix.parts or posix.name.startswith("._")


def _shapefile_in_zip(infos: list[zipfile.ZipInfo], layer: str | None, shown: object) -> zipfile.ZipInfo:
    shps = [i for i in infos if not i.is_dir() and i.filename.lower().endswith(".shp")
            and not _is_macos_resource(i.filename)]
    if layer is not None:
        wanted = [i for i in shps if layer in (i.filename, PurePosixPath(i.filename.replace("\\", "/")).name,
                                               PurePosixPath(i.filename.replace("\\", "/")).stem)]
        if not wanted:
            names = ", ".join(i.filename for i in shps) or "none"
            raise BadVectorError(shown, f"holds no Shapefile '{layer}' (Shapefiles: {names})")
        shps = wanted[:1]
    if not shps:
        raise BadVectorError(shown, "holds no Shapefile (.shp): not a field package")
    if len(shps) > 1:
        raise BadVectorError(shown, f"holds {len(shps)} Shapefiles ({', '.join(i.filename for i in shps)}): "
                                    "set 'layer' to the one with the verdicts")
    return shps[0]


def _read_package(cfg: LayerConfig, shown: str) -> tuple[pd.DataFrame, str | None]:
    """The rows of a returned package zip and the county it is named for."""
    try:
        zf = zipfile.ZipFile(cfg.path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise BadVectorError(shown, f"is not a zip archive ({exc})") from None
    with zf:
        infos = check_archive(zf, shown)
        shp = _shapefile_in_zip(infos, cfg.layer, shown)
        stem = shp.filename[:-4]
        parts = {}
        for info in infos:
            name = info.filename
            if not info.is_dir() and name[:-4] == stem and name[-4:].lower() in _SHAPEFILE_PARTS:
                parts[name[-4:].lower()] = info
        for needed in (".shx", ".dbf"):
            if needed not in parts:
                raise BadVectorError(shown, f"the Shapefile {shp.filename} has no {needed} beside it")
        budget = [MAX_SHAPEFILE_BYTES]
        with tempfile.TemporaryDirectory(prefix="landcheck-verdicts-") as work:
            for suffix, info in parts.items():
                try:
                    _unpack(zf, info, Path(work) / f"package{suffix}", shown, budget)
                except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                    raise BadVectorError(shown, f"member {info.filename!r} is damaged ({exc}); "
                                                "zip the package again") from None
                except NotImplementedError:
                    raise BadVectorError(shown, f"member {info.filename!r} is packed with a "
                                                "compression method landcheck cannot read; zip the "
                                                "package again with ordinary (deflate) compression") from None
            frame = _read_vector(Path(work) / "package.shp", None, cfg.encoding, shown)
    return frame, package_county(cfg.path, shp.filename)


# --------------------------------------------------------------------------- columns

def _field_for(column: str) -> str | None:
    text = str(column).strip()
    upper = text.upper()
    for name in VERDICT_FILE_FIELDS:
        if upper == name or text == FIELD_BY_NAME[name].alias_zh:
            return name
    return None


def _map_columns(columns: Iterable[Any], shown: str) -> dict[str, Any]:
    """Field name -> the file's column holding it; BadVectorError for a missing required field
    or two columns for one field."""
    columns = list(columns)
    found: dict[str, Any] = {}
    for column in columns:
        name = _field_for(column) if column is not None else None
        if name is None:
            continue
        if name in found:
            raise BadVectorError(shown, f"has two columns for {name} ({str(found[name])!r} and "
                                        f"{str(column)!r}); keep one")
        found[name] = column
    for name in VERDICT_FILE_REQUIRED:
        if name not in found:
            listed = ", ".join(str(c) for c in columns if c is not None) or "none"
            raise BadVectorError(shown, f"has no {name} column ({FIELD_BY_NAME[name].alias_zh}; "
                                        f"columns: {listed})")
    return found


# --------------------------------------------------------------------------- vector files

def _read_vector(path: Path, layer: str | None, encoding: str | None, shown: str) -> pd.DataFrame:
    """A Shapefile or GeoPackage layer as raw rows (``row``, fields, geometry in EPSG:4490)."""
    from pipeline.layers import _check_text, _first_line  # the input layers' decoding rules

    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:
        raise BadVectorError(shown, f"cannot open the verdict file: {_first_line(exc)}") from None
    if layer is not None and layer not in layers:
        raise BadVectorError(shown, f"no layer '{layer}' (layers: {', '.join(layers)})")
    if layer is None and len(layers) > 1:
        raise BadVectorError(shown, f"has {len(layers)} layers, set 'layer' to one of: {', '.join(layers)}")
    name = layer or layers[0]
    try:
        info = pyogrio.read_info(path, layer=name, encoding=encoding)
        fields = [str(f) for f in info["fields"]]
        _check_text(pd.Series(fields, dtype=object), "field name", Path(shown), encoding)
        mapping = _map_columns(fields, shown)
        frame = pyogrio.read_dataframe(path, layer=name, columns=list(mapping.values()),
                                       encoding=encoding)
    except UnicodeDecodeError as exc:
        how = f"valid {encoding}" if encoding else "valid UTF-8"
        raise BadVectorError(shown, f"text is not {how} ({exc.reason} at byte "
                                    f"0x{exc.object[exc.start]:02x}); set `encoding` for this file in "
                                    "'verdicts.files' to the file's real encoding (gbk for most "
                                    "Chinese Shapefiles)") from None
    except BadVectorError:
        raise
    except Exception as exc:
        raise BadVectorError(shown, f"cannot read the verdict file: {_first_line(exc)}") from None
    try:
        for field, column in mapping.items():
            _check_text(frame[column], f"field '{column}'", Path(shown), encoding)
    except BadVectorError as exc:  # the input layers' wording, pointed at this file's entry
        raise BadVectorError(shown, exc.problem.replace("for this layer in the config",
                                                        "for this file in 'verdicts.files'")) from None
    out = pd.DataFrame({field: frame[column].to_numpy(dtype=object) for field, column in mapping.items()})
    out.insert(0, "row", np.arange(1, len(frame) + 1))
    geometry = [None] * len(frame)
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.notna().any():
        if frame.crs is None:
            raise BadVectorError(shown, "has geometry but no CRS (.prj): it cannot be compared with the "
                                        "patches; add the .prj or drop the geometry")
        geoms = frame.geometry.to_crs(CRS.from_epsg(CGCS2000_GEOGRAPHIC))
        geometry = [None if g is None or g.is_empty else g for g in geoms.values]
    out["geometry"] = pd.Series(geometry, dtype=object)
    return out


# --------------------------------------------------------------------------- Excel

def _read_excel(cfg: LayerConfig, shown: str) -> pd.DataFrame:
    import openpyxl

    try:
        with zipfile.ZipFile(cfg.path) as zf:
            check_archive(zf, shown)
    except zipfile.BadZipFile:
        raise BadVectorError(shown, "is not an Excel .xlsx workbook (save it as .xlsx)") from None
    try:
        with warnings.catch_warnings():  # openpyxl warns of Excel features it ignores (validation, ...)
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(cfg.path, read_only=True, data_only=True)
    except Exception as exc:
        raise BadVectorError(shown, f"cannot open the workbook: {type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    try:
        sheets = book.sheetnames
        if cfg.layer is not None and cfg.layer not in sheets:
            raise BadVectorError(shown, f"no sheet '{cfg.layer}' (sheets: {', '.join(sheets)})")
        if cfg.layer is None and len(sheets) > 1:
            raise BadVectorError(shown, f"has {len(sheets)} sheets, set 'layer' to one of: "
                                        f"{', '.join(sheets)}")
        sheet = book[cfg.layer or sheets[0]]
        header: tuple | None = None
        header_row = 0
        records: list[dict[str, Any]] = []
        mapping: dict[str, int] = {}
        for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
            if header is None:
                if any(c is not None and _field_for(c) == "JCBH" for c in values):
                    header, header_row = values, number
                    columns = [None if c is None or (isinstance(c, str) and not c.strip()) else c
                               for c in values]
                    mapping = {f: columns.index(c) for f, c in _map_columns(columns, shown).items()}
                elif number >= HEADER_SEARCH_ROWS:
                    break
                continue
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            records.append({"row": number, **{f: (values[i] if i < len(values) else None)
                                              for f, i in mapping.items()}})
        if header is None:
            raise BadVectorError(shown, f"sheet '{sheet.title}' has no JCBH column "
                                        f"({FIELD_BY_NAME['JCBH'].alias_zh}) in its first "
                                        f"{HEADER_SEARCH_ROWS} rows")
    finally:
        book.close()
    out = pd.DataFrame(records, columns=["row", *mapping])
    out["geometry"] = pd.Series([None] * len(out), dtype=object)
    return out


# --------------------------------------------------------------------------- files

def shown_name(cfg: LayerConfig) -> str:
    """How messages name a returned file: its path, with the layer or sheet when the config sets one
    (``returned.xlsx (sheet 昌邑区)``: one workbook may be listed once per sheet)."""
    if cfg.layer is None:
        return str(cfg.path)
    kind = "sheet" if cfg.path.suffix.lower() == ".xlsx" else "layer"
    return f"{cfg.path} ({kind} {cfg.layer})"


def read_verdict_file(cfg: LayerConfig) -> pd.DataFrame:
    """The raw rows of one returned file: ``source_file`` (:func:`shown_name`), ``row``,
    ``package_county``, the fields found, ``geometry`` (EPSG:4490 or None). BadVectorError (one
    line) when the file is unusable."""
    shown = shown_name(cfg)
    suffix = cfg.path.suffix.lower()
    county = None
    if suffix == ".zip":
        rows, county = _read_package(cfg, shown)
    elif suffix == ".xlsx":
        rows = _read_excel(cfg, shown)
    else:
        rows = _read_vector(cfg.path, cfg.layer, cfg.encoding, shown)
        if suffix == ".shp":
            county = package_county(cfg.path)
    rows.insert(0, "source_file", shown)
    rows.insert(2, "package_county", county)
    return rows


def read_verdict_files(verdicts: VerdictsConfig) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Every returned file's raw rows (file order) and the problems of files that cannot be read."""
    frames, problems = [], []
    for cfg in verdicts.files:
        try:
            frames.append(read_verdict_file(cfg))
        except InputFileError as exc:
            problems.append(Problem(shown_name(cfg), None, None, exc.problem))
    columns = ["source_file", "row", "package_county", *VERDICT_FILE_FIELDS, "geometry"]
    raw = pd.concat([f.reindex(columns=columns) for f in frames], ignore_index=True) if frames \
        else pd.DataFrame({c: [] for c in columns})
    geometry = gpd.GeoSeries(raw["geometry"].to_numpy(dtype=object), crs=CGCS2000_GEOGRAPHIC)
    return gpd.GeoDataFrame(raw.drop(columns="geometry"), geometry=geometry.values,
                            crs=CGCS2000_GEOGRAPHIC), problems


def check_verdict_files(verdicts: VerdictsConfig, pieces: gpd.GeoDataFrame,
                        counties: gpd.GeoDataFrame | None = None) -> VerdictCheck:
    """Read and check every returned file against ``pieces`` (the run's pieces)."""
    raw, file_problems = read_verdict_files(verdicts)
    zones = None
    if counties is not None and len(counties):
        zones = dict(zip(counties["county_code"].astype(str), zone_epsg_for_geometries(counties)))
    table, row_problems = check_verdicts(raw, pieces, effects=verdicts.effects, zones=zones,
                                         max_reshape=verdicts.max_reshape,
                                         max_shift_m=verdicts.max_shift_m)
    order = {shown_name(cfg): i for i, cfg in enumerate(verdicts.files)}
    problems = sorted(file_problems + row_problems,
                      key=lambda p: (order.get(p.file, len(order)), -1 if p.row is None else 0))
    return VerdictCheck(table=table, problems=problems, n_rows=len(raw), n_files=len(verdicts.files))


def check_config_verdicts(config: RunConfig, *, compute: Callable | None = None) -> VerdictCheck:
    """``landcheck verdicts check``: the run's pieces re-computed from the config's inputs (nothing
    written), then every returned file read and checked against them."""
    if config.verdicts is None:
        raise ValueError("the config has no 'verdicts' section")
    if compute is None:
        from pipeline.run import compute_pieces as compute
    pieces, counties = compute(config)
    return check_verdict_files(config.verdicts, pieces, counties)


@dataclass
class RunVerdicts:
    """The verdicts as a run uses them: the pieces with their verified figures
    (:data:`~overlay.contracts.VERIFIED_COLUMNS`), the per-county progress, every problem found
    (``verdicts.on_problem: report``: ignored rows) and the JCBHs left unverified because a
    problem row named them."""

    verified: gpd.GeoDataFrame
    progress: pd.DataFrame
    problems: list[Problem]
    ignored_jcbh: tuple[str, ...] = ()


def _refuse(config: RunConfig, problems: list[Problem]) -> VerdictError:
    first, n = problems[0], len(problems)
    detail = first.line()[len(first.file) + 2:]
    more = f"{n} problems" if n > 1 else "1 problem"
    return VerdictError(first.file, f"{detail} ({more} in the returned verdicts; run "
                                    f"'landcheck verdicts check {config.source}' to list them all)")


def run_verdicts(config: RunConfig, pieces: gpd.GeoDataFrame, counties: gpd.GeoDataFrame, *,
                 on_problem: str | None = None) -> RunVerdicts:
    """For ``landcheck run``: read, check and apply the returned verdicts.

    Without ``verdicts`` in the config every piece is unverified. With problems and
    ``on_problem`` (default ``verdicts.on_problem``) ``refuse``: :class:`VerdictError` (exit 3)
    with the first problem and a hint to list them all. With ``report``: every row naming a JCBH
    that a problem row names is left out, so all pieces of that JCBH stay unverified (the
    overlay's figure stands, the county is incomplete: nothing is guessed, not even which of two
    conflicting rows is right); a file that cannot be read gives no verdicts at all.
    """
    if config.verdicts is None:
        verified = apply_verdicts(pieces, pd.DataFrame({c: [] for c in VERDICT_COLUMNS}))
        return RunVerdicts(verified, verification_progress(verified, counties), [])
    action = on_problem or config.verdicts.on_problem
    result = check_verdict_files(config.verdicts, pieces, counties)
    table, ignored = result.table, ()
    if result.problems:
        if action == "refuse":
            raise _refuse(config, result.problems)
        named = {p.jcbh for p in result.problems if p.jcbh}
        known = set(pieces["patch_id"].astype(str))
        ignored = tuple(sorted(named & known))
        table = table[~table["patch_id"].astype(str).isin(named)].reset_index(drop=True)
    verified = apply_verdicts(pieces, table, config.verdicts.effects)
    return RunVerdicts(verified, verification_progress(verified, counties), list(result.problems), ignored)


def verdicts_for_run(config: RunConfig, pieces: gpd.GeoDataFrame,
                     counties: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The strict form of :func:`run_verdicts`: the verified pieces and the per-county progress,
    :class:`VerdictError` (exit 3) at any problem whatever ``verdicts.on_problem`` says."""
    result = run_verdicts(config, pieces, counties, on_problem="refuse")
    return result.verified, result.progress
