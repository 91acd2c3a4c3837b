"""``ort-geo atlas``: the printed atlas (annexe 2 of the convention) as a PDF."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..store import open_store
from ..territory import load_territory
from ._common import console, progress, store_option


@click.command("atlas")
@click.option("--edition", "-e", type=click.Choice(["public", "staff"]), default="public",
              show_default=True,
              help="public : données agrégées sous secret statistique ; staff : ajoute le bâti "
                   "et porte la mention « diffusion restreinte ».")
@click.option("--sortie", "-o", "output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Fichier PDF produit (défaut : out/atlas-<édition>.pdf).")
@click.option("--format", "paper", type=click.Choice(["A4", "A3"], case_sensitive=False),
              default="A4", show_default=True, help="Format du papier, en paysage.")
@click.option("--mnt", "--dem", "dem", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Modèle numérique de terrain pour l'ombrage du relief.")
@click.option("--territoire", "territory_dir", type=click.Path(path_type=Path), default=None,
              help="Dossier du manifeste du territoire (défaut : celui qui a construit "
                   "l'entrepôt) pour la couverture : signataires, convention.")
@store_option
def command(edition: str, output: Path | None, paper: str, dem: Path | None,
            territory_dir: Path | None, store: str) -> None:
    """Produit l'atlas cartographique (annexe 2) en PDF, hors ligne."""
    from atlas import build_atlas

    output = output or Path("out") / f"atlas-{edition}.pdf"
    with open_store(store) as opened:
        territory = load_territory(territory_dir) if territory_dir else None
        started = time.perf_counter()
        with progress() as bar:
            task = bar.add_task("Atlas", total=None)

            def report(done: int, total: int, label: str) -> None:
                bar.update(task, completed=done, total=total, description=f"Page : {label}")

            result = build_atlas(opened, output, edition=edition, paper=paper.upper(),  # type: ignore[arg-type]
                                 territory=territory, dem=dem, progress=report)
        seconds = time.perf_counter() - started
    console.print(
        f"Atlas {'public' if edition == 'public' else 'de travail'} écrit dans {result.path} : "
        f"{result.pages} pages ({result.sectors} secteurs, {result.zones} zones de permis de "
        f"louer, {result.annex_pages} page(s) d'annexe) en {seconds:.1f} s.", highlight=False)
