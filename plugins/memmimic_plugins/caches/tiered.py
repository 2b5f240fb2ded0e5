"""``tiered``: the in-memory ``lru`` cache over the on-disk ``diskcache``, promoting disk hits."""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from pydantic import Field

from memmimic_core.protocols import BackendContext

from .disk import DiskCache, DiskOptions
from .lru import LruCache
from .options import CacheOptions, check_entry

__all__ = ["TieredCache", "TieredOptions"]


class TieredOptions(CacheOptions):
    """The memory tier's pools and thresholds at the top level; the disk tier's under ``disk``."""

    disk: DiskOptions = Field(default_factory=DiskOptions, description="options of the disk tier")


class TieredCache:
    """Two tiers: reads try memory, then disk; a disk hit is copied into memory (promotion).

    Writes go to both tiers (write-through), so another process on the host sees them through
    the disk tier. A promoted entry keeps the expiry it has on disk, capped by the memory
    pool's TTL.
    """

    name: ClassVar[str] = "tiered"
    Options = TieredOptions

    def __init__(self, options: TieredOptions, context: BackendContext) -> None:
        self.options = options
        self.memory = LruCache(options, context)
        self.disk = DiskCache(options.disk, context)
        self._lock = threading.Lock()
        self.promotions = 0
        self.misses = 0

    def get(self, pool: str, key: str) -> bytes | None:
        """Return the value from memory, else from disk (promoting it), else ``None``."""
        value = self.memory.get(pool, key)
        if value is not None:
            return value
        value, expire_time = self.disk.get_with_expiry(pool, key)
        if value is None:
            with self._lock:
                self.misses += 1
            return None
        ttl = self.options.pool(pool).ttl_seconds
        if expire_time is not None:
            remaining = expire_time - time.time()
            if remaining <= 0:
                return value
            ttl = remaining if ttl is None else min(ttl, remaining)
        self.memory.set(pool, key, value, ttl)
        with self._lock:
            self.promotions += 1
        return value

    def set(self, pool: str, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store a value in both tiers; ``ttl`` in seconds overrides each pool's default."""
        check_entry(pool, key, value, ttl)
        self.memory.set(pool, key, value, ttl)
        self.disk.set(pool, key, value, ttl)

    def delete(self, pool: str, key: str) -> None:
        """Remove a value from both tiers."""
        self.memory.delete(pool, key)
        self.disk.delete(pool, key)

    def clear(self, pool: str | None = None) -> None:
        """Remove every value of a pool (or of every pool) from both tiers."""
        self.memory.clear(pool)
        self.disk.clear(pool)

    def cleanup(self) -> dict[str, dict[str, int]]:
        """Drop expired entries of both tiers now; return how many per tier and pool."""
        return {"memory": self.memory.cleanup(), "disk": self.disk.cleanup()}

    def stats(self) -> dict[str, Any]:
        """Return the totals of the cache as a whole and each tier's own stats under ``tiers``."""
        memory, disk = self.memory.stats(), self.disk.stats()
        hits = memory["hits"] + disk["hits"]
        lookups = hits + self.misses
        return {
            "backend": self.name,
            "hits": hits,
            "misses": self.misses,
            "hit_rate": hits / lookups if lookups else None,
            "promotions": self.promotions,
            "bytes": memory["bytes"] + disk["bytes"],
            "items": disk["items"],
            "evictions": memory["evictions"] + disk["evictions"],
            "tiers": {"memory": memory, "disk": disk},
        }

    def close(self) -> None:
        """Release the memory tier and close the disk tier's databases."""
        self.memory.close()
        self.disk.close()
