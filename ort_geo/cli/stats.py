"""``ort-geo stats``: statistics per zone, as a table, French CSV or JSON."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from . import _common
from ._common import store_option

# pandas, GDAL and the statistics load inside the command: ``ort-geo stats`` starts the zone
# work first (see there).


def _fr(value, kind: str | None) -> str:
    """A number the French way: thin-space thousands, decimal comma."""
    import pandas as pd

    from ..stats import DECIMALS

    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "inconnu"
    if isinstance(value, str):
        return value
    text = f"{value:,.{DECIMALS.get(kind or 'count', 0)}f}"
    return text.replace(",", "\u202f").replace(".", ",")


@click.command("stats")
@click.argument("layer", required=False, metavar="[COUCHE]")
@click.option("--perimetre", "perimeter", type=click.Path(dir_okay=False),
              help="Fichier de périmètre (GeoPackage, GeoJSON, Shapefile…) au lieu d'une couche.")
@click.option("--public", is_flag=True, help="Statistiques publiques : année de référence de l'atlas, secret "
              "statistique (« secret ») protégé contre les recoupements.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Format de sortie.")
@click.option("--annee", "year", type=_common.YEAR, help="Année de référence (vacance de longue durée).")
@click.option("--sortie", "-o", "output", type=click.Path(dir_okay=False),
              help="Écrit le résultat dans ce fichier au lieu de l'afficher.")
@click.option("--au", "until", metavar="DATE",
              help="État de l'entrepôt à cette date (AAAA-MM-JJ ou JJ/MM/AAAA), rejoué depuis le "
                   "journal.")
@click.option("--depuis", "since", metavar="DATE",
              help="Évolution entre cette date et --au (ou aujourd'hui), zone par zone.")
@store_option
def command(layer, perimeter, public, fmt, year, output, until, since, store):
    """Statistiques par zone d'une couche (secteurs_ort, permis_de_louer, strates, communes…)
    ou d'un périmètre, avec une ligne pour l'ensemble du territoire ; à une date (--au) ou entre
    deux dates (--depuis … --au …)."""
    if not layer and not perimeter:
        raise click.UsageError("Indiquez une couche de zones ou --perimetre FICHIER.")
    if output and fmt == "table":
        raise click.UsageError("--sortie demande --format csv ou json.")
    prepared = None
    with _common.loading():
        if layer and not (perimeter or public or until or since) \
                and str(store).lower().endswith(".gpkg") and Path(store).is_file():
            from ..prepared import prepare_in_background

            # The zone grid and the routes' km are computed (numpy, GEOS) on another core, by
            # a child process, while this one loads pydantic, pandas and GDAL just below (the
            # layer is checked there: a preparation the statistics do not take is stopped).
            prepared = prepare_in_background(store, layer, process=True)
            click.get_current_context().call_on_close(prepared.close)
        from ..stats import (
            labelled,
            sector_stats,
            stat_column,
            stats_at,
            stats_between,
            stats_records,
        )
        from ..store import open_store

    if since:
        if public:
            raise click.UsageError("Les évolutions entre deux dates ne se publient pas (secret "
                                   "statistique : une différence révélerait un petit effectif) ; "
                                   "retirez --public.")
        if perimeter:
            raise click.UsageError("--depuis se calcule sur une couche de zones, pas sur un "
                                   "périmètre.")
        with open_store(store) as st:
            changes = stats_between(st, layer, since, until, reference_year=year)
        _print_changes(changes, fmt, output)
        return
    with open_store(store) as st:
        if until:
            frame = stats_at(st, layer, until, public=public, perimeter=perimeter,
                             reference_year=year)
        else:
            frame = sector_stats(st, layer, public=public, perimeter=perimeter,
                                 reference_year=year,
                                 prepared=prepared)
    if fmt == "json":
        text = _json(stats_records(frame))
    elif fmt == "csv":
        from ..io.write import csv_fr  # the file writers load only for CSV

        text = csv_fr(labelled(frame))
    else:
        from rich.table import Table

        from ..privacy import MASK_NOTE

        # One row per statistic, one column per zone: readable in a terminal.
        table = Table(title=f"Statistiques — {frame.attrs['layer']}"
                      + (f" au {_day(frame.attrs['au'])}" if "au" in frame.attrs else "")
                      + (" (secret statistique appliqué)" if public else ""))
        table.add_column("Indicateur")
        for fid, name in zip(frame["id"], frame["nom"], strict=True):
            table.add_column(str(name) if isinstance(name, str) else str(fid), justify="right")
        for col in filter(None, map(stat_column, frame.columns)):
            table.add_row(col.label, *(_fr(v, col.kind) for v in frame[col.name]))
        _common.console.print(table)
        if public:
            _common.console.print(MASK_NOTE)
        return
    _emit(text, fmt, output, "Statistiques écrites")


def _json(value) -> str:
    """Indented UTF-8 JSON (orjson: thousands of zones in milliseconds)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _day(iso: str) -> str:
    return f"{iso[8:10]}/{iso[5:7]}/{iso[:4]}"


