"""Roles and API keys: who may see restricted data and who may edit.

Three roles (DESIGN.md): ``public`` (residents, no credentials), ``staff`` (reads everything) and
``editor`` (staff + edits the layers the catalogue marks ``editable``). Callers other than the
public present an API key. Keys live in the store's metadata (scope ``apikeys``), hashed: the
store never holds a usable key.

A key reads ``<key id>.<secret>``: the id finds the record without trying every hash; the secret
is 32 random bytes, so a salted SHA-256 suffices (slow hashes protect low-entropy passwords, and
would cost every API request tens of milliseconds).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .catalogue import LayerSpec
from .errors import AccessDeniedError, InputError

Role = Literal["public", "staff", "editor"]
ROLES: tuple[Role, ...] = ("public", "staff", "editor")
ROLE_LABELS = {"public": "public", "staff": "agent", "editor": "éditeur"}
META_SCOPE = "apikeys"
_NAME = re.compile(r"^[\w .@'-]{1,64}$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's name (the journal's author) and its role."""

    name: str
    role: Role

    def has(self, role: Role) -> bool:
        """True when this caller's role includes ``role`` (editor ⊃ staff ⊃ public)."""
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def anonymous(self) -> bool:
        return self.role == "public"


ANONYMOUS = Principal("anonyme", "public")


@dataclass(frozen=True)
class ApiKeyRecord:
    """What the store keeps of a key: never the key itself."""

    key_id: str
    name: str
    role: Role
    salt: str
    digest: str
    created: str


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def create_key(store, name: str, role: Role) -> str:
    """Create a key for ``name`` with ``role``; return it (shown once, never stored)."""
    if role not in ROLES or role == "public":
        raise InputError(f"Rôle « {role} » inconnu : choisissez staff ou editor.")
    if not _NAME.match(name):
        raise InputError("Nom de clé invalide : 1 à 64 lettres, chiffres, espaces ou . @ ' -.")
    if any(r.name == name for r in list_keys(store)):
        raise InputError(f"Une clé nommée « {name} » existe déjà : révoquez-la d'abord.")
    key_id, secret, salt = secrets.token_hex(4), secrets.token_urlsafe(32), secrets.token_hex(16)
    record = {"name": name, "role": role, "salt": salt, "digest": _digest(salt, secret),
              "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    store.set_meta(META_SCOPE, {key_id: json.dumps(record, ensure_ascii=False)})
    return f"{key_id}.{secret}"


def list_keys(store) -> list[ApiKeyRecord]:
    """Every key's record (names, roles, creation dates), by name."""
    records = [ApiKeyRecord(key_id=k, **json.loads(v)) for k, v in store.get_meta(META_SCOPE).items()]
    return sorted(records, key=lambda r: r.name)


def revoke_key(store, name_or_id: str) -> ApiKeyRecord:
    """Remove a key, found by its name or its id."""
    for record in list_keys(store):
        if name_or_id in (record.name, record.key_id):
            store.set_meta(META_SCOPE, {record.key_id: None})
            return record
    raise InputError(f"Aucune clé nommée « {name_or_id} ».")


class _KeyRing:
    """The store's API keys at one revision (raw records by key id), and the tokens already
    checked against them: a server checks the same few keys on every request."""

    def __init__(self, records: dict[str, str]) -> None:
        self.records = records
        self.checked: dict[str, Principal] = {}


def authenticate(store, token: str | None, revision: Callable[[], Any] | None = None) -> Principal:
    """The caller a key stands for; anonymous without a key; AccessDeniedError for a bad key.
    ``revision``: how the caller reads the store's revision (a server reads it once per request,
    for the keys and the answer's ETag); else the store's own. A key checked once is known
    until the store changes (a revoked key changes it); without a revision (GeoPackage in WAL
    mode) every call checks again."""
    if not token:
        return ANONYMOUS
    ring = store.cached(("keys", META_SCOPE), lambda: _KeyRing(store.get_meta(META_SCOPE)),
                        revision=(revision or store.revision)())
    known = ring.checked.get(token)
    if known is not None:
        return known
    key_id, _, secret = token.strip().partition(".")
    raw = ring.records.get(key_id) if key_id and secret else None
    if raw is not None:
        record = json.loads(raw)
        if hmac.compare_digest(record["digest"], _digest(record["salt"], secret)):
            principal = ring.checked[token] = Principal(record["name"], record["role"])
            return principal
    raise AccessDeniedError("Clé d'API invalide ou révoquée.")


# -- what a role may see and do -----------------------------------------------------------------

def readable(spec: LayerSpec, who: Principal) -> bool:
    """Whether ``who`` may read the layer at all."""
    return spec.public or who.has("staff")


def check_readable(spec: LayerSpec, who: Principal) -> None:
    if not readable(spec, who):
        raise AccessDeniedError(f"La couche {spec.name} est réservée aux agents habilités.")


def visible_fields(spec: LayerSpec, who: Principal) -> list[str]:
    """The fields ``who`` may see: public ones for the public, all of them for staff."""
    return spec.field_names if who.has("staff") else spec.public_fields


def check_fields(spec: LayerSpec, who: Principal, names) -> None:
    """Refuse any use (filter, sort…) of a field ``who`` may not see."""
    hidden = [n for n in names if n in spec.by_name and n not in visible_fields(spec, who)]
    if hidden:
        raise AccessDeniedError(
            f"Champ(s) réservé(s) aux agents habilités : {', '.join(hidden)} ({spec.name})."
        )


def check_role(who: Principal, role: Role, what: str) -> None:
    if not who.has(role):
        raise AccessDeniedError(f"{what} : rôle « {ROLE_LABELS[role]} » requis.")


def check_editable(spec: LayerSpec, who: Principal) -> None:
    """Only editors edit, and only the layers the catalogue marks editable."""
    check_role(who, "editor", f"Modifier la couche {spec.name}")
    if not spec.editable:
        raise AccessDeniedError(
            f"La couche {spec.name} ne se modifie pas par l'API (import ou construction seulement)."
        )
