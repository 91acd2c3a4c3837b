"""Domain endpoints: statistics per zone and buildings within a sector or a posted perimeter.

Same engines as the CLI (:func:`ort_geo.stats.sector_stats`, :func:`ort_geo.query.buildings_within`).
Without a staff key, statistics are masked (statistical secrecy) and buildings carry public fields
only; filters on restricted fields (vacancy, condition) are refused by the library.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import geopandas as gpd
import shapely
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ort_geo import auth, geomcheck
from ort_geo.catalogue import CATALOGUE, LayerSpec
from ort_geo.clock import FIRST_YEAR, LAST_YEAR
from ort_geo.errors import FeatureNotFoundError, FormatError, InputError
from ort_geo.io import check_unzipped, read_vector
from ort_geo.io.write import csv_fr
from ort_geo.perimeter import polygon_layers
from ort_geo.query import buildings_within, export_buildings
from ort_geo.stats import labelled, sector_stats, stats_at, stats_between, stats_records
from ort_geo.store import open_store
from ort_geo.store.base import Store

from . import geojson, offload
from .deps import GEOJSON, Caller, check_format, check_known

T = TypeVar("T")
MAX_UPLOAD = 50 * 1024 * 1024
#: Perimeter files accepted as uploads (any format ``ort-geo import`` reads).
UPLOAD_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".kml", ".fgb", ".csv", ".gml")
QUERY_FORMATS = ("json", "csv", "gpkg")
_MEDIA = {"csv": "text/csv; charset=utf-8", "gpkg": "application/geopackage+sqlite3"}
# Zone layers depend on the catalogue only (a class attribute of every store).
_POLYGON_LAYERS = [CATALOGUE[name] for name in polygon_layers(Store)]  # type: ignore[arg-type]


class BuildingFilters:
    """The query filters, named as the CLI's options (``ort-geo query``)."""

    NAMES = {"vacant", "vacance_longue", "etat", "permis_de_louer", "construit_apres",
             "construit_avant", "annee", "f", "crs"}

    def __init__(
        self,
        request: Request,
        vacant: Annotated[bool | None, Query(description="Au moins un logement vacant "
                                             "(agents habilités)")] = None,
        vacance_longue: Annotated[bool | None, Query(description="Vacance de deux ans ou plus "
                                                     "(agents habilités)")] = None,
        etat: Annotated[list[str] | None, Query(description="État du bâti, répétable : bon, "
                                                "moyen, degrade, tres_degrade, degrades "
                                                "(agents habilités)")] = None,
        permis_de_louer: Annotated[bool | None, Query(description="Dans une zone de permis de "
                                                      "louer")] = None,
        construit_apres: Annotated[int | None, Query(ge=1000, le=2100,
                                                     description="Construit en ou après")] = None,
        construit_avant: Annotated[int | None, Query(ge=1000, le=2100,
                                                     description="Construit en ou avant")] = None,
        annee: Annotated[int | None, Query(ge=FIRST_YEAR, le=LAST_YEAR,
                                           description="Année de référence")] = None,
        f: Annotated[str | None, Query(description="Format : json (GeoJSON), csv, gpkg")] = None,
        crs: Annotated[str | None, Query(description="SCR du GeoJSON rendu")] = None,
    ) -> None:
        self.kwargs: dict[str, Any] = {"vacant": vacant, "long_term_vacant": vacance_longue, "etat": etat,
                       "permis_de_louer": permis_de_louer, "built_from": construit_apres,
                       "built_to": construit_avant, "reference_year": annee}
        self.fmt = check_format(f, QUERY_FORMATS)
        self.crs = geojson.parse_crs(crs, storage=request.app.state.store.epsg)


