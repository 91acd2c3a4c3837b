"""``python -m benchmarks.programme``: what the follow-up documents cost, on the user's path.

Each command runs as a CLI process on the demo store (built once with its seeded three-year
history), best of ``--repeat``, against a baseline document of the same store measured in the same
run: the tableau de bord (``ort-geo tableau-de-bord``) against the residents' web map
(``ort-geo map --public``), the bilan annuel (``ort-geo bilan``) against the public atlas
(``ort-geo atlas``), and the statistics at a date (``ort-geo stats --au``) against today's
(``ort-geo stats``).

    python -m benchmarks.programme
    python -m benchmarks.programme --store out/val-d-argent.gpkg --repeat 3
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(args: list[str], repeat: int) -> float:
    exe = str(Path(sys.executable).with_name("ort-geo"))
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([exe, *args], check=True, capture_output=True)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.programme")
    parser.add_argument("--store", type=Path, default=None,
                        help="a demo store already built (default: built in a temporary folder)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = args.store
        if store is None:
            from ort_geo.build import build_territory

            store = folder / "val-d-argent.gpkg"
            build_territory(Path(__file__).resolve().parents[1] / "layers" / "val-d-argent",
                            store).close()
        s = ["--store", str(store)]
        pairs = [
            ("tableau de bord", ["tableau-de-bord", "-o", str(folder / "t.html"), *s],
             "carte publique", ["map", "--public", "--fond", "aucun", "-o",
                                str(folder / "c.html"), *s]),
            ("bilan annuel 2025", ["bilan", "--annee", "2025", "-o", str(folder / "b.pdf"), *s],
             "atlas public", ["atlas", "-o", str(folder / "a.pdf"), *s]),
            ("stats --au 2024-12-31", ["stats", "secteurs_ort", "--au", "2024-12-31", *s],
             "stats (aujourd'hui)", ["stats", "secteurs_ort", *s]),
        ]
        print(f"{'commande':<24}{'s':>8}   {'référence':<22}{'s':>8}   rapport")
        for label, cmd, base_label, base in pairs:
            ours, theirs = _run(cmd, args.repeat), _run(base, args.repeat)
            print(f"{label:<24}{ours:>8.2f}   {base_label:<22}{theirs:>8.2f}   "
                  f"×{ours / theirs:.2f}", flush=True)


if __name__ == "__main__":
    main()
