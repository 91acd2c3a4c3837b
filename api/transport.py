"""The HTTP connection protocol ``ort-geo serve`` gives uvicorn: its h11 protocol with Nagle's
algorithm switched off on every accepted connection.

asyncio turns ``TCP_NODELAY`` on only for sockets that report ``proto == IPPROTO_TCP``. With
``--workers`` > 1, uvicorn binds the listening socket itself with ``proto`` 0, every accepted
socket inherits it, and Nagle stays on (uvicorn issue #3149). uvicorn writes a response's
headers and its body in two writes, so on a keep-alive connection the body waited for the
client's delayed ACK of the headers: ~40 ms added to every request after the first, for every
client (browsers, QGIS, curl), whatever the route.

A request h11 cannot parse (bytes outside ASCII in the request line, a header line over h11's
limit, a negative ``Content-Length``…) never reaches the application: uvicorn answers it
itself, in English plain text. Here it gets the API's French exception document instead.
"""

from __future__ import annotations

import asyncio
import json
import socket

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: The answer to a request that is not HTTP h11 can read (an OGC exception document, as every
#: other error of the API).
MALFORMED = json.dumps({
    "code": "InvalidRequest",
    "description": "Requête HTTP mal formée : ligne de requête ou en-têtes illisibles (caractères "
                   "non ASCII à encoder en %XX, en-tête trop long, longueur de corps invalide).",
}, ensure_ascii=False).encode()


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol; each TCP connection sends its writes at once (no Nagle)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request it cannot parse (``msg``: its English reason, left to
        its log), in French; the connection closes after it."""
        head = h11.Response(status_code=400, reason=b"Bad Request", headers=[
            (b"content-type", b"application/json"), (b"content-length", b"%d" % len(MALFORMED)),
            (b"connection", b"close")])
        for event in (head, h11.Data(data=MALFORMED), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
