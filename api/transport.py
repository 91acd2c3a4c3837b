"""The HTTP connection protocol ``ort-geo serve`` gives uvicorn: its h11 protocol with Nagle's
algorithm switched off on every accepted connection.

asyncio turns ``TCP_NODELAY`` on only for sockets that report ``proto == IPPROTO_TCP``. With
``--workers`` > 1, uvicorn binds the listening socket itself with ``proto`` 0, every accepted
socket inherits it, and Nagle stays on (uvicorn issue #3149). uvicorn writes a response's
headers and its body in two writes, so on a keep-alive connection the body waited for the
client's delayed ACK of the headers: ~40 ms added to every request after the first, for every
client (browsers, QGIS, curl), whatever the route.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol; each TCP connection sends its writes at once (no Nagle)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

