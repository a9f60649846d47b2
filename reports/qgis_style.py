"""Default map styles of ``patches.gpkg`` (QGIS QML and OGC SLD), generated from the contracts.

Pure XML generation with :mod:`xml.etree.ElementTree`, no QGIS needed. The same
elements go into the GeoPackage's ``layer_styles`` table (QGIS applies the default
row when it loads a layer) and into the layers of ``landcheck.qgz``:

- ``patches``: a rule-based renderer, one rule per verdict (已核查：违法, ...) and,
  for the pieces without a verdict, one per overlay status (未核查：未批占用耕地, ...);
  labelled with the JCBH at review scales (:data:`PATCH_LABEL_MAX_SCALE` and closer);
- ``county_ratios``: outlines labelled with name, ratio and level (default), and an
  alternative style filled by level (:data:`COUNTY_FILL_STYLE`);
- plain fills for the input layers (farmland, basic farmland, approvals) of the project;
- Chinese field aliases (``<aliases>``) from :mod:`reports.geopackage`.

Colours of the levels come from :data:`overlay.contracts.LEVEL_COLOURS`; the
colours of statuses and verdicts on the map are kept here (the map is their only user).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from overlay.contracts import LEVEL_COLOURS, LEVEL_LABELS_ZH, LEVELS, STATUS_LABELS_ZH, STATUSES, VERDICTS

__all__ = [
    "QGIS_VERSION", "PATCH_LABEL_MAX_SCALE", "STATUS_MAP_COLOURS", "VERDICT_MAP_COLOURS", "COUNTY_OUTLINE_STYLE",
    "COUNTY_FILL_STYLE", "LABEL_FONT", "COUNTY_LABEL_EXPRESSION", "StyleRule", "LayerStyle", "patch_rules",
    "patches_style", "county_style",
    "input_layer_style", "qml_document", "patches_sld", "county_sld", "to_xml",
]

QGIS_VERSION = "3.22.0-Białowieża"
"""QGIS version written into the QML and the project (the oldest the files are tested with)."""

PATCH_LABEL_MAX_SCALE = 10000
"""JCBH labels are drawn at 1:10000 and closer (review scales), not when zoomed out."""

LABEL_FONT = "Noto Sans CJK SC"
"""Label font (Chinese); QGIS falls back to another font holding the glyphs when it is missing."""

STATUS_MAP_COLOURS: dict[str, str] = {
    "illegal": "#e31a1c", "partly_legal": "#ff7f00", "legal": "#33a02c", "non_farmland": "#1f78b4",
}
"""Map colour of each overlay ``status`` (pieces without a verdict: suspected)."""

VERDICT_MAP_COLOURS: dict[str, str] = {
    "illegal": "#b2182b", "legal": "#1a9850", "false_change": "#878787",
    "facility_agriculture": "#8073ac", "temporary_use": "#35978f", "other": "#d8b365",
}
"""Map colour of each verdict code (PDLX, :data:`overlay.contracts.VERDICTS`)."""

COUNTY_OUTLINE_STYLE = "县界轮廓"
"""Name of the default ``county_ratios`` style: outlines and labels."""
COUNTY_FILL_STYLE = "按处理等级填充"
"""Name of the alternative ``county_ratios`` style: filled by level."""

_VERIFIED_PREFIX = "已核查："
_SUSPECTED_PREFIX = "未核查（套合）："


@dataclass(frozen=True)
class StyleRule:
    """One class of the patch map: legend ``label``, QGIS ``expression``, the same as an OGC
    filter (``(column, value)`` pairs that must all hold, value None = IS NULL), ``colour``
    (``#rrggbb``), ``fill_alpha`` (0-255) and outline ``width`` (mm)."""

    key: str
    label: str
    expression: str
    conditions: tuple[tuple[str, str | None], ...]
    colour: str
    fill_alpha: int
    width: float


def patch_rules(columns: Iterable[str]) -> list[StyleRule]:
    """The classes of the ``patches`` layer for a layer with ``columns``.

    With a ``verdict`` column: one rule per verdict, then one per status for the pieces
    without a verdict; without it, one per status.
    """
    cols = set(columns)
    rules: list[StyleRule] = []
    verdicts = "verdict" in cols
    if verdicts:
        for v in VERDICTS:
            rules.append(StyleRule(f"verdict_{v.code}", _VERIFIED_PREFIX + v.label_zh,
                                   f"\"verdict\" = '{v.code}'", (("verdict", v.code),),
                                   VERDICT_MAP_COLOURS[v.code], 110, 0.8))
    for s in STATUSES:
        expr = f"\"status\" = '{s}'"
        cond: tuple[tuple[str, str | None], ...] = (("status", s),)
        if verdicts:
            expr = f"\"verdict\" IS NULL AND {expr}"
            cond = (("verdict", None), *cond)
        rules.append(StyleRule(f"status_{s}", _SUSPECTED_PREFIX + STATUS_LABELS_ZH[s], expr, cond,
                               STATUS_MAP_COLOURS[s], 60, 0.6))
    return rules


# ------------------------------------------------------------------------------------------------
# QML building blocks
# ------------------------------------------------------------------------------------------------

def _rgba(colour: str, alpha: int = 255) -> str:
    c = colour.lstrip("#")
    return f"{int(c[0:2], 16)},{int(c[2:4], 16)},{int(c[4:6], 16)},{alpha}"


def _props(layer: ET.Element, props: Mapping[str, str]) -> None:
    # QGIS 3.22 reads both <prop k v> and <Option type="Map">; <prop> is what it writes itself
    for k, v in props.items():
        ET.SubElement(layer, "prop", k=k, v=v)


def _fill_symbol(name: str, fill: str | None, outline: str, width: float, *, fill_alpha: int = 255,
                 outline_style: str = "solid") -> ET.Element:
    """A QGIS fill symbol (one SimpleFill layer); ``fill`` None = no fill (outline only)."""
    sym = ET.Element("symbol", type="fill", name=name, alpha="1", clip_to_extent="1", force_rhr="0")
    layer = ET.SubElement(sym, "layer", attrib={"class": "SimpleFill", "pass": "0", "enabled": "1",
                                                "locked": "0"})
    _props(layer, {
        "color": _rgba(fill, fill_alpha) if fill else "0,0,0,0",
        "style": "solid" if fill else "no",
        "outline_color": _rgba(outline), "outline_style": outline_style, "outline_width": f"{width:g}",
        "outline_width_unit": "MM", "joinstyle": "bevel", "offset": "0,0", "offset_unit": "MM",
    })
    return sym


def _labeling(expression: str, *, is_expression: bool, size: float, colour: str = "#1a1a1a",
              max_scale: int | None = None, buffer: bool = True, placement: str = "1") -> ET.Element:
    """Simple labeling; ``max_scale``: drawn only at 1:max_scale and closer."""
    lab = ET.Element("labeling", type="simple")
    settings = ET.SubElement(lab, "settings", calloutType="simple")
    style = ET.SubElement(settings, "text-style", fieldName=expression, isExpression="1" if is_expression else "0",
                          fontFamily=LABEL_FONT, fontSize=f"{size:g}", fontSizeUnit="Point",
                          textColor=_rgba(colour), textOpacity="1", fontWeight="50", namedStyle="Regular",
                          multilineHeight="1", blendMode="0", allowHtml="0", useSubstitutions="0")
    ET.SubElement(style, "text-buffer", bufferDraw="1" if buffer else "0", bufferSize="0.8", bufferSizeUnits="MM",
                  bufferColor="255,255,255,255", bufferOpacity="0.85", bufferNoFill="1", bufferJoinStyle="128",
                  bufferBlendMode="0")
    ET.SubElement(settings, "text-format", multilineAlign="1", wrapChar="", formatNumbers="0", decimals="3",
                  plussign="0", addDirectionSymbol="0")
    # placement 1 = "over point" (centroid) for polygons, 0 = around centroid; fitInPolygonOnly off
    ET.SubElement(settings, "placement", placement=placement, centroidWhole="0", centroidInside="1",
                  fitInPolygonOnly="0", dist="0", distUnits="MM", priority="5", offsetType="0", xOffset="0",
                  yOffset="0", offsetUnits="MM", quadOffset="4", polygonPlacementFlags="2",
                  placementFlags="10", overrunDistance="0", overrunDistanceUnit="MM")
    ET.SubElement(settings, "rendering", drawLabels="1", scaleVisibility="1" if max_scale else "0",
                  scaleMin="0", scaleMax=str(max_scale or 0), obstacle="1", obstacleFactor="1", obstacleType="1",
                  displayAll="0", labelPerPart="0", mergeLines="0", minFeatureSize="0", limitNumLabels="0",
                  maxNumLabels="2000", upsidedownLabels="0", fontLimitPixelSize="0", zIndex="0",
                  unplacedVisibility="0")
    return lab


def _aliases(columns: Sequence[str], aliases: Mapping[str, str]) -> ET.Element:
    el = ET.Element("aliases")
    for i, col in enumerate(columns):
        ET.SubElement(el, "alias", field=col, index=str(i), name=aliases.get(col, ""))  # QGIS matches by name
    return el


@dataclass(frozen=True)
class LayerStyle:
    """The style elements of one layer: ``renderer`` (``renderer-v2``), optional ``labeling``,
    ``aliases``, ``layer_opacity``; rendered as a QML document or put into a project layer."""

    renderer: ET.Element
    labeling: ET.Element | None = None
    aliases: ET.Element | None = None
    layer_opacity: float = 1.0

    def elements(self) -> list[ET.Element]:
        """The children a ``<maplayer>`` (or a QML ``<qgis>``) holds, in QGIS's order."""
        out = [self.renderer]
        if self.labeling is not None:
            out.append(self.labeling)
        out += [_text("blendMode", "0"), _text("featureBlendMode", "0"),
                _text("layerOpacity", f"{self.layer_opacity:g}")]
        if self.aliases is not None:
            out.append(self.aliases)
        return out


def _text(tag: str, text: str, **attrib: str) -> ET.Element:
    el = ET.Element(tag, attrib)
    el.text = text
    return el


def _rule_renderer(rules: Sequence[StyleRule]) -> ET.Element:
    ren = ET.Element("renderer-v2", type="RuleRenderer", symbollevels="0", enableorderby="0", forceraster="0",
                     referencescale="-1")
    root = ET.SubElement(ren, "rules", key="{root}")
    symbols = ET.SubElement(ren, "symbols")
    for i, rule in enumerate(rules):
        ET.SubElement(root, "rule", key=f"{{{rule.key}}}", filter=rule.expression, symbol=str(i), label=rule.label)
        symbols.append(_fill_symbol(str(i), rule.colour, rule.colour, rule.width, fill_alpha=rule.fill_alpha))
    return ren


def _single_renderer(symbol: ET.Element) -> ET.Element:
    ren = ET.Element("renderer-v2", type="singleSymbol", symbollevels="0", enableorderby="0", forceraster="0",
                     referencescale="-1")
    symbols = ET.SubElement(ren, "symbols")
    symbol.set("name", "0")
    symbols.append(symbol)
    return ren


def _categorized_renderer(attr: str, categories: Sequence[tuple[str, str, ET.Element]]) -> ET.Element:
    ren = ET.Element("renderer-v2", type="categorizedSymbol", attr=attr, symbollevels="0", enableorderby="0",
                     forceraster="0", referencescale="-1")
    cats = ET.SubElement(ren, "categories")
    symbols = ET.SubElement(ren, "symbols")
    for i, (value, label, symbol) in enumerate(categories):
        ET.SubElement(cats, "category", value=value, label=label, symbol=str(i), render="true")
        symbol.set("name", str(i))
        symbols.append(symbol)
    return ren


# ------------------------------------------------------------------------------------------------
# The layers
# ------------------------------------------------------------------------------------------------

def patches_style(columns: Sequence[str], aliases: Mapping[str, str]) -> LayerStyle:
    """The default style of ``patches``: rules by verdict / status, JCBH labels at review scales."""
    return LayerStyle(_rule_renderer(patch_rules(columns)),
                      _labeling("patch_id", is_expression=False, size=8, max_scale=PATCH_LABEL_MAX_SCALE),
                      _aliases(columns, aliases))


COUNTY_LABEL_EXPRESSION = (
    "\"county_name\" || '\\n' || coalesce(format_number(\"ratio_pct\", 1) || '%', '无比例')"
    " || ' ' || coalesce(\"level_zh\", '')"
)
"""County label: name, then the ratio (one decimal, or 无比例) and the level in Chinese."""

_COUNTY_OUTLINE = "#202020"


def county_style(columns: Sequence[str], aliases: Mapping[str, str], *, filled: bool = False) -> LayerStyle:
    """A style of ``county_ratios``: outlines (default) or, with ``filled``, filled by level; both
    labelled with name, ratio and level."""
    labeling = _labeling(COUNTY_LABEL_EXPRESSION, is_expression=True, size=11, colour="#000000")
    if not filled:
        renderer = _single_renderer(_fill_symbol("0", None, _COUNTY_OUTLINE, 0.8))
    else:
        renderer = _categorized_renderer("level", [
            (lv, LEVEL_LABELS_ZH[lv], _fill_symbol("", LEVEL_COLOURS[lv], _COUNTY_OUTLINE, 0.8, fill_alpha=110))
            for lv in LEVELS])
    return LayerStyle(renderer, labeling, _aliases(columns, aliases))


def input_layer_style(colour: str, *, fill_alpha: int = 70, outline_style: str = "solid") -> LayerStyle:
    """A plain fill for an input layer of the project (farmland, basic farmland, approvals)."""
    return LayerStyle(_single_renderer(_fill_symbol("0", colour, colour, 0.3, fill_alpha=fill_alpha,
                                                    outline_style=outline_style)))


def qml_document(style: LayerStyle, *, labels: bool | None = None) -> ET.Element:
    """The ``<qgis>`` root of a QML document (also the body of a named style in a project)."""
    has_labels = style.labeling is not None if labels is None else labels
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="AllStyleCategories",
                      labelsEnabled="1" if has_labels else "0", hasScaleBasedVisibilityFlag="0",
                      minScale="100000000", maxScale="0", readOnly="0")
    root.extend(style.elements())
    return root


