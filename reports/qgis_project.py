"""``landcheck.qgz``: the QGIS project of a run, written without QGIS.

A ``.qgz`` is a zip holding one ``.qgs`` XML document. :func:`project_document` builds that
document with :mod:`xml.etree.ElementTree` from plain descriptions of the layers
(:class:`VectorLayer`, :class:`RasterLayer`, in legend order, grouped) and of the print
layout (:class:`AtlasLayout`: an A3 landscape sheet per county, as a QGIS atlas over the
county layer, with map, legend, scale bar, north arrow, title and dates);
:func:`write_qgis_project` zips it. The layer styles are those of :mod:`reports.qgis_style`,
the same the GeoPackage carries. The format is QGIS 3's (tested by loading the file in
PyQGIS: tests/reports/test_in_qgis.py).
"""
from __future__ import annotations

import os
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reports._common import atomic_output
from reports.qgis_style import LABEL_FONT, QGIS_VERSION, LayerStyle, qml_document, to_xml

__all__ = ["CrsInfo", "VectorLayer", "RasterLayer", "LayerGroup", "AtlasLayout", "project_document",
           "write_qgis_project", "PROJECT_FILE", "QGS_NAME", "NORTH_ARROW_SVG", "LAYOUT_ITEM_TYPES"]

PROJECT_FILE = "landcheck.qgz"
"""File name of the project in the output folder."""
QGS_NAME = "landcheck.qgs"
"""Name of the project document inside the ``.qgz``."""
NORTH_ARROW_SVG = ":/images/north_arrows/layout_default_north_arrow.svg"
"""QGIS's built-in north arrow (a resource of every QGIS 3 install)."""

LAYOUT_ITEM_TYPES: dict[str, int] = {
    "page": 65638, "map": 65639, "picture": 65640, "label": 65641, "legend": 65642, "scalebar": 65646,
}
"""QgsLayoutItemRegistry type ids of the layout items used (QGraphicsItem::UserType + n)."""


@dataclass(frozen=True)
class CrsInfo:
    """A CRS as QGIS stores it: ``wkt`` (WKT2), ``authid`` (``EPSG:4551``, or empty), ``proj4``,
    ``description``, ``geographic``."""

    wkt: str
    authid: str = ""
    proj4: str = ""
    description: str = ""
    geographic: bool = False


@dataclass(frozen=True)
class VectorLayer:
    """A vector layer: ``id`` (stable), legend ``name``, OGR ``source`` (``path|layername=x``,
    relative paths start with ``./``), its ``crs``, ``style`` and other named ``styles``."""

    id: str
    name: str
    source: str
    crs: CrsInfo | None
    style: LayerStyle
    style_name: str = "默认"
    styles: Mapping[str, LayerStyle] = field(default_factory=dict)
    encoding: str = "UTF-8"
    visible: bool = True
    geometry: str = "Polygon"


@dataclass(frozen=True)
class RasterLayer:
    """A multiband raster shown in true colour: ``rgb`` band numbers, one ``(min, max)`` per
    band of ``rgb`` (a fixed stretch, not recomputed per view or tile)."""

    id: str
    name: str
    source: str
    crs: CrsInfo | None
    rgb: tuple[int, int, int]
    limits: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    visible: bool = True


@dataclass(frozen=True)
class LayerGroup:
    """A legend group of layers (top first)."""

    name: str
    layers: Sequence[VectorLayer | RasterLayer]
    visible: bool = True


@dataclass(frozen=True)
class AtlasLayout:
    """The print layout: ``title`` and ``subtitle`` (QGIS expressions in ``[% %]`` allowed, evaluated
    per atlas feature), ``dates`` (text under the legend), the atlas ``coverage`` layer."""

    name: str
    coverage: VectorLayer
    title: str
    subtitle: str
    dates: str
    page_name: str = "county_name"
    sort_key: str = "county_code"
    filename: str = "'landcheck_' || \"county_code\""


