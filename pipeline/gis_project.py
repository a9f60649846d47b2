"""The run's GIS project: imagery mosaics (VRT) and ``landcheck.qgz`` beside ``patches.gpkg``.

``imagery_before.vrt`` / ``imagery_after.vrt`` are GDAL virtual mosaics of each date's tiles,
referenced by absolute path (the inputs are read, never copied or changed), with the bands in
true-colour order (red, green, blue, then NIR when configured; ``imagery.bands`` says where
each is in the tiles). The project (:mod:`reports.qgis_project`) shows both dates with ONE
stretch, the 2nd-98th percentile per band of a decimated read of every tile of both dates (as the
field-package chips do, :data:`reports.chips.STRETCH_PERCENTILES`), so the dates compare and the
tiles join without seams; then the patches and county layers of ``patches.gpkg`` (relative
paths, so the output folder can move) and the farmland, basic-farmland and approval layers of the
config (absolute paths).
"""
from __future__ import annotations

import math
import os
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import rasterio
from pyproj import CRS
from rasterio.enums import Resampling

from pipeline.config import LayerConfig, RunConfig
from reports._common import atomic_output
from reports.chips import STRETCH_PERCENTILES, stretch_limits
from reports.geopackage import COUNTY_ALIASES_ZH, COUNTY_LAYER, PATCH_ALIASES_ZH, PATCHES_LAYER, PATCHES_STYLE
from reports.qgis_project import (PROJECT_FILE, AtlasLayout, CrsInfo, LayerGroup, RasterLayer, VectorLayer,
                                  project_document, write_qgis_project)
from reports.qgis_style import (COUNTY_FILL_STYLE, COUNTY_OUTLINE_STYLE, county_style, input_layer_style,
                                patches_style)

__all__ = ["layer_id", "VRT_NAMES", "TRUE_COLOUR", "MosaicBand", "write_mosaic_vrt", "shared_stretch", "crs_info",
           "write_run_gis_project"]

VRT_NAMES: dict[str, str] = {"before": "imagery_before.vrt", "after": "imagery_after.vrt"}
"""File names of the two mosaics in the output folder."""

TRUE_COLOUR: tuple[str, ...] = ("red", "green", "blue", "nir")
"""Band order of the mosaics (NIR only when the config has it)."""

_GDAL_TYPES = {"uint8": "Byte", "int8": "Int8", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
               "int32": "Int32", "float32": "Float32", "float64": "Float64"}
_COLOR_INTERP = {"red": "Red", "green": "Green", "blue": "Blue", "nir": "Undefined"}
_SAMPLE_PX = 512  # long side of the decimated read of one tile for the stretch


@dataclass(frozen=True)
class MosaicBand:
    """A band of a mosaic: its ``name`` (red, ...) and its 1-based index in the tiles."""

    name: str
    source: int


def layer_id(key: str) -> str:
    """The id of a project layer: ``landcheck_<key>`` (QGIS replaces ids without an underscore)."""
    return f"landcheck_{key}"


def mosaic_bands(bands: Mapping[str, int]) -> list[MosaicBand]:
    """The mosaic's bands in true-colour order from the config's ``imagery.bands``."""
    return [MosaicBand(name, int(bands[name])) for name in TRUE_COLOUR if name in bands]


