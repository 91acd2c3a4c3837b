"""Lay out the bilan annuel (CCH art. L303-2) decided by :mod:`ort_geo.bilan_plan`, as a PDF.

Same page geometry, fonts and rules as the atlas (:mod:`atlas.layout`, :data:`atlas.build.RC`):
A4 landscape, vector, embedded DejaVu Sans, deterministic bytes (the document's date comes from
the plan, never from the clock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ort_geo import __version__
from ort_geo.atlas_plan import format_euros, format_value
from ort_geo.bilan_plan import BilanPlan, plan_bilan
from ort_geo.store import Store

from .layout import (
    ACCENT,
    GREY,
    INK,
    LIGHT,
    RESTRICTED,
    Sheet,
    draw_table,
    paginate_rows,
    row_height,
    wrap,
)

LEFT, RIGHT = 14.0, 283.0
TOP, BOTTOM = 30.0, 192.0
SENS = {"hausse": "↗ hausse", "baisse": "↘ baisse", "maintien": "→ maintien"}
GAINED, LOST = "#1e8449", "#c0392b"


@dataclass(frozen=True)
class BilanResult:
    path: Path
    pages: int
    year: int
    evaluation: bool


def build_bilan(store: Store, output: str | Path, *, year: int, evaluation: bool = False,
                edition: str = "public", paper: str = "A4") -> BilanResult:
    """Write the bilan of ``year`` (or the evaluation since the signature) to ``output``."""
    from .build import pdf_output, write_pdf

    output = pdf_output(output, paper)
    plan = plan_bilan(store, year, evaluation=evaluation, edition=edition)
    jobs = _jobs(plan)
    total = len(jobs)

    def framed(title: str, number: int, draw: Callable[[Sheet], None]) -> Callable[[Sheet], None]:
        def page(sheet: Sheet) -> None:
            _chrome(sheet, plan, title, number, total)
            draw(sheet)
        return page

    write_pdf(output, paper, [(title, framed(title, number, draw))
                              for number, (title, draw) in enumerate(jobs, start=1)],
              _metadata(plan))
    return BilanResult(output, total, year, evaluation)


def _title(plan: BilanPlan) -> str:
    if plan.evaluation:
        return f"Évaluation {plan.start.year}–{plan.end.year} de l'opération de revitalisation"
    return f"Bilan annuel {plan.year} de l'opération de revitalisation de territoire"


def _period(plan: BilanPlan) -> str:
    return f"du {plan.start:%d/%m/%Y} au {plan.end:%d/%m/%Y}"


def _metadata(plan: BilanPlan) -> dict:
    return {"Title": f"{_title(plan)} – {plan.territory_title}",
            "Subject": "Bilan des actions de l'ORT et de leurs incidences financières "
                       "(article L303-2 du code de la construction et de l'habitation)",
            "Author": "ort-geo", "Keywords": "ORT; Petites villes de demain; bilan annuel; L303-2",
            "Creator": f"ort-geo {__version__}", "CreationDate": plan.date, "ModDate": plan.date}


# -- page chrome ---------------------------------------------------------------------------------

def _chrome(sheet: Sheet, plan: BilanPlan, title: str, number: int, total: int) -> None:
    if plan.edition == "staff":
        sheet.rect(0, 0, 297, 7, facecolor=RESTRICTED)
        sheet.text(148.5, 5, "DOCUMENT DE TRAVAIL – DIFFUSION RESTREINTE – indicateurs issus de "
                   "données d'occupation non soumis au secret statistique", 7.5, color="white",
                   weight="bold", ha="center")
    else:
        sheet.rect(0, 0, 297, 4, facecolor=ACCENT)
    sheet.text(LEFT, 15, title, 14, weight="bold")
    sheet.text(LEFT, 21.5, f"{_title(plan)} — {_period(plan)}", 8, color=GREY)
    sheet.text(RIGHT, 13.5, "Article L303-2 du CCH", 7.2, color=GREY, ha="right")
    sheet.text(RIGHT, 17.5, plan.territory_title, 7.2, color=GREY, ha="right")
    sheet.text(RIGHT, 21.5, f"Situation au {plan.end:%d/%m/%Y}", 7.2, color=GREY, ha="right")
    sheet.hline(LEFT, RIGHT, 24.5, colour=INK, width=0.8)
    sheet.hline(LEFT, RIGHT, 197.5)
    foot = ("Produit par ort-geo à partir de l'entrepôt du territoire et de son journal des "
            "modifications. ")
    foot += ("Édition de travail : diffusion restreinte." if plan.edition == "staff" else
             "Secret statistique : « secret » remplace les petits effectifs issus de données "
             "protégées ; « non diffusé » : indicateur issu de données protégées, publié pour "
             "l'année de référence publique seulement.")
    if plan.demo:
        foot += " Historique de démonstration : données générées, non réelles."
    sheet.paragraph(LEFT, 201, 230, foot, 5.8, color=GREY, max_lines=2)
    sheet.text(RIGHT, 201.5, f"{number} / {total}", 8, ha="right", weight="bold")


def _jobs(plan: BilanPlan) -> list[tuple[str, Callable[[Sheet], None]]]:
    jobs: list[tuple[str, Callable[[Sheet], None]]] = [
        ("Synthèse", lambda s: _summary(s, plan))]
    orientation_rows = _orientation_rows(plan)
    first_room = BOTTOM - TOP - 30 - sum(row_height(r, ORIENTATION_COLUMNS, 7.2)
                                         for r in orientation_rows)
    action_pages = paginate_rows(_action_rows(plan), ACTION_COLUMNS, 6.6,
                                 [first_room, BOTTOM - TOP - 8])
    for k, rows in enumerate(action_pages, start=1):
        suffix = f" ({k}/{len(action_pages)})" if len(action_pages) > 1 else ""
        jobs.append((f"Avancement et actions entreprises{suffix}",
                     lambda s, r=rows, k=k: _actions(s, plan, r, orientation_rows if k == 1
                                                     else None)))
    jobs.append(("Incidences financières", lambda s: _financing(s, plan)))
    indicator_pages = paginate_rows(_indicator_rows(plan), INDICATOR_COLUMNS, 6.2,
                                    [BOTTOM - TOP - 10])
    for k, rows in enumerate(indicator_pages, start=1):
        suffix = f" ({k}/{len(indicator_pages)})" if len(indicator_pages) > 1 else ""
        jobs.append((f"Indicateurs de l'article 8{suffix}",
                     lambda s, r=rows: _indicators(s, plan, r)))
    jobs.append(("Évolution des périmètres", lambda s: _perimeters(s, plan)))
    return jobs


# -- pages ---------------------------------------------------------------------------------------

def _number(value: float | None, unit: str) -> str:
    if value is None or value != value:
        return "–"
    if unit == "€":
        return format_euros(value)
    if unit == "%":
        return format_value(float(value), decimals=0, unit="%")
    return format_value(int(round(value)), decimals=0)


def _summary(sheet: Sheet, plan: BilanPlan) -> None:
    y = TOP + 4
    intro = (f"En application de l'article L303-2 du code de la construction et de l'habitation, "
             f"{'l’évaluation' if plan.evaluation else 'le bilan annuel'} des actions entreprises "
             f"dans le cadre de l'opération de revitalisation de territoire et de leurs "
             f"incidences financières est présenté{'e' if plan.evaluation else ''} :")
    y = sheet.paragraph(LEFT, y, 125, intro, 8.2)
    for council in plan.councils:
        y = sheet.paragraph(LEFT + 3, y + 1, 122, f"• {council}", 8.2)
    y += 5
    y = sheet.paragraph(LEFT, y, 125, plan.convention_reference or plan.convention_title, 7.5,
                        color=GREY)
    y += 4
    for note in plan.notes:
        y = sheet.paragraph(LEFT, y, 125, note, 7.5, color=ACCENT)
    columns = [("Chiffre clé", 73.0, "left"),
               (f"Au {plan.start:%d/%m/%Y}" if not plan.evaluation else "À la signature",
                30.0, "right"),
               (f"Au {plan.end:%d/%m/%Y}", 30.0, "right")]
    rows = [[label, _number(start, unit) if start is not None else "", _number(end, unit)]
            for label, end, start, unit in plan.summary]
    sheet.text(150, TOP + 4, "Chiffres clés", 10, weight="bold")
    draw_table(sheet, 150, TOP + 11, columns, rows, 7.6)
    # progress per orientation, as bars
    ax = sheet.axes(LEFT + 50, max(y + 16, 96.0), 72, 58)
    frame = plan.orientations
    labels = ["\n".join(wrap(f"{k}. {plan.orientation_titles.get(int(k), '')}", 46, 6.5))
              for k in frame["orientation"]]
    ax.barh(range(len(frame)), frame["avancement"].fillna(0), color="#2e86c1", height=0.6)
    ax.set_yticks(range(len(frame)), labels, fontsize=6.5 * sheet.scale)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.tick_params(axis="x", labelsize=6 * sheet.scale)
    ax.set_title("Avancement moyen des actions par orientation (%)",
                 fontsize=7.5 * sheet.scale, loc="left")
    for k, value in enumerate(frame["avancement"].fillna(0)):
        ax.text(value + 1, k, f"{value:.0f}", va="center", fontsize=6.5 * sheet.scale)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


ORIENTATION_COLUMNS = [("Orientation", 86.0, "left"), ("Actions", 16.0, "right"),
                       ("À lancer", 16.0, "right"), ("À l'étude", 16.0, "right"),
                       ("En cours", 16.0, "right"), ("Réalisées", 18.0, "right"),
                       ("Abandonnées", 24.0, "right"), ("Avancement", 20.0, "right"),
                       ("Coût (€ HT)", 26.0, "right"), ("Prévu (€)", 26.0, "right")]


def _orientation_rows(plan: BilanPlan) -> list[list[str]]:
    rows = []
    for r in plan.orientations.itertuples():
        rows.append([str(r.libelle), str(r.actions), str(r.a_lancer), str(r.en_etude),
                     str(r.en_cours), str(r.realise), str(r.abandonne),
                     _number(r.avancement, "%"), format_euros(r.cout_ht),
                     format_euros(r.montant_prevu)])
    frame = plan.orientations
    rows.append(["Ensemble du programme", str(int(frame["actions"].sum())),
                 *(str(int(frame[s].sum())) for s in ("a_lancer", "en_etude", "en_cours",
                                                      "realise", "abandonne")),
                 "", format_euros(frame["cout_ht"].sum()),
                 format_euros(frame["montant_prevu"].sum())])
    return rows


ACTION_COLUMNS = [("Fiche", 12.0, "left"), ("Action", 96.0, "left"), ("Commune", 38.0, "left"),
                  ("Statut au début", 26.0, "left"), ("Statut à la fin", 26.0, "left"),
                  ("Avancement", 30.0, "right"), ("Coût (€ HT)", 26.0, "right")]


def _action_rows(plan: BilanPlan) -> list[list[str]]:
    rows = []
    for r in plan.actions.itertuples():
        progress = f"{_number(r.avancement_debut, '%')} → {_number(r.avancement_fin, '%')}"
        rows.append([str(r.numero or r.id), str(r.titre), str(r.commune or "–"),
                     r.statut_debut, r.statut_fin, progress, format_euros(r.cout_ht)])
    return rows or [["", "Aucune action entreprise sur la période.", "", "", "", "", ""]]


def _actions(sheet: Sheet, plan: BilanPlan, rows: list[list[str]],
             orientation_rows: list[list[str]] | None) -> None:
    y = TOP + 2
    if orientation_rows is not None:
        y = sheet.paragraph(LEFT, y, 268, "Actions du plan d'action par orientation stratégique "
                            f"au {plan.end:%d/%m/%Y} (avancement : taux de réalisation saisi, "
                            "sinon celui qu'implique le statut ; coûts et financements prévus "
                            "toutes années).", 7.5, color=GREY)
        y = draw_table(sheet, LEFT, y + 3, ORIENTATION_COLUMNS, orientation_rows, 7.2,
                       bold={len(orientation_rows) - 1}) + 4
    sheet.text(LEFT, y, f"Actions en cours, engagées, financées ou achevées "
               f"{_period(plan)} ({len(plan.actions)}).", 7.5, color=GREY)
    draw_table(sheet, LEFT, y + 6, ACTION_COLUMNS, rows, 6.6)


def _financing(sheet: Sheet, plan: BilanPlan) -> None:
    years = (f"{plan.start.year}–{plan.end.year}" if plan.start.year != plan.end.year
             else str(plan.year))
    columns = [("Financeur", 62.0, "left"), (f"Prévu {years}", 24.0, "right"),
               (f"Engagé {years}", 24.0, "right"), (f"Versé {years}", 24.0, "right"),
               ("Prévu cumulé", 24.0, "right"), ("Versé cumulé", 24.0, "right")]
    frame = plan.financing_by_funder.sort_values("montant_prevu", ascending=False,
                                                 kind="stable")
    rows = [[str(r.financeur), format_euros(r.montant_prevu), format_euros(r.montant_engage),
             format_euros(r.montant_verse), format_euros(r.montant_prevu_cumul),
             format_euros(r.montant_verse_cumul)] for r in frame.itertuples()]
    rows.append(["Total", format_euros(frame["montant_prevu"].sum()),
                 format_euros(frame["montant_engage"].sum()),
                 format_euros(frame["montant_verse"].sum()),
                 format_euros(frame["montant_prevu_cumul"].sum()),
                 format_euros(frame["montant_verse_cumul"].sum())])
    sheet.text(LEFT, TOP + 3, f"Par financeur (lignes du plan de financement des années "
               f"{years} ; cumul depuis le début du programme)", 8.5, weight="bold")
    y = draw_table(sheet, LEFT, TOP + 10, columns, rows, 7.0, bold={len(rows) - 1})
    communes = plan.financing_by_commune
    columns = [("Commune de l'action", 62.0, "left"), ("Prévu", 24.0, "right"),
               ("Engagé", 24.0, "right"), ("Versé", 24.0, "right")]
    rows = [[str(r.commune), format_euros(r.montant_prevu), format_euros(r.montant_engage),
             format_euros(r.montant_verse)] for r in communes.itertuples()]
    rows.append(["Total", format_euros(communes["montant_prevu"].sum()),
                 format_euros(communes["montant_engage"].sum()),
                 format_euros(communes["montant_verse"].sum())])
    sheet.text(LEFT, y + 5, f"Par commune (commune de rattachement de l'action, {years})", 8.5,
               weight="bold")
    draw_table(sheet, LEFT, y + 12, columns, rows, 7.0, bold={len(rows) - 1})
    # every year of the plan, as grouped bars
    ax = sheet.axes(205, TOP + 10, 76, 70)
    by_year = plan.financing_by_year
    xs = range(len(by_year))
    for k, (name, colour) in enumerate((("montant_prevu", "#aab7b8"),
                                        ("montant_engage", "#2e86c1"),
                                        ("montant_verse", "#1e8449"))):
        ax.bar([x + (k - 1) * 0.27 for x in xs], by_year[name] / 1000, width=0.27, color=colour,
               label={"montant_prevu": "Prévu", "montant_engage": "Engagé",
                      "montant_verse": "Versé"}[name])
    ax.set_xticks(list(xs), [str(y) for y in by_year["annee"]], fontsize=6 * sheet.scale)
    ax.tick_params(axis="y", labelsize=6 * sheet.scale)
    ax.set_title("Plan de financement par année (k€)", fontsize=7.5 * sheet.scale, loc="left")
    ax.legend(fontsize=6 * sheet.scale, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


INDICATOR_COLUMNS = [("Indicateur", 60.0, "left"), ("Zone", 58.0, "left"),
                     ("Référence", 19.0, "right"), ("Année N-1", 19.0, "right"),
                     ("Année N", 19.0, "right"), ("Objectif de la convention", 94.0, "left")]


def _indicator_value(value: object, unit: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, str):
        return value
    decimals = 1 if unit in ("%", "km") else 0
    return format_value(float(value), decimals=decimals) + (f"\u202f{unit}" if unit in
                                                              ("%", "km") else "")


def _indicator_rows(plan: BilanPlan) -> list[list[str]]:
    rows = []
    frame = plan.indicators
    if frame.empty:
        return [["Aucun indicateur déclaré par le territoire.", "", "", "", "", ""]]
    last = None
    for r in frame.itertuples():
        first = r.code != last
        last = r.code
        objective = f"{SENS.get(r.sens or '', '')} — {r.objectif}" if r.sens else r.objectif
        rows.append([f"{r.orientation}. {r.intitule}" if first else "", str(r.secteur),
                     _indicator_value(r.reference_valeur, r.unite),
                     _indicator_value(r.precedente, r.unite),
                     _indicator_value(r.valeur, r.unite), objective if first else ""])
    return rows


def _indicators(sheet: Sheet, plan: BilanPlan, rows: list[list[str]]) -> None:
    ref = (int(plan.indicators["reference_annee"].iloc[0]) if not plan.indicators.empty
           else plan.year)
    sheet.paragraph(LEFT, TOP + 2, 268,
                    f"Référence : année de signature de la convention ({ref}) ; année N = "
                    f"{plan.year}, N-1 = {plan.year - 1}. Valeurs calculées par secteur depuis "
                    "les couches (état au 31 décembre, rejoué depuis le journal) ou saisies avec "
                    "leur source. La référence et l'objectif qualitatifs sont ceux de l'article 8 "
                    "de la convention.", 7.0, color=GREY)
    draw_table(sheet, LEFT, TOP + 12, INDICATOR_COLUMNS, rows, 6.2)


def _perimeters(sheet: Sheet, plan: BilanPlan) -> None:
    changes = plan.perimeter_changes
    columns = [("Zone", 52.0, "left"), ("Évolution", 22.0, "left"),
               ("Version", 16.0, "center"), ("Surface avant", 22.0, "right"),
               ("Surface après", 22.0, "right"), ("Gagnée", 18.0, "right"),
               ("Perdue", 18.0, "right")]
    ha = "\u202fha"
    rows = [[c.name, c.kind, f"{c.version_before or '–'} → {c.version_after or '–'}",
             format_value(c.area_before_ha, decimals=2) + ha,
             format_value(c.area_after_ha, decimals=2) + ha,
             format_value(c.gained_ha, decimals=2) + ha,
             format_value(c.lost_ha, decimals=2) + ha] for c in changes]
    if not rows:
        sheet.paragraph(LEFT, TOP + 4, 160, f"Aucun périmètre de secteur ORT ni de zone de permis "
                        f"de louer n'a changé {_period(plan)}.", 8)
        return
    rows.append(["Total", "", "", "", "", format_value(sum(c.gained_ha for c in changes),
                                                       decimals=2) + ha,
                 format_value(sum(c.lost_ha for c in changes), decimals=2) + ha])
    sheet.text(LEFT, TOP + 3, f"Périmètres modifiés {_period(plan)}, d'après le journal",
               8.5, weight="bold")
    y = draw_table(sheet, LEFT, TOP + 10, columns, rows, 7.0, bold={len(rows) - 1})
    for c in changes:
        text = f"{c.name} : {c.deliberation or 'délibération non renseignée'} ({c.date:%d/%m/%Y})"
        y = sheet.paragraph(LEFT, y + 2, 165, text, 6.8, color=GREY)
    _change_map(sheet, plan)


def _change_map(sheet: Sheet, plan: BilanPlan) -> None:
    import geopandas as gpd
    import shapely
    from matplotlib.patches import Patch

    from ort_geo import cartography as carto

    from .maps import frame_map

    changes = [c for c in plan.perimeter_changes if c.layer == "secteurs_ort"] or \
        plan.perimeter_changes
    ax = sheet.axes(190, TOP + 4, 92, 150)
    area = shapely.union_all([g for c in changes for g in (c.before, c.after) if g is not None])
    extent = carto.fit_extent(area.bounds, 92 / 150, 0.25)
    communes = plan.layers["communes"]
    sectors = plan.layers["secteurs_ort"]
    if len(communes):
        communes.plot(ax=ax, facecolor="#f2f3f4", edgecolor="#909497", linewidth=0.5)
    if len(sectors):
        sectors.plot(ax=ax, facecolor="none", edgecolor=INK, linewidth=0.7)
    gained = [shapely.difference(c.after, c.before) for c in changes
              if c.after is not None and c.before is not None]
    gained += [c.after for c in changes if c.before is None]
    lost = [shapely.difference(c.before, c.after) for c in changes
            if c.after is not None and c.before is not None]
    lost += [c.before for c in changes if c.after is None]
    for geoms, colour in ((gained, GAINED), (lost, LOST)):
        geoms = [g for g in geoms if not g.is_empty]
        if geoms:
            gpd.GeoSeries(geoms, crs=communes.crs).plot(ax=ax, facecolor=colour, alpha=0.75,
                                                edgecolor=colour, linewidth=0.4)
    frame_map(ax, extent, edgecolor=LIGHT)
    ax.legend(handles=[Patch(color=GAINED, label="surface gagnée"),
                       Patch(color=LOST, label="surface perdue"),
                       Patch(facecolor="none", edgecolor=INK, label=f"secteurs au "
                             f"{plan.end:%d/%m/%Y}")],
              loc="upper left", fontsize=6 * sheet.scale, frameon=True)
    carto.scale_bar(ax, scale=sheet.scale)
    carto.north_arrow(ax, scale=sheet.scale)
