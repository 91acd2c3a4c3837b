"""``ort-geo init``: create an empty store with every catalogue layer."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import StoreError
from ..store import open_store
from ..store.postgis import masked
from ..territory import load_territory
from ._common import console


@click.command("init")
@click.argument("store")
@click.option("--territoire", "territory", type=click.Path(exists=True, file_okay=False),
              help="Dossier du territoire (layers/<territoire>) dont le manifeste est enregistré.")
def command(store: str, territory: str | None) -> None:
    """Crée un entrepôt vide (fichier GeoPackage, ou schéma PostGIS pour une URL postgresql://)
    avec toutes les couches du catalogue."""
    if _exists(store):
        raise click.ClickException(f"{masked(store)} existe déjà : rien n'a été modifié.")
    manifest = load_territory(territory) if territory else None
    st = open_store(store, create=True)
    if manifest is not None:
        st.set_meta("territory", {"manifest": manifest.model_dump_json()})
    console.print(f"Entrepôt créé : [bold]{masked(store)}[/] ({len(st.layer_names())} couches, "
                  "Lambert-93 EPSG:2154).")


def _exists(store: str) -> bool:
    if not store.startswith(("postgresql://", "postgres://")):
        return Path(store).exists()
    try:
        open_store(store).close()
    except StoreError:
        return False  # absent (or unreachable: creating it will say so)
    return True
