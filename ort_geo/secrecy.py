"""The public release: every statistics table of one reference year, masked together.

Masking each count between 1 and 10 (primary secrecy) is not enough: the territory row is
published and the communes or the strata tile it, so one subtraction gives a masked count back;
layers overlap, so longer linear combinations do too. This module computes, for a store, the
whole set of public tables once — one per public zone layer (communes, ORT sectors, permis de
louer, strata, îlot, activity zones), each with its territory row — and chooses complementary
cells to mask (secondary suppression, as τ-ARGUS and INSEE do) so that every masked cell keeps a
protection interval: the range of values consistent with everything published is at least
``threshold`` wide (or the whole range public facts allow, when that is narrower).

Every public channel reads its tables here (:func:`public_release`): ``ort-geo stats --public``,
the anonymous API, the public map and the public atlas, so they publish the same masks; and
:func:`audit` recomputes each masked cell's interval from public outputs alone (the published
tables, the public zones and the public building records) by linear programming (HiGHS), which
``ort-geo secret verifier`` runs.

What is masked: only counts derived from fields the catalogue does not publish (vacancy, its
start year, condition, habitat indigne, vacant ground floors; shop vacancy if it were declared
restricted) and the rates derived from them. Public facts — buildings and dwellings of public
footprints, shops, actions and their cost, surfaces, lengths — are shown as they are. Buildings
known only from a restricted source (:func:`ort_geo.privacy.restricted_records`) are left out of
the public release altogether.

The model of what an outsider knows, per restricted count: each published cell is the sum of its
"atoms" (the sets of public buildings sharing the same membership in every published zone), each
atom's value lies between 0 and a cap public records give (its number of buildings, or its
dwellings for vacancy counts), and long-term vacancy never exceeds vacancy. Intervals are those
of the linear relaxation, the standard of τ-ARGUS.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.optimize import linprog

from .assign import PolygonGrid
from .catalogue import CATALOGUE
from .errors import AccessDeniedError, InputError, with_detail
from .perimeter import polygon_layers, resolve_perimeter
from .privacy import MASK, SECRECY_THRESHOLD, is_secret, restricted_records
from .store.base import Store

TERRITORY = "territoire"  # the territory row's id (ort_geo.stats.TERRITORY_ID)

#: Count columns of ort_geo.stats built from a point layer's fields: column -> (layer, fields).
DERIVED_FROM: dict[str, tuple[str, tuple[str, ...]]] = {
    "batiments": ("batiments", ()),
    "logements": ("batiments", ("nb_logements",)),
    "batiments_logements_connus": ("batiments", ("nb_logements",)),
    "logements_vacants": ("batiments", ("nb_logements_vacants",)),
    # Coverage columns tell where a restricted field is filled: restricted too.
    "batiments_vacance_connue": ("batiments", ("nb_logements_vacants",)),
    "logements_vacance_connue": ("batiments", ("nb_logements", "nb_logements_vacants")),
    "vacants_longue_duree": ("batiments", ("nb_logements_vacants", "annee_debut_vacance")),
    "batiments_degrades": ("batiments", ("etat",)),
    "batiments_etat_connu": ("batiments", ("etat",)),
    "habitat_indigne": ("batiments", ("habitat_indigne",)),
    "rdc_vacants": ("batiments", ("rdc_vacant",)),
    "commerces": ("commerces", ()),
    "commerces_vacants": ("commerces", ("vacant",)),
    "commerces_vacance_connue": ("commerces", ("vacant",)),
    "actions": ("actions", ()),
    **{f"actions_o{k}": ("actions", ("orientation",)) for k in (1, 2, 3, 4)},
    "actions_cout_connu": ("actions", ("cout_ht",)),
}
#: Per feature, a restricted count never exceeds another one (long-term vacancy <= vacancy, a
#: degraded building has a known condition).
DOMINATED_BY: dict[str, str] = {"vacants_longue_duree": "logements_vacants",
                                "batiments_degrades": "batiments_etat_connu"}
#: The public per-feature quantity that caps each restricted count: dwellings (unknown: no cap,
#: or 0 for the dwellings of buildings whose vacancy is known), else one per feature.
CAPPED_BY: dict[str, tuple[str, float]] = {
    "logements_vacants": ("nb_logements", math.inf),
    "vacants_longue_duree": ("nb_logements", math.inf),
    "logements_vacance_connue": ("nb_logements", 0.0),
}
#: Coverage counts (how many buildings or dwellings a restricted field is known for): a complete
#: one (every building of the zone known) says nothing of any building, like a count of 0.
COVERAGE = ("batiments_vacance_connue", "logements_vacance_connue", "batiments_etat_connu")
_TOL = 1e-6


def restricted_columns() -> tuple[str, ...]:
    """The count columns derived from a field the catalogue does not publish (masked ones)."""
    return tuple(name for name, (layer, fields) in DERIVED_FROM.items()
                 if any(not CATALOGUE[layer].field(f).public for f in fields))


def public_zone_layers(store: Store | type[Store]) -> list[str]:
    """The zone layers whose statistics are published (public layers of the catalogue)."""
    return [name for name in polygon_layers(store) if CATALOGUE[name].public]  # type: ignore[arg-type]


def public_year(store: Store) -> int:
    """The one reference year published to everyone: the public atlas' year."""
    from .atlas_plan import atlas_date

    return atlas_date(store).year


