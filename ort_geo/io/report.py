"""The report of a read or an import: what was found, decided, repaired and written (in French)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..store.base import WriteSummary


@dataclass
class ImportReport:
    """Everything a planner should know about one file read (and, after an import, written).

    ``messages`` is the French narrative, in order; the other attributes are the same facts as data.
    """

    source: str
    layer: str | None = None
    format: str = ""
    source_layer: str | None = None
    encoding: str | None = None
    crs: str = ""
    crs_inferred: bool = False
    features: int = 0
    repaired: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    unknown_fields: list[str] = field(default_factory=list)
    missing_fields: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    summary: WriteSummary | None = None

    def note(self, message: str) -> None:
        self.messages.append(message)

    @property
    def counts(self) -> dict[str, int]:
        out = {"lus": self.features, "réparés": len(self.repaired)}
        if self.summary is not None:
            out |= {"ajoutés": self.summary.inserted, "modifiés": self.summary.updated,
                    "supprimés": self.summary.deleted, "inchangés": self.summary.unchanged}
        return out

    def __str__(self) -> str:
        lines = [f"Fichier : {self.source} ({self.format}"
                 + (f", couche {self.source_layer}" if self.source_layer else "") + ")"]
        lines += [f"- {m}" for m in self.messages]
        if self.summary is not None:
            lines.append(f"Résultat : {self.summary}")
        return "\n".join(lines)
