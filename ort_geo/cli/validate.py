"""``ort-geo validate``: check the L303-2 rule, topology and action ties; non-zero exit on failure."""

from __future__ import annotations

import sys

import click

from ..rules import errors, format_report, validate
from ..store import open_store
from ..territory import load_territory
from ._common import console, store_option


@click.command("validate")
@store_option
@click.option("--territoire", "territory", type=click.Path(exists=True, file_okay=False),
              default=None, help="Dossier du territoire (par défaut : celui de l'entrepôt).")
def command(store: str, territory: str | None) -> None:
    """Vérifie l'atlas : règle L303-2, topologie, rattachement des actions."""
    st = open_store(store)
    found = validate(st, load_territory(territory) if territory else None)
    console.print(format_report(found), highlight=False)
    if errors(found):
        sys.exit(1)
