"""Heavy geometry work of a request, in a bounded pool of worker processes.

Parsing and checking a 200,000-vertex GeoJSON body, reading an uploaded perimeter file and
joining it with the buildings is Python that holds the GIL for a second or more: run in the
server's threads, it starves the event loop and light routes (``/conformance``, an item) wait
behind it. A request above :data:`SMALL_BODY` bytes therefore runs that work in a
:class:`GeometryPool` — a ``ProcessPoolExecutor`` of a few processes per server process,
started at its first heavy request, at a lower CPU priority (``os.nice``) so the server's own
threads keep the CPU. Small requests stay in-process (a thread): shipping them costs more than
it saves.

The pool is bounded: at most ``queue`` heavy requests per server process hold a slot (running or
waiting, their bodies in memory); one more is answered at once with 503 and ``Retry-After``
(:class:`ServerBusy`) instead of piling up. The slot is taken *before* the body is read, so
memory stays bounded too. Library errors raised in a worker cross the process boundary by
pickling and come back as the same exceptions, hence the same French 4xx.

Worker processes are forked from a fork server (never from the threaded server itself), ignore
Ctrl+C (the server shuts them down), and exit by themselves when the server process is gone (a
killed server leaves no orphan: then the fork server, no longer held by them, exits too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")
logger = logging.getLogger(__name__)

#: Requests whose body (or uploaded file) is larger than this, in bytes, are heavy (~6,500
#: vertices of GeoJSON: parsing below that takes a few milliseconds).
SMALL_BODY = 256 * 1024
#: Worker processes per server process, and heavy requests one server process accepts at once.
DEFAULT_PROCESSES = 2
DEFAULT_QUEUE = 8
#: Seconds a client is told to wait when the pool is saturated.
RETRY_AFTER = 5
#: Niceness added to worker processes: geometry work yields the CPU to light routes.
NICENESS = 10
# Modules the fork server imports once, so that each worker starts already warm.
_PRELOAD = ["api.domain"]


class ServerBusy(Exception):
    """Every slot of the geometry pool is taken: the API answers 503 with ``Retry-After``."""

    def __init__(self, retry_after: int = RETRY_AFTER) -> None:
        super().__init__("Serveur occupé : trop de calculs géométriques en cours. Réessayez dans "
                         f"{retry_after} secondes.")
        self.retry_after = retry_after


def _init_worker(alive: Connection, started: Any, niceness: int) -> None:
    """In each worker: lower priority, leave Ctrl+C to the server, and exit when the server is
    gone — ``alive`` is the read end of a pipe whose only write end the server holds, so it
    reads end-of-file when the server exits, however it dies (the executor's own queues never
    tell: each worker holds both ends of them). ``started``: a barrier of all the pool's
    workers, so that none is idle before every one is spawned (the executor spawns a worker
    only when none is idle). ``niceness``: the server's plus :data:`NICENESS`."""
    _lower_priority(os.getpid(), niceness)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            while True:
                alive.recv_bytes()
        os._exit(0)

    threading.Thread(target=watch, name="ort-geo-server-watch", daemon=True).start()
    started.wait(timeout=120)


def _lower_priority(pid: int, niceness: int) -> None:
    """Set a process's niceness to ``niceness`` unless it is already lower in priority."""
    with contextlib.suppress(OSError):  # not permitted: same priority, still off the loop
        if os.getpriority(os.PRIO_PROCESS, pid) < niceness:
            os.setpriority(os.PRIO_PROCESS, pid, niceness)


def _ready() -> int:
    return os.getpid()


