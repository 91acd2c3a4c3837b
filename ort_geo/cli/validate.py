"""``ort-geo validate``: check the L303-2 rule, topology and action ties; non-zero exit on failure."""

from __future__ import annotations

import sys

import click

from ..catalogue import CATALOGUE
from ..rules import candidate_from_file, errors, format_report, validate
from ..store import open_store
from ..territory import load_territory
from ._common import console, store_option


@click.command("validate")
@store_option
@click.option("--territoire", "territory", type=click.Path(exists=True, file_okay=False),
              default=None, help="Dossier du territoire (par défaut : celui de l'entrepôt).")
@click.option("--candidat", "candidates", multiple=True, metavar="COUCHE=FICHIER",
              help="Vérifier un fichier avant de l'importer : la couche est remplacée par son "
                   "contenu pour la validation seulement (rien n'est écrit). Répétable.")
def command(store: str, territory: str | None, candidates: tuple[str, ...]) -> None:
    """Vérifie l'atlas : règle L303-2, topologie, rattachement des actions."""
    st = open_store(store)
    overrides = {}
    for item in candidates:
        layer, sep, path = item.partition("=")
        if not sep or layer not in CATALOGUE:
            raise click.BadParameter(f"« {item} » : attendu COUCHE=FICHIER avec une couche du "
                                     f"catalogue ({', '.join(CATALOGUE.names)}).",
                                     param_hint="--candidat")
        overrides[layer] = candidate_from_file(st, layer, path)
        console.print(f"Candidat : {layer} ← {path} ({len(overrides[layer])} objets, "
                      "non importé).", highlight=False)
    found = validate(st, load_territory(territory) if territory else None, overrides=overrides)
    console.print(format_report(found), highlight=False, soft_wrap=True)
    if errors(found):
        sys.exit(1)
