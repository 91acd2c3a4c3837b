"""Edits made outside the tool (QGIS, ogr2ogr, psql): find them in the journal and the rule
breaks they introduced.

The journal triggers (:mod:`ort_geo.store.journal_triggers`) record those edits with the author
:data:`EXTERNAL_AUTHOR`. They bypass the checks an edit through the tool gets, so ``ort-geo
validate`` says which rule breaks they brought: the rules are run again on the store with every
feature whose current state comes from an external edit put back as it was before it (the same
"errors present now and absent without the change" test as :mod:`ort_geo.editing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import rules
from .features import Feature
from .store.base import JournalEntry, Store
from .store.journal_triggers import EXTERNAL_AUTHOR
from .territory import Territory
from .timeline import patched_layer

__all__ = ["EXTERNAL_AUTHOR", "ExternalEdits", "external_edits"]


@dataclass
class ExternalEdits:
    """Features whose current state comes from edits made outside the tool."""

    #: Per feature (layer, id), its external entries since its last change by the tool.
    entries: dict[tuple[str, str], list[JournalEntry]]
    #: Rule violations present now and absent with those edits undone.
    introduced: list[rules.Violation]

    def last(self, layer: str, feature_id: str | None) -> JournalEntry | None:
        found = self.entries.get((layer, str(feature_id)))
        return found[-1] if found else None


def external_edits(store: Store, territory: Territory | None = None, *,
                   violations: Sequence[rules.Violation] | None = None) -> ExternalEdits:
    """The external edits still in force and the violations they introduced.

    ``violations`` are the store's current violations when the caller has them already.
    """
    candidates = {(e.layer, e.feature_id) for e in store.journal(author=EXTERNAL_AUTHOR)}
    pending: dict[tuple[str, str], list[JournalEntry]] = {}
    undone: dict[str, dict[str, Feature | None]] = {}
    for layer, fid in sorted(candidates):
        history = store.history(layer, fid)
        run: list[JournalEntry] = []
        for entry in reversed(history):  # the trailing run of external entries
            if entry.author != EXTERNAL_AUTHOR:
                break
            run.insert(0, entry)
        if run and not (run[0].before is None and run[-1].after is None):  # not a net no-op
            pending[(layer, fid)] = run
            undone.setdefault(layer, {})[fid] = run[0].before
    if not pending:
        return ExternalEdits({}, [])
    now = list(violations) if violations is not None else rules.validate(store, territory)
    overrides = {layer: patched_layer(store, layer, states, None) for layer, states in undone.items()}
    before = set(rules.validate(store, territory, overrides=overrides))
    return ExternalEdits(pending, [v for v in now if v not in before])
