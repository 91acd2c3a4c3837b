"""The atlas' page types: cover, contents, overview, sector/zone pages, building pages, annex."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from ort_geo import cartography as carto
from ort_geo.atlas_plan import (
    AtlasPlan,
    FeaturePage,
    format_euros,
    format_value,
    label_value,
)
from ort_geo.crs import crs_label
from ort_geo.privacy import MASK_NOTE

from .layout import ACCENT, GREY, INK, LIGHT, RESTRICTED, Sheet, line_height, wrap
from .maps import draw_map, layers_shown, locator

LEFT, RIGHT = 12.0, 285.0
TOP, BOTTOM = 29.0, 195.0  # the body, when the footer's sources take one or two lines
FOOTER_SIZE, FOOTER_WIDTH = 5.6, 225.0
#: Baselines of the footer's first line and the lowest its last line may take: 5 mm clear of
#: the page's edge (the edition mark's line), whatever the number of source lines.
FOOTER_FIRST, FOOTER_LAST = 201.0, 205.0
EDITION_LABEL = {
    "public": "Édition publique",
    "staff": "Édition de travail – diffusion restreinte",
}
SECRECY_NOTE = MASK_NOTE


@dataclass
class Entry:
    """A line of the table of contents."""

    level: int
    title: str
    page: int


# -- chrome ------------------------------------------------------------------------------------


def chrome(sheet: Sheet, plan: AtlasPlan, page_no: int, total: int, title: str,
           subtitle: str = "", credits: list[str] | None = None) -> None:
    """Header, footer, page number and the edition's marks, identical on every page."""
    restricted_band(sheet, plan)
    sheet.text(LEFT, 16.5, title, 15, weight="bold")
    if subtitle:
        sheet.text(LEFT, 23, subtitle, 8.5, color=GREY)
    sheet.text(RIGHT, 14.5, "Annexe 2 – Atlas cartographique", 7.5, color=GREY, ha="right")
    # A long EPCI name keeps clear of the page title: cut to the room the header leaves.
    room = 0.42 * (RIGHT - LEFT)
    name = wrap(plan.territory_title, room, 7.5)
    shown = name[0] + (" …" if len(name) > 1 else "")
    sheet.text(RIGHT, 18.5, shown, 7.5, color=GREY, ha="right")
    sheet.text(RIGHT, 22.5, f"{plan.date:%d/%m/%Y}", 7.5, color=GREY, ha="right")
    sheet.hline(LEFT, RIGHT, 25.5, colour=INK, width=0.8)
    footer(sheet, plan, page_no, total, credits or [])


def restricted_band(sheet: Sheet, plan: AtlasPlan) -> None:
    if plan.edition != "staff":
        return
    sheet.rect(0, 0, 297, 7, facecolor=RESTRICTED)
    sheet.text(148.5, 5, "DOCUMENT DE TRAVAIL – DIFFUSION RESTREINTE – données nominatives et "
               "d'occupation : usage réservé aux services habilités", 7.5, color="white",
               weight="bold", ha="center")


def footer(sheet: Sheet, plan: AtlasPlan, page_no: int, total: int, credits: list[str]) -> None:
    """The sources line, page number and edition, raised by :func:`footer_rise` when long."""
    rise = footer_rise(plan, credits)
    sheet.hline(LEFT, RIGHT, 197.5 - rise)
    # Wrapped in full, never cut: the sources are a legal mention.
    sheet.paragraph(LEFT, FOOTER_FIRST - rise, FOOTER_WIDTH, _footer_text(plan, credits),
                    FOOTER_SIZE, color=GREY)
    sheet.text(RIGHT, 201.5 - rise, f"{page_no} / {total}", 8, ha="right", weight="bold")
    colour = RESTRICTED if plan.edition == "staff" else GREY
    sheet.text(RIGHT, 205 - rise, EDITION_LABEL[plan.edition], 5.8, ha="right", color=colour)


