"""``ort-geo history``: the journal of one feature."""

from __future__ import annotations

import click

from ..clock import format_timestamp
from ..timeline import versions
from ._common import console, opened, store_option


@click.command("history")
@click.argument("layer", metavar="COUCHE")
@click.argument("feature_id", metavar="IDENTIFIANT")
@store_option
def command(layer: str, feature_id: str, store: str) -> None:
    """Affiche les versions successives d'un objet (journal des modifications)."""
    st = opened(store)
    st.spec(layer)
    # Numbered as everywhere else (ort-geo diff, the API, the editor): ort_geo.timeline.
    found = versions(st, layer, feature_id)
    if not found:
        console.print(f"Aucune modification enregistrée pour {layer} / {feature_id}.")
        return
    labels = {"insert": "création", "update": "modification", "delete": "suppression"}
    for version in found:
        author = version.author.replace("[", "\\[")
        message = version.message.replace("[", "\\[")
        console.print(f"[bold]Version {version.number}[/] — {labels[version.operation]} le "
                      f"{format_timestamp(version.timestamp)} par {author}"
                      + (f" ({message})" if message else ""), highlight=False)
        before = (version.before.to_record() if version.before
                  else {"properties": {}, "geometry": None})
        after = (version.feature.to_record() if version.feature
                 else {"properties": {}, "geometry": None})
        for key in sorted(set(before["properties"]) | set(after["properties"])):
            old, new = before["properties"].get(key), after["properties"].get(key)
            if old != new:
                console.print(f"    {key} : {old!r} → {new!r}", highlight=False)
        if before["geometry"] != after["geometry"]:
            console.print("    géométrie modifiée", highlight=False)