# ------------------------------------------------------------------------------------------------

def _el(parent: ET.Element | None, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.Element(tag, attrib) if parent is None else ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def _srs(parent: ET.Element, crs: CrsInfo | None) -> ET.Element:
    srs = _el(parent, "spatialrefsys")
    if crs is None:
        return srs
    _el(srs, "wkt", crs.wkt)
    _el(srs, "proj4", crs.proj4)
    _el(srs, "srsid", "0")
    _el(srs, "srid", crs.authid.split(":")[1] if crs.authid.upper().startswith("EPSG:") else "0")
    _el(srs, "authid", crs.authid)
    _el(srs, "description", crs.description)
    _el(srs, "projectionacronym", "")
    _el(srs, "ellipsoidacronym", "")
    _el(srs, "geographicflag", "true" if crs.geographic else "false")
    return srs


def _flags(parent: ET.Element) -> None:
    flags = _el(parent, "flags")
    for name, value in (("Identifiable", "1"), ("Removable", "1"), ("Searchable", "1"), ("Private", "0")):
        _el(flags, name, value)


def _vector_layer(layer: VectorLayer) -> ET.Element:
    ml = _el(None, "maplayer", type="vector", geometry=layer.geometry, wkbType=f"Multi{layer.geometry}",
             hasScaleBasedVisibilityFlag="0", minScale="100000000", maxScale="0", readOnly="0",
             styleCategories="AllStyleCategories", autoRefreshEnabled="0", autoRefreshTime="0",
             refreshOnNotifyEnabled="0", refreshOnNotifyMessage="", legendPlaceholderImage="",
             labelsEnabled="1" if layer.style.labeling is not None else "0", simplifyDrawingHints="1",
             simplifyAlgorithm="0", simplifyDrawingTol="1", simplifyLocal="1", simplifyMaxScale="1",
             symbologyReferenceScale="-1")
    _el(ml, "id", layer.id)
    _el(ml, "datasource", layer.source)
    _el(ml, "layername", layer.name)
    _srs(_el(ml, "srs"), layer.crs)
    _el(ml, "provider", "ogr", encoding=layer.encoding)
    manager = _el(ml, "map-layer-style-manager", current=layer.style_name)
    _el(manager, "map-layer-style", name=layer.style_name)
    for name, style in layer.styles.items():
        _el(manager, "map-layer-style", name=name).append(qml_document(style))
    _flags(ml)
    ml.extend(layer.style.elements())
    return ml


def _raster_layer(layer: RasterLayer) -> ET.Element:
    ml = _el(None, "maplayer", type="raster", hasScaleBasedVisibilityFlag="0", minScale="1e+08", maxScale="0",
             styleCategories="AllStyleCategories", autoRefreshEnabled="0", autoRefreshTime="0",
             refreshOnNotifyEnabled="0", refreshOnNotifyMessage="", legendPlaceholderImage="")
    _el(ml, "id", layer.id)
    _el(ml, "datasource", layer.source)
    _el(ml, "layername", layer.name)
    _srs(_el(ml, "srs"), layer.crs)
    _el(ml, "provider", "gdal")
    manager = _el(ml, "map-layer-style-manager", current="默认")
    _el(manager, "map-layer-style", name="默认")
    _flags(ml)
    pipe = _el(ml, "pipe")
    provider = _el(pipe, "provider")
    _el(provider, "resampling", enabled="false", zoomedInResamplingMethod="nearestNeighbour",
        zoomedOutResamplingMethod="nearestNeighbour", maxOversampling="2")
    r, g, b = layer.rgb
    ren = _el(pipe, "rasterrenderer", type="multibandcolor", opacity="1", alphaBand="-1", nodataColor="",
              redBand=str(r), greenBand=str(g), blueBand=str(b))
    _el(ren, "rasterTransparency")
    origin = _el(ren, "minMaxOrigin")
    # limits None: the min / max below are fixed (one stretch for every view, tile and date)
    for tag, text in (("limits", "None"), ("extent", "WholeRaster"), ("statAccuracy", "Estimated"),
                      ("cumulativeCutLower", "0.02"), ("cumulativeCutUpper", "0.98"), ("stdDevFactor", "2")):
        _el(origin, tag, text)
    for colour, (lo, hi) in zip(("red", "green", "blue"), layer.limits):
        ce = _el(ren, f"{colour}ContrastEnhancement")
        _el(ce, "minValue", f"{lo:g}")
        _el(ce, "maxValue", f"{hi:g}")
        _el(ce, "algorithm", "StretchToMinimumMaximum")
    _el(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    _el(pipe, "huesaturation", saturation="0", grayscaleMode="0", invertColors="0", colorizeOn="0",
        colorizeRed="255", colorizeGreen="128", colorizeBlue="128", colorizeStrength="100")
    _el(pipe, "rasterresampler", maxOversampling="2")
    _el(pipe, "resamplingStage", "resamplingFilter")
    _el(ml, "blendMode", "0")
    return ml


def _checked(visible: bool) -> str:
    return "Qt::Checked" if visible else "Qt::Unchecked"


def _extent(parent: ET.Element, tag: str, bounds: Sequence[float], *, attrs: bool = False) -> ET.Element:
    names = ("xmin", "ymin", "xmax", "ymax")
    if attrs:
        return _el(parent, tag, **{n: repr(float(v)) for n, v in zip(names, bounds)})
    ext = _el(parent, tag)
    for n, v in zip(names, bounds):
        _el(ext, n, repr(float(v)))
    return ext


# ------------------------------------------------------------------------------------------------
# Print layout
# ------------------------------------------------------------------------------------------------

def _uuid(name: str) -> str:
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"landcheck:layout:{name}")) + "}"


