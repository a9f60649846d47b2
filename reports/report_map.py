"""The report map: counties coloured by their decisive level, the patch pieces on top.

A static PNG drawn with matplotlib's Agg renderer through a private ``Figure`` (no pyplot state),
embedded in ``report.html`` and ``report.pdf``. County names use the CJK font of
:mod:`reports.fonts`; without one, counties are labelled by code and the legend is in English
(as the ratio chart). Patches are far smaller than a county at map scale, so each piece is drawn
as its outline and as a marker at a point inside it: filled red where it has illegal farmland
(decisive area), a hollow grey circle otherwise.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from overlay.contracts import LEVEL_COLOURS, LEVEL_LABELS_EN, LEVEL_LABELS_ZH, LEVELS
from reports._common import atomic_output, is_missing, require_columns, require_run_info
from reports.charts import _Text
from reports.fonts import find_cjk_font
from reports.patch_order import illegal_area_column

__all__ = ["render_report_map", "marker_plan", "map_caption_zh", "ILLEGAL_MARKER_COLOUR", "OTHER_MARKER_COLOUR", "MAX_OUTLINES",
           "MAX_MARKERS"]

ILLEGAL_MARKER_COLOUR = "#b5001f"
"""Marker of a piece with illegal farmland."""

OTHER_MARKER_COLOUR = "#404040"
"""Marker of every other piece."""

MAX_OUTLINES = 20000
"""Above this many pieces only the markers are drawn (outlines are sub-pixel at that scale)."""

MAX_MARKERS = 2000
"""Above this many pieces (a province or the country) a marker per piece would cover the level
colours: only the illegal pieces are drawn, as dots, and the legend says the others are not."""

_UNKNOWN_COLOUR = "#cccccc"


def marker_plan(n_pieces: int, n_counties: int) -> dict[str, Any]:
    """How the pieces and county borders are drawn for this many of each: ``others`` (draw the
    pieces without illegal farmland), ``size`` (marker area, points²), ``border`` (county border
    width, points) and ``fill_alpha`` (of the level colours)."""
    many = n_pieces > MAX_MARKERS
    return {"others": not many, "size": 1.5 if many else (6 if n_pieces >= 500 else 22),
            "border": 0.15 if n_counties > 300 else 0.7, "fill_alpha": 0.7 if many else 0.45}


def _plot_crs(counties: gpd.GeoDataFrame) -> Any:
    """The CRS the map is drawn in: the counties' own when projected, else the CGCS2000 3-degree
    Gauss-Krüger zone nearest the centre (EPSG:4534-4554), so shapes are not stretched."""
    if counties.crs is None or counties.crs.is_projected:
        return counties.crs
    minx, _, maxx, _ = counties.total_bounds
    zone = int(round(((minx + maxx) / 2 - 75.0) / 3.0))
    return f"EPSG:{4534 + min(max(zone, 0), 20)}"


def map_caption_zh(n_pieces: int, n_counties: int) -> str:
    """The caption under the map (HTML and PDF report), saying what :func:`marker_plan` drew."""
    if marker_plan(n_pieces, n_counties)["others"]:
        return "各县按处理等级着色；红色三角为含违法占用耕地的图斑，空心圆为其他图斑。"
    return "各县按处理等级着色；红点为含违法占用耕地的图斑；图斑较多，其他图斑在此比例尺下未绘出。"


def _drawn_outlines(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """County outlines simplified for drawing: Douglas-Peucker, which may cross a ring over
    itself by less than ``tolerance`` (a third of a pixel here: nothing shows) and is about 15x
    faster than the topology-preserving form on the national boundaries (0.16 s against 2.5 s);
    a county it would erase keeps the topology-preserving form."""
    simple = shapely.simplify(geoms, tolerance, preserve_topology=False)
    lost = shapely.is_empty(simple) & ~shapely.is_empty(geoms)
    simple[lost] = shapely.simplify(geoms[lost], tolerance, preserve_topology=True)
    return simple


def render_report_map(
    ratios: pd.DataFrame,
    counties: gpd.GeoDataFrame,
    pieces: gpd.GeoDataFrame | None,
    run_info: Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    dpi: int = 100,
    width_in: float = 9.0,
) -> Path:
    """Draw the map of counties by level with the patch pieces as a PNG.

    Parameters
    ----------
    ratios : pandas.DataFrame
        One row per county (``county_code``, ``county_name``, ``level``).
    counties : geopandas.GeoDataFrame
        County polygons with ``county_code``, any CRS.
    pieces : geopandas.GeoDataFrame or None
        The patch pieces (any CRS; reprojected to the map's); None or empty draws counties only.
    run_info : mapping
        ``year`` and thresholds (``reports._common.RUN_INFO_KEYS``).
    path : str or os.PathLike
        The PNG (written to a temporary file, then renamed).
    dpi : int, default 100
        Resolution.
    width_in : float, default 9.0
        Figure width in inches; the height follows the counties' extent (4 to 9 inches).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    require_columns(ratios, ("county_code", "county_name", "level"), "ratios")
    require_columns(counties, ("county_code",), "counties")
    require_run_info(run_info)
    crs = _plot_crs(counties)
    shapes = counties[["county_code", counties.geometry.name]].copy()
    shapes["county_code"] = shapes["county_code"].astype(str)
    shapes = shapes.to_crs(crs) if crs is not None and shapes.crs is not None else shapes
    table = ratios.copy()
    table["county_code"] = table["county_code"].astype(str)
    shapes = shapes.merge(table[["county_code", "county_name", "level"]], on="county_code", how="left")
    minx, miny, maxx, maxy = shapes.total_bounds if len(shapes) else (0.0, 0.0, 1.0, 1.0)
    span = max(maxx - minx, maxy - miny, 1e-9)
    if len(shapes) > 50:  # many counties: drawing detail finer than a pixel costs time, shows nothing
        shapes = shapes.set_geometry(_drawn_outlines(shapes.geometry.values, span / 3000), crs=shapes.crs)
    aspect = (maxy - miny) / max(maxx - minx, 1e-9)

    text = _Text(find_cjk_font())
    level_labels = LEVEL_LABELS_ZH if text.zh else LEVEL_LABELS_EN
    families = [text.font.family, "DejaVu Sans"] if text.font is not None else ["DejaVu Sans"]
    with matplotlib.rc_context({"font.family": families, "axes.unicode_minus": False}):
        drawn = None
        illegal = np.zeros(0, dtype=bool)
        if pieces is not None and len(pieces):
            drawn = pieces.to_crs(crs) if crs is not None and pieces.crs is not None else pieces
            illegal = pd.to_numeric(drawn[illegal_area_column(drawn)], errors="coerce").fillna(0.0).to_numpy() > 0
        zoom = _zoom_box(drawn, span)
        panel = (width_in - 0.4) * (0.55 if zoom is not None else 1.0)  # width of the whole-area map
        height = min(9.0, max(4.0, panel * aspect + 1.3))  # + title and legend
        fig = Figure(figsize=(width_in, height), dpi=dpi, layout="constrained")
        if zoom is None:
            axes = [fig.add_subplot()]
        else:
            grid = fig.add_gridspec(1, 2, width_ratios=(1.25, 1.0))
            axes = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])]
        colours = [LEVEL_COLOURS.get(str(lev), _UNKNOWN_COLOUR) for lev in shapes["level"]]
        plan = marker_plan(0 if drawn is None else len(drawn), len(shapes))
        for k, ax in enumerate(axes):
            shapes.plot(ax=ax, color=colours, alpha=plan["fill_alpha"], edgecolor="none")
            shapes.boundary.plot(ax=ax, color="#333333", linewidth=plan["border"])
            if drawn is not None:
                _draw_pieces(ax, drawn, illegal, outlines=k == 1 or zoom is None, small=k == 0 and zoom is not None,
                             plan=plan)
            ax.set_aspect("equal")
            ax.set_axis_off()
        ax = axes[0]
        if len(shapes) <= 60:  # names are readable only for a few dozen counties
            labels = shapely.point_on_surface(shapes.geometry.values)
            for point, code, name in zip(labels, shapes["county_code"], shapes["county_name"], strict=True):
                name_s = "" if is_missing(name) else str(name)
                label = name_s if name_s and (text.zh or name_s.isascii()) and text.drawable(name_s) else code
                ax.annotate(label, (shapely.get_x(point), shapely.get_y(point)), ha="center", va="center",
                            fontsize=10, color="#111111", zorder=6,
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7})
        pad = span * 0.02
        ax.set_xlim(minx - pad, maxx + pad)
        ax.set_ylim(miny - pad, maxy + pad)
        _scale_bar(ax, (minx, miny), span, crs)
        if zoom is not None:
            zx0, zy0, zx1, zy1 = zoom
            ax.add_patch(Rectangle((zx0, zy0), zx1 - zx0, zy1 - zy0, fill=False, edgecolor="#111111",
                                   linewidth=1.0, linestyle="--", zorder=7))
            axes[1].set_xlim(zx0, zx1)
            axes[1].set_ylim(zy0, zy1)
            axes[1].set_title(text.pick("图斑集中区（放大）", "where the patches are (enlarged)"), fontsize=10)
            for side in ("left", "right", "top", "bottom"):
                axes[1].spines[side].set_visible(True)
            axes[1].set_axis_on()
            axes[1].set_xticks([])
            axes[1].set_yticks([])
            axes[1].set_xlabel("")
            axes[1].set_ylabel("")
            _scale_bar(axes[1], (zx0, zy0), max(zx1 - zx0, zy1 - zy0), crs)

        n_illegal, n_other = int(illegal.sum()), int((~illegal).sum())
        present = [lev for lev in LEVELS if lev in set(shapes["level"].astype(str))]
        handles: list[Any] = [Patch(facecolor=LEVEL_COLOURS[lev], alpha=plan["fill_alpha"], edgecolor="#333333",
                                    label=level_labels[lev]) for lev in present]
        if n_illegal:
            handles.append(Line2D([], [], linestyle="none", marker="^" if plan["others"] else "o",
                                  markersize=7 if plan["others"] else 4, color=ILLEGAL_MARKER_COLOUR,
                                  label=text.pick(f"违法占用耕地图斑（{n_illegal}）", f"illegal patches ({n_illegal})")))
        if n_other and plan["others"]:
            handles.append(Line2D([], [], linestyle="none", marker="o", markersize=6, markerfacecolor="none",
                                  color=OTHER_MARKER_COLOUR,
                                  label=text.pick(f"其他图斑（{n_other}）", f"other patches ({n_other})")))
        elif n_other:  # said, not drawn: at this scale they would hide the level colours
            handles.append(Line2D([], [], linestyle="none", marker="", color="none",
                                  label=text.pick(f"其他图斑 {n_other} 个（此比例尺下未绘出）",
                                                  f"other patches: {n_other} (not drawn at this scale)")))
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize=9,
                       frameon=False)
        year = run_info["year"]
        fig.suptitle(text.pick(f"{year}年度 各县处理等级与监测图斑", f"County levels and monitoring patches, {year}"),
                     fontsize=13)
        final = Path(path)
        with atomic_output(final) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    return final


