"""Cache backends: ``lru`` (memory), ``diskcache`` (disk), ``tiered`` (memory over disk).

Every backend stores bytes under (pool, key); the engine serializes with JSON, so nothing is
ever pickled. Pools ("results", "embeddings", "classifications", or any other name) each have
a byte budget and a default TTL, see :class:`CacheOptions`. The ``redis`` backend lives in
:mod:`memmimic_plugins.redis_cache`.
"""

from __future__ import annotations

from memmimic_core import hookimpl
from memmimic_core.protocols import Cache
from memmimic_core.registry import BackendRegistry

from .disk import DiskCache, DiskOptions
from .lru import ENTRY_OVERHEAD, LruCache, LruOptions
from .options import DEFAULT_POOLS, CacheOptions, PoolOptions
from .tiered import TieredCache, TieredOptions

__all__ = [
    "DEFAULT_POOLS",
    "ENTRY_OVERHEAD",
    "CacheOptions",
    "DiskCache",
    "DiskOptions",
    "LruCache",
    "LruOptions",
    "PoolOptions",
    "TieredCache",
    "TieredOptions",
]


@hookimpl
def memmimic_register_cache(register: BackendRegistry[Cache]) -> None:
    """Register the ``lru``, ``diskcache`` and ``tiered`` caches."""
    register(LruCache)
    register(DiskCache)
    register(TieredCache)
