"""``ort-geo serve``: the HTTP API (OGC API – Features and domain endpoints) over a store."""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

import click

from ..errors import InputError, os_reason, with_detail
from ..store import open_store
from ..store.postgis import masked
from ._common import console_err, store_option


def _http_protocol() -> type:
    """uvicorn's HTTP protocol for ``ort-geo serve``: its h11 protocol with Nagle off on every
    connection (see :mod:`api.transport`). The class itself, not an import string: uvicorn's
    oldest supported versions take only their own names there, and a class pickles by reference
    for the workers."""
    from api.transport import NoDelayH11Protocol

    return NoDelayH11Protocol


#: uvicorn's lines an operator may read (warnings and errors: its information lines are off), in
#: French; None: not shown (advice that does not apply: the API has no WebSocket route). A line
#: not listed is written as uvicorn words it, so that no error is lost.
UVICORN_FR: dict[str, str | None] = {
    "Unsupported upgrade request.": "Changement de protocole (Upgrade) non pris en charge "
                                    "demandé par un client : requête servie en HTTP.",
    "No supported WebSocket library detected. Please use \"pip install 'uvicorn[standard]'\", "
    "or install 'websockets' or 'wsproto' manually.": None,
    "Invalid HTTP request received.": "Requête HTTP mal formée reçue : réponse 400.",
    "Exceeded concurrency limit.": "Trop de requêtes simultanées : réponse 503.",
    "Exception in ASGI application\n": "Erreur imprévue de l'application (détail ci-dessous) :",
    "ASGI callable returned without starting response.": "L'application n'a pas répondu : "
                                                         "réponse 500.",
    "ASGI callable returned without completing response.": "Réponse de l'application "
                                                           "incomplète : connexion fermée.",
    "Application startup failed. Exiting.": "Échec du démarrage de l'application : arrêt.",
    "Application shutdown failed. Exiting.": "Échec de l'arrêt de l'application.",
    "Cancel %s running task(s), timeout graceful shutdown exceeded":
        "Délai d'arrêt dépassé : %s requête(s) en cours interrompue(s).",
}
_LEVELS = {"CRITICAL": "Erreur", "ERROR": "Erreur", "WARNING": "Avertissement"}


