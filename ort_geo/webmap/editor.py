"""The planners' editor (``/editeur``): one HTML page, scripts vendored and inlined, no CDN.

The page is static: it holds the catalogue's form description (types, enumerations, required
fields, French labels), the map styles and the basemaps; every piece of data — layers, buildings,
checks, saves, history — comes from the HTTP API with the planner's key. The API serves this page
and adds no geoprocessing: checks, splits, merges and diffs are library functions.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from typing import Any

import xyzservices.providers as xyz

from .. import vector_tiles
from ..catalogue import CATALOGUE, LayerSpec
from ..display import CHOICE_LABELS
from . import assets, style
from .maps import BANNER, IGN_ATTRIBUTION, OSM_ATTRIBUTION

#: Layers drawn under the editable ones, for context and snapping (read-only in the editor).
CONTEXT_LAYERS = ("communes", "strates")
#: Layers the editor does not offer for drawing although the catalogue marks them editable.
_NOT_DRAWN: tuple[str, ...] = ()
_SCRIPTS = (
    ("leaflet", "dist/leaflet.js"),
    ("@geoman", "dist/leaflet-geoman.min.js"),
    ("leaflet.vectorgrid", "dist/Leaflet.VectorGrid.bundled.min.js"),
    (assets.OWN, "tiles.js"),
    (assets.OWN, "editeur.js"),
)
_STYLES = (
    ("leaflet", "dist/leaflet.css"),
    ("@geoman", "dist/leaflet-geoman.css"),
    (assets.OWN, "editeur.css"),
)
GEOMAN = "leaflet-geoman-free"


def _field(spec: LayerSpec, name: str) -> dict[str, Any]:
    f = spec.field(name)
    out: dict[str, Any] = {"name": f.name, "type": f.type, "label": f.label,
                           "required": f.required or name == spec.key}
    if f.choices:
        out["choices"] = [[c, CHOICE_LABELS.get(c, c)] for c in f.choices]
    if f.minimum is not None:
        out["min"] = f.minimum
    if f.maximum is not None:
        out["max"] = f.maximum
    return out


def _layer_style(name: str) -> dict[str, Any]:
    config = next((m for m in style.PUBLIC_LAYERS if m.name == name), None)
    if config is None:
        return {"color": "#1f618d", "fill": "#5dade2"}
    out: dict[str, Any] = {"color": config.color, "fill": config.fill or config.color,
                           "dash": config.dash, "weight": config.weight or 1}
    if config.category:
        out["category"] = config.category
        out["palette"] = {k: v[1] for k, v in config.palette.items()}
    out["label"] = list(config.label)
    return out


def editor_config() -> dict[str, Any]:
    """What the page's script needs: editable layers and their forms, context layers, basemaps."""
    # Tables without geometry (financing lines, indicator values) are edited elsewhere.
    editable = [spec for spec in CATALOGUE
                if spec.editable and spec.spatial and spec.name not in _NOT_DRAWN]
    return {
        "layers": [{"name": s.name, "title": s.title, "geometry": s.geometry, "key": s.key,
                    "overlap": s.allow_overlap,
                    "fields": [_field(s, n) for n in s.field_names],
                    "style": _layer_style(s.name)} for s in editable],
        "context": [{"name": n, "title": CATALOGUE[n].title, "style": _layer_style(n)}
                    for n in CONTEXT_LAYERS],
        "basemaps": [
            {"name": "OpenStreetMap", "url": xyz.OpenStreetMap.Mapnik.build_url(),
             "attribution": OSM_ATTRIBUTION},
            {"name": "Plan IGN v2 (IGN)", "url": xyz.GeoportailFrance.plan.build_url(),
             "attribution": IGN_ATTRIBUTION},
            {"name": "Aucun fond de plan", "url": None, "attribution": ""},
        ],
        # The API's building tiles (OGC API – Tiles), y before x as the standard orders them.
        "buildings": {"url": f"collections/batiments/tiles/{vector_tiles.TMS_ID}/{{z}}/{{y}}/{{x}}",
                      "minZoom": vector_tiles.zooms("batiments")[0],
                      "maxNativeZoom": vector_tiles.zooms("batiments")[1],
                      "palette": {k: list(v) for k, v in style.CONDITIONS.items()},
                      "vacancy": {k: list(v) for k, v in style.VACANCY.items()}},
        "query": {"conditions": [[c, CHOICE_LABELS.get(c, c)] for c in
                                 CATALOGUE["batiments"].field("etat").choices]},
    }


