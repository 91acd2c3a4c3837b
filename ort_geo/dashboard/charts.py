"""The dashboard's charts: Vega-Lite specifications written with Altair, from plain figures."""

from __future__ import annotations

import datetime as dt
import textwrap

import altair as alt
import pandas as pd
import shapely
import shapely.geometry

from ..followup import AMOUNT_LABELS, AMOUNTS, STATUSES, financing_summary, status_label
from . import AMOUNT_COLOURS, AMOUNT_ORDER, _representative_lonlat, _status_scale

WIDTH = 560
EUROS = ",.0f"


def all_charts(data: dict) -> dict[str, dict]:
    """Every chart of the page as a Vega-Lite dict, keyed by the id of its place in the page."""
    with alt.data_transformers.disable_max_rows():
        charts = {
            "avancement-orientations": _orientations(data),
            "avancement-orientations-statuts": _orientation_statuses(data),
            "avancement-actions": _actions(data),
            "financement-financeurs": _by_funder(data),
            "financement-annees": _by_year(data),
            **_indicators(data),
            "carte": _map(data),
        }
        return {k: _plain(c) for k, c in charts.items() if c is not None}


def _plain(chart: alt.TopLevelMixin | alt.TopLevelSpec) -> dict:
    spec = chart.to_dict()
    spec.pop("$schema", None)  # a URL vega-embed would only print; no request is made
    return spec


def _french(text: str) -> alt.Title:
    return alt.Title(text, anchor="start", fontSize=13)


