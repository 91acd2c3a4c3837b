"""``ort-geo diff``: what changed between two versions of a zone (surfaces and statistics)."""

from __future__ import annotations

import click
from rich.table import Table

from ..clock import format_timestamp
from ..display import format_number
from ..io.write import write_frame
from ..store import open_store
from ..version_diff import compare_versions, format_ha
from ._common import console, store_option

_OPERATIONS = {"insert": "création", "update": "modification", "delete": "suppression"}


def _when(text: str) -> str:
    try:
        return format_timestamp(text)
    except ValueError:
        return text


def _version(summary: dict) -> str:
    text = (f"version {summary['version']} ({_OPERATIONS[summary['operation']]} le "
            f"{_when(summary['date'])} par {summary['auteur']}")
    return text + (f", « {summary['message']} »)" if summary["message"] else ")")


def _value(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return format_number(value, 1)
    return format_number(value) if isinstance(value, int) else str(value)


def _gap(a, b) -> str:
    if a is None or b is None:
        return "—"
    delta = b - a
    sign = "+" if delta > 0 else ("−" if delta < 0 else "")
    return sign + (format_number(abs(delta), 1) if isinstance(delta, float) else
                   format_number(abs(delta)))


@click.command("diff")
@click.argument("layer", metavar="COUCHE")
@click.argument("feature_id", metavar="IDENTIFIANT")
@click.argument("v1", type=int, metavar="VERSION1")
@click.argument("v2", type=int, metavar="VERSION2")
@click.option("--donnees-au", "data_at", metavar="DATE",
              help="Statistiques sur les données telles qu'au DATE (par défaut : actuelles).")
@click.option("--geojson", "geojson_path", type=click.Path(dir_okay=False),
              help="Écrit les surfaces gagnées et perdues (et les deux versions) en GeoJSON.")
@store_option
def command(layer: str, feature_id: str, v1: int, v2: int, data_at: str | None,
            geojson_path: str | None, store: str) -> None:
    """Compare deux versions d'un objet (numéros de « ort-geo history ») : surfaces gagnées et
    perdues en hectares, statistiques de la zone dans chaque version, champs modifiés."""
    with open_store(store) as st:
        diff = compare_versions(st, layer, feature_id, v1, v2, data_at=data_at)
        title = st.spec(layer).title
    fig = diff.figures()
    surfaces = fig["surfaces"]
    console.print(f"[bold]{title} « {feature_id} »[/]", highlight=False)
    console.print(f"  de la {_version(fig['de'])}", highlight=False)
    console.print(f"  à la {_version(fig['a'])}", highlight=False)
    console.print(f"Surface : {format_ha(surfaces['avant_ha'])} → {format_ha(surfaces['apres_ha'])}"
                  f" (solde {'+' if surfaces['solde_ha'] > 0 else ''}"
                  f"{format_ha(surfaces['solde_ha'])})", highlight=False)
    console.print(f"  surface gagnée : {format_ha(surfaces['gagnee_ha'])}", highlight=False)
    console.print(f"  surface perdue : {format_ha(surfaces['perdue_ha'])}", highlight=False)
    stats = fig["statistiques"]
    if stats is not None:
        where = f"données au {data_at}" if data_at else "données actuelles"
        table = Table(title=f"Statistiques de la zone ({where})", title_justify="left")
        table.add_column("Indicateur")
        for head in (f"Version {v1}", f"Version {v2}", "Écart"):
            table.add_column(head, justify="right")
        for name, label in fig["libelles"].items():
            a, b = stats["avant"][name], stats["apres"][name]
            table.add_row(label, _value(a), _value(b), _gap(a, b))
        console.print(table)
    if fig["champs_modifies"]:
        console.print("Champs modifiés :")
        for change in fig["champs_modifies"]:
            console.print(f"  {change['champ']} : {change['avant']!r} → {change['apres']!r}",
                          highlight=False)
    if geojson_path:
        write_frame(diff.frame(), geojson_path, "geojson")
        console.print(f"Géométries écrites dans {geojson_path}", highlight=False)
