"""``ort-geo serve``: the HTTP API (OGC API – Features and domain endpoints) over a store."""

from __future__ import annotations

import click

from ..store import open_store
from ._common import console_err, store_option

#: uvicorn's HTTP protocol for ``ort-geo serve``: its h11 protocol with Nagle off on every
#: connection (see :mod:`api.transport`); an import string, each worker process imports it.
HTTP_PROTOCOL = "api.transport:NoDelayH11Protocol"


@click.command("serve")
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Adresse d'écoute.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port d'écoute.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Processus serveurs (par défaut : un par cœur disponible, 8 au plus).")
@click.option("--geometry-processes", type=click.IntRange(min=0),
              help="Processus de calcul géométrique par processus serveur, pour les gros "
                   "périmètres envoyés (par défaut 2 ; 0 : dans le processus serveur).")
@click.option("--geometry-queue", type=click.IntRange(min=1),
              help="Gros périmètres traités ou en attente à la fois par processus serveur "
                   "(par défaut 8) ; au-delà, réponse 503 (réessayer plus tard).")
@click.option("--threads", type=click.IntRange(min=1),
              help="Requêtes traitées à la fois par processus serveur, les suivantes attendant "
                   "leur tour (par défaut 2 : davantage de fils ne font que se disputer le "
                   "processeur).")
def command(store: str, host: str, port: int, workers: int | None,
            geometry_processes: int | None, geometry_queue: int | None,
            threads: int | None) -> None:
    """Sert l'API HTTP (OGC API – Features, statistiques, requêtes, édition) sur l'entrepôt."""
    import os

    import uvicorn

    if workers is None:
        # Request handlers hold the GIL: one process per core the server may use.
        workers = default_workers()

    open_store(store).close()  # a clear French error now rather than at the first request
    os.environ["ORT_GEO_STORE"] = store
    # Read by each server process (api.app.app_from_env), however uvicorn starts them.
    for name, value in (("ORT_GEO_GEOMETRY_PROCESSES", geometry_processes),
                        ("ORT_GEO_GEOMETRY_QUEUE", geometry_queue), ("ORT_GEO_THREADS", threads)):
        if value is not None:
            os.environ[name] = str(value)
    console_err.print(f"API ort-geo sur http://{host}:{port}/ (entrepôt {store}, {workers} "
                      "processus) — Ctrl+C pour arrêter.", highlight=False)
    uvicorn.run("api.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                http=HTTP_PROTOCOL, log_level="warning")


def default_workers() -> int:
    """One worker process per CPU this process may run on, at most 8."""
    import os

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))
