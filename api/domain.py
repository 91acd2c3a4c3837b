"""Domain endpoints: statistics per sector and buildings within a perimeter."""

from __future__ import annotations

from fastapi import APIRouter


def router() -> APIRouter:
    r = APIRouter()
    return r
