"""Map drawing shared by printed outputs: layer styles, legend entries, north arrow, scale bar.

Maps are drawn with matplotlib in the store's projected CRS (Lambert-93, or UTM overseas: metres
either way), so one data unit is one metre and the scale bar needs no projection arithmetic. matplotlib is part of the ``pdf`` extra: this module
imports it lazily and raises :class:`~ort_geo.errors.MissingExtraError` when it is absent.

Colours and French labels live in plain data (``LAYER_STYLES``, ``STRATA``,
``BUILDING_CONDITIONS``) so that other outputs (web map) can share them. What belongs to a
territory — its orientations' titles and colours, its strata's names — comes from the store's
manifest (:func:`ort_geo.territory.orientations_of`, the strata features' ``libelle``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import shapely

from .errors import InputError, raster_reason, require_module, with_detail
from .territory import STRATA_LABELS

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from shapely.geometry.base import BaseGeometry

#: Strata of the territorial design: default French label and fill colour (a layer's own
#: ``libelle``, from its manifest, names them on maps).
STRATA: dict[str, tuple[str, str]] = {
    key: (STRATA_LABELS[key], colour) for key, colour in
    (("ligne_de_vie", "#f3e3b3"), ("terrasses", "#d5e6bd"), ("hauts", "#a9cba0"))
}

#: Building condition (staff maps only): French label and fill colour.
BUILDING_CONDITIONS: dict[str, tuple[str, str]] = {
    "bon": ("Bon état", "#d0d3d4"),
    "moyen": ("État moyen", "#f7dc6f"),
    "degrade": ("Dégradé", "#eb984e"),
    "tres_degrade": ("Très dégradé", "#a93226"),
}
VACANT_EDGE = "#1b2631"


@dataclass(frozen=True)
class LayerStyle:
    """How a layer is drawn and named in legends."""

    label: str
    facecolor: str = "none"
    edgecolor: str = "#333333"
    linewidth: float = 0.8
    alpha: float = 1.0
    hatch: str | None = None
    linestyle: str = "-"
    zorder: int = 2
    extra: dict[str, Any] = field(default_factory=dict)


LAYER_STYLES: dict[str, LayerStyle] = {
    "communes": LayerStyle("Limite communale", edgecolor="#4d4d4d", linewidth=0.9,
                           linestyle=(0, (6, 2, 1, 2)), zorder=3),  # type: ignore[arg-type]
    "strates": LayerStyle("Strates", alpha=0.9, edgecolor="none", linewidth=0, zorder=1),
    "zones_activite": LayerStyle("Zone d'activité", facecolor="#aab7b8", edgecolor="#5d6d7e",
                                 linewidth=0.7, alpha=0.55, hatch="...", zorder=4),
    "ilot_demonstrateur": LayerStyle("Îlot démonstrateur", facecolor="#f0b27a",
                                     edgecolor="#ba4a00", linewidth=1.2, alpha=0.85, zorder=6),
    "permis_de_louer": LayerStyle("Zone de permis de louer", edgecolor="#6c3483",
                                  linewidth=1.1, hatch="////", zorder=7),
    "secteurs_ort": LayerStyle("Secteur d'intervention ORT", facecolor="#e74c3c",
                               edgecolor="#b03a2e", linewidth=1.6, alpha=0.14, zorder=8),
    "mobilites_actives": LayerStyle("Mobilités actives", edgecolor="#117a65", linewidth=1.8,
                                    zorder=9),
    "commerces": LayerStyle("Commerce", facecolor="#212f3d", edgecolor="#212f3d", zorder=10),
    "actions": LayerStyle("Action du programme", edgecolor="white", linewidth=0.6, zorder=12),
    "batiments": LayerStyle("Bâtiment", facecolor="#d0d3d4", edgecolor="#7b7d7d",
                            linewidth=0.2, zorder=5),
}

MOBILITY_STATUS = {"existant": ("existant", "-"), "projete": ("projeté", (0, (3, 2)))}


def _mpl():
    matplotlib = require_module("matplotlib", "pdf")
    matplotlib.use("Agg", force=False)
    return matplotlib


# -- extents -----------------------------------------------------------------------------------


def fit_extent(
    bounds: Sequence[float], aspect: float, margin: float = 0.08, min_size: float = 400.0
) -> tuple[float, float, float, float]:
    """A (xmin, xmax, ymin, ymax) window around ``bounds`` with width/height = ``aspect``.

    ``margin`` is added on each side (a share of the larger dimension); ``min_size`` (metres)
    keeps tiny features (a single block) from filling the page at an absurd scale.
    """
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    width = max(xmax - xmin, min_size)
    height = max(ymax - ymin, min_size)
    pad = max(width, height) * margin
    width, height = width + 2 * pad, height + 2 * pad
    if width / height < aspect:
        width = height * aspect
    else:
        height = width / aspect
    return cx - width / 2, cx + width / 2, cy - height / 2, cy + height / 2


def clip_to(frame: gpd.GeoDataFrame, extent: Sequence[float]) -> gpd.GeoDataFrame:
    """Rows of ``frame`` that intersect the (xmin, xmax, ymin, ymax) window."""
    if frame.empty:
        return frame
    xmin, xmax, ymin, ymax = extent
    return frame[frame.intersects(shapely.box(xmin, ymin, xmax, ymax))]


# -- drawing -----------------------------------------------------------------------------------


def draw_polygons(ax: Axes, frame: gpd.GeoDataFrame, style: LayerStyle, *, scale: float = 1.0,
                  **override: Any) -> None:
    """Polygons of a layer with its style (``override`` changes single properties; ``scale``
    enlarges line widths for larger paper)."""
    if frame.empty:
        return
    kw = {
        "facecolor": style.facecolor, "edgecolor": style.edgecolor,
        "linewidth": style.linewidth * scale, "linestyle": style.linestyle,
        "zorder": style.zorder,
        "hatch": style.hatch,
    }
    kw.update(override)
    alpha = override.pop("alpha", style.alpha)
    kw.pop("alpha", None)
    face = kw.pop("facecolor")
    if face != "none" and alpha < 1:
        # Transparent fill, opaque outline: draw them separately.
        frame.plot(ax=ax, facecolor=face, edgecolor="none", alpha=alpha, zorder=kw["zorder"],
                   linewidth=0)
        face = "none"
    frame.plot(ax=ax, facecolor=face, **kw)


def draw_layer(ax: Axes, layer: str, frame: gpd.GeoDataFrame, *, emphasis: str | None = None,
               number: dict[str, str] | None = None, scale: float = 1.0,
               orientations: dict[int, tuple[str, str]] | None = None) -> list[Artist]:
    """Draw one catalogue layer with its house style; return its legend handles.

    ``emphasis`` is the id of the page's own feature (drawn stronger); ``number`` maps feature
    ids to labels written on the map (sector numbers, action numbers); ``scale`` enlarges
    every size given in points (1 for A4, about 1.41 for A3); ``orientations`` gives each
    orientation's title and colour (:func:`ort_geo.territory.orientations_of`).
    """
    k = scale
    _mpl()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    style = LAYER_STYLES[layer]
    if frame.empty:
        return []
    handles: list[Artist] = []
    if layer == "strates":
        for key, (label, colour) in STRATA.items():
            part = frame[frame["strate"] == key]
            if not part.empty:
                named = part["libelle"].dropna() if "libelle" in part else part.iloc[0:0]
                label = str(named.iloc[0]) if len(named) else label
                part.plot(ax=ax, facecolor=colour, edgecolor="none", zorder=style.zorder,
                          alpha=style.alpha, linewidth=0)
                handles.append(Patch(facecolor=colour, edgecolor="none", label=label))
    elif layer == "mobilites_actives":
        for key, (label, dash) in MOBILITY_STATUS.items():
            part = frame[frame["statut"] == key] if "statut" in frame else frame.iloc[0:0]
            if part.empty:
                continue
            part.plot(ax=ax, color=style.edgecolor, linewidth=style.linewidth * k, linestyle=dash,
                      zorder=style.zorder)
            handles.append(Line2D([], [], color=style.edgecolor, linewidth=style.linewidth,
                                  linestyle=dash, label=f"Itinéraire actif {label}"))  # type: ignore[arg-type]
    elif layer == "commerces":
        vacant = frame["vacant"].fillna(False).astype(bool) if "vacant" in frame else None
        for is_vacant, label, face in ((False, "Commerce actif", style.facecolor),
                                       (True, "Local commercial vacant", "white")):
            part = frame if vacant is None else frame[vacant == is_vacant]
            if part.empty or (vacant is None and is_vacant):
                continue
            pts = part.geometry.representative_point()
            ax.scatter(pts.x, pts.y, s=9 * k * k, marker="s", facecolor=face,
                       edgecolor=style.edgecolor, linewidth=0.6 * k, zorder=style.zorder)
            handles.append(Line2D([], [], marker="s", linestyle="none", markersize=4,
                                  markerfacecolor=face, markeredgecolor=style.edgecolor,
                                  label=label))
    elif layer == "actions":
        pts = frame.geometry.representative_point()
        styles = orientations or {}
        for k in sorted({int(v) for v in frame["orientation"].dropna()} - set(styles)):
            styles = {**styles, k: (f"Orientation {k}", "#7f7f7f")}
        for orientation, (_label, colour) in sorted(styles.items()):
            mask = (frame["orientation"] == orientation).to_numpy()
            if not mask.any():
                continue
            ax.scatter(pts.x[mask], pts.y[mask], s=70 * k * k, marker="o", facecolor=colour,
                       edgecolor="white", linewidth=0.8 * k, zorder=style.zorder)
            handles.append(Line2D([], [], marker="o", linestyle="none", markersize=7,
                                  markerfacecolor=colour, markeredgecolor="white",
                                  label=f"Action – orientation {orientation}"))
        if number:
            for fid, pt in zip(frame["id"], pts, strict=True):
                if fid in number:
                    ax.annotate(number[fid], (pt.x, pt.y), fontsize=5.5 * k, color="white",
                                ha="center", va="center", weight="bold", zorder=style.zorder + 1)
    elif layer == "batiments":
        handles.extend(_draw_buildings(ax, frame, k))
    else:
        others = frame if emphasis is None else frame[frame["id"] != emphasis]
        draw_polygons(ax, others, style, scale=k)
        if emphasis is not None:
            own = frame[frame["id"] == emphasis]
            draw_polygons(ax, own, style, linewidth=style.linewidth * 1.9 * k)
        if layer == "permis_de_louer":
            handles.append(Patch(facecolor="none", edgecolor=style.edgecolor, hatch=style.hatch,
                                 linewidth=style.linewidth, label=style.label))
        elif layer == "communes":
            handles.append(Line2D([], [], color=style.edgecolor, linewidth=style.linewidth,
                                  linestyle=style.linestyle, label=style.label))  # type: ignore[arg-type]
        else:
            handles.append(Patch(facecolor=_blend(style.facecolor, style.alpha),
                                 edgecolor=style.edgecolor, hatch=style.hatch,
                                 linewidth=style.linewidth, label=style.label))
        if number:
            label_features(ax, frame, number, colour=style.edgecolor, size=8.0 * k)
    return handles


def _draw_buildings(ax: Axes, frame: gpd.GeoDataFrame, k: float) -> list[Artist]:
    from matplotlib.patches import Patch

    handles: list[Artist] = []
    etat = frame.get("etat")
    vacant = (frame["nb_logements_vacants"].fillna(0) > 0) if "nb_logements_vacants" in frame \
        else None
    for key, (label, colour) in BUILDING_CONDITIONS.items():
        part = frame if etat is None else frame[etat == key]
        if part.empty:
            continue
        part.plot(ax=ax, facecolor=colour, edgecolor="#7b7d7d", linewidth=0.15 * k, zorder=5)
        handles.append(Patch(facecolor=colour, edgecolor="#7b7d7d", label=f"Bâti : {label}"))
        if etat is None:
            break
    if vacant is not None and vacant.any():
        frame[vacant].plot(ax=ax, facecolor="none", edgecolor=VACANT_EDGE, linewidth=0.7 * k,
                           zorder=5)
        handles.append(Patch(facecolor="white", edgecolor=VACANT_EDGE, linewidth=1.0,
                             label="Bâtiment avec logement vacant"))
    return handles


def label_features(ax: Axes, frame: gpd.GeoDataFrame, labels: dict[str, str], *,
                   colour: str = "#b03a2e", size: float = 8.0) -> None:
    """Write a label (a sector number) in a white disc at each feature's representative point."""
    points = frame.geometry.representative_point()
    for fid, pt in zip(frame["id"], points, strict=True):
        if fid not in labels:
            continue
        ax.annotate(labels[fid], (pt.x, pt.y), fontsize=size, ha="center", va="center",
                    weight="bold", color=colour, zorder=20,
                    bbox={"boxstyle": "circle,pad=0.25", "facecolor": "white",
                          "edgecolor": colour, "linewidth": size / 8})


