"""A generated building store served by ``ort-geo serve``, for the benchmarks that need a live
server on loopback (``benchmarks.light_routes``): 24 km of Alsace, buildings clustered in towns."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer

# A 24 km square of Alsace (Lambert-93), buildings clustered in towns.
X0, Y0, SIDE = 1_000_000.0, 6_790_000.0, 24_000.0
TO_LONLAT = Transformer.from_crs(2154, 4326, always_xy=True)


def build_store(path: Path, n_buildings: int, seed: int = 7) -> Path:
    """An ort-geo store with ``n_buildings`` generated buildings (written through the store)."""
    from ort_geo import auth, open_store

    done = path.with_suffix(".key")
    if path.exists() and done.exists():
        return path
    path.unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    towns = rng.uniform([X0 + 2000, Y0 + 2000], [X0 + SIDE - 2000, Y0 + SIDE - 2000], (40, 2))
    which = rng.integers(0, len(towns), n_buildings)
    xy = towns[which] + rng.normal(0, 700, (n_buildings, 2))
    xy = np.clip(xy, [X0, Y0], [X0 + SIDE, Y0 + SIDE])
    w, h = rng.uniform(8, 20, n_buildings), rng.uniform(8, 16, n_buildings)
    geoms = shapely.box(xy[:, 0], xy[:, 1], xy[:, 0] + w, xy[:, 1] + h)
    vacants = np.where(rng.random(n_buildings) < 0.2, rng.integers(1, 4, n_buildings), 0)
    frame = gpd.GeoDataFrame({
        "id": [f"b{i:08d}" for i in range(n_buildings)],
        "code_insee": "68298",
        "annee_construction": rng.integers(1700, 2024, n_buildings),
        "nb_logements": rng.integers(1, 12, n_buildings),
        "nb_logements_vacants": vacants,
        "etat": rng.choice(["bon", "moyen", "degrade", "tres_degrade"], n_buildings),
        "usage": "Résidentiel", "demo": True, "source": "benchmark",
    }, geometry=geoms, crs="EPSG:2154")
    store = open_store(path, create=True)
    store.write("batiments", frame, author="benchmark")
    done.write_text(auth.create_key(store, "benchmark", "staff"))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



class Server:
    """A server process on a free loopback port, stopped on exit."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict[str, str] | None = None):
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(argv, env={**os.environ, **(env or {})},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self, path: str, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + path, timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"{self.name} n'a pas démarré :\n{err[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


