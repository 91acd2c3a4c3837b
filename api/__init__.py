"""ort-geo's HTTP API: OGC API – Features, statistics, perimeter queries and editing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy: `api.transport` (uvicorn's protocol) is imported by each server worker, and by the
    # API benchmark's peer servers, whose environments have uvicorn but not ort-geo's stack.
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'api' has no attribute {name!r}")