def _tag(package: str, path: str, kind: str) -> str:
    folder = GEOMAN if package == "@geoman" else package
    if kind == "js":
        return f'<script src="{assets.url(folder, path)}"></script>'
    return f'<link rel="stylesheet" href="{assets.url(folder, path)}">'


@cache
def editor_page(title: str = "Programme Petites villes de demain", basemap: str = "osm") -> str:
    """The editor's HTML (French), every script and stylesheet inlined."""
    config = editor_config()
    config["basemap"] = {"osm": 0, "ign": 1}.get(basemap, 2)
    head = "".join(_tag(p, f, "css") for p, f in _STYLES)
    scripts = "".join(_tag(p, f, "js") for p, f in _SCRIPTS)
    data = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
    page = _PAGE.format(title=escape(title), banner=escape(BANNER), head=head, scripts=scripts,
                        config=data)
    return assets.inline_assets(page)


_PAGE = """<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Éditeur des secteurs — {title}</title>
{head}
</head>
<body>
<header class="ed-header">
  <h1>Éditeur des secteurs et des zones <span class="ed-sub">{title}</span></h1>
  <p class="ed-banner" role="note">{banner}</p>
  <p id="ed-who" class="ed-who" aria-live="polite"></p>
  <nav class="ed-links" aria-label="Autres pages"><a href="carte">Carte de travail</a></nav>
</header>
<main class="ed-main">
  <section id="ed-login" class="ed-login" aria-labelledby="ed-login-title">
    <h2 id="ed-login-title">Connexion</h2>
    <form id="ed-login-form">
      <label for="ed-key">Clé d'API (rôle éditeur pour modifier, agent pour consulter)</label>
      <input id="ed-key" type="password" autocomplete="off" required>
      <button type="submit" id="ed-login-button">Se connecter</button>
      <p id="ed-login-error" class="ed-error" role="alert"></p>
    </form>
  </section>
  <div id="ed-app" class="ed-app" hidden>
    <aside class="ed-aside" aria-label="Outils de l'éditeur">
      <nav class="ed-tabs" role="tablist" aria-label="Modes">
        <button type="button" role="tab" id="ed-tab-edition" aria-controls="ed-panel-edition"
                aria-selected="true" accesskey="e">Édition</button>
        <button type="button" role="tab" id="ed-tab-historique" aria-controls="ed-panel-historique"
                aria-selected="false" accesskey="h">Historique</button>
        <button type="button" role="tab" id="ed-tab-requete" aria-controls="ed-panel-requete"
                aria-selected="false" accesskey="r">Requête</button>
      </nav>
      <section id="ed-panel-edition" role="tabpanel" aria-labelledby="ed-tab-edition">
        <label for="ed-layer">Couche modifiée</label>
        <select id="ed-layer"></select>
        <div class="ed-tools" role="toolbar" aria-label="Outils de dessin">
          <button type="button" id="ed-new" data-editor-only>Nouvel objet</button>
          <label for="ed-shape" id="ed-shape-label" hidden>Forme dessinée</label>
          <select id="ed-shape" hidden><option value="Marker">Point</option>
            <option value="Polygon">Surface</option><option value="Line">Ligne</option></select>
          <button type="button" id="ed-reshape" data-editor-only>Modifier les sommets</button>
          <button type="button" id="ed-hole" data-editor-only>Percer un trou</button>
          <button type="button" id="ed-split" data-editor-only>Couper en deux</button>
          <button type="button" id="ed-merge" data-editor-only>Fusionner avec…</button>
          <button type="button" id="ed-move" data-editor-only>Déplacer</button>
          <button type="button" id="ed-delete" data-editor-only>Supprimer</button>
          <button type="button" id="ed-undo" data-editor-only title="Ctrl+Z">Annuler</button>
          <button type="button" id="ed-redo" data-editor-only title="Ctrl+Y">Rétablir</button>
        </div>
        <p id="ed-hint" class="ed-hint" aria-live="polite"></p>
        <h2>Objets de la couche</h2>
        <ul id="ed-list" class="ed-list"></ul>
      </section>
      <section id="ed-panel-historique" role="tabpanel" aria-labelledby="ed-tab-historique" hidden>
        <p id="ed-history-target" class="ed-hint">Choisissez un objet dans la liste de l'onglet
          Édition, puis revenez ici.</p>
        <ol id="ed-versions" class="ed-list"></ol>
        <div class="ed-tools">
          <button type="button" id="ed-compare">Comparer les deux versions cochées</button>
          <button type="button" id="ed-restore" data-editor-only>Restaurer la version affichée</button>
        </div>
        <div id="ed-diff" aria-live="polite"></div>
      </section>
      <section id="ed-panel-requete" role="tabpanel" aria-labelledby="ed-tab-requete" hidden>
        <fieldset>
          <legend>Périmètre</legend>
          <button type="button" id="ed-q-draw">Dessiner un périmètre</button>
          <label for="ed-q-file">ou envoyer un fichier (GeoJSON, GeoPackage, Shapefile zippé…)</label>
          <input type="file" id="ed-q-file">
          <label for="ed-q-sector">ou choisir un secteur</label>
          <select id="ed-q-sector"><option value="">—</option></select>
        </fieldset>
        <fieldset>
          <legend>Filtres (comme ort-geo query)</legend>
          <label><input type="checkbox" id="ed-q-vacant"> Au moins un logement vacant</label>
          <label><input type="checkbox" id="ed-q-longue"> Vacance de deux ans ou plus</label>
          <label><input type="checkbox" id="ed-q-pdl"> Dans une zone de permis de louer</label>
          <label for="ed-q-etat">État du bâti</label>
          <select id="ed-q-etat" multiple size="4"></select>
          <label for="ed-q-apres">Construit en ou après</label>
          <input id="ed-q-apres" type="number" min="1000" max="2100">
          <label for="ed-q-avant">Construit en ou avant</label>
          <input id="ed-q-avant" type="number" min="1000" max="2100">
        </fieldset>
        <div class="ed-tools">
          <button type="button" id="ed-q-run">Chercher les bâtiments</button>
          <button type="button" id="ed-q-gpkg">Exporter en GeoPackage</button>
          <button type="button" id="ed-q-csv">Exporter en CSV (Excel)</button>
        </div>
        <div id="ed-q-stats" aria-live="polite"></div>
        <ul id="ed-q-list" class="ed-list"></ul>
      </section>
    </aside>
    <div class="ed-mapwrap">
      <div id="ed-map" class="ed-map" role="region" aria-label="Carte de l'éditeur"></div>
      <section id="ed-form-panel" class="ed-form-panel" aria-labelledby="ed-form-title" hidden>
        <h2 id="ed-form-title">Attributs</h2>
        <form id="ed-form" novalidate>
          <div id="ed-fields"></div>
          <label for="ed-message">Message du journal (ex. « délibération du 12 mars 2026 »)</label>
          <input id="ed-message" type="text" maxlength="500">
          <div class="ed-tools">
            <button type="button" id="ed-check">Vérifier les règles</button>
            <button type="submit" id="ed-save" data-editor-only accesskey="s">Enregistrer</button>
            <button type="button" id="ed-cancel">Abandonner</button>
          </div>
        </form>
        <div id="ed-violations" class="ed-violations" role="status" aria-live="polite"></div>
        <div id="ed-conflict" class="ed-conflict" role="alertdialog" aria-labelledby="ed-conflict-title" hidden>
          <h3 id="ed-conflict-title">Conflit : quelqu'un d'autre a modifié cet objet</h3>
          <p>Votre version (orange, tirets) et la version enregistrée entre-temps (bleu) sont sur
            la carte. Rien n'est perdu : choisissez.</p>
          <button type="button" id="ed-keep-mine">Garder ma version</button>
          <button type="button" id="ed-take-theirs">Prendre l'autre version</button>
          <button type="button" id="ed-redraw">Redessiner à partir de l'autre version</button>
        </div>
        <p id="ed-status" class="ed-status" role="status" aria-live="polite"></p>
      </section>
    </div>
  </div>
</main>
<script id="ed-config" type="application/json">{config}</script>
{scripts}
</body>
</html>
"""
