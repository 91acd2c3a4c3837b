"""Follow-up tables through the API: financing lines edited by editors, journaled, read by all."""

from __future__ import annotations


def test_financing_line_created_patched_and_journaled(client, keys, api_store):
    editor = {"X-API-Key": keys["editor"]}
    line = {"type": "Feature", "id": "a1|region|2025", "geometry": None,
            "properties": {"action_id": "a1", "financeur": "Région", "annee": 2025,
                           "montant_prevu": 50000}}
    created = client.post("/collections/financements/items", json=line, headers=editor)
    assert created.status_code == 201, created.text
    assert created.json()["geometry"] is None
    patched = client.patch("/collections/financements/items/a1|region|2025",
                           json={"properties": {"montant_engage": 30000}},
                           headers={**editor, "If-Match": created.headers["etag"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["properties"]["montant_engage"] == 30000
    items = client.get("/collections/financements/items").json()
    assert [f["id"] for f in items["features"]] == ["a1|region|2025"]
    history = api_store.history("financements", "a1|region|2025")
    assert [e.operation for e in history] == ["insert", "update"]
    assert {e.author for e in history} == {"Chef de projet PVD"}
    # A located financing line, or one without a key: 4xx in French, nothing written.
    located = {**line, "id": "x", "geometry": {"type": "Point", "coordinates": [7.2, 48.2]}}
    refused = client.post("/collections/financements/items", json=located, headers=editor)
    assert refused.status_code in (400, 422) and "géométrie" in refused.text
    assert client.post("/collections/financements/items", json=line).status_code == 401
    assert api_store.count("financements") == 1
