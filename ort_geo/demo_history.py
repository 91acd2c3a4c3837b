"""A seeded, labelled demonstration history of the programme, written with past journal dates.

The demo store is built as the convention stood at its signature; this module then plays three
years of follow-up into it, each change journaled at its own past date (:func:`journal_clock`),
so that the tableau de bord, the bilan annuel and every "as of a date" figure have a real history
to read:

* quarterly edits of buildings' vacancy and condition (dwellings back on the market, renovations,
  a few new vacancies) and of vacant shops, mostly inside the ORT sectors;
* the action plan's programming (planned dates, costs), then each action's progress (status,
  taux de réalisation, actual dates);
* the financing plan (one line per action, financeur and year) and its commitments and payments;
* yearly values of the indicators that the layers cannot measure;
* a cycle route opened, and one revision of a sector's perimeter (area gained and lost).

Everything is labelled: author "démonstration ort-geo", journal messages starting
"[démonstration]", sources "valeur de démonstration". The same seed gives the same history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .followup_spec import DemoHistory
from .store.base import Store, journal_clock
from .territory import Territory

AUTHOR = "démonstration ort-geo"
TAG = "[démonstration] "
SOURCE = "valeur de démonstration (ort-geo), non réelle"
#: Entered indicators' starting values and yearly change (demonstration only).
_ENTERED = {
    "taux_proprietaires_occupants": (58.0, 0.6),
    "consommation_energie_collectivite": (4200.0, -160.0),
    "part_energie_renouvelable": (12.0, 2.5),
    "equipements_touristiques_adaptes": (2.0, 1.0),
    "actions_communication_lieu_de_vie": (1.0, 2.0),
    "bois_local_valorise": (350.0, 60.0),
    "arbres_centre_ville": (212.0, 3.0),
}


def _at(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def seed_history(store: Store, territory: Territory) -> int:
    """Play the territory's demonstration history into ``store``; the number of journal entries
    written. The store must hold the territory as built at ``historique_demo.debut``."""
    history = territory.historique_demo
    if history is None:
        return 0
    before = len(store.journal())
    rng = np.random.default_rng(history.seed)
    steps: list[tuple[dt.datetime, str, Callable[[], None]]] = []
    programme = _at(history.debut + dt.timedelta(days=60))
    steps.append((programme, "programmation du plan d'action",
                  partial(_programme, store, history, rng, programme.date())))
    for day in _quarters(history.debut, history.fin):
        steps.append((_at(day), "suivi trimestriel", partial(_quarter, store, history, rng, day)))
    for year in range(history.debut.year, history.fin.year):
        day = dt.date(year + 1, 2, 15)
        if day <= history.fin:
            steps.append((_at(day, 10), f"indicateurs saisis de {year}",
                          partial(_entered_indicators, store, territory, year)))
    opening = dt.date(2024, 10, 15)
    if history.debut < opening <= history.fin:
        steps.append((_at(opening, 11), "mise en service d'une liaison cyclable",
                      partial(_open_route, store)))
    if history.revision_secteur and history.revision_date:
        steps.append((_at(history.revision_date, 14), "révision d'un périmètre",
                      partial(_revise_sector, store, history)))
    for when, _label, run in sorted(steps, key=lambda step: step[0]):
        with journal_clock(when):
            run()
    return len(store.journal()) - before


def _quarters(start: dt.date, end: dt.date) -> list[dt.date]:
    out: list[dt.date] = []
    year, month = start.year, ((start.month - 1) // 3 + 1) * 3
    while True:
        month += 3
        if month > 12:
            year, month = year + 1, month - 12
        day = dt.date(year, month, 15)
        if day > end:
            return out
        out.append(day)


def _write(store: Store, layer: str, changes: list[dict] | gpd.GeoDataFrame,
           message: str) -> None:
    """Write changes: each dict sets only its own keys on the stored row (a new id is a new row;
    a spatial layer's rows keep their stored geometry unless a frame brings one)."""
    if isinstance(changes, gpd.GeoDataFrame):
        ids, frame_geoms = changes["id"].tolist(), changes.geometry.to_numpy()
        changes = [{k: v for k, v in row.items() if k != "geometry"}
                   for row in changes.to_dict("records")]
    else:
        ids, frame_geoms = [c["id"] for c in changes], None
    if not changes:
        return
    stored = store.read(layer, ids=ids)
    rows = {r["id"]: r for r in stored.to_dict("records")}
    out = []
    for k, change in enumerate(changes):
        row = dict(rows.get(change["id"], {}))
        row.update(change)
        if frame_geoms is not None:
            row["geometry"] = frame_geoms[k]
        row.setdefault("geometry", None)
        out.append(row)
    frame = gpd.GeoDataFrame(out, geometry="geometry", crs=store.crs)
    store.write(layer, frame, author=AUTHOR, message=TAG + message)


# -- the action plan and its financing -----------------------------------------------------------

def _programme(store: Store, history: DemoHistory, rng: np.random.Generator,
               day: dt.date) -> None:
    actions = store.read("actions")
    rows, lines = [], []
    for row in actions.itertuples():
        status = row.statut if isinstance(row.statut, str) else "a_lancer"
        if status in ("en_cours", "realise"):  # begun before the signature
            start = history.debut - dt.timedelta(days=int(rng.integers(60, 400)))
        else:
            start = day + dt.timedelta(days=int(rng.integers(0, 400)))
        years = int(rng.integers(2, 5))
        end = dt.date(start.year + years, 12, 31)
        if status == "realise":
            end = history.debut - dt.timedelta(days=int(rng.integers(5, 50)))
        cost = row.cout_ht if pd.notna(row.cout_ht) else float(rng.integers(4, 90)) * 10_000.0
        progress = {"realise": 100.0, "en_cours": 15.0, "en_etude": 3.0}.get(status, 0.0)
        rows.append({"id": row.id, "cout_ht": cost, "date_debut_prevue": start,
                     "date_fin_prevue": end, "taux_realisation": progress,
                     "date_debut": start if status in ("en_cours", "realise") else None,
                     "date_fin": end if status == "realise" else None})
        funders = rng.choice(len(history.financeurs), size=min(3, len(history.financeurs)),
                             replace=False)
        shares = rng.dirichlet(np.ones(len(funders))) * 0.8  # 20 % left to the maître d'ouvrage
        span = list(range(max(start.year, history.debut.year), max(end.year, history.debut.year) + 1))
        for k, share in zip(funders.tolist(), shares.tolist(), strict=True):
            funder = history.financeurs[k]
            for year in span:
                amount = round(cost * share / len(span), -2)
                lines.append({"id": f"{row.id}|{_slug(funder)}|{year}", "action_id": row.id,
                              "financeur": funder, "annee": year, "montant_prevu": amount,
                              "source": SOURCE})
    _write(store, "actions", rows, "programmation du plan d'action")
    _write(store, "financements", lines, "plan de financement initial")


def _progress_actions(store: Store, rng: np.random.Generator, day: dt.date) -> None:
    actions = store.read("actions")
    rows = []
    for row in actions.itertuples():
        status = row.statut
        if status in ("realise", "abandonne"):
            continue
        start = row.date_debut_prevue
        if start is None or start > day:
            continue
        taux = float(row.taux_realisation) if pd.notna(row.taux_realisation) else 0.0
        # Steady progress towards the planned end, with some slippage.
        remaining = max(1, (row.date_fin_prevue - day).days // 91) if row.date_fin_prevue else 8
        step = (100.0 - taux) / (remaining + 1) * float(rng.uniform(0.4, 1.2))
        taux = min(100.0, round(taux + max(1.0, step), 0))
        change: dict = {"id": row.id, "taux_realisation": taux}
        if status in ("a_lancer", "en_etude") and taux >= 25:
            change.update(statut="en_cours", date_debut=day)
        elif status == "a_lancer":
            change["statut"] = "en_etude"
        if taux >= 95 and row.date_fin_prevue and day >= row.date_fin_prevue:
            change.update(statut="realise", date_fin=day, taux_realisation=100.0)
        rows.append(change)
    _write(store, "actions", rows, "avancement des actions")


def _financing_step(store: Store, rng: np.random.Generator, day: dt.date) -> None:
    lines = store.read("financements")
    rows = []
    for row in lines.itertuples():
        planned = float(row.montant_prevu or 0.0)
        committed = float(row.montant_engage) if pd.notna(row.montant_engage) else None
        paid = float(row.montant_verse) if pd.notna(row.montant_verse) else 0.0
        if committed is None and row.annee <= day.year and day.month >= 4:
            committed = round(planned * float(rng.uniform(0.6, 1.0)), -2)
            rows.append({"id": row.id, "montant_engage": committed})
        elif committed is not None and paid < committed and (
                row.annee < day.year or day.month >= 10):
            paid = min(committed, round(paid + committed * float(rng.uniform(0.3, 0.7)), -2))
            rows.append({"id": row.id, "montant_verse": paid})
    _write(store, "financements", rows, "engagements et versements des financeurs")


# -- buildings and shops -----------------------------------------------------------------------

def _quarter(store: Store, history: DemoHistory, rng: np.random.Generator,
             day: dt.date) -> None:
    _buildings_step(store, rng, day)
    _shops_step(store, rng)
    _progress_actions(store, rng, day)
    _financing_step(store, rng, day)


def _in_sectors(store: Store, frame: gpd.GeoDataFrame) -> np.ndarray:
    sectors = store.read("secteurs_ort", columns=[])
    area = shapely.union_all(sectors.geometry.values) if len(sectors) else None
    if area is None:
        return np.zeros(len(frame), bool)
    return shapely.covers(area, shapely.point_on_surface(frame.geometry.values))


def _pick(rng: np.random.Generator, candidates: np.ndarray, weights: np.ndarray, n: int
          ) -> np.ndarray:
    if not len(candidates) or n <= 0:
        return np.array([], dtype=int)
    p = weights[candidates] / weights[candidates].sum()
    return rng.choice(candidates, size=min(n, len(candidates)), replace=False, p=p)


def _buildings_step(store: Store, rng: np.random.Generator, day: dt.date) -> None:
    frame = store.read("batiments", columns=["nb_logements", "nb_logements_vacants",
                                             "annee_debut_vacance", "etat"])
    weights = np.where(_in_sectors(store, frame), 6.0, 1.0)
    vacant = pd.to_numeric(frame["nb_logements_vacants"], errors="coerce").fillna(0).to_numpy()
    dwellings = pd.to_numeric(frame["nb_logements"], errors="coerce").fillna(0).to_numpy()
    etat = frame["etat"].astype(object).to_numpy()
    changes: dict[int, dict] = {}
    # Dwellings back on the market (the programme's aim), a few new vacancies.
    for i in _pick(rng, np.flatnonzero(vacant > 0), weights, int(rng.integers(6, 12))).tolist():
        left = int(vacant[i]) - 1
        changes.setdefault(i, {})["nb_logements_vacants"] = left
        if left == 0:
            changes[i]["annee_debut_vacance"] = None
    for i in _pick(rng, np.flatnonzero((vacant == 0) & (dwellings > 0)), np.ones(len(frame)),
                   int(rng.integers(1, 4))).tolist():
        changes.setdefault(i, {}).update(nb_logements_vacants=1, annee_debut_vacance=day.year)
    # Renovations; now and then a building degrades.
    for i in _pick(rng, np.flatnonzero(np.isin(etat, ["degrade", "tres_degrade"])), weights,
                   int(rng.integers(3, 7))).tolist():
        changes.setdefault(i, {})["etat"] = "moyen" if etat[i] == "degrade" else "degrade"
    for i in _pick(rng, np.flatnonzero(etat == "moyen"), np.ones(len(frame)), 1).tolist():
        changes.setdefault(i, {})["etat"] = "degrade"
    rows = [{"id": frame["id"].iloc[i], **c} for i, c in sorted(changes.items())]
    _write(store, "batiments", rows, "vacance et état du bâti (relevé trimestriel)")


def _shops_step(store: Store, rng: np.random.Generator) -> None:
    shops = store.read("commerces", columns=["vacant"])
    vacant = shops["vacant"].fillna(False).astype(bool).to_numpy()
    rows = []
    if vacant.any() and rng.random() < 0.7:
        i = int(rng.choice(np.flatnonzero(vacant)))
        rows.append({"id": shops["id"].iloc[i], "vacant": False})
    if (~vacant).any() and rng.random() < 0.25:
        i = int(rng.choice(np.flatnonzero(~vacant)))
        rows.append({"id": shops["id"].iloc[i], "vacant": True})
    _write(store, "commerces", rows, "locaux commerciaux (relevé trimestriel)")


# -- indicators entered, a route opened, a perimeter revised -------------------------------------

def _entered_indicators(store: Store, territory: Territory, year: int) -> None:
    start = territory.historique_demo.debut.year  # type: ignore[union-attr]
    rows = []
    for spec in territory.indicateurs:
        if spec.mesure is not None or spec.code not in _ENTERED:
            continue
        base, step = _ENTERED[spec.code]
        for y in ([start, year] if year == start else [year]):
            value = round(base + step * (y - start), 1)
            rows.append({"id": f"{spec.code}||{y}", "indicateur": spec.code, "secteur_id": None,
                         "annee": y, "valeur": value, "unite": spec.unite,
                         "source": f"{spec.source} — {SOURCE}" if spec.source else SOURCE})
    rows = list({r["id"]: r for r in rows}.values())
    _write(store, "indicateurs_valeurs", rows, f"indicateurs de l'année {year}")


def _open_route(store: Store) -> None:
    routes = store.read("mobilites_actives", columns=["statut"])
    planned = routes[routes["statut"] == "projete"]
    if len(planned):
        _write(store, "mobilites_actives", [{"id": planned["id"].iloc[0], "statut": "existant"}],
               "liaison cyclable mise en service")


def _revise_sector(store: Store, history: DemoHistory) -> None:
    """One sector's perimeter revised: extended on its eastern side, a small western strip
    taken out; never over another sector, never outside the communes."""
    sectors = store.read("secteurs_ort")
    chosen = sectors[sectors["id"] == history.revision_secteur]
    if chosen.empty:
        return
    geom = chosen.geometry.iloc[0]
    minx, miny, maxx, maxy = geom.bounds
    width = maxx - minx
    grown = shapely.intersection(shapely.buffer(geom, 80.0, join_style="mitre"),
                                 shapely.box(minx + 0.6 * width, miny - 200, maxx + 200, maxy + 200))
    cut = shapely.box(minx - 1, miny - 1, minx + 0.08 * width, maxy + 1)
    others = sectors[sectors["id"] != history.revision_secteur].geometry.values
    communes = shapely.union_all(store.read("communes", columns=[]).geometry.values)
    new = shapely.difference(shapely.union(geom, grown), cut)
    if len(others):
        new = shapely.difference(new, shapely.union_all(others).buffer(1.0))
    new = shapely.make_valid(shapely.intersection(new, communes))
    parts = [g for g in getattr(new, "geoms", [new]) if g.geom_type == "Polygon" and g.area > 1]
    revised = gpd.GeoDataFrame(
        {"id": [history.revision_secteur], "version": [int(chosen["version"].iloc[0] or 1) + 1],
         "deliberation": [history.revision_deliberation],
         "date_debut": [history.revision_date]},
        geometry=[shapely.MultiPolygon(parts)], crs=store.crs)
    _write(store, "secteurs_ort", revised, "révision du périmètre (avenant)")


def _slug(text: str) -> str:
    from .validation import slug

    return slug(text)