def _blend(colour: str, alpha: float) -> Any:
    """An opaque colour equivalent to ``colour`` at ``alpha`` over white (for legend swatches)."""
    if colour == "none":
        return "none"
    from matplotlib.colors import to_rgb

    rgb = np.array(to_rgb(colour))
    return tuple(rgb * alpha + (1 - alpha))


NORTH_ARROW_GID = "north-arrow"
# Corners tried for the north arrow, in axes fraction (the lower ones hold the scale bar and the
# printed scale): upper right first, then upper left.
_ARROW_CORNERS = ((0.95, 0.88), (0.05, 0.88))


def north_arrow_box(x: float, y: float, size: float = 0.07) -> tuple[float, float, float, float]:
    """The arrow's box (x0, y0, x1, y1) in axes fraction, its "N" included, with a small margin."""
    w = size * 0.38 + 0.015
    return (x - w, y - 0.015, x + w, y + size + 0.07)


def free_corner(extent: Sequence[float], geometries: Iterable[BaseGeometry], *,
                size: float = 0.07) -> tuple[float, float] | None:
    """The first arrow corner (axes fraction) whose box, in map coordinates, touches none of
    ``geometries``; None when every corner is taken."""
    from shapely.geometry import box

    xmin, xmax, ymin, ymax = extent
    shapes = [g for g in geometries if g is not None and not g.is_empty]
    for x, y in _ARROW_CORNERS:
        x0, y0, x1, y1 = north_arrow_box(x, y, size)
        corner = box(xmin + x0 * (xmax - xmin), ymin + y0 * (ymax - ymin),
                     xmin + x1 * (xmax - xmin), ymin + y1 * (ymax - ymin))
        if not any(corner.intersects(g) for g in shapes):
            return x, y
    return None


