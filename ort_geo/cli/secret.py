"""``ort-geo secret verifier``: the audit of the statistical secrecy, from public outputs alone."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from ..privacy import SECRECY_THRESHOLD
from ..secrecy import AuditReport, audit, audit_store, public_outputs_from_api
from ..stats import BY_NAME
from ..store import open_store
from ._common import console, store_option


@click.group("secret", subcommand_metavar="COMMANDE [ARGUMENTS]...")
def command() -> None:
    """Secret statistique des publications (statistiques publiques)."""


def _fr(value: float) -> str:
    if value == float("inf"):
        return "∞"
    return f"{value:.1f}".replace(".", ",").removesuffix(",0")


def _print(report: AuditReport, detail: bool, source: str) -> None:
    cells = report.cells if detail else report.failures
    if cells:
        table = Table(title="Cases masquées : intervalle des valeurs compatibles avec les "
                      "chiffres publiés")
        for name, justify in (("Couche", "left"), ("Zone", "left"), ("Indicateur", "left"),
                              ("Intervalle", "right"), ("Largeur", "right"),
                              ("Exigée", "right"), ("Protégée", "center")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for c in cells:
            table.add_row(c.layer, c.zone, BY_NAME[c.column].label,
                          f"[{_fr(c.low)} ; {_fr(c.high)}]", _fr(c.width), _fr(c.required),
                          "oui" if c.ok else "[bold red]NON[/]")
        console.print(table)
    n, bad = len(report.cells), len(report.failures)
    if bad:
        console.print(f"[bold red]Secret statistique insuffisant[/] ({source}) : {bad} case(s) "
                      f"masquée(s) sur {n} se déduisent à moins de {report.threshold} près.")
    else:
        console.print(f"Secret statistique vérifié ({source}) : {n} case(s) masquée(s), chacune "
                      f"garde un intervalle d'au moins {report.threshold} (ou toute l'étendue "
                      "que les données publiques permettent).")


@command.command("verifier")
@click.option("--api", "api_url", help="URL d'une API ort-geo (lue sans clé, comme tout le "
              "monde) au lieu de l'entrepôt.")
@click.option("--seuil", "threshold", type=click.IntRange(min=1), default=SECRECY_THRESHOLD,
              show_default=True, help="Largeur minimale de l'intervalle d'une case masquée.")
@click.option("--detail", is_flag=True, help="Affiche chaque case masquée, pas seulement les "
              "défaillantes.")
@store_option
def verify(api_url: str | None, threshold: int, detail: bool, store: str) -> None:
    """Recalcule, à partir des seules publications (tableaux publics, zones, bâtiments publics),
    l'intervalle de chaque case masquée par programmation linéaire ; code de sortie 1 si une
    case est déductible à moins du seuil près."""
    if api_url:
        tables, zones, records = public_outputs_from_api(api_url)
        report = audit(tables, zones, records, threshold)
        source = api_url
    else:
        with open_store(store) as st:
            report = audit_store(st, threshold=threshold)
        source = "publications de l'entrepôt"
    _print(report, detail, source)
    if not report.ok:
        sys.exit(1)
