"""Benchmarks of ort-geo: run them with ``make bench`` or ``python -m benchmarks``."""
