"""The cache contract: subclass :class:`CacheContract` to test a cache backend.

Either name a registered backend (``backend_name = "my-cache"``, ``backend_options``) or
override the ``cache`` fixture; each test needs a fresh, empty cache.

Capability flag: a backend that never keeps values (an "off" switch such as ``none``)
declares ``stores_values: ClassVar[bool] = False`` on its class. The tests that read back a
stored value are then skipped; every other test (calls are safe, misses are counted) runs.
A backend without the attribute is taken to store values.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pytest

from ..plugins import Backends
from ..protocols import BackendContext, Cache
from ._support import build_backend, close_backend

__all__ = ["CacheContract", "stores_values"]


def stores_values(cache: Cache) -> bool:
    """Whether ``cache`` declares that it keeps values (``stores_values``, default True)."""
    return bool(getattr(type(cache), "stores_values", True))


class CacheContract:
    """Behaviour every cache must show: per-pool get / set / delete / clear, TTLs, stats."""

    backend_name: ClassVar[str | None] = None
    backend_options: ClassVar[Mapping[str, Any]] = {}
    #: a TTL short enough to wait out in a test, long enough to read back before it expires
    short_ttl: ClassVar[float] = 0.2

    @pytest.fixture
    def cache(self, memmimic_backends: Backends, backend_context: BackendContext) -> Iterator[Cache]:
        """The cache under test (built from ``backend_name`` unless overridden)."""
        backend = build_backend(self, memmimic_backends, "cache", backend_context)
        yield backend
        close_backend(backend)

    @pytest.fixture
    def storing_cache(self, cache: Cache) -> Cache:
        """The cache, for tests that read values back (skipped where it stores none)."""
        if not stores_values(cache):
            pytest.skip(f"{type(cache).__name__} declares stores_values = False")
        return cache

    # -- every backend ----------------------------------------------------------------------

    def test_satisfies_the_protocol(self, cache: Cache) -> None:
        assert isinstance(cache, Cache)

    def test_missing_key_gives_none(self, cache: Cache) -> None:
        assert cache.get("results", "never-set") is None

    def test_every_call_is_safe_on_an_empty_cache(self, cache: Cache) -> None:
        cache.delete("results", "never-set")
        cache.clear("results")
        cache.clear()
        cache.set("results", "k", b"v", ttl=60)
        cache.set("results", "k", b"v")

    def test_stats_count_hits_and_misses(self, cache: Cache) -> None:
        before = cache.stats()
        assert "hits" in before and "misses" in before
        cache.get("results", "absent")
        after = cache.stats()
        assert after["misses"] == before["misses"] + 1
        assert after["hits"] == before["hits"]

    def test_close_is_safe(self, cache: Cache) -> None:
        cache.get("results", "k")
        cache.close()

    # -- backends that store values ---------------------------------------------------------

    def test_set_then_get_returns_the_value(self, storing_cache: Cache) -> None:
        storing_cache.set("results", "k", b"value")
        assert storing_cache.get("results", "k") == b"value"

    def test_set_overwrites(self, storing_cache: Cache) -> None:
        storing_cache.set("results", "k", b"old")
        storing_cache.set("results", "k", b"new")
        assert storing_cache.get("results", "k") == b"new"

    @pytest.mark.parametrize(
        "value",
        [b"", b"\x00\x01\xff\xfe", bytes(range(256)) * 40, "ünïcødé 🎉".encode()],
        ids=["empty", "binary", "10k", "utf8"],
    )
    def test_bytes_round_trip(self, storing_cache: Cache, value: bytes) -> None:
        storing_cache.set("embeddings", "k", value)
        assert storing_cache.get("embeddings", "k") == value

    def test_unusual_keys_are_kept_apart(self, storing_cache: Cache) -> None:
        keys = ["a:b", "a", "b", "ключ", "k" * 500, "with space", "a/b"]
        for i, key in enumerate(keys):
            storing_cache.set("results", key, str(i).encode())
        for i, key in enumerate(keys):
            assert storing_cache.get("results", key) == str(i).encode()

    def test_delete_removes_the_value(self, storing_cache: Cache) -> None:
        storing_cache.set("results", "k", b"v")
        storing_cache.delete("results", "k")
        assert storing_cache.get("results", "k") is None

    def test_pools_are_isolated(self, storing_cache: Cache) -> None:
        storing_cache.set("results", "k", b"from-results")
        storing_cache.set("embeddings", "k", b"from-embeddings")
        assert storing_cache.get("results", "k") == b"from-results"
        assert storing_cache.get("embeddings", "k") == b"from-embeddings"
        storing_cache.delete("results", "k")
        assert storing_cache.get("embeddings", "k") == b"from-embeddings"

    def test_clear_one_pool_keeps_the_others(self, storing_cache: Cache) -> None:
        storing_cache.set("results", "k", b"1")
        storing_cache.set("embeddings", "k", b"2")
        storing_cache.clear("results")
        assert storing_cache.get("results", "k") is None
        assert storing_cache.get("embeddings", "k") == b"2"

    def test_clear_everything(self, storing_cache: Cache) -> None:
        storing_cache.set("results", "k", b"1")
        storing_cache.set("embeddings", "k", b"2")
        storing_cache.clear()
        assert storing_cache.get("results", "k") is None
        assert storing_cache.get("embeddings", "k") is None

    def test_values_expire_after_their_ttl(self, storing_cache: Cache) -> None:
        storing_cache.set("results", "short", b"v", ttl=self.short_ttl)
        storing_cache.set("results", "long", b"v", ttl=60)
        time.sleep(self.short_ttl * 2.5)
        assert storing_cache.get("results", "short") is None
        assert storing_cache.get("results", "long") == b"v"

    def test_a_hit_is_counted(self, storing_cache: Cache) -> None:
        storing_cache.set("results", "k", b"v")
        before = storing_cache.stats()["hits"]
        assert storing_cache.get("results", "k") == b"v"
        assert storing_cache.stats()["hits"] == before + 1
