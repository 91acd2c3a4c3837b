"""Copy a whole store into another (GeoPackage ↔ PostGIS), then prove nothing was lost.

The copy writes every layer, the change journal (numbers, dates and authors kept) and the metadata
in one transaction of the destination, which must be empty. It then re-reads both stores and
compares, per layer, the feature count, a geometry checksum and an attribute checksum, plus the
journal and the metadata; any difference raises :class:`~ort_geo.errors.StoreError` with the report.

Checksums are order-free multiset hashes: the sum, modulo 2**256, of one SHA-256 per feature (of
its id and its normalised WKB, or of its id and its attributes). Equal sums mean equal sets of
features whatever the storage order, and the sum streams in constant memory over big layers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import shapely

from .errors import InputError, StoreError
from .features import _plain
from .store.base import Store, iter_features

CHUNK = 20_000
_MOD = 2**256
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class LayerDigest:
    """Count and checksums of one layer."""

    count: int
    geometry: str
    attributes: str


@dataclass(frozen=True)
class StoreDigest:
    """What a copy must preserve: every layer, the journal and the metadata."""

    layers: dict[str, LayerDigest]
    journal_count: int
    journal: str
    meta: str

    @property
    def fingerprint(self) -> str:
        """One hash of the whole store's content."""
        payload = json.dumps([{k: vars(v) for k, v in self.layers.items()}, self.journal_count,
                              self.journal, self.meta], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class CopyReport:
    source: str
    dest: str
    before: StoreDigest
    after: StoreDigest
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def __str__(self) -> str:
        lines = [f"Copie de {self.source} vers {self.dest}",
                 f"{'couche':<22}{'objets':>10}  {'empreinte géométries':<22}{'vérification':>14}"]
        for name, digest in self.before.layers.items():
            other = self.after.layers[name]
            same = digest == other
            lines.append(f"{name:<22}{digest.count:>10}  {digest.geometry[:16]:<22}"
                         f"{'identique' if same else 'DIFFÉRENTE':>14}")
        lines.append(f"{'journal':<22}{self.before.journal_count:>10}  "
                     f"{self.before.journal[:16]:<22}"
                     f"{'identique' if self.before.journal == self.after.journal else 'DIFFÉRENT':>14}")
        lines.append(f"{'métadonnées':<22}{'':>10}  {self.before.meta[:16]:<22}"
                     f"{'identiques' if self.before.meta == self.after.meta else 'DIFFÉRENTES':>14}")
        if self.differences:
            lines.append("ÉCARTS : " + " ; ".join(self.differences))
        else:
            lines.append("Copie vérifiée : rien n'a été perdu.")
        return "\n".join(lines)


def _sum_hex(total: int) -> str:
    return f"{total % _MOD:064x}"


def _add(total: int, payload: bytes) -> int:
    return total + int.from_bytes(hashlib.sha256(payload).digest(), "big")


def layer_digest(store: Store, layer: str, *, chunk: int = CHUNK,
                 progress: Progress | None = None) -> LayerDigest:
    """Count, geometry and attribute checksums of one layer (independent of storage order)."""
    spec = store.spec(layer)
    total = store.count(layer)
    count, geo_sum, attr_sum = 0, 0, 0
    others = [n for n in spec.field_names if n != spec.key]
    for offset in range(0, total, chunk):
        frame = store.read(layer, limit=chunk, offset=offset)
        ids = [str(i) for i in frame[spec.key]]
        geoms = np.asarray(frame.geometry.values, dtype=object)
        wkbs = shapely.to_wkb(shapely.normalize(geoms), flavor="iso", byte_order=1,
                              output_dimension=2)
        columns = [frame[n].tolist() for n in others]
        for i, (fid, wkb) in enumerate(zip(ids, wkbs, strict=True)):
            key = fid.encode() + b"\x00"
            geo_sum = _add(geo_sum, key + (wkb or b""))
            values = [_plain(col[i]) for col in columns]
            attr_sum = _add(attr_sum, key + json.dumps(values, ensure_ascii=False).encode())
        count += len(frame)
        if progress:
            progress(layer, count, total)
    return LayerDigest(count, _sum_hex(geo_sum), _sum_hex(attr_sum))


def store_digest(store: Store, *, progress: Progress | None = None) -> StoreDigest:
    """Checksums of every layer, of the journal (in order) and of the metadata."""
    layers = {name: layer_digest(store, name, progress=progress) for name in store.layer_names()}
    journal = hashlib.sha256()
    entries = store.journal()
    for e in entries:
        record = [e.seq, e.timestamp, e.author, e.layer, e.feature_id, e.operation,
                  e.before and e.before.to_record(), e.after and e.after.to_record(), e.message]
        journal.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode() + b"\n")
    meta = {scope: store.get_meta(scope) for scope in store.meta_scopes()}
    meta_hash = hashlib.sha256(json.dumps(meta, sort_keys=True, ensure_ascii=False).encode())
    return StoreDigest(layers, len(entries), journal.hexdigest(), meta_hash.hexdigest())


