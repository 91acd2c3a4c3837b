"""Statistics per zone: what the comité de pilotage and the partners read.

One engine for every caller (CLI, atlas, API, web map): :func:`sector_stats` gives, per feature of a
polygon layer (or of a perimeter brought by the user) and for the whole territory, the counts of
buildings, dwellings, vacancy, condition, shops, actions and active-mobility kilometres.

Rules (DESIGN.md):

* a building, shop or action belongs to a zone when its representative point (``point_on_surface``,
  inside its footprint) is covered by the zone, boundary included (see :mod:`ort_geo.assign`);
  overlapping zones each count it; a building straddling a boundary counts once;
* active-mobility lengths are the lengths of the lines' intersection with each zone, in the
  store's CRS (metres);
* the whole-territory row counts every feature of the store, wherever it lies; its area is the
  communes' area;
* long-term vacancy: vacant dwellings of buildings whose vacancy started at least two years
  before the reference year (unknown start years are not counted as long-term);
* unknown is not zero: a building whose dwellings, vacancy or condition is missing (footprints
  imported without LOVAC, say) adds nothing to the count of that field, the coverage columns
  (``batiments_vacance_connue``…) say how many buildings each count is known for, rates are
  computed on the known part, and a count no feature of the zone knows is missing (NaN / <NA>),
  never 0;
* public mode returns the table of the public release (:mod:`ort_geo.secrecy`): the one public
  reference year, buildings of restricted sources left out, counts derived from restricted fields
  masked with secondary suppression across every public table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import shapely

from .assign import PolygonGrid
from .clock import today
from .errors import AccessDeniedError, InputError
from .measures import Condition, Measure, evaluate, with_condition
from .perimeter import Perimeter, polygon_layers, resolve_perimeter
from .prepared import (
    MOBILITY_LAYER,
    PreparedZones,
    ZonesInPreparation,
    line_sums,
    mobility_sums,
)
from .privacy import RESTRICTED_SOURCES
from .store.base import Store, ZoneSums, representative_xy
from .territory import orientations_of

TERRITORY_ID = "territoire"
TERRITORY_NAME = "Ensemble du territoire"
DEGRADED = ("degrade", "tres_degrade")
LONG_TERM_YEARS = 2
_KNOWN = "_n_known_"  # companion counts of features whose value is known (dropped at the end)

StatKind = Literal["measure", "count", "rate", "money"]
#: Decimals a person reads, per kind (terminal tables, change tables): whole counts and euros,
#: rates to a tenth of a point, areas and lengths to the hundredth.
DECIMALS: dict[str, int] = {"count": 0, "money": 0, "rate": 1, "measure": 2}


@dataclass(frozen=True)
class StatColumn:
    """One column of the statistics table."""

    name: str
    label: str
    kind: StatKind
    #: For a rate: (numerator, denominator) counts it is derived from.
    base: tuple[str, ...] = ()
    #: The coverage column counting the features whose value is known, and the population
    #: column it is a part of: the value is unknown where features exist but none knows it.
    known: str | None = None
    population: str | None = None


_B = "batiments"
COLUMNS: tuple[StatColumn, ...] = (
    StatColumn("surface_ha", "Surface (ha)", "measure"),
    StatColumn("batiments", "Bâtiments", "count"),
    StatColumn("logements", "Logements", "count", known="batiments_logements_connus",
               population=_B),
    StatColumn("batiments_logements_connus", "Bâtiments au nombre de logements connu", "count"),
    StatColumn("logements_vacants", "Logements vacants", "count",
               known="batiments_vacance_connue", population=_B),
    StatColumn("batiments_vacance_connue", "Bâtiments à la vacance connue", "count"),
    StatColumn("logements_vacance_connue", "Logements des bâtiments à la vacance connue", "count",
               known="batiments_vacance_connue", population=_B),
    StatColumn("taux_vacance", "Taux de vacance (%)", "rate",
               ("logements_vacants", "logements_vacance_connue")),
    StatColumn("vacants_longue_duree", "Logements vacants depuis 2 ans ou plus", "count",
               known="batiments_vacance_connue", population=_B),
    StatColumn("batiments_degrades", "Bâtiments dégradés ou très dégradés", "count",
               known="batiments_etat_connu", population=_B),
    StatColumn("batiments_etat_connu", "Bâtiments à l'état connu", "count"),
    StatColumn("habitat_indigne", "Bâtiments repérés en habitat indigne", "count",
               known=_KNOWN + "habitat_indigne", population=_B),
    StatColumn("rdc_vacants", "Rez-de-chaussée commerciaux vacants", "count",
               known=_KNOWN + "rdc_vacants", population=_B),
    StatColumn("commerces", "Commerces et locaux", "count"),
    StatColumn("commerces_vacants", "Locaux commerciaux vacants", "count",
               known="commerces_vacance_connue", population="commerces"),
    StatColumn("commerces_vacance_connue", "Locaux à la vacance connue", "count"),
    StatColumn("taux_vacance_commerciale", "Taux de vacance commerciale (%)", "rate",
               ("commerces_vacants", "commerces_vacance_connue")),
    StatColumn("actions", "Actions", "count"),
    StatColumn("cout_total", "Coût des actions (€ HT)", "money"),
    StatColumn("actions_cout_connu", "Actions au coût connu", "count"),
    StatColumn("km_mobilites_existantes", "Mobilités actives existantes (km)", "measure"),
    StatColumn("km_mobilites_projetees", "Mobilités actives projetées (km)", "measure"),
)
BY_NAME: dict[str, StatColumn] = {c.name: c for c in COLUMNS}
COUNT_COLUMNS = tuple(c.name for c in COLUMNS if c.kind == "count")


def orientation_columns(orientations: Iterable[int]) -> tuple[StatColumn, ...]:
    """The per-orientation columns (count, then cost) of a territory's orientations: a
    convention has any number of them (its manifest lists them)."""
    numbers = sorted(set(orientations))
    return (*(StatColumn(f"actions_o{k}", f"Actions de l'orientation {k}", "count")
              for k in numbers),
            *(StatColumn(f"cout_o{k}", f"Coût de l'orientation {k} (€ HT)", "money")
              for k in numbers))


def columns_for(orientations: Iterable[int] = ()) -> tuple[StatColumn, ...]:
    """Every column of a statistics table: :data:`COLUMNS` with the orientations' columns
    after ``actions`` and ``actions_cout_connu``."""
    extra = orientation_columns(orientations)
    counts = [c for c in extra if c.kind == "count"]
    costs = [c for c in extra if c.kind == "money"]
    out: list[StatColumn] = []
    for col in COLUMNS:
        out.append(col)
        out += counts if col.name == "actions" else costs if col.name == "actions_cout_connu" \
            else []
    return tuple(out)


def stat_column(name: str) -> StatColumn | None:
    """The column called ``name`` (per-orientation ones included), or None."""
    if name in BY_NAME:
        return BY_NAME[name]
    for prefix in ("actions_o", "cout_o"):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            columns = orientation_columns([int(name[len(prefix):])])
            return next(c for c in columns if c.name == name)
    return None


# -- per-feature measures (one value per building, shop, action) -----------------------------

def _known(name: str) -> Condition:
    return Condition(name, "known")


def building_measure_list(reference_year: int) -> tuple[Measure, ...]:
    """What the statistics add up per building (catalogue fields of ``batiments``), with the
    coverage of each (the buildings whose value is known)."""
    return (
        Measure("batiments"),
        Measure("logements", "nb_logements"),
        Measure("batiments_logements_connus", where=(_known("nb_logements"),)),
        Measure("logements_vacants", "nb_logements_vacants"),
        Measure("batiments_vacance_connue", where=(_known("nb_logements_vacants"),)),
        # The rate's denominator: dwellings of the buildings whose vacancy is known.
        Measure("logements_vacance_connue", "nb_logements", (_known("nb_logements_vacants"),)),
        Measure("vacants_longue_duree", "nb_logements_vacants",
                (Condition("annee_debut_vacance", "le", reference_year - LONG_TERM_YEARS),)),
        Measure("batiments_degrades", where=(Condition("etat", "in", DEGRADED),)),
        Measure("batiments_etat_connu", where=(_known("etat"),)),
        Measure("habitat_indigne", where=(Condition("habitat_indigne", "true"),)),
        Measure(_KNOWN + "habitat_indigne", where=(_known("habitat_indigne"),)),
        Measure("rdc_vacants", where=(Condition("rdc_vacant", "true"),)),
        Measure(_KNOWN + "rdc_vacants", where=(_known("rdc_vacant"),)),
    )


SHOP_MEASURES = (Measure("commerces"),
                 Measure("commerces_vacants", where=(Condition("vacant", "true"),)),
                 Measure("commerces_vacance_connue", where=(_known("vacant"),)))
def action_measure_list(orientations: Iterable[int] = ()) -> tuple[Measure, ...]:
    """What the statistics add up per action: counts and costs in total and per orientation (a
    convention has any number of them: the store's manifest lists them)."""
    return (
        Measure("actions"),
        Measure("cout_total", "cout_ht", integer=False),
        Measure(_KNOWN + "cout_total", where=(_known("cout_ht"),)),
        Measure("actions_cout_connu", where=(_known("cout_ht"),)),
        *(m for k in sorted(set(orientations)) for m in (
            Measure(f"actions_o{k}", where=(Condition("orientation", "in", (k,)),)),
            Measure(f"cout_o{k}", "cout_ht", (Condition("orientation", "in", (k,)),),
                    integer=False),
            Measure(_KNOWN + f"cout_o{k}", where=(Condition("orientation", "in", (k,)),
                                                 _known("cout_ht"))),
        )),
    )


#: The per-action measures every table has (per-orientation ones: :func:`action_measure_list`).
ACTION_MEASURES = action_measure_list()


def building_measures(frame: pd.DataFrame, reference_year: int) -> dict[str, np.ndarray]:
    """Per building, the quantities the statistics add up (see :func:`building_measure_list`)."""
    return evaluate(building_measure_list(reference_year), frame)


def shop_measures(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return evaluate(SHOP_MEASURES, frame)


def action_measures(frame: pd.DataFrame, orientations: Iterable[int] = ()
                    ) -> dict[str, np.ndarray]:
    """Per action: counts and costs, in total and per orientation (``orientations``, plus any
    number the actions use)."""
    used = set(pd.to_numeric(frame.get("orientation", pd.Series(dtype=float)),
                             errors="coerce").dropna().astype(int).tolist())
    return evaluate(action_measure_list(set(orientations) | used), frame)


# -- the engine --------------------------------------------------------------------------------

@dataclass
class PointSet:
    """Features reduced to their representative point and the values they contribute."""

    x: np.ndarray
    y: np.ndarray
    values: Mapping[str, np.ndarray]


def zone_stats(
    zones,
    points: list[PointSet],
    lines: Mapping[str, np.ndarray] | None = None,
    *,
    territory_area_m2: float | None = None,
) -> pd.DataFrame:
    """Sums per zone (one row per zone, then the territory row) of every point set's values.

    ``lines`` maps a column name (e.g. ``km_mobilites_existantes``) to an array of line
    geometries whose length inside each zone is summed (in km). This is the engine the store
    functions and the benchmark share.
    """
    zones = np.asarray(zones, dtype=object)
    largest = max(points, key=lambda ps: len(ps.x), default=None)
    grid = PolygonGrid(zones, points=None if largest is None else (largest.x, largest.y))
    sums: dict[str, ZoneSums] = {}
    for ps in points:
        for name, per_zone in grid.sums(ps.x, ps.y, ps.values).items():
            sums[name] = ZoneSums(per_zone, np.asarray(ps.values[name]).sum())
    return _table(zones, sums, lines, territory_area_m2)


def _table(zones: np.ndarray, sums: Mapping[str, ZoneSums],
           lines: Mapping[str, np.ndarray] | None, territory_area_m2: float | None
           ) -> pd.DataFrame:
    """The statistics table from the per-zone sums of the point layers, plus the lines."""
    data: dict[str, np.ndarray] = {"surface_ha": shapely.area(zones) / 1e4}
    total: dict[str, float] = {
        "surface_ha": np.nan if territory_area_m2 is None else territory_area_m2 / 1e4
    }
    for name, s in {**sums, **line_sums(zones, lines or {})}.items():
        data[name], total[name] = s.per_zone, s.total
    frame = pd.DataFrame(data)
    frame = pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
    # A cost is unknown (not 0 €) where no action contributing to it has a known cost.
    for name in [c for c in frame.columns if c.startswith(_KNOWN)]:
        money = name[len(_KNOWN):]
        column = stat_column(money)
        if column is not None and column.kind == "money":
            frame[money] = frame[money].where(frame[name] > 0)
    # A count is unknown (not 0) where the zone has features but none of them knows the value.
    for col in COLUMNS:
        if col.known in frame.columns and col.population in frame.columns:
            unknown = (frame[col.known] == 0) & (frame[col.population] > 0)
            frame[col.name] = frame[col.name].astype("float64").where(~unknown)
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith(_KNOWN)])
    _add_rates(frame)
    return frame


