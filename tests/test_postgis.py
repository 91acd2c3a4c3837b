"""What only the PostGIS backend has: URLs and schemas, server errors, column types, indexes.

Everything the two backends share is tested once, on both, through the ``store`` fixture.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from ort_geo import open_store
from ort_geo.errors import ConflictError, MissingExtraError, StoreError

pytestmark = pytest.mark.postgis


def test_missing_store_unreachable_server_and_bad_schema(postgis_url):
    with pytest.raises(StoreError, match="Aucun entrepôt ort-geo"):
        open_store(f"{postgis_url}?schema=absent_de_la_base")
    with pytest.raises(StoreError, match="invalide"):
        open_store(f"{postgis_url}?schema=Robert');DROP")
    with pytest.raises(StoreError, match="inaccessible") as info:
        open_store("postgresql://ortgeo:secret-password@127.0.0.1:1/ortgeo_test")
    assert "secret-password" not in str(info.value)  # never echo a password


def test_tables_typed_and_indexed(new_store):
    import psycopg

    store = new_store("postgis")
    with psycopg.connect(store.conninfo) as conn:
        geoms = dict(conn.execute(
            "SELECT f_table_name, type || ':' || srid FROM geometry_columns "
            "WHERE f_table_schema = %s AND f_geometry_column = 'geom'", (store.schema,)).fetchall())
        types = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'batiments'", (store.schema,)).fetchall())
        gist = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_indexes WHERE schemaname = %s AND indexdef LIKE '%%gist%%'",
            (store.schema,))}
    assert geoms["secteurs_ort"] == "MULTIPOLYGON:2154"
    assert geoms["commerces"] == "POINT:2154"
    assert geoms["batiments"] == "GEOMETRY:2154"  # footprints or points
    assert types["nb_logements"] == "bigint" and types["annee_construction"] == "bigint"
    assert types["habitat_indigne"] == "boolean"
    assert gist == {n for n in store.layer_names() if store.spec(n).spatial}


def test_reads_have_the_geopackage_dtypes(new_store):
    frames = {}
    for kind in ("gpkg", "postgis"):
        store = new_store(kind)
        frame = gpd.GeoDataFrame(
            [{"id": "b1", "nb_logements": 3, "habitat_indigne": True, "annee_construction": 1890},
             {"id": "b2", "nb_logements": None, "habitat_indigne": None}],
            geometry=[shapely.box(1010000.25, 6800000, 1010010, 6800010.5),
                      shapely.Point(1010020.125, 6800005)], crs="EPSG:2154")
        store.write("batiments", frame, author="t")
        frames[kind] = store.read("batiments")
    pd_testing = pytest.importorskip("pandas.testing")
    pd_testing.assert_frame_equal(frames["gpkg"].drop(columns="geometry"),
                                  frames["postgis"].drop(columns="geometry"))
    assert frames["gpkg"].geometry.geom_equals_exact(frames["postgis"].geometry, 0).all()
    assert frames["postgis"].crs.to_epsg() == 2154


def test_concurrent_creation_of_the_same_id_conflicts(new_store):
    from ort_geo import Feature

    store = new_store("postgis")
    geom = shapely.box(1010000, 6802000, 1010100, 6802100)
    begin = store._transaction
    # Another session creates "a1" between our check and our insert (the row did not exist to
    # be locked): the unique key must turn that into a conflict, not a duplicate.
    with pytest.raises(ConflictError), begin() as tx:
        assert tx.fetch(store.spec("actions"), ["a1"]) == {}
        store.create("actions", Feature("a1", {"titre": "Îlot", "orientation": 1}, geom),
                     author="autre")
        tx.insert(store.spec("actions"), [Feature("a1", {"titre": "Doublon"}, geom)])
    assert store.get("actions", "a1").properties["titre"] == "Îlot"
    assert len(store.history("actions", "a1")) == 1


def test_missing_driver_names_the_extra(monkeypatch):
    import sys

    # None in sys.modules makes any import of the driver fail, even once another test loaded it.
    for name in ("psycopg", "psycopg_pool"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingExtraError, match=r"ort-geo\[postgis\]"):
        open_store("postgresql://localhost/none")


def test_cli_init_creates_a_schema_once(postgis_schema_url):
    from click.testing import CliRunner

    from ort_geo.cli import main

    url = postgis_schema_url()
    created = CliRunner().invoke(main, ["init", url])
    assert created.exit_code == 0, created.output
    assert "Entrepôt créé" in created.output and ":ortgeo@" not in created.output
    with open_store(url) as store:
        assert store.count("secteurs_ort") == 0
    again = CliRunner().invoke(main, ["init", url])
    assert again.exit_code != 0 and "existe déjà" in again.output


def test_each_thread_reads_on_its_own_connection_and_ended_threads_release_it(new_store):
    """Reads (revision, pages, metadata) run on the reading thread's own connection; a server's
    handler threads come and go: the connections of ended threads are closed; a read nested in
    another (a generator's) never shares the outer one's connection."""
    import threading
    import uuid

    import psycopg

    store = new_store("postgis")
    app = f"ort-geo-test-{uuid.uuid4().hex[:8]}"
    reader = open_store(f"{store.url}&application_name={app}")

    def backends() -> int:
        with psycopg.connect(store.conninfo, autocommit=True) as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name "
                                "= %s", (app,)).fetchone()[0]

    def read() -> None:
        reader.revision()
        reader.read_batch("secteurs_ort", limit=5, count=True)
        reader.get_meta("apikeys")

    for _ in range(20):
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
    read()
    assert backends() <= 4  # the pool's first, this thread's, the last ended thread's
    with reader._reading() as outer, reader._reading() as inner:
        assert outer is not inner
    reader.close()
    assert backends() == 0


def test_a_nul_in_a_text_parameter_is_a_french_store_error(new_store):
    """psycopg refuses a NUL before sending anything (no SQLSTATE): said in French, not as a
    lost connection."""
    store = new_store("postgis")
    with pytest.raises(StoreError, match=r"texte refusé par PostgreSQL \(caractère nul\)\.$") \
            as raised:
        store.history("secteurs_ort", "a\x00b")
    assert "NUL" in raised.value.detail


def test_a_page_edited_between_its_statements_is_one_snapshot(new_store, monkeypatch):
    """``read_page(kept=…)`` reads the page's ids, then the rows not kept: another client's
    commit in between (made here by the ``kept`` callable itself, which runs between the two
    statements) — a feature moved out of the box, deleted, edited, a feature added, a row
    version's slot vacuumed and reused by the next version of the same feature, a kept feature
    moved out — never gives a page whose ids, count and rows disagree: it is the page as it was
    before the commit or as it is after, whole."""
    import psycopg

    from ort_geo.store import postgis

    monkeypatch.setattr(postgis, "KEPT_SHARE", -1.0)  # always the ids first
    store = new_store("postgis")
    n = 30  # one heap page, with room: an updated feature's new version stays on it
    xs = [1_010_000.0 + 20 * i for i in range(n)]
    store.write("batiments", gpd.GeoDataFrame(
        {"id": [f"b{i:02d}" for i in range(n)], "code_insee": "68298", "etat": "bon"},
        geometry=[shapely.box(x, 6_800_000, x + 8, 6_800_008) for x in xs], crs="EPSG:2154"),
        author="test")
    box = (xs[0] - 1, 6_799_990, xs[-1] + 10, 6_800_020)
    table = store._t("batiments")
    far = "ST_MakeEnvelope(900000, 6700000, 900008, 6700008, 2154)"

    def page(kept=None):
        return store.read_page("batiments", columns=["etat"], bbox=box, limit=40, offset=5,
                               count=True, kept=kept)

    def slot(conn, fid: str) -> str:
        return conn.execute(f"SELECT ctid::text FROM {table} WHERE id = %s", (fid,)).fetchone()[0]

    reused = []

    def moved_and_reused(conn, fid: str) -> None:
        before = slot(conn, fid)
        conn.execute(f"UPDATE {table} SET geom = {far} WHERE id = %s", (fid,))
        # VACUUM frees no version another session's snapshot may still see: on a cluster
        # shared with other work (benchmarks, another checkout's tests) the slot may stay taken.
        others = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_xmin IS NOT "
                              "NULL AND pid <> pg_backend_pid()").fetchone()[0]
        conn.execute(f"VACUUM {table}")  # frees the old version's slot...
        conn.execute(f"UPDATE {table} SET etat = 'moyen', geom = ST_Translate({far}, 20, 0) "
                     "WHERE id = %s", (fid,))  # ...which the next version takes (same page)
        reused.append(slot(conn, fid) == before or others > 0)

    edits = {  # an edit of the page's feature fid, committed by another client
        "slot reused": moved_and_reused,  # first: the page's only free slot is the one freed
        "moved out": lambda conn, fid: conn.execute(
            f"UPDATE {table} SET geom = {far} WHERE id = %s", (fid,)),
        "deleted": lambda conn, fid: conn.execute(f"DELETE FROM {table} WHERE id = %s", (fid,)),
        "edited": lambda conn, fid: conn.execute(
            f"UPDATE {table} SET etat = 'degrade' WHERE id = %s", (fid,)),
        "added": lambda conn, fid: conn.execute(
            f"INSERT INTO {table} (id, etat, geom) SELECT 'nouveau-' || %s, 'bon', "
            f"ST_MakeEnvelope({xs[3]}, 6800010, {xs[3] + 5}, 6800015, 2154)", (fid,)),
        "kept one moved out": lambda conn, fid: conn.execute(
            f"UPDATE {table} SET geom = {far} WHERE id = %s", (fid,)),
    }
    with psycopg.connect(store.conninfo, autocommit=True) as other:
        # Cold: the page's rows read by the first statement; warm: as it gave them at this
        # revision (remembered), the edit then committed before the rows are fetched.
        for warm in (False, True):
            for k, (name, edit) in enumerate(edits.items()):
                if warm and name == "slot reused":
                    continue  # the page's only free slot was taken in the first round
                before = page()
                index = 2 * k + (1 if name.startswith("kept") else 0) + (6 if warm else 0)
                target = before.batch.ids[index]  # the edited feature's id
                texts = {r: f"texte {r}" for r in before.rows[1::2]}  # every other one kept
                assert (before.rows[index] in texts) == name.startswith("kept")
                if warm:
                    page(lambda rows, texts=texts: [texts.get(r) for r in rows])
                    assert [v[0] for v in store._pages.values()][-1] == store.revision()

                def kept(rows, edit=edit, target=target, texts=texts, calls=[]):  # noqa: B006
                    if not calls:
                        edit(other, target)  # committed between the rows' numbers and contents
                    calls.append(rows)
                    return [texts.get(r) for r in rows]

                got = page(kept)
                after = page()
                assert (before.rows, before.matched) != (after.rows, after.matched) \
                    or name in ("edited", "slot reused"), name
                assert _page_state(got, texts) in (_page_state(before, texts),
                                                   _page_state(after, texts)), (name, warm)
    assert reused == [True]  # the slot was taken again (only its xmin tells), on a quiet cluster


def _page_state(page, texts: dict[int, str]) -> tuple:
    """What a page says, the features of its rows in ``texts`` left out as ``read_page`` does."""
    rows = page.batch
    if len(rows) == len(page.rows):  # read whole: drop the kept ones
        rows = rows.take(np.array([r not in texts for r in page.rows], dtype=bool))
    return (page.rows, page.matched, [texts.get(r) for r in page.rows], rows.ids.tolist(),
            rows.columns["etat"].tolist(), shapely.to_wkb(rows.geometry).tolist())


def test_the_revision_is_the_schemas_own(new_store):
    """The revision changes with every committed write to the store's schema — the tool's, and
    any other client's (INSERT, UPDATE, DELETE, TRUNCATE of a layer, metadata), two writers at
    once without waiting for each other — and with nothing else: a commit in another schema, a
    rolled-back write. A store made before the revision table reads the cluster's snapshot until
    the tool's next write installs it."""
    import psycopg

    from ort_geo.store.journal_triggers import (
        PG_COMMIT_FUNCTION,
        PG_FUNCTION,
        PG_NOTED_FUNCTION,
        PG_REVISION_TABLE,
        PG_WRITERS_TABLE,
    )

    store, other_store = new_store("postgis"), new_store("postgis")
    table, meta = store._t("secteurs_ort"), store._t("ort_meta")
    row = (f"INSERT INTO {table} (id, nom, geom) VALUES (%s, 'x', ST_Multi(ST_MakeEnvelope("
           "1010000, 6800000, 1010100, 6800100, 2154)))")
    with psycopg.connect(store.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.ort_geo_test_voisin (a int)")

        def unchanged(action) -> None:
            before = store.revision()
            action()
            assert store.revision() == before, action

        def changed(action) -> None:
            before = store.revision()
            action()
            assert store.revision() != before, action

        unchanged(lambda: other_store.set_meta("ailleurs", {"k": "v"}))  # another store's write
        unchanged(lambda: conn.execute("INSERT INTO public.ort_geo_test_voisin VALUES (1)"))
        changed(lambda: store.set_meta("ici", {"k": "v"}))  # the tool
        changed(lambda: conn.execute(row, ("s1",)))  # another client, each kind of write
        changed(lambda: conn.execute(f"UPDATE {table} SET nom = 'y' WHERE id = 's1'"))
        changed(lambda: conn.execute(f"DELETE FROM {table} WHERE id = 's1'"))
        changed(lambda: conn.execute(f"INSERT INTO {meta} VALUES ('autre', 'c', 'v')"))
        changed(lambda: conn.execute(f"TRUNCATE {table}"))

        def rolled_back() -> None:
            with conn.transaction(force_rollback=True):
                conn.execute(row, ("s2",))

        unchanged(rolled_back)

        def savepoint() -> None:  # a write rolled back to a savepoint, then one kept
            with conn.transaction():
                with conn.transaction(force_rollback=True):
                    conn.execute(row, ("s3",))
                conn.execute(row, ("s4",))

        changed(savepoint)
        # Two writers at once: neither waits for the other (the counter is locked at commit
        # only), each commit is a new revision.
        with psycopg.connect(store.conninfo) as second:
            second.execute("SET lock_timeout = '2s'")
            before = store.revision()
            with conn.transaction():
                conn.execute(row, ("s5",))
                second.execute(row, ("s6",))  # would wait for the first writer's commit
            first_done = store.revision()
            assert first_done != before  # committed
            second.commit()
            assert store.revision() not in (before, first_done)
            assert second.execute(f"SELECT count(*) FROM {store._t(PG_WRITERS_TABLE)}"
                                  ).fetchone()[0] == 0
        conn.execute("DROP TABLE public.ort_geo_test_voisin")
        # A store made before the revision table: the cluster's snapshot, then its own.
        conn.execute(f'DROP FUNCTION "{store.schema}".{PG_NOTED_FUNCTION}() CASCADE')
        conn.execute(f"DROP TABLE {store._t(PG_REVISION_TABLE)}, {store._t(PG_WRITERS_TABLE)}")
        conn.execute(f'DROP FUNCTION "{store.schema}".{PG_COMMIT_FUNCTION}()')
        conn.execute(f'COMMENT ON FUNCTION "{store.schema}".{PG_FUNCTION}() IS '
                     "'ort-geo journal externe 3'")
    old = open_store(store.url)
    assert old.revision().count(":") == 2  # xmin:xmax:xip
    old.set_meta("ici", {"k": "w"})  # the tool's first write installs what is missing
    assert old.revision().count(":") == 1 and open_store(store.url).revision() == old.revision()


def test_commands_and_the_api_close_their_store(new_store, postgis_schema_url, tmp_path,
                                                monkeypatch):
    """Every command that opens a PostGIS store closes it when it ends, after an error too;
    the API closes its own when it stops (a store dropped unclosed leaves its pool and
    connections to the garbage collector: psycopg's ``__del__`` warnings)."""
    from click.testing import CliRunner
    from fastapi.testclient import TestClient

    from api import create_app
    from ort_geo.cli import main
    from ort_geo.store.postgis import PostGISStore

    opened: list[PostGISStore] = []  # kept alive: no id reused
    closed: set[int] = set()
    init, close = PostGISStore.__init__, PostGISStore.close

    def tracked_init(self, *args, **kwargs) -> None:
        init(self, *args, **kwargs)
        opened.append(self)

    def tracked_close(self) -> None:
        closed.add(id(self))
        close(self)

    monkeypatch.setattr(PostGISStore, "__init__", tracked_init)
    monkeypatch.setattr(PostGISStore, "close", tracked_close)
    store = new_store("postgis")
    url = store.url
    store.close()
    (tmp_path / "faux.gpkg").write_text("pas un GeoPackage")
    for args, code in ((["init", postgis_schema_url()], 0), (["layers"], 0),
                       (["apikey", "create", "A"], 0), (["apikey", "list"], 0),
                       (["apikey", "revoke", "A"], 0),
                       (["export", "secteurs_ort", "-o", str(tmp_path / "s.geojson")], 0),
                       (["history", "secteurs_ort", "s1"], 0), (["validate"], 2),
                       (["import-batiments", str(tmp_path / "faux.gpkg")], 2)):
        result = CliRunner().invoke(main, args if args[0] == "init" else [*args, "--store", url])
        assert result.exit_code == code, (args, result.output)
        assert [s.url for s in opened if id(s) not in closed] == [], args
    with TestClient(create_app(url)) as client:
        assert client.get("/collections/secteurs_ort/items").status_code == 200
        assert [s.url for s in opened if id(s) not in closed] == [url]  # serving
    assert [s.url for s in opened if id(s) not in closed] == []
