"""Edits made outside the tool reach the journal too: database triggers, one set per backend.

A planner may edit the GeoPackage in QGIS, a colleague run ``ogr2ogr`` or ``psql`` against the
PostGIS schema: none of them runs our Python. So every layer table carries triggers, written in the
database's own language, that append an entry to ``ort_journal`` for each row another client
inserts, updates or deletes — author :data:`EXTERNAL_AUTHOR`, with before/after like any entry.

The tool's own writes are journaled by :class:`~ort_geo.store.base.Store` (with the author and
message of the edit) and must not be journaled twice. Each backend marks its write transactions:

* GeoPackage: the first statement of a write transaction puts a row in ``ort_tool_write`` and the
  last one removes it. Writers are serialised by SQLite (``BEGIN IMMEDIATE``) and nobody sees
  uncommitted rows, so while the table is empty for everyone else, the triggers see the row only
  within the tool's transactions. The triggers use nothing but core SQLite (``json_object``,
  ``hex``, ``strftime``), so any client — GDAL, QGIS, the sqlite3 shell — can run them; the
  geometry is recorded as the GeoPackage blob in hex, decoded when the journal is read.
* PostGIS: the tool sets the transaction-local setting ``ort_geo.ecriture_outil`` (reset at
  commit); a plpgsql function (``SECURITY DEFINER``, so that a client allowed to edit a layer
  need not be allowed to write the journal) records the row as JSON with its geometry in WKT and
  the client's role and application name as message.

Raw trigger records carry ``"externe": true``; :func:`normalise_record` types their values by the
catalogue (0/1 → booleans, 1 → 1.0 for a real…) when the journal is read, so they compare and hash
(ETags) exactly like the tool's own records.

Limits: a table dropped and recreated by a client (``ogr2ogr -overwrite``) loses its triggers —
the next write of the tool puts them back; ``TRUNCATE`` on PostGIS is journaled as one delete per
row (a statement trigger reads the table before it is emptied).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from ..catalogue import CATALOGUE, LayerSpec

EXTERNAL_AUTHOR = "édition externe"
#: GeoPackage: the table whose row marks the tool's write transactions.
GUARD_TABLE = "ort_tool_write"
#: PostGIS: the setting that marks the tool's write transactions.
PG_SETTING = "ort_geo.ecriture_outil"
TRIGGER_PREFIX = "ort_journal_"


# -- reading trigger records ------------------------------------------------------------------

def _typed(kind: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        if kind == "bool":
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "t", "oui", "vrai")
            return bool(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "date":
            return dt.date.fromisoformat(str(value)[:10]).isoformat()
        return str(value)
    except (TypeError, ValueError):
        return value  # a value of the wrong type stays as the client wrote it


def normalise_record(layer: str, record: dict[str, Any],
                     decode_blob: Callable[[str], str] | None = None) -> dict[str, Any]:
    """A trigger's raw record as a canonical journal record (see :meth:`Feature.to_record`).

    ``decode_blob(hex_text)`` turns a GeoPackage geometry blob into WKT (GeoPackage records).
    Records written by the tool are returned as they are.
    """
    if not record.get("externe"):
        return record
    props = record.get("properties") or {}
    if layer in CATALOGUE:
        spec = CATALOGUE[layer]
        props = {f.name: _typed(f.type, props.get(f.name)) for f in spec.fields
                 if f.name != spec.key}
    geometry = record.get("geometry")
    if "geometry_gpkg" in record:
        blob = record["geometry_gpkg"]
        geometry = decode_blob(blob) if blob and decode_blob else None
    return {"id": str(record.get("id")), "properties": props, "geometry": geometry}


# -- GeoPackage (SQLite) ----------------------------------------------------------------------

def _sqlite_value(column: str, row: str) -> str:
    # JSON cannot hold a BLOB: a client writing one in a text column gets its hex.
    return (f"CASE WHEN typeof({row}.\"{column}\") = 'blob' THEN hex({row}.\"{column}\") "
            f"ELSE {row}.\"{column}\" END")


def _sqlite_record(spec: LayerSpec, row: str) -> str:
    key = f"coalesce({row}.\"{spec.key}\", '#' || {row}.fid)"
    props = ", ".join(f"'{f.name}', {_sqlite_value(f.name, row)}" for f in spec.fields
                      if f.name != spec.key)
    geometry = f"hex({row}.geom)" if spec.spatial else "NULL"  # attributes tables: no geom
    return (f"json_object('id', {key}, 'properties', json_object({props}), "
            f"'geometry_gpkg', {geometry}, 'externe', json('true'))")


def sqlite_triggers(spec: LayerSpec) -> list[str]:
    """The CREATE TRIGGER statements journaling other clients' changes to one layer table."""
    t, key = spec.name, spec.key
    guard = f"NOT EXISTS (SELECT 1 FROM {GUARD_TABLE})"
    insert = ("INSERT INTO ort_journal (ts, author, layer, feature_id, operation, before, after, "
              "message) VALUES (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), "
              f"'{EXTERNAL_AUTHOR}', '{t}', ")
    changed = " OR ".join((["OLD.geom IS NOT NEW.geom"] if spec.spatial else [])
                          + [f'OLD."{f.name}" IS NOT NEW."{f.name}"' for f in spec.fields])
    fid_new, fid_old = f"coalesce(NEW.\"{key}\", '#' || NEW.fid)", \
        f"coalesce(OLD.\"{key}\", '#' || OLD.fid)"
    return [
        f'CREATE TRIGGER "{TRIGGER_PREFIX}{t}_insert" AFTER INSERT ON "{t}" WHEN {guard} BEGIN '
        f"{insert}{fid_new}, 'insert', NULL, {_sqlite_record(spec, 'NEW')}, ''); END",
        f'CREATE TRIGGER "{TRIGGER_PREFIX}{t}_update" AFTER UPDATE ON "{t}" '
        f"WHEN {guard} AND ({changed}) BEGIN "
        f"{insert}{fid_new}, 'update', {_sqlite_record(spec, 'OLD')}, "
        f"{_sqlite_record(spec, 'NEW')}, ''); END",
        f'CREATE TRIGGER "{TRIGGER_PREFIX}{t}_delete" AFTER DELETE ON "{t}" WHEN {guard} BEGIN '
        f"{insert}{fid_old}, 'delete', {_sqlite_record(spec, 'OLD')}, NULL, ''); END",
    ]