def _item(parent: ET.Element, kind: str, item_id: str, x: float, y: float, w: float, h: float, z: int,
          **attrib: str) -> ET.Element:
    uid = _uuid(item_id)
    base = {
        "type": str(LAYOUT_ITEM_TYPES[kind]), "uuid": uid, "templateUuid": uid, "id": item_id,
        "position": f"{x:g},{y:g},mm", "positionOnPage": f"{x:g},{y:g},mm", "size": f"{w:g},{h:g},mm",
        "zValue": str(z), "visibility": "1", "positionLock": "false", "referencePoint": "0", "itemRotation": "0",
        "frame": "false", "background": "false", "blendMode": "0", "opacity": "1", "groupUuid": "",
        "excludeFromExports": "0", "outlineWidthM": "0.3,mm", "frameJoinStyle": "miter",
    }
    base.update(attrib)
    item = _el(parent, "LayoutItem", **base)
    _el(item, "FrameColor", red="0", green="0", blue="0", alpha="255")
    _el(item, "BackgroundColor", red="255", green="255", blue="255", alpha="255")
    _el(item, "LayoutObject")
    return item


def _label(parent: ET.Element, item_id: str, text: str, x: float, y: float, w: float, h: float, size: int,
           *, bold: bool = False) -> None:
    item = _item(parent, "label", item_id, x, y, w, h, 10, labelText=text, htmlState="0", marginX="0",
                 marginY="0", halign="1", valign="32")
    weight = "75" if bold else "50"
    _el(item, "LabelFont", description=f"{LABEL_FONT},{size},-1,5,{weight},0,0,0,0,0", style="")
    _el(item, "FontColor", red="0", green="0", blue="0", alpha="255")