class _French(logging.Filter):
    """uvicorn's known lines in French (:data:`UVICORN_FR`), the others as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg in UVICORN_FR:
            text = UVICORN_FR[record.msg]
            if text is None:
                return False
            record.msg = text
        return True


class _Lines(logging.Formatter):
    """« Avertissement : … », « Erreur : … » (a traceback, if any, follows in English)."""

    def format(self, record: logging.LogRecord) -> str:
        record.niveau = _LEVELS.get(record.levelname, record.levelname)
        return super().format(record)


def log_config() -> dict[str, Any]:
    """uvicorn's logging for ``ort-geo serve`` (``logging.config.dictConfig``): warnings and
    errors on standard error in French, no information or access lines (the tool's own French
    line says where it serves)."""
    return {
        "version": 1, "disable_existing_loggers": False,
        "filters": {"fr": {"()": _French}},
        "formatters": {"fr": {"()": _Lines, "fmt": "%(niveau)s : %(message)s"}},
        "handlers": {"fr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                            "formatter": "fr", "filters": ["fr"]}},
        "loggers": {"uvicorn": {"handlers": ["fr"], "level": "WARNING", "propagate": False},
                    "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False}},
    }


@click.command("serve")
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Adresse d'écoute.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="Port d'écoute.")
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
    balanced = workers > 1 and sys.platform.startswith("linux")
    reserved = _reserve(host, port)  # a French error now, not uvicorn's English one later
    if not balanced:  # uvicorn binds the port itself
        reserved.close()
        reserved = None
    console_err.print(f"API ort-geo sur http://{host}:{port}/ (entrepôt {masked(store)}, "
                      f"{workers} processus) — Ctrl+C pour arrêter.", highlight=False)
    if reserved is None:
        uvicorn.run("api.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                    http=_http_protocol(), log_level="warning", log_config=log_config())
        return
    try:
        _supervise(host, port, workers)
    finally:
        reserved.close()


# -- several server processes, each with its own listening socket -------------------------------
#
# uvicorn's --workers shares one listening socket: each worker's event loop accepts every
# pending connection at each wake-up, so a burst of clients (a browser's six connections, a
# load test's 32) lands on one process while the other idles — measured: 32/0, 31/1, 13/19
# over three runs of 32 connections. Each worker here listens on its own socket on the same
# port (SO_REUSEPORT) and the kernel spreads new connections between them.


def _listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _reserve(host: str, port: int) -> socket.socket:
    """The port, held (bound, not listening: the kernel gives connections to listening sockets
    only) for the workers; a clear French error when another server has it. Bound first: an
    address of another machine, or an unknown name, is refused there (a connection to it might
    be answered by a router)."""
    try:
        sock = _listener(host, port)
    except OSError as exc:
        why = "nom d'hôte inconnu" if isinstance(exc, socket.gaierror) else os_reason(exc)
        raise with_detail(InputError(f"Impossible d'écouter sur {host}:{port} : {why}."),
                          exc) from None
    try:  # another server sharing the port (SO_REUSEPORT) would get half of the requests
        with socket.create_connection((host, port), timeout=1):
            pass
    except OSError:
        return sock
    sock.close()
    raise InputError(f"Le port {port} de {host} est déjà utilisé par un autre serveur.")


def _end_with_supervisor(supervisor: int) -> None:
    """Have the kernel send SIGTERM to this worker when its supervisor dies, however it dies
    (SIGKILL included: no handler of its own runs then), so that no orphan keeps serving the
    port. Linux's ``prctl(PR_SET_PDEATHSIG)``; the supervisor may have died before the call."""
    import ctypes
    import os
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != supervisor:  # already orphaned: the signal will never come
        os._exit(0)


#: ``prctl`` option (linux/prctl.h): the signal sent to this process when its parent dies.
PR_SET_PDEATHSIG = 1


def _serve_worker(host: str, port: int, supervisor: int) -> None:
    """One server process (spawned): uvicorn on its own socket of the shared port, ending with
    its supervisor."""
    import uvicorn

    _end_with_supervisor(supervisor)
    sock = _listener(host, port)
    config = uvicorn.Config("api.app:app_from_env", factory=True, http=_http_protocol(),
                            log_level="warning", log_config=log_config())
    uvicorn.Server(config).run(sockets=[sock])


def _supervise(host: str, port: int, workers: int) -> None:
    """Start ``workers`` server processes, start again one that dies, stop them all on Ctrl+C
    or SIGTERM (each finishes its requests and stops its geometry pool)."""
    import multiprocessing
    import os
    import signal
    import time
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited state

    def start():
        process = context.Process(target=_serve_worker, args=(host, port, os.getpid()),
                                  name="ort-geo-serveur")
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    stopping = False
    signalled: set[int | None] = set()  # one SIGTERM each: a second one makes uvicorn skip its shutdown

    def stop(signum: int | None = None, frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive() and process.pid not in signalled:
                signalled.add(process.pid)
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        ended = wait([p.sentinel for p in processes], timeout=1)
        for i, process in enumerate(processes):
            if process.sentinel in ended and not stopping:
                process.join()
                console_err.print(f"Processus serveur {process.pid} arrêté (code "
                                  f"{process.exitcode}) : relancé.", highlight=False)
                time.sleep(1)  # a worker failing at once does not spin the machine
                if not stopping:  # the stop may have come during the pause
                    processes[i] = start()
    stop()  # a worker started while the stop came (the handler ran before it was listed)
    for process in processes:
        process.join(60)
        if process.is_alive():
            process.kill()
            process.join()


def default_workers() -> int:
    """One worker process per CPU this process may run on, at most 8."""
    import os

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))
