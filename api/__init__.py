"""ort-geo's HTTP API: OGC API – Features, statistics, perimeter queries and editing."""

from .app import create_app

__all__ = ["create_app"]
