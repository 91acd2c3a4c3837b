"""Run a peer's ASGI app (the API benchmark's baselines) the way ``ort-geo serve`` runs its own:
uvicorn, N worker processes, Nagle's algorithm off on every connection (``api.transport``).

uvicorn's own ``--workers`` mode leaves Nagle on (uvicorn issue #3149), which adds ~40 ms to every
keep-alive response; a peer left with it would be measured against an ort-geo without it.

    python -m benchmarks.peer_server APP PORT [WORKERS]     # APP: "module:attribute"
"""

from __future__ import annotations

import sys


def serve(app: str, port: int, workers: int = 1) -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, workers=workers, log_level="warning",
                http="api.transport:NoDelayH11Protocol")


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