def check_public_year(store: Store, year: int | None) -> int:
    """The public reference year; any other year is for staff (differences between years would
    reveal masked counts)."""
    reference = public_year(store)
    if year is not None and year != reference:
        raise AccessDeniedError(
            f"Statistiques publiques : seule l'année de référence {reference} est publiée ; les "
            "autres années sont réservées aux agents habilités (secret statistique).")
    return reference


# -- the structure an outsider can rebuild from public outputs ---------------------------------


@dataclass
class Structure:
    """Published cells as sums of atoms, for the restricted counts of one point layer.

    ``rows`` are the published zones, ``(layer, id)``, then the territory ``(TERRITORY,
    TERRITORY)``; ``incidence[r, a]`` says whether atom ``a`` is in row ``r``; ``caps[column]``
    bounds each atom's value (``inf`` when public records do not bound it).
    """

    rows: list[tuple[str, str]]
    incidence: np.ndarray
    caps: dict[str, np.ndarray]
    atom_of: np.ndarray  # atom index of each point

    def cell_cap(self, column: str, row: int) -> float:
        return float(self.caps[column][self.incidence[row]].sum())


def build_structure(zones: Mapping[str, gpd.GeoDataFrame], points: gpd.GeoDataFrame,
                    columns: Iterable[str]) -> Structure:
    """Atoms of ``points`` (public records) against every published zone, with public caps."""
    from .stats import representative_xy

    x, y = representative_xy(points.geometry.to_numpy())
    rows: list[tuple[str, str]] = []
    member_blocks = []
    for layer, frame in zones.items():
        n = len(frame)
        block = np.zeros((len(points), n), bool)
        if n and len(points):
            p, g = PolygonGrid(frame.geometry.to_numpy(), points=(x, y)).pairs(x, y)
            block[p, g] = True
        member_blocks.append(block)
        rows += [(layer, str(i)) for i in frame["id"]]
    rows.append((TERRITORY, TERRITORY))
    member = np.concatenate([*member_blocks, np.ones((len(points), 1), bool)], axis=1)
    if len(points):
        packed = np.packbits(member, axis=1)
        unique, atom_of = np.unique(packed, axis=0, return_inverse=True)
        atom_of = atom_of.ravel()
        incidence = np.unpackbits(unique, axis=1, count=member.shape[1]).astype(bool).T
    else:
        atom_of = np.zeros(0, np.int64)
        incidence = np.zeros((len(rows), 0), bool)
    caps: dict[str, np.ndarray] = {}
    for column in columns:
        if column not in CAPPED_BY:
            per_point = np.ones(len(points))
        else:
            by, unknown = CAPPED_BY[column]
            per_point = pd.to_numeric(points[by], errors="coerce").to_numpy(np.float64) \
                if by in points.columns else np.full(len(points), np.nan)
            per_point = np.where(np.isnan(per_point), unknown, per_point)
        caps[column] = np.bincount(atom_of, weights=per_point, minlength=incidence.shape[1]) \
            if len(points) else np.zeros(0)
    return Structure(rows, incidence, caps, atom_of)


# -- intervals by linear programming ----------------------------------------------------------

Cell = tuple[str, int]  # (column, row index)


