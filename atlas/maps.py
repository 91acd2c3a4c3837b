"""The map frame of an atlas page: context layers, relief, labels, north arrow and scale bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
from matplotlib import patheffects
from matplotlib.axes import Axes
from shapely.geometry.base import BaseGeometry

from ort_geo import cartography as carto
from ort_geo.atlas_plan import AtlasPlan


def _halo(scale: float) -> list:
    """A white outline that keeps labels legible over any fill."""
    return [patheffects.withStroke(linewidth=2.2 * scale, foreground="white")]

OUTSIDE = "#eceff1"  # beyond the territory


def draw_map(
    ax: Axes,
    plan: AtlasPlan,
    extent: tuple[float, float, float, float],
    *,
    focus: tuple[str, str] | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    dem: str | Path | None = None,
    action_labels: bool = True,
    scale: float = 1.0,
) -> tuple[list[Any], list[str]]:
    """Draw every context layer within ``extent``; return legend handles and the layers shown.

    ``scale`` enlarges every size given in points (symbols, labels, lines) on larger paper."""
    frame_map(ax, extent, facecolor=OUTSIDE, edgecolor="#1b2631", linewidth=0.9 * scale)

    communes = carto.clip_to(plan.layers["communes"], extent)
    if not communes.empty:  # the territory on white, the outside in grey
        communes.plot(ax=ax, facecolor="white", edgecolor="none", zorder=0.5)

    handles: list[Any] = []
    shown: list[str] = []
    for layer, frame in _context_frames(plan, extent).items():
        emphasis = focus[1] if focus and focus[0] == layer else None
        labels = None
        if layer in ("secteurs_ort", "permis_de_louer"):
            labels = {p.feature_id: p.number for p in plan.pages if p.layer == layer}
        elif layer == "actions" and action_labels:
            labels = {}
        handles += carto.draw_layer(ax, layer, frame, emphasis=emphasis, number=labels,
                                    scale=scale, orientations=plan.orientations)
        shown.append(layer)
        if layer == "actions" and action_labels and "numero" in frame:
            _action_numbers(ax, frame, scale)

    if buildings is not None and not buildings.empty:  # staff edition only
        handles += carto.draw_layer(ax, "batiments", carto.clip_to(buildings, extent),
                                    scale=scale)
        shown.append("batiments")

    if dem is not None:
        relief = carto.hillshade(dem, extent, epsg=plan.store.epsg)
        if relief is not None:
            shade, box = relief
            ax.imshow(shade, extent=box, cmap="gray", vmin=0, vmax=1, alpha=0.28, zorder=1.5,
                      interpolation="bilinear", origin="upper")
            shown.append("relief")

    _commune_names(ax, communes, extent, scale)
    frame_map(ax, extent)
    # The arrow goes to a corner free of sectors and zones, else above the frame: never over them.
    zones = [g for name in ("secteurs_ort", "permis_de_louer")
             for g in carto.clip_to(plan.layers[name], extent).geometry]
    corner = carto.free_corner(extent, zones)
    x, y = corner if corner is not None else (0.97, 1.005)
    carto.north_arrow(ax, x=x, y=y, size=0.07 if corner is not None else 0.05, scale=scale)
    carto.scale_bar(ax, scale=scale)
    return _unique(handles), shown


def layers_shown(plan: AtlasPlan, extent: tuple[float, float, float, float], *,
                 buildings: gpd.GeoDataFrame | None = None,
                 dem: str | Path | None = None) -> list[str]:
    """The layers :func:`draw_map` will report for ``extent``, without drawing: for laying a
    page out around its sources line. "relief" whenever a DEM is given (the DEM may turn out
    not to cover the window: an upper bound)."""
    shown = list(_context_frames(plan, extent))
    if buildings is not None and not buildings.empty:
        shown.append("batiments")
    if dem is not None:
        shown.append("relief")
    return shown


def _context_frames(plan: AtlasPlan, extent: tuple[float, float, float, float],
                    ) -> dict[str, gpd.GeoDataFrame]:
    """The plan's layers (buildings aside) clipped to ``extent``, those with features only."""
    frames = {}
    for layer in plan.layers:
        if layer != "batiments":
            frame = carto.clip_to(plan.layers[layer], extent)
            if not frame.empty:
                frames[layer] = frame
    return frames


