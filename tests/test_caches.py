"""The lru, diskcache and tiered caches: the contract, budgets, pressure handling, TTLs, tiers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memmimic_core.errors import ConfigError, InvalidInputError
from memmimic_core.plugins import Backends
from memmimic_core.protocols import BackendContext
from memmimic_core.testing.cache import CacheContract
from memmimic_plugins.caches import (
    ENTRY_OVERHEAD,
    DiskCache,
    DiskOptions,
    LruCache,
    LruOptions,
    TieredCache,
    TieredOptions,
)

# keys k0..k9 are 2 bytes: a value of this size makes each entry cost exactly 100 bytes
VALUE_100 = b"x" * (100 - 2 - ENTRY_OVERHEAD)


class TestLruContract(CacheContract):
    backend_name = "lru"


class TestDiskCacheContract(CacheContract):
    backend_name = "diskcache"


class TestTieredContract(CacheContract):
    backend_name = "tiered"


class Clock:
    """A clock the test moves forward by hand (the LRU's timer)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lru(clock: Clock | None = None, **options: Any) -> LruCache:
    options.setdefault("pools", {"p": {"max_bytes": 1000, "ttl_seconds": None}})
    return LruCache(LruOptions.model_validate(options), timer=clock or Clock())


def keys(cache: LruCache, pool: str = "p") -> list[str]:
    return sorted(cache._pools[pool].keys())


# -- lru: budgets and pressure --------------------------------------------------------------


def test_lru_cleans_to_the_target_ratio_after_passing_the_warning_threshold() -> None:
    cache = lru()
    for i in range(10):
        cache.set("p", f"k{i}", VALUE_100)
    # k8 took the pool to 900 > 800: k0 and k1 went (down to 700); k9 took it back to 800
    assert keys(cache) == [f"k{i}" for i in range(2, 10)]
    pool = cache.stats()["pools"]["p"]
    assert (pool["bytes"], pool["items"], pool["evictions"], pool["pressure_cleanups"]) == (800, 8, 2, 1)
    assert pool["emergency_evictions"] == 0


def test_lru_reading_an_entry_protects_it_from_cleanup() -> None:
    cache = lru()
    for i in range(8):
        cache.set("p", f"k{i}", VALUE_100)
    assert cache.get("p", "k0") == VALUE_100
    cache.set("p", "k8", VALUE_100)
    assert keys(cache) == ["k0", *(f"k{i}" for i in range(3, 9))]


def test_lru_emergency_cuts_the_pool_to_half() -> None:
    cache = lru()
    for i in range(5):
        cache.set("p", f"k{i}", VALUE_100)
    big = b"y" * (460 - 3 - ENTRY_OVERHEAD)
    cache.set("p", "big", big)  # 960 bytes > 95 %: evict down to 500
    assert keys(cache) == ["big"]
    pool = cache.stats()["pools"]["p"]
    assert (pool["emergency_evictions"], pool["evictions"], pool["bytes"]) == (1, 5, 460)


def test_lru_value_larger_than_the_pool_is_not_stored() -> None:
    cache = lru()
    cache.set("p", "k0", VALUE_100)
    cache.set("p", "huge", b"z" * 2000)
    assert cache.get("p", "huge") is None
    assert cache.get("p", "k0") == VALUE_100
    assert cache.stats()["pools"]["p"]["rejected"] == 1


def test_lru_total_budget_evicts_from_the_largest_pool() -> None:
    pools = {"a": {"max_bytes": 1500}, "b": {"max_bytes": 1500}}
    cache = lru(pools=pools, total_max_bytes=2000)
    for i in range(10):
        cache.set("a", f"a{i}", VALUE_100)
    for i in range(7):
        cache.set("b", f"b{i}", VALUE_100)
    # b6 took the total to 1700 > 1600: the largest pool (a) lost a0-a2, down to 1400
    assert keys(cache, "a") == [f"a{i}" for i in range(3, 10)]
    assert keys(cache, "b") == [f"b{i}" for i in range(7)]
    stats = cache.stats()
    assert stats["bytes"] == 1400
    assert stats["total_pressure_cleanups"] == 1
    assert stats["pools"]["a"]["evictions"] == 3


def test_lru_expired_entries_go_before_live_ones() -> None:
    clock = Clock()
    cache = lru(clock)
    cache.set("p", "k0", VALUE_100, ttl=5)
    cache.set("p", "k1", VALUE_100, ttl=5)
    for i in range(2, 8):
        cache.set("p", f"k{i}", VALUE_100)
    clock.now += 6
    cache.set("p", "k8", VALUE_100)
    assert keys(cache) == [f"k{i}" for i in range(2, 9)]
    pool = cache.stats()["pools"]["p"]
    assert (pool["expired"], pool["evictions"], pool["pressure_cleanups"]) == (2, 0, 0)


def test_lru_pool_ttl_and_per_entry_ttl() -> None:
    clock = Clock()
    cache = lru(clock, pools={"p": {"max_bytes": 10_000, "ttl_seconds": 10}})
    cache.set("p", "default", b"v")
    cache.set("p", "short", b"v", ttl=2)
    cache.set("p", "long", b"v", ttl=100)
    clock.now += 3
    assert [cache.get("p", k) for k in ("default", "short", "long")] == [b"v", None, b"v"]
    clock.now += 8
    assert [cache.get("p", k) for k in ("default", "short", "long")] == [None, None, b"v"]


def test_lru_counts_hits_and_misses_per_pool() -> None:
    cache = lru(pools={"p": {"max_bytes": 10_000}, "q": {"max_bytes": 10_000}})
    cache.set("p", "a", b"1")
    cache.get("p", "a")
    cache.get("p", "a")
    cache.get("p", "b")
    cache.get("q", "a")
    stats = cache.stats()
    assert (stats["pools"]["p"]["hits"], stats["pools"]["p"]["misses"]) == (2, 1)
    assert (stats["pools"]["q"]["hits"], stats["pools"]["q"]["misses"]) == (0, 1)
    assert (stats["hits"], stats["misses"], stats["hit_rate"]) == (2, 2, 0.5)


def test_lru_is_thread_safe() -> None:
    cache = lru(pools={"p": {"max_bytes": 20_000}})
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(2000):
                cache.set("p", f"{worker}-{i % 300}", VALUE_100)
                cache.get("p", f"{(worker + 1) % 4}-{i % 300}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    pool = cache.stats()["pools"]["p"]
    assert pool["hits"] + pool["misses"] == 8000
    charged = sum(len(k) + len(VALUE_100) + ENTRY_OVERHEAD for k in keys(cache))
    assert pool["bytes"] == charged <= 0.8 * 20_000


# -- options and bad input ------------------------------------------------------------------


def test_pools_merge_over_the_defaults() -> None:
    options = LruOptions.model_validate(
        {"pools": {"results": {"ttl_seconds": 60}, "mine": {"max_bytes": "1KiB"}}}
    )
    assert options.pool("results").max_bytes == 64 * 1024 * 1024
    assert options.pool("results").ttl_seconds == 60
    assert options.pool("embeddings").ttl_seconds == 86400
    assert options.pool("mine").max_bytes == 1024
    assert options.pool("mine").ttl_seconds == 3600  # from default_pool
    assert options.pool("unknown") == options.default_pool


@pytest.mark.parametrize(
    "options",
    [
        {"target_ratio": 0.9},
        {"warning_threshold": 0.99, "emergency_threshold": 0.9},
        {"pools": {"bad name": {"max_bytes": 10}}},
        {"pools": {"p": {"max_bytes": "lots"}}},
        {"size": 1},
    ],
)
def test_bad_options_are_config_errors(
    memmimic_backends: Backends, backend_context: BackendContext, options: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError, match=r"^cache"):
        memmimic_backends["cache"].create("lru", options, backend_context, "cache")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bad pool", "k", b"v"), "pool name"),
        (("p", 1, b"v"), "key must be a str"),
        (("p", "k", "text"), "value must be bytes"),
        (("p", "k", b"v", 0), "ttl"),
    ],
)
def test_bad_arguments_are_invalid_input(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        lru().set(*args)


# -- diskcache ------------------------------------------------------------------------------


def test_disk_lives_under_data_dir_and_is_shared_by_instances(backend_context: BackendContext) -> None:
    first = DiskCache(DiskOptions(), backend_context)
    first.set("results", "k", b"v")
    second = DiskCache(DiskOptions(), backend_context)
    assert second.get("results", "k") == b"v"
    assert (backend_context.data_dir / "cache" / "results").is_dir()
    first.close()
    second.close()


def test_disk_keeps_each_pool_within_its_budget(backend_context: BackendContext) -> None:
    limit = 256 * 1024
    cache = DiskCache(DiskOptions.model_validate({"pools": {"p": {"max_bytes": limit}}}), backend_context)
    for i in range(600):
        cache.set("p", f"k{i}", bytes(1000))
    pool = cache.stats()["pools"]["p"]
    assert pool["bytes"] <= 0.8 * limit
    assert pool["pressure_cleanups"] > 0 and pool["evictions"] > 0
    assert pool["items"] == 600 - pool["evictions"]
    assert cache.get("p", "k599") == bytes(1000)
    assert cache.get("p", "k0") is None
    cache.close()


def test_disk_refuses_pickled_values(backend_context: BackendContext) -> None:
    import diskcache

    cache = DiskCache(DiskOptions(), backend_context)
    cache.set("results", "safe", b"v")
    planted = diskcache.Cache(str(backend_context.data_dir / "cache" / "results"))
    planted.set("evil", {"not": "bytes"})  # stored pickled by plain diskcache
    planted.close()
    assert cache.get("results", "evil") is None
    assert cache.get("results", "safe") == b"v"
    cache.close()


# -- tiered ---------------------------------------------------------------------------------


def test_tiered_promotes_a_disk_hit_into_memory(backend_context: BackendContext) -> None:
    cache = TieredCache(TieredOptions(), backend_context)
    cache.set("results", "k", b"v")
    cache.memory.clear()
    assert cache.get("results", "k") == b"v"  # from disk, promoted
    assert cache.get("results", "k") == b"v"  # from memory
    stats = cache.stats()
    assert stats["promotions"] == 1
    assert stats["tiers"]["disk"]["hits"] == 1
    assert stats["tiers"]["memory"]["hits"] == 1
    assert (stats["hits"], stats["misses"]) == (2, 0)
    cache.close()


def test_tiered_promoted_entry_keeps_its_disk_expiry(backend_context: BackendContext) -> None:
    import time

    cache = TieredCache(TieredOptions(), backend_context)
    cache.set("results", "k", b"v", ttl=0.3)
    cache.memory.clear()
    assert cache.get("results", "k") == b"v"
    time.sleep(0.45)
    assert cache.get("results", "k") is None
    cache.close()


def test_tiered_instances_on_one_host_share_the_disk_tier(backend_context: BackendContext) -> None:
    writer = TieredCache(TieredOptions(), backend_context)
    reader = TieredCache(TieredOptions(), backend_context)
    writer.set("embeddings", "q", b"vector")
    assert reader.get("embeddings", "q") == b"vector"
    assert reader.stats()["promotions"] == 1
    writer.close()
    reader.close()


def test_tiered_options_nest_the_disk_tier(tmp_path: Path) -> None:
    options = TieredOptions.model_validate(
        {"pools": {"results": {"max_bytes": "1MiB"}}, "disk": {"directory": str(tmp_path)}}
    )
    assert options.pool("results").max_bytes == 1024 * 1024
    assert options.disk.directory == tmp_path
    assert options.disk.pool("results").max_bytes == 64 * 1024 * 1024


def test_importing_the_plugins_loads_no_heavy_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, memmimic_plugins.caches, memmimic_plugins.redis_cache, memmimic_core.metrics\n"
        "print(sorted({'redis', 'diskcache', 'prometheus_client'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["set", "get", "delete"]), st.integers(0, 30), st.integers(0, 400)),
        max_size=120,
    )
)
def test_lru_budget_and_contents_stay_consistent(ops: list[tuple[str, int, int]]) -> None:
    cache = lru(pools={"p": {"max_bytes": 2000, "ttl_seconds": None}})
    last: dict[str, bytes] = {}
    for op, k, size in ops:
        key = f"k{k}"
        if op == "set":
            last[key] = bytes([k % 256]) * size
            cache.set("p", key, last[key])
        elif op == "delete":
            cache.delete("p", key)
            last.pop(key, None)
        else:
            got = cache.get("p", key)
            assert got is None or got == last.get(key)
        pool = cache.stats()["pools"].get("p", {"bytes": 0})
        charged = sum(len(k) + len(last[k]) + ENTRY_OVERHEAD for k in cache._pools.get("p", {}))
        assert pool["bytes"] == charged <= 0.8 * 2000


def test_disk_values_reach_another_process(backend_context: BackendContext) -> None:
    import subprocess
    import sys

    cache = DiskCache(DiskOptions(), backend_context)
    cache.set("embeddings", "q", b"\x00vector")
    code = (
        "from pathlib import Path\n"
        "from memmimic_core.protocols import BackendContext\n"
        "from memmimic_plugins.caches import DiskCache, DiskOptions\n"
        f"ctx = BackendContext(data_dir=Path({str(backend_context.data_dir)!r}))\n"
        "print(DiskCache(DiskOptions(), ctx).get('embeddings', 'q'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == repr(b"\x00vector")
    cache.close()
