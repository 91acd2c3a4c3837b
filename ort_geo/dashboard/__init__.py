"""The tableau de bord de suivi (convention art. 7): one self-contained HTML page, offline.

What the comité de pilotage reads at a glance, from :mod:`ort_geo.followup` and
:mod:`ort_geo.indicators`: progress by orientation and by action, financing by financeur
(planned / committed / paid) and by year, the article 8 indicators over time per sector against
their reference, and a map of the actions by status. Charts are Vega-Lite specifications written
with Altair; Vega, Vega-Lite and vega-embed are vendored npm builds inlined into the page
(:mod:`ort_geo.webmap.assets`), so the page opens from disk with no network at all.

Two editions: ``staff`` (every figure) and ``public`` (statistical secrecy: indicators derived
from restricted data are published for the public release's year only, with its masks; masked
values are left out of the charts). Neither holds any
building-level record: only aggregates, the actions and the financing plan (public money).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import shapely

from ..display import format_number
from ..errors import InputError
from ..followup import (
    AMOUNT_LABELS,
    AMOUNTS,
    STATUS_COLOURS,
    STATUSES,
    action_progress,
    financing_lines,
    orientation_labels,
    orientation_progress,
    status_label,
)
from ..indicators import indicator_specs, indicator_values, programme_years
from ..privacy import MASK_NOTE
from ..store.base import Store
from ..territory import orientations_of
from ..timeline import When, parse_when, store_at

Edition = Literal["staff", "public"]
READY = "window.ortGeoDashboardReady === true"
AMOUNT_COLOURS = {"Prévu": "#aab7b8", "Engagé": "#2e86c1", "Versé": "#1e8449"}


@dataclass(frozen=True)
class DashboardReport:
    path: Path
    edition: str
    charts: int
    size: int
    date: dt.date
    totals: dict[str, float]

    def __str__(self) -> str:
        return (f"{self.path} ({self.charts} graphiques, {self.size / 1e6:.1f} Mo, "
                f"édition {'publique' if self.edition == 'public' else 'de travail'}, "
                f"au {self.date:%d/%m/%Y})")


def build_dashboard_data(store: Store, *, edition: Edition = "staff",
                         at: When = None) -> dict:
    """Every figure of the dashboard, as plain data (the page and the tests read the same)."""
    if edition not in ("staff", "public"):
        raise InputError(f"Édition inconnue « {edition} » : staff ou public.")
    instant = parse_when(at)
    day = instant.date()
    view = store_at(store, instant) if at is not None else store
    labels = orientation_labels(store)
    progress = action_progress(view)
    orientations = orientation_progress(progress, labels)
    lines = financing_lines(view)
    years = programme_years(store, until=day)
    specs = indicator_specs(store)
    values = indicator_values(view, years, public=edition == "public", specs=specs) \
        if specs else pd.DataFrame()
    totals = {name: float(lines[name].sum()) for name in AMOUNTS}
    totals["cout_ht"] = float(pd.to_numeric(progress["cout_ht"], errors="coerce").sum())
    colours = {k: colour for k, (_title, colour) in orientations_of(store).items()}
    return {"progress": progress, "orientations": orientations, "lines": lines,
            "labels": labels, "orientation_colours": colours, "values": values, "specs": specs, "years": years, "date": day,
            "totals": totals, "edition": edition, "store": view}


def write_dashboard(store: Store, output: str | Path, *, edition: Edition = "staff",
                    at: When = None) -> DashboardReport:
    """Write the tableau de bord of ``store`` (as it stands, or stood ``at`` a date)."""
    output = Path(output)
    if output.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"Le tableau de bord s'écrit dans un fichier .html : {output}")
    data = build_dashboard_data(store, edition=edition, at=at)
    from . import charts

    specs = charts.all_charts(data)
    page = _page(data, specs)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    return DashboardReport(output, edition, len(specs), output.stat().st_size, data["date"],
                           data["totals"])


# -- the page -----------------------------------------------------------------------------------

def _euros(value: float) -> str:
    return f"{format_number(value)}\u202f€"


def _kpis(data: dict) -> list[tuple[str, str, str]]:
    progress = data["progress"]
    live = progress[progress["statut"] != "abandonne"]
    totals = data["totals"]
    done = int((progress["statut"] == "realise").sum())
    rate = (100 * totals["montant_verse"] / totals["montant_prevu"]) if totals["montant_prevu"] \
        else float("nan")
    return [
        ("Actions", str(len(progress)), f"dont {done} réalisée(s)"),
        ("Avancement moyen", f"{format_number(live['avancement'].mean(), 0)}\u202f%",
         "des actions non abandonnées"),
        ("Financements prévus", _euros(totals["montant_prevu"]),
         f"{len(data['lines'])} ligne(s) du plan de financement"),
        ("Engagés", _euros(totals["montant_engage"]), "par les financeurs"),
        ("Versés", _euros(totals["montant_verse"]),
         f"{format_number(rate, 0)}\u202f% du prévu" if rate == rate else ""),
    ]


SECTIONS = (
    ("avancement-orientations", "Avancement par orientation",
     "Avancement moyen des actions de chaque orientation stratégique (taux de réalisation saisi, "
     "sinon celui qu'implique le statut) et nombre d'actions par statut."),
    ("avancement-actions", "Avancement des actions",
     "Taux de réalisation de chaque fiche action ; le trait noir marque l'avancement attendu à "
     "cette date d'après le calendrier prévu."),
    ("financement-financeurs", "Financement par financeur",
     "Montants prévus, engagés et versés du plan de financement, par financeur (toutes années)."),
    ("financement-annees", "Financement par année",
     "Montants prévus, engagés et versés par année du plan de financement."),
    ("indicateurs", "Indicateurs de l'article 8",
     "Chaque indicateur de la convention, par secteur d'intervention et pour l'ensemble du "
     "territoire, année après année ; le trait pointillé marque la valeur de référence "
     "(année de signature)."),
    ("carte", "Carte des actions par statut",
     "Localisation des actions (point représentatif) colorée selon leur statut, sur les "
     "secteurs d'intervention de l'ORT."),
)


def _page(data: dict, specs: dict[str, dict]) -> str:
    from ..webmap.assets import inline_assets

    territory = _territory_title(data["store"])
    day = data["date"]
    public = data["edition"] == "public"
    kpis = "".join(
        f'<div class="kpi"><div class="kpi-label">{html.escape(a)}</div>'
        f'<div class="kpi-value">{html.escape(b)}</div>'
        f'<div class="kpi-note">{html.escape(c)}</div></div>' for a, b, c in _kpis(data))
    sections = []
    for key, title, text in SECTIONS:
        ids = [k for k in specs if k == key or k.startswith(key + "-")]
        if not ids:
            continue
        blocks = "".join(f'<div class="vis" id="vis-{k}" role="img" aria-label="'
                         f'{html.escape(specs[k].get("description", title))}"></div>' for k in ids)
        sections.append(f'<section id="{key}"><h2>{html.escape(title)}</h2>'
                        f'<p class="lead">{html.escape(text)}</p><div class="grid">{blocks}'
                        "</div></section>")
    sections.append(_indicator_table(data))
    banner = ("" if public else '<div class="restricted">Document de travail — diffusion '
              "restreinte (indicateurs non soumis au secret statistique)</div>")
    secrecy = (f"<p class=\"note\">{html.escape(MASK_NOTE)} Les indicateurs issus de données "
               "restreintes ne sont publiés que pour l'année de référence publique (« non "
               "diffusé » sinon) ; les valeurs masquées sont retirées des graphiques.</p>"
               if public else "")
    demo = ""
    if data["store"].get_meta("historique_demo"):
        demo = ('<p class="note demo">Historique de démonstration : les bâtiments, l\'avancement '
                "et le financement des actions de cet entrepôt sont générés (ort-geo), non "
                "réels.</p>")
    figures = {k: float(v) for k, v in data["totals"].items()}
    script = _script(specs)
    page = f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tableau de bord du programme — {html.escape(territory)}</title>
<style>{_CSS}</style>
<script src="vendor:vega/build/vega.min.js"></script>
<script src="vendor:vega-lite/build/vega-lite.min.js"></script>
<script src="vendor:vega-embed/build/vega-embed.min.js"></script>
</head><body>
{banner}
<header><h1>Tableau de bord de suivi du programme</h1>
<p class="sub">{html.escape(territory)} — Petites villes de demain / ORT — situation au
{day:%d/%m/%Y} (article 7 de la convention)</p>{demo}{secrecy}</header>
<main><section class="kpis">{kpis}</section>
{''.join(sections)}
</main>
<footer>Produit par ort-geo à partir de l'entrepôt du territoire et de son journal des
modifications. Graphiques : Vega-Lite (Vega, vega-embed), intégrés à la page.</footer>
<script type="application/json" id="ortgeo-totaux">{json.dumps(figures)}</script>
<script>{script}</script>
</body></html>
"""
    return inline_assets(page)