def footer_rise(plan: AtlasPlan, credits: list[str]) -> float:
    """How far (mm) the footer, and so the bottom of the page's body, moves up for its last
    line to stay on FOOTER_LAST: 0 for the usual one or two lines of sources."""
    lines = len(wrap(_footer_text(plan, credits), FOOTER_WIDTH, FOOTER_SIZE))
    return max(0.0, FOOTER_FIRST + (lines - 1) * line_height(FOOTER_SIZE) - FOOTER_LAST)


def _footer_text(plan: AtlasPlan, credits: list[str]) -> str:
    text = "Sources : " + " · ".join(credits) if credits else ""
    return text + ("" if not text else " · ") + (f"Projection {crs_label(plan.store.epsg)}. "
                                                 "Réalisation : ort-geo.")


# -- cover -------------------------------------------------------------------------------------


def cover(sheet: Sheet, plan: AtlasPlan, dem: str | Path | None) -> None:
    restricted_band(sheet, plan)
    sheet.rect(0, 7 if plan.edition == "staff" else 0, 8, 203, facecolor=ACCENT)
    x = 22.0
    y = 30.0
    y = sheet.paragraph(x, y, 140, plan.convention_title, 10, color=GREY)
    sheet.text(x, y + 12, "Annexe 2", 16, color=ACCENT, weight="bold")
    sheet.text(x, y + 26, plan.title, 28, weight="bold")
    y = sheet.paragraph(x, y + 38, 140, plan.territory_title, 14, leading=1.25)
    if plan.departement:
        sheet.text(x, y + 1, plan.departement, 9, color=GREY)
    y += 10
    sheet.hline(x, 160, y, colour=INK, width=0.8)
    y += 7
    rows = [("Édition", EDITION_LABEL[plan.edition]),
            ("Date", f"{plan.date:%d/%m/%Y}"),
            ("Version", plan.version)]
    if plan.convention_reference:
        rows.append(("Référence", plan.convention_reference))
    if plan.signature_place_date:
        rows.append(("Signature", plan.signature_place_date))
    for label, value in rows:
        sheet.text(x, y, label, 8, color=GREY)
        y = sheet.paragraph(x + 22, y, 118, value, 8) + 1.2
    if plan.signatories:
        y += 4
        sheet.text(x, y, "Signataires", 9, weight="bold")
        y += 5
        for k, (organisation, person) in enumerate(plan.signatories):
            cx, cy = x + (k % 2) * 70, y + (k // 2) * 8.5
            sheet.text(cx, cy, organisation, 7.2, weight="bold")
            if person:
                sheet.text(cx, cy + 3.4, person, 7, color=GREY)
    # a small map of the territory and its sectors on the right half
    ax = sheet.axes(170, 30, 115, 150)
    extent = carto.fit_extent(plan.layers["communes"].total_bounds
                              if not plan.layers["communes"].empty
                              else plan.layers["secteurs_ort"].total_bounds, 115 / 150, 0.04)
    draw_map(ax, plan, extent, dem=dem, action_labels=False, scale=sheet.scale)
    strata = "" if plan.layers["strates"].empty else " et strates du projet de territoire"
    sheet.text(227.5, 185, f"Secteurs d'intervention de l'ORT{strata}",
               7, color=GREY, ha="center")
    note = ("Document produit par ort-geo à partir de l'entrepôt cartographique du territoire. "
            + ("Données agrégées ; " + SECRECY_NOTE.lower() if plan.edition == "public" else
               "Contient des données bâtimentaires soumises au secret : ne pas diffuser."))
    sheet.paragraph(x, 196, 140, note, 6.5, color=GREY)


# -- table of contents -------------------------------------------------------------------------


def contents(sheet: Sheet, plan: AtlasPlan, entries: list[Entry], total: int) -> None:
    chrome(sheet, plan, 2, total, "Sommaire", plan.convention_title)
    renderer = sheet.renderer()
    y = TOP + 8
    right = 160.0
    for entry in entries:
        if entry.level == 0:
            y += 2.5
            label = sheet.text(LEFT + 4, y, entry.title, 10, weight="bold")
        else:
            label = sheet.text(LEFT + 10, y, entry.title, 8.5)
        if entry.page:
            sheet.text(right, y, str(entry.page), 8.5 if entry.level else 10, ha="right",
                       weight="bold" if entry.level == 0 else "normal")
            end = sheet.mm_x(label.get_window_extent(renderer).x1, renderer)
            sheet.hline(end + 2, right - 6, y - 0.4, GREY, 0.5, style=(0, (1, 2)))
        y += 6 if entry.level == 0 else 5
    _reading_guide(sheet, plan, 178, TOP + 8)


def _reading_guide(sheet: Sheet, plan: AtlasPlan, x: float, y: float) -> None:
    top = y
    sheet.text(x, y, "Lire cet atlas", 10, weight="bold")
    parts = [
        "Chaque secteur d'intervention de l'opération de revitalisation de territoire (ORT) et "
        "chaque zone de permis de louer a sa page : la carte zoomée sur le périmètre, ses "
        "chiffres clés comparés à ceux du territoire et la liste des actions du programme qui "
        "s'y trouvent.",
        "Les chiffres sont ceux de la commande « ort-geo stats » : un bâtiment, un commerce ou "
        "une action appartient à un périmètre lorsque son point représentatif s'y trouve.",
        "Les actions sont numérotées comme les fiches actions (annexe 3) et classées par "
        "orientation stratégique dans l'annexe en fin de document.",
    ]
    if plan.edition == "public":
        parts.append(SECRECY_NOTE + " Aucune donnée à l'échelle du bâtiment ne figure dans cette "
                     "édition.")
    else:
        parts.append("Édition de travail : elle montre l'état du bâti et la vacance bâtiment par "
                     "bâtiment. Diffusion restreinte aux collectivités, aux services de l'État et "
                     "à l'Anah.")
    if any(p.indicative for p in plan.pages):
        parts.append("Les périmètres marqués « indicatifs » ont été dessinés d'après le texte de "
                     "la convention ; ils seront remplacés par les fichiers officiels.")
    if plan.demo_buildings:
        parts.append("Les bâtiments du territoire sont des données de démonstration générées : "
                     "les chiffres du bâti sont illustratifs.")
    y += 7
    for part in parts:
        y = sheet.paragraph(x, y, RIGHT - x - 2, part, 7.5, leading=1.35) + 2.5
    sheet.rect(x - 4, top - 6, RIGHT - x + 4, y - top + 4, facecolor="#f4f6f7", zorder=0)


# -- overview ----------------------------------------------------------------------------------


def overview(sheet: Sheet, plan: AtlasPlan, page_no: int, total: int,
             page_of: dict[tuple[str, str], int],
             dem: str | Path | None) -> None:
    title = "Carte d'ensemble du territoire"
    sub = ("Secteurs d'intervention de l'ORT et zones de permis de louer"
           if plan.layers["strates"].empty else
           "Secteurs d'intervention de l'ORT, zones de permis de louer et strates")
    credits = plan.credits_for([*plan.layers] + (["relief"] if dem is not None else []))
    chrome(sheet, plan, page_no, total, title, sub, credits)
    width, height = 190.0, BOTTOM - footer_rise(plan, credits) - TOP
    ax = sheet.axes(LEFT, TOP, width, height)
    bounds = plan.layers["communes"].total_bounds if not plan.layers["communes"].empty \
        else plan.layers["secteurs_ort"].total_bounds
    extent = carto.fit_extent(bounds, width / height, 0.03)
    handles, _ = draw_map(ax, plan, extent, dem=dem, action_labels=False, scale=sheet.scale)
    x = LEFT + width + 6
    legend_box(sheet, handles, x, TOP, RIGHT - x, 80, ncol=1)
    y = TOP + 84
    for heading, pages in (("Secteurs d'intervention ORT", plan.sectors),
                           ("Zones de permis de louer", plan.zones)):
        if not pages:
            continue
        sheet.text(x, y, heading, 8.5, weight="bold")
        y += 4.6
        for p in pages:
            sheet.text(x, y, p.number, 7.5, weight="bold", color=ACCENT)
            y2 = sheet.paragraph(x + 7, y, RIGHT - x - 17, p.name, 7.5)
            sheet.text(RIGHT, y, f"p. {page_of[(p.layer, p.feature_id)]}", 7.5, ha="right", color=GREY)
            y = y2 + 0.6
        y += 3


def legend_box(sheet: Sheet, handles: list[Any], x: float, y: float, w: float, h: float,
               ncol: int = 1, title: str | None = "Légende", size: float = 6.8) -> None:
    ax = sheet.axes(x, y, w, h)
    ax.axis("off")
    if handles:
        ax.legend(handles=handles, loc="upper left", ncol=ncol, frameon=False,
                  fontsize=size * sheet.scale, title=title, alignment="left",
                  title_fontproperties={"weight": "bold", "size": 8.5 * sheet.scale},
                  handlelength=2.2, handleheight=1.1, borderaxespad=0, columnspacing=1.2,
                  markerscale=sheet.scale,
                  labelspacing=0.5)


# -- sector and zone pages ---------------------------------------------------------------------


MAP_W, MAP_H = 160.0, 143.0
LOCATOR_W = 30.0  # the locator inset, right of the legend under the map


def feature_page(sheet: Sheet, plan: AtlasPlan, page: FeaturePage, page_no: int, total: int,
                 annex_page: int, dem: str | Path | None, *, buildings: gpd.GeoDataFrame | None
                 = None) -> None:
    kind = "Secteur d'intervention ORT" if page.layer == "secteurs_ort" \
        else "Zone de permis de louer"
    title = f"{kind} {page.number} – {page.name}"
    subtitle = page.kind + (" · périmètre indicatif" if page.indicative else "")
    if buildings is not None:
        title = f"Bâti et vacance – {page.name}"
        subtitle = f"{kind} {page.number} · état du bâti et logements vacants, bâtiment par bâtiment"
    # The map gives up the height a long sources line needs; a shorter map is a wider window,
    # which may show (and credit) more layers: settle on a height that fits its own sources.
    map_h = MAP_H
    while True:
        extent = carto.fit_extent(page.geometry.bounds, MAP_W / map_h, 0.12)
        shown = layers_shown(plan, extent, buildings=buildings, dem=dem)
        fitted = MAP_H - footer_rise(plan, plan.credits_for(shown))
        if fitted >= map_h:
            break
        map_h = fitted
    bottom = BOTTOM - (MAP_H - map_h)
    ax = sheet.axes(LEFT, TOP, MAP_W, map_h)
    handles, shown = draw_map(ax, plan, extent, focus=(page.layer, page.feature_id),
                              buildings=buildings, dem=dem, scale=sheet.scale)
    chrome(sheet, plan, page_no, total, title, subtitle, plan.credits_for(shown))
    below = bottom - TOP - map_h - 3
    legend_box(sheet, handles, LEFT, TOP + map_h + 3, MAP_W - LOCATOR_W - 3, below,
               ncol=max(3, -(-len(handles) // 5)), size=6.0, title=None)
    locator(sheet.axes(LEFT + MAP_W - LOCATOR_W, TOP + map_h + 3, LOCATOR_W, below), plan,
            page.geometry, scale=sheet.scale)
    scale = carto.scale_ratio(ax)
    ax.text(0.985, 0.015, f"Échelle 1:{format_value(scale, decimals=0)} (impression {sheet.paper})",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=6 * sheet.scale,
            color=INK, zorder=30, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85,
                                        "pad": 1.5})

    x, width = LEFT + MAP_W + 6, RIGHT - (LEFT + MAP_W + 6)
    y = _details(sheet, page, x, TOP + 2, width)
    if buildings is None:
        y = _stats(sheet, plan, page, x, y + 3, width)
        _actions(sheet, page, x, y + 4, width, annex_page, plan.orientations, bottom)
    else:
        _building_list(sheet, buildings[buildings["inside"]], x, y + 3, width, bottom)


def _details(sheet: Sheet, page: FeaturePage, x: float, y: float, width: float) -> float:
    sheet.text(x, y + 3, page.name, 11, weight="bold")
    y = y + 8.5
    for label, value in page.details:
        sheet.text(x, y, label, 7, color=GREY)
        y = sheet.paragraph(x + 27, y, width - 27, value, 7, max_lines=2) + 0.3
    if page.indicative:
        y = sheet.paragraph(x, y + 1, width, "Périmètre indicatif, dessiné d'après la convention "
                            "en attendant le fichier officiel.", 6.5, color=ACCENT)
    return y


def _stats(sheet: Sheet, plan: AtlasPlan, page: FeaturePage, x: float, y: float,
           width: float) -> float:
    sheet.text(x, y + 3, "Chiffres clés", 9.5, weight="bold")
    y += 8
    col1, col2 = x + width * 0.76, x + width
    label = "Secteur" if page.layer == "secteurs_ort" else "Zone"
    sheet.text(col1, y, label, 6.5, ha="right", color=GREY, weight="bold")
    sheet.text(col2, y, "Territoire", 6.5, ha="right", color=GREY, weight="bold")
    sheet.hline(x, col2, y + 1.2, INK, 0.5)
    step = 3.35
    y += 4.2
    for i, line in enumerate(page.stats):
        if i % 2 == 0:
            sheet.rect(x, y - 2.5, width, step, facecolor="#f4f6f7")
        sheet.text(x + 1, y, line.label, 6.4)
        sheet.text(col1, y, line.value, 6.4, ha="right", weight="bold")
        sheet.text(col2, y, line.territory, 6.4, ha="right", color=GREY)
        y += step
    if page.orientations:
        y += 1.5
        sheet.text(x + 1, y, "Par orientation", 6.4, color=GREY, weight="bold")
        # Any number of orientations share the right part of the table.
        gap = min(0.15, 0.60 / len(page.orientations))
        cols = [x + width * (1.0 - gap * (len(page.orientations) - 1 - i))
                for i in range(len(page.orientations))]
        for k, cx in zip(page.orientations, cols, strict=True):
            colour = plan.orientations.get(k, ("", GREY))[1]
            sheet.text(cx, y, f"O{k}", 6.4, ha="right", color=colour, weight="bold")
        for label, index in (("Actions", 0), ("Coût (€ HT)", 1)):
            y += step
            sheet.text(x + 1, y, label, 6.4)
            for k, cx in zip(page.orientations, cols, strict=True):
                sheet.text(cx, y, page.orientations[k][index], 6.4, ha="right")
        y += 1.0
    notes = []
    if plan.edition == "public":
        notes.append(SECRECY_NOTE)
    if plan.demo_buildings:
        notes.append("Bâti : données de démonstration générées.")
    if notes:
        y = sheet.paragraph(x, y + 2.5, width, " ".join(notes), 5.6, color=GREY)
    return y


def _actions(sheet: Sheet, page: FeaturePage, x: float, y: float, width: float,
             annex_page: int, orientations: dict[int, tuple[str, str]], bottom: float) -> None:
    actions = page.actions
    sheet.text(x, y + 3, f"Actions du programme ({len(actions)})", 9.5, weight="bold")
    y += 8
    if actions.empty:
        sheet.paragraph(x, y, width, "Aucune action localisée dans ce périmètre.", 7, color=GREY)
        return
    size, limit = 6.6, bottom - 6
    for shown, row in enumerate(actions.itertuples(index=False)):
        head = f"{_text(row, 'numero') or '–'}  {_text(row, 'titre')}"
        meta = " · ".join(p for p in (
            _text(row, "maitre_ouvrage"), label_value(getattr(row, "statut", None)),
            format_euros(getattr(row, "cout_ht", None)) if _has(row, "cout_ht") else None,
        ) if p)
        need = line_height(size) * (len(wrap(head, width - 4, size)) + len(wrap(meta, width - 4,
                                                                               size - 0.6)))
        if y + need > limit:
            rest = len(actions) - shown
            sheet.paragraph(x, y, width, f"… et {rest} autre{'s' if rest > 1 else ''} action"
                            f"{'s' if rest > 1 else ''} : voir l'annexe, page {annex_page}.",
                            6.6, color=GREY)
            return
        colour = orientations.get(int(row.orientation), ("", GREY))[1]
        sheet.text(x + 0.8, y, "●", 7, color=colour)
        y = sheet.paragraph(x + 4, y, width - 4, head, size, weight="bold")
        y = sheet.paragraph(x + 4, y, width - 4, meta, size - 0.6, color=GREY) + 1.0


def _text(row: Any, name: str) -> str:
    """A field as text, empty when missing (never "nan")."""
    return str(getattr(row, name)) if _has(row, name) else ""


def _has(row: Any, name: str) -> bool:
    value = getattr(row, name, None)
    return value is not None and value != "" and not (pd.api.types.is_scalar(value)
                                                      and pd.isna(value))


def _building_list(sheet: Sheet, buildings: gpd.GeoDataFrame, x: float, y: float,
                   width: float, bottom: float) -> None:
    """Staff only: the buildings that need attention (vacant or degraded)."""
    vacant = buildings["nb_logements_vacants"].fillna(0) > 0
    degraded = buildings["etat"].isin(["degrade", "tres_degrade"])
    focus = buildings[vacant | degraded].sort_values(
        ["nb_logements_vacants", "id"], ascending=[False, True], kind="stable")
    sheet.text(x, y + 3, "Bâtiments vacants ou dégradés", 9.5, weight="bold")
    y += 7
    sheet.paragraph(x, y, width, f"{len(buildings)} bâtiments dans le périmètre, dont "
                    f"{int(vacant.sum())} avec au moins un logement vacant et "
                    f"{int(degraded.sum())} dégradés.", 6.8)
    y += 8
    cols = [(x, "Bâtiment", "left"), (x + width * 0.5, "Logts", "right"),
            (x + width * 0.68, "Vacants", "right"), (x + width * 0.83, "Depuis", "right"),
            (x + width, "État", "right")]
    for cx, label, align in cols:
        sheet.text(cx, y, label, 6.3, color=GREY, weight="bold", ha=align)
    sheet.hline(x, x + width, y + 1.2, INK, 0.5)
    y += 4.2
    for shown, row in enumerate(focus.itertuples(index=False)):
        if y > bottom - 6:
            sheet.text(x, y, f"… et {len(focus) - shown} autres (voir l'export « ort-geo "
                       "query »).", 6.3, color=GREY)
            break
        name = row.adresse if isinstance(row.adresse, str) and row.adresse else row.id
        name = re.sub(r"\s+\d{5}\b.*$", "", str(name))  # the street is enough in a sector
        sheet.text(x, y, name[:27], 6.2)
        sheet.text(cols[1][0], y, format_value(row.nb_logements, decimals=0), 6.2, ha="right")
        sheet.text(cols[2][0], y, format_value(row.nb_logements_vacants, decimals=0), 6.2,
                   ha="right")
        since = row.annee_debut_vacance
        sheet.text(cols[3][0], y, "" if pd.isna(since) else str(int(since)), 6.2, ha="right")
        sheet.text(cols[4][0], y, carto.BUILDING_CONDITIONS.get(row.etat, ("",))[0], 6.2,
                   ha="right")
        y += 3.5


# -- annex -------------------------------------------------------------------------------------


ANNEX_COLUMNS = [  # (title, width in mm, alignment)
    ("N°", 11, "left"), ("Action", 72, "left"), ("Lieu", 40, "left"),
    ("Maître d'ouvrage", 44, "left"), ("Partenaires", 50, "left"), ("Statut", 18, "left"),
    ("Priorité", 13, "left"), ("Coût (€ HT)", 25, "right"),
]
ANNEX_SIZE = 6.3
ANNEX_LINE = line_height(ANNEX_SIZE, 1.25)


@dataclass
class AnnexRow:
    kind: str  # "heading" | "action" | "total"
    cells: list[str]
    height: float
    colour: str = INK


def annex_rows(plan: AtlasPlan) -> list[AnnexRow]:
    """The annex as rows, each with its printed height, ready to be paginated."""
    rows: list[AnnexRow] = []
    for orientation, (label, colour) in plan.orientations.items():
        part = plan.actions[plan.actions["orientation"] == orientation]
        if part.empty:
            continue
        rows.append(AnnexRow("heading", [f"Orientation {orientation} – {label}"], 7.0, colour))
        for row in part.itertuples(index=False):
            cells = [_text(row, "numero"), _text(row, "titre"), _text(row, "lieu"),
                     _text(row, "maitre_ouvrage"), _text(row, "partenaires"),
                     label_value(getattr(row, "statut", None)),
                     label_value(getattr(row, "priorite", None)),
                     format_euros(row.cout_ht) if _has(row, "cout_ht") else "–"]
            lines = max(len(wrap(c, w - 2, ANNEX_SIZE))
                        for c, (_, w, _) in zip(cells, ANNEX_COLUMNS, strict=True))
            rows.append(AnnexRow("action", cells, lines * ANNEX_LINE + 1.6))
        cost = part["cout_ht"].sum(min_count=1) if "cout_ht" in part else None
        rows.append(AnnexRow("total", [f"{len(part)} action{'s' if len(part) > 1 else ''}",
                                       format_euros(cost)], 5.5, colour))
    return rows


def paginate(rows: list[AnnexRow], height: float) -> list[list[AnnexRow]]:
    """Rows split into pages; a heading never ends a page alone, and a page that continues an
    orientation starts with its heading marked "(suite)"."""
    pages: list[list[AnnexRow]] = [[]]
    used = 0.0
    heading: AnnexRow | None = None
    for i, row in enumerate(rows):
        need = row.height + (rows[i + 1].height if row.kind == "heading" and i + 1 < len(rows)
                             else 0)
        if pages[-1] and used + need > height:
            pages.append([])
            used = 0.0
            if row.kind != "heading" and heading is not None:
                again = AnnexRow("heading", [f"{heading.cells[0]} (suite)"], heading.height,
                                 heading.colour)
                pages[-1].append(again)
                used += again.height
        if row.kind == "heading":
            heading = row
        pages[-1].append(row)
        used += row.height
    return pages


def annex_body(plan: AtlasPlan) -> float:
    """The height (mm) an annex page gives its rows, under its header, above its footer."""
    return BOTTOM - footer_rise(plan, plan.credits_for(["actions"])) - TOP - 9


def annex(sheet: Sheet, plan: AtlasPlan, rows: list[AnnexRow], page_no: int, total: int,
          part: int, parts: int) -> None:
    suffix = f" ({part}/{parts})" if parts > 1 else ""
    chrome(sheet, plan, page_no, total, "Annexe – les actions par orientation" + suffix,
           "Toutes les actions du programme, classées par orientation stratégique",
           plan.credits_for(["actions"]))
    y = TOP + 3
    x = LEFT
    for title, width, align in ANNEX_COLUMNS:
        sheet.text(x + (width - 1 if align == "right" else 0), y, title, 6.8, weight="bold",
                   color=GREY, ha=align)
        x += width
    sheet.hline(LEFT, RIGHT, y + 1.5, INK, 0.6)
    y += 6
    for row in rows:
        if row.kind == "heading":
            sheet.rect(LEFT, y - 1, 2.2, 5.2, facecolor=row.colour)
            sheet.text(LEFT + 4, y + 3, row.cells[0], 8, weight="bold", color=row.colour)
        elif row.kind == "total":
            sheet.text(RIGHT - 27, y + 2.2, row.cells[0], 6.5, color=GREY, ha="right")
            sheet.text(RIGHT - 1, y + 2.2, row.cells[1], 6.5, weight="bold", ha="right")
            sheet.hline(LEFT, RIGHT, y + 4.6, LIGHT, 0.4)
        else:
            x = LEFT
            for cell, (_, width, align) in zip(row.cells, ANNEX_COLUMNS, strict=True):
                lines = wrap(cell, width - 2, ANNEX_SIZE)
                for k, line in enumerate(lines):
                    sheet.text(x + (width - 1 if align == "right" else 0),
                               y + 2.2 + k * ANNEX_LINE, line, ANNEX_SIZE, ha=align,
                               weight="bold" if cell is row.cells[0] else "normal")
                x += width
            sheet.hline(LEFT, RIGHT, y + row.height - 0.2, LIGHT, 0.3)
        y += row.height
