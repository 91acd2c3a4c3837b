"""The edit check is incremental (issue 16, point 3): it reads the changed features, their
neighbourhood and the few features of other layers that refer to them. Its verdict must be the
whole layers' — :func:`ort_geo.rules.validate` on the stored and on the candidate layers, errors
the candidate adds — for every kind of edit, including those a neighbourhood could miss: an
overlap with a far-away zone, L303-2 broken by shrinking or retyping the centre-ville, actions
orphaned by a deleted sector, financing lines orphaned by a deleted action."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from ort_geo import editing, rules
from ort_geo.build import territory_of
from ort_geo.features import Feature
from ort_geo.store.base import features_to_frame

CENTRE = "smam-centre-ville"


def whole_layers(store, layer, upserts, deletes):
    """Introduced errors and warnings by brute force: every rule on the whole layers."""
    territory = territory_of(store)
    names = {layer} | ({"secteurs_ort", "actions"} if layer == "secteurs_ort" else set())
    spec = store.spec(layer)
    candidate = rules.candidate_layer(
        store, layer, deletes=deletes,
        upserts=features_to_frame(spec, upserts, crs=store.crs) if upserts else None)
    then = rules.validate(store, territory, overrides={layer: candidate}, layers=names)
    now = rules.validate(store, territory, layers=names)
    changed = {f.id for f in upserts} | set(deletes)
    return (editing._new(rules.errors(now), rules.errors(then)),
            [v for v in then if v.severity != "erreur" and v.layer == layer
             and v.feature_id in changed])


def assert_same_verdict(store, layer, upserts=(), deletes=()):
    """The incremental check and the brute force agree; returns the introduced errors."""
    check = editing.check_changes(store, layer, list(upserts), list(deletes))
    introduced, warnings = whole_layers(store, layer, check.features, list(deletes))
    assert [(v.identity, v.message) for v in (f.violation for f in check.introduced)] == \
        [(v.identity, v.message) for v in introduced]
    assert [(v.identity, v.message) for v in (f.violation for f in check.warnings)] == \
        [(v.identity, v.message) for v in warnings]
    return introduced


def _with(feature: Feature, geometry=None, **properties) -> Feature:
    return Feature(feature.id, {**feature.properties, **properties},
                   feature.geometry if geometry is None else geometry)


@pytest.fixture
def st(demo_store_copy):
    return demo_store_copy


def test_an_arm_reaching_a_far_away_zone_is_an_overlap(st):
    """The new shape's own box finds the far zone, whatever the stored shape's box."""
    mine, far = st.get("secteurs_ort", CENTRE), st.get("secteurs_ort", "scam-centre-ville")
    arm = shapely.box(far.geometry.centroid.x - 20, far.geometry.centroid.y - 20,
                      far.geometry.centroid.x + 20, far.geometry.centroid.y + 20)
    reaching = shapely.MultiPolygon([mine.geometry.geoms[0], arm]) \
        if mine.geometry.geom_type == "MultiPolygon" else shapely.MultiPolygon(
            [mine.geometry, arm])
    found = assert_same_verdict(st, "secteurs_ort", [_with(mine, reaching)])
    assert [{v.feature_id, *v.related} for v in found if v.rule == "chevauchement"] == [
        {CENTRE, "scam-centre-ville"}]
    # Same in a zone layer whose zones lie far apart.
    zones = st.read("zones_activite")
    a, b = (st.get("zones_activite", str(i)) for i in zones["id"].iloc[:2])
    assert_same_verdict(st, "zones_activite", [_with(a, shapely.union_all(
        [a.geometry, b.geometry.centroid.buffer(15)]))])


def test_shrinking_or_retyping_the_centre_breaks_l303_2(st):
    centre = st.get("secteurs_ort", CENTRE)
    hall = rules.boundaries(st, territory_of(st)).hall
    away = shapely.difference(centre.geometry, hall.buffer(200))  # the town hall left out
    found = assert_same_verdict(st, "secteurs_ort", [_with(centre, away)])
    assert any(v.rule == "L303-2" and "mairie" in v.message for v in found)
    found = assert_same_verdict(st, "secteurs_ort", [_with(centre, type="quartier")])
    assert any(v.rule == "L303-2" and v.feature_id is None for v in found)
    found = assert_same_verdict(st, "secteurs_ort", deletes=[CENTRE])
    assert any(v.rule == "L303-2" for v in found)
    # Another sector typed centre-ville of the main town, in another commune.
    other = st.get("secteurs_ort", "scam-centre-ville")
    found = assert_same_verdict(st, "secteurs_ort", [_with(other, type="centre_ville_principal")])
    assert any(v.feature_id == "scam-centre-ville" for v in found)
    # Every sector gone: the layer-wide violation.
    ids = st.read("secteurs_ort")["id"].tolist()
    found = assert_same_verdict(st, "secteurs_ort", deletes=ids)
    assert any("aucun secteur d'intervention" in v.message for v in found)


def test_deletes_orphan_what_refers_to_them(st):
    found = assert_same_verdict(st, "secteurs_ort", deletes=["smam-saint-blaise"])
    assert {v.feature_id for v in found if v.layer == "actions"} >= {"action-1.5", "action-1.8"}
    found = assert_same_verdict(st, "actions", deletes=["action-1.1"])
    assert found and all(v.layer == "financements" for v in found)
    line = st.get("financements", str(st.read("financements")["id"].iloc[0]))
    found = assert_same_verdict(st, "financements", [_with(line, action_id="action-inconnue")])
    assert [v.rule for v in found] == ["rattachement"]


def test_actions_sectors_and_territory(st):
    action = st.get("actions", "action-1.1")
    moved = shapely.Point(action.geometry.centroid.x + 3000, action.geometry.centroid.y + 3000)
    assert_same_verdict(st, "actions", [_with(action, moved)])  # a warning, maybe outside
    assert_same_verdict(st, "actions", [_with(action, secteur_id="nulle-part")])
    assert_same_verdict(st, "actions", [_with(action, code_insee="75056", secteur_id=None)])
    sector = st.get("secteurs_ort", "smam-saint-blaise")
    x0, y0, x1, y1 = st.extent("communes")
    outside = shapely.box(x1 + 100, y0, x1 + 600, y0 + 500)
    found = assert_same_verdict(st, "secteurs_ort", [_with(sector, outside)])
    assert any("hors des communes" in v.message for v in found)
    sliver = shapely.union_all([sector.geometry, shapely.box(
        sector.geometry.bounds[2] + 50, y0 + 10, sector.geometry.bounds[2] + 50.5, y0 + 40)])
    found = assert_same_verdict(st, "secteurs_ort", [_with(sector, sliver)])
    assert any(v.rule == "eclat" for v in found)
    zone = st.get("permis_de_louer", str(st.read("permis_de_louer")["id"].iloc[0]))
    assert_same_verdict(st, "permis_de_louer", [_with(zone, outside)])


def test_a_preexisting_overlap_edited_from_either_side_is_not_new(st):
    """Whichever zone of an existing overlap is edited (it then comes last in the candidate
    layer), the overlap stays the same pair: not introduced."""
    a, b = (st.get("secteurs_ort", i) for i in ("smam-centre-ville", "smam-saint-blaise"))
    grown = _with(a, a.geometry.union(shapely.box(*b.geometry.centroid.buffer(30).bounds)))
    st.replace("secteurs_ort", grown, author="qgis")  # unchecked: an overlap is stored
    for fid in ("smam-centre-ville", "smam-saint-blaise"):
        f = st.get("secteurs_ort", fid)
        assert assert_same_verdict(st, "secteurs_ort", [_with(f, nom="renommé")]) == []


def test_random_edits_agree_with_the_whole_layers(st):
    """Boxes of all sizes dropped anywhere over the sectors, as creates and replaces."""
    rng = np.random.default_rng(16)
    x0, y0, x1, y1 = st.extent("secteurs_ort")
    ids = st.read("secteurs_ort")["id"].tolist()
    seen = set()
    for k in range(20):
        cx, cy = rng.uniform(x0 - 300, x1 + 300), rng.uniform(y0 - 300, y1 + 300)
        w, h = rng.uniform(5, 800, 2)
        box = shapely.box(cx, cy, cx + w, cy + h)
        if k % 2:
            target = st.get("secteurs_ort", ids[(k // 2) % len(ids)])
            edit = _with(target, box if k % 3 else shapely.union_all([target.geometry, box]))
        else:
            edit = Feature(f"nouveau-{k}", {"nom": "essai", "type": "quartier",
                                             "code_insee": "68298"}, box)
        seen |= {v.rule for v in assert_same_verdict(st, "secteurs_ort", [edit])}
    assert {"chevauchement", "L303-2"} <= seen
