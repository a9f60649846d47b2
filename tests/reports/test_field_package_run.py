"""The run's side of the field packages: the ``field_packages:`` config key, chips from the imagery."""
from __future__ import annotations

import hashlib
import pickle
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
import shapely
import yaml
from affine import Affine

from pipeline.chips_io import CHIPS_OFF, write_run_field_packages
from pipeline.config import FieldPackagesConfig, ImageryConfig, parse_config
from pipeline.errors import ConfigError
from pipeline.imagery import open_imagery
from reports.field_package import NO_IMAGERY, sheet_name
from tests.reports.pdfparse import n_images

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "configs" / "sample_truth.yaml"


def _config(**field_packages):
    data = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    if field_packages:
        data["field_packages"] = field_packages
    return parse_config(data, SAMPLE)


def test_config_key_defaults_and_values() -> None:
    assert _config().field_packages == FieldPackagesConfig(encoding="utf-8", chips=True)
    assert _config(encoding="GBK").field_packages.encoding == "gbk"
    assert _config(encoding="UTF8", chips=False).field_packages == FieldPackagesConfig("utf-8", False)
    with pytest.raises(ConfigError, match=r"'field_packages.encoding' must be one of utf-8, gbk, got 'big5'"):
        _config(encoding="big5")
    with pytest.raises(ConfigError, match=r"unknown key 'field_packages.chip'"):
        _config(chip=True)
    with pytest.raises(ConfigError, match=r"'field_packages.chips' must be true or false"):
        _config(chips="yes")
    assert _config(encoding="gbk").to_dict()["field_packages"] == {"encoding": "gbk", "chips": True}


def _run(encoding: str = "utf-8", chips: bool = True):
    return SimpleNamespace(source=SAMPLE, field_packages=FieldPackagesConfig(encoding, chips))


@pytest.fixture
def imagery(tmp_path, pieces):
    """Imagery under the fixture's pieces (EPSG:4551), bands red, green, blue; after = before + 50."""
    x0, y0, res = 449900.0, 4863000.0, 2.0
    rng = np.random.default_rng(2)
    data = rng.integers(100, 900, size=(3, 1700, 3000))
    paths = []
    for name, offset in (("b.tif", 0), ("a.tif", 50)):
        path = tmp_path / name
        with rasterio.open(path, "w", driver="GTiff", height=1700, width=3000, count=3, dtype="uint16",
                           crs="EPSG:4551", tiled=True, transform=Affine(res, 0, x0, 0, -res, y0)) as dst:
            dst.write((data + offset).astype("uint16"))
        paths.append(path)
    config = ImageryConfig(before=(paths[0],), after=(paths[1],), bands={"red": 1, "green": 2, "blue": 3})
    img = open_imagery(config, chunk_px=512)
    grid = shapely.box(*img.grid.bounds)
    assert all(grid.contains(g) for g in pieces.geometry)
    return img


def test_with_imagery_every_package_has_chips(tmp_path, pieces, imagery) -> None:
    written = write_run_field_packages(_run(), pieces, tmp_path, None, imagery)
    for code, path in written.items():
        n = int((pieces["county_code"] == code).sum())
        with zipfile.ZipFile(path) as zf:
            assert len([m for m in zf.namelist() if m.startswith("chips/")]) == 2 * n
            assert n_images(zf.read(sheet_name(code))) == 2 * n


@pytest.mark.parametrize("chips, reason", [(True, NO_IMAGERY), (False, CHIPS_OFF)])
def test_no_imagery_or_chips_off_no_chips_and_the_readme_says_why(tmp_path, pieces, imagery, chips, reason) -> None:
    written = write_run_field_packages(_run(chips=chips), pieces, tmp_path, None,
                                       None if reason is NO_IMAGERY else imagery)
    with zipfile.ZipFile(written["220104"]) as zf:
        assert not [m for m in zf.namelist() if m.startswith("chips/")]
        readme = zf.read("README.txt").decode("utf-8-sig")
        assert n_images(zf.read(sheet_name("220104"))) == 0
    assert reason[0] in readme and reason[1] in readme


def test_a_name_gbk_cannot_write_is_a_config_error_naming_the_key(tmp_path, pieces) -> None:
    odd = pieces.copy()
    odd["county_name"] = odd["county_name"].astype(object)
    odd.loc[0, "county_name"] = "𠀀关区"
    with pytest.raises(ConfigError) as err:
        write_run_field_packages(_run("gbk"), odd, tmp_path, None, None)
    message = str(err.value)
    assert message.startswith(f"{SAMPLE}: field package 220102: XZQMC")
    assert "field_packages.encoding: utf-8" in message and "\n" not in message


