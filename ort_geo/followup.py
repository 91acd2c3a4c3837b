"""Follow-up of the programme (convention art. 3.1 and 7): action progress and financing.

The figures the tableau de bord and the bilan annuel read, computed here once:

* :func:`action_progress` — one row per action: status, taux de réalisation, planned and actual
  dates, cost, and its financing totals (planned / committed / paid);
* :func:`orientation_progress` — the same summed per strategic orientation;
* :func:`financing_lines` and :func:`financing_summary` — the financing plan (one line per
  action × financeur × year) with each line's commune and orientation, summed by any keys.

Every function takes a store, or a store as it stood at a date (:func:`ort_geo.timeline.store_at`):
the follow-up tables are journaled like every layer, so "as of" works unchanged.
"""

from __future__ import annotations

import pandas as pd

from .display import CHOICE_LABELS
from .store.base import Store

STATUSES = ("a_lancer", "en_etude", "en_cours", "realise", "abandonne")
AMOUNTS = ("montant_prevu", "montant_engage", "montant_verse")
AMOUNT_LABELS = {"montant_prevu": "Prévu", "montant_engage": "Engagé", "montant_verse": "Versé"}
#: Progress implied by a status when no taux de réalisation is entered.
STATUS_PROGRESS = {"a_lancer": 0.0, "en_etude": 10.0, "en_cours": 50.0, "realise": 100.0}
#: Colours of the statuses (maps and charts).
STATUS_COLOURS = {"a_lancer": "#95a5a6", "en_etude": "#f39c12", "en_cours": "#2e86c1",
                  "realise": "#27ae60", "abandonne": "#7f8c8d"}


def status_label(code: object) -> str:
    return CHOICE_LABELS.get(str(code), "Non renseigné") if code is not None else "Non renseigné"


def orientation_labels(store: Store) -> dict[int, str]:
    """French titles of the strategic orientations: the store's manifest's, and "Orientation k"
    for a number its actions use that the manifest does not name."""
    from .territory import orientations_of

    return {k: title for k, (title, _colour) in orientations_of(store).items()}


def commune_names(store: Store) -> dict[str, str]:
    communes = store.read("communes", columns=["nom"])
    return dict(zip(communes["code_insee"].astype(str), communes["nom"].astype(str), strict=True))


def financing_lines(store: Store) -> pd.DataFrame:
    """The financing plan, one row per line, with the action's orientation, commune and title."""
    lines = pd.DataFrame(store.read("financements").drop(columns="geometry"))
    actions = pd.DataFrame(store.read(
        "actions", columns=["numero", "titre", "orientation", "code_insee"]).drop(
        columns="geometry")).rename(columns={"id": "action_id"})
    out = lines.merge(actions, on="action_id", how="left")
    names = commune_names(store)
    out["commune"] = [names.get(str(c), "Hors commune membre") if pd.notna(c)
                      else "Non localisée" for c in out["code_insee"]]
    for name in AMOUNTS:
        out[name] = pd.to_numeric(out[name], errors="coerce").astype(float)
    out["annee"] = out["annee"].astype("int64")
    return out.sort_values(["annee", "action_id", "financeur"], kind="stable").reset_index(
        drop=True)


def financing_summary(lines: pd.DataFrame, by: str | list[str], *,
                      year: int | None = None) -> pd.DataFrame:
    """Planned, committed and paid amounts summed by ``by`` (a missing amount counts 0 €),
    sorted by the keys; ``year`` keeps that year's lines only."""
    keys = [by] if isinstance(by, str) else list(by)
    if year is not None:
        lines = lines[lines["annee"] == year]
    if lines.empty:
        return pd.DataFrame(columns=[*keys, *AMOUNTS])
    out = lines.groupby(keys, dropna=False, sort=True)[list(AMOUNTS)].sum(min_count=0)
    return out.reset_index()