def sqlite_trigger_names(specs: Iterable[LayerSpec]) -> list[str]:
    return [f"{TRIGGER_PREFIX}{s.name}_{op}" for s in specs for op in ("insert", "update", "delete")]


#: Reading the journal from a date on (ort_geo.timeline) without scanning it.
TS_INDEX = "ort_journal_ts"


def install_sqlite(conn: sqlite3.Connection, specs: Iterable[LayerSpec]) -> None:
    """Create the guard table, the time index and the triggers that are missing (inside the
    caller's transaction). Triggers are recreated when their SQL differs (new fields)."""
    specs = list(specs)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {GUARD_TABLE} (pid INTEGER)")
    conn.execute(f"CREATE INDEX IF NOT EXISTS {TS_INDEX} ON ort_journal (ts)")
    stored = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                               f"AND name LIKE '{TRIGGER_PREFIX}%'").fetchall())
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for spec in specs:
        if spec.name not in tables:
            continue
        for name, sql in zip(sqlite_trigger_names([spec]), sqlite_triggers(spec), strict=True):
            if stored.get(name) == sql:
                continue
            if name in stored:
                conn.execute(f'DROP TRIGGER "{name}"')
            conn.execute(sql)


def sqlite_installed(conn: sqlite3.Connection, specs: Iterable[LayerSpec]) -> bool:
    """Whether the time index and every trigger are there, with the SQL this version writes."""
    specs = list(specs)
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
                    (TS_INDEX,)).fetchone() is None:
        return False
    stored = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                               f"AND name LIKE '{TRIGGER_PREFIX}%'").fetchall())
    return all(stored.get(n) == s for spec in specs
               for n, s in zip(sqlite_trigger_names([spec]), sqlite_triggers(spec), strict=True))


# -- PostGIS (plpgsql) ------------------------------------------------------------------------

PG_FUNCTION = "ort_journal_externe"
PG_TRUNCATE_FUNCTION = "ort_journal_externe_vidage"
PG_TRIGGER = "ort_journal_externe"
PG_TRUNCATE_TRIGGER = "ort_journal_externe_vidage"
#: Bumped when the trigger code changes, so stores get the new version at their next write.
PG_VERSION = "ort-geo journal externe 4"
#: The schema's revision (:meth:`PostGISStore.revision`): one row, a token drawn when the table
#: is made (a schema dropped and made again does not repeat revisions) and a counter that every
#: committed write to the schema's tables adds one to, whoever the writer.
PG_REVISION_TABLE = "ort_revision"
#: The transactions that wrote to the schema and have not committed yet (empty at rest).
PG_WRITERS_TABLE = "ort_revision_en_cours"
PG_REVISION_TRIGGER = "ort_revision"
PG_NOTED_FUNCTION = "ort_revision_notee"
PG_COMMIT_FUNCTION = "ort_revision_validee"
#: Set (transaction-local) once a transaction's write is noted: its next statements skip it.
PG_NOTED_SETTING = "ort_geo.revision_notee"


