"""A newcomer's bare machine: optional system tools and extras degrade with one French line
(issue 11, point 1). CI has chromium and poppler, so the bare path is exercised here on purpose:
``ORT_GEO_CHROMIUM`` and PATH point nowhere."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

from ort_geo import clock
from ort_geo.errors import (
    EXTRAS,
    TOOLS,
    MissingExtraError,
    MissingToolError,
    OrtGeoError,
    install_command,
    require_module,
    require_tool,
)

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for d in ("ort_geo", "api", "atlas", "benchmarks") for p in (ROOT / d).rglob("*.py")]
BIN = Path(sys.executable).parent


def test_missing_extra_error_refuses_misuse():
    err = MissingExtraError("pdf", "matplotlib")
    assert isinstance(err, ImportError) and isinstance(err, OrtGeoError)
    assert str(err) == ("Le module « matplotlib » manque : installez l'extra avec "
                        "pip install 'ort-geo[pdf]'.")
    # The misuses of issue 11: a sentence as the extra, an extra that does not exist.
    for args in (("playwright manque : pip install 'ort-geo[browser]'.",),
                 ("Chromium est introuvable (apt-get install chromium).", "chromium"),
                 ("dem", "rasterio")):
        with pytest.raises(TypeError):
            MissingExtraError(*args)
    with pytest.raises(TypeError):
        MissingToolError("chromium-browser")


def test_extras_are_the_projects():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert set(EXTRAS) == set(extras)


def test_helpers():
    with pytest.raises(MissingExtraError, match=r"ort-geo\[pdf\]") as info:
        require_module("ort_geo_module_absent.sub", "pdf")
    assert info.value.module == "ort_geo_module_absent"
    assert require_module("json", "pdf").dumps([]) == "[]"
    with pytest.raises(MissingToolError, match="apt-get install poppler-utils") as tool:
        require_tool("pdftoppm", "/nonexistent/pdftoppm")
    assert "aperçus PNG" in str(tool.value) and isinstance(tool.value, OrtGeoError)
    assert require_tool("chromium", sys.executable) == sys.executable  # any executable file
    # The install command says sudo unless the user is root.
    for uid, command in ((0, "apt-get install chromium"), (1000, "sudo apt-get install chromium")):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(os, "geteuid", lambda uid=uid: uid)
            assert install_command("chromium") == command
            assert str(MissingToolError("chromium")).endswith(f"pour l'installer : {command}")


def _calls(tree: ast.AST, names: set[str]):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in names:
                yield name, node


def test_every_optional_import_goes_through_the_helpers():
    """Misuse cannot come back: no module but errors.py builds these errors itself, and every
    helper call names a real extra or tool, as literals."""
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(ROOT)
        if path.name != "errors.py":
            built = [n.lineno for _, n in _calls(tree, {"MissingExtraError", "MissingToolError"})]
            assert not built, f"{where}:{built} : utilisez require_module / require_tool"
        for name, node in _calls(tree, {"require_module", "require_tool"}):
            if path.name == "errors.py":
                continue
            literals = [a.value for a in node.args if isinstance(a, ast.Constant)]
            assert literals and len(literals) == len(node.args[:2 if name == "require_module"
                                                                else 1]), (where, node.lineno)
            if name == "require_module":
                module, extra = literals
                assert extra in EXTRAS, (where, node.lineno, extra)
                assert " " not in module
            else:
                assert literals[0] in TOOLS, (where, node.lineno)


def _bare_env(home: Path) -> dict[str, str]:
    """No chromium, no poppler: PATH holds only the virtualenv, chromium points nowhere."""
    return {"PATH": str(BIN), "HOME": str(home), "LANG": "C.UTF-8",
            "ORT_GEO_CHROMIUM": "/nonexistent/chromium", "MPLCONFIGDIR": str(home / "mpl"),
            "COLUMNS": "200"}


def test_demo_completes_without_optional_tools():
    """``make demo``'s command on a bare machine: store, both maps and the atlas; captures and PNG
    pages skipped, one French line each with the install command; no traceback.

    When the suite runs as root (as CI does), the demo runs as ``nobody`` (uid/gid 65534, no
    group): it may write only its output folder and its HOME — a cache or a file written under
    the repository would fail with a traceback — and the install commands say ``sudo``. One
    bare demo is both cases (the root wording of the install command: ``test_helpers``)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        _bare_demo([], sudo=True)
        return
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) introuvable : impossible de changer d'utilisateur")
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run([*prefix, str(BIN / "ort-geo"), "--help"], capture_output=True,
                           env={"PATH": str(BIN), "LANG": "C.UTF-8"}, cwd="/")
    if probe.returncode != 0:
        # This virtualenv's interpreter lies where nobody may not read (a Python built under
        # /root): grant reading and directory search only (CAP_DAC_READ_SEARCH), never
        # writing, which is what this test is about.
        prefix += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    _bare_demo(prefix, sudo=True, owner=65534)


