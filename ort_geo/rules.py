"""Domain and topology rules of an ORT atlas, checked on a store or on a candidate change.

Rules (each violation names its rule, layer and feature, in French):

- ``L303-2``: the ORT sectors include the centre-ville of the EPCI's main town — a sector typed
  ``centre_ville_principal`` in the main town that contains its town hall — and every sector lies
  within the EPCI's member communes (art. L303-2 of the Code de la construction et de l'habitation);
- ``commune``: a feature's ``code_insee`` is a member commune;
- ``geometrie``: geometries are present, non-empty and valid (OGC);
- ``chevauchement``: no two features overlap in a layer whose catalogue forbids it;
- ``eclat``: no sliver polygon parts (tiny or thinner than a metre);
- ``hors_territoire``: features of layers bound to the territory lie within its communes;
- ``rattachement``: every action is tied to an existing sector or a member commune.

:func:`validate` checks what is stored; ``overrides={layer: frame}`` substitutes candidate layers,
so an edit can be checked *before* it is committed (see :func:`candidate_layer` and
:func:`ensure_valid`). Work is vectorised (shapely arrays, STRtree) to stay fast on large layers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .build import territory_of, town_halls_of
from .catalogue import CATALOGUE
from .crs import crs_label
from .errors import CRSError, ValidationError
from .store import Store
from .territory import Territory

Severity = Literal["erreur", "avertissement"]

#: Overlaps, and parts outside the territory, smaller than this (m²) are numerical noise.
AREA_TOLERANCE = 1.0
#: Distance (m) by which a feature may pass the territory's outline (simplified outlines).
OUTSIDE_TOLERANCE = 2.0
#: A polygon part is a sliver when its area is below this (m²)…
SLIVER_AREA = 10.0
#: …or its mean width (2 × area / perimeter) is below this (m).
SLIVER_WIDTH = 1.0
#: Layers where small parts are normal (sheds, kiosks): no sliver check.
NO_SLIVER_CHECK = frozenset({"batiments"})

RULE_TITLES = {
    "L303-2": "article L303-2 du CCH (secteurs d'intervention de l'ORT)",
    "commune": "commune membre du territoire",
    "geometrie": "géométrie valide",
    "chevauchement": "pas de chevauchement dans la couche",
    "eclat": "pas d'éclat (polygone minuscule ou filiforme)",
    "hors_territoire": "objet dans le territoire",
    "rattachement": "action rattachée à un secteur ou une commune",
}


@dataclass(frozen=True)
class Violation:
    """One failed rule for one feature (``feature_id`` None when the layer as a whole fails)."""

    rule: str
    layer: str
    feature_id: str | None
    message: str
    severity: Severity = "erreur"
    #: Other features the violation involves (the other zone of an overlap): with the rule,
    #: layer and feature, what makes two violations the same whatever their message says.
    related: tuple[str, ...] = ()

    @property
    def identity(self) -> tuple:
        if self.rule == "chevauchement" and self.feature_id is not None:
            # An overlap is a pair: which zone names it depends on the order the layer was
            # read in (an edited zone comes last in a candidate layer), not on the overlap.
            pair = tuple(sorted((self.feature_id, *self.related)))
            return (self.rule, self.layer, pair[0], pair[1:])
        return (self.rule, self.layer, self.feature_id, self.related)

    def __str__(self) -> str:
        where = f"{self.layer}/{self.feature_id}" if self.feature_id else self.layer
        return f"[{self.rule}] {where} : {self.message}"


def validate(
    store: Store,
    territory: Territory | None = None,
    *,
    overrides: Mapping[str, gpd.GeoDataFrame] | None = None,
    layers: Iterable[str] | None = None,
) -> list[Violation]:
    """Every violation in the store (or in it with ``overrides`` substituted), errors first."""
    territory = territory or territory_of(store)
    overrides = dict(overrides or {})
    requested = list(layers) if layers is not None else CATALOGUE.names
    names = [n for n in requested if CATALOGUE[n].spatial]  # tables without geometry: no topology
    frames: dict[str, gpd.GeoDataFrame] = {}

    def frame(name: str) -> gpd.GeoDataFrame:
        if name not in frames:
            if name in overrides:
                candidate = overrides[name]
                if candidate.crs is None:
                    raise CRSError(f"Couche candidate {name} sans système de coordonnées : "
                                   f"déclarez-le ({crs_label(store.epsg)} attendu).")
                frames[name] = candidate.to_crs(store.crs)
            else:
                frames[name] = store.read(name)
        return frames[name]

    found: list[Violation] = []
    bounds = (boundaries(store, territory) if "communes" not in overrides
              else Boundaries.of(store, territory, frame("communes")))
    members = set(territory.communes)
    own = bounds.own
    missing = sorted(members - set(own["code_insee"].astype(str)))
    if missing:
        found.append(Violation("commune", "communes", None,
                               f"communes membres absentes de la couche : {', '.join(missing)}"))
    for name in names:
        found += check_layer(name, frame(name), bounds.area, members, tolerant=bounds.tolerant)
    if "secteurs_ort" in names:
        sectors = frame("secteurs_ort")
        typed = sectors[sectors["type"] == "centre_ville_principal"]
        found += main_centre(typed["id"].astype(str).to_numpy(),
                             typed["code_insee"].to_numpy(dtype=object),
                             typed.geometry.to_numpy(), territory, bounds.hall, own,
                             any_sector=not sectors.empty)
    if "actions" in names:
        found += actions_rules(frame("actions"), frame("secteurs_ort"), own)
    if "financements" in requested or "actions" in requested:
        found += financing_rules(frame("financements"), frame("actions"))
    return sort_violations(found)


def sort_violations(found: Iterable[Violation]) -> list[Violation]:
    """Errors first, then by rule, layer and feature (the order of every report)."""
    return sorted(found, key=lambda v: (v.severity != "erreur", v.rule, v.layer,
                                        v.feature_id or ""))


def check_layer(layer: str, frame: gpd.GeoDataFrame, territory_area=None,
                members: set[str] | None = None, *, tolerant=None) -> list[Violation]:
    """The rules that read one layer alone: geometry, overlap, slivers, communes, territory.

    ``territory_area`` is the union of the member communes (in the store's CRS); ``members`` their codes;
    ``tolerant`` that area buffered by :data:`OUTSIDE_TOLERANCE` and prepared, when the caller
    keeps one (:func:`boundaries`). Vectorised: cost grows linearly with the layer (plus an
    STRtree query for overlaps).
    """
    spec = CATALOGUE[layer]
    if frame.empty:
        return []
    codes = frame["code_insee"].to_numpy(dtype=object) if "code_insee" in frame.columns else None
    return check_features(layer, frame[spec.key].astype(str).to_numpy(),
                          frame.geometry.to_numpy(), codes, territory_area, members,
                          tolerant=tolerant)


def check_features(layer: str, ids: np.ndarray, geoms: np.ndarray, codes: np.ndarray | None,
                   territory_area=None, members: set[str] | None = None, *, tolerant=None
                   ) -> list[Violation]:
    """:func:`check_layer` on a layer's features given as arrays: ids (text), geometries and
    ``code_insee`` values (None when the layer has no such field)."""
    spec = CATALOGUE[layer]
    if not len(ids):
        return []
    found, usable = _geometry_rules(layer, ids, geoms)
    if members is not None and codes is not None and layer != "communes":
        rule = "L303-2" if layer == "secteurs_ort" else "commune"
        for fid, code in zip(ids.tolist(), codes.tolist(), strict=True):
            if not pd.isna(code) and str(code) not in members:
                found.append(Violation(rule, layer, fid,
                                       f"la commune {code} n'est pas membre de l'EPCI"))
    if territory_area is not None and spec.within_territory:
        if tolerant is None:
            tolerant = _tolerant(territory_area)
        found += _outside(layer, ids[usable], geoms[usable], territory_area, tolerant,
                          rule="L303-2" if layer == "secteurs_ort" else "hors_territoire")
    return found


def _tolerant(area):
    tolerant = area.buffer(OUTSIDE_TOLERANCE)
    shapely.prepare(tolerant)
    return tolerant


@dataclass
class Boundaries:
    """What every check reads of the territory: its member communes (``own``), their union
    (``area``), that union buffered by :data:`OUTSIDE_TOLERANCE` and prepared (``tolerant``),
    and the main town's town hall (:attr:`hall`, looked up on first use)."""

    own: gpd.GeoDataFrame
    area: object
    tolerant: object
    halls: dict
    main_town: str
    epsg: int

    @classmethod
    def of(cls, store: Store, territory: Territory, communes: gpd.GeoDataFrame) -> Boundaries:
        own = communes[communes["code_insee"].astype(str).isin(set(territory.communes))]
        area = shapely.union_all(own.geometry.values) if len(own) else None
        return cls(own, area, None if area is None else _tolerant(area), town_halls_of(store),
                   territory.main_town, store.epsg)

    @property
    def hall(self):
        """The main town's town hall: recorded in the store, else from the commune reference."""
        if self.main_town not in self.halls:
            from .communes import read_town_halls

            self.halls[self.main_town] = read_town_halls(
                [self.main_town], epsg=self.epsg).geometry.iloc[0]
        return self.halls.get(self.main_town)


#: Boundaries by (store, revision of its communes, territory metadata): a few stores at most.
_BOUNDARIES: dict[tuple, Boundaries] = {}


def boundaries(store: Store, territory: Territory) -> Boundaries:
    """The territory's :class:`Boundaries`, cached until the store's communes or territory
    metadata change (their journal revision — every write, the tool's or another client's
    through the journal triggers, adds an entry — or the recorded manifest and town halls)."""
    key = (store.url, store.revision("communes"), territory.model_dump_json(),
           store.get_meta("territory").get("mairies"))
    found = _BOUNDARIES.get(key)
    if found is None:
        found = Boundaries.of(store, territory, store.read("communes"))
        if len(_BOUNDARIES) >= 8:
            _BOUNDARIES.clear()
        _BOUNDARIES[key] = found
    return found


def errors(violations: Iterable[Violation]) -> list[Violation]:
    return [v for v in violations if v.severity == "erreur"]


def ensure_valid(store: Store, territory: Territory | None = None, *,
                 overrides: Mapping[str, gpd.GeoDataFrame] | None = None) -> list[Violation]:
    """Raise :class:`ValidationError` (with the French report) when a rule fails; else warnings."""
    layers = None
    if overrides:
        # A candidate change is checked on its own layers plus the rules that read them.
        layers = set(overrides) | ({"secteurs_ort", "actions"} if "secteurs_ort" in overrides
                                   else set())
        if "communes" in overrides:
            layers = None
    found = validate(store, territory, overrides=overrides, layers=layers)
    if errors(found):
        raise ValidationError(format_report(found))
    return found


def candidate_layer(store: Store, layer: str, *, upserts: gpd.GeoDataFrame | None = None,
                    deletes: Sequence[str] = (), current: gpd.GeoDataFrame | None = None
                    ) -> gpd.GeoDataFrame:
    """The layer as it would be after upserting ``upserts`` and deleting ``deletes``
    (``current``: the stored layer when the caller has already read it)."""
    spec = CATALOGUE[layer]
    current = store.read(layer) if current is None else current
    keep = ~current[spec.key].astype(str).isin(set(map(str, deletes)))
    if upserts is not None and len(upserts):
        if upserts.crs is None:
            raise CRSError("Objets candidats sans système de coordonnées "
                           f"({crs_label(store.epsg)} attendu).")
        upserts = upserts.to_crs(store.crs)
        keep &= ~current[spec.key].astype(str).isin(set(upserts[spec.key].astype(str)))
        merged = pd.concat([current[keep], upserts], ignore_index=True)
        return gpd.GeoDataFrame(merged, geometry=current.geometry.name, crs=store.crs)
    return current[keep].reset_index(drop=True)


def candidate_from_file(store: Store, layer: str, path: str, *, mode: str = "replace"
                        ) -> gpd.GeoDataFrame:
    """The layer as it would be after ``ort-geo import FILE --couche LAYER --mode MODE``.

    The file goes through the same reader, field mapping and catalogue checks as an import, so
    a file that could not be imported fails here with the same error; nothing is written.
    """
    from .io import ImportReport, map_fields, read_vector
    from .store.base import features_to_frame
    from .validation import frame_to_features

    spec = CATALOGUE[layer]
    frame, report = read_vector(path, prefer_layer=layer, target=store.epsg)
    frame = map_fields(spec, frame, report or ImportReport(source=str(path)))
    typed = features_to_frame(spec, frame_to_features(spec, frame, epsg=store.epsg),
                              crs=store.crs)
    if mode == "replace":
        return typed
    return candidate_layer(store, layer, upserts=typed)


def locate(violation: Violation, frames: Mapping[str, gpd.GeoDataFrame], territory_area=None,
           hall=None):
    """Where to draw ``violation`` (EPSG:2154): the overlapping area, the sliver part, what lies
    outside the territory, the invalid spot, the missing town hall — else the feature itself.

    ``frames`` holds the layers the violation was found on (candidate layers substituted);
    ``territory_area`` is the union of the member communes, ``hall`` the main town's town hall.
    None when there is nothing to point at (a layer-wide violation without a place).
    """
    frame = frames.get(violation.layer)
    geom = None
    if frame is not None and violation.feature_id is not None:
        key = CATALOGUE[violation.layer].key
        rows = frame[frame[key].astype(str) == violation.feature_id]
        geom = rows.geometry.iloc[0] if len(rows) else None
    if geom is None or geom.is_empty:
        return hall if violation.rule == "L303-2" else None
    rule = violation.rule
    if rule == "geometrie":
        spot = shapely.is_valid_reason(geom)
        numbers = spot[spot.find("[") + 1:spot.find("]")].split() if "[" in spot else []
        if len(numbers) == 2:
            return shapely.Point(float(numbers[0]), float(numbers[1]))
        return geom
    if not geom.is_valid:
        return geom
    if rule == "chevauchement":
        others = frame[frame[CATALOGUE[violation.layer].key].astype(str) != violation.feature_id]
        others = others.geometry[others.geometry.intersects(geom)]
        shared = shapely.intersection(geom, shapely.union_all(others.values)) if len(others) \
            else None
        return shared if shared is not None and not shared.is_empty else geom
    if rule == "eclat":
        parts = shapely.get_parts(geom)
        areas = shapely.area(parts)
        widths = 2 * areas / np.maximum(shapely.length(parts), 1e-9)
        bad = parts[(areas < SLIVER_AREA) | (widths < SLIVER_WIDTH)]
        return shapely.union_all(bad) if len(bad) else geom
    if rule in ("L303-2", "hors_territoire") and territory_area is not None \
            and "hors des communes" in violation.message:
        outside = shapely.difference(geom, territory_area)
        return geom if outside.is_empty else outside
    if rule == "L303-2" and "mairie" in violation.message and hall is not None:
        return hall
    return geom


def format_report(violations: Sequence[Violation]) -> str:
    """The French report: one line per violation, grouped by rule, then a verdict."""
    if not violations:
        return "Validation réussie : aucune règle enfreinte."
    lines: list[str] = []
    by_rule: dict[str, list[Violation]] = {}
    for v in violations:
        by_rule.setdefault(v.rule, []).append(v)
    for rule, items in by_rule.items():
        lines.append(f"Règle {rule} — {RULE_TITLES.get(rule, rule)} :")
        for v in items:
            mark = "✗" if v.severity == "erreur" else "!"
            where = f"{v.layer} « {v.feature_id} »" if v.feature_id else v.layer
            lines.append(f"  {mark} {where} : {v.message}")
    n_err = len(errors(violations))
    n_warn = len(violations) - n_err
    verdict = (f"Validation échouée : {n_err} erreur(s)" if n_err else "Validation réussie")
    lines.append(f"{verdict}, {n_warn} avertissement(s).")
    return "\n".join(lines)


# -- rules ----------------------------------------------------------------------------------

def _geometry_rules(layer: str, ids: np.ndarray, geoms: np.ndarray
                    ) -> tuple[list[Violation], np.ndarray]:
    """Violations, and the mask of geometries the other rules can use (present and valid)."""
    out: list[Violation] = []
    missing = shapely.is_missing(geoms)
    empty = np.zeros(len(geoms), bool)
    empty[~missing] = shapely.is_empty(geoms[~missing])
    for fid in ids[missing | empty]:
        out.append(Violation("geometrie", layer, fid, "géométrie vide ou absente"))
    ok = ~(missing | empty)
    invalid = np.zeros(len(geoms), bool)
    invalid[ok] = ~shapely.is_valid(geoms[ok])
    for fid, geom in zip(ids[invalid], geoms[invalid], strict=True):
        out.append(Violation("geometrie", layer, fid,
                             f"géométrie invalide ({shapely.is_valid_reason(geom)})"))
    usable = ok & ~invalid
    polygonal = usable & np.isin(shapely.get_type_id(geoms), (3, 6))
    if not CATALOGUE[layer].allow_overlap and polygonal.sum() > 1:
        out += _overlaps(layer, ids[polygonal], geoms[polygonal])
    if layer not in NO_SLIVER_CHECK and polygonal.any():
        out += _slivers(layer, ids[polygonal], geoms[polygonal])
    return out, usable


def _overlaps(layer: str, ids: np.ndarray, geoms: np.ndarray) -> list[Violation]:
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    if not len(left):
        return []
    shared = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    out = []
    for i, j, a in zip(left, right, shared, strict=True):
        if a > AREA_TOLERANCE:
            out.append(Violation("chevauchement", layer, ids[i],
                                 f"chevauche « {ids[j]} » sur {a:,.0f} m²".replace(",", " "),
                                 related=(str(ids[j]),)))
    return out


def _slivers(layer: str, ids: np.ndarray, geoms: np.ndarray) -> list[Violation]:
    parts, index = shapely.get_parts(geoms, return_index=True)
    areas = shapely.area(parts)
    widths = 2 * areas / np.maximum(shapely.length(parts), 1e-9)
    bad = (areas < SLIVER_AREA) | (widths < SLIVER_WIDTH)
    out = []
    for k in np.flatnonzero(bad):
        out.append(Violation(
            "eclat", layer, ids[index[k]],
            f"partie de {areas[k]:.1f} m² (largeur moyenne {widths[k]:.2f} m) : éclat à supprimer"))
    return out


def _outside(layer: str, ids: np.ndarray, geoms: np.ndarray, area, tolerant,
             *, rule: str) -> list[Violation]:
    """Features not covered by the (prepared, slightly buffered) territory."""
    away = np.flatnonzero(~shapely.covers(tolerant, geoms))  # prepared side first: ×200
    if not len(away):
        return []
    # Measure what lies outside against the territory clipped to each feature's box, so the
    # overlay touches a few vertices of the outline, not all of them.
    candidates = geoms[away]
    local = np.array([shapely.clip_by_rect(area, x0 - 1, y0 - 1, x1 + 1, y1 + 1)
                      for x0, y0, x1, y1 in shapely.bounds(candidates)], dtype=object)
    polygonal = np.isin(shapely.get_type_id(candidates), (3, 6))
    outside = shapely.area(shapely.difference(candidates, local))
    out = []
    for k, fid in enumerate(ids[away]):
        if polygonal[k]:
            if outside[k] <= AREA_TOLERANCE:
                continue
            detail = f"{outside[k]:,.0f} m² hors des communes du territoire".replace(",", " ")
        else:
            detail = "hors des communes du territoire"
        message = detail if rule != "L303-2" else \
            f"le secteur doit se situer dans les communes membres de l'EPCI ({detail})"
        out.append(Violation(rule, layer, fid, message))
    return out


def main_centre(ids: np.ndarray, codes: np.ndarray, geoms: np.ndarray, territory: Territory,
                hall, communes, *, any_sector: bool) -> list[Violation]:
    """L303-2's centre-ville: ``ids``, ``codes`` (``code_insee``) and ``geoms`` are the sectors
    typed ``centre_ville_principal``, ``any_sector`` whether the layer holds any sector at all."""
    main = territory.main_town
    names = dict(zip(communes["code_insee"].astype(str), communes["nom"], strict=True))
    town = f"{names.get(main, main)} ({main})"
    if not any_sector:
        return [Violation("L303-2", "secteurs_ort", None,
                          "aucun secteur d'intervention : l'ORT doit en définir au moins un, "
                          f"incluant le centre-ville de la ville principale, {town}")]
    rows = list(zip(ids.tolist(), codes.tolist(), geoms.tolist(), strict=True))
    in_main = [r for r in rows if str(r[1]) == main]
    out: list[Violation] = []
    for fid, code, _ in rows:
        if str(code) != main:
            out.append(Violation("L303-2", "secteurs_ort", str(fid),
                                 f"typé centre-ville de la ville principale mais situé dans la "
                                 f"commune {code} au lieu de {town}"))
    covering = [r for r in in_main
                if hall is None or (r[2] is not None and r[2].covers(hall))]
    if not covering:
        if len(in_main):
            for fid, _, _ in in_main:
                out.append(Violation("L303-2", "secteurs_ort", str(fid),
                                     f"le secteur centre-ville de {town} ne contient pas la mairie"))
        else:
            out.append(Violation(
                "L303-2", "secteurs_ort", None,
                f"aucun secteur ne couvre le centre-ville de la ville principale, {town} : "
                "il faut un secteur de type « centre_ville_principal » contenant sa mairie"))
    return out


def actions_rules(actions: gpd.GeoDataFrame, sectors: gpd.GeoDataFrame, communes: gpd.GeoDataFrame
             ) -> list[Violation]:
    sector_geoms = dict(zip(sectors["id"].astype(str), sectors.geometry, strict=True))
    commune_geoms = dict(zip(communes["code_insee"].astype(str), communes.geometry, strict=True))
    out: list[Violation] = []
    for row in actions.itertuples():
        fid = str(row.id)
        sector = None if pd.isna(row.secteur_id) else str(row.secteur_id)
        code = None if pd.isna(row.code_insee) else str(row.code_insee)
        geom = row.geometry
        if sector is not None and sector not in sector_geoms:
            out.append(Violation("rattachement", "actions", fid,
                                 f"le secteur « {sector} » n'existe pas"))
            sector = None
        if code is not None and code not in commune_geoms:
            code = None  # already reported by the commune rule
        if sector is None and code is None:
            out.append(Violation("rattachement", "actions", fid,
                                 "ni secteur ORT ni commune membre : rattachez l'action"))
            continue
        if geom is None or geom.is_empty:
            continue
        if sector is not None and not geom.intersects(sector_geoms[sector].buffer(50)):
            out.append(Violation("rattachement", "actions", fid,
                                 f"localisée hors de son secteur « {sector} »", "avertissement"))
        elif sector is None and not geom.intersects(commune_geoms[code].buffer(10)):
            out.append(Violation("rattachement", "actions", fid,
                                 f"localisée hors de sa commune {code}", "avertissement"))
    return out


def financing_rules(lines: pd.DataFrame, actions: gpd.GeoDataFrame) -> list[Violation]:
    """Every financing line belongs to an action of the programme."""
    known = set(actions["id"].astype(str))
    return [Violation("rattachement", "financements", str(fid),
                      f"l'action « {action} » n'existe pas")
            for fid, action in zip(lines["id"], lines["action_id"], strict=True)
            if str(action) not in known]
