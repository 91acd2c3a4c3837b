"""Territory manifests: who the territory is, its convention, and where each layer comes from.

A manifest lives in ``layers/<territory>/territory.toml`` (or is written by ``ort-geo init --pvd``)
and is validated on load. Everything that differs from one territory to another is here, not in
the code: the EPCI and its communes, the main town, the convention (title, reference,
signatories), its strategic orientations (any number, with titles and colours), how the strata
are derived and named, the street names of demo data. A store records the manifest it was built
from; :func:`manifest_of` and :func:`orientations_of` read it back for every output.
The territories of the source tree ship inside the package (``ort_geo/territories`` is package
data, a link to ``layers/`` in a checkout), so an installed ort-geo builds them without the
repository.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .catalogue import CATALOGUE
from .crs import territory_epsg
from .errors import InputError, validation_message
from .followup_spec import DemoHistory, IndicatorSpec

INSEE = r"^(\d{5}|2[AB]\d{3})$"
#: Colours of orientations a manifest gives none for (a qualitative palette, in order).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
#: Default names of the three strata (a manifest names its own, e.g. "Ligne de vie").
STRATA_LABELS = {"ligne_de_vie": "Strate basse", "terrasses": "Strate intermédiaire",
                 "hauts": "Strate haute"}


class Orientation(BaseModel):
    """One strategic orientation of the convention (article 2 of a PVD convention)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    numero: int = Field(ge=1)
    titre: str
    couleur: str = Field(default="", pattern=r"^(#[0-9a-fA-F]{6})?$")


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

    ``methode``: ``auto`` (altitude bands when a DEM is given, else distance bands when an axis
    is, else none), ``distance``, ``altitude`` or ``aucune``.
    ``axe``: a line file beside the manifest (the valley axis) for distance bands;
    ``axe_libelle`` says what it is, in the layer's source. ``distances`` and ``altitudes`` are
    the two thresholds (m); ``libelles`` names the three strata.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    methode: Literal["auto", "distance", "altitude", "aucune"] = "auto"
    axe: str | None = None
    axe_libelle: str = "axe de la vallée"
    distances: tuple[float, float] = (300.0, 420.0)
    altitudes: tuple[float, float] = (300.0, 420.0)
    libelles: dict[str, str] = STRATA_LABELS

    @field_validator("libelles")
    @classmethod
    def _three_strata(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(STRATA_LABELS)
        if unknown:
            raise ValueError(f"strates inconnues : {sorted(unknown)} (attendues : "
                             f"{', '.join(STRATA_LABELS)})")
        return {**STRATA_LABELS, **value}

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
    #: The PVD town's id in the national list (e.g. "pvd-11-78-1"), when known.
    id_pvd: str = ""
    convention: Convention | None = None
    orientations: tuple[Orientation, ...] = ()
    layers: dict[str, LayerSource] = {}
    strates: StrataSettings = StrataSettings()
    demo_seed: int = 2154
    #: Street names of generated demo data, per commune (INSEE code); generic names elsewhere.
    demo_rues: dict[str, tuple[str, ...]] = {}
    #: Article 8 indicators and the demonstration history (ort_geo.followup_spec).
    indicateurs: tuple[IndicatorSpec, ...] = ()
    historique_demo: DemoHistory | None = None
    directory: Path | None = Field(default=None, exclude=True)

    @property
    def epsg(self) -> int:
        """The territory's official projected CRS (that of its main town's département)."""
        return territory_epsg(self.main_town)

    def orientation_styles(self) -> dict[int, tuple[str, str]]:
        """Orientation number -> (title, colour), colours from the palette where none is given."""
        return {o.numero: (o.titre, o.couleur or PALETTE[i % len(PALETTE)])
                for i, o in enumerate(sorted(self.orientations, key=lambda o: o.numero))}

    @field_validator("orientations")
    @classmethod
    def _unique_orientations(cls, value: tuple[Orientation, ...]) -> tuple[Orientation, ...]:
        numbers = [o.numero for o in value]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"numéros d'orientation en double : {numbers}")
        return value

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
        # tomllib says where in English: "(at line 3, column 7)" or "(at end of document)".
        at = re.search(r"at line (\d+), column (\d+)", str(exc))
        where = f"ligne {at[1]}, colonne {at[2]}" if at else "en fin de fichier"
        raise InputError(f"Manifeste de territoire illisible ({path}) : syntaxe TOML invalide "
                         f"{where}.") from None
    try:
        territory = Territory(**data)
    except ValidationError as exc:
        problems = "\n".join(f"- {validation_message(e, 'manifeste')}" for e in exc.errors())
        raise InputError(f"Manifeste de territoire invalide ({path}) :\n{problems}") from None
    return territory.model_copy(update={"directory": path.parent})


class _MetaReader(Protocol):
    def get_meta(self, scope: str) -> dict[str, str]: ...


def manifest_of(store: _MetaReader) -> Territory | None:
    """The manifest a store records (``ort-geo build`` and ``ort-geo init`` write it), if any."""
    text = store.get_meta("territory").get("manifest")
    if not text:
        return None
    try:
        return Territory.model_validate_json(text)
    except ValueError:  # a manifest from an incompatible version: outputs fall back to defaults
        return None


def orientations_of(store: Any, territory: Territory | None = None) -> dict[int, tuple[str, str]]:
    """Orientation number -> (title, colour) for a store: the manifest's orientations, plus any
    number its actions use that the manifest does not declare ("Orientation k")."""
    territory = territory or manifest_of(store)
    styles = territory.orientation_styles() if territory is not None else {}
    # Columns only (no geometry decoded): the distinct numbers of every batch.
    used: set[int] = set()
    for batch in store.iter_points("actions", ["orientation"]):
        used.update(int(v) for v in batch["orientation"].dropna().unique())
    for number in sorted(used - set(styles)):
        styles[number] = (f"Orientation {number}", PALETTE[(number - 1) % len(PALETTE)])
    return dict(sorted(styles.items()))


def strata_labels(store: _MetaReader) -> dict[str, str]:
    """The names of the three strata in a store's manifest (defaults otherwise)."""
    territory = manifest_of(store)
    return dict(territory.strates.libelles if territory is not None else STRATA_LABELS)


def manifest_toml(territory: Territory) -> str:
    """The manifest as ``territory.toml`` text (what ``ort-geo init --pvd`` writes)."""
    data = territory.model_dump(mode="json", exclude_defaults=False)
    return _toml(data)


def _toml(data: dict[str, Any]) -> str:
    """A minimal TOML writer for manifests: scalars and arrays first, then tables."""
    lines: list[str] = []

    def emit(prefix: str, table: dict[str, Any]) -> None:
        subtables = []
        for key, value in table.items():
            if value is None:
                continue
            if isinstance(value, dict) and not _inline(value):
                subtables.append((f"{prefix}.{key}" if prefix else key, value))
            else:
                lines.append(f"{_key(key)} = {_value(value)}")
        for name, sub in subtables:
            lines.append("")
            lines.append(f"[{name}]")
            emit(name, sub)

    emit("", data)
    return "\n".join(lines).strip() + "\n"


def _inline(value: dict[str, Any]) -> bool:
    return not value or all(not isinstance(v, dict) for v in value.values()) and all(
        isinstance(v, str) for v in value.values())


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else \
        json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, dict) for v in value):
            return "[\n" + ",\n".join(f"  {_value(v)}" for v in value) + ",\n]"
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"valeur TOML non prise en charge : {value!r}")
