"""What the printed atlas says: its pages, their features, statistics and actions.

:func:`plan_atlas` reads a store and returns an :class:`AtlasPlan`, plain data that the PDF adapter
(``atlas/``) lays out. All the decisions live here: which pages exist and in which order, which
figures each page shows (from :func:`ort_geo.stats.sector_stats`, the engine of ``ort-geo stats``,
with statistical secrecy in the public edition), which actions belong to a page, which layers give
context, and which date and version the atlas carries (derived from the store, so the same store
always gives the same document).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from . import __version__
from .clock import PARIS, local
from .display import CHOICE_LABELS, NBSP, format_number
from .errors import InputError
from .privacy import public_view
from .store import Store
from .territory import Territory, manifest_of, orientations_of

Edition = Literal["public", "staff"]
EDITIONS: tuple[str, ...] = ("public", "staff")

#: Layers drawn for context, bottom to top. Buildings are staff-only (building-level data).
CONTEXT_LAYERS: tuple[str, ...] = (
    "strates", "communes", "zones_activite", "ilot_demonstrateur", "permis_de_louer",
    "secteurs_ort", "mobilites_actives", "commerces", "actions",
)
PAGE_LAYERS: tuple[str, ...] = ("secteurs_ort", "permis_de_louer")

_SECTOR_ORDER = {"centre_ville_principal": 0, "centre_ville": 1, "quartier": 2, "autre": 3}


@dataclass(frozen=True)
class StatLine:
    """One row of a page's statistics table: the feature's value and the territory's."""

    key: str
    label: str
    value: str
    territory: str


@dataclass
class FeaturePage:
    """One page of the atlas devoted to a sector or a permis de louer zone."""

    layer: str
    feature_id: str
    number: str
    name: str
    kind: str
    geometry: BaseGeometry
    area_ha: float
    details: list[tuple[str, str]]
    stats: list[StatLine]
    orientations: dict[int, tuple[str, str]]
    actions: pd.DataFrame
    indicative: bool = False


@dataclass
class AtlasPlan:
    """Everything the atlas shows, ready to be laid out."""

    edition: Edition
    title: str
    territory_title: str
    departement: str
    convention_title: str
    convention_reference: str
    signature_place_date: str
    signatories: list[tuple[str, str]]
    date: dt.datetime
    version: str
    layers: dict[str, gpd.GeoDataFrame]
    sectors: list[FeaturePage]
    zones: list[FeaturePage]
    actions: gpd.GeoDataFrame
    credits: dict[str, str] = field(default_factory=dict)
    demo_buildings: bool = False
    store: Store | None = None
    #: Orientation number -> (title, colour), from the store's manifest.
    orientations: dict[int, tuple[str, str]] = field(default_factory=dict)

    @property
    def pages(self) -> list[FeaturePage]:
        return self.sectors + self.zones

    def credits_for(self, layers: list[str]) -> list[str]:
        """Source lines for the layers shown on one page, in layer order, without repeats."""
        seen: list[str] = []
        for name in layers:
            text = self.credits.get(name)
            if text and text not in seen:
                seen.append(text)
        return seen


def buildings_of(store: Store, page: FeaturePage, margin: float = 0.15) -> gpd.GeoDataFrame:
    """Staff only: the buildings around a page's feature (its map window and a margin), with
    ``inside`` telling those whose representative point lies in the feature."""
    xmin, ymin, xmax, ymax = page.geometry.bounds
    pad = max(xmax - xmin, ymax - ymin, 400.0) * (0.5 + margin)
    frame = store.read("batiments", bbox=(xmin - pad, ymin - pad, xmax + pad, ymax + pad))
    inside = frame.geometry.representative_point().within(page.geometry)
    return frame.assign(inside=inside.to_numpy())


# -- formatting --------------------------------------------------------------------------------


def format_value(value: Any, *, decimals: int = 1, unit: str = "") -> str:
    """A statistic as French readers write it: 1 234 · 12,5 · the secrecy mark kept · missing as "–"."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "oui" if value else "non"
    suffix = f"{NBSP}{unit}" if unit else ""
    if isinstance(value, int) or (decimals == 0 and float(value).is_integer()):
        return format_number(int(value)) + suffix
    return format_number(float(value), decimals) + suffix


def format_euros(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format_value(int(round(float(value))), decimals=0, unit="€")


def label_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return CHOICE_LABELS.get(str(value), str(value))


def natural_key(text: Any) -> tuple:
    """Sort "2", "10", "1.3" as numbers would be (fiche action numbers)."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(text or "")))


