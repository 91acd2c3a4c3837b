"""The statistics benchmark runs end to end at a tiny scale and all methods agree (no timing)."""

from __future__ import annotations

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
