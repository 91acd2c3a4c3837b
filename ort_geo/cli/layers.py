"""``ort-geo layers``: each layer with its feature count and extent."""

from __future__ import annotations

import click
from rich.table import Table

from ._common import console, opened, store_option


@click.command("layers")
@store_option
def command(store: str) -> None:
    """Liste les couches de l'entrepôt, leur nombre d'objets et leur emprise (dans le SCR de
    l'entrepôt : Lambert-93 en métropole, UTM outre-mer)."""
    st = opened(store)
    table = Table(title=f"Couches de {store}")
    for col in ("couche", "titre", "géométrie", "objets", f"emprise (EPSG:{st.epsg})"):
        table.add_column(col, justify="right" if col == "objets" else "left")
    for name in st.layer_names():
        spec = st.spec(name)
        extent = st.extent(name)
        box = "—" if extent is None else " ".join(f"{v:.0f}" for v in extent)
        kind = spec.geometry if spec.spatial else "aucune (table)"
        table.add_row(name, spec.title, kind, str(st.count(name)), box)
    console.print(table)
