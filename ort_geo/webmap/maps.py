"""The residents' public map and the staff map, as single self-contained HTML files.

Both are folium maps whose scripts are inlined (:mod:`.assets`). The public map is built only from
public layers and public fields (:func:`ort_geo.privacy.public_view`); no building-level layer
reaches it. The staff map adds the buildings, coloured by condition and by vacancy, as vector
tiles (:mod:`.tiles`), under a "diffusion restreinte" banner.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Literal

import folium
import geopandas as gpd
import pandas as pd
import xyzservices.providers as xyz

from .. import vector_tiles
from ..catalogue import CATALOGUE, LayerSpec
from ..display import format_number, format_value
from ..errors import InputError
from ..privacy import public_view
from ..store.base import Store
from . import assets, elements, style, tiles
from .geojson import bounds, feature_collection
from .style import MapLayer

Audience = Literal["public", "staff"]
Basemap = Literal["osm", "ign", "aucun"]
BASEMAPS: tuple[str, ...] = ("osm", "ign", "aucun")

BANNER = "Document de travail — diffusion restreinte"
DEFAULT_TITLE = "Programme Petites villes de demain"
OSM_ATTRIBUTION = ('© <a href="https://www.openstreetmap.org/copyright">les contributeurs '
                   "d'OpenStreetMap</a>")
IGN_ATTRIBUTION = ('© <a href="https://www.ign.fr/">IGN</a> — Plan IGN v2, '
                   '<a href="https://geoservices.ign.fr/">Géoplateforme</a>')


@dataclass
class MapReport:
    """What a written map holds, for the command line and the tests."""

    path: Path
    audience: Audience
    size: int
    layers: dict[str, int] = field(default_factory=dict)
    omitted: list[str] = field(default_factory=list)
    buildings: int = 0

    def __str__(self) -> str:
        listed = ", ".join(f"{name} ({n})" for name, n in self.layers.items())
        text = f"{self.path} — {self.size / 1e6:.2f} Mo ; couches : {listed}"
        if self.buildings:
            text += f" ; {self.buildings} bâtiments en tuiles vectorielles"
        if self.omitted:
            text += " ; couches vides omises : " + ", ".join(self.omitted)
        return text


def _label(layer: MapLayer, spec: LayerSpec, record: dict[str, Any], key: str) -> str:
    parts = [format_value(spec.field(n), record.get(n)) for n in layer.label if n in record]
    parts = [p for p in parts if p]
    if not parts and layer.category and layer.category in record:
        parts = [layer.palette.get(str(record[layer.category]), ("",))[0]]
    text = " — ".join(p for p in parts if p) or key
    return f"{layer.label_prefix}{text}"


def _style(layer: MapLayer, audience: Audience) -> Callable[[dict], dict]:
    # On the staff map, buildings are drawn over the perimeters: lighter fills keep them legible.
    lighter = 0.4 if audience == "staff" else 1.0

    def style_function(feature: dict) -> dict:
        colour = feature["properties"].get("_couleur")
        fill = layer.fill
        if layer.category:
            fill = colour or fill
        kind = feature["geometry"]["type"]
        if kind in ("LineString", "MultiLineString"):
            return {"color": fill or layer.color, "weight": 5, "opacity": 0.9}
        # Markers stay opaque; areas (an action may be a whole neighbourhood) let the map show.
        opacity = layer.fill_opacity if "Point" in kind else min(layer.fill_opacity, 0.35) * lighter
        return {
            "color": layer.color if not (layer.category and layer.weight == 0) else fill,
            "weight": layer.weight,
            "dashArray": layer.dash,
            "fill": fill is not None,
            "fillColor": fill,
            "fillOpacity": opacity,
        }

    return style_function


@dataclass
class _Layer:
    """A layer ready for the map: its GeoJSON and what the legend and the list need."""

    config: MapLayer
    spec: LayerSpec
    collection: dict[str, Any]
    frame: gpd.GeoDataFrame
    categories: list[str]


def _prepare(store: Store, layer: MapLayer, audience: Audience) -> _Layer | None:
    spec = CATALOGUE[layer.name]
    if audience == "public":
        if not spec.public:
            raise InputError(f"La couche {layer.name} n'est pas publique.")
        private = [f for f in layer.popup + layer.label if not spec.field(f).public]
        if private:
            raise InputError(f"Champs non publics demandés pour la carte publique : {private}")
    frame = store.read(layer.name)
    if frame.empty:
        return None
    if audience == "public":
        frame = public_view(spec, frame)
    fields = [f for f in layer.popup if f in frame.columns]
    records = frame.to_dict("records")
    keys = [str(k) for k in frame[spec.key]]
    labels = [_label(layer, spec, r, k) for r, k in zip(records, keys, strict=True)]
    extra: dict[str, list[Any]] = {"_libelle": labels}
    categories: list[str] = []
    if layer.category and layer.category in frame.columns:
        raw = ["" if v is None else str(v) for v in frame[layer.category]]
        extra["_couleur"] = [layer.palette.get(v, ("", layer.fill))[1] for v in raw]
        categories = [v for v in layer.palette if v in set(raw)]
    if layer.name in STATS_LAYERS:
        # Residents read the public release (one year, masked together with every other
        # public table: the same figures as the public atlas and the anonymous API).
        extra["_stats"] = _stats_rows(store, layer.name, keys, public=audience == "public")
    palette_labels = {layer.category: {k: v[0] for k, v in layer.palette.items()}} \
        if layer.category else {}
    collection = feature_collection(spec, frame, fields, ids=keys, extra=extra,  # type: ignore[arg-type]
                                    labels=palette_labels)
    return _Layer(layer, spec, collection, frame, categories)


#: Layers whose popups carry statistics (masked on the public map), and which columns they show.
STATS_LAYERS = ("secteurs_ort", "permis_de_louer")
STATS_COLUMNS = ("surface_ha", "batiments", "logements", "logements_vacants",
                 "batiments_vacance_connue", "taux_vacance", "vacants_longue_duree",
                 "batiments_degrades", "batiments_etat_connu", "habitat_indigne", "rdc_vacants",
                 "commerces_vacants", "actions", "cout_total")


def _stats_rows(store: Store, layer: str, keys: list[str], *, public: bool = False
                ) -> list[list[list[str]]]:
    """Per feature, the [label, value] rows of its statistics (public: the public release's)."""
    from ..stats import BY_NAME, sector_stats

    table = sector_stats(store, layer, public=public).set_index("id")
    rows = []
    for key in keys:
        shown = []
        for name in STATS_COLUMNS:
            value = table.at[key, name] if key in table.index and name in table.columns else None
            column = BY_NAME[name]
            if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
                if column.kind == "count" or name == "taux_vacance":  # unknown is not zero
                    shown.append([column.label, "inconnu"])
                continue
            if isinstance(value, str):  # the secrecy mark
                text = value
            elif column.kind == "money":
                text = f"{format_number(float(value))}\u202f€ HT"
            elif column.kind in ("rate", "measure"):
                text = format_number(float(value), 1 if column.kind == "rate" else 2)
            else:
                text = format_number(int(value))
            shown.append([column.label, text])
        rows.append(shown)
    return rows


# -- legend and list alternative (static HTML, escaped here) ---------------------------------------


def _swatch(fill: str | None, stroke: str, dash: str | None) -> str:
    border = "dashed" if dash else "solid"
    background = fill or "transparent"
    return (f'<span class="og-swatch" aria-hidden="true" style="background:{background};'
            f'border-color:{stroke};border-style:{border}"></span>')


def _legend(prepared: list[_Layer], extra: list[tuple[str, list[tuple[str, str]]]]) -> str:
    def group(title: str, entries: list[str]) -> str:
        return f'<li><span class="og-legend-group">{escape(title)}</span><ul>{"".join(entries)}</ul></li>'

    items = []
    for entry in reversed(prepared):  # top layer first, as the eye reads the map
        layer = entry.config
        if entry.categories:
            entries = []
            for code in entry.categories:
                label, colour = layer.palette[code]
                stroke = colour if layer.weight == 0 else layer.color
                entries.append(f"<li>{_swatch(colour, stroke, layer.dash)}{escape(label)}</li>")
            items.append(group(layer.title, entries))
        else:
            items.append(f"<li>{_swatch(layer.fill, layer.color, layer.dash)}"
                         f"{escape(layer.title)}</li>")
    for title, pairs in extra:
        items.append(group(title, [f"<li>{_swatch(colour, '#1b2631', None)}{escape(label)}</li>"
                                   for label, colour in pairs]))
    return (f'<section class="og-legend" aria-labelledby="og-legende"><h2 id="og-legende">Légende'
            f"</h2><ul>{''.join(items)}</ul></section>")


def _list_item(layer: str, feature: dict[str, Any], details: list[str]) -> str:
    props = feature["properties"]
    meta = " · ".join(escape(str(props[d])) for d in details if props.get(d))
    button = (f'<button type="button" data-og-layer="{escape(layer)}" '
              f'data-og-id="{escape(str(feature["id"]))}">{escape(props["_libelle"])}</button>')
    return f'<li>{button}{f"<span class=og-meta>{meta}</span>" if meta else ""}</li>'


def _aside(prepared: dict[str, _Layer], legend: str, basemap_note: str, sources: str) -> str:
    parts = ['<aside class="og-aside" aria-label="Légende et liste des secteurs et des actions">',
             legend, '<div id="og-liste" tabindex="-1">',
             "<p>Chaque élément de la liste ouvre sa fiche sur la carte.</p>"]
    sectors = prepared.get("secteurs_ort")
    if sectors:
        parts.append("<h2>Secteurs d'intervention ORT</h2><ul>")
        parts += [_list_item("secteurs_ort", f, ["type", "date_debut"])
                  for f in sectors.collection["features"]]
        parts.append("</ul>")
    actions = prepared.get("actions")
    if actions:
        parts.append("<h2>Actions du programme</h2>")
        by_group: dict[str, list[dict]] = {}
        for feature in actions.collection["features"]:
            by_group.setdefault(feature["properties"].get("orientation", "Sans orientation"),
                                []).append(feature)
        for group in sorted(by_group):
            parts.append(f"<h3>Orientation {escape(group)}</h3><ul>")
            parts += [_list_item("actions", f, ["statut", "maitre_ouvrage", "cout_ht"])
                      for f in by_group[group]]
            parts.append("</ul>")
    parts.append(f'</div>{sources}<p class="og-meta">{basemap_note}</p></aside>')
    return "".join(parts)


# -- the maps ------------------------------------------------------------------------------------


def _territory_title(store: Store) -> str:
    """"<territory> — Petites villes de demain", from the manifest the store was built from."""
    meta = store.get_meta("territory")
    try:
        name = json.loads(meta.get("manifest") or "{}").get("title")
    except json.JSONDecodeError:
        name = None
    name = name or meta.get("title")
    return f"{name} — Petites villes de demain" if name else DEFAULT_TITLE


def _sources(store: Store, names: list[str], audience: Audience) -> str:
    """Credits of the layers shown, and what is indicative or generated."""
    items = []
    for name in names:
        meta = store.get_meta(name)
        text = meta.get("credit") or meta.get("source") or ""
        if meta.get("indicatif") == "oui":
            text += " — tracés indicatifs"
        if meta.get("demo") == "oui":
            text += " — données de démonstration générées, aucun bâtiment réel"
        elif audience == "staff" and meta.get("note"):
            text += f" ({meta['note']})"
        if text:
            items.append(f"<li><strong>{escape(CATALOGUE[name].title)}</strong> : "
                         f"{escape(text.lstrip(' —'))}</li>")
    if not items:
        return ""
    return '<h2>Sources</h2><ul class="og-sources">' + "".join(items) + "</ul>"


View = tuple[float, float, int]


def _base_map(fit: list[list[float]], basemap: str, view: View | None = None) -> folium.Map:
    if basemap not in BASEMAPS:
        raise InputError(f"Fond de plan inconnu « {basemap} » : choisir parmi {', '.join(BASEMAPS)}.")
    m = folium.Map(location=None if view is None else [view[0], view[1]],
                   zoom_start=10 if view is None else view[2], tiles=None, control_scale=False,
                   zoom_control=True)
    m.default_js = elements.LEAFLET_JS  # no CDN: vendored Leaflet only (no jQuery, no Bootstrap)
    m.default_css = elements.LEAFLET_CSS
    if view is None:
        # keep the data clear of the layer switcher (top right)
        m.fit_bounds(fit, padding_top_left=(20, 20), padding_bottom_right=(20, 20))
    folium.TileLayer(tiles=xyz.OpenStreetMap.Mapnik.build_url(), attr=OSM_ATTRIBUTION,
                     name="OpenStreetMap", max_zoom=19, show=basemap == "osm").add_to(m)
    folium.TileLayer(tiles=xyz.GeoportailFrance.plan.build_url(), attr=IGN_ATTRIBUTION,
                     name="Plan IGN v2 (IGN)", max_zoom=19, show=basemap == "ign").add_to(m)
    elements.BlankBaseLayer(show=basemap == "aucun").add_to(m)
    return m


def _add_layers(m: folium.Map, prepared: list[_Layer], audience: Audience) -> None:
    for entry in prepared:
        layer = entry.config
        geojson = folium.GeoJson(
            entry.collection, name=layer.title, show=layer.show, control=True,
            style_function=_style(layer, audience), zoom_on_click=False,
            marker=folium.CircleMarker(radius=8, weight=1.5),
        )
        fields = [(n, entry.spec.field(n).label) for n in layer.popup]
        geojson.add_child(elements.FeatureDetails(layer.name, fields))
        geojson.add_to(m)


def _finish(m: folium.Map, prepared: list[_Layer], *, title: str, subtitle: str,
            banner: str | None, legend_extra: list, audience: Audience,
            sources: str, links: Sequence[tuple[str, str]] = ()) -> folium.Map:
    # Folded by default: open, the switcher covered a quarter of the map and part of the popups.
    control = folium.LayerControl(position="topright", collapsed=True).add_to(m)
    m.add_child(elements.fullscreen())
    m.add_child(elements.Search())
    searchable = [e.config.name for e in prepared if e.config.searchable]
    label = f"Carte interactive : {title}"
    m.add_child(elements.Runtime(label=label, layer_control=control.get_name(),
                                 search=searchable))
    figure = m.get_root()
    figure.title = f"{title} — {'carte de travail' if audience == 'staff' else 'carte du programme'}"  # type: ignore[attr-defined]
    figure.html.add_child(elements.page_header(title, subtitle, banner, links), index=0)  # type: ignore[attr-defined]
    note = ("Fonds de plan : OpenStreetMap ou Plan IGN v2, chargés depuis Internet ; "
            "hors connexion, les couches du programme restent affichées.")
    aside = _aside({e.config.name: e for e in prepared}, _legend(prepared, legend_extra), note,
                   sources)
    figure.html.add_child(folium.Element(aside))  # type: ignore[attr-defined]
    return m


def _prepared_layers(store: Store, audience: Audience) -> tuple[list[_Layer], list[str]]:
    prepared, omitted = [], []
    for layer in style.layers_for(store):
        entry = _prepare(store, layer, audience)
        if entry is None:
            omitted.append(layer.name)
        else:
            prepared.append(entry)
    if not prepared:
        raise InputError("L'entrepôt ne contient aucune couche à cartographier.")
    return prepared, omitted


def _fit(prepared: list[_Layer], prefer: tuple[str, ...] = (),
         main_centre: bool = False) -> list[list[float]]:
    """Bounds of the preferred layers (all layers when none of them is there).

    ``main_centre`` narrows the sectors to the main town's centre-ville when there is one.
    """
    chosen = [e for e in prepared if e.config.name in prefer] or prepared
    geoms = [g for e in chosen for g in e.frame.geometry]
    if main_centre:
        sectors = next((e.frame for e in prepared if e.config.name == "secteurs_ort"), None)
        if sectors is not None and "type" in sectors:
            centre = sectors[sectors["type"] == "centre_ville_principal"]
            geoms = list(centre.geometry) or geoms
    return bounds(gpd.GeoDataFrame(geometry=gpd.GeoSeries(geoms, crs=chosen[0].frame.crs)))


def public_map(store: Store, *, title: str | None = None, basemap: str = "osm",
               view: View | None = None) -> folium.Map:
    """The residents' map: public layers and fields only, in French.

    ``view`` (latitude, longitude, zoom) sets the opening view; by default it frames the sectors
    (actions outside them stay one click away in the list).
    """
    prepared, omitted = _prepared_layers(store, "public")
    title = title or _territory_title(store)
    m = _base_map(_fit(prepared, prefer=("secteurs_ort",)), basemap, view)
    _add_layers(m, prepared, "public")
    m._ort_geo = {"layers": {e.config.name: len(e.collection["features"]) for e in prepared},  # type: ignore[attr-defined]
                  "omitted": omitted, "buildings": 0}
    subtitle = ("Secteurs d'intervention, zones et actions de l'opération de revitalisation "
                "de territoire (ORT).")
    return _finish(m, prepared, title=title, subtitle=subtitle, banner=None, legend_extra=[],
                   audience="public",
                   sources=_sources(store, [e.config.name for e in prepared], "public"))


def staff_map(store: Store, *, title: str | None = None, basemap: str = "osm",
              view: View | None = None, tiles_url: str | None = None,
              links: Sequence[tuple[str, str]] = ()) -> folium.Map:
    """The partners' working map: every layer plus buildings by condition and vacancy.

    Without ``tiles_url`` the buildings are embedded as one PMTiles archive: a file that works
    offline, for the extent of one town or so. With ``tiles_url`` (the API's building tiles,
    ``{z}/{y}/{x}``) the page reads them tile by tile from the API with the key of its session
    (:mod:`.served`): any extent, a whole département, and what that key may see. ``links``:
    the header's links to the site's other pages (``(href, text)``), for the served map.
    """
    prepared, omitted = _prepared_layers(store, "staff")
    title = title or _territory_title(store)
    m = _base_map(_fit(prepared, prefer=("secteurs_ort",), main_centre=True), basemap,
                  view)
    _add_layers(m, prepared, "staff")
    spec = CATALOGUE["batiments"]
    count = store.count("batiments")
    low, high = vector_tiles.zooms("batiments") if tiles_url else (tiles.MIN_ZOOM, tiles.MAX_ZOOM)
    if count:
        source: dict[str, str] = {"url": tiles_url} if tiles_url else {}
        if not tiles_url:
            frame = store.read("batiments", columns=list(style.BUILDING_FIELDS))
            archive = tiles.buildings_pmtiles(frame, list(style.BUILDING_FIELDS))
            data = elements.ArchiveData(base64.b64encode(archive).decode())
            m.add_child(data)
            source["archive"] = data.get_name()
        fields = [(n, spec.field(n).label) for n in style.BUILDING_FIELDS if n != "id"]
        conditions = {k: list(v) for k, v in style.CONDITIONS.items()}
        for mode, name, palette, show in (
            ("etat", "Bâtiments — état du bâti", style.CONDITIONS, True),
            ("vacance", "Bâtiments — vacance des logements", style.VACANCY, False),
        ):
            elements.BuildingTiles(
                name, **source, mode=mode, palette={k: list(v) for k, v in palette.items()},
                fields=fields, conditions=conditions, min_zoom=low, max_zoom=high, show=show,
            ).add_to(m)
    else:
        omitted.append("batiments")
    m._ort_geo = {"layers": {e.config.name: len(e.collection["features"]) for e in prepared},  # type: ignore[attr-defined]
                  "omitted": omitted, "buildings": count}
    legend_extra = [
        ("Bâtiments — état du bâti", [v for k, v in style.CONDITIONS.items() if k]),
        ("Bâtiments — vacance", list(style.VACANCY.values())),
    ] if count else []
    subtitle = (f"Carte de travail des partenaires : bâtiments visibles à partir du niveau de "
                f"zoom {low}, colorés par état du bâti ou par vacance.")
    return _finish(m, prepared, title=title, subtitle=subtitle, banner=BANNER,
                   legend_extra=legend_extra, audience="staff", links=links,
                   sources=_sources(store, [e.config.name for e in prepared]
                                    + (["batiments"] if count else []), "staff"))


def render_html(m: folium.Map) -> str:
    """The map as one self-contained HTML document (French, no external script or stylesheet)."""
    html = assets.inline_assets(m.get_root().render())
    # folium's viewport forbids zooming the page (WCAG 2.1 SC 1.4.4, axe "meta-viewport").
    html = re.sub(r",\s*maximum-scale=[0-9.]+,\s*user-scalable=no", "", html, count=1)
    return html.replace("<html>", '<html lang="fr">', 1)


def write_map(store: Store, path: str | os.PathLike[str], *, audience: Audience = "public",
              basemap: str = "osm", title: str | None = None,
              view: View | None = None) -> MapReport:
    """Build the public or staff map of a store and write it to ``path``."""
    build = public_map if audience == "public" else staff_map
    m = build(store, title=title, basemap=basemap, view=view)
    html = render_html(m)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(target)
    info = m._ort_geo  # type: ignore[attr-defined]
    return MapReport(target, audience, target.stat().st_size, info["layers"], info["omitted"],
                     info["buildings"])
