"""The HTTP protocol ``ort-geo serve`` gives uvicorn: uvicorn's own, with ``TCP_NODELAY`` on
every accepted connection.

With more than one worker, uvicorn binds the listening socket itself, with ``proto`` 0; accepted
sockets inherit it and asyncio then skips ``TCP_NODELAY`` (it sets it only when ``proto`` is
``IPPROTO_TCP``: uvicorn issue #3149). Nagle's algorithm then holds a response's body until the
client acknowledges its headers, which a client delays by ~40 ms: every keep-alive request of a
small response (``/conformance``, a PATCH) cost 40–45 ms instead of 1. Setting the option on
each connection fixes it whatever path created the listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol (h11 or httptools, as uvicorn picks) with ``TCP_NODELAY``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # a closed or odd socket: keep serving
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
