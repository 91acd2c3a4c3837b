"""``ort-geo build``: build a territory's store from its manifest (layers/<territoire>)."""

from __future__ import annotations

import click

from ..build import build_territory
from ..crs import crs_label
from ..shipped import default_territory
from ._common import console, progress, store_option

#: The first territory shipped with ort-geo (layers/<name>/ in a source checkout).
DEFAULT_TERRITORY = default_territory()

territory_option = click.option(
    "--territoire", "territory", default=str(DEFAULT_TERRITORY) if DEFAULT_TERRITORY else None,
    show_default=DEFAULT_TERRITORY.name if DEFAULT_TERRITORY else False, required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Dossier du territoire contenant territory.toml.",
)
dem_option = click.option(
    "--dem", type=click.Path(exists=True, dir_okay=False), default=None,
    help="Modèle numérique de terrain : strates par tranches d'altitude (sinon distance à l'axe).",
)


def run_build(territory: str, store: str, dem: str | None):
    """Build with a progress display; returns the opened store."""
    with progress() as bar:
        task = bar.add_task("Construction", total=None)

        def step(message: str) -> None:
            bar.update(task, description=f"Construction : {message}")
            console.print(f"  • {message}", highlight=False)

        return build_territory(territory, store, dem=dem, on_step=step)


@click.command("build")
@territory_option
@store_option
@dem_option
def command(territory: str, store: str, dem: str | None) -> None:
    """Construit l'entrepôt d'un territoire à partir de son manifeste (remplace l'existant)."""
    st = run_build(territory, store, dem)
    total = sum(st.count(name) for name in st.layer_names())
    console.print(f"Entrepôt construit : [bold]{store}[/] ({total} objets, "
                  f"{crs_label(st.epsg)}).")