def to_xml(root: ET.Element, *, doctype: bool = True) -> str:
    """Serialise ``root`` as a UTF-8 XML document string (with the QGIS doctype for ``<qgis>``)."""
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    head = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" if doctype else ""
    return head + body + "\n"


# ------------------------------------------------------------------------------------------------
# SLD (OGC Symbology Encoding 1.1, as QGIS exports it)
# ------------------------------------------------------------------------------------------------

_SLD = "http://www.opengis.net/sld"
_SE = "http://www.opengis.net/se"
_OGC = "http://www.opengis.net/ogc"
ET.register_namespace("", _SLD)
ET.register_namespace("se", _SE)
ET.register_namespace("ogc", _OGC)


def _se(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{_SE}}}{tag}", attrib)
    if text is not None:
        el.text = text
    return el


def _ogc(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{_OGC}}}{tag}")
    if text is not None:
        el.text = text
    return el


def _sld_document(layer: str) -> tuple[ET.Element, ET.Element]:
    root = ET.Element(f"{{{_SLD}}}StyledLayerDescriptor", version="1.1.0")
    named = ET.SubElement(root, f"{{{_SLD}}}NamedLayer")
    _se(named, "Name", layer)
    user = ET.SubElement(named, f"{{{_SLD}}}UserStyle")
    _se(user, "Name", layer)
    return root, _se(user, "FeatureTypeStyle")