def _pg_record(row: str) -> str:
    return (f"jsonb_build_object('id', coalesce(to_jsonb({row}) ->> key_name, '#' || {row}.fid), "
            f"'properties', to_jsonb({row}) - 'fid' - 'geom' - key_name, "
            f"'geometry', ST_AsText({row}.geom), 'externe', true)")


def _pg_table_record(row: str) -> str:
    return (f"jsonb_build_object('id', coalesce(to_jsonb({row}) ->> key_name, '#' || {row}.fid), "
            f"'properties', to_jsonb({row}) - 'fid' - key_name, 'geometry', NULL, "
            "'externe', true)")


def pg_install_sql(schema: str, postgis_schema: str) -> list[str]:
    """Statements creating the trigger functions of a store schema (triggers: :func:`pg_layer_sql`)."""
    journal = f'"{schema}".ort_journal'
    ts = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"+00:00\"')"
    message = ("'client ' || session_user || coalesce(' (' || "
               "nullif(current_setting('application_name', true), '') || ')', '')")
    tool = f"coalesce(current_setting('{PG_SETTING}', true), '') = 'on'"
    path = f'SET search_path = pg_catalog, "{postgis_schema}", pg_temp'
    row_fn = f"""
CREATE OR REPLACE FUNCTION "{schema}".{PG_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER {path} AS $body$
DECLARE
  key_name text := TG_ARGV[0];
  old_rec jsonb;
  new_rec jsonb;
  fid text;
BEGIN
  IF {tool} THEN RETURN NULL; END IF;
  IF TG_OP = 'UPDATE' AND OLD IS NOT DISTINCT FROM NEW THEN RETURN NULL; END IF;
  -- A table without geometry (follow-up tables) passes a second argument: no geom to read.
  IF TG_NARGS > 1 THEN
    IF TG_OP <> 'INSERT' THEN old_rec := {_pg_table_record('OLD')}; END IF;
    IF TG_OP <> 'DELETE' THEN new_rec := {_pg_table_record('NEW')}; END IF;
  ELSE
    IF TG_OP <> 'INSERT' THEN old_rec := {_pg_record('OLD')}; END IF;
    IF TG_OP <> 'DELETE' THEN new_rec := {_pg_record('NEW')}; END IF;
  END IF;
  fid := coalesce(new_rec, old_rec) ->> 'id';
  INSERT INTO {journal} (ts, author, layer, feature_id, operation, before, after, message)
  VALUES ({ts}, '{EXTERNAL_AUTHOR}', TG_TABLE_NAME, fid, lower(TG_OP), old_rec, new_rec,
          {message});
  RETURN NULL;
END
$body$"""
    truncate_fn = f"""
CREATE OR REPLACE FUNCTION "{schema}".{PG_TRUNCATE_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER {path} AS $body$
DECLARE
  key_name text := TG_ARGV[0];
BEGIN
  IF {tool} THEN RETURN NULL; END IF;
  EXECUTE format('INSERT INTO {journal} (ts, author, layer, feature_id, operation, before, '
                 'after, message) SELECT %L, %L, %L, coalesce(to_jsonb(t) ->> %L, ''#'' || t.fid), '
                 '''delete'', jsonb_build_object(''id'', coalesce(to_jsonb(t) ->> %L, ''#'' || '
                 't.fid), ''properties'', to_jsonb(t) - ''fid'' - ''geom'' - %L, ''geometry'', '
                 '%s, ''externe'', true), NULL, %L FROM %I.%I AS t ORDER BY t.fid',
                 {ts}, '{EXTERNAL_AUTHOR}', TG_TABLE_NAME, key_name, key_name, key_name,
                 CASE WHEN TG_NARGS > 1 THEN 'NULL' ELSE 'ST_AsText(t.geom)' END,
                 {message}, TG_TABLE_SCHEMA, TG_TABLE_NAME);
  RETURN NULL;
END
$body$"""
    return [row_fn, truncate_fn, *pg_revision_sql(schema),
            f"COMMENT ON FUNCTION \"{schema}\".{PG_FUNCTION}() IS '{PG_VERSION}'",
            f'CREATE INDEX IF NOT EXISTS {TS_INDEX} ON {journal} (ts COLLATE "C")']


