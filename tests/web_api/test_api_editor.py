"""The editor's routes: its page, the check of a candidate before saving, split and merge, the
buildings' tiles, and the journal message of the editing routes."""

from __future__ import annotations

import json

import numpy as np
import shapely
from shapely.geometry import mapping, shape

SECTOR = "smam-centre-ville"
L93 = {"Content-Crs": "http://www.opengis.net/def/crs/EPSG/0/2154"}


def _to_l93(geometry: dict) -> shapely.Geometry:
    from pyproj import Transformer

    t = Transformer.from_crs(4326, 2154, always_xy=True)
    return shapely.transform(shape(geometry),
                             lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1])))


def test_the_page_is_french_self_contained_and_holds_the_catalogue_form(demo):
    client, _, _ = demo
    resp = client.get("/editeur")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    html = resp.text
    assert '<html lang="fr">' in html and "Clé d'API" in html and "Enregistrer" in html
    assert 'src="http' not in html and "vendor:" not in html  # everything inlined, no CDN
    config = json.loads(html.split('<script id="ed-config" type="application/json">')[1]
                        .split("</script>")[0])
    sectors = next(x for x in config["layers"] if x["name"] == "secteurs_ort")
    kind = next(f for f in sectors["fields"] if f["name"] == "type")
    assert ["centre_ville_principal", "Centre-ville de la ville principale"] in kind["choices"]
    assert next(f for f in sectors["fields"] if f["name"] == "id")["required"] is True
    assert {x["name"] for x in config["layers"]} == {
        "secteurs_ort", "permis_de_louer", "ilot_demonstrateur", "zones_activite", "actions",
        "mobilites_actives"}


def test_session_says_who_and_what_role(demo):
    client, _, keys = demo
    assert client.get("/editeur/session").status_code == 401
    staff = client.get("/editeur/session", headers={"X-API-Key": keys["staff"]}).json()
    assert staff == {"nom": "Anah", "role": "staff", "libelle_role": "agent",
                     "peut_modifier": False}
    editor = client.get("/editeur/session", headers={"X-API-Key": keys["editor"]}).json()
    assert editor["peut_modifier"] is True


def test_a_candidate_is_checked_with_located_french_violations_and_nothing_is_written(
        demo, store_state):
    client, st, keys = demo
    head = {"X-API-Key": keys["editor"], **L93}
    centre = st.get("secteurs_ort", SECTOR).geometry
    before = store_state(st)
    # A new sector overlapping the centre-ville by a 100 m wide band.
    x0, y0, x1, y1 = centre.bounds
    cx = (x0 + x1) / 2
    box = shapely.box(cx - 50, y0 - 300, cx + 50, y1 + 300)
    body = {"type": "Feature", "properties": {"nom": "Essai", "type": "quartier",
                                              "code_insee": "68298"},
            "geometry": mapping(box)}
    resp = client.post("/collections/secteurs_ort/items/essai/verification", json=body,
                       headers=head)
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result["valide"] is False and "chevauchement" in result["rapport"]
    overlap = next(f for f in result["features"] if f["properties"]["regle"] == "chevauchement")
    assert overlap["properties"]["gravite"] == "erreur"
    assert "chevauche" in overlap["properties"]["message"]
    drawn = _to_l93(overlap["geometry"])  # the overlap itself, in CRS84
    assert abs(drawn.area - box.intersection(centre).area) < 0.01 * box.intersection(centre).area
    # Moved out of the EPCI: L303-2, drawn where it lies outside.
    far = shapely.affinity.translate(box, xoff=40000)
    resp = client.post("/collections/secteurs_ort/items/essai/verification",
                       json={**body, "geometry": mapping(far)}, headers=head)
    rules = {f["properties"]["regle"] for f in resp.json()["features"]}
    assert "L303-2" in rules
    # A harmless candidate (shrunk centre-ville keeping its town hall) is valid.
    shrunk = centre.buffer(-5)
    resp = client.post(f"/collections/secteurs_ort/items/{SECTOR}/verification",
                       json={"type": "Feature",
                             "properties": st.get("secteurs_ort", SECTOR).to_record()["properties"],
                             "geometry": mapping(shrunk)}, headers=head)
    assert resp.json() == {**resp.json(), "valide": True, "features": []}
    assert store_state(st) == before
    # Split and delete together: the collection form checks several changes at once.
    resp = client.post("/collections/secteurs_ort/verification", headers=head, json={
        "type": "FeatureCollection", "supprimer": [SECTOR], "features": []})
    assert resp.json()["valide"] is False and "L303-2" in resp.json()["rapport"]
    assert client.post("/collections/secteurs_ort/items/essai/verification",
                       json=body).status_code == 401
    assert store_state(st) == before


