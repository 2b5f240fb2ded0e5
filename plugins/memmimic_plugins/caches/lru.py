"""``lru``: an in-memory cache, byte-budgeted per pool and in total, with TTLs and pressure cleanup."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from cachetools import TLRUCache

from memmimic_core.protocols import BackendContext

from .options import CacheOptions, check_entry, check_pool

__all__ = ["ENTRY_OVERHEAD", "LruCache", "LruOptions"]

ENTRY_OVERHEAD = 64
"""Bytes charged per entry on top of key and value (dict slot, LRU link, heap item)."""

# an entry: (value, time to live in seconds (inf: none), bytes charged)
_Entry = tuple[bytes, float, int]


class _Pool(TLRUCache[str, _Entry]):
    """One pool: cachetools' time-aware LRU, sized in bytes, counting what leaves it."""

    def __init__(self, max_bytes: int, timer: Callable[[], float]) -> None:
        super().__init__(
            maxsize=max_bytes,
            ttu=lambda _key, entry, now: now + entry[1],
            timer=timer,
            getsizeof=lambda entry: entry[2],
        )
        self.hits = self.misses = self.sets = self.evictions = self.expired = 0
        self.pressure_cleanups = self.emergency_evictions = self.rejected = 0

    def expire(self, time: float | None = None) -> list[tuple[str, _Entry]]:
        expired = list(super().expire(time))
        self.expired += len(expired)
        return expired

    def popitem(self) -> tuple[str, _Entry]:
        item = super().popitem()
        self.evictions += 1
        return item


class LruOptions(CacheOptions):
    """Options of the ``lru`` cache: the common pool budgets and thresholds."""


class LruCache:
    """In-memory cache: one byte-budgeted LRU per pool with per-entry TTLs. Thread-safe.

    Each entry is charged ``len(key) + len(value) + ENTRY_OVERHEAD`` bytes. After a write
    that takes a pool past ``warning_threshold`` of its budget, expired entries and then the
    least recently used ones are removed until the pool is at ``target_ratio``; past
    ``emergency_threshold`` it is cut to ``emergency_ratio``. The same applies to the total of
    all pools against ``total_max_bytes`` (evicting from the largest pool first).
    """

    name: ClassVar[str] = "lru"
    Options = LruOptions

    def __init__(
        self,
        options: CacheOptions,
        context: BackendContext | None = None,
        *,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self._timer = timer
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.RLock()
        self._total_cleanups = 0
        self._total_emergencies = 0

    def _pool(self, name: str) -> _Pool:
        pool = self._pools.get(name)
        if pool is None:
            pool = self._pools[name] = _Pool(int(self.options.pool(name).max_bytes), self._timer)
        return pool

    def get(self, pool: str, key: str) -> bytes | None:
        """Return the value, or ``None`` when absent or expired."""
        check_entry(pool, key)
        with self._lock:
            cache = self._pool(pool)
            try:
                entry = cache[key]
            except KeyError:
                cache.misses += 1
                return None
            cache.hits += 1
            return entry[0]

    def set(self, pool: str, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store a value; ``ttl`` in seconds overrides the pool's default.

        A value larger than the pool's whole budget is not stored (counted as ``rejected``).
        """
        check_entry(pool, key, value, ttl)
        if ttl is None:
            ttl = self.options.pool(pool).ttl_seconds
        data = bytes(value)
        size = len(key.encode("utf-8", "surrogatepass")) + len(data) + ENTRY_OVERHEAD
        with self._lock:
            cache = self._pool(pool)
            if size > cache.maxsize:
                cache.rejected += 1
                cache.pop(key, None)
                return
            cache[key] = (data, math.inf if ttl is None else float(ttl), size)
            cache.sets += 1
            self._relieve_pool(cache)
            self._relieve_total()

    def _relieve_pool(self, cache: _Pool) -> None:
        opts = self.options
        if cache.currsize <= opts.warning_threshold * cache.maxsize:
            return
        emergency = cache.currsize > opts.emergency_threshold * cache.maxsize
        if emergency:
            cache.emergency_evictions += 1
        else:
            cache.pressure_cleanups += 1
        goal = (opts.emergency_ratio if emergency else opts.target_ratio) * cache.maxsize
        cache.expire()
        while cache.currsize > goal and len(cache):
            cache.popitem()

    def _relieve_total(self) -> None:
        opts = self.options
        limit = int(opts.total_max_bytes)
        total = sum(p.currsize for p in self._pools.values())
        if total <= opts.warning_threshold * limit:
            return
        emergency = total > opts.emergency_threshold * limit
        if emergency:
            self._total_emergencies += 1
        else:
            self._total_cleanups += 1
        goal = (opts.emergency_ratio if emergency else opts.target_ratio) * limit
        for pool in self._pools.values():
            pool.expire()
        total = sum(p.currsize for p in self._pools.values())
        while total > goal:
            largest = max(self._pools.values(), key=lambda p: p.currsize)
            if not len(largest):
                break
            _key, entry = largest.popitem()
            total -= entry[2]

    def delete(self, pool: str, key: str) -> None:
        """Remove a value if present."""
        check_entry(pool, key)
        with self._lock:
            if pool in self._pools:
                self._pools[pool].pop(key, None)

    def clear(self, pool: str | None = None) -> None:
        """Remove every value of a pool (or of every pool); counters are kept."""
        with self._lock:
            if pool is None:
                for cache in self._pools.values():
                    cache.clear()
            elif check_pool(pool) in self._pools:
                self._pools[pool].clear()

    def cleanup(self) -> dict[str, int]:
        """Drop expired entries of every pool now; return how many per pool (for maintain)."""
        with self._lock:
            return {name: len(cache.expire()) for name, cache in self._pools.items()}

    def stats(self) -> dict[str, Any]:
        """Return hits, misses, evictions, bytes and items per pool, and their totals."""
        with self._lock:
            for cache in self._pools.values():
                cache.expire()
            pools = {
                name: _pool_stats(cache, self.options.pool(name).ttl_seconds)
                for name, cache in sorted(self._pools.items())
            }
        out: dict[str, Any] = {"backend": self.name}
        for field in (
            "hits",
            "misses",
            "sets",
            "evictions",
            "expired",
            "pressure_cleanups",
            "emergency_evictions",
            "rejected",
            "bytes",
            "items",
        ):
            out[field] = sum(p[field] for p in pools.values())
        lookups = out["hits"] + out["misses"]
        out["hit_rate"] = out["hits"] / lookups if lookups else None
        out["max_bytes"] = int(self.options.total_max_bytes)
        out["total_pressure_cleanups"] = self._total_cleanups
        out["total_emergency_evictions"] = self._total_emergencies
        out["pools"] = pools
        return out

    def close(self) -> None:
        """Drop every entry."""
        self.clear()


def _pool_stats(cache: _Pool, ttl: float | None) -> dict[str, Any]:
    lookups = cache.hits + cache.misses
    return {
        "hits": cache.hits,
        "misses": cache.misses,
        "sets": cache.sets,
        "hit_rate": cache.hits / lookups if lookups else None,
        "evictions": cache.evictions,
        "expired": cache.expired,
        "pressure_cleanups": cache.pressure_cleanups,
        "emergency_evictions": cache.emergency_evictions,
        "rejected": cache.rejected,
        "bytes": int(cache.currsize),
        "items": len(cache),
        "max_bytes": int(cache.maxsize),
        "utilization": cache.currsize / cache.maxsize if cache.maxsize else 0.0,
        "ttl_seconds": ttl,
    }
