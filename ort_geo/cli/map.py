"""``ort-geo map``: the residents' public map or the staff map, as one self-contained HTML file."""

from __future__ import annotations

import click

from ..store import open_store
from ..webmap import BASEMAPS, write_map
from ._common import console, omitted, store_option


@click.command("map")
@click.option("--public", "audience", flag_value="public", default=True,
              help="Carte des habitants : couches et champs publics seulement (par défaut).")
@click.option("--staff", "audience", flag_value="staff",
              help="Carte de travail des partenaires : bâtiments, vacance, statistiques.")
@click.option("--sortie", "-o", "output", default="carte.html", show_default=True,
              type=click.Path(dir_okay=False), help="Fichier HTML à écrire.")
@click.option("--fond", "basemap", type=click.Choice(BASEMAPS), default="osm", show_default=True,
              help="Fond de plan affiché à l'ouverture (osm, ign : Plan IGN v2, aucun).")
@click.option("--titre", "title", help="Titre de la page (par défaut : celui du territoire).")
@click.option("--capture", "png", type=click.Path(dir_okay=False),
              help="Écrit aussi une capture PNG de la carte (chromium sans interface).")
@store_option
def command(audience: str, output: str, basemap: str, title: str | None, png: str | None,
            store: str) -> None:
    """Écrit la carte web (un seul fichier HTML, utilisable hors connexion)."""
    with open_store(store) as st, console.status("Préparation de la carte…"):
        report = write_map(st, output, audience=audience, basemap=basemap,  # type: ignore[arg-type]
                           title=title)
    kind = "publique" if audience == "public" else "de travail (diffusion restreinte)"
    console.print(f"Carte {kind} écrite : {report}", highlight=False)
    if png:
        from ..errors import MissingExtraError, MissingToolError
        from ..webmap.browser import screenshot

        try:
            with console.status("Capture de la carte…"):
                screenshot(output, png, ready=_ready(audience))
        except (MissingExtraError, MissingToolError) as exc:  # the map itself is written
            omitted(exc)
            return
        console.print(f"Capture écrite : {png}", highlight=False)


def _ready(audience: str) -> str:
    from ..webmap.browser import READY, READY_TILES

    return READY_TILES if audience == "staff" else READY