def _buildings_response(frame: gpd.GeoDataFrame, filters: BuildingFilters) -> Response:
    if filters.fmt == "json":
        fields = [c for c in frame.columns if c != frame.geometry.name]
        body = geojson.feature_collection(
            geojson.features_json(frame, "id", fields, filters.crs),
            {"numberMatched": len(frame), "numberReturned": len(frame),
             # buildings left aside because a filtered field is unknown (never counted as 0)
             **({"inconnus": frame.attrs["inconnus"]} if frame.attrs.get("inconnus") else {})})
        return Response(body, media_type=GEOJSON, headers={"Content-Crs": filters.crs.header})
    with tempfile.TemporaryDirectory(prefix="ort-geo-api-") as tmp:
        path = export_buildings(frame, Path(tmp) / f"batiments.{filters.fmt}", filters.fmt)
        data = path.read_bytes()
    return Response(data, media_type=_MEDIA[filters.fmt], headers={
        "Content-Disposition": f'attachment; filename="batiments.{filters.fmt}"'})


def _stats_response(frame, fmt: str) -> Response:
    if fmt == "csv":
        text = csv_fr(labelled(frame))
        return Response(("\ufeff" + text).encode(), media_type=_MEDIA["csv"],
                        headers={"Content-Disposition": 'attachment; filename="statistiques.csv"'})
    body = {"couche": frame.attrs.get("layer"), "annee_reference": frame.attrs.get("reference_year"),
            **({"au": frame.attrs["au"]} if "au" in frame.attrs else {}),
            "secret_statistique": bool(frame.attrs.get("public")),
            "statistiques": stats_records(frame)}
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")