def _indicator_table(data: dict) -> str:
    values: pd.DataFrame = data["values"]
    if values.empty:
        return ""
    years = data["years"]
    head = "".join(f"<th>{y}</th>" for y in years)
    rows = []
    for spec in data["specs"]:
        part = values[values["code"] == spec.code]
        for zone in dict.fromkeys(part["secteur_id"]):
            mine = part[part["secteur_id"] == zone].set_index("annee")
            cells = "".join(f"<td>{html.escape(_cell(mine['valeur'].get(y), spec.unite))}</td>"
                            for y in years)
            rows.append(f"<tr><td>{spec.orientation}</td><td>{html.escape(spec.intitule)}</td>"
                        f"<td>{html.escape(str(mine['secteur'].iloc[0]))}</td>{cells}</tr>")
    return ('<section id="tableau-indicateurs"><h2>Valeurs des indicateurs</h2>'
            '<table class="table"><thead><tr><th>Orientation</th><th>Indicateur</th>'
            f"<th>Zone</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>")


def _cell(value: object, unit: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, str):
        return value
    number = float(value)  # type: ignore[arg-type]
    decimals = 0 if number.is_integer() else (1 if unit == "%" else 2)
    return format_number(number, decimals) + (f"\u202f{unit}" if unit == "%" else "")


