"""What a server computes from a store and serves again, kept until the store changes.

Built vector tiles, served GeoJSON feature texts: values of one store, least recently used first
out within a byte budget, all dropped as soon as a reader sees another revision of the store
(:meth:`ort_geo.store.base.Store.revision`: any write, by the tool or by another client). A
value is kept only under the revision its reader read *before* reading the store: at worst it
is newer than its revision, never older, and the next revision drops it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Generic, TypeVar

V = TypeVar("V")
#: Bytes counted per kept value besides its own (the key, the dict's slot).
ENTRY_BYTES = 100


class RevisionCache(Generic[V]):
    """Values by key, least recently used first out beyond ``max_bytes`` (``size`` of each
    value, plus :data:`ENTRY_BYTES`), emptied when a reader brings another revision."""

    def __init__(self, max_bytes: int, size: Callable[[V], int]) -> None:
        self.max_bytes = max_bytes
        self.revision: Any = None
        self.hits = self.misses = 0
        self._size = size
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, revision: Any, key: Hashable) -> V | None:
        """The value kept for ``key`` at ``revision`` (the one the caller has just read), or
        None; another revision empties the cache first."""
        return self.get_many(revision, (key,))[0]

    def get_many(self, revision: Any, keys: Sequence[Hashable]) -> list[V | None]:
        """:meth:`get` of each key, in one hold of the lock."""
        with self._lock:
            if revision != self.revision:
                self._values.clear()
                self._bytes, self.revision = 0, revision
            values = self._values
            found = [values.get(k) for k in keys]
            for k, v in zip(keys, found, strict=True):
                if v is not None:
                    values.move_to_end(k)
            hit = len(found) - found.count(None)
            self.hits += hit
            self.misses += len(found) - hit
            return found

    def put(self, revision: Any, key: Hashable, value: V) -> None:
        """Keep ``value``, computed from the store as of ``revision`` or later."""
        self.put_many(revision, ((key, value),))

    def put_many(self, revision: Any, items: Iterable[tuple[Hashable, V]]) -> None:
        """:meth:`put` of each (key, value), in one hold of the lock."""
        with self._lock:
            if revision != self.revision:
                return  # the store changed while the values were computed: do not keep them
            values, size = self._values, self._size
            for key, value in items:
                old = values.pop(key, None)
                if old is not None:
                    self._bytes -= size(old) + ENTRY_BYTES
                values[key] = value
                self._bytes += size(value) + ENTRY_BYTES
            while self._bytes > self.max_bytes and values:
                _, dropped = values.popitem(last=False)
                self._bytes -= size(dropped) + ENTRY_BYTES

    def __len__(self) -> int:
        return len(self._values)
