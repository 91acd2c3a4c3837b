"""The statistics benchmark runs end to end at a tiny scale and all methods agree (no timing)."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_runs_and_methods_agree(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks.__main__ import main

    methods = ["ort_geo", "geopandas"]
    if importlib.util.find_spec("duckdb_extension_spatial"):
        methods.append("duckdb")
    code = main(["--buildings", "30000", "--sectors", "60", "--repeat", "1",
                 "--data", str(tmp_path), "--methods", *methods])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "counts yes" in out and "NO" not in out
    assert "ort_geo vs geopandas" in out


def test_every_benchmark_module_imports(monkeypatch):
    """A benchmark broken by a change elsewhere (a helper moved or renamed) fails here, not on the
    day someone needs its figures."""
    monkeypatch.syspath_prepend(str(ROOT))
    names = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "__init__")
    assert "light_routes" in names
    for name in names:
        try:
            importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:  # a peer's own package (pygeoapi's venv), not ours
            if (exc.name or "").split(".")[0] in {"benchmarks", "ort_geo", "api", "atlas"}:
                raise
