"""``ort-geo copy``: copy a whole store (GeoPackage ↔ PostGIS), journal included, and verify it."""

from __future__ import annotations

import click

from ..copy import copy_store
from ..store import open_store
from ._common import console, progress


@click.command("copy")
@click.argument("source")
@click.argument("dest", metavar="DESTINATION")
def command(source: str, dest: str) -> None:
    """Copie l'entrepôt SOURCE dans DESTINATION (fichier .gpkg ou URL postgresql://…?schema=nom).

    DESTINATION est créé s'il n'existe pas et doit être vide. Toutes les couches, le journal des
    modifications et les métadonnées sont copiés en une transaction, puis comparés (nombre
    d'objets et empreintes des géométries et des attributs par couche) : la commande échoue si
    la moindre différence apparaît.
    """
    src = open_store(source)
    dst = open_store(dest, create=True, epsg=src.epsg)
    try:
        with progress() as bar:
            tasks: dict[str, int] = {}

            def report(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = bar.add_task(step, total=max(total, 1))
                bar.update(tasks[step], completed=done)  # type: ignore[arg-type]

            result = copy_store(src, dst, progress=report)
    finally:
        src.close()
        dst.close()
    console.print(str(result), highlight=False)
