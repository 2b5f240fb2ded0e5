"""``diskcache``: a size-limited cache on disk (one SQLite-backed diskcache per pool)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import ByteSize, Field

from memmimic_core.errors import MissingResourceError
from memmimic_core.protocols import BackendContext

from .options import CacheOptions, MiB, check_entry, check_pool

__all__ = ["DiskCache", "DiskOptions"]

_MODE_RAW, _MODE_BINARY = 1, 2


class DiskOptions(CacheOptions):
    """Options of the ``diskcache`` cache: the common pools plus where and how to evict."""

    directory: Path | None = Field(default=None, description="default: <data_dir>/cache")
    eviction_policy: Literal["least-recently-used", "least-recently-stored"] = Field(
        default="least-recently-used", description="which entries a cleanup removes first"
    )
    total_max_bytes: ByteSize = Field(default=ByteSize(1024 * MiB), description="budget across all pools")
    timeout: float = Field(default=2.0, gt=0, description="seconds to wait for a locked database")


def _bytes_only_disk() -> type:
    """diskcache's serializer restricted to str keys and bytes values: it never unpickles."""
    import diskcache

    class BytesDisk(diskcache.Disk):
        def get(self, key: Any, raw: bool) -> Any:
            if not raw:
                raise OSError("refusing to unpickle a cache key")
            return super().get(key, raw)

        def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> Any:
            if type(value) is not bytes:
                raise TypeError("the memmimic disk cache stores bytes only")
            return super().store(value, read, key)

        def fetch(self, mode: int, filename: Any, value: Any, read: bool) -> Any:
            if mode not in (_MODE_RAW, _MODE_BINARY):
                raise OSError("refusing to load a non-bytes cache value")  # diskcache: a miss
            return super().fetch(mode, filename, value, read)

    return BytesDisk


@dataclass(slots=True)
class _Counters:
    hits: int = 0
    misses: int = 0
    sets: int = 0
    errors: int = 0
    evictions: int = 0
    expired: int = 0
    pressure_cleanups: int = 0
    emergency_evictions: int = 0


