"""``ort-geo import``: load a vector file into a layer of the store, with a French report."""

from __future__ import annotations

import click

from ..io import import_file
from ..store import open_store
from ._common import author_option, console, progress, store_option

STAGES = ("Lecture du fichier", "Système de coordonnées", "Géométries", "Champs",
          "Écriture dans l'entrepôt")


@click.command("import")
@click.argument("fichier", type=click.Path(exists=True))
@click.option("--couche", "layer", required=True, help="Couche du catalogue à alimenter.")
@click.option("--scr", "crs", default=None,
              help="SCR des coordonnées (ex. EPSG:3948) s'il manque ou est faux dans le fichier.")
@click.option("--mode", type=click.Choice(["upsert", "replace"]), default="upsert",
              show_default=True,
              help="upsert : ajoute et met à jour ; replace : supprime aussi les objets absents.")
@click.option("--refuser-invalides", "refuse_invalid", is_flag=True,
              help="Refuser les géométries invalides au lieu de les réparer.")
@click.option("--couche-source", "source_layer", default=None,
              help="Couche (ou shapefile) à lire dans un fichier qui en contient plusieurs.")
@click.option("--forcer", "force", is_flag=True,
              help="Importer une couche de zones malgré les violations des règles (inscrites "
                   "au journal).")
@store_option
@author_option
def command(fichier: str, layer: str, crs: str | None, mode: str, refuse_invalid: bool,
            source_layer: str | None, force: bool, store: str, author: str) -> None:
    """Importe FICHIER (GeoJSON, GeoPackage, Shapefile/zip, KML, FlatGeobuf, CSV) dans une couche."""
    st = open_store(store)
    with progress() as bar:
        task = bar.add_task(STAGES[0], total=len(STAGES))

        def step(label: str) -> None:
            done = STAGES.index(label) if label in STAGES else 0
            bar.update(task, description=label, completed=done)

        report = import_file(st, layer, fichier, author=author, mode=mode,  # type: ignore[arg-type]
                             repair=not refuse_invalid, crs=crs, source_layer=source_layer,
                             progress=step, force=force)
        bar.update(task, completed=len(STAGES))
    console.print(str(report), highlight=False)
