"""Run pygeoapi (the API benchmark's baseline) with an SQLite that can load SpatiaLite.

pygeoapi reads GeoPackages through SpatiaLite, loaded with ``sqlite3.enable_load_extension``,
which some Python builds leave out; pysqlite3-binary (the ``bench`` extra) provides it, so it
stands in for ``sqlite3`` before pygeoapi is imported.

    python -m benchmarks.pygeoapi_server openapi CONFIG OUTPUT
    python -m benchmarks.pygeoapi_server serve PORT [WORKERS]  # PYGEOAPI_CONFIG / _OPENAPI set
"""

from __future__ import annotations

import sys


def _swap_sqlite() -> None:
    import sqlite3

    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return
    import pysqlite3
    import pysqlite3.dbapi2

    sys.modules["sqlite3"] = pysqlite3
    sys.modules["sqlite3.dbapi2"] = pysqlite3.dbapi2


# At import: uvicorn's worker processes import this module again (as their main module).
_swap_sqlite()


def main(argv: list[str]) -> int:
    if argv[0] == "openapi":
        from pygeoapi.openapi import generate_openapi_document

        config, output = argv[1], argv[2]
        with open(config, encoding="utf-8") as fh:
            document = generate_openapi_document(fh, "yaml")
        with open(output, "w", encoding="utf-8") as out:
            out.write(document)
        return 0
    from benchmarks.peer_server import serve

    serve("pygeoapi.starlette_app:APP", int(argv[1]), int(argv[2]) if len(argv) > 2 else 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
