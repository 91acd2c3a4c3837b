"""Pin every dependency of pyproject.toml to its lower bound (``pip install --constraint``).

``make test-min`` installs the project with these pins and runs a fast subset of the tests, so
that the lower bounds the project declares are ones it really works with.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_LOWER = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(?:>=|==)\s*([0-9][^,;\s]*)")


def lower_bounds(pyproject: Path, extras: tuple[str, ...] = ()) -> dict[str, str]:
    """Package name -> lower bound, for the dependencies and the named extras."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in extras:
        specs += project.get("optional-dependencies", {}).get(extra, [])
    pins: dict[str, str] = {}
    for spec in specs:
        match = _LOWER.match(spec)
        if match and not match.group(1).startswith("ort-geo"):
            pins[match.group(1).lower()] = match.group(3)
    return pins


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    pins = lower_bounds(root / "pyproject.toml", tuple(argv[1:]))
    sys.stdout.write("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
