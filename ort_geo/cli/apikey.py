"""``ort-geo apikey``: create, list and revoke the API keys of the HTTP API (stored hashed)."""

from __future__ import annotations

import click
from rich.table import Table

from .. import auth
from ._common import console, console_err, opened, store_option


@click.group("apikey", subcommand_metavar="COMMANDE [ARGUMENTS]...")
def command() -> None:
    """Gère les clés d'accès à l'API (rôles agent « staff » et éditeur « editor »)."""


@command.command("create")
@click.argument("nom")
@click.option("--role", type=click.Choice(["staff", "editor"]), default="staff", show_default=True,
              help="staff : lecture de tout ; editor : lecture et modification des secteurs, "
                   "zones et actions.")
@store_option
def create(nom: str, role: str, store: str) -> None:
    """Crée une clé pour NOM (nom inscrit au journal pour chaque modification)."""
    key = auth.create_key(opened(store), nom, role)  # type: ignore[arg-type]
    console_err.print(f"Clé créée pour [bold]{nom}[/] (rôle {auth.ROLE_LABELS[role]}). "
                  "Conservez-la : elle ne sera plus affichée.", highlight=False)
    click.echo(key)  # alone on stdout, for scripts: KEY=$(ort-geo apikey create …)


@command.command("list")
@store_option
def list_(store: str) -> None:
    """Liste les clés (noms, rôles, dates de création ; jamais les clés elles-mêmes)."""
    records = auth.list_keys(opened(store))
    if not records:
        console.print("Aucune clé d'API.")
        return
    table = Table(title="Clés d'API")
    for col in ("identifiant", "nom", "rôle", "créée le"):
        table.add_column(col)
    for r in records:
        table.add_row(r.key_id, r.name, auth.ROLE_LABELS[r.role], r.created)
    console.print(table)


@command.command("revoke")
@click.argument("nom")
@store_option
def revoke(nom: str, store: str) -> None:
    """Révoque la clé de NOM (ou d'identifiant NOM)."""
    record = auth.revoke_key(opened(store), nom)
    console.print(f"Clé de {record.name} révoquée.", highlight=False)