def _fit_aspect(extent: Sequence[float], aspect: float) -> tuple[float, float, float, float]:
    """``extent`` grown around its centre to width / height = ``aspect``."""
    x0, y0, x1, y1 = (float(v) for v in extent)
    w, h = x1 - x0, y1 - y0
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _layout(layout: AtlasLayout, extent: Sequence[float]) -> ET.Element:
    page_w, page_h = 420.0, 297.0  # A3 landscape, mm
    lay = _el(None, "Layout", name=layout.name, units="mm", printResolution="300", worldFileMap="")
    _el(lay, "Snapper", tolerance="5", snapToGrid="0", snapToGuides="1", snapToItems="1")
    _el(lay, "Grid", resolution="10", resUnits="mm", offsetX="0", offsetY="0", offsetUnits="mm")
    pages = _el(lay, "PageCollection")
    _item(pages, "page", "page", 0, 0, page_w, page_h, 0, background="true")
    _el(pages, "GuideCollection", visible="1")
    margin, side = 10.0, 95.0
    map_w, map_h = page_w - 3 * margin - side, page_h - 32.0 - margin
    map_id = "地图"
    map_uuid = _uuid(map_id)
    m = _item(lay, "map", map_id, margin, 28, map_w, map_h, 1, frame="true", background="true",
              drawCanvasItems="true", keepLayerSet="false", followPreset="false", followPresetName="",
              mapRotation="0", mapFlags="0", isTemporal="0", labelMargin="0,mm")
    # QGIS resizes a map item to the aspect of its extent: give it the item's aspect
    _extent(m, "Extent", _fit_aspect(extent, map_w / map_h), attrs=True)
    _el(m, "LayerSet")
    _el(m, "AtlasMap", atlasDriven="1", scalingMode="2", margin="0.1")
    _el(m, "labelBlockingItems")
    _label(lay, "标题", layout.title, margin, 8, page_w - 2 * margin, 11, 20, bold=True)
    _label(lay, "副标题", layout.subtitle, margin, 19, page_w - 2 * margin, 7, 12)
    sx = margin + map_w + margin
    legend = _item(lay, "legend", "图例", sx, 28, side, 150, 2, frame="true", background="true",
                   title="图例", map_uuid=map_uuid, resizeToContents="1", columnCount="1", splitLayer="0",
                   equalColumnWidth="0", symbolWidth="7", symbolHeight="4", wmsLegendWidth="50",
                   wmsLegendHeight="25", boxSpace="2", columnSpace="2", lineSpacing="1", titleAlignment="1",
                   symbolAlignment="1", rasterBorder="1", rasterBorderColor="0,0,0,255", rasterBorderWidth="0",
                   fontColor="#000000", legendFilterByAtlas="0", wrapChar="", minSymbolSize="0",
                   maxSymbolSize="0")
    styles = _el(legend, "styles")
    for name, size in (("title", 14), ("group", 11), ("subgroup", 10), ("symbolLabel", 9)):
        st = _el(styles, "style", name=name, alignment="1", marginTop="2", indent="0")
        _el(st, "styleFont", description=f"{LABEL_FONT},{size},-1,5,50,0,0,0,0,0", style="")
    _item(lay, "picture", "指北针", sx + side - 22, page_h - margin - 60, 20, 20, 4, file=NORTH_ARROW_SVG,
          mode="2", resizeMode="0", anchorPoint="0", pictureRotation="0", mapUuid=map_uuid, northMode="0",
          northOffset="0", svgFillColor="0,0,0,255", svgBorderColor="0,0,0,255", svgBorderWidth="0.2",
          pictureWidth="20", pictureHeight="20")
    _item(lay, "scalebar", "比例尺", sx, page_h - margin - 32, side, 14, 3, mapUuid=map_uuid,
          style="Single Box", unitType="meters", unitLabel="米", numSegments="2", numSegmentsLeft="0",
          numSubdivisions="1", subdivisionsHeight="1.5", numUnitsPerSegment="1000", segmentSizeMode="1",
          minBarWidth="30", maxBarWidth="70", segmentMillimeters="25", numMapUnitsPerScaleBarUnit="1",
          height="3", labelBarSpace="3", boxContentSpace="1", alignment="0", labelVerticalPlacement="0",
          labelHorizontalPlacement="0", outlineWidth="0.3", lineJoinStyle="miter", lineCapStyle="square")
    _label(lay, "日期", layout.dates, sx, page_h - margin - 14, side, 14, 9)
    cov = layout.coverage
    _el(lay, "Atlas", enabled="1", coverageLayer=cov.id, coverageLayerName=cov.name, coverageLayerSource=cov.source,
        coverageLayerProvider="ogr", hideCoverage="0", pageNameExpression=layout.page_name, filterFeatures="0",
        sortFeatures="1", sortKey=layout.sort_key, sortAscending="1", filenamePattern=layout.filename)
    return lay


