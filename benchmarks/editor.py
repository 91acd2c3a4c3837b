"""``python -m benchmarks.editor``: the planners' editor on a large store, through the user's path.

Builds a synthetic town of 50,000 buildings and 200 ORT sectors (with a territory, so every save
is checked against the rules), serves it with ``ort-geo serve`` and measures, in the same run:

* **ready to draw**: headless chromium opens ``/editeur`` (key already in the session) until the
  editor says it is ready (layers loaded, drawing tools on); the baseline is the staff web map of
  the same store (``ort-geo map --staff``, buildings as embedded vector tiles) opened offline
  until ready. Median of repeats, fresh browser context each time, after one warm-up.
* **save round-trip**: what the editor does on "Enregistrer" for one feature — a PUT with
  ``If-Match`` that checks the rules of ``ort-geo validate`` and commits (journal included) —
  against a bare PATCH of one property and a GET of the item; the « Vérifier » request
  (``…/verification``) is timed too. Median over many saves of a moved vertex.

    python -m benchmarks.editor --buildings 50000 --sectors 200
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import httpx
import shapely

from ort_geo import auth, open_store
from ort_geo.territory import Territory
from ort_geo.webmap import write_map
from ort_geo.webmap.browser import READY, browser, open_page, open_site

from .synthetic_town import CENTRE, SOURCE, synthetic_town

EDITOR_READY = "window.ortGeoEditorReady === true"


def build(path: Path, n_buildings: int, n_sectors: int) -> tuple[str, str]:
    """The store; returns an editor key and the id of the sector the saves edit."""
    st = open_store(path, create=True)
    synthetic_town(st, n_buildings)
    x, y = CENTRE
    rows, geoms = [], []
    for k in range(n_sectors - 2):  # two sectors come with the town
        col, row = k % 40, k // 40
        x0, y0 = x - 4000 + col * 200, y + 1000 + row * 200
        rows.append({"id": f"s{k:03d}", "nom": f"Secteur {k}", "type": "quartier",
                     "code_insee": "68298", "version": 1, "source": SOURCE})
        geoms.append(shapely.box(x0, y0, x0 + 150, y0 + 150))
    st.write("secteurs_ort", gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:2154"),
             author="synthese")
    territory = Territory(name="ville-synthetique", title="Ville synthétique", departement="68",
                          siren_epci="246800395", main_town="68298", communes=("68298",))
    st.set_meta("territory", {"manifest": territory.model_dump_json(),
                              "mairies": json.dumps({"68298": {"x": x, "y": y}})})
    key = auth.create_key(st, "Banc d'essai", "editor")
    st.close()
    return key, "s010"


def _median(values: list[float]) -> float:
    return statistics.median(values)


def open_times(base: str, key: str, staff_html: Path, repeats: int) -> dict[str, float]:
    out: dict[str, list[float]] = {"editeur": [], "carte_staff": []}
    with browser() as instance:
        for i in range(repeats + 1):  # the first round warms caches (server tiles, disk)
            context = instance.new_context(viewport={"width": 1400, "height": 900},
                                           locale="fr-FR")
            context.add_init_script(f"sessionStorage.setItem('ortGeoEditorKey', {key!r});")
            with open_site(instance, base + "/editeur", ready=EDITOR_READY, timeout_s=60,
                           context=context) as (_, visit):
                if i:
                    out["editeur"].append(visit.seconds)
            context.close()
            with open_page(instance, staff_html, ready=READY, timeout_s=60) as (_, visit):
                if i:
                    out["carte_staff"].append(visit.seconds)
    return {k: _median(v) for k, v in out.items()}


def save_times(base: str, key: str, sector: str, rounds: int) -> dict[str, float]:
    """Medians (s) of the editor's save of a moved vertex — one PUT that checks the rules then
    commits — of the separate « Vérifier » request, and of the baselines."""
    url = f"{base}/collections/secteurs_ort/items/{sector}"
    head = {"X-API-Key": key}
    out: dict[str, list[float]] = {"enregistrement": [], "verification": [], "patch_nu": [],
                                   "get": []}
    with httpx.Client(timeout=60) as http:
        for i in range(rounds + 1):
            t = time.perf_counter()
            resp = http.get(url, headers=head)
            got = time.perf_counter() - t
            feature, etag = resp.json(), resp.headers["etag"]
            ring = feature["geometry"]["coordinates"][0][0]
            ring[1] = [ring[1][0] + (1e-5 if i % 2 else -1e-5), ring[1][1]]  # move one vertex
            t = time.perf_counter()
            check = http.post(url + "/verification", json=feature, headers=head)
            verification = time.perf_counter() - t
            assert check.json()["valide"], check.text
            t = time.perf_counter()
            saved = http.put(url, params={"message": "banc d'essai"}, json=feature,
                             headers={**head, "If-Match": etag})
            save = time.perf_counter() - t
            assert saved.status_code == 200, saved.text
            t = time.perf_counter()
            patched = http.patch(url, json={"properties": {"deliberation": f"D{i}"}},
                                 headers={**head, "If-Match": saved.headers["etag"]})
            patch = time.perf_counter() - t
            assert patched.status_code == 200, patched.text
            if i:
                for name, value in (("enregistrement", save), ("verification", verification),
                                    ("patch_nu", patch), ("get", got)):
                    out[name].append(value)
    return {k: _median(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=50_000)
    parser.add_argument("--sectors", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--saves", type=int, default=20)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "web_api"))
    from conftest import serve_process  # the tests' launcher of `ort-geo serve`

    with tempfile.TemporaryDirectory(prefix="ort-geo-bench-editor-") as tmp:
        path = Path(tmp) / "ville.gpkg"
        t = time.perf_counter()
        key, sector = build(path, args.buildings, args.sectors)
        print(f"Entrepôt : {args.buildings} bâtiments, {args.sectors} secteurs "
              f"({time.perf_counter() - t:.1f} s)")
        with open_store(path) as st:
            staff = Path(tmp) / "staff.html"
            write_map(st, staff, audience="staff", basemap="aucun")
        with serve_process(path, timeout=120) as (base, _):
            opened = open_times(base, key, staff, args.repeats)
            saves = save_times(base, key, sector, args.saves)
    print(f"Ouverture, prêt à dessiner (médiane de {args.repeats}) :")
    print(f"  éditeur /editeur           {opened['editeur']:.2f} s  (objectif < 2 s)")
    print(f"  carte de travail (base)    {opened['carte_staff']:.2f} s  "
          f"→ ×{opened['editeur'] / opened['carte_staff']:.2f}")
    print(f"Enregistrement d'un sommet déplacé (médiane de {args.saves}) :")
    rt = saves["enregistrement"]
    print(f"  PUT vérifié + journalisé   {rt * 1000:.0f} ms  (objectif < 300 ms)")
    print(f"  PATCH nu d'un champ (base) {saves['patch_nu'] * 1000:.0f} ms  "
          f"→ ×{rt / saves['patch_nu']:.2f}")
    print(f"  « Vérifier » seul          {saves['verification'] * 1000:.0f} ms")
    print(f"  GET de l'objet (base)      {saves['get'] * 1000:.0f} ms")
    return 0 if opened["editeur"] < 2 and rt < 0.3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