async def _source(request: Request) -> bytes | Path:
    """The posted perimeter, read but not parsed: GeoJSON bytes, or the path of an uploaded
    file (field ``fichier``) saved in a temporary directory under a fixed name (only its suffix
    comes from the client); the caller deletes it (:func:`_cleanup`)."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        try:  # the upload's spooled temporary file is closed here, not by the collector
            upload = form.get("fichier")
            if not isinstance(upload, UploadFile):
                raise InputError("Envoyez le périmètre dans le champ de fichier « fichier ».")
            suffix = Path(upload.filename or "").suffix.lower()
            if suffix not in UPLOAD_SUFFIXES:
                raise FormatError(f"Fichier « {upload.filename} » : format de périmètre non "
                                  f"reconnu (admis : {', '.join(UPLOAD_SUFFIXES)} ; Shapefile "
                                  "en .zip).")
            data = await upload.read(MAX_UPLOAD + 1)
        finally:
            await form.close()
        if len(data) > MAX_UPLOAD:
            raise InputError("Fichier de périmètre trop volumineux (50 Mo au plus).")
        folder = Path(tempfile.mkdtemp(prefix="ort-geo-perimetre-"))
        path = folder / f"perimetre{suffix}"
        path.write_bytes(data)
        return path
    body = await request.body()
    if len(body) > MAX_UPLOAD:
        raise InputError("Périmètre trop volumineux (50 Mo au plus).")
    if not body.strip():
        raise InputError("Corps vide : envoyez un GeoJSON (géométrie, Feature ou "
                         "FeatureCollection) ou un fichier en multipart (« fichier »).")
    return body


#: Bytes an uploaded .zip may hold once uncompressed: no more than a file sent as it is (a
#: small archive of zeros would otherwise expand to gigabytes in the server's memory).
MAX_UNZIPPED = MAX_UPLOAD


def _resolve(source: bytes | Path, crs: geojson.ApiCRS, epsg: int) -> gpd.GeoDataFrame:
    """The perimeter (checked, within the request's vertex budget) in the store's CRS."""
    if isinstance(source, Path):
        if source.suffix == ".zip":
            check_unzipped(source, MAX_UNZIPPED)
        frame, _report = read_vector(source)
        geomcheck.VertexBudget(geomcheck.MAX_REQUEST_VERTICES).spend(
            int(shapely.get_num_coordinates(frame.geometry.to_numpy()).sum()),
            f"Fichier « {source.name} »")
        return frame
    geom = geojson.parse_perimeter(geomcheck.load_json(source, "Périmètre GeoJSON"), crs,
                                   storage=epsg)
    return gpd.GeoDataFrame({"id": ["perimetre"]}, geometry=[geom], crs=f"EPSG:{epsg}")


_STORES: dict[str, Store] = {}


def _store(store: Store | str) -> Store:
    """The store itself in the server, or opened once per worker process from its URL."""
    if isinstance(store, Store):
        return store
    if store not in _STORES:
        _STORES[store] = open_store(store)
    return _STORES[store]


def stats_job(store: Store | str, source: bytes | Path, crs: geojson.ApiCRS,
              reference_year: int | None) -> Any:
    """Statistics of a posted perimeter: parse, check, join (a geometry pool job)."""
    st = _store(store)
    return sector_stats(st, None, perimeter=_resolve(source, crs, st.epsg),
                        reference_year=reference_year)


def buildings_job(store: Store | str, source: bytes | Path, crs: geojson.ApiCRS, public: bool,
                  filters: dict[str, Any]) -> gpd.GeoDataFrame:
    """Buildings within a posted perimeter: parse, check, join (a geometry pool job)."""
    st = _store(store)
    return buildings_within(st, _resolve(source, crs, st.epsg), public=public, **filters)


async def _perimeter_job(request: Request, job: Callable[..., T], *args: Any) -> T:
    """Run ``job(store, source, crs, *args)`` on the posted perimeter: in a thread for a small
    body, in the geometry pool (:mod:`api.offload`) for a heavy one — whose slot is taken before
    the body is read, so a saturated server refuses it (503) without buffering it."""
    store = request.app.state.store
    crs = geojson.parse_crs(request.headers.get("content-crs"), "Content-Crs", storage=store.epsg)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) <= offload.SMALL_BODY:
        return await _in_thread(request, job, crs, args)
    async with request.app.state.geometry_pool.slot() as work:
        source = await _source(request)
        try:
            size = source.stat().st_size if isinstance(source, Path) else len(source)
            if size <= offload.SMALL_BODY:
                return await run_in_threadpool(job, store, source, crs, *args)
            return await work.run(job, store.url, source, crs, *args)
        finally:
            _cleanup(source)


async def _in_thread(request: Request, job: Callable[..., T], crs: geojson.ApiCRS,
                     args: tuple) -> T:
    source = await _source(request)
    try:
        return await run_in_threadpool(job, request.app.state.store, source, crs, *args)
    finally:
        _cleanup(source)


def _cleanup(source: bytes | Path) -> None:
    """Delete an uploaded perimeter's temporary folder (a body needs nothing)."""
    if isinstance(source, Path):
        for child in source.parent.iterdir():
            child.unlink()
        source.parent.rmdir()


_PERIMETER_BODY = {
    "requestBody": {
        "required": True,
        "description": "Le périmètre : GeoJSON (CRS84 sauf en-tête Content-Crs) ou fichier "
                       "(GeoPackage, GeoJSON, Shapefile zippé, KML, FlatGeobuf, CSV…).",
        "content": {
            GEOJSON: {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["fichier"],
                "properties": {"fichier": {"type": "string", "format": "binary"}}}},
        },
    }
}


