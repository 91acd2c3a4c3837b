"""Editing by editors: Part 4 create/replace/update/delete, ETag/If-Match, journal, no lost edit."""

from __future__ import annotations

import threading

import httpx
import pytest
from conftest_api import X0, Y0

L93 = "http://www.opengis.net/def/crs/EPSG/0/2154"


def _square(x: float, y: float, size: float = 200.0) -> dict:
    return {"type": "Polygon", "coordinates": [[[x, y], [x + size, y], [x + size, y + size],
                                                [x, y + size], [x, y]]]}


@pytest.fixture
def editor(keys):
    return {"X-API-Key": keys["editor"]}


def test_create_read_update_replace_delete_with_journal(client, editor, api_store):
    feature = {"type": "Feature", "id": "gare", "properties": {"nom": "Quartier de la gare",
                                                              "type": "quartier"},
               "geometry": _square(X0 + 2000, Y0)}
    created = client.post("/collections/secteurs_ort/items", json=feature,
                          headers={**editor, "Content-Crs": f"<{L93}>"})
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith("/collections/secteurs_ort/items/gare")
    etag = created.headers["etag"]
    assert client.get("/collections/secteurs_ort/items/gare").json()["properties"]["nom"] == (
        "Quartier de la gare")

    patched = client.patch("/collections/secteurs_ort/items/gare",
                           json={"properties": {"version": 2}}, headers={**editor, "If-Match": etag})
    assert patched.status_code == 200, patched.text
    assert patched.json()["properties"] == {**patched.json()["properties"], "version": 2,
                                            "nom": "Quartier de la gare"}
    etag2 = patched.headers["etag"]
    assert etag2 != etag

    feature["properties"] = {"nom": "Gare", "type": "quartier", "version": 3}
    replaced = client.put("/collections/secteurs_ort/items/gare", json=feature,
                          headers={**editor, "If-Match": etag2, "Content-Crs": f"<{L93}>"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["properties"]["nom"] == "Gare"

    deleted = client.delete("/collections/secteurs_ort/items/gare",
                            headers={**editor, "If-Match": replaced.headers["etag"]})
    assert deleted.status_code == 204
    assert client.get("/collections/secteurs_ort/items/gare").status_code == 404

    history = api_store.history("secteurs_ort", "gare")
    assert [e.operation for e in history] == ["insert", "update", "update", "delete"]
    assert {e.author for e in history} == {"Chef de projet PVD"}


def test_edits_need_if_match_and_a_current_etag(client, editor):
    url = "/collections/actions/items/a1"
    current = client.get(url, headers=editor)
    body = {"properties": {"statut": "realise"}}
    missing = client.patch(url, json=body, headers=editor)
    assert missing.status_code == 428 and "If-Match" in missing.json()["description"]
    stale = client.patch(url, json=body, headers={**editor, "If-Match": '"0123456789abcdef0123"'})
    assert stale.status_code == 412 and "modifié entre-temps" in stale.json()["description"]
    assert client.get(url, headers=editor).headers["etag"] == current.headers["etag"]


def test_if_match_takes_a_list_of_strong_etags_never_a_weak_one_nor_a_star(client, editor):
    """RFC 9110 §13.1.1: a list is met when any listed ETag is the current one; a weak ETag
    never matches (strong comparison); « * » is refused on purpose (412, saying why): it would
    let an edit overwrite a version its author never read."""
    url = "/collections/actions/items/a1"
    current = client.get(url, headers=editor).headers["etag"]
    body = {"properties": {"statut": "en_cours"}}
    for header, words in ((f'W/{current}', "un ETag faible (W/…) ne désigne pas une version "
                                           "exacte de l'objet « a1 »"),
                          (f'W/{current}, "0123"', 'attendue 0123)'),
                          ('"0123", "4567"', "attendue 0123 ou 4567)"),
                          ("*", "If-Match : « * » n'est pas accepté : il vaudrait pour n'importe "
                                "quelle version de l'objet « a1 »")):
        for method in ("PATCH", "DELETE"):
            refused = client.request(method, url, json=body if method == "PATCH" else None,
                                     headers={**editor, "If-Match": header})
            assert refused.status_code == 412, (header, refused.text)
            assert words in refused.json()["description"], (header, refused.text)
            assert refused.json()["actuel"]["id"] == "a1" and refused.headers["etag"] == current
    assert client.get(url, headers=editor).headers["etag"] == current  # unchanged
    patched = client.patch(url, json=body, headers={**editor,
                                                    "If-Match": f'"0123", W/"x",{current}'})
    assert patched.status_code == 200, patched.text
    assert patched.json()["properties"]["statut"] == "en_cours"
    again = client.put(url, json=patched.json(),
                       headers={**editor, "If-Match": f'{patched.headers["etag"]}, {current}'})
    assert again.status_code == 200, again.text


@pytest.mark.parametrize("body, status, words", [
    ({"type": "Feature", "id": "z", "properties": {"couleur": "bleu"},
      "geometry": _square(7.18, 48.24, 0.001)}, 400, "couleur"),
    ({"type": "Feature", "id": "z", "properties": {"type": "metropole"},
      "geometry": _square(7.18, 48.24, 0.001)}, 400, "type"),
    ({"type": "Feature", "id": "z", "properties": {},
      "geometry": {"type": "Polygon", "coordinates": [[[7.18, 48.24], [7.19, 48.25],
                                                       [7.19, 48.24], [7.18, 48.25],
                                                       [7.18, 48.24]]]}}, 400, "invalide"),
    ({"type": "Feature", "id": "z", "properties": {}, "geometry": _square(48.24, 7.18, 0.001)},
     400, "inversées"),
    ({"type": "Feature", "id": "z", "properties": {}, "geometry": None}, 400, "absente"),
    ({"type": "Feature", "id": "z", "properties": {},
      "geometry": {"type": "LineString", "coordinates": [[7.18, 48.24], [7.19, 48.25]]}},
     400, "LineString"),
    ({"type": "FeatureCollection", "features": []}, 400, "Feature"),
])
def test_bad_input_is_refused_and_changes_nothing(client, editor, api_store, body, status, words):
    journal = len(api_store.journal())
    resp = client.post("/collections/secteurs_ort/items", json=body, headers=editor)
    assert resp.status_code == status, resp.text
    assert words in resp.json()["description"]
    assert len(api_store.journal()) == journal
    assert client.get("/collections/secteurs_ort/items/z").status_code == 404


@pytest.mark.parametrize("body, content_type, words", [
    (b"pas du JSON", "application/json", "Requête invalide — corps : JSON illisible"),
    (b"\xff\xfe\x00", "application/geo+json", "Corps de requête illisible"),
    (b'{"type": "Feature",', "text/plain", "Requête invalide — corps : doit être un objet JSON"),
])
def test_a_body_that_is_not_json_is_refused_in_french(client, editor, api_store, body,
                                                     content_type, words):
    """FastAPI's own parser refuses it first, in English ("There was an error parsing the
    body"): the answer must still be French, on every editing route."""
    journal = len(api_store.journal())
    url = "/collections/actions/items"
    current = client.get(f"{url}/a1", headers=editor).headers["etag"]
    for method, path, extra in (("POST", url, {}), ("POST", "/collections/actions/verification", {}),
                                ("PUT", f"{url}/a1", {"If-Match": current}),
                                ("PATCH", f"{url}/a1", {"If-Match": current})):
        resp = client.request(method, path, content=body,
                              headers={**editor, **extra, "Content-Type": content_type})
        assert resp.status_code == 400, (method, path, resp.text)
        assert resp.json()["description"].startswith(words), (method, path, resp.text)
    assert len(api_store.journal()) == journal


@pytest.mark.parametrize("change, words", [
    ({"titre": "\ud800"}, "n'est pas un texte valide"),  # a lone surrogate: no UTF-8 for it
    ({"titre": "a\u0000b"}, "n'est pas un texte valide"),
    ({"titre": {"a": 1}}, "n'est pas un texte"),
    ({"id": "\udc00"}, "Identifiant invalide"),
    ({"id": "a/b"}, "Identifiant invalide"),  # no URL /items/{id} would reach it
    ({"\ud800": "x"}, "Champs inconnus"),
])
def test_text_no_store_can_keep_is_refused(client, editor, api_store, change, words):
    """JSON may carry what UTF-8 cannot (``\\ud800``): refused in French (400), not a 500
    when SQLite or PostgreSQL fails to encode it; the store unchanged."""
    import json

    journal = len(api_store.journal())
    props = {"id": "nouvelle", "numero": "9.9", "titre": "Nouvelle action", "orientation": 1,
             **change}
    body = {"type": "Feature", "properties": props,
            "geometry": {"type": "Point", "coordinates": [7.18, 48.24]}}
    resp = client.post("/collections/actions/items", content=json.dumps(body),
                       headers={**editor, "Content-Type": "application/geo+json"})
    assert resp.status_code == 400, resp.text
    assert words in resp.json()["description"]
    assert len(api_store.journal()) == journal


def test_a_journal_message_with_a_nul_is_refused(client, editor, api_store):
    """PostgreSQL cannot store a NUL: it was a 500 there (and a message GDAL cuts short)."""
    journal = len(api_store.journal())
    url = "/collections/actions/items/a1"
    etag = client.get(url, headers=editor).headers["etag"]
    resp = client.patch(f"{url}?message=a%00b", json={"properties": {"statut": "en_cours"}},
                        headers={**editor, "If-Match": etag})
    assert resp.status_code == 400 and "message" in resp.json()["description"], resp.text
    assert len(api_store.journal()) == journal


def test_creating_an_existing_id_is_refused(client, editor):
    body = {"type": "Feature", "id": "centre", "properties": {},
            "geometry": _square(X0, Y0)}
    resp = client.post("/collections/secteurs_ort/items", json=body,
                       headers={**editor, "Content-Crs": L93})
    assert resp.status_code == 400 and "existe déjà" in resp.json()["description"]


def test_buildings_are_not_editable_through_the_api(client, editor):
    resp = client.post("/collections/batiments/items", headers=editor,
                       json={"type": "Feature", "id": "x", "properties": {},
                             "geometry": _square(X0, Y0)})
    assert resp.status_code == 405


def test_two_editors_same_etag_one_wins_the_other_gets_412(live_server, keys, api_store):
    url = f"{live_server}/collections/actions/items/a1"
    etag = httpx.get(url, headers={"X-API-Key": keys["editor"]}).headers["etag"]
    barrier, results = threading.Barrier(2), {}

    def edit(who: str, title: str) -> None:
        with httpx.Client() as http:
            barrier.wait()
            results[who] = http.patch(url, json={"properties": {"titre": title}},
                                      headers={"X-API-Key": keys[who], "If-Match": etag})

    threads = [threading.Thread(target=edit, args=(who, f"Titre de {who}"))
               for who in ("editor", "editor2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(r.status_code for r in results.values())
    assert statuses == [200, 412], {k: r.text for k, r in results.items()}
    winner = next(who for who, r in results.items() if r.status_code == 200)
    loser = next(who for who, r in results.items() if r.status_code == 412)
    stored = api_store.get("actions", "a1")
    assert stored.properties["titre"] == f"Titre de {winner}"
    last = api_store.history("actions", "a1")[-1]
    assert last.author == {"editor": "Chef de projet PVD", "editor2": "Urbaniste"}[winner]
    # The loser reloads and re-applies: both edits end up in the journal, nothing is lost.
    fresh = httpx.get(url, headers={"X-API-Key": keys[loser]}).headers["etag"]
    retry = httpx.patch(url, json={"properties": {"titre": f"Titre de {loser}"}},
                        headers={"X-API-Key": keys[loser], "If-Match": fresh})
    assert retry.status_code == 200
    titles = [e.after.properties["titre"] for e in api_store.history("actions", "a1")[-2:]]
    assert titles == [f"Titre de {winner}", f"Titre de {loser}"]
