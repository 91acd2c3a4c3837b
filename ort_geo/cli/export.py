"""``ort-geo export``: write a layer of the store to a GIS or spreadsheet file."""

from __future__ import annotations

import click

from ..io import FORMATS, export_format, export_layer
from ._common import console, opened, progress, store_option


@click.command("export")
@click.argument("layer", metavar="COUCHE")
@click.option("-o", "--sortie", "output", required=True, type=click.Path(dir_okay=False),
              help="Fichier à écrire (.gpkg, .geojson, .zip, .csv).")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default=None,
              help="Format (par défaut : d'après l'extension du fichier).")
@click.option("--public", is_flag=True,
              help="N'exporter que les champs publics (aucune donnée restreinte).")
@store_option
def command(layer: str, output: str, fmt: str | None, public: bool, store: str) -> None:
    """Exporte la couche COUCHE : GeoPackage, GeoJSON (WGS84), Shapefile zippé ou CSV (tableur)."""
    st = opened(store)
    kind = export_format(output, fmt)
    count = st.count(layer)
    with progress() as bar:
        task = bar.add_task(f"Export de {layer}", total=1)
        path = export_layer(st, layer, output, kind, public=public)
        bar.update(task, completed=1)
    scope = " (champs publics uniquement)" if public else ""
    console.print(f"{count} objet(s) de {layer} exporté(s) en {FORMATS[kind]}{scope} : "
                  f"[bold]{path}[/]", highlight=False)