def write_mosaic_vrt(tiles: Sequence[Path], bands: Sequence[MosaicBand], path: Path) -> Path:
    """Write a VRT mosaic of ``tiles`` (same CRS, resolution of the first tile) with ``bands``.

    Each tile is placed by its georeference (fractional offsets are resampled by GDAL, as for
    ``imagery.resample``); its declared nodata is kept transparent.
    """
    infos = []
    for tile in tiles:
        with rasterio.open(tile) as src:
            infos.append((os.path.abspath(tile), src.transform, src.width, src.height, src.dtypes[0], src.nodatavals,
                          src.crs.to_wkt() if src.crs else "", src.block_shapes[0]))
    t0 = infos[0][1]
    res_x, res_y = t0.a, -t0.e
    minx = min(t.c for _, t, *_ in infos)
    maxy = max(t.f for _, t, *_ in infos)
    maxx = max(t.c + w * t.a for _, t, w, *_ in infos)
    miny = min(t.f + h * t.e for _, t, _, h, *_ in infos)
    width, height = math.ceil(round((maxx - minx) / res_x, 6)), math.ceil(round((maxy - miny) / res_y, 6))
    dtype = _GDAL_TYPES.get(infos[0][4], "Float32")
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    srs = ET.SubElement(root, "SRS")  # no axis mapping: GDAL reads it in GIS order (x = easting)
    srs.text = infos[0][6]
    ET.SubElement(root, "GeoTransform").text = f"{minx!r}, {res_x!r}, 0.0, {maxy!r}, 0.0, {-res_y!r}"
    for i, band in enumerate(bands, start=1):
        vb = ET.SubElement(root, "VRTRasterBand", dataType=dtype, band=str(i))
        ET.SubElement(vb, "Description").text = band.name
        nodata = infos[0][5][band.source - 1]
        if nodata is not None:
            ET.SubElement(vb, "NoDataValue").text = repr(float(nodata))
        ET.SubElement(vb, "ColorInterp").text = _COLOR_INTERP[band.name]
        for name, t, w, h, tdtype, nodatavals, _, (bh, bw) in infos:
            tile_nodata = nodatavals[band.source - 1]
            src = ET.SubElement(vb, "ComplexSource" if tile_nodata is not None else "SimpleSource")
            ET.SubElement(src, "SourceFilename", relativeToVRT="0").text = name
            ET.SubElement(src, "SourceBand").text = str(band.source)
            ET.SubElement(src, "SourceProperties", RasterXSize=str(w), RasterYSize=str(h),
                          DataType=_GDAL_TYPES.get(tdtype, "Float32"), BlockXSize=str(bw), BlockYSize=str(bh))
            ET.SubElement(src, "SrcRect", xOff="0", yOff="0", xSize=str(w), ySize=str(h))
            ET.SubElement(src, "DstRect", xOff=f"{(t.c - minx) / res_x:.10g}", yOff=f"{(maxy - t.f) / res_y:.10g}",
                          xSize=f"{w * t.a / res_x:.10g}", ySize=f"{h * -t.e / res_y:.10g}")
            if tile_nodata is not None:
                ET.SubElement(src, "NODATA").text = repr(float(tile_nodata))
    ET.indent(root)
    with atomic_output(path) as tmp:
        tmp.write_text(ET.tostring(root, encoding="unicode") + "\n", encoding="utf-8")
    return path


