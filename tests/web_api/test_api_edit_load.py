"""Edits under load (issue 16, point 3): concurrent editors on a live ``ort-geo serve`` with two
worker processes, on both backends — no lost update, never a 500. (Two concurrent edits cannot
jointly break a rule: tests/test_edit_rules.py, both backends.)"""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest
import shapely
from conftest import serve_process

from ort_geo import auth, editing
from ort_geo.features import Feature

SECTOR = "smam-centre-ville"
EDITORS = 8


def _free_boxes(store, n: int, size: float = 60.0, gap: float = 20.0):
    """``n`` boxes in a row, ``gap`` apart, inside a member commune, clear of stored sectors."""
    sectors = shapely.union_all(store.read("secteurs_ort").geometry.values)
    for geom in store.read("communes").geometry:
        p = geom.representative_point()
        boxes = [shapely.box(p.x + k * (size + gap), p.y, p.x + k * (size + gap) + size,
                             p.y + size) for k in range(n)]
        zone = shapely.union_all(boxes).buffer(30)
        if geom.contains(zone) and not zone.intersects(sectors):
            return boxes
    pytest.skip("pas de place libre dans les communes de la démo")


def _sector(fid: str, geom) -> Feature:
    return Feature(fid, {"nom": fid, "type": "quartier", "code_insee": None}, geom)


@pytest.fixture(scope="module")
def edited(demo_copy, tmp_path_factory, backend):
    """A copy of the demo store on each backend, with one small sector per editor."""
    st = demo_copy(backend, tmp_path_factory.mktemp("edit-load"))
    for k, box in enumerate(_free_boxes(st, EDITORS)):
        editing.checked_edit(st, "secteurs_ort", "create", _sector(f"charge-{k}", box),
                             author="test")
    key = auth.create_key(st, "Éditeurs en charge", "editor")
    yield st, st.url, key
    st.close()


def _bump(client: httpx.Client, url: str, key: str, statuses: list[int]) -> bool:
    """GET the sector, PATCH its version + 1 with If-Match; True when the PATCH won."""
    current = client.get(url, headers={"X-API-Key": key})
    statuses.append(current.status_code)
    version = current.json()["properties"]["version"] or 1
    resp = client.patch(url, json={"properties": {"version": version + 1}},
                        headers={"X-API-Key": key, "If-Match": current.headers["etag"],
                                 "Content-Type": "application/merge-patch+json"})
    statuses.append(resp.status_code)
    return resp.status_code == 200


def test_concurrent_editors_lose_no_update_and_never_fail(edited):
    st, url, key = edited
    rounds = 1
    base = "/collections/secteurs_ort/items/"
    versions = {fid: st.get("secteurs_ort", fid).properties["version"] or 1
                for fid in [SECTOR] + [f"charge-{k}" for k in range(EDITORS)]}
    journal = {fid: len(st.history("secteurs_ort", fid)) for fid in versions}
    statuses: list[int] = []
    with serve_process(url, "--workers", "2", timeout=120) as (server, _):

        def same_sector(_: int) -> int:
            won = 0
            with httpx.Client(base_url=server, timeout=120) as client:
                while won < rounds:
                    won += _bump(client, base + SECTOR, key, statuses)
            return won

        def own_sector(k: int) -> int:
            with httpx.Client(base_url=server, timeout=120) as client:
                return sum(_bump(client, f"{base}charge-{k}", key, statuses)
                           for _ in range(rounds))

        with concurrent.futures.ThreadPoolExecutor(EDITORS) as pool:
            shared = sum(pool.map(same_sector, range(EDITORS)))
        with concurrent.futures.ThreadPoolExecutor(EDITORS) as pool:
            own = list(pool.map(own_sector, range(EDITORS)))
    assert set(statuses) <= {200, 412}, sorted(set(statuses))
    # Every success is a version and a journal entry: no update overwrote another.
    assert shared == EDITORS * rounds
    after = st.get("secteurs_ort", SECTOR).properties["version"]
    assert after - versions[SECTOR] == shared
    assert len(st.history("secteurs_ort", SECTOR)) - journal[SECTOR] == shared
    # Editors of different sectors never conflict: each PATCH wins.
    assert own == [rounds] * EDITORS
    for k in range(EDITORS):
        fid = f"charge-{k}"
        assert st.get("secteurs_ort", fid).properties["version"] - versions[fid] == rounds
        assert len(st.history("secteurs_ort", fid)) - journal[fid] == rounds