def _groups(columns: Iterable[str]) -> list[tuple[str, ...]]:
    """Columns tied by a per-feature inequality are solved together."""
    columns = list(columns)
    out: list[list[str]] = []
    for column in columns:
        linked = [g for g in out if DOMINATED_BY.get(column) in g
                  or any(DOMINATED_BY.get(c) == column for c in g)]
        if linked:
            linked[0].append(column)
        else:
            out.append([column])
    return [tuple(g) for g in out]


class IntervalModel:
    """The feasible region of one group of restricted counts, given what is published."""

    def __init__(self, structure: Structure, columns: tuple[str, ...]) -> None:
        self.s = structure
        self.columns = columns
        n_atoms = structure.incidence.shape[1]
        self.n_atoms = n_atoms
        self.bounds = [(0.0, None if math.isinf(c) else float(c))
                       for column in columns for c in structure.caps[column]]
        ub = []
        for k, column in enumerate(columns):
            sup = DOMINATED_BY.get(column)
            if sup in columns:
                j = columns.index(sup)
                block = np.zeros((n_atoms, n_atoms * len(columns)))
                block[:, k * n_atoms:(k + 1) * n_atoms] = np.eye(n_atoms)
                block[:, j * n_atoms:(j + 1) * n_atoms] = -np.eye(n_atoms)
                ub.append(block)
        self.a_ub = np.concatenate(ub) if ub else None
        self.b_ub = np.zeros(len(self.a_ub)) if ub else None

    def _row(self, cell: Cell) -> np.ndarray:
        column, row = cell
        k = self.columns.index(column)
        out = np.zeros(self.n_atoms * len(self.columns))
        out[k * self.n_atoms:(k + 1) * self.n_atoms] = self.s.incidence[row]
        return out

    def interval(self, cell: Cell, published: Mapping[Cell, float]) -> tuple[float, float]:
        """(min, max) of ``cell`` over every table consistent with the ``published`` cells."""
        if not self.n_atoms:
            return 0.0, 0.0
        cells = sorted(published)
        a_eq = np.array([self._row(c) for c in cells]) if cells else None
        b_eq = np.array([published[c] for c in cells], float) if cells else None
        objective = self._row(cell)
        out = []
        for sign in (1.0, -1.0):
            res = linprog(sign * objective, A_ub=self.a_ub, b_ub=self.b_ub, A_eq=a_eq, b_eq=b_eq,
                          bounds=self.bounds, method="highs")
            if res.status == 3:  # unbounded
                out.append(math.inf if sign < 0 else -math.inf)
            elif res.status != 0:
                raise InputError("Tableaux publiés incohérents : aucune répartition ne les "
                                 f"satisfait ({res.message}).")
            else:
                out.append(sign * res.fun)
        return out[0], out[1]


def required_width(structure: Structure, cell: Cell, threshold: int) -> float:
    """The protection a masked cell needs: the threshold, or all public facts leave open."""
    return min(float(threshold), structure.cell_cap(*cell))


# -- secondary suppression ----------------------------------------------------------------------


def suppress(structure: Structure, values: Mapping[Cell, int], threshold: int = SECRECY_THRESHOLD,
             fixed: Iterable[Cell] = ()) -> tuple[set[Cell], set[Cell]]:
    """(primary, secondary) cells to mask so that every masked cell keeps its protection.

    Primary: counts between 1 and ``threshold - 1`` (a complete coverage count excepted). Then, for each masked cell (in a fixed
    order) whose interval is too narrow, complements are added: the cheapest cell of the same
    column (not the territory, then the smallest value) that makes the interval wide enough,
    else the one that widens it most. Masking more only widens intervals, so a cell once
    protected stays protected, and the loop ends (at worst every cell of the column is masked,
    which leaves each its whole public range). A last pass publishes again every complement
    that later choices made unnecessary. ``fixed`` cells are published whatever happens
    (a count no feature knows reads "unknown", which says it is 0): never complements.
    """
    fixed = set(fixed)
    primary = {c for c, v in values.items() if is_secret(v) and v < threshold and c not in fixed
               and not (c[0] in COVERAGE and v >= structure.cell_cap(*c))}
    masked = set(primary)
    columns = sorted({c for c, _ in values}, key=list(DERIVED_FROM).index)
    for group in _groups(columns):
        model = IntervalModel(structure, group)
        group_cells = sorted((c for c in values if c[0] in group),
                             key=lambda c: (group.index(c[0]), c[1]))
        todo = [c for c in group_cells if c in masked]
        checked: set[Cell] = set()
        while todo:
            cell = todo.pop(0)
            if cell in checked:
                continue
            need = required_width(structure, cell, threshold)
            while True:
                published = {c: values[c] for c in group_cells if c not in masked}
                lo, hi = model.interval(cell, published)
                if hi - lo >= need - _TOL:
                    break
                added = _complement(model, structure, cell, need, values, group_cells,
                                    masked | fixed, hi - lo)
                masked.add(added)
                todo.append(added)
            checked.add(cell)
        _prune(model, structure, values, group_cells, primary, masked, threshold)
    return primary, masked - primary