def _sld_polygon(rule: ET.Element, fill: str | None, fill_opacity: float, stroke: str, width_mm: float) -> None:
    sym = _se(rule, "PolygonSymbolizer")
    if fill:
        f = _se(sym, "Fill")
        _se(f, "SvgParameter", fill, name="fill")
        _se(f, "SvgParameter", f"{fill_opacity:.2f}", name="fill-opacity")
    s = _se(sym, "Stroke")
    _se(s, "SvgParameter", stroke, name="stroke")
    _se(s, "SvgParameter", f"{width_mm / 25.4 * 96:.1f}", name="stroke-width")  # mm -> px at 96 dpi


def _sld_filter(rule: ET.Element, conditions: Sequence[tuple[str, str | None]]) -> None:
    flt = _ogc(rule, "Filter")
    parent = _ogc(flt, "And") if len(conditions) > 1 else flt
    for column, value in conditions:
        if value is None:
            _ogc(_ogc(parent, "PropertyIsNull"), "PropertyName", column)
        else:
            eq = _ogc(parent, "PropertyIsEqualTo")
            _ogc(eq, "PropertyName", column)
            _ogc(eq, "Literal", value)


def _sld_label(fts: ET.Element, parts: Sequence[tuple[str, str]], size_pt: float, max_scale: int | None) -> None:
    rule = _se(fts, "Rule")
    if max_scale:
        _se(rule, "MaxScaleDenominator", str(max_scale))
    text = _se(rule, "TextSymbolizer")
    label = _se(text, "Label")
    last: ET.Element | None = None
    for kind, value in parts:  # ("field", name) or ("text", literal): SLD mixed content
        if kind == "field":
            last = _ogc(label, "PropertyName", value)
        elif last is None:
            label.text = (label.text or "") + value
        else:
            last.tail = (last.tail or "") + value
    font = _se(text, "Font")
    _se(font, "SvgParameter", LABEL_FONT, name="font-family")
    _se(font, "SvgParameter", f"{size_pt * 96 / 72:.0f}", name="font-size")
    halo = _se(text, "Halo")
    _se(halo, "Radius", "2")
    _se(_se(halo, "Fill"), "SvgParameter", "#ffffff", name="fill")
    _se(_se(text, "Fill"), "SvgParameter", "#1a1a1a", name="fill")


