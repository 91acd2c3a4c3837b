"""``ort-geo bilan``: the bilan annuel of the ORT (CCH art. L303-2) as a PDF, from the journal."""

from __future__ import annotations

from pathlib import Path

import click

from .. import clock
from ..store import open_store
from ._common import YEAR, console, store_option


@click.command("bilan")
@click.option("--annee", "year", type=YEAR, default=None,
              help="Année du bilan (défaut : l'année écoulée).")
@click.option("--evaluation", is_flag=True,
              help="Évaluation de la période depuis la signature de la convention (tous les "
                   "cinq ans) au lieu du bilan de l'année.")
@click.option("--sortie", "-o", "output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Fichier PDF produit (défaut : bilan-<année>.pdf).")
@click.option("--edition", "-e", type=click.Choice(["public", "staff"]), default="public",
              show_default=True,
              help="public : secret statistique sur les indicateurs issus de données protégées ; "
                   "staff : toutes les valeurs, mention « diffusion restreinte ».")
@click.option("--format", "paper", type=click.Choice(["A4", "A3"], case_sensitive=False),
              default="A4", show_default=True, help="Format du papier, en paysage.")
@store_option
def command(year: int | None, evaluation: bool, output: Path | None, edition: str, paper: str,
            store: str) -> None:
    """Produit le bilan annuel (ou l'évaluation) des actions de l'ORT et de leurs incidences
    financières, pour les conseils municipaux et le conseil communautaire."""
    from atlas.bilan import build_bilan

    year = year or clock.today().year - 1
    output = output or Path(f"{'evaluation' if evaluation else 'bilan'}-{year}.pdf")
    with open_store(store) as opened, console.status("Bilan…"):
        result = build_bilan(opened, output, year=year, evaluation=evaluation,
                             edition=edition, paper=paper.upper())
    kind = "Évaluation" if evaluation else "Bilan annuel"
    console.print(f"{kind} {year} écrit dans {result.path} : {result.pages} pages.",
                  highlight=False)