def action_progress(store: Store) -> pd.DataFrame:
    """One row per action (fiche number order): progress, dates, cost and financing totals.

    ``avancement`` is the entered taux de réalisation, else the one its status implies
    (:data:`STATUS_PROGRESS`); ``avancement_saisi`` tells which.
    """
    actions = store.read("actions")
    frame = pd.DataFrame(actions.drop(columns="geometry"))
    lines = pd.DataFrame(store.read("financements").drop(columns="geometry"))
    totals = (lines.groupby("action_id")[list(AMOUNTS)].sum(min_count=0)
              if len(lines) else pd.DataFrame(columns=list(AMOUNTS)))
    for name in AMOUNTS:
        frame[name] = frame["id"].map(totals[name]).astype(float).fillna(0.0)
    entered = pd.to_numeric(frame["taux_realisation"], errors="coerce").astype(float)
    implied = frame["statut"].map(STATUS_PROGRESS).astype(float)
    frame["avancement_saisi"] = entered.notna()
    frame["avancement"] = entered.where(entered.notna(), implied)
    frame["statut_libelle"] = [status_label(s) if pd.notna(s) else "Non renseigné"
                               for s in frame["statut"]]
    labels = orientation_labels(store)
    frame["orientation_libelle"] = [f"{int(o)}. {labels.get(int(o), '')}" if pd.notna(o) else ""
                                    for o in frame["orientation"]]
    names = commune_names(store)
    frame["commune"] = [names.get(str(c), "") if pd.notna(c) else "" for c in frame["code_insee"]]
    frame["geometry"] = actions.geometry.values
    order = sorted(range(len(frame)), key=lambda i: _fiche_key(frame["numero"].iloc[i],
                                                               frame["id"].iloc[i]))
    return frame.iloc[order].reset_index(drop=True)


def orientation_progress(progress: pd.DataFrame, labels: dict[int, str]) -> pd.DataFrame:
    """Per orientation: actions, actions per status, mean progress (abandoned actions left out),
    cost and financing totals."""
    rows = []
    for k in sorted(labels):
        part = progress[progress["orientation"] == k]
        live = part[part["statut"] != "abandonne"]
        row = {"orientation": k, "libelle": f"{k}. {labels[k]}", "actions": len(part),
               **{s: int((part["statut"] == s).sum()) for s in STATUSES},
               "avancement": float(live["avancement"].mean()) if live["avancement"].notna().any()
               else float("nan"),
               "cout_ht": float(pd.to_numeric(part["cout_ht"], errors="coerce").sum(min_count=1)),
               **{a: float(part[a].sum()) for a in AMOUNTS}}
        rows.append(row)
    return pd.DataFrame(rows)


def actions_of_year(store: Store, year: int) -> pd.DataFrame:
    """Actions undertaken in ``year``: running at some point of it (planned or actual dates), or
    whose journal shows a change of status or progress during it."""
    import datetime as dt

    from .timeline import changes

    progress = action_progress(store)
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    touched = {c.feature_id for c in changes(store, dt.date(year - 1, 12, 31), end,
                                             layers=["actions"])
               if c.before is None or c.after is None or any(
                   c.before.properties.get(f) != c.after.properties.get(f)
                   for f in ("statut", "taux_realisation", "date_debut", "date_fin"))}
    keep = []
    for row in progress.itertuples():
        begin = _first_date(row.date_debut, row.date_debut_prevue)
        finish = _first_date(row.date_fin, row.date_fin_prevue)
        running = (begin is not None and begin <= end
                   and (finish is None or finish >= start) and row.statut != "a_lancer")
        keep.append(running or row.id in touched)
    return progress[keep].reset_index(drop=True)


def _first_date(*values: object):
    import datetime as dt

    for value in values:
        if value is not None and not (isinstance(value, float) and value != value) \
                and value is not pd.NaT:
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return None


def _fiche_key(numero: object, fid: object) -> tuple:
    from .atlas_plan import natural_key

    return natural_key(numero if isinstance(numero, str) else fid)


__all__ = [
    "AMOUNTS", "STATUSES", "action_progress", "actions_of_year", "financing_lines",
    "financing_summary", "orientation_labels", "orientation_progress", "status_label",
]
