"""``redis``: a cache shared between processes and hosts, with an in-memory tier in front.

Keys are ``{key_prefix}:{store_id}:{pool}:{key}``; values are the engine's bytes, stored and
returned as-is (never pickled), so a shared Redis is not a code-execution path. A dead or
unreachable Redis never raises to the caller: the cache degrades to its local tier, says so
in ``stats()`` (``degraded``, ``last_error``), retries at most every ``retry_interval``
seconds, and replays the deletes and clears it could not send once Redis is back.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import defaultdict
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field

from memmimic_core import hookimpl
from memmimic_core.errors import ConfigError, MissingResourceError
from memmimic_core.protocols import BackendContext, Cache
from memmimic_core.registry import BackendRegistry
from memmimic_plugins.caches.lru import LruCache
from memmimic_plugins.caches.options import CacheOptions, check_entry, check_pool

__all__ = ["RedisCache", "RedisOptions"]

_MAX_PENDING_DELETES = 10_000
_ALL = "*"


class RedisOptions(CacheOptions):
    """Where Redis is, how long to wait for it, and the local tier in front of it.

    The pools' ``ttl_seconds`` apply in Redis and locally; ``max_bytes`` and the thresholds
    budget the local tier (Redis's own ``maxmemory`` policy bounds the server).
    """

    url: str = Field(default="redis://127.0.0.1:6379/0", description="redis:// or rediss:// URL")
    key_prefix: str = Field(default="memmimic", min_length=1, description="first part of every key")
    socket_timeout: float = Field(default=0.5, gt=0, description="seconds to wait for a reply")
    connect_timeout: float = Field(default=0.5, gt=0, description="seconds to wait for a connection")
    retry_interval: float = Field(default=5.0, ge=0, description="seconds between reconnection attempts")
    local: bool = Field(default=True, description="keep an in-memory lru tier in front of Redis")
    local_max_ttl_seconds: float | None = Field(
        default=60.0, gt=0, description="local copies live at most this long (another process's delete)"
    )


def redact_url(url: str) -> str:
    """Return ``url`` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class _PoolCounters(dict[str, int]):
    def __missing__(self, key: str) -> int:
        return 0


class RedisCache:
    """Cache in Redis, shared by every process and host using the same store id."""

    name: ClassVar[str] = "redis"
    Options = RedisOptions

    def __init__(self, options: RedisOptions, context: BackendContext) -> None:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:  # pragma: no cover - redis is a dependency of the server extra
            raise MissingResourceError(
                "the redis cache needs the redis package: pip install 'memmimic[server]'"
            ) from None
        self._errors_caught: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.options = options
        self.url = redact_url(options.url)
        try:
            self._client = redis.Redis.from_url(
                options.url,
                socket_timeout=options.socket_timeout,
                socket_connect_timeout=options.connect_timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=False,
            )
        except ValueError as exc:
            raise ConfigError(f"cache.url: {exc} (got {self.url!r})") from None
        self.prefix = f"{options.key_prefix}:{context.store_id}:"
        self.local = LruCache(options, context) if options.local else None
        self._lock = threading.Lock()
        self._counters: dict[str, _PoolCounters] = defaultdict(_PoolCounters)
        self.degraded = False
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.errors = self.reconnects = self.skipped = 0
        self._next_attempt = 0.0
        self._pending_clears: set[str] = set()
        self._pending_deletes: set[tuple[str, str]] = set()
        self._call(lambda client: client.ping())

    # connection state

    def _degrade(self, exc: BaseException) -> None:
        with self._lock:
            self.degraded = True
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.last_error_at = time.time()
            self._next_attempt = time.monotonic() + self.options.retry_interval

    def _call(self, action: Any) -> Any:
        """Run ``action(client)``; on failure degrade and return ``None`` (the caller's miss)."""
        if self.degraded and not self._reconnect():
            self.skipped += 1
            return None
        try:
            return action(self._client)
        except self._errors_caught as exc:
            self._degrade(exc)
            return None

    def _reconnect(self) -> bool:
        """While degraded: try Redis again once the retry interval has passed."""
        if time.monotonic() < self._next_attempt:
            return False
        with self._lock:
            if time.monotonic() < self._next_attempt:
                return False
            self._next_attempt = time.monotonic() + self.options.retry_interval
            clears, deletes = set(self._pending_clears), set(self._pending_deletes)
        try:
            self._client.ping()
            for pool in sorted(clears):
                self._clear_remote(None if pool == _ALL else pool)
            if deletes:
                self._client.delete(*(self._key(pool, key) for pool, key in deletes))
        except self._errors_caught as exc:
            self._degrade(exc)
            return False
        with self._lock:
            self._pending_clears -= clears
            self._pending_deletes -= deletes
            self.degraded = False
            self.reconnects += 1
        return True

    # keys

    def _key(self, pool: str, key: str) -> bytes:
        return f"{self.prefix}{pool}:{key}".encode("utf-8", "surrogatepass")

    def _local_ttl(self, pool: str, ttl: float | None) -> float | None:
        if ttl is None:
            ttl = self.options.pool(pool).ttl_seconds
        cap = self.options.local_max_ttl_seconds
        if cap is None:
            return ttl
        return cap if ttl is None else min(ttl, cap)

    # the Cache protocol

    def get(self, pool: str, key: str) -> bytes | None:
        """Return the value from the local tier, else from Redis (copying it locally)."""
        check_entry(pool, key)
        if self.local is not None:
            value = self.local.get(pool, key)
            if value is not None:
                return value
        name = self._key(pool, key)

        def fetch(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            pipe.get(name)
            pipe.pttl(name)
            return pipe.execute()

        reply = self._call(fetch)
        found = reply is not None and reply[0] is not None
        with self._lock:
            self._counters[pool]["hits" if found else "misses"] += 1
        if not found:
            return None
        value, pttl = bytes(reply[0]), reply[1]
        if self.local is not None:
            remaining = pttl / 1000 if isinstance(pttl, int) and pttl > 0 else None
            self.local.set(pool, key, value, self._local_ttl(pool, remaining))
        return value

    def set(self, pool: str, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store a value in Redis (``PX`` = the TTL) and in the local tier."""
        check_entry(pool, key, value, ttl)
        if ttl is None:
            ttl = self.options.pool(pool).ttl_seconds
        data = bytes(value)
        if self.local is not None:
            self.local.set(pool, key, data, self._local_ttl(pool, ttl))
        px = max(1, int(ttl * 1000)) if ttl is not None else None
        if self._call(lambda client: client.set(self._key(pool, key), data, px=px)) is not None:
            with self._lock:
                self._counters[pool]["sets"] += 1

    def delete(self, pool: str, key: str) -> None:
        """Remove a value here and in Redis (later, if Redis is down now)."""
        check_entry(pool, key)
        if self.local is not None:
            self.local.delete(pool, key)
        if self._call(lambda client: client.delete(self._key(pool, key))) is None:
            with self._lock:
                if len(self._pending_deletes) < _MAX_PENDING_DELETES:
                    self._pending_deletes.add((pool, key))
                else:
                    self._pending_clears.add(pool)

    def clear(self, pool: str | None = None) -> None:
        """Remove every value of a pool (or of every pool) of this store, here and in Redis."""
        if pool is not None:
            check_pool(pool)
        if self.local is not None:
            self.local.clear(pool)
        if self._call(lambda _client: self._clear_remote(pool) or True) is None:
            with self._lock:
                self._pending_clears.add(_ALL if pool is None else pool)

    def _clear_remote(self, pool: str | None) -> int:
        pattern = _glob_escape(self.prefix + (f"{pool}:" if pool else "")) + "*"
        removed, batch = 0, []
        for name in self._client.scan_iter(match=pattern, count=1000):
            batch.append(name)
            if len(batch) >= 1000:
                removed += self._client.unlink(*batch)
                batch = []
        if batch:
            removed += self._client.unlink(*batch)
        return removed

    def cleanup(self) -> dict[str, int]:
        """Drop the local tier's expired entries now (Redis expires its own keys)."""
        return self.local.cleanup() if self.local is not None else {}

    def stats(self) -> dict[str, Any]:
        """Return totals, the connection state and each tier's stats under ``tiers``."""
        pools = {}
        with self._lock:
            counters = {pool: _PoolCounters(c) for pool, c in self._counters.items()}
        for pool, c in sorted(counters.items()):
            lookups = c["hits"] + c["misses"]
            pools[pool] = {
                "hits": c["hits"],
                "misses": c["misses"],
                "sets": c["sets"],
                "hit_rate": c["hits"] / lookups if lookups else None,
            }
        remote: dict[str, Any] = {
            "backend": self.name,
            "url": self.url,
            "prefix": self.prefix,
            "hits": sum(p["hits"] for p in pools.values()),
            "misses": sum(p["misses"] for p in pools.values()),
            "sets": sum(p["sets"] for p in pools.values()),
            "degraded": self.degraded,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "errors": self.errors,
            "reconnects": self.reconnects,
            "skipped": self.skipped,
            "pending": len(self._pending_deletes) + len(self._pending_clears),
            "pools": pools,
        }
        tiers: dict[str, Any] = {"redis": remote}
        hits = remote["hits"]
        if self.local is not None:
            tiers = {"local": self.local.stats(), **tiers}
            hits += tiers["local"]["hits"]
        lookups = hits + remote["misses"]
        return {
            "backend": self.name,
            "degraded": self.degraded,
            "last_error": self.last_error,
            "hits": hits,
            "misses": remote["misses"],
            "hit_rate": hits / lookups if lookups else None,
            "tiers": tiers,
        }

    def close(self) -> None:
        """Close the connection pool and drop the local tier."""
        if self.local is not None:
            self.local.close()
        with contextlib.suppress(*self._errors_caught):
            self._client.close()


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


@hookimpl
def memmimic_register_cache(register: BackendRegistry[Cache]) -> None:
    """Register the ``redis`` cache."""
    register(RedisCache)
