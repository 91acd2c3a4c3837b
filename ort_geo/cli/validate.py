"""``ort-geo validate``: check the L303-2 rule, topology and action ties; non-zero exit on failure."""

from __future__ import annotations

import sys

import click

from ..catalogue import CATALOGUE
from ..clock import format_timestamp
from ..external_edits import EXTERNAL_AUTHOR, external_edits
from ..rules import candidate_from_file, errors, format_report, validate
from ..territory import load_territory
from ._common import console, opened, store_option


@click.command("validate")
@store_option
@click.option("--territoire", "territory", type=click.Path(exists=True, file_okay=False),
              default=None, help="Dossier du territoire (par défaut : celui de l'entrepôt).")
@click.option("--candidat", "candidates", multiple=True, metavar="COUCHE=FICHIER",
              help="Vérifier un fichier avant de l'importer : la couche est remplacée par son "
                   "contenu pour la validation seulement (rien n'est écrit). Répétable.")
def command(store: str, territory: str | None, candidates: tuple[str, ...]) -> None:
    """Vérifie l'atlas : règle L303-2, topologie, rattachement des actions."""
    st = opened(store)
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
    terr = load_territory(territory) if territory else None
    found = validate(st, terr, overrides=overrides)
    console.print(format_report(found), highlight=False, soft_wrap=True)
    if not overrides:  # candidates are not stored: only stored data comes from elsewhere
        _external(st, terr, found)
    if errors(found):
        sys.exit(1)


def _external(store, territory, found) -> None:
    """Say which problems edits made outside the tool introduced, and list those edits."""
    external = external_edits(store, territory, violations=found)
    if not external.entries:
        return
    labels = {"insert": "création", "update": "modification", "delete": "suppression"}
    console.print(f"\nModifications faites hors de l'outil ({EXTERNAL_AUTHOR} : QGIS, ogr2ogr, "
                  f"psql…), sans contrôle des règles : {len(external.entries)} objet(s).",
                  highlight=False)
    for (layer, fid), entries in sorted(external.entries.items()):
        last = entries[-1]
        detail = f", {last.message}" if last.message else ""
        console.print(f"  {layer}/{fid} : {labels[last.operation]} le "
                      f"{format_timestamp(last.timestamp)}{detail}", highlight=False, markup=False)
    if external.introduced:
        console.print(f"{len(external.introduced)} problème(s) introduit(s) par ces "
                      "modifications :", highlight=False)
        for violation in external.introduced:
            console.print(f"  ✗ {violation}", highlight=False, soft_wrap=True, markup=False)
    else:
        console.print("Elles n'introduisent aucun problème.", highlight=False)
