"""Run by the SYSTEM Python with PyQGIS (tests/reports/test_in_qgis.py): open ``patches.gpkg``
and ``landcheck.qgz`` in QGIS, render them, print what QGIS saw as one JSON document.

Usage: ``python3 qgis_probe.py GPKG QGZ OUT_DIR``. Not a test module (no PyQGIS in the venv).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from qgis.core import (NULL, QgsApplication, QgsGeometry, QgsLayoutExporter, QgsLayoutItemLabel, QgsLayoutItemLegend,
                       QgsLayoutItemMap, QgsLayoutItemPicture, QgsLayoutItemScaleBar, QgsMapRendererParallelJob,
                       QgsMapSettings, QgsProject, QgsRasterLayer, QgsRectangle, QgsVectorLayer)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor


def _vector(layer: QgsVectorLayer) -> dict:
    ren = layer.renderer()
    out = {"valid": layer.isValid(), "crs": layer.crs().authid(), "renderer": ren.type() if ren else None,
           "features": layer.featureCount(), "labels": layer.labelsEnabled(),
           "aliases": {f.name(): layer.attributeAlias(i) for i, f in enumerate(layer.fields())},
           "styles": layer.styleManager().styles()}
    if ren is not None and ren.type() == "RuleRenderer":
        out["rules"] = [{"label": r.label(), "filter": r.filterExpression(),
                         "colour": r.symbol().color().name() if r.symbol() else None}
                        for r in ren.rootRule().children()]
    if ren is not None and ren.type() == "categorizedSymbol":
        out["categories"] = [c.value() for c in ren.categories()]
    if layer.labelsEnabled() and layer.labeling() is not None:
        s = layer.labeling().settings()
        out["label_field"] = s.fieldName
        out["label_scale"] = [s.scaleVisibility, s.minimumScale, s.maximumScale]
    return out


def _render(layers: list, extent: QgsRectangle, crs, size: tuple[int, int], path: Path, labels: bool) -> QgsMapSettings:
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(crs)
    settings.setOutputSize(QSize(*size))
    settings.setBackgroundColor(QColor(255, 255, 255))
    settings.setFlag(QgsMapSettings.DrawLabeling, labels)
    settings.setExtent(extent)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(str(path), "PNG")
    return settings


def _patch_pixels(layer: QgsVectorLayer, settings: QgsMapSettings, image_path: Path) -> list:
    """For each patch: its status / verdict and the rendered colour at its most inside point."""
    from qgis.PyQt.QtGui import QImage
    image = QImage(str(image_path))
    m2p = settings.mapToPixel()
    names = layer.fields().names()
    out = []
    for f in layer.getFeatures():
        geom: QgsGeometry = f.geometry()
        inner, _dist = geom.poleOfInaccessibility(0.5)
        p = m2p.transform(inner.asPoint())
        x, y = int(round(p.x())), int(round(p.y()))
        if not (0 <= x < image.width() and 0 <= y < image.height()):
            continue
        c = QColor(image.pixel(x, y))
        out.append({"patch_id": f["patch_id"], "status": f["status"],
                    "verdict": f["verdict"] if "verdict" in names and f["verdict"] not in (None, NULL) else None,
                    "rgb": [c.red(), c.green(), c.blue()], "px": [x, y]})
    return out


def main() -> None:
    gpkg, qgz, out_dir = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    app = QgsApplication([], False)
    app.initQgis()
    messages: list[str] = []
    QgsApplication.messageLog().messageReceived.connect(lambda msg, tag, level: messages.append(f"{tag}: {msg}"))
    result: dict = {"gpkg": {}, "project": {}}

    # 1. the GeoPackage on its own: default styles come from its layer_styles table
    layers = {}
    for name in ("patches", "county_ratios"):
        layer = QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr")
        layers[name] = layer
        result["gpkg"][name] = _vector(layer)
    patches = layers["patches"]
    extent = QgsRectangle(patches.extent())
    extent.scale(1.1)
    settings = _render([patches], extent, patches.crs(), (1200, 800), out_dir / "gpkg_patches.png", labels=False)
    result["gpkg"]["pixels"] = _patch_pixels(patches, settings, out_dir / "gpkg_patches.png")

    # 2. the project
    project = QgsProject.instance()
    result["project"]["read"] = project.read(str(qgz))
    result["project"]["crs"] = project.crs().authid()
    result["project"]["title"] = project.title()
    plist = []
    for layer_id in [n.layerId() for n in project.layerTreeRoot().findLayers()]:
        layer = project.mapLayer(layer_id)
        if layer is None:
            plist.append({"id": layer_id, "valid": False, "missing": True})
            continue
        entry = {"id": layer_id, "name": layer.name(), "valid": layer.isValid(), "crs": layer.crs().authid(),
                 "source": layer.source(),
                 "visible": project.layerTreeRoot().findLayer(layer_id).isVisible()}
        if isinstance(layer, QgsRasterLayer):
            ren = layer.renderer()
            entry["renderer"] = ren.type()
            entry["bands"] = [ren.redBand(), ren.greenBand(), ren.blueBand()]
            entry["limits"] = [[ce.minimumValue(), ce.maximumValue()] for ce in
                               (ren.redContrastEnhancement(), ren.greenContrastEnhancement(),
                                ren.blueContrastEnhancement())]
            entry["band_names"] = [layer.bandName(i) for i in range(1, layer.bandCount() + 1)]
        else:
            entry.update(_vector(layer))
        plist.append(entry)
    result["project"]["layers"] = plist
    result["project"]["groups"] = [g.name() for g in project.layerTreeRoot().children()]

    # the default view, rendered as the project shows it (visible layers, labels)
    view = project.viewSettings().defaultViewExtent()
    visible = [project.mapLayer(n.layerId()) for n in project.layerTreeRoot().findLayers() if n.isVisible()]
    settings = _render(visible, QgsRectangle(view), project.crs(), (1600, 900), out_dir / "project.png", labels=True)
    result["project"]["view_scale"] = settings.scale()
    proj_patches = project.mapLayer("landcheck_patches")
    result["project"]["pixels"] = _patch_pixels(proj_patches, settings, out_dir / "project.png")

    # the print layout: one page per county (atlas)
    layouts = project.layoutManager().printLayouts()
    result["project"]["layouts"] = []
    for layout in layouts:
        atlas = layout.atlas()
        items = layout.items()
        kinds = {"map": QgsLayoutItemMap, "legend": QgsLayoutItemLegend, "scalebar": QgsLayoutItemScaleBar,
                 "picture": QgsLayoutItemPicture, "label": QgsLayoutItemLabel}
        info = {"name": layout.name(), "items": {k: sum(isinstance(i, t) for i in items) for k, t in kinds.items()},
                "page": [layout.pageCollection().page(0).pageSize().width(),
                         layout.pageCollection().page(0).pageSize().height()],
                "atlas_enabled": atlas.enabled(),
                "atlas_coverage": atlas.coverageLayer().id() if atlas.coverageLayer() else None,
                "atlas_count": atlas.updateFeatures()}
        pictures = [i for i in items if isinstance(i, QgsLayoutItemPicture)]
        info["north_arrow"] = [p.picturePath() for p in pictures]
        info["map_atlas_driven"] = [m.atlasDriven() for m in items if isinstance(m, QgsLayoutItemMap)]
        scalebars = [s for s in items if isinstance(s, QgsLayoutItemScaleBar)]
        info["scalebar_linked"] = [s.linkedMap() is not None for s in scalebars]
        atlas.beginRender()
        atlas.seekTo(0)
        labels = [i.currentText() for i in items if isinstance(i, QgsLayoutItemLabel)]
        info["labels"] = labels
        exporter = QgsLayoutExporter(layout)
        image_settings = QgsLayoutExporter.ImageExportSettings()
        image_settings.dpi = 60
        image_settings.generateWorldFile = False
        image_settings.exportMetadata = False
        info["export"] = exporter.exportToImage(str(out_dir / "layout_page1.png"), image_settings) \
            == QgsLayoutExporter.Success
        atlas.endRender()
        result["project"]["layouts"].append(info)
    result["messages"] = messages
    print("LANDCHECK-JSON " + json.dumps(result, ensure_ascii=False, default=str), flush=True)
    project.clear()
    app.exitQgis()
    os._exit(0)  # PyQGIS may crash while Python tears down its wrappers; the result is out


if __name__ == "__main__":
    main()