def _bare_demo(prefix: list[str], *, sudo: bool, owner: int | None = None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ort-geo-bare-"))
    try:
        if owner is not None:
            os.chown(folder, owner, owner)
        done = subprocess.run([*prefix, str(BIN / "ort-geo"), "demo", "--out",
                               str(folder / "out")], env=_bare_env(folder), capture_output=True,
                              text=True, timeout=600, cwd=ROOT)
        text = done.stdout + done.stderr
        assert done.returncode == 0, text
        assert "Traceback" not in text
        out = folder / "out"
        for name in ("val-d-argent.gpkg", "carte-publique.html", "carte-travail.html",
                     "atlas-public.pdf"):
            assert (out / name).stat().st_size > 1000, name
        if owner is not None:
            assert (out / "val-d-argent.gpkg").stat().st_uid == owner
        assert not list(out.glob("*.png"))
        skipped = [line for line in text.splitlines() if line.startswith("Omis :")]
        assert len(skipped) == 2, text
        # each line names every file its missing tool left out (the dashboard's and the
        # bilan's PNGs too, not only the first output that needed the tool)
        assert skipped[0].startswith("Omis : carte-publique.png, carte-travail.png et "
                                     "tableau.png — chromium est introuvable"), skipped[0]
        sudo_ = "sudo " if sudo else ""
        assert f"pour l'installer : {sudo_}apt-get install chromium" in skipped[0], skipped[0]
        year = clock.today().year - 1
        assert skipped[1].startswith(f"Omis : atlas-public-secteur-1.png et bilan-{year}-page-"
                                     "*.png — pdftoppm est introuvable"), skipped[1]
        assert f"pour l'installer : {sudo_}apt-get install poppler-utils" in skipped[1]
        assert (out / "tableau.html").is_file() and list(out.glob(f"bilan-{year}.pdf"))
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_map_capture_without_chromium(demo_store_path, tmp_path):
    env = {**os.environ, **_bare_env(tmp_path)}
    html, png = tmp_path / "carte.html", tmp_path / "carte.png"
    done = subprocess.run([str(BIN / "ort-geo"), "map", "-o", str(html), "--capture", str(png),
                           "--store", str(demo_store_path)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert html.stat().st_size > 1000 and not png.exists()
    assert "Omis : chromium est introuvable" in done.stdout
    assert "Traceback" not in done.stderr


def test_dashboard_capture_without_chromium(demo_store_path, tmp_path):
    """Like the map: the dashboard is written, its PNG left out with one line, exit 0."""
    env = {**os.environ, **_bare_env(tmp_path)}
    html, png = tmp_path / "tableau.html", tmp_path / "tableau.png"
    done = subprocess.run([str(BIN / "ort-geo"), "tableau-de-bord", "-o", str(html), "--capture",
                           str(png), "--store", str(demo_store_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert html.stat().st_size > 1000 and not png.exists()
    assert "Omis : chromium est introuvable" in done.stdout and "tableau de bord" in done.stdout
    assert "Traceback" not in done.stderr


def test_page_png_without_poppler(monkeypatch, tmp_path):
    from atlas import page_png

    monkeypatch.setenv("PATH", str(BIN))
    with pytest.raises(MissingToolError, match="poppler-utils"):
        page_png(tmp_path / "x.pdf", 1, tmp_path / "x.png")


def test_author_of_a_user_without_a_name(monkeypatch):
    """Containers and CI runners often run under a numeric uid absent from /etc/passwd."""
    import pwd

    from ort_geo.cli._common import current_user

    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)

    def no_name(uid):
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_name)
    assert current_user() == "inconnu"