def _add_rates(frame: pd.DataFrame) -> None:
    for col in COLUMNS:  # rates have no per-orientation form
        if col.kind == "rate" and all(b in frame.columns for b in col.base):
            num, den = (frame[b].astype(float) for b in col.base)
            frame[col.name] = (100.0 * num / den).where(den > 0)


# -- the store-facing functions -----------------------------------------------------------------

def sector_stats(
    store: Store,
    layer: str | None,
    *,
    public: bool = False,
    perimeter: Perimeter | None = None,
    reference_year: int | None = None,
    public_records: bool = False,
    prepared: PreparedZones | ZonesInPreparation | None = None,
) -> pd.DataFrame:
    """Statistics per feature of a polygon layer (or of a perimeter), plus a territory row.

    Returns a DataFrame with ``id``, ``nom`` and the columns of :func:`columns_for` the
    store's orientations (:func:`ort_geo.territory.orientations_of`), one row per zone in
    storage order then the whole-territory row (``id == "territoire"``). With
    ``public=True`` it is the layer's table of the public release
    (:func:`ort_geo.secrecy.public_release`: public reference year only, secondary suppression);
    a free perimeter or another year is refused there. ``public_records`` leaves out records
    of restricted sources (the release's input). ``frame.attrs`` records the layer, reference
    year and mode. ``prepared`` (:mod:`ort_geo.prepared`) brings the zone grid and mobility km
    computed beforehand from this store (or being computed); they are used only if made of
    these very zones.
    """
    if public:
        from .secrecy import check_public_year, public_release

        if perimeter is not None:
            raise AccessDeniedError(
                "Statistiques d'un périmètre libre : réservées aux agents habilités (deux "
                "périmètres voisins révéleraient par différence des effectifs masqués).")
        if not layer:
            raise InputError("Indiquez une couche de zones ou un périmètre.")
        year = check_public_year(store, reference_year)
        frame = public_release(store, year).table(layer)
        frame.attrs.update({"layer": layer, "reference_year": year, "public": True})
        return frame
    year = reference_year or today().year
    if perimeter is not None:
        zones = resolve_perimeter(perimeter, store)
        source = "perimetre"
    elif layer:
        if layer not in polygon_layers(store):
            store.spec(layer)  # unknown layer -> LayerNotFoundError
            raise InputError(
                f"Les statistiques se calculent sur une couche de zones ; « {layer} » n'en est "
                f"pas une. Couches possibles : {', '.join(polygon_layers(store))}."
            )
        zones = resolve_perimeter(layer, store)
        source = layer
    else:
        raise InputError("Indiquez une couche de zones ou un périmètre.")
    zone_geoms = zones.geometry.to_numpy()
    # Each store adds up the measures where it is fastest (streamed columns and the grid
    # engine, or a join inside the database): features are never materialised here.
    # The public release's input leaves out records of restricted sources.
    public_only = Condition("source", "not_in", RESTRICTED_SOURCES)
    sums: dict[str, ZoneSums] = {}
    cache: dict = {}  # one zone grid for the three layers
    with ThreadPoolExecutor(1, thread_name_prefix="ort-geo-lines") as pool:
        buildings = building_measure_list(year)
        shops: tuple[Measure, ...] = SHOP_MEASURES
        if public_records:
            buildings = with_condition(buildings, public_only)
            shops = with_condition(shops, public_only)

        def small_layers(cache: dict) -> tuple[list[int], list[dict[str, ZoneSums]]]:
            """Shops and actions (their orientations read here: off the buildings' path)."""
            orientations = list(orientations_of(store))
            return orientations, [
                store.zone_sums(name, zone_geoms, measures, cache=cache)
                for name, measures in (("commerces", shops),
                                       ("actions", action_measure_list(orientations)))]

        small = None
        if prepared is not None:
            if (grid := prepared.grid_for(zone_geoms)) is not None:
                # The grid made beforehand: the pool adds up the small layers meanwhile, on a
                # twin of it (prepared geometries are not to be queried by two threads).
                cache["grid"] = grid
                small = pool.submit(lambda: small_layers({"grid": grid.twin()}))
        else:
            # The routes are read and clipped by GEOS (the GIL released) while the points are
            # summed; on copies of the zones, which the grid prepares meanwhile.
            clipped = pool.submit(_mobility_sums, store,
                                  shapely.from_wkb(shapely.to_wkb(zone_geoms)))
        # The buildings first: they size the grid when none was made beforehand.
        sums.update(store.zone_sums("batiments", zone_geoms, buildings, cache=cache))
        orientations, parts = small.result() if small is not None else small_layers(cache)
        for part in parts:
            sums.update(part)
        lines = prepared.lines_for(zone_geoms) if prepared is not None else clipped.result()
        if lines is None:  # prepared for other zones
            lines = _mobility_sums(store, shapely.from_wkb(shapely.to_wkb(zone_geoms)))
        sums.update(lines)
    columns = columns_for(orientations)
    communes = store.read("communes", columns=[])
    area = float(shapely.area(communes.geometry.to_numpy()).sum()) if len(communes) else None
    stats = _table(zone_geoms, sums, None, area)
    head = pd.DataFrame({
        "id": [*zones["id"].astype(str), TERRITORY_ID],
        "nom": [*zones["nom"].astype(object).where(zones["nom"].notna(), None), TERRITORY_NAME],
    })
    frame = pd.concat([head, stats[[c.name for c in columns]]], axis=1)
    for col in columns:  # nullable: an unknown count stays <NA>, never 0
        if col.kind == "count":
            frame[col.name] = frame[col.name].round().astype("Int64")
    frame.attrs.update({"layer": source, "reference_year": year, "public": False})
    return frame