class DiskCache:
    """Cache on disk under ``directory/<pool>/``, shared by the processes of one host.

    Values are stored raw (bytes only, never pickled). Each pool is limited to its
    ``max_bytes``: after a write that takes a pool past ``warning_threshold``, expired entries
    and then the least recently used (or stored) ones are removed down to ``target_ratio``
    (``emergency_ratio`` past ``emergency_threshold``). Sizes are diskcache's estimate
    (SQLite pages plus value files), so a pool never holds less than its database's pages.
    A locked or failing database is a miss, never an error for the caller.
    """

    name: ClassVar[str] = "diskcache"
    Options = DiskOptions

    def __init__(self, options: DiskOptions, context: BackendContext) -> None:
        try:
            import diskcache
        except ImportError:  # pragma: no cover - diskcache is a dependency of the embedded extra
            raise MissingResourceError(
                "the diskcache cache needs the diskcache package: pip install 'memmimic[embedded]'"
            ) from None
        self._diskcache = diskcache
        self.options = options
        self.directory = Path(options.directory or Path(context.data_dir) / "cache")
        self._disk_class = _bytes_only_disk()
        self._pools: dict[str, Any] = {}
        self._counters: dict[str, _Counters] = {}
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.last_error: str | None = None

    def _pool(self, name: str) -> Any:
        cache = self._pools.get(name)
        if cache is None:
            with self._lock:
                cache = self._pools.get(name)
                if cache is None:
                    cache = self._diskcache.Cache(
                        str(self.directory / name),
                        timeout=self.options.timeout,
                        disk=self._disk_class,
                        size_limit=int(self.options.pool(name).max_bytes),
                        cull_limit=0,
                        eviction_policy=self.options.eviction_policy,
                        statistics=0,
                    )
                    self._counters[name] = _Counters()
                    self._pools[name] = cache
        return cache

    def _add(self, pool: str, field: str, amount: int = 1) -> None:
        counters = self._counters[pool]
        with self._count_lock:
            setattr(counters, field, getattr(counters, field) + amount)

    def _fail(self, pool: str, exc: Exception) -> None:
        self._add(pool, "errors")
        self.last_error = f"{type(exc).__name__}: {exc}"

    def get(self, pool: str, key: str) -> bytes | None:
        """Return the value, or ``None`` when absent, expired or unreadable."""
        return self.get_with_expiry(pool, key)[0]

    def get_with_expiry(self, pool: str, key: str) -> tuple[bytes | None, float | None]:
        """Return the value and its expiry as a ``time.time()`` timestamp (``None``: never)."""
        check_entry(pool, key)
        cache = self._pool(pool)
        try:
            value, expire_time = cache.get(key, default=None, expire_time=True)
        except (self._diskcache.Timeout, OSError) as exc:
            self._fail(pool, exc)
            value, expire_time = None, None
        if value is None:
            self._add(pool, "misses")
            return None, None
        self._add(pool, "hits")
        return value, expire_time

    def set(self, pool: str, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store a value; ``ttl`` in seconds overrides the pool's default."""
        check_entry(pool, key, value, ttl)
        if ttl is None:
            ttl = self.options.pool(pool).ttl_seconds
        cache = self._pool(pool)
        try:
            cache.set(key, bytes(value), expire=ttl)
            self._add(pool, "sets")
            self._relieve(pool, cache)
        except (self._diskcache.Timeout, OSError) as exc:
            self._fail(pool, exc)

    def _relieve(self, pool: str, cache: Any) -> None:
        opts = self.options
        limit = int(opts.pool(pool).max_bytes)
        volume = cache.volume()
        if volume > opts.warning_threshold * limit:
            emergency = volume > opts.emergency_threshold * limit
            ratio = opts.emergency_ratio if emergency else opts.target_ratio
            self._shrink(pool, cache, limit, ratio, emergency)
        if len(self._pools) > 1:
            total_limit = int(opts.total_max_bytes)
            volumes = {name: c.volume() for name, c in self._pools.items()}
            total = sum(volumes.values())
            if total > opts.warning_threshold * total_limit:
                emergency = total > opts.emergency_threshold * total_limit
                ratio = (opts.emergency_ratio if emergency else opts.target_ratio) * total_limit / total
                for name, c in list(self._pools.items()):
                    self._shrink(name, c, volumes[name], ratio, emergency)

    def _shrink(self, pool: str, cache: Any, limit: int, ratio: float, emergency: bool) -> None:
        """Remove expired, then least recently used entries until ``cache`` is at ``ratio * limit``."""
        self._add(pool, "emergency_evictions" if emergency else "pressure_cleanups")
        self._add(pool, "expired", cache.expire())
        configured = int(self.options.pool(pool).max_bytes)
        with self._lock:  # size_limit is per instance: cull() reads it, set() does not (cull_limit=0)
            cache.reset("size_limit", int(ratio * limit), update=False)
            try:
                self._add(pool, "evictions", cache.cull())
            finally:
                cache.reset("size_limit", configured, update=False)

    def delete(self, pool: str, key: str) -> None:
        """Remove a value if present."""
        check_entry(pool, key)
        try:
            self._pool(pool).delete(key)
        except (self._diskcache.Timeout, OSError) as exc:
            self._fail(pool, exc)

    def clear(self, pool: str | None = None) -> None:
        """Remove every value of a pool (or of every pool found on disk)."""
        if pool is not None:
            names = [check_pool(pool)]
        else:
            found = set(self._pools)
            if self.directory.is_dir():
                found |= {p.name for p in self.directory.iterdir() if p.is_dir()}
            names = sorted(found)
        for name in names:
            try:
                self._pool(name).clear()
            except (self._diskcache.Timeout, OSError) as exc:
                self._fail(name, exc)

    def cleanup(self) -> dict[str, int]:
        """Remove expired entries of every open pool now; return how many per pool."""
        removed = {}
        for name, cache in list(self._pools.items()):
            count = cache.expire()
            self._add(name, "expired", count)
            removed[name] = count
        return removed

    def stats(self) -> dict[str, Any]:
        """Return hits, misses, evictions, bytes (diskcache's estimate) and items per pool."""
        pools: dict[str, Any] = {}
        for name, cache in sorted(self._pools.items()):
            c = self._counters[name]
            limit = int(self.options.pool(name).max_bytes)
            lookups = c.hits + c.misses
            volume = cache.volume()
            pools[name] = {
                "hits": c.hits,
                "misses": c.misses,
                "sets": c.sets,
                "errors": c.errors,
                "hit_rate": c.hits / lookups if lookups else None,
                "evictions": c.evictions,
                "expired": c.expired,
                "pressure_cleanups": c.pressure_cleanups,
                "emergency_evictions": c.emergency_evictions,
                "bytes": volume,
                "items": len(cache),
                "max_bytes": limit,
                "utilization": volume / limit,
                "ttl_seconds": self.options.pool(name).ttl_seconds,
            }
        out: dict[str, Any] = {"backend": self.name, "directory": str(self.directory)}
        for field in (
            "hits",
            "misses",
            "sets",
            "errors",
            "evictions",
            "expired",
            "pressure_cleanups",
            "emergency_evictions",
            "bytes",
            "items",
        ):
            out[field] = sum(p[field] for p in pools.values())
        lookups = out["hits"] + out["misses"]
        out["hit_rate"] = out["hits"] / lookups if lookups else None
        out["max_bytes"] = int(self.options.total_max_bytes)
        out["last_error"] = self.last_error
        out["pools"] = pools
        return out

    def close(self) -> None:
        """Close every pool's database."""
        for cache in self._pools.values():
            cache.close()
        self._pools.clear()