LOCATOR_LABEL = "locator"


def locator(ax: Axes, plan: AtlasPlan, geometry: BaseGeometry, scale: float = 1.0) -> None:
    """A small map of the whole territory: the communes' outline, the page's feature in red."""
    ax.set_label(LOCATOR_LABEL)
    communes = plan.layers["communes"]
    xmin, ymin, xmax, ymax = communes.total_bounds if not communes.empty else geometry.bounds
    bbox = ax.get_position()
    fig = ax.figure
    ratio = (bbox.width * fig.get_figwidth()) / (bbox.height * fig.get_figheight())  # type: ignore[union-attr]
    extent = carto.fit_extent((xmin, ymin, xmax, ymax), ratio, 0.06)
    frame_map(ax, extent, facecolor="white", edgecolor="#566573", linewidth=0.5 * scale)
    if not communes.empty:
        communes.plot(ax=ax, facecolor="#f4f6f7", edgecolor="#566573", linewidth=0.35 * scale)
    chosen = gpd.GeoDataFrame(geometry=[geometry], crs=communes.crs)
    if not geometry.is_empty:
        chosen.plot(ax=ax, facecolor="#c0392b", edgecolor="#c0392b", linewidth=0.6 * scale)
        # A ring around the feature: a town centre is a speck at the territory's scale.
        pt = chosen.geometry.union_all().representative_point()
        ax.plot([pt.x], [pt.y], marker="o", markersize=9 * scale, markerfacecolor="none",
                markeredgecolor="#c0392b", markeredgewidth=0.8 * scale)
    frame_map(ax, extent)


def frame_map(ax: Axes, extent: tuple[float, float, float, float], *,
              facecolor: str | None = None, edgecolor: str | None = None,
              linewidth: float | None = None) -> None:
    """``ax`` as a map frame of ``extent`` (xmin, xmax, ymin, ymax): equal scale, no ticks nor
    axis labels, the given background and border. geopandas rescales and labels the axes (after
    the CRS) when it plots: call it again, extent alone, once the layers are drawn."""
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    if facecolor is not None:
        ax.set_facecolor(facecolor)
    for spine in ax.spines.values():
        if edgecolor is not None:
            spine.set_color(edgecolor)
        if linewidth is not None:
            spine.set_linewidth(linewidth)


def _action_numbers(ax: Axes, frame: gpd.GeoDataFrame, scale: float) -> None:
    points = frame.geometry.representative_point()
    for numero, pt in zip(frame["numero"], points, strict=True):
        if numero:
            ax.annotate(str(numero), (pt.x, pt.y), xytext=(5, 4), textcoords="offset points",
                        fontsize=6 * scale, color="#1b2631", weight="bold", zorder=13,
                        path_effects=_halo(scale))


def _commune_names(ax: Axes, communes: gpd.GeoDataFrame, extent, scale: float) -> None:
    if communes.empty:
        return
    xmin, xmax, ymin, ymax = extent
    for name, pt in zip(communes["nom"], communes.geometry.representative_point(), strict=True):
        if xmin < pt.x < xmax and ymin < pt.y < ymax:
            ax.text(pt.x, pt.y, str(name).upper(), fontsize=6.5 * scale, color="#566573",
                    style="italic", ha="center", va="center", zorder=14,
                    path_effects=_halo(scale))


def _unique(handles: list[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for h in handles:
        if h.get_label() not in seen:
            seen.add(h.get_label())
            out.append(h)
    return out