def _sample(tile: Path, indexes: Sequence[int]) -> np.ndarray:
    """``(len(indexes), n)`` float64 of a decimated read of ``tile``, NaN where masked."""
    with rasterio.open(tile) as src:
        step = max(1, math.ceil(max(src.width, src.height) / _SAMPLE_PX))
        shape = (len(indexes), max(1, src.height // step), max(1, src.width // step))
        data = src.read(list(indexes), out_shape=shape, masked=True, resampling=Resampling.nearest)
    return np.ma.filled(data.astype(np.float64), np.nan).reshape(len(indexes), 1, -1)


def shared_stretch(before: Sequence[Path], after: Sequence[Path],
                   indexes: Sequence[int]) -> list[tuple[float, float]]:
    """One ``(min, max)`` per band of ``indexes`` for both dates: the percentiles of
    :data:`reports.chips.STRETCH_PERCENTILES` over a decimated read of every tile."""
    b = np.concatenate([_sample(t, indexes) for t in before], axis=2)
    a = np.concatenate([_sample(t, indexes) for t in after], axis=2)
    lo, hi = stretch_limits(b, a, STRETCH_PERCENTILES)
    return [(float(x), float(y)) for x, y in zip(lo, hi)]


def crs_info(crs: Any) -> CrsInfo | None:
    """QGIS's description of a CRS (None when unknown)."""
    if crs is None:
        return None
    c = CRS.from_user_input(crs)
    epsg = c.to_epsg()
    try:
        with warnings.catch_warnings():  # "you will likely lose information": QGIS reads the WKT first
            warnings.simplefilter("ignore", UserWarning)
            proj4 = c.to_proj4()
    except Exception:  # noqa: BLE001 - a CRS without a PROJ string is still described by its WKT
        proj4 = ""
    return CrsInfo(wkt=c.to_wkt("WKT2_2019"), authid=f"EPSG:{epsg}" if epsg else "", proj4=proj4 or "",
                   description=c.name, geographic=c.is_geographic)


def _ogr_source(layer: LayerConfig) -> str:
    path = os.path.abspath(layer.path)
    return f"{path}|layername={layer.layer}" if layer.layer else path


def _input_layer(key: str, name: str, layer: LayerConfig, colour: str, *, visible: bool,
                 outline_style: str = "solid", fill_alpha: int = 70) -> VectorLayer:
    info = pyogrio.read_info(layer.path, layer=layer.layer, encoding=layer.encoding)
    return VectorLayer(layer_id(key), name, _ogr_source(layer), crs_info(info.get("crs")),
                       input_layer_style(colour, fill_alpha=fill_alpha, outline_style=outline_style),
                       encoding=(layer.encoding or "UTF-8").upper(), visible=visible)


def write_run_gis_project(config: RunConfig, pieces: Any, counties: Any, out_dir: Path, *,
                          generated_at: datetime | None = None) -> dict[str, Path]:
    """Write the mosaics (when the run has imagery) and ``landcheck.qgz`` into ``out_dir``.

    ``pieces`` (the run's pieces, their CRS is the project's) and ``counties`` (the county
    layer, any CRS) give the initial view; the layers themselves are read by QGIS from
    ``patches.gpkg`` (which must be in ``out_dir``) and the inputs. Returns the written files
    by output name (``imagery_before``, ``imagery_after``, ``qgis_project``).
    """
    written: dict[str, Path] = {}
    crs = crs_info(pieces.crs)
    gpkg = "./patches.gpkg"
    patch_columns = [c for c in ("patch_id", *pieces.columns) if c != pieces.geometry.name]
    patch_columns = list(dict.fromkeys([*patch_columns, "area_mu", "illegal_mu", "status_zh"]))
    county_columns = list(COUNTY_ALIASES_ZH)
    patches = VectorLayer(layer_id(PATCHES_LAYER), "监测图斑", f"{gpkg}|layername={PATCHES_LAYER}", crs,
                          patches_style(patch_columns, PATCH_ALIASES_ZH), style_name=PATCHES_STYLE)
    county = VectorLayer(layer_id(COUNTY_LAYER), "县级违法占用耕地比例", f"{gpkg}|layername={COUNTY_LAYER}", crs,
                         county_style(county_columns, COUNTY_ALIASES_ZH), style_name=COUNTY_OUTLINE_STYLE,
                         styles={COUNTY_FILL_STYLE: county_style(county_columns, COUNTY_ALIASES_ZH, filled=True)})
    inputs = LayerGroup("套合图层（输入）", [
        _input_layer("approved", "批准用地", config.approved, "#2b83ba", visible=True, fill_alpha=40),
        _input_layer("basic_farmland", "永久基本农田", config.basic_farmland, "#1b7837", visible=False,
                     outline_style="dash"),
        _input_layer("farmland", "耕地", config.farmland, "#d9ef8b", visible=False),
    ])
    groups = [LayerGroup("监测成果", [patches, county]), inputs]
    imagery = config.imagery
    dates = {"before": imagery.before_date if imagery else None, "after": imagery.after_date if imagery else None}
    if imagery is not None and imagery.before and imagery.after:
        bands = mosaic_bands(imagery.bands)
        limits = shared_stretch(imagery.before, imagery.after, [b.source for b in bands[:3]])
        rasters = []
        for when, tiles, label in (("after", imagery.after, "后时相影像"), ("before", imagery.before, "前时相影像")):
            path = write_mosaic_vrt(tiles, bands, out_dir / VRT_NAMES[when])
            written[f"imagery_{when}"] = path
            with rasterio.open(tiles[0]) as src:
                tile_crs = crs_info(src.crs)
            name = f"{label} {dates[when]}" if dates[when] else label
            rasters.append(RasterLayer(layer_id(f"imagery_{when}"), name, f"./{VRT_NAMES[when]}", tile_crs, (1, 2, 3),
                                       (limits[0], limits[1], limits[2]), visible=when == "after"))
        groups.append(LayerGroup("影像", rasters))
    bounds = pieces.total_bounds if len(pieces) else counties.to_crs(pieces.crs).total_bounds
    pad = max(bounds[2] - bounds[0], bounds[3] - bounds[1], 100.0) * 0.1
    extent = (bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
    when = (generated_at or datetime.now()).strftime("%Y-%m-%d")
    date_lines = [f"前时相：{dates['before'] or '—'}　后时相：{dates['after'] or '—'}", f"制图日期：{when}（landcheck）"]
    layout = AtlasLayout(
        name="县级监测图斑分布图（A3）", coverage=county,
        title=f"[% \"county_name\" %]{config.year}年度土地卫片执法检查监测图斑分布图",
        subtitle="行政区代码 [% \"county_code\" %]　违法占用耕地比例 "
                 "[% coalesce(format_number(\"ratio_pct\", 1) || '%', '无比例') %]　处理等级 [% \"level_zh\" %]",
        dates="\n".join(date_lines))
    root = project_document(f"{config.year}年度土地卫片执法检查", crs, extent, groups, layout)
    written["qgis_project"] = write_qgis_project(root, out_dir / PROJECT_FILE)
    return written