def _prune(model: IntervalModel, structure: Structure, values: Mapping[Cell, int],
           group_cells: list[Cell], primary: set[Cell], masked: set[Cell], threshold: int) -> None:
    """Publish again each complement (largest value first) whose masking turned out not to be
    needed once later complements were chosen: every masked cell must still pass."""
    secondary = sorted((c for c in group_cells if c in masked and c not in primary),
                       key=lambda c: (-values[c], c[1], c[0]))
    for candidate in secondary:
        trial = masked - {candidate}
        published = {c: values[c] for c in group_cells if c not in trial}
        if all(_protected(model, structure, c, published, threshold)
               for c in group_cells if c in trial):
            masked.discard(candidate)


def _protected(model: IntervalModel, structure: Structure, cell: Cell,
               published: Mapping[Cell, float], threshold: int) -> bool:
    lo, hi = model.interval(cell, published)
    return hi - lo >= required_width(structure, cell, threshold) - _TOL


def _complement(model: IntervalModel, structure: Structure, cell: Cell, need: float,
                values: Mapping[Cell, int], group_cells: list[Cell], masked: set[Cell],
                width: float) -> Cell:
    territory = len(structure.rows) - 1
    candidates = sorted(
        (c for c in group_cells if c not in masked),
        key=lambda c: (c[0] != cell[0], c[1] == territory, values[c], c[1], c[0]))
    best, best_width = candidates[0], width
    for candidate in candidates:
        trial = masked | {candidate}
        published = {c: values[c] for c in group_cells if c not in trial}
        lo, hi = model.interval(cell, published)
        if hi - lo >= need - _TOL:
            return candidate
        if hi - lo > best_width + _TOL:
            best, best_width = candidate, hi - lo
    return best


# -- the release ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicRelease:
    """Every public statistics table of one reference year, masked together."""

    year: int
    threshold: int
    #: Per public zone layer, the table as ``sector_stats(..., public=True)`` returns it.
    tables: Mapping[str, pd.DataFrame]
    #: Masked cells, as (column, layer, zone id) — the territory row as (column, "territoire",
    #: "territoire"), shared by every table.
    primary: frozenset[tuple[str, str, str]] = field(default_factory=frozenset)
    secondary: frozenset[tuple[str, str, str]] = field(default_factory=frozenset)

    def table(self, layer: str) -> pd.DataFrame:
        """One layer's masked table (a copy)."""
        if layer not in self.tables:
            CATALOGUE[layer]  # unknown layer -> LayerNotFoundError
            raise InputError(f"La couche « {layer} » n'a pas de statistiques publiques.")
        frame = self.tables[layer].copy()
        frame.attrs.update(self.tables[layer].attrs)
        return frame


_CACHE: OrderedDict[str, PublicRelease] = OrderedDict()
_CACHE_SIZE = 8


def public_release(store: Store, year: int | None = None, *,
                   threshold: int = SECRECY_THRESHOLD) -> PublicRelease:
    """The public statistics of ``store`` for ``year`` (default and normally: the public year).

    Computed once per store revision (:meth:`Store.cached`: the API's public requests read no
    statistics again until a write), and the suppression (the costly part) once per content: it
    is cached by a hash of the unmasked tables and of the atoms and caps it works on, so every
    channel of a process (API requests, atlas pages, map popups) shares one result.
    """
    year = year or public_year(store)
    return store.cached(("public_release", year, threshold),
                        lambda: _release(store, year, threshold))