# -- the plan ----------------------------------------------------------------------------------


def atlas_date(store: Store) -> dt.datetime:
    """The atlas' date, in Europe/Paris: SOURCE_DATE_EPOCH when set, else the store's last change
    to its atlas layers (so that the same store always yields the same document)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return dt.datetime.fromtimestamp(int(epoch), PARIS)
        except (ValueError, OverflowError, OSError):
            raise InputError(f"SOURCE_DATE_EPOCH invalide : {epoch!r}") from None
    stamps = [e.timestamp for layer in CONTEXT_LAYERS for e in store.journal(layer=layer)]
    if not stamps:
        return local(dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    return local(max(stamps)).replace(microsecond=0)


def _journal_version(store: Store) -> int:
    return sum(len(store.journal(layer=layer)) for layer in CONTEXT_LAYERS)


def plan_atlas(store: Store, *, edition: Edition = "public",
               territory: Territory | None = None) -> AtlasPlan:
    """Read the store and decide every page of the atlas."""
    if edition not in EDITIONS:
        raise InputError(f"Édition inconnue « {edition} » : choisissez public ou staff.")
    public = edition == "public"
    layers = {name: _read(store, name, public) for name in CONTEXT_LAYERS}
    if not public:
        layers["batiments"] = gpd.GeoDataFrame()  # read per page (can be large), staff only
    if layers["secteurs_ort"].empty:
        raise InputError("L'entrepôt ne contient aucun secteur ORT : l'atlas serait vide.")

    actions = layers["actions"].copy()
    actions["_order"] = [natural_key(n) for n in actions.get("numero", pd.Series(dtype=str))]
    actions = actions.sort_values(["orientation", "_order", "titre"], kind="stable").drop(
        columns="_order")
    layers["actions"] = actions

    date = atlas_date(store)
    # The reference year (long-term vacancy) follows the atlas' date, not the clock: the same
    # store gives the same document, as ``ort-geo stats --annee`` of that year.
    sectors = _pages(store, "secteurs_ort", layers, actions, public, "", date.year)
    zones = _pages(store, "permis_de_louer", layers, actions, public, "P", date.year)
    actions["lieu"] = _places(actions, sectors, layers["communes"])
    layers["actions"] = actions
    info = _territory_info(store, territory)
    version = (f"Version du {date:%d/%m/%Y} – état n° {_journal_version(store)} de l'entrepôt – "
               f"ort-geo {__version__}")
    return AtlasPlan(
        edition=edition,
        title="Atlas cartographique",
        territory_title=info["title"],
        departement=info["departement"],
        convention_title=info["convention_title"],
        convention_reference=info["reference"],
        signature_place_date=info["signature"],
        signatories=info["signatories"],
        date=date,
        version=version,
        layers=layers,
        sectors=sectors,
        zones=zones,
        actions=actions,
        credits=_credits(store, territory or territory_of(store), layers, public),
        demo_buildings=store.count("batiments", where={"demo": True}) > 0,
        store=store,
        orientations=orientations_of(store, territory),
    )


def _read(store: Store, layer: str, public: bool) -> gpd.GeoDataFrame:
    frame = store.read(layer)
    if public:
        frame = public_view(store.spec(layer), frame)
    return frame


def _pages(store: Store, layer: str, layers: dict[str, gpd.GeoDataFrame],
           actions: gpd.GeoDataFrame, public: bool, prefix: str, year: int
           ) -> list[FeaturePage]:
    frame = layers[layer]
    if frame.empty:
        return []
    order = frame.assign(
        _rank=[_SECTOR_ORDER.get(t, 9) for t in frame.get("type", [None] * len(frame))],
        _name=frame["nom"].fillna(frame["id"]),
    ).sort_values(["_rank", "_name", "id"], kind="stable")
    stats = _stats_table(store, layer, public, year)
    communes = layers["communes"].set_index("code_insee")["nom"] if not layers["communes"].empty \
        else pd.Series(dtype=str)
    pages = []
    for number, row in enumerate(order.itertuples(index=False), start=1):
        row = row._asdict()
        geom = row["geometry"]
        name = row.get("nom") or row["id"]
        details = []
        if layer == "secteurs_ort":
            kind = label_value(row.get("type")) or "Secteur d'intervention"
            # the convention itself is on the cover: each page keeps what is its own
            details += [("Délibération", row.get("deliberation")),
                        ("Validité", _period(row.get("date_debut"), row.get("date_fin"))),
                        ("Version du périmètre", row.get("version"))]
        else:
            kind = label_value(row.get("regime")) or "Permis de louer"
            details += [("Délibération", row.get("deliberation")),
                        ("Date d'effet", _date(row.get("date_effet")))]
        insee = row.get("code_insee")
        if insee:
            details.insert(0, ("Commune", f"{communes.get(insee, '')} ({insee})".strip()))
        details = [(k, format_value(v, decimals=0)) for k, v in details if _present(v)]
        own = _actions_of(actions, geom)
        pages.append(FeaturePage(
            layer=layer, feature_id=row["id"], number=f"{prefix}{number}", name=str(name),
            kind=kind, geometry=geom, area_ha=geom.area / 10_000, details=details,
            stats=stats[str(row["id"])]["lines"],
            orientations=stats[str(row["id"])]["orientations"], actions=own,
            indicative=bool(row.get("indicatif")) if _present(row.get("indicatif")) else False,
        ))
    return pages


def _actions_of(actions: gpd.GeoDataFrame, geometry: BaseGeometry) -> pd.DataFrame:
    """Actions located in the feature: the statistics' rule (representative point covered,
    boundary included), so the list and the "Actions" count always agree."""
    if actions.empty:
        return actions
    inside = shapely.covers(geometry, shapely.point_on_surface(actions.geometry.to_numpy()))
    return actions[inside]


def _places(actions: gpd.GeoDataFrame, sectors: list[FeaturePage],
            communes: gpd.GeoDataFrame) -> list[str]:
    """Where each action is, in words: its sector (declared, else containing it), else its
    commune."""
    names = {p.feature_id: p.name for p in sectors}
    points = actions.geometry.representative_point()
    out = []
    for sector_id, point in zip(actions.get("secteur_id", [None] * len(actions)), points,
                                strict=True):
        place = names.get(sector_id or "")
        if place is None:
            place = next((p.name for p in sectors if p.geometry.contains(point)), None)
        if place is None and not communes.empty:
            hit = communes[communes.contains(point)]
            place = str(hit["nom"].iloc[0]) if not hit.empty else ""
        out.append(place or "")
    return out


def _present(value: Any) -> bool:
    return not (value is None or value is pd.NA or value is pd.NaT or value == ""
                or (isinstance(value, float) and math.isnan(value)))


def _date(value: Any) -> str | None:
    if not _present(value):
        return None
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return f"{value:%d/%m/%Y}"


def _period(start: Any, end: Any) -> str | None:
    start, end = _date(start), _date(end)
    if start and end:
        return f"du {start} au {end}"
    if start:
        return f"depuis le {start}"
    return f"jusqu'au {end}" if end else None


# -- statistics --------------------------------------------------------------------------------


#: Short French labels for the page's table (the engine's own labels are longer); units in
#: the label so the figures read exactly as ``ort-geo stats`` prints them.
STAT_LABELS: dict[str, str] = {
    "surface_ha": "Surface (ha)",
    "batiments": "Bâtiments",
    "logements": "Logements",
    "logements_vacants": "Logements vacants",
    "taux_vacance": "Taux de vacance (%)",
    "batiments_vacance_connue": "dont vacance connue (bâtiments)",
    "vacants_longue_duree": "Vacants depuis 2 ans ou plus",
    "batiments_degrades": "Bâtiments dégradés",
    "batiments_etat_connu": "dont état connu (bâtiments)",
    "habitat_indigne": "Habitat indigne repéré",
    "rdc_vacants": "Rez-de-chaussée vacants",
    "commerces": "Commerces et locaux",
    "commerces_vacants": "Locaux commerciaux vacants",
    "taux_vacance_commerciale": "Vacance commerciale (%)",
    "actions": "Actions du programme",
    "cout_total": "Coût des actions (€ HT)",
    "km_mobilites_existantes": "Itinéraires actifs existants (km)",
    "km_mobilites_projetees": "Itinéraires actifs projetés (km)",
}
#: Per-orientation columns, shown as a small table under the main one.
ORIENTATION_STATS = ("actions_o", "cout_o")


def format_stat(value: Any, kind: str) -> str:
    """A statistic formatted as ``ort-geo stats`` prints it (by the engine's column kind)."""
    if isinstance(value, str):
        return value  # the secrecy mark
    missing = value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
    if missing and kind == "count":
        return "inconnu"  # not zero: the zone has features but none knows the value
    return format_value(value, decimals={"measure": 2, "rate": 1}.get(kind, 0))


def _stats_table(store: Store, layer: str, public: bool, year: int) -> dict[str, dict]:
    """Per feature id: its statistics lines and per-orientation figures, from the engine of
    ``ort-geo stats`` (statistical secrecy in the public edition)."""
    from .stats import BY_NAME, TERRITORY_ID, sector_stats

    table = sector_stats(store, layer, public=public, reference_year=year)
    table = table.assign(id=table["id"].astype(str)).set_index("id")
    total = table.loc[TERRITORY_ID]
    out: dict[str, dict] = {}
    for fid, row in table.iterrows():
        lines = [StatLine(key, label, format_stat(row[key], BY_NAME[key].kind),
                          format_stat(total[key], BY_NAME[key].kind))
                 for key, label in STAT_LABELS.items() if key in table.columns]
        numbers = sorted(int(c[len("actions_o"):]) for c in table.columns
                         if c.startswith("actions_o") and c[len("actions_o"):].isdigit())
        orientations = {
            k: (format_stat(row.get(f"actions_o{k}"), "count"),
                format_stat(row.get(f"cout_o{k}"), "money"))
            for k in numbers
        }
        out[str(fid)] = {"lines": lines, "orientations": orientations}
    return out


# -- territory and credits ---------------------------------------------------------------------


def territory_of(store: Store) -> Territory | None:
    """The manifest the store was built from (``ort-geo build`` records it), if any."""
    return manifest_of(store)


def _territory_info(store: Store, territory: Territory | None) -> dict[str, Any]:
    territory = territory or territory_of(store)
    meta = store.get_meta("territory")
    info: dict[str, Any] = {
        "title": meta.get("title", "Territoire"),
        "departement": meta.get("departement", ""),
        "convention_title": "Convention-cadre Petites villes de demain valant opération de "
                            "revitalisation de territoire",
        "reference": "", "signature": "", "signatories": [],
    }
    if territory is None:
        return info
    info["title"] = territory.title
    info["departement"] = _departement(territory.departement)
    convention = territory.convention
    if convention is not None:
        info["convention_title"] = convention.titre
        info["reference"] = convention.reference
        info["signature"] = _date(convention.date_signature) or convention.date_signature
        info["signatories"] = [
            (s.organisation, ", ".join(p for p in (s.representant, s.qualite) if p))
            for s in convention.signataires
        ]
    return info


def _departement(code: str) -> str:
    """ "Landes (40)" from "40", with the names of the commune reference (INSEE COG)."""
    from .communes import departement_name

    try:
        name = departement_name(code)
    except InputError:  # the code alone is still right
        name = None
    return f"{name} ({code})" if name else f"Département {code}"


def _credits(store: Store, territory: Territory | None, layers: dict[str, gpd.GeoDataFrame],
             public: bool) -> dict[str, str]:
    """One credit line per layer: the manifest's credit, else the features' own sources."""
    names = list(CONTEXT_LAYERS) + ([] if public else ["batiments"])
    out: dict[str, str] = {}
    for name in names:
        title = store.spec(name).title
        source = territory.layers.get(name) if territory is not None else None
        parts: list[str] = []
        if source is not None and source.credit:
            parts.append(source.credit)
        frame = layers.get(name)
        if not parts and frame is not None and "source" in frame and not frame.empty:
            parts += sorted({str(s) for s in frame["source"].dropna() if str(s)})[:3]
        if source is not None and source.indicatif:
            parts.append("périmètres indicatifs")
        if name == "batiments":
            parts.append("bâtiments de démonstration générés")
        if parts:
            out[name] = f"{title} : {' ; '.join(parts)}"
    out["relief"] = "Relief : ombrage calculé du modèle numérique de terrain fourni"
    return out