def north_arrow(ax: Axes, *, x: float = 0.95, y: float = 0.88, size: float = 0.07,
                scale: float = 1.0) -> None:
    """A north arrow in axes coordinates (grid north of the territory's projection is close to
    true north at a town's scale). ``y`` above 1 puts it in the margin above the frame."""
    from matplotlib.patches import Polygon

    w = size * 0.38
    left = Polygon([(x, y + size), (x - w, y), (x, y + size * 0.28)], closed=True,
                   transform=ax.transAxes, facecolor="#1b2631", edgecolor="#1b2631", lw=0.6,
                   zorder=30, gid=NORTH_ARROW_GID, clip_on=False)
    right = Polygon([(x, y + size), (x + w, y), (x, y + size * 0.28)], closed=True,
                    transform=ax.transAxes, facecolor="white", edgecolor="#1b2631", lw=0.6,
                    zorder=30, gid=NORTH_ARROW_GID, clip_on=False)
    ax.add_patch(left)
    ax.add_patch(right)
    ax.text(x, y + size + 0.012, "N", transform=ax.transAxes, ha="center", va="bottom",
            fontsize=10 * scale, weight="bold", color="#1b2631", zorder=30, gid=NORTH_ARROW_GID,
            clip_on=False)


def scale_bar(ax: Axes, *, location: str = "lower left", scale: float = 1.0) -> None:
    """A metric scale bar (projected CRS in metres: one data unit is one metre)."""
    ScaleBar = require_module("matplotlib_scalebar.scalebar", "pdf").ScaleBar  # noqa: N806
    ax.add_artist(ScaleBar(1.0, units="m", location=location, length_fraction=0.22,
                           box_alpha=0.85, font_properties={"size": 7 * scale},
                           scale_loc="top", border_pad=0.6, color="#1b2631",
                           width_fraction=0.012))