def router() -> APIRouter:
    r = APIRouter()
    tag = "Statistiques et requêtes"

    @r.post("/stats", tags=[tag], response_class=Response, operation_id="stats_perimeter",
            summary="Statistiques d'un périmètre envoyé (agents habilités)",
            openapi_extra=_PERIMETER_BODY)
    async def stats_of_perimeter(
        request: Request, who: Caller,
        annee: Annotated[int | None, Query(ge=FIRST_YEAR, le=LAST_YEAR)] = None,
        f: Annotated[str | None, Query(description="Format : json, csv")] = None,
    ) -> Response:
        # Free perimeters defeat small-count masking (two perimeters differing by one building
        # give its figures by subtraction): the public gets statistics of the published zones.
        auth.check_role(who, "staff", "Statistiques d'un périmètre libre")
        fmt = check_format(f, ("json", "csv"))
        check_known(request, {"annee", "f"})
        frame = await _perimeter_job(request, stats_job, annee)
        return _stats_response(frame, fmt)

    @r.post("/batiments/within", tags=[tag], response_class=Response,
            operation_id="buildings_within_perimeter", openapi_extra=_PERIMETER_BODY,
            summary="Bâtiments dans un périmètre envoyé (GeoJSON, CSV, GeoPackage)")
    async def buildings_in_perimeter(request: Request, who: Caller,
                                     filters: Annotated[BuildingFilters, Depends()]) -> Response:
        check_known(request, BuildingFilters.NAMES)
        frame = await _perimeter_job(request, buildings_job, not who.has("staff"),
                                     filters.kwargs)
        return await run_in_threadpool(_buildings_response, frame, filters)

    for spec in _POLYGON_LAYERS:
        _layer_routes(r, spec, tag)
    return r


def _layer_routes(r: APIRouter, spec: LayerSpec, tag: str) -> None:
    name = spec.name

    @r.get(f"/collections/{name}/stats", tags=[tag], response_class=Response,
           operation_id=f"stats_{name}", summary=f"{spec.title} : statistiques par zone")
    def stats(
        request: Request, who: Caller,
        annee: Annotated[int | None, Query(ge=FIRST_YEAR, le=LAST_YEAR,
                                           description="Année de référence")] = None,
        f: Annotated[str | None, Query(description="Format : json, csv")] = None,
        au: Annotated[str | None, Query(description="État à cette date (AAAA-MM-JJ), rejoué "
                                                    "depuis le journal (agents habilités)")] = None,
        depuis: Annotated[str | None, Query(description="Évolution depuis cette date jusqu'à "
                                                        "« au » (agents habilités)")] = None,
    ) -> Response:
        auth.check_readable(spec, who)
        fmt = check_format(f, ("json", "csv"))
        check_known(request, {"annee", "f", "au", "depuis"})
        store = request.app.state.store
        if au is not None or depuis is not None:
            # A past state, or a difference of two, can reveal what secrecy masks today.
            auth.check_role(who, "staff", "Statistiques à une date")
        if depuis is not None:
            changes = stats_between(store, name, depuis, au, reference_year=annee)
            if fmt == "csv":
                text = changes.to_csv(sep=";", decimal=",", index=False)
                return Response(("\ufeff" + text).encode(), media_type=_MEDIA["csv"],
                                headers={"Content-Disposition":
                                         'attachment; filename="evolutions.csv"'})
            body = {"couche": name, "depuis": changes.attrs["depuis"], "au": changes.attrs["au"],
                    "evolutions": stats_records(changes)}
            return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")
        if au is not None:
            frame = stats_at(store, name, au, public=False, reference_year=annee)
        else:
            frame = sector_stats(store, name, public=not who.has("staff"), reference_year=annee)
        return _stats_response(frame, fmt)

    @r.get(f"/collections/{name}/items/{{featureId}}/batiments", tags=[tag],
           response_class=Response, operation_id=f"buildings_in_{name}",
           summary=f"{spec.title} : bâtiments de la zone (GeoJSON, CSV, GeoPackage)")
    def buildings(request: Request, featureId: str, who: Caller,  # noqa: N803
                  filters: Annotated[BuildingFilters, Depends()]) -> Response:
        auth.check_readable(spec, who)
        check_known(request, BuildingFilters.NAMES)
        zone = request.app.state.store.read(name, ids=[featureId])
        if zone.empty:
            raise FeatureNotFoundError(f"Objet « {featureId} » introuvable dans la couche {name}.")
        frame = buildings_within(request.app.state.store, zone[["geometry"]],
                                 public=not who.has("staff"), **filters.kwargs)
        return _buildings_response(frame, filters)
