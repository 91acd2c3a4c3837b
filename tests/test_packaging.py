"""Packaging as users get it: a wheel that works outside the repository (territories as package
data), one version, coherent extras and lower bounds, a quiet library that `-v` makes talk."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from click.testing import CliRunner

import ort_geo
from ort_geo.errors import EXTRAS
from ort_geo.shipped import bundled_territory
from ort_geo.territory import load_territory

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_one_version_and_coherent_extras():
    assert importlib.metadata.version("ort-geo") == ort_geo.__version__
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    # Every extra an error message names exists, and every extra is one the code knows.
    assert set(EXTRAS) == set(PYPROJECT["project"]["optional-dependencies"])
    assert (ROOT / "CHANGELOG.md").read_text(encoding="utf-8").count(ort_geo.__version__)


def test_lower_bounds_pin_every_dependency():
    sys.path.insert(0, str(ROOT / "tools"))
    from min_constraints import lower_bounds

    pins = lower_bounds(ROOT / "pyproject.toml", ("pdf",))
    names = {spec.split(">")[0].split("[")[0].split("=")[0].strip().lower()
             for spec in PYPROJECT["project"]["dependencies"]}
    assert names <= set(pins)
    assert pins["shapely"] == "2.1"  # shapely.orient_polygons


def test_library_is_verbose_on_demand(tmp_path):
    """``-v`` shows the library's INFO lines (quiet by default: the wheel's demo below)."""
    from ort_geo.cli import main

    loud = CliRunner().invoke(main, ["-v", "build", "--store", str(tmp_path / "b.gpkg")])
    assert loud.exit_code == 0, loud.output
    assert "INFO ort_geo.build : secteurs_ort : 4 objet(s)" in loud.stderr


def test_the_wheel_works_outside_the_repository(tmp_path):
    """Build the wheel, install it (without its dependencies, taken from this environment) in a
    fresh virtual environment, read the shipped territory and build ``ort-geo demo`` from a
    folder outside the tree."""
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(dist), str(ROOT)], check=True, capture_output=True,
                   timeout=300, cwd=tmp_path)
    wheel = next(dist.glob("ort_geo-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = load_territory(bundled_territory("val-d-argent"))
    for source in shipped.layers.values():
        if source.file:
            assert f"ort_geo/territories/val-d-argent/{source.file}" in names
    assert "ort_geo/territories/val-d-argent/territory.toml" in names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3.*/site-packages"))
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (site / "zz_dependances.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--no-deps", "-q", str(wheel)], check=True, capture_output=True,
                   timeout=300)
    probe = ("import ort_geo, ort_geo.territory as t, ort_geo.shipped as s; "
             "print(ort_geo.__file__); print(t.load_territory(s.bundled_territory('val-d-argent'))"
             ".siren_epci)")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120, check=True).stdout.split()
    assert out[0].startswith(str(site)) and out[1] == "246800395"
    version = subprocess.run([str(venv / "bin" / "ort-geo"), "--version"], capture_output=True,
                             text=True, cwd=tmp_path, timeout=120)
    assert version.stdout.strip() == f"ort-geo {ort_geo.__version__}"
    # The demo from the installed wheel, in a folder outside the repository (no screenshots:
    # chromium's captures are tested elsewhere and cost most of the time).
    demo = subprocess.run([str(venv / "bin" / "ort-geo"), "demo", "--out", "sortie"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600,
                          env={**os.environ, "ORT_GEO_CHROMIUM": "/nonexistent/chromium"})
    assert demo.returncode == 0 and "Traceback" not in demo.stderr, demo.stdout + demo.stderr
    assert "INFO ort_geo" not in demo.stderr  # the library is quiet unless asked (-v)
    for name in ("val-d-argent.gpkg", "carte-publique.html", "carte-travail.html",
                 "atlas-public.pdf", "tableau.html"):
        assert (tmp_path / "sortie" / name).stat().st_size > 1000, name
