"""Folium elements of the ort-geo maps (all scripts vendored, see :mod:`.assets`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape

from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.plugins import Fullscreen
from folium.template import Template

from . import assets

LEAFLET_JS = [("leaflet", assets.url("leaflet", "dist/leaflet.js"))]
LEAFLET_CSS = [("leaflet_css", assets.url("leaflet", "dist/leaflet.css"))]


class FeatureDetails(MacroElement):
    """Popups (a French table of fields), tooltips and registration of a folium GeoJson."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        ortGeo.register({{ this.layer_name|tojson }}, {{ this._parent.get_name() }},
                        {{ this.fields|tojson }});
        {% endmacro %}
    """)

    def __init__(self, layer_name: str, fields: list[tuple[str, str]]):
        super().__init__()
        self._name = "FeatureDetails"
        self.layer_name = layer_name
        self.fields = [list(pair) for pair in fields]


class Runtime(JSCSSMixin, MacroElement):
    """ort-geo's own runtime: French controls, search, list alternative, ready flag."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        ortGeo.init({{ this._parent.get_name() }}, {
            label: {{ this.label|tojson }},
            layerControl: {{ this.layer_control }},
            search: {{ this.search|tojson }}
        });
        {% endmacro %}
    """)
    default_js = [("ortgeo_js", assets.url("ort-geo", "ortgeo.js"))]
    default_css = [("ortgeo_css", assets.url("ort-geo", "ortgeo.css"))]

    def __init__(self, *, label: str, layer_control: str, search: list[str]):
        super().__init__()
        self._name = "OrtGeoRuntime"
        self.label = label
        self.layer_control = layer_control
        self.search = search


class Search(JSCSSMixin, MacroElement):
    """Loads leaflet-search; the runtime builds the control over the registered layers."""

    _template = Template("")
    default_js = [("leaflet_search_js", assets.url("leaflet-search", "dist/leaflet-search.min.js"))]
    default_css = [("leaflet_search_css",
                    assets.url("leaflet-search", "dist/leaflet-search.min.css"))]


def fullscreen() -> Fullscreen:
    """folium's full-screen control, in French, with the vendored plugin."""
    control = Fullscreen(position="topleft", title="Afficher la carte en plein écran",
                         title_cancel="Quitter le plein écran", force_separate_button=True)
    control.default_js = [("Control.Fullscreen.js",
                           assets.url("leaflet.fullscreen", "Control.FullScreen.js"))]
    control.default_css = [("Control.FullScreen.css",
                            assets.url("leaflet.fullscreen", "Control.FullScreen.css"))]
    return control


class BlankBaseLayer(Layer):
    """The "no basemap" choice of the basemap switcher."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.layerGroup();
        {% endmacro %}
    """)

    def __init__(self, name: str = "Aucun fond de plan", show: bool = False):
        super().__init__(name=name, overlay=False, control=True, show=show)
        self._name = "BlankBaseLayer"


class BuildingTiles(JSCSSMixin, Layer):
    """Buildings as vector tiles drawn by Leaflet.VectorGrid: from a PMTiles archive embedded in
    the page (``archive``: the JavaScript variable of an :class:`ArchiveData`), or from the API's
    OGC API – Tiles routes (``url``: a ``{z}/{y}/{x}`` template, fetched with the key of the
    page's session, so the tiles carry what that key may see).

    Tiles are decoded only where the map looks, so tens of thousands of buildings stay fluid.
    ``mode`` colours them by condition (``etat``) or by vacancy.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = ortGeoTiles.layer({{ this.source }}, {
            mode: {{ this.mode|tojson }},
            palette: {{ this.palette|tojson }},
            fields: {{ this.fields|tojson }},
            conditions: {{ this.conditions|tojson }},
            headers: ortGeoTiles.sessionHeaders(),
            minZoom: {{ this.min_zoom }}, maxNativeZoom: {{ this.max_zoom }}
        });
        {% endmacro %}
    """)
    default_js = [
        ("vectorgrid_js", assets.url("leaflet.vectorgrid", "dist/Leaflet.VectorGrid.bundled.min.js")),
        ("pmtiles_js", assets.url("pmtiles", "dist/pmtiles.js")),
        ("ortgeo_tiles_js", assets.url("ort-geo", "tiles.js")),
    ]

    def __init__(self, name: str, *, archive: str | None = None, url: str | None = None,
                 mode: str, palette: dict[str, list[str]], fields: list[tuple[str, str]],
                 conditions: dict[str, list[str]], min_zoom: int, max_zoom: int, show: bool):
        super().__init__(name=name, overlay=True, control=True, show=show)
        if (archive is None) == (url is None):
            raise ValueError("BuildingTiles: an archive or a URL template, one of the two")
        self._name = "BuildingTiles"
        # The variable holding the archive, or the template as a JavaScript string.
        self.source = archive if archive is not None else json.dumps(url)
        if url is not None:  # served tiles: no PMTiles reader in the page
            self.default_js = [js for js in self.default_js if js[0] != "pmtiles_js"]
        self.mode = mode
        self.palette = palette
        self.fields = [list(pair) for pair in fields]
        self.conditions = conditions
        self.min_zoom = min_zoom
        self.max_zoom = max_zoom


class ArchiveData(MacroElement):
    """A binary archive embedded once, as base64, in a JavaScript variable."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = ortGeoTiles.archive("{{ this.data }}");
        {% endmacro %}
    """)

    def __init__(self, data_b64: str):
        super().__init__()
        self._name = "ArchiveData"
        self.data = data_b64


def page_header(title: str, subtitle: str, banner: str | None,
                links: Sequence[tuple[str, str]] = ()) -> Element:
    """The page's heading, skip link, (staff) restricted-distribution banner and links to the
    other pages of the site (``(href, text)``; none in a file written by the CLI)."""
    parts = ['<a class="og-skip" href="#og-liste">Aller à la liste des actions et des secteurs</a>',
             '<header class="og-header">']
    if links:  # first, floated right of the title: the header (hence the map) keeps its height
        parts.append('<nav class="og-links" aria-label="Autres pages"><p>' + " · ".join(
            f'<a href="{escape(href)}">{escape(text)}</a>' for href, text in links) + "</p></nav>")
    parts.append(f"<h1>{escape(title)}</h1>")
    if banner:
        parts.append(f'<p class="og-banner" role="note">{escape(banner)}</p>')
    parts.append(f"<p>{escape(subtitle)}</p></header>")
    return Element("".join(parts))


