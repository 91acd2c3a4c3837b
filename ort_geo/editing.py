"""Single-feature edits checked against the domain rules before they are committed.

The store already refuses what the catalogue forbids (types, geometry kinds, unknown fields) and
stale versions (``if_match``). The domain rules (:mod:`ort_geo.rules`, the same as
``ort-geo validate``) look at whole layers, so an edit is checked on the candidate layer — the
layer as it would be after the edit — before anything is written. Only errors the edit would
introduce refuse it: an unrelated, pre-existing problem does not block every other edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from . import rules
from .errors import InputError, ValidationError
from .features import Feature
from .store.base import Store, features_to_frame
from .validation import frame_to_features

Operation = Literal["create", "replace", "update", "delete"]


def introduced_errors(store: Store, layer: str, feature_id: str,
                      after: Feature | None) -> list[rules.Violation]:
    """Rule errors present once ``feature_id`` of ``layer`` becomes ``after`` (None: deleted)
    and absent now. Nothing is checked for a store that records no territory."""
    from .build import territory_of

    try:
        territory = territory_of(store)
    except InputError:
        return []
    spec = store.spec(layer)
    upserts = None if after is None else features_to_frame(spec, [after], crs=store.crs)
    candidate = rules.candidate_layer(store, layer, upserts=upserts, deletes=[feature_id])
    names = {layer} | ({"secteurs_ort", "actions"} if layer == "secteurs_ort" else set())
    now = rules.errors(rules.validate(store, territory, layers=names))
    then = rules.errors(rules.validate(store, territory, overrides={layer: candidate},
                                       layers=names))
    return _new(now, then)


def checked_edit(
    store: Store, layer: str, operation: Operation, feature: Feature | None, *,
    author: str, feature_id: str | None = None, properties: dict[str, Any] | None = None,
    geometry: Any = None, if_match: str | None = None, message: str = "",
) -> Feature | None:
    """Create, replace, update or delete one feature, refusing edits that break a domain rule.

    ``update`` merges ``properties`` (and ``geometry`` when given) into the stored feature.
    """
    fid = feature.id if feature is not None else str(feature_id)
    if operation == "create" and store.count(layer, where={store.spec(layer).key: fid}):
        raise InputError(f"L'objet « {fid} » existe déjà dans la couche {layer}.")
    if operation == "update":
        current = store.get(layer, fid)
        after: Feature | None = Feature(fid, {**current.properties, **(properties or {})},
                                        current.geometry if geometry is None else geometry)
    else:
        after = feature
    if after is not None:
        # The catalogue's checks first (the store's own), so the rules see clean values.
        spec = store.spec(layer)
        after = frame_to_features(spec, features_to_frame(spec, [after], crs=store.crs),
                                  epsg=store.epsg)[0]
    introduced = introduced_errors(store, layer, fid, after)
    if introduced:
        raise ValidationError("Modification refusée : elle enfreindrait les règles du territoire.\n"
                              + rules.format_report(introduced))
    if operation == "create":
        return store.create(layer, after, author=author, message=message)  # type: ignore[arg-type]
    if operation == "delete":
        store.delete(layer, fid, author=author, if_match=if_match, message=message)
        return None
    return store.replace(layer, after, author=author, if_match=if_match,  # type: ignore[arg-type]
                         message=message)


def _new(before: Sequence[rules.Violation], after: Sequence[rules.Violation]
         ) -> list[rules.Violation]:
    known = set(before)
    return [v for v in after if v not in known]