def _release(store: Store, year: int, threshold: int) -> PublicRelease:
    from .stats import sector_stats

    raw = {layer: sector_stats(store, layer, reference_year=year, public_records=True)
           for layer in public_zone_layers(store)}
    structures = _structures(store, raw)
    digest = hashlib.sha256(repr((year, threshold)).encode())
    for layer, frame in raw.items():
        digest.update(layer.encode())
        digest.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()
                      .tobytes())
    for point_layer, (columns, structure) in structures.items():
        digest.update(repr((point_layer, columns, structure.rows)).encode())
        digest.update(np.packbits(structure.incidence).tobytes())
        for column in columns:
            digest.update(structure.caps[column].tobytes())
    key = digest.hexdigest()
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    release = _mask_tables(raw, structures, year, threshold)
    _CACHE[key] = release
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return release


def _public_points(store: Store, layer: str, columns: list[str]) -> gpd.GeoDataFrame:
    spec = store.spec(layer)
    wanted = [c for c in columns if c in spec.field_names]
    frame = store.read(layer, columns=sorted({*wanted, *(["source"] if "source" in
                                                           spec.field_names else [])}))
    return frame[~restricted_records(frame)].reset_index(drop=True)


def _structures(store: Store, raw: Mapping[str, pd.DataFrame]
                ) -> dict[str, tuple[list[str], Structure]]:
    """Per point layer of restricted counts, its columns and the atoms of its public records."""
    zones = {layer: resolve_perimeter(layer, store)[["id", "geometry"]] for layer in raw}
    by_layer: dict[str, list[str]] = {}
    for column in restricted_columns():
        by_layer.setdefault(DERIVED_FROM[column][0], []).append(column)
    out = {}
    for point_layer, columns in by_layer.items():
        points = _public_points(store, point_layer, [CAPPED_BY.get(c, ("",))[0] for c in columns])
        out[point_layer] = (columns, build_structure(zones, points, columns))
    return out


def _mask_tables(raw: Mapping[str, pd.DataFrame],
                 structures: Mapping[str, tuple[list[str], Structure]], year: int, threshold: int
                 ) -> PublicRelease:
    primary: set[tuple[str, str, str]] = set()
    secondary: set[tuple[str, str, str]] = set()
    for columns, structure in structures.values():
        values, fixed = _cell_values(structure, raw, columns)
        p, s = suppress(structure, values, threshold, fixed)
        primary |= {(c, *structure.rows[r]) for c, r in p}
        secondary |= {(c, *structure.rows[r]) for c, r in s}
    tables = {layer: mask_table(frame, layer, primary | secondary) for layer, frame in raw.items()}
    for frame in tables.values():
        frame.attrs.update({"public": True, "reference_year": year})
    return PublicRelease(year, threshold, tables, frozenset(primary), frozenset(secondary))


def _cell_values(structure: Structure, raw: Mapping[str, pd.DataFrame], columns: list[str]
                 ) -> tuple[dict[Cell, int], set[Cell]]:
    """Each restricted cell's true value, read from the unmasked tables, and the unknown ones
    (no feature of the zone knows the value: it adds 0, and "unknown" is published)."""
    values: dict[Cell, int] = {}
    unknown: set[Cell] = set()
    for _, cell, value in _table_cells(structure, raw, columns):
        if pd.isna(value):
            unknown.add(cell)
        values[cell] = 0 if pd.isna(value) else int(value)
    return values, unknown


def _table_cells(structure: Structure, tables: Mapping[str, pd.DataFrame], columns: list[str]
                 ) -> Iterator[tuple[str, Cell, Any]]:
    """Each cell of ``columns`` in the zone tables: the zone's id, the cell of ``structure``
    (the territory's row for the territory's line of any table) and the table's value."""
    index = {row: r for r, row in enumerate(structure.rows)}
    for layer, frame in tables.items():
        for _, line in frame.iterrows():
            fid = str(line["id"])
            key = (TERRITORY, TERRITORY) if fid == TERRITORY else (layer, fid)
            if key not in index:
                raise InputError(f"Zone « {fid} » de la couche {layer} absente des zones "
                                 "publiées.")
            for column in columns:
                yield fid, (column, index[key]), line[column]


