"""``ort-geo serve``'s HTTP protocol turns Nagle's algorithm off on every connection.

With several workers uvicorn binds the listening socket itself with ``proto`` 0, and asyncio then
leaves ``TCP_NODELAY`` off on accepted connections (uvicorn issue #3149): each small keep-alive
response waited ~40 ms for the client's delayed ACK. The test serves through a listener bound
the same way and reads the option on the server's side of a live connection.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from ort_geo.cli.serve import HTTP_PROTOCOL


async def _app(scope, receive, send):  # the smallest ASGI app: the protocol is under test
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_a_prebound_listener_still_gives_connections_tcp_nodelay():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn's
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_app, http=HTTP_PROTOCOL, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "le serveur n'a pas démarré"
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
            (connection,) = server.server_state.connections
            sock = connection.transport.get_extra_info("socket")
            assert sock.proto == 0  # the path that lost the option
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()
