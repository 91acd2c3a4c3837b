"""``ort-geo stats``: statistics per zone, as a table, French CSV or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd
from rich.table import Table

from ..privacy import MASK_NOTE
from ..stats import labelled, sector_stats, stat_column, stats_records
from ..store import open_store
from ._common import console, store_option


def _fr(value, kind: str | None) -> str:
    """A number the French way: thin-space thousands, decimal comma."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "inconnu"
    if isinstance(value, str):
        return value
    if kind in ("rate", "measure"):
        text = f"{value:,.1f}" if kind == "rate" else f"{value:,.2f}"
    else:
        text = f"{value:,.0f}"
    return text.replace(",", "\u202f").replace(".", ",")


@click.command("stats")
@click.argument("layer", required=False)
@click.option("--perimetre", "perimeter", type=click.Path(dir_okay=False),
              help="Fichier de périmètre (GeoPackage, GeoJSON, Shapefile…) au lieu d'une couche.")
@click.option("--public", is_flag=True, help="Statistiques publiques : année de référence de l'atlas, secret "
              "statistique (« secret ») protégé contre les recoupements.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Format de sortie.")
@click.option("--annee", "year", type=int, help="Année de référence (vacance de longue durée).")
@click.option("--sortie", "-o", "output", type=click.Path(dir_okay=False),
              help="Écrit le résultat dans ce fichier au lieu de l'afficher.")
@store_option
def command(layer, perimeter, public, fmt, year, output, store):
    """Statistiques par zone d'une couche (secteurs_ort, permis_de_louer, strates, communes…)
    ou d'un périmètre, avec une ligne pour l'ensemble du territoire."""
    if not layer and not perimeter:
        raise click.UsageError("Indiquez une couche de zones ou --perimetre FICHIER.")
    with open_store(store) as st:
        frame = sector_stats(st, layer, public=public, perimeter=perimeter, reference_year=year)
    if output and fmt == "table":
        raise click.UsageError("--sortie demande --format csv ou json.")
    if fmt == "json":
        text = json.dumps(stats_records(frame), ensure_ascii=False, indent=2)
    elif fmt == "csv":
        text = labelled(frame).to_csv(sep=";", decimal=",", index=False)
    else:
        # One row per statistic, one column per zone: readable in a terminal.
        table = Table(title=f"Statistiques — {frame.attrs['layer']}"
                      + (" (secret statistique appliqué)" if public else ""))
        table.add_column("Indicateur")
        for fid, name in zip(frame["id"], frame["nom"], strict=True):
            table.add_column(str(name) if isinstance(name, str) else str(fid), justify="right")
        for col in filter(None, map(stat_column, frame.columns)):
            table.add_row(col.label, *(_fr(v, col.kind) for v in frame[col.name]))
        console.print(table)
        if public:
            console.print(MASK_NOTE)
        return
    if output:
        Path(output).write_text(text, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
        console.print(f"Statistiques écrites dans {output}")
    else:
        click.echo(text, nl=False)