def patches_sld(columns: Sequence[str]) -> str:
    """SLD of the ``patches`` style (for clients that read SLD rather than QML)."""
    root, fts = _sld_document("patches")
    for r in patch_rules(columns):
        rule = _se(fts, "Rule")
        _se(rule, "Name", r.label)
        _se(_se(rule, "Description"), "Title", r.label)
        _sld_filter(rule, r.conditions)
        _sld_polygon(rule, r.colour, r.fill_alpha / 255, r.colour, r.width)
    _sld_label(fts, [("field", "patch_id")], 8, PATCH_LABEL_MAX_SCALE)
    return to_xml(root, doctype=False)


def county_sld(*, filled: bool = False) -> str:
    """SLD of a ``county_ratios`` style (outlines, or filled by level)."""
    root, fts = _sld_document("county_ratios")
    if not filled:
        rule = _se(fts, "Rule")
        _se(rule, "Name", COUNTY_OUTLINE_STYLE)
        _sld_polygon(rule, None, 0, _COUNTY_OUTLINE, 0.8)
    else:
        for lv in LEVELS:
            rule = _se(fts, "Rule")
            _se(rule, "Name", LEVEL_LABELS_ZH[lv])
            _se(_se(rule, "Description"), "Title", LEVEL_LABELS_ZH[lv])
            _sld_filter(rule, (("level", lv),))
            _sld_polygon(rule, LEVEL_COLOURS[lv], 110 / 255, _COUNTY_OUTLINE, 0.8)
    _sld_label(fts, [("field", "county_name"), ("text", " "), ("field", "ratio_pct"), ("text", "% "),
                     ("field", "level_zh")], 11, None)
    return to_xml(root, doctype=False)