def _territory_title(store: Store) -> str:
    from ..build import territory_of

    try:
        return territory_of(store).title
    except InputError:
        return "Territoire"


def _script(specs: dict[str, dict]) -> str:
    payload = json.dumps(specs, ensure_ascii=False).replace("</", "<\\/")
    return "const ortGeoSpecs = " + payload + ";\n" + _RUNTIME


_RUNTIME = """
(function () {
  const specs = ortGeoSpecs;
  const locale = {decimal: ",", thousands: "\\u202f", grouping: [3], currency: ["", "\\u202f€"]};
  const options = {actions: false, renderer: "svg", formatLocale: locale};
  const jobs = Object.entries(specs).map(([key, spec]) =>
    vegaEmbed("#vis-" + key, spec, options).catch((err) => {
      const box = document.getElementById("vis-" + key);
      box.textContent = "Graphique indisponible : " + err.message;
      throw err;
    }));
  Promise.allSettled(jobs).then(() => { window.ortGeoDashboardReady = true; });
})();
"""


_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 0; color: #1b2631;
       background: #f4f6f7; }
header, main, footer { max-width: 1280px; margin: 0 auto; padding: 0 24px; }
header h1 { margin: 18px 0 4px; font-size: 26px; }
.sub { margin: 0 0 8px; color: #5f6a6a; }
.restricted { background: #c0392b; color: white; font-weight: bold; text-align: center;
              padding: 6px; }
.note { color: #5f6a6a; font-size: 13px; margin: 4px 0; }
.demo { color: #7d6608; }  /* 5.1:1 on the page background (WCAG AA) */
.kpis { display: flex; gap: 14px; flex-wrap: wrap; margin: 16px 0; }
.kpi { background: white; border-radius: 6px; padding: 12px 16px; flex: 1 1 180px;
       box-shadow: 0 1px 2px rgba(0,0,0,.12); }
.kpi-label { color: #5f6a6a; font-size: 13px; }
.kpi-value { font-size: 24px; font-weight: bold; margin: 4px 0; }
.kpi-note { color: #5f6a6a; font-size: 12px; }
section { background: white; border-radius: 6px; padding: 8px 18px 14px; margin: 16px 0;
          box-shadow: 0 1px 2px rgba(0,0,0,.12); }
section.kpis { background: none; box-shadow: none; padding: 0; }
h2 { font-size: 19px; margin: 10px 0 4px; }
.lead { color: #5f6a6a; font-size: 13px; margin: 0 0 10px; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
.table { border-collapse: collapse; font-size: 13px; width: 100%; }
.table th, .table td { border-bottom: 1px solid #d5d8dc; padding: 4px 6px; text-align: right; }
.table th:nth-child(-n+3), .table td:nth-child(-n+3) { text-align: left; }
footer { color: #5f6a6a; font-size: 12px; padding-bottom: 24px; }
"""


def capture(html_path: str | Path, png: str | Path, *, width: int = 1320) -> Path:
    """A full-page PNG of the dashboard, drawn offline by the system chromium."""
    from ..webmap.browser import BrowserError, browser, open_page

    with browser() as instance, open_page(instance, Path(html_path), width=width, height=900,
                                          ready=READY) as (page, visit):
        if visit.errors:
            raise BrowserError(f"Erreurs JavaScript du tableau de bord : {visit.errors[:3]}")
        page.screenshot(path=str(png), full_page=True)
    return Path(png)


__all__ = ["READY", "DashboardReport", "build_dashboard_data", "capture", "write_dashboard"]


# Shared with the charts module.
def _status_scale() -> tuple[list[str], list[str]]:
    domain = [status_label(s) for s in STATUSES] + ["Non renseigné"]
    colours = [STATUS_COLOURS[s] for s in STATUSES] + ["#d5d8dc"]
    return domain, colours


def _representative_lonlat(frame) -> tuple[list[float], list[float]]:
    import geopandas as gpd

    points = gpd.GeoSeries(shapely.point_on_surface(frame.geometry.values), crs=frame.crs)
    wgs = points.to_crs(4326)
    return wgs.x.round(6).tolist(), wgs.y.round(6).tolist()


AMOUNT_ORDER = [AMOUNT_LABELS[a] for a in AMOUNTS]
