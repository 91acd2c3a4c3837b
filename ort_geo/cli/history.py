"""``ort-geo history``: the journal of one feature."""

from __future__ import annotations

import click

from ..clock import format_timestamp
from ..store import open_store
from ._common import console, store_option


@click.command("history")
@click.argument("layer")
@click.argument("feature_id")
@store_option
def command(layer: str, feature_id: str, store: str) -> None:
    """Affiche les versions successives d'un objet (journal des modifications)."""
    st = open_store(store)
    st.spec(layer)
    entries = st.history(layer, feature_id)
    if not entries:
        console.print(f"Aucune modification enregistrée pour {layer} / {feature_id}.")
        return
    labels = {"insert": "création", "update": "modification", "delete": "suppression"}
    for number, entry in enumerate(entries, 1):
        console.print(f"[bold]Version {number}[/] — {labels[entry.operation]} le "
                      f"{format_timestamp(entry.timestamp)} par {entry.author}"
                      + (f" ({entry.message})" if entry.message else ""), highlight=False)
        before = entry.before.to_record() if entry.before else {"properties": {}, "geometry": None}
        after = entry.after.to_record() if entry.after else {"properties": {}, "geometry": None}
        for key in sorted(set(before["properties"]) | set(after["properties"])):
            old, new = before["properties"].get(key), after["properties"].get(key)
            if old != new:
                console.print(f"    {key} : {old!r} → {new!r}", highlight=False)
        if before["geometry"] != after["geometry"]:
            console.print("    géométrie modifiée", highlight=False)
