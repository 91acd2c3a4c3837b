"""The cache of what a server computes from a store (tiles, feature texts): kept under the
revision its reader read, dropped when another revision is seen, bounded in bytes."""

from __future__ import annotations

from ort_geo.revision_cache import ENTRY_BYTES, RevisionCache


def test_values_live_until_another_revision_is_seen():
    cache: RevisionCache[bytes] = RevisionCache(1 << 20, len)
    assert cache.get_many(1, ["a", "b"]) == [None, None]
    cache.put_many(1, [("a", b"A"), ("b", b"B")])
    assert cache.get_many(1, ["b", "a", "c"]) == [b"B", b"A", None]
    assert (cache.hits, cache.misses) == (2, 3)
    # A reader at revision 2 empties it; a slow writer still at revision 1 keeps nothing.
    assert cache.get(2, "a") is None and len(cache) == 0
    cache.put(1, "a", b"old")
    assert cache.get(2, "a") is None
    cache.put(2, "a", b"new")
    assert cache.get(2, "a") == b"new"


def test_least_recently_used_values_leave_first():
    cache: RevisionCache[bytes] = RevisionCache(3 * (10 + ENTRY_BYTES), len)
    cache.get(7, "x")
    cache.put_many(7, [(k, k.encode() * 10) for k in "abc"])
    assert cache.get(7, "a") == b"a" * 10  # a is now the most recent
    cache.put(7, "d", b"d" * 10)
    assert cache.get_many(7, list("abcd")) == [b"a" * 10, None, b"c" * 10, b"d" * 10]
    cache.put(7, "a", b"A" * 10)  # replaced: counted once
    assert len(cache) == 3 and cache.get(7, "a") == b"A" * 10
