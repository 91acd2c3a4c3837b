"""What the bilan annuel (CCH art. L303-2) says: every figure and table, decided here.

The bilan is read from the journal: the store as it stood at the end of the year (and of the year
before) through :func:`ort_geo.timeline.store_at`, the perimeter changes of the year through
:func:`ort_geo.timeline.changes`. ``atlas/bilan.py`` only lays this plan out (the atlas' split:
``atlas_plan`` decides, ``atlas/`` draws). With ``evaluation=True`` the period is the programme's
since the convention's signature (the evaluation every five years).

The bilan is presented to municipal and community councils: it is public, so indicators derived
from restricted data apply statistical secrecy ("< 11").
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

import pandas as pd
import shapely

from . import clock
from .errors import InputError
from .followup import (
    AMOUNTS,
    action_progress,
    financing_lines,
    financing_summary,
    orientation_labels,
    orientation_progress,
    status_label,
)
from .indicators import indicator_specs, indicator_table
from .store.base import Store
from .timeline import changes, store_at, versions
from .version_diff import compare_versions


@dataclass
class PerimeterChange:
    """One zone whose perimeter changed during the period."""

    layer: str
    feature_id: str
    name: str
    kind: str  # "création", "modification", "suppression"
    version_before: object
    version_after: object
    area_before_ha: float
    area_after_ha: float
    gained_ha: float
    lost_ha: float
    deliberation: str
    date: dt.date
    before: object = None  # geometries (EPSG:2154), for the map
    after: object = None


@dataclass
class BilanPlan:
    year: int
    evaluation: bool
    edition: str
    start: dt.date  #: first day of the period
    end: dt.date  #: the date figures are read at
    date: dt.datetime  #: the document's date (deterministic)
    territory_title: str
    convention_title: str
    convention_reference: str
    councils: list[str]
    orientation_titles: dict[int, str]
    #: key figures: (label, value at the end, value at the start or None, unit)
    summary: list[tuple[str, float, float | None, str]]
    actions: pd.DataFrame  #: actions of the period with their progress at both ends
    orientations: pd.DataFrame
    financing_by_funder: pd.DataFrame  #: the period's amounts per financeur (+ cumulative)
    financing_by_commune: pd.DataFrame
    financing_by_year: pd.DataFrame
    financing_totals: dict[str, float]
    indicators: pd.DataFrame
    perimeter_changes: list[PerimeterChange]
    layers: dict[str, object] = field(default_factory=dict)  #: context layers for the map
    demo: bool = False
    notes: list[str] = field(default_factory=list)


def bilan_date(store: Store, end: dt.date) -> dt.datetime:
    """The document's date: SOURCE_DATE_EPOCH when set, else the last change recorded up to the
    end of the period (the same store gives the same bytes)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
        except ValueError:
            raise InputError(f"SOURCE_DATE_EPOCH invalide : {epoch!r}") from None
    limit = dt.datetime.combine(end, dt.time.max, tzinfo=dt.UTC)
    stamps = [e.timestamp for e in store.journal()]
    kept = [s for s in stamps if dt.datetime.fromisoformat(s) <= limit]
    if not kept:
        return dt.datetime.combine(end, dt.time(), tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(max(kept)).astimezone(dt.UTC).replace(microsecond=0)


def plan_bilan(store: Store, year: int, *, evaluation: bool = False, edition: str = "public",
               today: dt.date | None = None) -> BilanPlan:
    """Read the store (through its journal) and decide every figure of the bilan of ``year``.

    ``public`` (default): indicators derived from restricted data follow the public release
    (:mod:`ort_geo.secrecy`: one public year, masks); ``staff``: every value, for the
    collectivités and services entitled to restricted data."""
    if edition not in ("public", "staff"):
        raise InputError(f"Édition inconnue « {edition} » : public ou staff.")
    from .build import territory_of

    territory = territory_of(store)
    today = today or clock.today()
    signature = (dt.date.fromisoformat(territory.convention.date_signature)
                 if territory.convention and territory.convention.date_signature else None)
    if year > today.year:
        raise InputError(f"L'année {year} n'a pas commencé : pas de bilan possible.")
    if signature and year < signature.year:
        raise InputError(f"La convention a été signée en {signature.year} : pas de bilan pour "
                         f"{year}.")
    end = min(dt.date(year, 12, 31), today)
    start = (signature or dt.date(year, 1, 1)) if evaluation else dt.date(year, 1, 1)
    before_day = start - dt.timedelta(days=1)
    at_end, at_start = store_at(store, end), store_at(store, before_day)

    labels = orientation_labels(store)
    progress_end = action_progress(at_end)
    progress_start = action_progress(at_start).set_index("id")
    actions = _period_actions(progress_end, progress_start, store, start, end)
    orientations = orientation_progress(progress_end, labels)

    lines = financing_lines(at_end)
    period = lines[(lines["annee"] >= start.year) & (lines["annee"] <= end.year)]
    by_funder = financing_summary(period, "financeur")
    cumulative = financing_summary(lines[lines["annee"] <= end.year], "financeur").set_index(
        "financeur")
    for name in AMOUNTS:
        by_funder[f"{name}_cumul"] = by_funder["financeur"].map(cumulative[name]).fillna(0.0)
    by_commune = financing_summary(period, "commune")
    by_year = financing_summary(lines, "annee")
    totals = {name: float(period[name].sum()) for name in AMOUNTS}

    # Measured indicators are read at each year's end by the engine itself; entered ones as
    # known today (a year's values are entered the year after).
    indicators = (indicator_table(store, year, public=edition == "public",
                                  reference_year=signature.year if signature else None)
                  if indicator_specs(store) else pd.DataFrame())
    perimeter = perimeter_changes(store, before_day, end)
    councils = _councils(store, at_end, territory)
    live = progress_end[progress_end["statut"] != "abandonne"]
    live_start = progress_start[progress_start["statut"] != "abandonne"]
    summary = [
        ("Actions du programme", float(len(progress_end)), float(len(progress_start)), ""),
        ("Actions réalisées", float((progress_end["statut"] == "realise").sum()),
         float((progress_start["statut"] == "realise").sum()), ""),
        ("Actions en cours", float((progress_end["statut"] == "en_cours").sum()),
         float((progress_start["statut"] == "en_cours").sum()), ""),
        ("Avancement moyen des actions", float(live["avancement"].mean()),
         float(live_start["avancement"].mean()) if len(live_start) else None, "%"),
        ("Financements prévus sur la période", totals["montant_prevu"], None, "€"),
        ("Financements engagés sur la période", totals["montant_engage"], None, "€"),
        ("Financements versés sur la période", totals["montant_verse"], None, "€"),
        ("Zones au périmètre modifié", float(len(perimeter)), None, ""),
    ]
    notes = []
    if end < dt.date(year, 12, 31):
        notes.append(f"Année en cours : situation au {end:%d/%m/%Y}.")
    return BilanPlan(
        year=year, evaluation=evaluation, edition=edition, start=start, end=end, date=bilan_date(store, end),
        territory_title=territory.title,
        convention_title=territory.convention.titre if territory.convention else "",
        convention_reference=territory.convention.reference if territory.convention else "",
        councils=councils, orientation_titles=labels, summary=summary, actions=actions,
        orientations=orientations, financing_by_funder=by_funder,
        financing_by_commune=by_commune, financing_by_year=by_year, financing_totals=totals,
        indicators=indicators, perimeter_changes=perimeter,
        layers={"communes": at_end.read("communes"), "secteurs_ort": at_end.read("secteurs_ort")},
        demo=bool(store.get_meta("historique_demo")), notes=notes)


def _period_actions(end: pd.DataFrame, start: pd.DataFrame, store: Store, first: dt.date,
                    last: dt.date) -> pd.DataFrame:
    """Actions undertaken in the period: running during it, or whose status or progress
    changed during it; with their status and progress at both ends and the period's financing."""
    touched = {c.feature_id for c in changes(store, first - dt.timedelta(days=1), last,
                                             layers=["actions", "financements"])
               if c.layer == "actions"}
    funded = set()
    for c in changes(store, first - dt.timedelta(days=1), last, layers=["financements"]):
        feature = c.after or c.before
        funded.add(str(feature.properties.get("action_id")))
    rows = []
    for row in end.itertuples():
        begin = _date(row.date_debut) or _date(row.date_debut_prevue)
        finish = _date(row.date_fin) or _date(row.date_fin_prevue)
        running = (begin is not None and begin <= last and (finish is None or finish >= first)
                   and row.statut not in ("a_lancer", "abandonne"))
        if not (running or row.id in touched or row.id in funded):
            continue
        before = start.loc[row.id] if row.id in start.index else None
        rows.append({
            "id": row.id, "numero": row.numero, "titre": row.titre,
            "orientation": row.orientation, "commune": row.commune,
            "statut_debut": status_label(before["statut"]) if before is not None
            else "Non inscrite",
            "statut_fin": row.statut_libelle,
            "avancement_debut": float(before["avancement"]) if before is not None else None,
            "avancement_fin": float(row.avancement) if row.avancement == row.avancement
            else None,
            "cout_ht": row.cout_ht,
        })
    return pd.DataFrame(rows)


def perimeter_changes(store: Store, since: dt.date, until: dt.date,
                      layers: tuple[str, ...] = ("secteurs_ort", "permis_de_louer")
                      ) -> list[PerimeterChange]:
    """Zones created, deleted or reshaped between two dates, with the area gained and lost."""
    out = []
    for change in changes(store, since, until, layers=list(layers)):
        before = change.before.geometry if change.before is not None else None
        after = change.after.geometry if change.after is not None else None
        if before is not None and after is not None and before.equals(after):
            continue  # an attribute change: not a perimeter change
        empty = shapely.Polygon()
        b, a = before or empty, after or empty
        gained, lost = shapely.difference(a, b), shapely.difference(b, a)
        if before is not None and after is not None:
            # The same comparison as ``ort-geo diff`` (ort_geo.version_diff), by version numbers.
            numbers = {v.seq: v.number for v in versions(store, change.layer, change.feature_id)}
            diff = compare_versions(store, change.layer, change.feature_id,
                                    numbers[change.entries[0].seq] - 1,
                                    numbers[change.entries[-1].seq])
            gained, lost = diff.gained, diff.lost
        props = (change.after or change.before).properties
        out.append(PerimeterChange(
            layer=change.layer, feature_id=change.feature_id,
            name=str(props.get("nom") or change.feature_id),
            kind={"insert": "création", "delete": "suppression"}.get(change.kind,
                                                                     "modification"),
            version_before=(change.before.properties.get("version")
                            if change.before is not None else None),
            version_after=(change.after.properties.get("version")
                           if change.after is not None else None),
            area_before_ha=b.area / 1e4, area_after_ha=a.area / 1e4,
            gained_ha=gained.area / 1e4, lost_ha=lost.area / 1e4,
            deliberation=str(props.get("deliberation") or ""),
            date=dt.datetime.fromisoformat(change.entries[-1].timestamp).date(),
            before=before, after=after))
    return out


def _councils(store: Store, view: Store, territory) -> list[str]:
    """The councils the bilan goes to: the municipal councils of the communes holding an ORT
    sector, and the EPCI's community council (L303-2)."""
    sectors = view.read("secteurs_ort", columns=["code_insee"])
    communes = store.read("communes", columns=["nom"])
    names = dict(zip(communes["code_insee"].astype(str), communes["nom"].astype(str),
                     strict=True))
    codes = [c for c in dict.fromkeys(sectors["code_insee"].dropna().astype(str)) if c in names]
    order = sorted(codes, key=lambda c: (c != territory.main_town, names[c]))
    return [f"Conseil municipal de {names[c]}" for c in order] + [
        f"Conseil communautaire de la {territory.title}"]


def _date(value: object) -> dt.date | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


__all__ = ["BilanPlan", "PerimeterChange", "bilan_date", "perimeter_changes", "plan_bilan"]