def pg_revision_sql(schema: str) -> list[str]:
    """The schema's revision, changed by every committed write to its tables (layers, journal,
    metadata), by the tool or by any other client, and by nothing else — a commit in another
    schema or database leaves it as it is.

    The first write statement of a transaction on one of those tables (a statement trigger,
    skipped by its WHEN clause once the transaction is noted) puts the transaction in
    :data:`PG_WRITERS_TABLE`, whose row fires a deferred constraint trigger at commit: it adds
    one to the counter and removes the row. The counter's row is locked only from then to the
    end of the commit — taken by the first write, it would make writers of different features
    wait for each other, and deadlock those that lock rows in another order. A statement rolled
    back to a savepoint takes its row, and the setting that skips the next ones, with it.
    A client's transaction in REPEATABLE READ or SERIALIZABLE committing in the same instant as
    another writer may have to be run again (as when both update one row)."""
    t = f'"{schema}"'
    noted = f"""
CREATE OR REPLACE FUNCTION {t}.{PG_NOTED_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
BEGIN
  PERFORM set_config('{PG_NOTED_SETTING}', 'on', true);
  INSERT INTO {t}.{PG_WRITERS_TABLE} VALUES (txid_current()) ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$body$"""
    commit = f"""
CREATE OR REPLACE FUNCTION {t}.{PG_COMMIT_FUNCTION}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
BEGIN
  UPDATE {t}.{PG_REVISION_TABLE} SET n = n + 1;
  DELETE FROM {t}.{PG_WRITERS_TABLE} WHERE xid = NEW.xid;
  RETURN NULL;
END
$body$"""
    return [
        f"CREATE TABLE IF NOT EXISTS {t}.{PG_REVISION_TABLE} (token text NOT NULL, "
        "n bigint NOT NULL)",
        f"INSERT INTO {t}.{PG_REVISION_TABLE} SELECT md5(random()::text || "
        f"clock_timestamp()::text), 0 WHERE NOT EXISTS (SELECT FROM {t}.{PG_REVISION_TABLE})",
        f"CREATE TABLE IF NOT EXISTS {t}.{PG_WRITERS_TABLE} (xid bigint PRIMARY KEY)",
        noted, commit,
        f"DROP TRIGGER IF EXISTS {PG_REVISION_TRIGGER} ON {t}.{PG_WRITERS_TABLE}",
        f"CREATE CONSTRAINT TRIGGER {PG_REVISION_TRIGGER} AFTER INSERT ON {t}.{PG_WRITERS_TABLE} "
        f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {t}.{PG_COMMIT_FUNCTION}()",
        *(sql for table in ("ort_journal", "ort_meta")
          for sql in pg_revision_trigger_sql(schema, table)),
    ]


def pg_revision_trigger_sql(schema: str, table: str) -> list[str]:
    """The statement trigger noting a write to one table of the schema (:func:`pg_revision_sql`)."""
    name = f'"{schema}"."{table}"'
    return [
        f"DROP TRIGGER IF EXISTS {PG_REVISION_TRIGGER} ON {name}",
        f"CREATE TRIGGER {PG_REVISION_TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "
        f"{name} FOR EACH STATEMENT WHEN (current_setting('{PG_NOTED_SETTING}', true) IS "
        f"DISTINCT FROM 'on') EXECUTE FUNCTION \"{schema}\".{PG_NOTED_FUNCTION}()",
    ]


def pg_layer_sql(schema: str, spec: LayerSpec) -> list[str]:
    table = f'"{schema}"."{spec.name}"'
    args = f"'{spec.key}'" + ("" if spec.spatial else ", 'sans_geometrie'")
    return [
        f"DROP TRIGGER IF EXISTS {PG_TRIGGER} ON {table}",
        # The WHEN clause spares the tool's bulk writes a plpgsql call per row.
        f"CREATE TRIGGER {PG_TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW "
        f"WHEN (coalesce(current_setting('{PG_SETTING}', true), '') <> 'on') "
        f"EXECUTE FUNCTION \"{schema}\".{PG_FUNCTION}({args})",
        f"DROP TRIGGER IF EXISTS {PG_TRUNCATE_TRIGGER} ON {table}",
        f"CREATE TRIGGER {PG_TRUNCATE_TRIGGER} BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION \"{schema}\".{PG_TRUNCATE_FUNCTION}({args})",
        *pg_revision_trigger_sql(schema, spec.name),
    ]

