"""The result cache in front of the recall pipeline (DESIGN §5, step 1).

The cache plugin (lru, diskcache, tiered, redis…) holds each result as JSON bytes, so any tier
can be shared safely. Decoding those bytes back into hits costs more than the lookup itself,
so a small in-process memo keeps the hits decoded from the bytes it last saw under each key:
a hit whose bytes are equal to the memo's returns the memo's (immutable) hits without decoding.
The plugin stays the authority: an entry it evicted, expired or never had is a miss here too.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from cachetools import LRUCache

from .models import Hit
from .protocols import Cache
from .search import hits_from_json, hits_to_json

__all__ = ["ResultCache"]

POOL = "results"


class ResultCache:
    """Get and put recall results through a cache plugin, decoding each stored value once."""

    def __init__(self, cache: Cache, *, memo_size: int = 256) -> None:
        self.cache = cache
        # a cache that keeps nothing (``none``) is not worth serializing results for
        self._stores = bool(getattr(cache, "stores_values", True))
        self._memo: LRUCache[str, tuple[bytes, list[Hit]]] | None = (
            LRUCache(maxsize=memo_size) if memo_size > 0 else None
        )
        self._lock = threading.Lock()
        self.decoded = 0  # values decoded from the plugin's bytes (memo misses)

    def get(self, key: str) -> list[Hit] | None:
        """Return the cached hits under ``key``, or ``None`` on a miss."""
        blob = self.cache.get(POOL, key)
        if blob is None:
            return None
        if self._memo is not None:
            with self._lock:
                seen = self._memo.get(key)
            if seen is not None and seen[0] == blob:
                return list(seen[1])
        hits = hits_from_json(blob)
        self.decoded += 1
        self._remember(key, blob, hits)
        return list(hits)

    def put(self, key: str, hits: Sequence[Hit]) -> None:
        """Store ``hits`` under ``key``."""
        if not self._stores:
            return
        blob = hits_to_json(hits)
        self.cache.set(POOL, key, blob)
        self._remember(key, blob, list(hits))

    def _remember(self, key: str, blob: bytes, hits: list[Hit]) -> None:
        if self._memo is not None:
            with self._lock:
                self._memo[key] = (blob, hits)
