"""The staff-map benchmark still runs (tiny scale; figures are printed, never asserted)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser  # skipped without chromium, failed in CI (conftest.py)


def test_staff_benchmark_runs_at_tiny_scale(capsys):
    from benchmarks.webmap_staff import main

    assert main(["--buildings", "150", "--repeats", "1", "--timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert "tuiles vectorielles PMTiles" in out and "référence GeoJSON unique" in out