def _zoom_box(drawn: gpd.GeoDataFrame | None, span: float) -> tuple[float, float, float, float] | None:
    """A square around the pieces when they fill under a fifth of the map (else None)."""
    if drawn is None or not len(drawn):
        return None
    x0, y0, x1, y1 = drawn.total_bounds
    side = max(x1 - x0, y1 - y0)
    if side >= span / 5:
        return None
    side = max(side * 1.25, span / 200)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def _draw_pieces(ax: Any, drawn: gpd.GeoDataFrame, illegal: np.ndarray, *, outlines: bool, small: bool,
                 plan: dict[str, Any]) -> None:
    """Piece outlines (up to :data:`MAX_OUTLINES`) and one marker per piece (:func:`marker_plan`)."""
    if outlines and len(drawn) <= MAX_OUTLINES:
        drawn.plot(ax=ax, color=np.where(illegal, ILLEGAL_MARKER_COLOUR, "#ffffff").tolist(), alpha=0.5,
                   edgecolor="#111111", linewidth=0.6, zorder=3)
    points = shapely.point_on_surface(drawn.geometry.values)
    xs, ys = shapely.get_x(points), shapely.get_y(points)
    if not plan["others"]:  # many pieces: the illegal ones as dots, the others not at all
        ax.scatter(xs[illegal], ys[illegal], s=plan["size"], c=ILLEGAL_MARKER_COLOUR, linewidths=0,
                   marker="o", zorder=5)
        return
    size = 6 if small else plan["size"]
    ax.scatter(xs[~illegal], ys[~illegal], s=size, facecolors="none", edgecolors=OTHER_MARKER_COLOUR,
               linewidths=0.8, zorder=4)
    ax.scatter(xs[illegal], ys[illegal], s=size * 1.3, c=ILLEGAL_MARKER_COLOUR, edgecolors="white",
               linewidths=0.5, marker="^", zorder=5)


def _scale_bar(ax: Any, origin: tuple[float, float], span: float, crs: Any) -> None:
    """A scale bar in km at the lower left (projected maps only)."""
    try:
        from pyproj import CRS

        if crs is None or not CRS.from_user_input(crs).is_projected:
            return
    except Exception:  # noqa: BLE001 - no scale bar rather than no map
        return
    target = span / 5
    length = 10 ** math.floor(math.log10(target))
    for step in (5, 2, 1):
        if step * length <= target:
            length *= step
            break
    x0, y0 = origin
    ax.plot([x0, x0 + length], [y0, y0], color="#111111", linewidth=2.5, solid_capstyle="butt", zorder=6)
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(x0 + length / 2, y0 + span * 0.01, label, ha="center", va="bottom", fontsize=8, zorder=6)

