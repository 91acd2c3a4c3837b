"""Compare two versions of a zone, and restore an old version as a new one.

A perimeter change is a decision of the municipal council: the planner must see what it does. For
two versions of one feature (numbered as by :func:`ort_geo.timeline.versions`),
:func:`compare_versions` gives

* the area gained (in the new version, not in the old) and lost, as geometries and in hectares,
  measured in the store's CRS (Lambert-93);
* the statistics of the zone in each version, from the statistics engine
  (:func:`ort_geo.stats.sector_stats` with the version as perimeter): buildings, dwellings, vacant
  dwellings… Both versions are measured on the same data — the store as it is now, or as of
  ``data_at`` — so the figures show what the perimeter change itself does;
* the fields whose value changed.

``ort-geo diff``, the API (``/collections/{layer}/items/{id}/diff``) and the editor all read these
figures from :meth:`ZoneDiff.figures`, so they show the same hectares.

:func:`restore_version` writes an old version back through the checked edit path (rules, ETag,
one new journal entry): history is never rewritten, it grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from .display import format_number
from .editing import checked_edit
from .errors import FeatureNotFoundError, InputError
from .features import Feature
from .perimeter import polygon_layers
from .stats import COLUMNS, sector_stats
from .store.base import STORAGE_CRS, ETagMatch, Store
from .timeline import Version, When, changes, feature_version, store_at, version_at

#: Statistics shown for each version (columns of :data:`ort_geo.stats.COLUMNS`).
DIFF_STATS = ("batiments", "logements", "logements_vacants", "taux_vacance",
              "vacants_longue_duree", "batiments_degrades", "commerces", "commerces_vacants",
              "actions")
_LABELS = {c.name: c.label for c in COLUMNS}
#: Hectares are given with this many decimals everywhere (CLI, API, editor): 1 are = 100 m².
HA_DECIMALS = 2
EMPTY = shapely.Polygon()


def _polygonal(geom: BaseGeometry | None) -> BaseGeometry:
    """The polygonal part of a geometry (an empty polygon for none, a point or a line)."""
    if geom is None or geom.is_empty:
        return EMPTY
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"]
    return shapely.union_all(parts) if parts else EMPTY


def _area_ha(geom: BaseGeometry) -> float:
    return float(shapely.area(geom)) / 1e4


@dataclass
class ZoneDiff:
    """The comparison of two versions of one feature (see :func:`compare_versions`)."""

    layer: str
    feature_id: str
    old: Version | None  #: None: the feature did not exist yet (comparison of dates)
    new: Version | None
    gained: BaseGeometry  #: in ``new``, not in ``old`` (in ``crs``)
    lost: BaseGeometry  #: in ``old``, not in ``new`` (in ``crs``)
    #: Statistics per version: index ``"avant"`` and ``"apres"``, columns :data:`DIFF_STATS`
    #: (None for a layer that is not made of zones).
    stats: pd.DataFrame | None
    changed_fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    crs: str = STORAGE_CRS  #: the store's CRS, which every geometry here is in

    @property
    def area_before_ha(self) -> float:
        return _area_ha(_geometry(self.old))

    @property
    def area_after_ha(self) -> float:
        return _area_ha(_geometry(self.new))

    @property
    def gained_ha(self) -> float:
        return _area_ha(self.gained)

    @property
    def lost_ha(self) -> float:
        return _area_ha(self.lost)

    def figures(self) -> dict[str, Any]:
        """The figures every adapter shows, JSON-ready (hectares rounded to
        :data:`HA_DECIMALS`)."""
        def ha(value: float) -> float:
            return round(value, HA_DECIMALS)

        stats = None
        if self.stats is not None:
            stats = {when: {name: _plain(self.stats.loc[when, name]) for name in DIFF_STATS}
                     for when in ("avant", "apres")}
        return {
            "couche": self.layer,
            "id": self.feature_id,
            "de": None if self.old is None else version_summary(self.old),
            "a": None if self.new is None else version_summary(self.new),
            "surfaces": {
                "avant_ha": ha(self.area_before_ha), "apres_ha": ha(self.area_after_ha),
                "gagnee_ha": ha(self.gained_ha), "perdue_ha": ha(self.lost_ha),
                "solde_ha": ha(self.area_after_ha - self.area_before_ha),
            },
            "statistiques": stats,
            "libelles": {name: _LABELS[name] for name in DIFF_STATS},
            "champs_modifies": [{"champ": k, "avant": _plain(a), "apres": _plain(b)}
                                for k, (a, b) in self.changed_fields.items()],
        }


    def frame(self) -> gpd.GeoDataFrame:
        """The geometries to draw, in the store's CRS: one row per ``role`` (``avant``, ``apres``,
        ``gagnee``, ``perdue``; empty ones left out) with its ``surface_ha``."""
        geoms = {"avant": _geometry(self.old), "apres": _geometry(self.new),
                 "gagnee": self.gained, "perdue": self.lost}
        versions = {"avant": self.old and self.old.number, "apres": self.new and self.new.number}
        rows = [(role, versions.get(role), round(_area_ha(g), HA_DECIMALS), g)
                for role, g in geoms.items() if not g.is_empty]
        return gpd.GeoDataFrame(
            {"role": [r[0] for r in rows], "libelle": [ROLE_LABELS[r[0]] for r in rows],
             "version": pd.array([r[1] for r in rows], dtype="Int64"),
             "surface_ha": [r[2] for r in rows]},
            geometry=[r[3] for r in rows], crs=self.crs)


#: French names of the diff's geometries (and their colours in the editor and the CLI's output).
ROLE_LABELS = {"avant": "Version de départ", "apres": "Version d'arrivée",
               "gagnee": "Surface gagnée", "perdue": "Surface perdue"}


def _plain(value: Any) -> Any:
    from .features import _plain as plain

    return plain(value)


def version_summary(version: Version) -> dict[str, Any]:
    """A version as JSON: number, date, author, message, operation, ETag."""
    return {"version": version.number, "date": version.timestamp, "auteur": version.author,
            "message": version.message, "operation": version.operation,
            "etag": version.etag}


def _geometry(version: Version | None) -> BaseGeometry:
    return _polygonal(version.feature.geometry if version and version.feature else None)


def compare_versions(store: Store, layer: str, feature_id: str, old: int, new: int, *,
                     data_at: When | None = None) -> ZoneDiff:
    """Compare versions ``old`` and ``new`` (numbers from 1) of one feature.

    Statistics are computed on the store's current data, or as it stood at ``data_at``.
    """
    first = feature_version(store, layer, feature_id, old)
    second = feature_version(store, layer, feature_id, new)
    return _compare(store, layer, str(feature_id), first, second, data_at, True)


def compare_dates(store: Store, layer: str, feature_id: str, since: When, until: When = None, *,
                  data_at: When | None = None, stats: bool = True) -> ZoneDiff:
    """Compare a feature as it stood at ``since`` and at ``until`` (default: now): the versions
    in force at those dates (None where it did not exist)."""
    first = version_at(store, layer, feature_id, since)
    second = version_at(store, layer, feature_id, until)
    if first is None and second is None:
        raise FeatureNotFoundError(f"L'objet « {feature_id} » de la couche {layer} n'existait à "
                                   "aucune de ces deux dates.")
    return _compare(store, layer, str(feature_id), first, second, data_at, stats)


def zone_changes(store: Store, layer: str, since: When, until: When = None, *,
                 data_at: When | None = None, stats: bool = True) -> list[ZoneDiff]:
    """Every feature of ``layer`` whose state changed between ``since`` and ``until``, compared
    (created, reshaped, deleted, renamed…): e.g. the perimeter changes of a year for the bilan.
    Ordered by feature id."""
    return [compare_dates(store, layer, c.feature_id, since, until, data_at=data_at,
                          stats=stats)
            for c in changes(store, since, until, layers=[layer])]


def _compare(store: Store, layer: str, feature_id: str, first: Version | None,
             second: Version | None, data_at: When | None, with_stats: bool) -> ZoneDiff:
    geom_a, geom_b = _geometry(first), _geometry(second)
    gained = _polygonal(shapely.difference(geom_b, geom_a))
    lost = _polygonal(shapely.difference(geom_a, geom_b))
    stats = None
    if with_stats and layer in polygon_layers(store):
        stats = _version_stats(store if data_at is None else store_at(store, data_at),
                               {"avant": geom_a, "apres": geom_b})
    return ZoneDiff(layer, feature_id, first, second, gained, lost, stats,
                    _changed_fields(first.feature if first else None,
                                    second.feature if second else None), crs=store.crs)


def _version_stats(store: Store, zones: dict[str, BaseGeometry]) -> pd.DataFrame:
    """Statistics of each zone (zeros for an empty one), from the statistics engine."""
    present = {k: g for k, g in zones.items() if not g.is_empty}
    out = pd.DataFrame(0, index=list(zones), columns=list(DIFF_STATS), dtype=object)
    out["taux_vacance"] = None
    if present:
        frame = gpd.GeoDataFrame({"id": list(present), "nom": list(present)},
                                 geometry=list(present.values()), crs=store.crs)
        stats = sector_stats(store, None, perimeter=frame).set_index("id")
        for key in present:
            for name in DIFF_STATS:
                value = stats.loc[key, name]
                out.loc[key, name] = None if pd.isna(value) else value
    return out


def _changed_fields(a: Feature | None, b: Feature | None) -> dict[str, tuple[Any, Any]]:
    pa = a.to_record()["properties"] if a else {}
    pb = b.to_record()["properties"] if b else {}
    return {k: (pa.get(k), pb.get(k)) for k in sorted(set(pa) | set(pb))
            if pa.get(k) != pb.get(k)}


def format_ha(value: float) -> str:
    """Hectares as a French reader sees them: ``1,25 ha``."""
    return f"{format_number(round(value, HA_DECIMALS), HA_DECIMALS)}\u202fha"


def restore_version(store: Store, layer: str, feature_id: str, number: int, *, author: str,
                    message: str = "", if_match: ETagMatch = None) -> Feature | None:
    """Make version ``number`` of a feature its current state again, as a new version.

    Goes through :func:`ort_geo.editing.checked_edit`: the rules of ``ort-geo validate`` are
    checked, ``if_match`` (the ETag of the current version) guards against a concurrent edit, and
    the journal gets one new entry. Restoring a deletion deletes the feature. Returns the feature
    as stored (None when deleted).
    """
    target = feature_version(store, layer, feature_id, number).feature
    message = message or f"restauration de la version {number}"
    current = store.read(layer, ids=[str(feature_id)])
    exists = not current.empty
    now = store.get(layer, str(feature_id)) if exists else None
    if (now is None and target is None) or (
            now is not None and target is not None and now.same_content(target)):
        raise InputError(f"La version {number} de « {feature_id} » est identique à la version "
                         "actuelle : rien à restaurer.")
    if target is None:
        return checked_edit(store, layer, "delete", None, feature_id=str(feature_id),
                            author=author, if_match=if_match, message=message)
    # Fields added to the catalogue since that version start empty.
    spec = store.spec(layer)
    props = {n: target.properties.get(n) for n in spec.field_names if n != spec.key}
    restored = Feature(str(feature_id), props, target.geometry)
    if not exists:
        return checked_edit(store, layer, "create", restored, author=author, message=message)
    return checked_edit(store, layer, "replace", restored, author=author, if_match=if_match,
                        message=message)
