"""``ort-geo query``: buildings within a sector or a perimeter file, filtered, exported."""

from __future__ import annotations

import click

from ..query import buildings_within, export_buildings, unknown_note
from ..store import open_store
from ._common import YEAR, console, store_option


@click.command("query")
@click.option("--within", "--dans", "within", metavar="COUCHE:ID|FICHIER",
              help="Périmètre : un objet d'une couche de zones (secteurs_ort:S1), une couche "
                   "entière, ou un fichier (GeoPackage, GeoJSON, Shapefile…).")
@click.option("--vacant/--occupe", "vacant", default=None,
              help="Bâtiments avec (ou sans) logement vacant.")
@click.option("--vacance-longue", "long_term", is_flag=True, default=None,
              help="Vacance depuis 2 ans ou plus.")
@click.option("--etat", "etat", multiple=True,
              type=click.Choice(["bon", "moyen", "degrade", "tres_degrade", "degrades"]),
              help="État du bâti (répétable) ; « degrades » = dégradé ou très dégradé.")
@click.option("--permis-de-louer/--hors-permis-de-louer", "pdl", default=None,
              help="Dans (ou hors de) une zone de permis de louer.")
@click.option("--construit-apres", "built_from", type=int, metavar="ANNÉE",
              help="Construits cette année ou après.")
@click.option("--construit-avant", "built_to", type=int, metavar="ANNÉE",
              help="Construits cette année ou avant.")
@click.option("--annee", "year", type=YEAR, help="Année de référence (vacance de longue durée).")
@click.option("--sortie", "-o", "output", type=click.Path(dir_okay=False), required=True,
              help="Fichier de sortie : .gpkg, .geojson, .zip (Shapefile) ou .csv (tableur, « ; »).")
@store_option
def command(within, vacant, long_term, etat, pdl, built_from, built_to, year, output, store):
    """Liste les bâtiments d'un périmètre selon des filtres et les exporte (usage réservé aux
    agents habilités : le résultat contient des données restreintes)."""
    with open_store(store) as st:
        frame = buildings_within(
            st, within, vacant=vacant, long_term_vacant=long_term, etat=list(etat) or None,
            permis_de_louer=pdl, built_from=built_from, built_to=built_to, reference_year=year,
        )
    export_buildings(frame, output)
    console.print(f"{len(frame)} bâtiment(s) exporté(s) dans {output}")
    note = unknown_note(frame)
    if note:
        console.print(note, highlight=False)