def scale_ratio(ax: Axes) -> int:
    """The map's printed scale denominator (1:N), rounded to a legible figure."""
    fig = ax.figure
    width_in = ax.get_position().width * fig.get_figwidth()  # type: ignore[union-attr]
    xmin, xmax = ax.get_xlim()
    denominator = (xmax - xmin) / (width_in * 0.0254)
    magnitude = 10 ** max(0, int(np.floor(np.log10(denominator))) - 1)
    return int(round(denominator / magnitude) * magnitude)


# -- relief ------------------------------------------------------------------------------------


def hillshade(dem: str | Path, extent: Sequence[float], *, pixels: int = 900,
              epsg: int = 2154) -> tuple[np.ndarray, tuple[float, float, float, float]] | None:
    """A hillshade (0–1 array) of the DEM resampled to the map's CRS (``epsg``, the store's)
    over ``extent``.

    Returns None when the DEM does not cover the window. Relief is computed by matplotlib's
    ``LightSource`` (light from the north-west, the cartographic convention).
    """
    _mpl()
    import rasterio
    from matplotlib.colors import LightSource
    from rasterio.errors import RasterioIOError
    from rasterio.transform import Affine
    from rasterio.warp import Resampling, reproject

    xmin, xmax, ymin, ymax = extent
    aspect = (xmax - xmin) / (ymax - ymin)
    width = pixels if aspect >= 1 else max(1, int(pixels * aspect))
    height = max(1, int(width / aspect))
    transform = Affine((xmax - xmin) / width, 0, xmin, 0, -(ymax - ymin) / height, ymax)
    target = np.full((height, width), np.nan, dtype="float32")
    try:
        with rasterio.open(dem) as src:
            if src.crs is None:
                raise InputError(f"Le MNT {dem} n'a pas de système de coordonnées.")
            reproject(source=rasterio.band(src, 1), destination=target, dst_transform=transform,
                      dst_crs=f"EPSG:{epsg}", resampling=Resampling.bilinear,
                      src_nodata=src.nodata, dst_nodata=np.nan)
    except RasterioIOError as exc:
        raise with_detail(InputError(f"MNT illisible : {dem} ({raster_reason(exc)})."), exc) \
            from None
    if np.isnan(target).all():
        return None
    filled = np.where(np.isnan(target), np.nanmean(target), target)
    dx = (xmax - xmin) / width
    shade = LightSource(azdeg=315, altdeg=45).hillshade(filled, vert_exag=1.5, dx=dx, dy=dx)
    return shade, (xmin, xmax, ymin, ymax)
