"""``ort-geo tableau-de-bord``: the programme's follow-up dashboard (art. 7), one HTML file."""

from __future__ import annotations

import click

from ..store import open_store
from ._common import console, omitted, store_option


@click.command("tableau-de-bord")
@click.option("--sortie", "-o", "output", default="tableau.html", show_default=True,
              type=click.Path(dir_okay=False), help="Fichier HTML à écrire.")
@click.option("--public", "edition", flag_value="public",
              help="Édition publique : secret statistique appliqué aux indicateurs.")
@click.option("--staff", "edition", flag_value="staff", default=True,
              help="Édition de travail (par défaut) : tous les indicateurs.")
@click.option("--au", "at", metavar="DATE",
              help="Situation à cette date (AAAA-MM-JJ), rejouée depuis le journal.")
@click.option("--capture", "png", type=click.Path(dir_okay=False),
              help="Écrit aussi une capture PNG de la page entière (chromium sans interface).")
@store_option
def command(output: str, edition: str, at: str | None, png: str | None, store: str) -> None:
    """Écrit le tableau de bord de suivi du programme (un seul fichier HTML, hors connexion) :
    avancement, financements, indicateurs de l'article 8, carte des actions."""
    from ..dashboard import write_dashboard

    with open_store(store) as st, console.status("Tableau de bord…"):
        report = write_dashboard(st, output, edition=edition, at=at)  # type: ignore[arg-type]
    console.print(f"Tableau de bord écrit : {report}", highlight=False)
    if png:
        from ..dashboard import capture
        from ..errors import MissingExtraError, MissingToolError

        try:
            with console.status("Capture du tableau de bord…"):
                capture(output, png)
        except (MissingExtraError, MissingToolError) as exc:  # the dashboard itself is written
            omitted(exc)
            return
        console.print(f"Capture écrite : {png}", highlight=False)
