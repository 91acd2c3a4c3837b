"""``ort-geo import-batiments``: BD TOPO, RNB or LOVAC-like files into the buildings layer."""

from __future__ import annotations

import click

from ..importers import FORMATS, import_buildings
from ._common import author_option, console, opened, store_option


@click.command("import-batiments")
@click.argument("fichier", type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True,
              help="bdtopo : couche « batiment » de la BD TOPO ; rnb : export CSV du RNB ; "
                   "lovac : fichier de logements de type LOVAC (CSV).")
@click.option("--sans-rattachement", "no_attach", is_flag=True,
              help="LOVAC : ne pas rattacher les logements aux emprises existantes.")
@click.option("--distance", default=30.0, show_default=True,
              help="LOVAC : distance maximale (m) entre un logement et l'emprise rattachée.")
@click.option("--hors-territoire", "keep_outside", is_flag=True,
              help="Garder aussi les bâtiments situés hors des communes du territoire.")
@store_option
@author_option
def command(fichier: str, fmt: str, no_attach: bool, distance: float, keep_outside: bool,
            store: str, author: str) -> None:
    """Importe des bâtiments réels (BD TOPO, RNB) ou des logements (LOVAC) dans « batiments »."""
    st = opened(store)
    with console.status("Import des bâtiments…") as status:
        report = import_buildings(st, fichier, fmt, author=author,  # type: ignore[arg-type]
                                  attach=not no_attach, max_distance=distance,
                                  keep_outside=keep_outside,
                                  progress=lambda line: status.update(
                                      f"Import des bâtiments… {line}"))
    console.print(str(report), highlight=False)