def mask_table(frame: pd.DataFrame, layer: str, masked: set[tuple[str, str, str]]) -> pd.DataFrame:
    """The table with its masked cells (and rates derived from them) replaced by the mark."""
    from .stats import COLUMNS

    out = frame.copy()
    ids = out["id"].astype(str)
    restricted = restricted_columns()
    hidden: dict[str, np.ndarray] = {}
    for column in restricted:
        hidden[column] = np.array([
            (column, TERRITORY, TERRITORY) in masked if fid == TERRITORY
            else (column, layer, fid) in masked for fid in ids])
    for col in COLUMNS:
        if col.kind == "rate" and any(b in hidden for b in col.base):
            mask = np.any([hidden[b] for b in col.base if b in hidden], axis=0)
            out[col.name] = out[col.name].astype(object).where(~mask, MASK)
    for column, mask in hidden.items():
        out[column] = out[column].astype(object).where(~mask, MASK)
    out.attrs.update(frame.attrs)
    return out


# -- the audit: from public outputs alone -------------------------------------------------------


@dataclass(frozen=True)
class AuditCell:
    column: str
    layer: str
    zone: str
    low: float
    high: float
    required: float

    @property
    def width(self) -> float:
        return self.high - self.low

    @property
    def ok(self) -> bool:
        return self.width >= self.required - _TOL


@dataclass(frozen=True)
class AuditReport:
    threshold: int
    cells: tuple[AuditCell, ...]

    @property
    def failures(self) -> tuple[AuditCell, ...]:
        return tuple(c for c in self.cells if not c.ok)

    @property
    def ok(self) -> bool:
        return not self.failures


def audit(tables: Mapping[str, pd.DataFrame], zones: Mapping[str, gpd.GeoDataFrame],
          records: Mapping[str, gpd.GeoDataFrame], threshold: int = SECRECY_THRESHOLD
          ) -> AuditReport:
    """Each masked cell's feasible interval, from public outputs only.

    ``tables``: the published statistics per zone layer (masked cells read :data:`MASK`);
    ``zones``: the published zone layers (``id`` and geometry); ``records``: the published point
    layers (``batiments``… with their public fields). A published cell that contradicts another
    (e.g. the territory row differing between tables) makes the audit fail loudly.
    """
    restricted = restricted_columns()
    by_layer: dict[str, list[str]] = {}
    for column in restricted:
        if any(column in t.columns for t in tables.values()):
            by_layer.setdefault(DERIVED_FROM[column][0], []).append(column)
    cells: list[AuditCell] = []
    for point_layer, columns in by_layer.items():
        geoms = {layer: zones[layer][["id", "geometry"]] for layer in tables}
        structure = build_structure(geoms, records[point_layer], columns)
        published: dict[Cell, float] = {}
        hidden: set[Cell] = set()
        for fid, cell, value in _table_cells(structure, tables, columns):
            if isinstance(value, str):
                hidden.add(cell)
                continue
            # "unknown" (no feature of the zone knows the value) adds 0 to the count
            number = 0.0 if value is None or pd.isna(value) else float(value)
            if cell in published and published[cell] != number:
                raise InputError(f"{cell[0]} de « {fid} » publié avec deux valeurs.")
            published[cell] = number
        hidden -= set(published)  # masked in one table but published in another: not hidden
        for group in _groups(columns):
            model = IntervalModel(structure, group)
            known = {c: v for c, v in published.items() if c[0] in group}
            for cell in sorted((c for c in hidden if c[0] in group),
                               key=lambda c: (group.index(c[0]), c[1])):
                lo, hi = model.interval(cell, known)
                layer, zone = structure.rows[cell[1]]
                cells.append(AuditCell(cell[0], layer, zone, lo, hi,
                                       required_width(structure, cell, threshold)))
    return AuditReport(threshold, tuple(cells))


def audit_store(store: Store, year: int | None = None, *,
                threshold: int = SECRECY_THRESHOLD) -> AuditReport:
    """The audit of a store's public release (as published) against ``threshold``, fed only with
    what the public channels give."""
    from .privacy import public_view

    release = public_release(store, year)
    zones = {}
    for layer in release.tables:
        # The zones as the public map and API publish them (key and geometry are public).
        spec = store.spec(layer)
        frame = public_view(spec, store.read(layer))
        zones[layer] = gpd.GeoDataFrame({"id": frame[spec.key].astype(str).to_numpy()},
                                        geometry=frame.geometry.to_numpy(), crs=frame.crs)
    records = {}
    for layer in {DERIVED_FROM[c][0] for c in restricted_columns()}:
        frame = store.read(layer)
        records[layer] = public_view(store.spec(layer), frame[~restricted_records(frame)])
    return audit(release.tables, zones, records, threshold)