def _orientations(data: dict) -> alt.Chart:
    frame = data["orientations"][["orientation", "libelle", "actions", "avancement"]].copy()
    frame["avancement"] = frame["avancement"].round(1)
    own = data.get("orientation_colours", {})  # the manifest's colours
    colours = [own.get(int(k), "#566573") for k in frame["orientation"]]
    base = alt.Chart(frame, width=WIDTH, height=38 * len(frame),
                     title=_french("Avancement moyen des actions (%)"),
                     description="Avancement moyen des actions par orientation").encode(
        y=alt.Y("libelle:N", title=None, sort=None, axis=alt.Axis(labelLimit=330)))
    bars = base.mark_bar().encode(
        x=alt.X("avancement:Q", title="Avancement moyen (%)", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("libelle:N", scale=alt.Scale(domain=frame["libelle"].tolist(),
                                                     range=colours), legend=None),
        tooltip=[alt.Tooltip("libelle:N", title="Orientation"),
                 alt.Tooltip("actions:Q", title="Actions"),
                 alt.Tooltip("avancement:Q", title="Avancement moyen (%)", format=".1f")])
    text = base.mark_text(align="left", dx=4).encode(
        x="avancement:Q", text=alt.Text("avancement:Q", format=".0f"))
    return bars + text


def _orientation_statuses(data: dict) -> alt.Chart:
    frame = data["orientations"]
    rows = [{"libelle": r["libelle"], "statut": status_label(s), "actions": int(r[s]),
             "ordre": k} for _, r in frame.iterrows() for k, s in enumerate(STATUSES) if r[s]]
    domain, colours = _status_scale()
    return alt.Chart(pd.DataFrame(rows), width=WIDTH, height=38 * len(frame),
                     title=_french("Nombre d'actions par statut"),
                     description="Nombre d'actions par statut et par orientation").mark_bar(
    ).encode(
        y=alt.Y("libelle:N", title=None, sort=None, axis=alt.Axis(labelLimit=330)),
        x=alt.X("sum(actions):Q", title="Actions", axis=alt.Axis(tickMinStep=1)),
        color=alt.Color("statut:N", title="Statut", scale=alt.Scale(domain=domain,
                                                                     range=colours)),
        order=alt.Order("ordre:Q"),
        tooltip=[alt.Tooltip("libelle:N", title="Orientation"),
                 alt.Tooltip("statut:N", title="Statut"),
                 alt.Tooltip("actions:Q", title="Actions")])


def _expected(row: pd.Series, day: dt.date) -> float | None:
    """The share of the planned period elapsed at ``day`` (percent)."""
    start, end = row["date_debut_prevue"], row["date_fin_prevue"]
    if start is None or end is None or pd.isna(start) or pd.isna(end) or end <= start:
        return None
    return round(100 * min(1.0, max(0.0, (day - start).days / (end - start).days)), 1)


def _actions(data: dict) -> alt.Chart:
    progress = data["progress"]
    day = data["date"]
    frame = pd.DataFrame({
        "action": [f"{n or i} – {t}"[:70] for n, i, t in
                   zip(progress["numero"], progress["id"], progress["titre"], strict=True)],
        "avancement": progress["avancement"].astype(float).round(1),
        "attendu": [_expected(r, day) for _, r in progress.iterrows()],
        "statut": progress["statut_libelle"],
        "orientation": progress["orientation_libelle"],
        "prevu": progress["montant_prevu"], "verse": progress["montant_verse"],
    })
    domain, colours = _status_scale()
    order = frame["action"].tolist()
    base = alt.Chart(frame, width=WIDTH, height=22 * len(frame),
                     title=_french("Taux de réalisation par action (%)"),
                     description="Taux de réalisation de chaque action").encode(
        y=alt.Y("action:N", title=None, sort=order, axis=alt.Axis(labelLimit=380)))
    bars = base.mark_bar().encode(
        x=alt.X("avancement:Q", title="Taux de réalisation (%)",
                scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("statut:N", title="Statut", scale=alt.Scale(domain=domain,
                                                                     range=colours)),
        tooltip=[alt.Tooltip("action:N", title="Action"),
                 alt.Tooltip("orientation:N", title="Orientation"),
                 alt.Tooltip("statut:N", title="Statut"),
                 alt.Tooltip("avancement:Q", title="Réalisé (%)", format=".0f"),
                 alt.Tooltip("attendu:Q", title="Attendu (%)", format=".0f"),
                 alt.Tooltip("prevu:Q", title="Financement prévu (€)", format=EUROS),
                 alt.Tooltip("verse:Q", title="Versé (€)", format=EUROS)])
    ticks = base.mark_tick(color="#1b2631", thickness=2, size=16).encode(
        x="attendu:Q")
    return bars + ticks


def _long_amounts(summary: pd.DataFrame, key: str) -> pd.DataFrame:
    rows = [{key: r[key], "montant": float(r[a]), "type": AMOUNT_LABELS[a], "ordre": k}
            for _, r in summary.iterrows() for k, a in enumerate(AMOUNTS)]
    return pd.DataFrame(rows, columns=[key, "montant", "type", "ordre"])


def _amount_colour() -> alt.Color:
    return alt.Color("type:N", title="Montant", sort=AMOUNT_ORDER,
                     scale=alt.Scale(domain=AMOUNT_ORDER,
                                     range=[AMOUNT_COLOURS[t] for t in AMOUNT_ORDER]))


def _by_funder(data: dict) -> alt.Chart:
    summary = financing_summary(data["lines"], "financeur")
    summary = summary.sort_values("montant_prevu", ascending=False)
    frame = _long_amounts(summary, "financeur")
    return alt.Chart(frame, width=WIDTH, height=max(120, 48 * len(summary)),
                     title=_french("Financement par financeur (€)"),
                     description="Montants prévus, engagés et versés par financeur").mark_bar(
    ).encode(
        y=alt.Y("financeur:N", title=None, sort=summary["financeur"].tolist(),
                axis=alt.Axis(labelLimit=300)),
        yOffset=alt.YOffset("type:N", sort=AMOUNT_ORDER),
        x=alt.X("montant:Q", title="Montant (€)", axis=alt.Axis(format="~s")),
        color=_amount_colour(),
        tooltip=[alt.Tooltip("financeur:N", title="Financeur"),
                 alt.Tooltip("type:N", title="Montant"),
                 alt.Tooltip("montant:Q", title="€", format=EUROS)])


def _by_year(data: dict) -> alt.Chart:
    summary = financing_summary(data["lines"], "annee")
    summary["annee"] = summary["annee"].astype(str)
    frame = _long_amounts(summary, "annee")
    return alt.Chart(frame, width=WIDTH, height=260,
                     title=_french("Financement par année (€)"),
                     description="Montants prévus, engagés et versés par année").mark_bar(
    ).encode(
        x=alt.X("annee:N", title="Année", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("type:N", sort=AMOUNT_ORDER),
        y=alt.Y("montant:Q", title="Montant (€)", axis=alt.Axis(format="~s")),
        color=_amount_colour(),
        tooltip=[alt.Tooltip("annee:N", title="Année"), alt.Tooltip("type:N", title="Montant"),
                 alt.Tooltip("montant:Q", title="€", format=EUROS)])


def _indicators(data: dict) -> dict[str, alt.Chart]:
    values: pd.DataFrame = data["values"]
    out: dict[str, alt.Chart] = {}
    if values.empty:
        return out
    first = min(data["years"])
    for spec in data["specs"]:
        part = values[values["code"] == spec.code]
        numeric = part[part["valeur"].map(lambda v: isinstance(v, float))].copy()
        if numeric.empty:
            continue
        numeric["valeur"] = numeric["valeur"].astype(float)
        numeric["annee"] = numeric["annee"].astype(str)
        zones = list(dict.fromkeys(numeric["secteur"]))
        unit = f" ({spec.unite})" if spec.unite else ""
        sens = {"hausse": "↗ hausse attendue", "baisse": "↘ baisse attendue",
                "maintien": "→ maintien attendu"}.get(spec.sens or "", "")
        subtitle = textwrap.wrap(f"Objectif : {spec.objectif}", 78) + ([sens] if sens else [])
        title = alt.Title(f"{spec.orientation}. {spec.intitule}{unit}", anchor="start",
                          fontSize=12, subtitle=subtitle, subtitleFontSize=10,
                          subtitleColor="#5f6a6a")
        base = alt.Chart(numeric, width=340, height=170, title=title,
                         description=f"{spec.intitule} par année et par zone")
        lines = base.mark_line(point=True).encode(
            x=alt.X("annee:N", title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("valeur:Q", title=spec.unite or None, scale=alt.Scale(zero=False)),
            color=alt.Color("secteur:N", title="Zone", sort=zones,
                            legend=alt.Legend(orient="bottom", columns=2, labelLimit=260)),
            tooltip=[alt.Tooltip("secteur:N", title="Zone"),
                     alt.Tooltip("annee:N", title="Année"),
                     alt.Tooltip("valeur:Q", title=spec.unite or "Valeur", format=",.2~f"),
                     alt.Tooltip("source:N", title="Source")])
        reference = numeric[(numeric["annee"] == str(first))
                            & (numeric["secteur_id"] == "territoire")]
        chart = lines
        if len(reference):
            rule = alt.Chart(reference).mark_rule(strokeDash=[4, 3], color="#1b2631").encode(
                y="valeur:Q",
                tooltip=[alt.Tooltip("valeur:Q", title="Référence (territoire)",
                                     format=",.2~f")])
            chart = lines + rule
        out[f"indicateurs-{spec.code}"] = chart
    return out


def _map(data: dict) -> alt.LayerChart | alt.FacetChart | None:
    store = data["store"]
    progress = data["progress"]
    located = progress[progress["geometry"].notna()]
    if located.empty:
        return None
    import geopandas as gpd

    frame = gpd.GeoDataFrame(located, geometry="geometry", crs="EPSG:2154")
    lon, lat = _representative_lonlat(frame)
    points = pd.DataFrame({"lon": lon, "lat": lat, "statut": frame["statut_libelle"],
                           "action": [f"{n} – {t}" for n, t in
                                      zip(frame["numero"], frame["titre"], strict=True)],
                           "avancement": frame["avancement"].round(0)})
    communes = store.read("communes", columns=["nom"]).to_crs(4326)
    sectors = store.read("secteurs_ort", columns=["nom"]).to_crs(4326)
    for layer in (communes, sectors):
        # d3-geo (Vega) reads a clockwise exterior ring as the polygon, the other way round as
        # the whole sphere but it: the reverse of RFC 7946.
        layer["geometry"] = [shapely.geometry.polygon.orient(p, sign=-1.0)
                             if p.geom_type == "Polygon" else
                             shapely.MultiPolygon([shapely.geometry.polygon.orient(q, sign=-1.0)
                                                   for q in p.geoms])
                             for p in layer.geometry.simplify(0.00005)]
    domain, colours = _status_scale()
    height = 520
    base = alt.Chart(communes).mark_geoshape(fill="#f2f3f4", stroke="#909497",
                                             strokeWidth=0.8).encode(
        tooltip=[alt.Tooltip("nom:N", title="Commune")])
    zones = alt.Chart(sectors).mark_geoshape(fill="#f5b7b1", fillOpacity=0.45, stroke="#c0392b",
                                             strokeWidth=1.2).encode(
        tooltip=[alt.Tooltip("nom:N", title="Secteur ORT")])
    dots = alt.Chart(points).mark_circle(size=150, stroke="white", strokeWidth=1,
                                         opacity=0.95).encode(
        longitude="lon:Q", latitude="lat:Q",
        color=alt.Color("statut:N", title="Statut", scale=alt.Scale(domain=domain,
                                                                     range=colours)),
        tooltip=[alt.Tooltip("action:N", title="Action"), alt.Tooltip("statut:N", title="Statut"),
                 alt.Tooltip("avancement:Q", title="Avancement (%)")])
    return alt.layer(base, zones, dots).project(type="mercator").properties(
        width=1060, height=height, title=_french("Actions du programme par statut"),
        description="Carte des actions par statut")