def _print_changes(frame, fmt: str, output: str | None) -> None:
    """Changes between two dates: per statistic and zone, « avant → après (évolution) »."""
    import pandas as pd
    from rich.table import Table

    from ..stats import DECIMALS, stat_column, stats_records

    since, until = _day(frame.attrs["depuis"]), _day(frame.attrs["au"])
    if fmt == "table":
        table = Table(title=f"Évolution — {frame.attrs['layer']} du {since} au {until}")
        table.add_column("Indicateur")
        zones = list(dict.fromkeys(zip(frame["id"], frame["nom"], strict=True)))
        for fid, name in zones:
            table.add_column(str(name) if isinstance(name, str) else str(fid), justify="right")
        for col in filter(None, map(stat_column, dict.fromkeys(frame["statistique"]))):
            part = frame[frame["statistique"] == col.name].set_index("id")
            cells = []
            for fid, _ in zones:
                a, b, d = part.loc[fid, "depuis"], part.loc[fid, "au"], part.loc[fid, "evolution"]
                sign = "" if d is None or d != d or d < 0 else "+"
                cells.append(f"{_fr(a, col.kind)} → {_fr(b, col.kind)}"
                             + ("" if d is None or d != d else f" ({sign}{_fr(d, col.kind)})"))
            table.add_row(col.label, *cells)
        _common.console.print(table)
        return
    if fmt == "json":
        text = _json({"couche": frame.attrs["layer"], "depuis": frame.attrs["depuis"],
                      "au": frame.attrs["au"], "evolutions": stats_records(frame)})
    else:
        from ..io.write import csv_fr  # the file writers load only for CSV

        # Rounded as the table shows them (a difference of two areas is not exact to 1e-15).
        decimals = [DECIMALS[c.kind] if (c := stat_column(name)) else 2
                    for name in frame["statistique"]]
        shown = frame.copy()
        for name in ("depuis", "au", "evolution"):
            shown[name] = pd.Series(  # object: whole numbers stay "813", not "813,0"
                [None if v is None or v != v else (round(v) if d == 0 else round(v, d))
                 for v, d in zip(frame[name], decimals, strict=True)], dtype=object)
        text = csv_fr(shown.rename(columns={
            "id": "Identifiant", "nom": "Nom", "statistique": "Code", "libelle": "Statistique",
            "depuis": f"Au {since}", "au": f"Au {until}", "evolution": "Évolution"}))
    _emit(text, fmt, output, "Évolutions écrites")


def _emit(text: str, fmt: str, output: str | None, written: str) -> None:
    """``text`` to ``output`` (CSV with a BOM, for Excel) or to standard output."""
    if output:
        Path(output).write_text(text, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
        _common.console.print(f"{written} dans {output}")
    else:
        click.echo(text, nl=False)
