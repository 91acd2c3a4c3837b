"""Single-feature edits checked against the domain rules before they are committed.

The store already refuses what the catalogue forbids (types, geometry kinds, unknown fields) and
stale versions (``if_match``). The domain rules (:mod:`ort_geo.rules`, the same as
``ort-geo validate``) look at whole layers, so an edit is checked on the candidate layer — the
layer as it would be after the edit — before anything is written. Only errors the edit would
introduce refuse it: an unrelated, pre-existing problem does not block every other edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.ops import split

from . import rules
from .errors import GeometryError, InputError, ValidationError
from .features import Feature, FeatureBatch
from .store.base import (
    Change,
    EditCheckHook,
    ETagMatch,
    Store,
    batch_feature,
    features_to_frame,
    stale_version,
)
from .validation import type_feature

Operation = Literal["create", "replace", "update", "delete"]


@dataclass(frozen=True)
class Finding:
    """A violation and where it lies (in the store's CRS; None when it has no place)."""

    violation: rules.Violation
    geometry: BaseGeometry | None = None


@dataclass
class EditCheck:
    """What the rules say of a candidate change, before it is committed.

    ``introduced`` are the errors the change would bring (they refuse it); ``warnings`` the
    warnings about the changed features once changed (they do not).
    """

    layer: str
    introduced: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    features: list[Feature] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.introduced

    @property
    def report(self) -> str:
        return rules.format_report([f.violation for f in self.introduced + self.warnings])


def check_changes(store: Store, layer: str, upserts: Sequence[Feature] = (),
                  deletes: Sequence[str] = ()) -> EditCheck:
    """Check the layer as it would be after upserting ``upserts`` and deleting ``deletes``.

    The same rules as ``ort-geo validate``; only errors absent from the stored layer count, so a
    pre-existing problem elsewhere does not block an edit. Each finding carries the geometry to
    draw (the overlap, the sliver, the part outside the territory…). ``EditCheck.features`` are
    the upserts as they would be stored (typed by the catalogue, vertices snapped, see
    :func:`snap_to_neighbours`). Nothing is checked for a store that records no territory.
    """
    spec = store.spec(layer)
    typed = [type_feature(spec, f, epsg=store.epsg) for f in upserts]
    return _check(store, layer, typed, [str(d) for d in deletes])


def _check(store: Store, layer: str, typed: list[Feature], deletes: list[str]) -> EditCheck:
    """:func:`check_changes` of features already typed by the catalogue.

    Incremental: a rule's verdict on a feature, or on a pair of features, depends on those
    features alone, so only what involves a changed feature can differ between the stored
    layer and the candidate. The check reads the changed features' stored versions, the
    features of the layer near the new shapes (the spatial index: the only ones a new shape
    can overlap or snap to) and, where a rule spans layers, the few features that refer to a
    changed one (L303-2's centre-ville sectors, actions of a deleted sector, financing lines of
    a deleted action). Both states are checked on that neighbourhood with the functions of
    :func:`ort_geo.rules.validate`, so the verdict is the whole layer's (the tests compare
    them); the territory's outline is cached (:func:`ort_geo.rules.boundaries`).
    """
    from .build import territory_of

    check = EditCheck(layer, features=typed)
    try:
        territory = territory_of(store)
    except InputError:
        return check
    spec = store.spec(layer)
    if not spec.editable:  # communes, buildings…: not edited through here, whole layers
        return _check_whole(store, layer, check, territory, deletes)
    bounds = rules.boundaries(store, territory)
    key = spec.key
    changed = list(dict.fromkeys([f.id for f in typed] + deletes))
    # Plain columns, no frame: the usual edit (one sector, one zone) builds no GeoDataFrame.
    near = _near(store, layer, typed)
    is_changed = np.isin(near.ids, changed)
    stored = near.take(is_changed)
    missing = [i for i in changed if i not in set(stored.ids.tolist())]
    if missing:
        stored = FeatureBatch.concat([stored, store.read_batch(layer, where={key: missing})[0]])
    if spec.spatial:
        typed = [snap_to_neighbours(near.geometry, f) for f in typed]
        check.features = typed
    members = set(territory.communes)
    has_code = "code_insee" in spec.by_name
    others = _arrays(near.take(~is_changed), has_code)
    # The two states, as arrays: the neighbourhood, then the changed features.
    then_part = (np.array([f.id for f in typed], dtype=object),
                 np.array([f.geometry for f in typed], dtype=object),
                 np.array([f.properties.get("code_insee") for f in typed], dtype=object))
    now_part = _arrays(stored, has_code)
    then: list[rules.Violation] = []
    now: list[rules.Violation] = []
    if spec.spatial:
        for found, part in ((then, then_part), (now, now_part)):
            ids, geoms, codes = (np.concatenate([a, b]) for a, b in zip(others, part,
                                                                         strict=True))
            found += rules.check_features(layer, ids, geoms, codes if has_code else None,
                                          bounds.area, members, tolerant=bounds.tolerant)
    if layer == "secteurs_ort":
        centre = "centre_ville_principal"
        then_types = [f.properties.get("type") for f in typed]
        if centre in then_types or (stored.columns["type"] == centre).any() or deletes:
            # Usually every centre-ville sector is in the neighbourhood already: counted, not read.
            typed_centre = near.take(near.columns["type"] == centre)
            if store.count(layer, where={"type": centre}) != len(typed_centre):
                typed_centre = store.read_batch(layer, where={"type": centre})[0]
            kept = ~np.isin(typed_centre.ids, changed)
            mine = np.array([t == centre for t in then_types], dtype=bool)
            ids, geoms, codes = _arrays(typed_centre, True)
            gone = int(np.isin(now_part[0], deletes).sum())
            then += rules.main_centre(
                np.concatenate([ids[kept], then_part[0][mine]]),
                np.concatenate([codes[kept], then_part[2][mine]]),
                np.concatenate([geoms[kept], then_part[1][mine]]), territory, bounds.hall,
                bounds.own, any_sector=bool(typed) or store.count(layer) - gone > 0)
            now += rules.main_centre(ids, codes, geoms, territory, bounds.hall, bounds.own,
                                     any_sector=len(stored) > 0 or store.count(layer) > 0)
        if deletes:  # actions of a deleted sector lose their attachment
            orphans = store.read("actions", where={"secteur_id": deletes})
            if len(orphans):
                sectors = _frame(store, spec, _features(spec, stored))
                then += rules.actions_rules(orphans, sectors.iloc[:0], bounds.own)
                now += rules.actions_rules(orphans, sectors, bounds.own)
    elif layer in ("actions", "financements"):
        # Both states as frames of plain values (the rules take frames).
        upserted = _frame(store, spec, typed)
        before = _frame(store, spec, _features(spec, stored))
        if layer == "actions":
            refs = {str(v) for frame in (upserted, before) for v in frame["secteur_id"].dropna()}
            sectors = store.read("secteurs_ort", ids=sorted(refs))
            then += rules.actions_rules(upserted, sectors, bounds.own)
            now += rules.actions_rules(before, sectors, bounds.own)
            if deletes:  # financing lines of a deleted action lose it
                lines = store.read("financements", where={"action_id": deletes})
                if len(lines):
                    then += rules.financing_rules(lines, upserted)
                    now += rules.financing_rules(lines, before)
        else:
            refs = {str(v) for frame in (upserted, before) for v in frame["action_id"].dropna()}
            known = store.read("actions", ids=sorted(refs), columns=[])
            then += rules.financing_rules(upserted, known)
            now += rules.financing_rules(before, known)
    then = rules.sort_violations(then)
    introduced = _new(rules.errors(now), rules.errors(then))
    ids_changed = set(changed)
    warnings = [v for v in then if v.severity != "erreur" and v.layer == layer
                and v.feature_id in ids_changed]
    if introduced or warnings:
        _locate(store, layer, check, bounds, introduced, warnings, typed, deletes)
    return check


def _arrays(batch: FeatureBatch, has_code: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ids (text), geometries and ``code_insee`` of a batch's features."""
    codes = batch.columns["code_insee"] if has_code else np.full(len(batch), None, dtype=object)
    return batch.ids, batch.geometry, codes


def _features(spec, batch: FeatureBatch) -> list[Feature]:
    return [batch_feature(spec, batch, i) for i in range(len(batch))]


def _frame(store: Store, spec, features: list[Feature]) -> gpd.GeoDataFrame:
    """Features as a frame with every field of the layer a column (a created feature may carry
    only some), as a stored frame has."""
    blank = dict.fromkeys(n for n in spec.field_names if n != spec.key)
    frame = features_to_frame(spec, [Feature(f.id, {**blank, **f.properties}, f.geometry)
                                     for f in features], crs=store.crs)
    return frame[[*spec.field_names, "geometry"]] if len(frame) else \
        store.read(spec.name, ids=[])


def _near(store: Store, layer: str, typed: list[Feature]) -> FeatureBatch:
    """Stored features of ``layer`` within snapping distance of the new shapes' boxes: every
    feature a new shape can snap to, touch or overlap (plus, often, its own stored version)."""
    spec = store.spec(layer)
    geoms = np.array([f.geometry for f in typed], dtype=object)
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) if len(geoms) else geoms
    if not spec.spatial or not usable.any():
        nothing = np.zeros(0, dtype=object)
        return FeatureBatch(nothing, {n: nothing for n in spec.field_names}, nothing)
    pad = SNAP_TOLERANCE * 4
    x0, y0, x1, y1 = shapely.total_bounds(geoms[usable])
    return store.read_batch(layer, bbox=(x0 - pad, y0 - pad, x1 + pad, y1 + pad))[0]


def _locate(store: Store, layer: str, check: EditCheck, bounds: rules.Boundaries,
            introduced: list[rules.Violation], warnings: list[rules.Violation],
            typed: list[Feature], deletes: list[str]) -> None:
    """Where to draw each finding, on the whole layers (only when there is something to draw)."""
    spec = store.spec(layer)
    located = {layer: rules.candidate_layer(store, layer, upserts=features_to_frame(
        spec, typed, crs=store.crs) if typed else None, deletes=deletes)}
    for name in {v.layer for v in introduced + warnings} - set(located):
        located[name] = store.read(name)
    check.introduced = [Finding(v, rules.locate(v, located, bounds.area, bounds.hall))
                        for v in introduced]
    check.warnings = [Finding(v, rules.locate(v, located, bounds.area, bounds.hall))
                      for v in warnings]


def _check_whole(store: Store, layer: str, check: EditCheck, territory, deletes: list[str]
                 ) -> EditCheck:
    """The check of a layer that is not edited through the API (communes, buildings): the whole
    layers, stored and candidate."""
    names = {layer}
    frames = {name: store.read(name) for name in sorted(names | {"communes"})}
    zones = np.asarray(frames[layer].geometry.to_numpy(), dtype=object)
    check.features = [snap_to_neighbours(zones, f) for f in check.features]
    candidate = rules.candidate_layer(store, layer, upserts=features_to_frame(
        store.spec(layer), check.features, crs=store.crs) if check.features else None,
                                      deletes=deletes, current=frames[layer])
    then = rules.validate(store, territory, overrides={**frames, layer: candidate}, layers=names)
    if rules.errors(then):
        now = rules.validate(store, territory, overrides=frames, layers=names)
        introduced = _new(rules.errors(now), rules.errors(then))
        bounds = rules.Boundaries.of(store, territory, candidate if layer == "communes"
                                     else frames["communes"])
        located = {**frames, layer: candidate}
        check.introduced = [Finding(v, rules.locate(v, located, bounds.area, bounds.hall))
                            for v in introduced]
    return check


#: Distance (m) within which an edited vertex is put back on a vertex of the zone's stored shape or
#: of a neighbouring zone: coordinates that travelled through the web (degrees with 7 decimals,
#: about 1 cm) must not open slivers or overlaps along a shared boundary.
SNAP_TOLERANCE = 0.05


def snap_to_neighbours(zones: np.ndarray, feature: Feature) -> Feature:
    """``feature`` with each vertex moved onto the nearest vertex of the stored ``zones``
    (geometries of its layer, its own stored version included) when one lies within
    :data:`SNAP_TOLERANCE`.
    Vertices are moved, never added, so a shape sent back unchanged stays the same version
    (polygons only; the feature itself when nothing moves)."""
    geom = feature.geometry
    if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon") \
            or not len(zones):
        return feature
    x0, y0, x1, y1 = geom.bounds
    pad = SNAP_TOLERANCE * 2
    near = zones[shapely.intersects(zones, shapely.box(
        x0 - pad, y0 - pad, x1 + pad, y1 + pad))]
    if not len(near):
        return feature
    targets = shapely.get_coordinates(near)
    tree = shapely.STRtree(shapely.points(targets))
    coords = shapely.get_coordinates(geom)
    mine, theirs = tree.query_nearest(shapely.points(coords), max_distance=SNAP_TOLERANCE,
                                      all_matches=False)
    moved = targets[theirs]
    if not len(mine) or np.array_equal(coords[mine], moved):
        return feature
    coords[mine] = moved
    snapped = shapely.set_coordinates(shapely.force_2d(geom), coords)
    if not snapped.is_valid:
        return feature
    return Feature(feature.id, feature.properties, snapped)


def introduced_errors(store: Store, layer: str, feature_id: str,
                      after: Feature | None) -> list[rules.Violation]:
    """Rule errors present once ``feature_id`` of ``layer`` becomes ``after`` (None: deleted)
    and absent now. Nothing is checked for a store that records no territory."""
    check = check_changes(store, layer, [after] if after is not None else [],
                          [] if after is not None else [feature_id])
    return [f.violation for f in check.introduced]


def split_geometry(geometry: BaseGeometry, line: BaseGeometry) -> list[BaseGeometry]:
    """Cut a (multi)polygon in two along a line drawn across it (EPSG:2154).

    The line must cross the zone once from side to side, so that it falls into exactly two
    pieces; parts of a multipolygon the line does not touch stay with the larger piece.
    """
    if geometry is None or geometry.is_empty or geometry.geom_type not in ("Polygon",
                                                                           "MultiPolygon"):
        raise GeometryError("Découpage : seule une surface (polygone) se découpe.")
    if line is None or line.geom_type not in ("LineString", "MultiLineString"):
        raise GeometryError("Découpage : tracez une ligne qui traverse la zone.")
    crossed: list = []
    untouched: list = []
    for part in shapely.get_parts(geometry):
        pieces = [g for g in split(part, line).geoms if g.area > 0]
        (crossed if len(pieces) > 1 else untouched).extend(pieces)
    if len(crossed) != 2:
        raise GeometryError("Découpage impossible : la ligne doit traverser la zone une fois, "
                            "de part en part, pour la couper en deux."
                            if len(crossed) < 2 else
                            f"Découpage ambigu : la ligne coupe la zone en {len(crossed)} "
                            "morceaux ; tracez une ligne qui la coupe en deux.")
    crossed.sort(key=lambda g: -g.area)
    return [shapely.union_all([crossed[0], *untouched]), crossed[1]]


def merge_geometries(geometries: Sequence[BaseGeometry]) -> BaseGeometry:
    """The union of zones to merge (EPSG:2154); they must touch or overlap.

    Shared edges drawn with snapping coincide; a gap of a few centimetres between two edges
    drawn by hand is closed too (buffered by :data:`MERGE_TOLERANCE` and back).
    """
    geoms = [g for g in geometries if g is not None and not g.is_empty]
    if len(geoms) < 2:
        raise GeometryError("Fusion : choisissez au moins deux zones.")
    if any(g.geom_type not in ("Polygon", "MultiPolygon") for g in geoms):
        raise GeometryError("Fusion : seules des surfaces (polygones) se fusionnent.")
    merged = shapely.union_all(geoms)
    closed = merged.buffer(MERGE_TOLERANCE, join_style="mitre").buffer(-MERGE_TOLERANCE,
                                                                         join_style="mitre")
    if closed.geom_type == "MultiPolygon":
        raise GeometryError("Fusion impossible : les zones ne se touchent pas (fusionnez des "
                            "zones voisines).")
    return closed


#: Gap (m) between two zones that a merge closes.
MERGE_TOLERANCE = 0.05


def checked_edit(
    store: Store, layer: str, operation: Operation, feature: Feature | None, *,
    author: str, feature_id: str | None = None, properties: dict[str, Any] | None = None,
    geometry: Any = None, if_match: ETagMatch = None, message: str = "",
) -> Feature | None:
    """Create, replace, update or delete one feature, refusing edits that break a domain rule.

    ``update`` merges ``properties`` (and ``geometry`` when given) into the stored feature.
    """
    fid = feature.id if feature is not None else str(feature_id)
    if operation == "create" and store.count(layer, where={store.spec(layer).key: fid}):
        raise InputError(f"L'objet « {fid} » existe déjà dans la couche {layer}.")
    current = store.get(layer, fid) if operation != "create" else None
    # A stale version is a conflict (412) before any rule is looked at.
    if current is not None and (stale := stale_version(layer, fid, current.etag, if_match)):
        raise stale
    if operation == "update":
        assert current is not None
        after: Feature | None = Feature(fid, {**current.properties, **(properties or {})},
                                        current.geometry if geometry is None else geometry)
    else:
        after = feature
    upserts, deletes = ([after], []) if after is not None else ([], [fid])
    seen = _state(store)  # before the first look reads anything
    # The catalogue's checks first (the store's own), so the rules see clean values; this first
    # look also snaps the shape to its neighbours and refuses early.
    check = check_changes(store, layer, upserts, deletes)
    if after is not None:
        after = check.features[0]
        upserts = [after]
    _refuse(check)
    kind = {"update": "replace"}.get(operation, operation)
    return store.apply(layer, [(kind, fid, after, if_match)], author=author, message=message,
                       check=_in_transaction(store, layer, upserts, deletes, seen),
                       typed=True)[0]


def checked_changes(store: Store, layer: str, changes: Sequence[Change], *, author: str,
                    message: str = "") -> list[Feature | None]:
    """Several creates, replaces and deletes of ``layer`` (a split, a merge) checked together
    and written in ONE transaction: a stale ETag on any (412) or a rule the whole would break
    (422) refuses all of them, and the store is left unchanged. One journal entry per change."""
    if not changes:
        raise InputError("Aucune modification à enregistrer.")
    for operation, fid, _, if_match in changes:
        if operation == "create" or if_match is None:
            continue
        # a conflict (412) before any rule is looked at
        if stale := stale_version(layer, fid, store.get(layer, fid).etag, if_match):
            raise stale
    upserts = [f for _, _, f, _ in changes if f is not None]
    deletes = [fid for op, fid, f, _ in changes if f is None]
    seen = _state(store)
    check = check_changes(store, layer, upserts, deletes)
    _refuse(check)
    snapped = iter(check.features)
    final: list[Change] = [(op, fid, next(snapped) if f is not None else None, tag)
                           for op, fid, f, tag in changes]
    upserts = [f for _, _, f, _ in final if f is not None]
    return store.apply(layer, final, author=author, message=message,
                       check=_in_transaction(store, layer, upserts, deletes, seen), typed=True)


def _state(store: Store) -> tuple:
    """What a check's verdict depends on: the store's revision (any write, by the tool or
    another client, moves it) and the recorded territory (metadata, not journaled)."""
    return store.revision(), tuple(sorted(store.get_meta("territory").items()))


def _in_transaction(store: Store, layer: str, upserts: list[Feature], deletes: list[str],
                    seen: tuple) -> EditCheckHook:
    """The authoritative check: inside the write transaction, serialised across clients, on the
    layers as committed by any concurrent edit. When nothing was committed since the first look
    (``seen``, taken before it read anything), that look judged this very state: it stands."""

    def check() -> None:
        if _state(store) != seen:
            _refuse(_check(store, layer, upserts, deletes))

    return check


def _refuse(check: EditCheck) -> None:
    introduced = [f.violation for f in check.introduced]
    if introduced:
        raise ValidationError("Modification refusée : elle enfreindrait les règles du territoire.\n"
                              + rules.format_report(introduced))


def _new(before: Sequence[rules.Violation], after: Sequence[rules.Violation]
         ) -> list[rules.Violation]:
    """Violations of ``after`` absent from ``before``, compared by identity (rule, layer,
    features), not by message: an overlap whose area changes is still the same overlap."""
    known = {v.identity for v in before}
    return [v for v in after if v.identity not in known]
