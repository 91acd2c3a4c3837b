"""The staff map served by the API (``/carte``): the same working map as ``ort-geo map --staff``,
with its buildings read tile by tile from the API's OGC API – Tiles routes instead of an archive
embedded in the file, so it shows every building of the store (a whole département).

The page at ``/carte`` holds no data: it asks for an API key (or reuses the one the planner signed
in with in the editor, same browser tab), fetches the working map with it and shows it in place.
The map's building tiles are fetched with the same key, so they carry exactly what that key may
see (:class:`ort_geo.vector_tiles.TileRequest`). The key is never a cookie nor HTTP Basic
credentials the browser would send by itself: no other site can make the browser use it.
"""

from __future__ import annotations

from html import escape

from .. import vector_tiles
from ..store.base import Store
from . import assets
from .maps import BANNER, _territory_title, render_html, staff_map

#: The building tiles, relative to the page (``/carte``): the API's own tile route, y before x.
TILES_URL = f"collections/batiments/tiles/{vector_tiles.TMS_ID}/{{z}}/{{y}}/{{x}}"
#: The editor, relative to the page: the same tab keeps the session's key (sessionStorage), so
#: the editor signs in by itself; the key is never in the link.
EDITOR_LINK = ("editeur", "Éditeur des secteurs et des zones")


def served_staff_map(store: Store, *, basemap: str = "osm") -> str:
    """The working map's HTML for the API (buildings from :data:`TILES_URL`), built once per
    store revision: any write, by the tool or another client, builds it again."""
    return store.cached(("served-staff-map", basemap),
                        lambda: render_html(staff_map(store, basemap=basemap,
                                                      tiles_url=TILES_URL,
                                                      links=[EDITOR_LINK])))


def staff_map_shell(store: Store) -> str:
    """The page of ``/carte``: a sign-in form; no data of the store but its title."""
    title = _territory_title(store)
    return assets.inline_assets(_SHELL.format(title=escape(title), banner=escape(BANNER),
                                              editor=EDITOR_LINK[0], editor_text=EDITOR_LINK[1],
                                              script=assets.url(assets.OWN, "carte.js")))


_SHELL = """<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Carte de travail — {title}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1b2631; }}
header {{ background: #1b2631; color: #fff; padding: .6rem 1rem; }}
h1 {{ font-size: 1.3rem; margin: 0; }}
.og-banner {{ margin: .2rem 0 0; color: #f8c471; font-weight: 600; }}
main {{ max-width: 32rem; margin: 2rem auto; padding: 0 1rem; }}
label, input, button {{ display: block; font: inherit; margin: .4rem 0; }}
input {{ width: 100%; padding: .4rem; box-sizing: border-box; }}
button {{ padding: .4rem 1rem; }}
.og-error {{ color: #922b21; }}
header a {{ color: #fff; }}
</style>
</head>
<body>
<header><h1>Carte de travail — {title}</h1><p class="og-banner" role="note">{banner}</p>
<nav aria-label="Autres pages"><p><a href="{editor}">{editor_text}</a></p></nav></header>
<main>
  <section id="og-login" aria-labelledby="og-login-title">
    <h2 id="og-login-title">Connexion</h2>
    <p>La carte de travail montre l'état et la vacance de chaque bâtiment : elle est réservée aux
      agents (clé d'API de rôle agent ou éditeur).</p>
    <form id="og-login-form">
      <label for="og-key">Clé d'API</label>
      <input id="og-key" type="password" autocomplete="off" required>
      <button type="submit">Ouvrir la carte</button>
    </form>
    <p id="og-login-status" aria-live="polite"></p>
    <p id="og-login-error" class="og-error" role="alert"></p>
  </section>
</main>
<script src="{script}"></script>
</body>
</html>
"""
