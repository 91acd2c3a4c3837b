"""The indicators of the convention's article 8, per sector and per year.

Definitions are territory data: the manifest's ``[[indicateurs]]`` (see
:class:`ort_geo.followup_spec.IndicatorSpec`), recorded in the store at build time. An indicator
with a ``mesure`` is computed from the layers by the statistics engine, per zone of a layer
(``secteurs_ort`` by default, plus the whole territory), as the store stood at the end of each
year (replayed from the journal, :func:`ort_geo.stats.stats_at`); the others are the yearly values
entered in the ``indicateurs_valeurs`` table, each with its source. Public tables apply the
statistical secrecy of :mod:`ort_geo.stats` (a masked value reads "< 11").
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from . import clock
from .errors import InputError
from .followup_spec import IndicatorSpec
from .stats import BY_NAME, TERRITORY_ID, TERRITORY_NAME, stats_at
from .store.base import Store

COMPUTED_SOURCE = "Calculé par ort-geo depuis les couches de l'entrepôt"
#: A public value derived from restricted data for a year other than the public reference year:
#: not published (differences between years would reveal masked counts, see ort_geo.secrecy).
UNPUBLISHED = "non diffusé"


def restricted_measure(column: str) -> bool:
    """Whether a statistics column is derived from restricted fields (masked in public)."""
    from .secrecy import restricted_columns

    restricted = set(restricted_columns())
    return column in restricted or any(b in restricted for b in BY_NAME[column].base)


def indicator_specs(store: Store) -> tuple[IndicatorSpec, ...]:
    """The territory's indicators (empty for a store built without a manifest)."""
    from .build import territory_of

    try:
        specs = territory_of(store).indicateurs
    except InputError:
        return ()
    unknown = [s.code for s in specs if s.mesure is not None and s.mesure not in BY_NAME]
    if unknown:
        raise InputError(f"Indicateurs mesurés par une statistique inconnue : {', '.join(unknown)}"
                         f" (statistiques : {', '.join(BY_NAME)}).")
    return specs


def programme_years(store: Store, until: dt.date | None = None) -> list[int]:
    """The years the journal covers, from the first change to ``until`` (default: today)."""
    first = store.journal(limit=1)
    end = until or clock.today()
    start = int(first[0].timestamp[:4]) if first else end.year
    return list(range(start, end.year + 1))


def year_end(year: int, today: dt.date | None = None) -> dt.date:
    """The date a year's figures are read at: 31 December, or today for the current year."""
    today = today or clock.today()
    return min(dt.date(year, 12, 31), today)


def indicator_values(store: Store, years: list[int], *, layer: str = "secteurs_ort",
                     public: bool = False, specs: tuple[IndicatorSpec, ...] | None = None
                     ) -> pd.DataFrame:
    """One row per indicator, zone and year: ``code``, ``secteur_id``, ``secteur``, ``annee``,
    ``valeur`` (a number, or "< 11" when public secrecy masks it), ``source``, ``calcule``.

    Measured indicators have a value for every zone of ``layer`` and the territory; entered
    ones for the zones (or the territory) they were entered for."""
    specs = indicator_specs(store) if specs is None else specs
    rows: list[dict] = []
    measured = [s for s in specs if s.mesure is not None]
    release, release_year = _public_table(store, layer, years) if public else (None, None)
    if measured:
        for year in years:
            frame = stats_at(store, layer, year_end(year), reference_year=year)
            for spec in measured:
                values = frame[spec.mesure]
                if public and restricted_measure(spec.mesure):
                    # Only the public release's year is published, with its masks.
                    values = (frame["id"].map(release[spec.mesure]) if year == release_year
                              else pd.Series([UNPUBLISHED] * len(frame)))
                for zone, name, value in zip(frame["id"], frame["nom"], values, strict=True):
                    rows.append({"code": spec.code, "secteur_id": str(zone), "secteur": name,
                                 "annee": year, "valeur": _value(value), "source":
                                 COMPUTED_SOURCE, "calcule": True})
    entered = {s.code for s in specs if s.mesure is None}
    if entered:
        table = store.read("indicateurs_valeurs")
        zones = _zone_names(store, layer)
        for row in table.itertuples():
            if row.indicateur not in entered or row.annee not in years:
                continue
            zone = row.secteur_id if isinstance(row.secteur_id, str) else TERRITORY_ID
            rows.append({"code": row.indicateur, "secteur_id": zone,
                         "secteur": zones.get(zone, zone), "annee": int(row.annee),
                         "valeur": float(row.valeur), "source": row.source, "calcule": False})
    out = pd.DataFrame(rows, columns=["code", "secteur_id", "secteur", "annee", "valeur",
                                      "source", "calcule"])
    return out.sort_values(["code", "annee"], kind="stable").reset_index(drop=True)