def _job(tmp_path, imagery, chips: bool = True):
    from pipeline.county_package import package_job

    run = SimpleNamespace(source=SAMPLE, output=tmp_path / "out", field_packages=FieldPackagesConfig("utf-8", chips))
    return package_job(run, imagery, tmp_path / "work")


def test_a_county_job_writes_the_package_the_whole_run_writer_writes(tmp_path, pieces, imagery) -> None:
    """Per county, from its own pieces (no ``year``, any order) and only the tiles near it."""
    from pipeline.county_package import write_county_package

    reference = write_run_field_packages(_run(), pieces, tmp_path / "serial", None, imagery)
    job = _job(tmp_path, imagery)
    for code, path in reference.items():
        county = pieces[pieces["county_code"] == code].drop(columns="year").iloc[::-1]
        narrowed = job.for_county(tuple(county.total_bounds))
        record = write_county_package(narrowed, county, int(pieces["year"].iloc[0]))
        mine = Path(job.folder) / "field_verification" / record.name
        assert record.name == f"{code}.zip" and record.bytes == mine.stat().st_size
        assert mine.read_bytes() == path.read_bytes(), code
        assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not [p for p in (Path(job.folder) / "field_verification").iterdir() if p.suffix != ".zip"]


def test_a_county_without_pieces_gets_no_package(tmp_path, imagery) -> None:
    from pipeline.county_package import write_county_package
    from pipeline.county_run import empty_pieces

    job = _job(tmp_path, imagery)
    assert write_county_package(job, empty_pieces("EPSG:4551"), 2025) is None
    assert not Path(job.folder).exists()


def test_the_narrowed_imagery_keeps_only_near_tiles_and_reads_the_same(tmp_path) -> None:
    from pipeline.chips_io import MAX_WINDOW_PX, ChipImagery, ImageryChips

    res, width = 2.0, 3000
    paths = {}
    rng = np.random.default_rng(3)
    for date in ("b", "a"):
        for k in range(3):  # three tiles west to east
            path = tmp_path / f"{date}{k}.tif"
            with rasterio.open(path, "w", driver="GTiff", height=500, width=width, count=3, dtype="uint16",
                               crs="EPSG:4551", transform=Affine(res, 0, 400000.0 + k * width * res, 0, -res,
                                                                 4800000.0)) as dst:
                dst.write(rng.integers(1, 900, size=(3, 500, width)).astype("uint16"))
            paths.setdefault(date, []).append(path)
    img = open_imagery(ImageryConfig(before=tuple(paths["b"]), after=tuple(paths["a"]),
                                     bands={"red": 1, "green": 2, "blue": 3}), chunk_px=512)
    whole = ChipImagery.of(img)
    assert len(whole.before.tiles) == 3
    piece = shapely.box(400100.0, 4799500.0, 400160.0, 4799560.0)  # near the west edge
    near = whole.around(piece.bounds)
    assert len(near.before.tiles) == len(near.after.tiles) == 1 + (MAX_WINDOW_PX // 2 + 2 > width)
    a, b = ImageryChips(img)(piece, "EPSG:4551"), ImageryChips(near)(piece, "EPSG:4551")
    assert np.array_equal(a.before, b.before, equal_nan=True) and np.array_equal(a.after, b.after, equal_nan=True)
    assert pickle.loads(pickle.dumps(near)).before.tiles == near.before.tiles  # a job carries it


def test_the_run_refuses_a_name_its_encoding_cannot_write_before_any_job(tmp_path) -> None:
    from pipeline.county_package import check_package_texts
    import geopandas as gpd

    run = SimpleNamespace(source=SAMPLE, field_packages=FieldPackagesConfig("gbk", True), patches=None)
    counties = gpd.GeoDataFrame({"county_code": ["220102"], "county_name": ["𠀀关区"]}, geometry=[None])
    with pytest.raises(ConfigError) as err:
        check_package_texts(run, counties=counties)
    assert str(err.value).startswith(f"{SAMPLE}: field package 220102: XZQMC '𠀀关区' cannot be written in GBK")
    assert "field_packages.encoding: utf-8" in str(err.value)
    check_package_texts(SimpleNamespace(source=SAMPLE, field_packages=FieldPackagesConfig("utf-8", True),
                                        patches=None), counties=counties)
