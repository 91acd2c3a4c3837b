"""Edits checked where they commit (issue 11, point 6): the rule check runs inside the write
transaction, a stale If-Match is a conflict before any rule, violations compare by identity."""

from __future__ import annotations

import threading

import pytest
import shapely

from ort_geo import editing
from ort_geo.errors import ConflictError, ValidationError
from ort_geo.features import Feature
from ort_geo.rules import Violation


def _free_box(store, size=200.0):
    """Two boxes side by side with a 20 m gap, in a commune, touching no stored sector."""
    communes = store.read("communes")
    sectors = shapely.union_all(store.read("secteurs_ort").geometry.values)
    for geom in communes.geometry:
        p = geom.representative_point()
        a = shapely.box(p.x - size - 10, p.y, p.x - 10, p.y + size)
        b = shapely.box(p.x + 10, p.y, p.x + 10 + size, p.y + size)
        zone = shapely.box(p.x - size - 50, p.y - 50, p.x + size + 50, p.y + size + 50)
        if geom.contains(zone) and not zone.intersects(sectors):
            return a, b, p
    pytest.skip("pas de place libre dans les communes de la démo")


def _sector(fid, geom):
    return Feature(fid, {"nom": fid, "type": "quartier", "code_insee": None}, geom)


def test_two_editors_cannot_jointly_create_an_overlap(demo_store_edit, monkeypatch):
    """Both first looks pass before either commits; the in-transaction check, serialised across
    connections (SQLite's lock; PostgreSQL's advisory lock), refuses the second."""
    store = demo_store_edit
    a, b, p = _free_box(store)
    for fid, geom in (("test-a", a), ("test-b", b)):
        editing.checked_edit(store, "secteurs_ort", "create", _sector(fid, geom), author="t")
    # Each grows into the gap: alone, neither overlaps the other's stored shape; together they do.
    grown = {"test-a": shapely.box(a.bounds[0], a.bounds[1], p.x + 5, a.bounds[3]),
             "test-b": shapely.box(p.x - 5, b.bounds[1], b.bounds[2], b.bounds[3])}
    barrier = threading.Barrier(2, timeout=60)
    original = editing.check_changes
    first_look: set[int] = set()

    def synchronised(*args, **kwargs):
        result = original(*args, **kwargs)
        me = threading.get_ident()
        if me not in first_look:  # both first looks pass before either commits
            first_look.add(me)
            barrier.wait()
        return result

    monkeypatch.setattr(editing, "check_changes", synchronised)
    outcome: dict[str, str] = {}

    def edit(fid: str) -> None:
        etag = store.get("secteurs_ort", fid).etag
        try:
            editing.checked_edit(store, "secteurs_ort", "replace", _sector(fid, grown[fid]),
                                 author=fid, if_match=etag)
            outcome[fid] = "ok"
        except ValidationError as exc:
            outcome[fid] = str(exc)

    threads = [threading.Thread(target=edit, args=(fid,)) for fid in grown]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(v == "ok" for v in outcome.values()) == [False, True], outcome
    refused = next(v for v in outcome.values() if v != "ok")
    assert "chevauche" in refused
    stored = store.read("secteurs_ort", ids=["test-a", "test-b"]).geometry.values
    assert shapely.area(shapely.intersection(stored[0], stored[1])) == 0


def test_stale_if_match_is_412_before_any_rule(demo_store_copy):
    store = demo_store_copy
    main = store.read("secteurs_ort")
    centre = main[main["type"] == "centre_ville_principal"]["id"].iloc[0]
    # Deleting the main centre breaks L303-2, but with a stale version the answer is a conflict.
    with pytest.raises(ConflictError, match="modifié entre-temps"):
        editing.checked_edit(store, "secteurs_ort", "delete", None, feature_id=centre,
                             author="t", if_match="version-perimee")
    with pytest.raises(ValidationError):
        editing.checked_edit(store, "secteurs_ort", "delete", None, feature_id=centre,
                             author="t", if_match=store.get("secteurs_ort", centre).etag)


def test_violations_compare_by_identity_not_message():
    old = Violation("chevauchement", "secteurs_ort", "a", "chevauche « b » sur 100 m²",
                    related=("b",))
    same = Violation("chevauchement", "secteurs_ort", "a", "chevauche « b » sur 140 m²",
                     related=("b",))
    other = Violation("chevauchement", "secteurs_ort", "a", "chevauche « c » sur 100 m²",
                      related=("c",))
    assert editing._new([old], [same]) == []
    assert editing._new([old], [same, other]) == [other]


def test_a_grown_preexisting_overlap_does_not_block_the_edit(demo_store_copy):
    store = demo_store_copy
    a, b, p = _free_box(store)
    overlapping = shapely.box(a.bounds[0], a.bounds[1], p.x + 15, a.bounds[3])  # 5 m into b
    editing.checked_edit(store, "secteurs_ort", "create", _sector("test-b", b), author="t")
    store.create("secteurs_ort", _sector("test-a", overlapping), author="qgis")  # unchecked
    wider = shapely.box(a.bounds[0] - 30, a.bounds[1], p.x + 17, a.bounds[3])
    editing.checked_edit(store, "secteurs_ort", "replace", _sector("test-a", wider),
                         author="t", if_match=store.get("secteurs_ort", "test-a").etag)
    assert store.get("secteurs_ort", "test-a").geometry.equals(wider)