def _mobility_sums(store: Store, zones: np.ndarray) -> dict[str, ZoneSums]:
    """Existing and planned active-mobility km inside each zone (see :func:`line_sums`)."""
    lines, _ = store.read_batch(MOBILITY_LAYER, columns=["statut"])
    return mobility_sums(zones, lines.columns["statut"], lines.geometry)


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with French column headers, for people."""
    names = {"id": "Identifiant", "nom": "Nom",
             **{name: col.label for name in frame.columns if (col := stat_column(name))}}
    return frame.rename(columns=names)


def stats_records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows (NaN and <NA> -> None, numpy scalars -> Python)."""
    # Column by column (``tolist`` gives Python scalars): thousands of zones in milliseconds.
    columns = []
    for name in frame.columns:
        column = frame[name]
        values = column.tolist()
        if column.dtype == object:
            values = [v.item() if isinstance(v, np.generic) else v for v in values]
        missing = column.isna().to_numpy()
        if missing.any():
            values = [None if m else v for v, m in zip(values, missing.tolist(), strict=True)]
        columns.append(values)
    names = list(frame.columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


# -- statistics in time: as of a date, changes between two dates -------------------------------

def stats_at(store: Store, layer: str | None, when, *, public: bool = False,
             perimeter: Perimeter | None = None,
             reference_year: int | None = None) -> pd.DataFrame:
    """:func:`sector_stats` of the store as it stood at ``when`` (replayed from the journal by
    :mod:`ort_geo.timeline`): zones, buildings, shops, actions and routes of that date. The
    reference year of long-term vacancy defaults to the date's year. Staff only: ``public``
    raises :class:`AccessDeniedError`."""
    from .timeline import parse_when, store_at

    if public:
        # One public release per store (ort_geo.secrecy): a past state would be a second one.
        raise AccessDeniedError("Statistiques publiques : seule la situation actuelle est "
                                "publiée ; les états passés sont réservés aux agents habilités "
                                "(secret statistique).")
    instant = parse_when(when)
    frame = sector_stats(store_at(store, instant), layer, public=public, perimeter=perimeter,
                         reference_year=reference_year or instant.year)
    frame.attrs["au"] = instant.date().isoformat()
    return frame


def stats_between(store: Store, layer: str, since, until=None, *,
                  reference_year: int | None = None) -> pd.DataFrame:
    """Each zone's statistics at ``since`` and at ``until`` and their change, in long form:
    one row per zone and statistic (``id``, ``nom``, ``statistique``, ``libelle``, ``depuis``,
    ``au``, ``evolution``). Zones are matched by id (a zone absent at a date reads empty there).
    Staff only: differences of two published counts could reveal a secret one."""
    from .timeline import parse_when

    start, end = parse_when(since), parse_when(until)
    if end < start:
        raise InputError("La date de fin (--au) précède la date de début (--depuis).")
    before = stats_at(store, layer, start, reference_year=reference_year).set_index("id")
    after = stats_at(store, layer, end, reference_year=reference_year).set_index("id")
    ids = list(dict.fromkeys([*after.index, *before.index]))
    # Every column either date has (orientations included), in the table's order.
    columns = [c for c in map(stat_column, dict.fromkeys([*after.columns, *before.columns]))
               if c is not None]
    rows = []
    for zone in ids:
        name = after["nom"].get(zone) if zone in after.index else before["nom"].get(zone)
        for col in columns:
            a = before[col.name].get(zone) if zone in before.index else None
            b = after[col.name].get(zone) if zone in after.index else None
            a = None if a is None or pd.isna(a) else float(a)
            b = None if b is None or pd.isna(b) else float(b)
            rows.append({"id": zone, "nom": name, "statistique": col.name, "libelle": col.label,
                         "depuis": a, "au": b,
                         "evolution": None if a is None or b is None else b - a})
    out = pd.DataFrame(rows)
    out.attrs.update({"layer": layer, "depuis": start.date().isoformat(),
                      "au": end.date().isoformat(), "public": False})
    return out


__all__ = [
    "stats_at", "stats_between", "DECIMALS",
    "COLUMNS", "StatColumn", "columns_for", "stat_column", "PointSet", "sector_stats",
    "zone_stats", "labelled", "stats_records", "building_measures", "representative_xy",
    "building_measure_list", "SHOP_MEASURES", "ACTION_MEASURES", "action_measure_list",
]
