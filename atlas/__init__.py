"""The printed atlas (annexe 2 of the convention) as a PDF: a thin adapter over ort_geo.

:func:`build_atlas` lays out the :class:`~ort_geo.atlas_plan.AtlasPlan` of a store with
matplotlib: vector maps, selectable text in embedded DejaVu Sans (French accents), and the same
bytes for the same store (all dates come from the plan, itself derived from the store or
SOURCE_DATE_EPOCH). matplotlib belongs to the ``pdf`` extra and is imported lazily.
"""

from __future__ import annotations

from .build import AtlasResult, build_atlas, page_png

__all__ = ["AtlasResult", "build_atlas", "page_png"]