# ------------------------------------------------------------------------------------------------
# The project
# ------------------------------------------------------------------------------------------------

def project_document(title: str, crs: CrsInfo, extent: Sequence[float], groups: Sequence[LayerGroup],
                     layout: AtlasLayout | None = None) -> ET.Element:
    """The ``<qgis>`` root of the project: ``groups`` in legend order (top first, each layer drawn
    above the ones after it), the project ``crs``, the initial view ``extent`` (xmin, ymin, xmax,
    ymax in ``crs``) and the print ``layout``."""
    root = _el(None, "qgis", projectname=title, version=QGIS_VERSION)
    _el(root, "homePath", path="")
    _el(root, "title", title)
    _el(root, "autotransaction", active="0")
    _el(root, "evaluateDefaultValues", active="0")
    _el(root, "trust", active="0")
    _srs(_el(root, "projectCrs"), crs)
    layers = [layer for g in groups for layer in g.layers]
    tree = _el(root, "layer-tree-group")
    _el(tree, "customproperties")
    for group in groups:
        g = _el(tree, "layer-tree-group", name=group.name, checked=_checked(group.visible), expanded="1")
        _el(g, "customproperties")
        for layer in group.layers:
            provider = "gdal" if isinstance(layer, RasterLayer) else "ogr"
            node = _el(g, "layer-tree-layer", id=layer.id, name=layer.name, source=layer.source,
                       providerKey=provider, checked=_checked(layer.visible), expanded="1", legend_exp="",
                       patch_size="-1,-1", legend_split_behavior="0")
            _el(node, "customproperties")
    order = _el(tree, "custom-order", enabled="0")
    for layer in layers:
        _el(order, "item", layer.id)
    canvas = _el(root, "mapcanvas", name="theMapCanvas", annotationsVisible="1")
    _el(canvas, "units", "meters" if not crs.geographic else "degrees")
    _extent(canvas, "extent", extent)
    _el(canvas, "rotation", "0")
    _srs(_el(canvas, "destinationsrs"), crs)
    _el(canvas, "rendermaptile", "0")
    project_layers = _el(root, "projectlayers")
    for layer in layers:
        project_layers.append(_raster_layer(layer) if isinstance(layer, RasterLayer) else _vector_layer(layer))
    order = _el(root, "layerorder")
    for layer in layers:
        _el(order, "layer", id=layer.id)
    props = _el(root, "properties")
    paths = _el(props, "Paths")
    _el(paths, "Absolute", "false", type="bool")
    srs_props = _el(props, "SpatialRefSys")
    _el(srs_props, "ProjectionsEnabled", "1", type="int")
    _el(_el(props, "Measurement"), "AreaUnits", "m2", type="QString")
    view = _el(root, "ProjectViewSettings", UseProjectScales="0", rotation="0")
    _el(view, "Scales")
    default_view = _extent(view, "DefaultViewExtent", extent, attrs=True)
    _srs(default_view, crs)
    layouts = _el(root, "Layouts")
    if layout is not None:
        layouts.append(_layout(layout, extent))
    return root


def write_qgis_project(root: ET.Element, path: str | os.PathLike[str]) -> Path:
    """Zip the project document ``root`` as ``path`` (``.qgz``), through a temporary file."""
    final = Path(path)
    text = to_xml(root)
    with atomic_output(final) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            info = zipfile.ZipInfo(QGS_NAME, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text.encode("utf-8"))
    return final
