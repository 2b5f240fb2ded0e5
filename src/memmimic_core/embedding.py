"""The engine's embedding service: lazy embedder, query-embedding cache, write-behind worker.

Write-behind (``embedder.write_behind``): ``remember`` stores the record without a vector and
returns; a background thread embeds what storage lists as unembedded, in batches. A recall
first embeds what is still pending in its namespace (read-your-writes), and because the
pending set lives in storage, memories left unembedded by a crash or by another process are
picked up the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from cachetools import LRUCache

from .memory import release_free_memory
from .models import Vector
from .protocols import Embedder, Storage

__all__ = ["EmbeddingService"]

log = logging.getLogger(__name__)
Classify = Callable[[Sequence[str], Vector], list[tuple[str | None, float | None]] | None]


class EmbeddingService:
    """Embeds texts for the engine, caching query vectors and catching up unembedded memories."""

    def __init__(
        self,
        factory: Callable[[], Embedder],
        storage: Storage,
        *,
        batch_size: int,
        cache_size: int,
        write_behind: bool,
        on_embedded: Callable[[], None],
        classify: Callable[[Sequence[str], Vector], list[tuple[str | None, float | None]] | None]
        | None = None,
    ) -> None:
        self._factory = factory
        self._embedder: Embedder | None = None
        self._storage = storage
        self.batch_size = batch_size
        self.write_behind = write_behind
        self._on_embedded = on_embedded
        self._classify = classify
        self._load_lock = threading.Lock()
        self._embed_lock = threading.Lock()
        self._cache: LRUCache[tuple[str, str], Vector] | None = (
            LRUCache(maxsize=cache_size) if cache_size else None
        )
        self._cache_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.cache_hits = 0
        self.cache_misses = 0
        self.last_error: str | None = None
        # read-your-writes bookkeeping: namespaces this process wrote unembedded memories to, and
        # namespaces checked since start (a crash may have left some unembedded: check each once)
        self._dirty: set[str] = set()
        self._checked: set[str] = set()
        self._trimmed = False

    @property
    def embedder(self) -> Embedder:
        """The embedder, built on first use (its model loads at its first ``embed``)."""
        if self._embedder is None:
            with self._load_lock:
                if self._embedder is None:
                    self._embedder = self._factory()
        return self._embedder

    @property
    def fingerprint(self) -> str:
        """The configured embedder's fingerprint (builds the backend, whose model loads lazily)."""
        return self.embedder.fingerprint

    def embed(self, texts: Sequence[str]) -> Vector:
        """Embed documents in batches of ``batch_size``."""
        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        parts = [
            self.embedder.embed(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)
        ]
        return np.ascontiguousarray(np.vstack(parts), dtype=np.float32)

    def embed_query(self, text: str) -> Vector:
        """Embed one query, from the in-process cache when seen before."""
        key = (self.fingerprint, text)
        if self._cache is not None:
            with self._cache_lock:
                cached = self._cache.get(key)
            if cached is not None:
                self.cache_hits += 1
                return cached
        self.cache_misses += 1
        vector = self.embedder.embed([text])[0]
        if not self._trimmed:  # the first encode loaded the model: hand back what loading freed
            release_free_memory()
            self._trimmed = True
        if self._cache is not None:
            with self._cache_lock:
                self._cache[key] = vector
        return vector

    # write-behind ---------------------------------------------------------------------

    def notify_written(self, namespaces: Iterable[str] = ()) -> None:
        """Wake the background worker after a write that stored no vector (in ``namespaces``)."""
        self._dirty.update(namespaces)
        if self._worker is None:
            with self._load_lock:
                if self._worker is None:
                    self._worker = threading.Thread(target=self._run, name="memmimic-embedder", daemon=True)
                    self._worker.start()
        self._wake.set()

    def catch_up_pending(self, namespace: str) -> int:
        """Embed ``namespace``'s pending memories, if this process may have left any (read-your-writes).

        Free when nothing was written there since the last check: no storage query. Writes of
        other processes are embedded by their own workers (or by the next start).
        """
        if namespace in self._checked and namespace not in self._dirty:
            return 0
        self._dirty.discard(namespace)  # before the query: a write racing it marks it again
        self._checked.add(namespace)
        try:
            return self.catch_up(namespace)
        except BaseException:
            self._dirty.add(namespace)
            raise

    def catch_up(
        self,
        namespace: str | None = None,
        *,
        max_batches: int | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Embed memories that storage lists as unembedded; return how many were embedded.

        :param stop: checked between batches (the worker's: closing must not wait for a backlog).
        """
        done = 0
        batches = 0
        with self._embed_lock:
            while (max_batches is None or batches < max_batches) and not (stop is not None and stop.is_set()):
                pending = self._storage.unembedded(self.batch_size, namespace)
                if not pending:
                    break
                texts = [m.content for m in pending]
                vectors = self.embed(texts)
                found = self._classify(texts, vectors) if self._classify is not None else None
                labels = (
                    {m.id: found[i] for i, m in enumerate(pending) if m.cxd_function is None}
                    if found is not None
                    else None
                )
                self._storage.set_embeddings(
                    [(m.id, vectors[i]) for i, m in enumerate(pending)], self.fingerprint, labels
                )
                done += len(pending)
                batches += 1
        if done:
            release_free_memory()  # the encoder's batch tensors, freed but kept by malloc
            self._on_embedded()
        return done

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=5.0)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.catch_up(stop=self._stop)
                self.last_error = None
            except Exception as exc:  # keep the worker alive; recall catches up on its own
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self._stop.is_set():  # closing: what is left embeds at the next start
                    log.debug("background embedding stopped by close: %s", self.last_error)
                else:
                    log.warning("background embedding failed: %s", self.last_error)

    def stats(self) -> dict[str, Any]:
        """Facts for status: loaded or not, cache use, worker state."""
        loaded = self._embedder is not None
        info: dict[str, Any] = {
            "write_behind": self.write_behind,
            "query_cache_hits": self.cache_hits,
            "query_cache_misses": self.cache_misses,
            "worker_running": self._worker is not None and self._worker.is_alive(),
        }
        if loaded and self._embedder is not None:
            info["fingerprint"] = self._embedder.fingerprint
            info["dimension"] = self._embedder.dimension
        if self.last_error:
            info["last_error"] = self.last_error
        return info

    def close(self, *, flush: bool = True) -> None:
        """Stop the worker and embed what this process left pending (the engine closes the embedder)."""
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=60)  # it stops after the batch in progress
            if self._worker.is_alive():
                log.warning("the embedding worker did not stop; pending memories embed at the next start")
            elif flush:
                try:
                    self.catch_up()
                except Exception as exc:  # the next start catches up from storage
                    log.warning("could not embed pending memories on close: %s", exc)
