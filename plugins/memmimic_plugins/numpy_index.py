"""The ``numpy`` vector index: exact brute-force inner product, no dependency beyond numpy.

A derived index: it holds nothing the storage does not, lives in memory only, and catches up
by replaying the storage's change sequence (``changes_since``). On first use it loads every
embedded memory; later syncs apply only what changed, so another process's writes show up
at the next sync. Vectors are kept per namespace, keyed by the storage's rowid.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from memmimic_core import hookimpl
from memmimic_core.errors import ConfigError, EmbedderMismatchError
from memmimic_core.models import Candidate, StoredVector, Vector, as_query_vector
from memmimic_core.protocols import BackendContext, BackendOptions, Storage, VectorIndex
from memmimic_core.registry import BackendRegistry

__all__ = ["NumpyVectorIndex"]

_PAGE = 10_000


class _Shelf:
    """The vectors of one namespace: a growable float32 matrix, its rowids and memory ids."""

    def __init__(self, dimension: int) -> None:
        self.matrix = np.zeros((16, dimension), dtype=np.float32)
        self.rowids: list[int] = []
        self.ids: list[str] = []
        self.slots: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.rowids)

    def put(self, rowid: int, memory_id: str, vector: Vector) -> None:
        slot = self.slots.get(rowid)
        if slot is None:
            slot = len(self.rowids)
            if slot == self.matrix.shape[0]:
                grown = np.zeros((slot * 2, self.matrix.shape[1]), dtype=np.float32)
                grown[:slot] = self.matrix
                self.matrix = grown
            self.rowids.append(rowid)
            self.ids.append(memory_id)
            self.slots[rowid] = slot
        self.matrix[slot] = vector
        self.ids[slot] = memory_id

    def remove(self, rowid: int) -> None:
        slot = self.slots.pop(rowid, None)
        if slot is None:
            return
        last = len(self.rowids) - 1
        if slot != last:  # move the last entry into the hole
            self.matrix[slot] = self.matrix[last]
            self.rowids[slot] = self.rowids[last]
            self.ids[slot] = self.ids[last]
            self.slots[self.rowids[slot]] = slot
        self.rowids.pop()
        self.ids.pop()

    def search(self, vector: Vector, limit: int) -> list[Candidate]:
        n = len(self.rowids)
        if n == 0:
            return []
        # einsum's own loop, not `@`: OpenBLAS runs this product on every core (no faster up to
        # ~10k rows) and its helper thread then spins ~0.1 s, taking a core from the encoder or
        # from concurrent recalls; one core is 1.4x slower at 100k rows, where faiss is the index
        scores = np.einsum("ij,j->i", self.matrix[:n], vector)
        k = min(limit, n)
        top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        ranked = sorted(top.tolist(), key=lambda i: (-float(scores[i]), self.ids[i]))
        return [Candidate(memory_id=self.ids[i], score=float(scores[i])) for i in ranked]


class NumpyVectorIndex:
    """Exact nearest neighbours by inner product over in-memory float32 matrices."""

    name: ClassVar[str] = "numpy"

    class Options(BackendOptions):
        """Options of the ``numpy`` vector index."""

        auto_sync: bool = Field(
            default=False,
            description="catch up with the storage before every search (the engine already syncs "
            "before each recall when storage changed; for using the index on its own)",
        )
        rebuild_lag: int = Field(
            default=100_000, ge=1, description="reload everything instead of replaying more changes than this"
        )

    def __init__(self, options: Options | None, context: BackendContext) -> None:
        if context.storage is None:
            raise ConfigError("vector_index: the numpy index needs the store's storage in its context")
        self.options = options or self.Options()
        self.storage: Storage = context.storage
        self._lock = threading.RLock()
        self._reset()

    def _reset(self) -> None:
        self._shelves: dict[str, _Shelf] = {}
        self._where: dict[int, str] = {}  # rowid -> namespace
        self._mismatched: set[int] = set()
        self._dimension: int | None = None
        self._last_seen = 0
        self._loaded = False

    # -- DerivedIndex ---------------------------------------------------------------------

    def sync(self) -> int:
        """Catch up with the storage; return how many changes (or memories, on load) were applied."""
        with self._lock:
            if not self._loaded:
                return self._load_all()
            page = min(_PAGE, self.options.rebuild_lag)
            applied = 0
            while True:
                changes = self.storage.changes_since(self._last_seen, limit=page)
                if not changes:
                    return applied
                if len(changes) == page and self.lag() > self.options.rebuild_lag:
                    return applied + self._load_all()  # cheaper than replaying every change
                latest: dict[int, str] = {}  # rowid -> last op in this page
                for change in changes:
                    latest[change.rowid] = change.op
                for rowid, op in latest.items():
                    if op == "delete":
                        self._remove(rowid)
                upserts = [rowid for rowid, op in latest.items() if op == "upsert"]
                if upserts:
                    found = self.storage.vectors_by_rowid(upserts)
                    self._put_all(found)
                    for rowid in set(upserts) - {m.rowid for m in found}:
                        self._remove(rowid)  # gone again since the change was recorded
                self._last_seen = max(self._last_seen, changes[-1].seq)
                applied += len(changes)

    def _load_all(self) -> int:
        self._reset()
        seq = self.storage.last_seq()  # read before loading: later changes get replayed
        loaded = 0
        for batch in self.storage.iter_vectors():
            self._put_all(batch)
            loaded += len(batch)
        self._last_seen = seq
        self._loaded = True
        return loaded

    def _put_all(self, memories: Iterable[StoredVector]) -> None:
        for memory in memories:
            vector = memory.embedding
            if vector is None:
                self._remove(memory.rowid)
                continue
            vector = np.asarray(vector, dtype=np.float32).reshape(-1)
            if self._dimension is None:
                self._dimension = int(vector.shape[0])
            if vector.shape[0] != self._dimension:
                self._remove(memory.rowid)
                self._mismatched.add(memory.rowid)
                continue
            self._mismatched.discard(memory.rowid)
            old = self._where.get(memory.rowid)
            if old is not None and old != memory.namespace:
                self._shelves[old].remove(memory.rowid)
            shelf = self._shelves.get(memory.namespace)
            if shelf is None:
                shelf = self._shelves[memory.namespace] = _Shelf(self._dimension)
            shelf.put(memory.rowid, memory.id, vector)
            self._where[memory.rowid] = memory.namespace

    def _remove(self, rowid: int) -> None:
        self._mismatched.discard(rowid)
        namespace = self._where.pop(rowid, None)
        if namespace is not None:
            self._shelves[namespace].remove(rowid)

    def lag(self) -> int:
        """Return how many changes the index is behind the storage."""
        return max(0, self.storage.last_seq() - self._last_seen)

    def stats(self) -> dict[str, Any]:
        """Return the kind, size per namespace, dimension, last change seen and skipped vectors."""
        with self._lock:
            sizes = {ns: len(shelf) for ns, shelf in sorted(self._shelves.items()) if len(shelf)}
            return {
                "kind": self.name,
                "vectors": sum(sizes.values()),
                "namespaces": sizes,
                "dimension": self._dimension,
                "last_seen": self._last_seen,
                "mismatched": len(self._mismatched),
                "bytes": sum(shelf.matrix.nbytes for shelf in self._shelves.values()),
            }

    def close(self) -> None:
        """Drop the vectors: nothing is persisted, the next open reloads from storage."""
        with self._lock:
            self._reset()

    # -- VectorIndex ----------------------------------------------------------------------

    def search(self, namespace: str, vector: Vector, limit: int) -> list[Candidate]:
        """Return up to ``limit`` memories of ``namespace``, highest inner product first."""
        query = as_query_vector(vector)
        if limit <= 0:
            return []
        with self._lock:
            if self.options.auto_sync or not self._loaded:
                self.sync()
            shelf = self._shelves.get(namespace)
            if shelf is None or not len(shelf):
                return []
            if query.shape[0] != self._dimension:
                raise EmbedderMismatchError(
                    f"the query vector has dimension {query.shape[0]} but the index holds vectors of "
                    f"dimension {self._dimension}; re-embed the store with the configured embedder"
                )
            return shelf.search(query, limit)


@hookimpl
def memmimic_register_vector_index(register: BackendRegistry[VectorIndex]) -> None:
    """Register the ``numpy`` vector index."""
    register(NumpyVectorIndex)