__all__ = [
    "AuditCell", "AuditReport", "PublicRelease", "Structure", "audit", "audit_store",
    "build_structure", "check_public_year", "mask_table", "public_release", "public_year",
    "public_outputs_from_api", "public_zone_layers", "restricted_columns", "suppress",
]


# -- reading the public outputs back from a running API (what anyone can do) -------------------

def _get_json(url: str, timeout: float) -> dict:
    import json
    import socket
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise InputError(f"Lecture de {url} impossible : réponse HTTP {exc.code}.") from None
    except urllib.error.URLError as exc:
        why = ("connexion refusée" if isinstance(exc.reason, ConnectionRefusedError)
               else f"pas de réponse en {timeout:g} s" if isinstance(exc.reason, TimeoutError)
               else "nom d'hôte inconnu" if isinstance(exc.reason, socket.gaierror)
               else "échec réseau")
        raise with_detail(InputError(f"Lecture de {url} impossible : {why}."), exc.reason) \
            from None
    except TimeoutError:
        raise InputError(f"Lecture de {url} impossible : pas de réponse en {timeout:g} s.") \
            from None
    except OSError as exc:
        raise with_detail(InputError(f"Lecture de {url} impossible : échec réseau."), exc) \
            from None
    except ValueError:  # not JSON, or not UTF-8
        raise InputError(f"Lecture de {url} impossible : la réponse n'est pas du JSON.") from None
    if not isinstance(body, dict):
        raise InputError(f"{url} ne répond pas comme une API ort-geo.")
    return body


def _api_items(base: str, layer: str, timeout: float) -> gpd.GeoDataFrame:
    from urllib.parse import quote

    # Geometries in the store's own CRS (the collection's storageCrs: Lambert-93, UTM overseas).
    storage = _get_json(f"{base}/collections/{layer}", timeout)["storageCrs"]
    epsg = int(storage.rstrip("/").rsplit("/", 1)[1])
    url: str | None = (f"{base}/collections/{layer}/items?limit=10000"
                       f"&crs={quote(storage, safe='')}")
    features: list[dict] = []
    while url:
        page = _get_json(url, timeout)
        features += page.get("features", [])
        url = next((link["href"] for link in page.get("links", []) if link.get("rel") == "next"),
                   None)
    ids = [str(f.get("id")) for f in features]
    frame = gpd.GeoDataFrame.from_features(features, crs=epsg) if features else \
        gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs=epsg)
    frame["id"] = ids
    return frame


def public_outputs_from_api(base_url: str, *, timeout: float = 120.0
                            ) -> tuple[dict[str, pd.DataFrame], dict[str, gpd.GeoDataFrame],
                                       dict[str, gpd.GeoDataFrame]]:
    """(tables, zones, records) as an anonymous client of ``ort-geo serve`` reads them."""
    from urllib.parse import urlsplit

    base = base_url.rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"Adresse d'API invalide : « {base_url} » (attendu : "
                         "http://hôte:port ou https://…).")
    try:
        return _read_public_outputs(base, timeout)
    except InputError:
        raise
    except (KeyError, IndexError, TypeError, ValueError):  # another service's answers
        raise InputError(f"{base} ne répond pas comme une API ort-geo (réponses inattendues)."
                         ) from None


def _read_public_outputs(base: str, timeout: float
                         ) -> tuple[dict[str, pd.DataFrame], dict[str, gpd.GeoDataFrame],
                                    dict[str, gpd.GeoDataFrame]]:
    tables: dict[str, pd.DataFrame] = {}
    zones: dict[str, gpd.GeoDataFrame] = {}
    for layer in public_zone_layers(Store):
        body = _get_json(f"{base}/collections/{layer}/stats?f=json", timeout)
        tables[layer] = pd.DataFrame(body["statistiques"])
        zones[layer] = _api_items(base, layer, timeout)[["id", "geometry"]]
    records = {layer: _api_items(base, layer, timeout)
               for layer in {DERIVED_FROM[c][0] for c in restricted_columns()}}
    return tables, zones, records