class GeometryPool:
    """A bounded pool of processes for the heavy geometry work of requests (see the module).

    ``processes=0`` keeps every job in the server's threads (the behaviour without a pool).
    """

    def __init__(self, processes: int = DEFAULT_PROCESSES, queue: int = DEFAULT_QUEUE) -> None:
        if processes < 0 or queue < 1:
            raise ValueError("processes >= 0 and queue >= 1 expected")
        self.processes, self.queue = processes, queue
        self.pending = 0  # slots taken; only touched from the event loop
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._alive: tuple[Connection, ...] = ()  # (read end for workers, write end)

    # -- lifecycle -----------------------------------------------------------------------------

    def _start(self) -> ProcessPoolExecutor:
        """Start the workers (once; blocking: call it off the event loop)."""
        with self._lock:
            if self._closed:
                raise ServerBusy()  # shutting down: the client should try again later
            if self._executor is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(_PRELOAD)
                niceness = min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICENESS)
                # The fork server imports the preloaded modules (seconds of CPU): at the
                # workers' priority too, lowered as soon as it is spawned.
                forkserver.ensure_running()
                server_pid = getattr(forkserver._forkserver, "_forkserver_pid", None)  # noqa: SLF001
                if server_pid:
                    _lower_priority(server_pid, niceness)
                self._alive = context.Pipe(duplex=False)
                executor = ProcessPoolExecutor(
                    self.processes, mp_context=context, initializer=_init_worker,
                    initargs=(self._alive[0], context.Barrier(self.processes), niceness))
                # Spawn every worker now (the barrier makes each submit spawn one), not on
                # demand later.
                try:
                    for future in [executor.submit(_ready) for _ in range(self.processes)]:
                        future.result()
                except BaseException:
                    executor.shutdown(wait=False, cancel_futures=True)
                    self._close_pipe()
                    raise
                self._executor = executor
            return self._executor

    def open(self) -> None:
        """Accept heavy jobs (again): the server starts; workers start at the first job."""
        with self._lock:
            self._closed = False

    def shutdown(self) -> None:
        """Stop the workers (queued jobs are cancelled; running ones finish first); until
        :meth:`open`, a heavy job is answered 503."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        self._close_pipe()

    def _close_pipe(self) -> None:
        for end in self._alive:
            end.close()
        self._alive = ()

    def pids(self) -> list[int]:
        """The worker processes' ids (empty before the first heavy request)."""
        executor = self._executor
        return sorted(executor._processes) if executor is not None else []  # noqa: SLF001

    # -- jobs ----------------------------------------------------------------------------------

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Job]:
        """Hold one of the ``queue`` slots for a heavy request, or raise :class:`ServerBusy`.

        Take it before reading the body. The slot is freed when the request ends *and* its job
        has left the pool (a client that hangs up does not free a slot its job still uses).
        """
        if self.pending >= self.queue:
            raise ServerBusy()
        self.pending += 1
        job = Job(self)
        try:
            yield job
        finally:
            running = job.future
            if running is not None and not running.done():
                loop = asyncio.get_running_loop()
                running.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
            else:
                self._release()

    def _release(self) -> None:
        self.pending -= 1


class Job:
    """One heavy request's work, run in the pool (or in a thread when the pool is off)."""

    def __init__(self, pool: GeometryPool) -> None:
        self.pool = pool
        self.future: Future | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker process; ``fn`` and ``args`` must be picklable."""
        pool = self.pool
        if pool.processes == 0:
            return await run_in_threadpool(fn, *args)
        try:
            executor = pool._executor or await run_in_threadpool(pool._start)  # noqa: SLF001
        except (OSError, RuntimeError, BrokenProcessPool) as exc:
            # No worker processes here (a sandbox without semaphores, a main module that
            # cannot be imported again…): serve from threads rather than fail every request.
            logger.warning("ort-geo : pool de calcul géométrique indisponible (%s) ; calculs "
                           "dans le processus serveur.", exc)
            pool.processes = 0
            return await run_in_threadpool(fn, *args)
        try:
            self.future = executor.submit(fn, *args)
        except (BrokenProcessPool, RuntimeError):  # a dead worker, or shutting down
            _restart(pool, executor)
            raise ServerBusy() from None
        try:
            return await asyncio.wrap_future(self.future)
        except BrokenProcessPool:  # a worker died under this job (killed, out of memory)
            _restart(pool, executor)
            raise ServerBusy() from None


def _restart(pool: GeometryPool, broken: ProcessPoolExecutor) -> None:
    """Forget a broken executor: the next heavy request starts a fresh one."""
    with pool._lock:  # noqa: SLF001
        if pool._executor is broken:  # noqa: SLF001
            pool._executor = None  # noqa: SLF001
    broken.shutdown(wait=False, cancel_futures=True)