def _public_table(store: Store, layer: str, years: list[int]
                  ) -> tuple[pd.DataFrame | None, int | None]:
    """The public release's table of ``layer`` (indexed by zone) and its year, when that year
    is one of ``years`` and ``store`` is the store as it stands (not a past state)."""
    from .secrecy import public_year
    from .stats import sector_stats
    from .timeline import StoreAt

    if isinstance(store, StoreAt):
        return None, None
    year = public_year(store)
    if year not in years:
        return None, None
    return sector_stats(store, layer, public=True).set_index("id"), year


def indicator_table(store: Store, year: int, *, layer: str = "secteurs_ort",
                    public: bool = False, reference_year: int | None = None) -> pd.DataFrame:
    """The bilan's table: per indicator and zone, the value of ``year``, of the year before and
    of the reference year (the convention's signature), with the convention's reference and
    objective. Measured indicators are given for the territory and each zone; entered ones where
    entered."""
    specs = indicator_specs(store)
    ref = reference_year or _signature_year(store) or year
    years = sorted({ref, year - 1, year})
    values = indicator_values(store, years, layer=layer, public=public, specs=specs)
    rows = []
    for spec in specs:
        part = values[values["code"] == spec.code]
        for zone in dict.fromkeys(part["secteur_id"]):
            mine = part[part["secteur_id"] == zone].set_index("annee")["valeur"]
            source = part[part["secteur_id"] == zone]
            rows.append({"code": spec.code, "orientation": spec.orientation,
                         "intitule": spec.intitule, "unite": spec.unite,
                         "indicateur_convention": spec.indicateur_convention,
                         "secteur_id": zone, "secteur": source["secteur"].iloc[0],
                         "reference_annee": ref, "reference_valeur": mine.get(ref),
                         "precedente": mine.get(year - 1), "valeur": mine.get(year),
                         "reference": spec.reference, "objectif": spec.objectif,
                         "sens": spec.sens, "source": source["source"].iloc[-1]})
    return pd.DataFrame(rows)


def _signature_year(store: Store) -> int | None:
    from .build import territory_of

    try:
        territory = territory_of(store)
    except InputError:
        return None
    if territory.convention and territory.convention.date_signature:
        return int(territory.convention.date_signature[:4])
    return None


def _zone_names(store: Store, layer: str) -> dict[str, str]:
    zones = store.read(layer, columns=["nom"] if "nom" in store.spec(layer).field_names else [])
    names = {str(i): str(n) for i, n in zip(zones["id"], zones.get("nom", zones["id"]),
                                            strict=True)}
    return {**names, TERRITORY_ID: TERRITORY_NAME}


def _value(value: object) -> object:
    if isinstance(value, str):
        return value  # masked: "< 11"
    if value is None or pd.isna(value):
        return None
    return float(value)  # type: ignore[arg-type]


__all__ = ["COMPUTED_SOURCE", "UNPUBLISHED", "restricted_measure", "indicator_specs", "indicator_table", "indicator_values",
           "programme_years", "year_end"]
