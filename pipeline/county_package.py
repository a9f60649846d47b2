"""Each county's field package, written by the county's own job where it runs (issue 8).

:func:`package_job` describes, once per run, how packages are written (folder, encoding, chips
or why there are none); :meth:`PackageJob.for_county` narrows the imagery to the tiles one
county's chips can touch, so a job carries paths and windows, never pixels.
:func:`write_county_package` is called by the job right after its pieces are computed: it
renders the package with :func:`reports.field_package.write_field_packages`, exactly as the
whole-run call would for that county, into the run's work folder (temporary name, then rename),
and returns its name, size and sha256 (kept in the county's checkpoint, listed in the
manifest without re-reading). :func:`deliver_packages` links the finished counties' packages
into the staging folder's ``field_verification/``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, TYPE_CHECKING

import geopandas as gpd
from pyproj import CRS

from pipeline.chips_io import ChipImagery, ImageryChips, no_chips_reason

if TYPE_CHECKING:  # annotations only: pipeline.imagery imports dask.array (0.6 s)
    from pipeline.imagery import Imagery

__all__ = ["PackageJob", "PackageRecord", "package_job", "write_county_package", "package_present",
           "deliver_packages", "check_package_texts", "PACKAGES_DIR"]

PACKAGES_DIR = "packages"
"""Sub-folder of the run's work folder the jobs write packages to (``<this>/field_verification/``)."""


@dataclass(frozen=True)
class PackageRecord:
    """A written package: its file name in ``field_verification/``, size and sha256."""

    name: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class PackageJob:
    """How a county job writes its package: where, in which encoding, with which chips."""

    folder: str  # the work folder's packages folder (absolute: workers write there)
    output: str  # the run's output folder, named in messages
    encoding: str
    chips: ChipImagery | None
    no_chips_reason: tuple[str, str] | None
    config_source: str

    def for_county(self, bounds: tuple[float, float, float, float] | None) -> "PackageJob":
        """This job with the imagery narrowed to the tiles near ``bounds`` (grid CRS)."""
        if self.chips is None or bounds is None:
            return self
        return replace(self, chips=self.chips.around(bounds))


def package_job(config: Any, imagery: Imagery | None, work: Path) -> PackageJob:
    """The run's :class:`PackageJob` (``field_packages:`` settings; chips unless the run has no
    imagery or the config turns them off, as :func:`pipeline.chips_io.write_run_field_packages`)."""
    settings = config.field_packages
    reason = no_chips_reason(config, imagery)
    chips = ChipImagery.of(imagery) if reason is None else None
    folder = (Path(work) / PACKAGES_DIR).resolve()
    return PackageJob(str(folder), str(config.output), settings.encoding, chips, reason, str(config.source))


def write_county_package(job: PackageJob, pieces: gpd.GeoDataFrame, year: int) -> PackageRecord | None:
    """Write one county's package from its pieces (zone CRS, as the job made them); None when
    the county has no pieces (no package, as for the whole run). A full disk, read-only or
    forbidden folder is the run's :class:`~pipeline.errors.OutputError` (exit 3), not the county's."""
    from pipeline.diskio import writing
    from pipeline.errors import ConfigError
    from reports.field_package import FIELD_DIR, PackageEncodingError, write_field_packages

    if not len(pieces):
        return None
    codes = pieces["county_code"].astype(str).unique()
    if len(codes) != 1:
        raise ValueError(f"a county package needs one county's pieces, got {', '.join(codes)}")
    # the pieces as the whole-run writer receives them (pipeline.overlay_stage.combine_results):
    # sorted by JCBH (a county job's pieces come so: one piece per patch, ids increasing)
    ids = pieces["patch_id"]
    frame = pieces if ids.is_monotonic_increasing and ids.is_unique \
        else pieces.sort_values(["county_code", "patch_id", "source_id"], kind="stable")
    frame = frame.reset_index(drop=True)  # a new frame: the year goes in it, not in the job's pieces
    frame.insert(frame.columns.get_loc("county_name") + 1, "year", year)
    crs = CRS.from_user_input(frame.crs)
    chip_source = ImageryChips(job.chips) if job.chips is not None else None
    name = f"{codes[0]}.zip"
    try:
        with writing(Path(job.folder) / FIELD_DIR / name, Path(job.output) / FIELD_DIR / name):
            written = write_field_packages(frame, job.folder, county_crs={codes[0]: crs}, encoding=job.encoding,
                                           chip_source=chip_source, no_chips_reason=job.no_chips_reason)
    except PackageEncodingError as exc:
        raise ConfigError(f"{job.config_source}: {exc}; set 'field_packages.encoding: utf-8' "
                          "or correct the name in the input") from None
    path = written[codes[0]]
    return PackageRecord(path.name, path.stat().st_size, _sha256(path))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_present(record: PackageRecord | None, work: Path) -> bool:
    """True when a checkpointed county's package is still in the work folder, at its size."""
    from reports.field_package import FIELD_DIR

    if record is None:
        return True
    path = Path(work) / PACKAGES_DIR / FIELD_DIR / record.name
    try:
        return path.stat().st_size == record.bytes
    except OSError:
        return False


def deliver_packages(records: Iterable[tuple[str, PackageRecord | None]], work: Path,
                     staging: Path) -> dict[str, tuple[Path, PackageRecord]]:
    """Link (or copy) each finished county's package into ``staging/field_verification/``;
    ``{county_code: (path, record)}`` in code order. Packages of no finished county stay behind
    in the work folder, which is never published."""
    from reports.field_package import FIELD_DIR

    source = Path(work) / PACKAGES_DIR / FIELD_DIR
    target = Path(staging) / FIELD_DIR
    target.mkdir(exist_ok=True)  # there even when no county has patches, as before
    out: dict[str, tuple[Path, PackageRecord]] = {}
    for code, record in sorted(records, key=lambda item: item[0]):
        if record is None:
            continue
        dst = target / record.name
        dst.unlink(missing_ok=True)
        try:
            os.link(source / record.name, dst)  # the work copy stays for --resume until publish
        except OSError:
            shutil.copyfile(source / record.name, dst)
        out[code] = (dst, record)
    return out


def check_package_texts(config: Any, counties: gpd.GeoDataFrame | None = None,
                        patches: gpd.GeoDataFrame | None = None) -> None:
    """Refuse, before any county job, a county name, patch id or date the packages' encoding
    cannot write (:class:`~pipeline.errors.ConfigError`, exit 2, naming the key)."""
    from pipeline.errors import ConfigError
    from reports.field_package import PackageEncodingError, check_text

    encoding = config.field_packages.encoding
    official = config.patches is not None and config.patches.id_field is not None
    try:
        if counties is not None:
            for code, name in zip(counties["county_code"].astype(str), counties["county_name"]):
                check_text({"XZQDM": code, "XZQMC": name if isinstance(name, str) else None}, encoding,
                           f"field package {code}")
        if patches is not None:
            dates = {"QSX": patches["before_date"].iloc[0] if len(patches) else None,
                     "HSX": patches["after_date"].iloc[0] if len(patches) else None}
            check_text({k: str(v) for k, v in dates.items() if isinstance(v, str)}, encoding, "field packages")
            for sid in patches["source_id"].astype(str).unique():
                props = {"JCBH": sid, "YSBH": sid} if official else {"YSBH": sid}
                check_text(props, encoding, "field packages")
    except PackageEncodingError as exc:
        raise ConfigError(f"{config.source}: {exc}; set 'field_packages.encoding: utf-8' "
                          "or correct the name in the input") from None