def _check_empty(dest: Store) -> None:
    filled = [name for name in dest.layer_names() if dest.count(name)]
    if filled or dest.journal(limit=1) or dest.meta_scopes():
        what = f"couches non vides : {', '.join(filled)}" if filled else "journal ou métadonnées"
        raise InputError(f"L'entrepôt de destination {_display(dest)} n'est pas vide ({what}) : "
                         "copiez vers un entrepôt neuf.")


def _display(store: Store) -> str:
    from .store.postgis import masked

    return masked(store.url)


def copy_store(source: Store, dest: Store, *, chunk: int = CHUNK,
               progress: Progress | None = None) -> CopyReport:
    """Copy ``source`` into the empty ``dest`` (one transaction), then verify it.

    ``progress(step, done, total)`` is called as layers are copied and checked. Raises
    :class:`InputError` when ``dest`` is not empty and :class:`StoreError` when the verification
    finds any difference.
    """
    _check_empty(dest)
    if dest.epsg != source.epsg:
        raise InputError(f"L'entrepôt de destination est en EPSG:{dest.epsg}, la source en "
                         f"EPSG:{source.epsg} : créez la destination dans le SCR de la source.")
    with dest._transaction() as tx:
        for name in source.layer_names():
            spec = source.spec(name)
            total = source.count(name)
            for offset in range(0, total, chunk):
                frame = source.read(name, limit=chunk, offset=offset)
                tx.insert(dest.spec(name), list(iter_features(spec, frame)))
                if progress:
                    progress(f"copie {name}", min(offset + chunk, total), total)
            tx.loaded(dest.spec(name), progress)
        entries = source.journal()
        tx.journal(entries)
        if progress:
            progress("copie journal", len(entries), len(entries))
        for scope in source.meta_scopes():
            tx.set_meta(scope, dict(source.get_meta(scope)))

    def step(prefix: str) -> Progress | None:
        return None if progress is None else (lambda s, d, t: progress(f"{prefix} {s}", d, t))

    before = store_digest(source, progress=step("vérification source"))
    after = store_digest(dest, progress=step("vérification copie"))
    report = CopyReport(_display(source), _display(dest), before, after)
    for name, digest in before.layers.items():
        other = after.layers[name]
        if digest.count != other.count:
            report.differences.append(f"{name} : {digest.count} objets → {other.count}")
        elif digest.geometry != other.geometry:
            report.differences.append(f"{name} : géométries différentes")
        elif digest.attributes != other.attributes:
            report.differences.append(f"{name} : attributs différents")
    if before.journal != after.journal:
        report.differences.append(f"journal : {before.journal_count} entrées → "
                                  f"{after.journal_count}, contenu différent")
    if before.meta != after.meta:
        report.differences.append("métadonnées différentes")
    if not report.ok:
        raise StoreError("La copie ne correspond pas à la source :\n" + str(report))
    return report
