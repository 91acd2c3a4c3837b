"""Territory manifests: who the territory is and where each of its layers comes from.

A manifest lives in ``layers/<territory>/territory.toml`` and is validated on load. The territories
of the source tree ship inside the package (``ort_geo/territories`` is package data, a link to
``layers/`` in a checkout), so an installed ort-geo builds them without the repository.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .catalogue import CATALOGUE
from .errors import InputError
from .followup_spec import DemoHistory, IndicatorSpec

INSEE = r"^(\d{5}|2[AB]\d{3})$"


class Signatory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    organisation: str
    representant: str = ""
    qualite: str = ""


class Convention(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    titre: str
    reference: str = ""
    date_signature: str = ""
    signataires: tuple[Signatory, ...] = ()


class LayerSource(BaseModel):
    """Where a layer comes from: a file beside the manifest, or a named builder."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    file: str | None = None
    builder: str | None = None
    indicatif: bool = False
    note: str = ""
    credit: str = ""


class StrataSettings(BaseModel):
    """How the three strata are derived (see ``ort_geo.strata``).

    ``distance``: bands of distance (m) from the valley axis, a line file beside the manifest.
    ``altitude``: bands of altitude (m) read from a DEM given at build time (``--dem``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    axe: str = "axe_vallee.geojson"
    distances: tuple[float, float] = (300.0, 420.0)
    altitudes: tuple[float, float] = (300.0, 420.0)

    @field_validator("distances", "altitudes")
    @classmethod
    def _increasing(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] < value[1]:
            raise ValueError(f"seuils croissants et positifs attendus : {value}")
        return value


class Territory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9-]+$")
    title: str
    departement: str
    siren_epci: str = Field(pattern=r"^\d{9}$")
    main_town: str = Field(pattern=INSEE)
    communes: tuple[str, ...]
    convention: Convention | None = None
    layers: dict[str, LayerSource] = {}
    strates: StrataSettings = StrataSettings()
    demo_seed: int = 2154
    #: Article 8 indicators and the demonstration history (ort_geo.followup_spec).
    indicateurs: tuple[IndicatorSpec, ...] = ()
    historique_demo: DemoHistory | None = None
    directory: Path | None = Field(default=None, exclude=True)

    @field_validator("communes")
    @classmethod
    def _communes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import re

        bad = [c for c in value if not re.match(INSEE, c)]
        if bad or not value:
            raise ValueError(f"codes INSEE invalides : {bad}")
        return value

    @field_validator("layers")
    @classmethod
    def _known_layers(cls, value: dict[str, LayerSource]) -> dict[str, LayerSource]:
        unknown = [name for name in value if name not in CATALOGUE]
        if unknown:
            raise ValueError(f"couches inconnues du catalogue : {unknown}")
        return value

    @model_validator(mode="after")
    def _main_town_is_member(self) -> Territory:
        if self.main_town not in self.communes:
            raise ValueError(f"la ville principale {self.main_town} n'est pas membre de l'EPCI")
        return self


def bundled_territory(name: str) -> Path:
    """The folder of a territory shipped with ort-geo (package data, read through
    :mod:`importlib.resources`), e.g. ``bundled_territory("val-d-argent")``."""
    return Path(str(files("ort_geo") / "territories" / name))


def load_territory(path: str | Path) -> Territory:
    """Load and validate ``territory.toml`` (``path`` is the file or its directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / "territory.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"Manifeste de territoire introuvable : {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"Manifeste de territoire illisible ({path}) : {exc}") from None
    try:
        territory = Territory(**data)
    except ValidationError as exc:
        raise InputError(f"Manifeste de territoire invalide ({path}) :\n{exc}") from None
    return territory.model_copy(update={"directory": path.parent})