def test_split_and_merge_are_library_geometry_operations(demo):
    client, _, keys = demo
    head = {"X-API-Key": keys["editor"], **L93}
    square = shapely.box(1010000, 6802000, 1010200, 6802100)
    line = shapely.LineString([(1010050, 6801900), (1010050, 6802200)])
    resp = client.post("/editeur/decoupage", headers=head,
                       json={"geometry": mapping(square), "ligne": mapping(line)})
    assert resp.status_code == 200, resp.text
    parts = [_to_l93(f["geometry"]) for f in resp.json()["features"]]
    assert len(parts) == 2 and parts[0].area > parts[1].area
    assert abs(sum(p.area for p in parts) - square.area) < 1
    resp = client.post("/editeur/decoupage", headers=head, json={
        "geometry": mapping(square),
        "ligne": mapping(shapely.LineString([(1010050, 6801900), (1010060, 6802050)]))})
    assert resp.status_code == 400 and "de part en part" in resp.json()["description"]
    left, right = shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)
    resp = client.post("/editeur/fusion", headers=head, json={
        "geometries": [mapping(shapely.affinity.translate(g, 1010000, 6802000))
                       for g in (left, right)]})
    assert resp.status_code == 200 and resp.json()["type"] == "Polygon"
    assert abs(_to_l93(resp.json()).area - 200) < 1
    apart = client.post("/editeur/fusion", headers=head, json={"geometries": [
        mapping(shapely.affinity.translate(g, 1010000, 6802000))
        for g in (left, shapely.box(50, 0, 60, 10))]})
    assert apart.status_code == 400 and "ne se touchent pas" in apart.json()["description"]
    staff = client.post("/editeur/fusion", headers={"X-API-Key": keys["staff"]},
                        json={"geometries": []})
    assert staff.status_code == 403


def test_the_journal_keeps_the_planner_s_message(demo):
    client, st, keys = demo
    url = f"/collections/secteurs_ort/items/{SECTOR}"
    etag = client.get(url).headers["etag"]
    resp = client.patch(url, params={"message": "délibération du 12 mars 2026"},
                        json={"properties": {"deliberation": "DCM 2026-03-12"}},
                        headers={"X-API-Key": keys["editor"], "If-Match": etag})
    assert resp.status_code == 200, resp.text
    last = st.history("secteurs_ort", SECTOR)[-1]
    assert last.message == "délibération du 12 mars 2026" and last.author == "Chef de projet"
    long = client.patch(url, params={"message": "x" * 501}, json={"properties": {}},
                        headers={"X-API-Key": keys["editor"], "If-Match": resp.headers["etag"]})
    assert long.status_code == 400 and "500 caractères" in long.json()["description"]


def _change(op: str, fid: str, st, geometry=None, etag: str | None = None, **props) -> dict:
    item: dict = {"operation": op, "id": fid}
    if etag is not None:
        item["etag"] = etag
    if op != "delete":
        base = st.get("secteurs_ort", SECTOR).to_record()["properties"]
        item["objet"] = {"type": "Feature", "properties": {**base, **props},
                         "geometry": mapping(geometry)}
    return item


def test_a_merge_or_a_split_is_one_transaction(demo, store_state):
    from ort_geo.editing import split_geometry

    client, st, keys = demo
    head = {"X-API-Key": keys["editor"], **L93}
    url = "/collections/secteurs_ort/modifications"
    centre = st.get("secteurs_ort", SECTOR)
    other = next(i for i in st.read("secteurs_ort")["id"] if i != SECTOR)
    other_etag = st.get("secteurs_ort", other).etag
    before = store_state(st)
    # A merge whose replace breaks a rule (the centre-ville moved out of the EPCI): 422, and
    # the zone it would have absorbed is still there.
    far = shapely.affinity.translate(centre.geometry, xoff=40000)
    resp = client.post(url, headers=head, json={"changements": [
        _change("delete", other, st, etag=other_etag),
        _change("replace", SECTOR, st, far, etag=centre.etag)]})
    assert resp.status_code == 422, resp.text
    assert "L303-2" in resp.json()["description"]
    assert store_state(st) == before
    # A stale ETag on either change: 412, nothing written.
    resp = client.post(url, headers=head, json={"changements": [
        _change("delete", other, st, etag="0123456789abcdef0123"),
        _change("replace", SECTOR, st, centre.geometry.buffer(-5), etag=centre.etag)]})
    assert resp.status_code == 412 and "modifié entre-temps" in resp.json()["description"]
    assert store_state(st) == before
    # Replace and delete need their ETag; only editors apply.
    resp = client.post(url, headers=head, json={"changements": [
        _change("delete", other, st)]})
    assert resp.status_code == 428
    assert client.post(url, headers={"X-API-Key": keys["staff"]},
                       json={"changements": []}).status_code == 403
    assert store_state(st) == before
    # A split: both halves written together, one journal entry each with the message.
    big, small = split_geometry(centre.geometry, shapely.LineString(
        [(centre.geometry.bounds[2] - 30, centre.geometry.bounds[1] - 10),
         (centre.geometry.bounds[2] - 30, centre.geometry.bounds[3] + 10)]))
    resp = client.post(url, params={"message": "découpage du centre"}, headers=head, json={
        "changements": [_change("replace", SECTOR, st, big, etag=centre.etag),
                        _change("create", "essai-b", st, small, nom="Essai B", type="quartier")]})
    assert resp.status_code == 200, resp.text
    written = {o["id"]: o["etag"] for o in resp.json()["objets"]}
    assert written == {SECTOR: st.get("secteurs_ort", SECTOR).etag,
                       "essai-b": st.get("secteurs_ort", "essai-b").etag}
    for fid, op in ((SECTOR, "update"), ("essai-b", "insert")):
        last = st.history("secteurs_ort", fid)[-1]
        assert (last.operation, last.message, last.author) == (op, "découpage du centre",
                                                               "Chef de projet")
    assert abs(st.get("secteurs_ort", SECTOR).geometry.area - big.area) < 1
