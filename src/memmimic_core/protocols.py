"""One small Protocol per plugin kind: the whole contract between the core and a backend.

Every backend class has ``name: ClassVar[str]``, an ``Options`` pydantic model for its config
options (``extra="forbid"``), and a constructor ``Backend(options, context)``. The contract
suite in :mod:`memmimic_core.testing` checks each Protocol's behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from .models import (
    Candidate,
    Change,
    Filters,
    Fused,
    HistoryEntry,
    Memory,
    MemoryPatch,
    MemoryRef,
    NewMemory,
    StoredVector,
    Tale,
    TextQuery,
    Vector,
    WeightedTerm,
)

__all__ = [
    "BackendContext",
    "BackendOptions",
    "Cache",
    "Classifier",
    "DerivedIndex",
    "Embedder",
    "Expander",
    "Ranker",
    "Storage",
    "TextIndex",
    "VectorIndex",
]


class BackendOptions(BaseModel):
    """Base of every backend's options model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class BackendContext:
    """What a backend may know about the store it serves.

    :param data_dir: the store's directory (SQLite file, index files, disk cache live here).
    :param store_id: a stable id of the store (e.g. for a shared cache's key prefix).
    :param storage: the store's storage backend, for derived indexes that replay its changes
        (``None`` while the storage itself is being built).
    :param embedder: returns the configured embedder, loading it on first call (for
        classifiers that need embeddings); ``None`` where no embedder is available.
    :param settings: the effective config as a plain dict, read-only by convention.
    """

    data_dir: Path
    store_id: str = "default"
    storage: Storage | None = None
    embedder: Callable[[], Embedder] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Storage(Protocol):
    """The source of truth: memories, their history, tales, and a change sequence.

    Every method scoped by ``namespace`` must never read, count or change another namespace.
    Writes are atomic: a failed call leaves nothing half-written.
    """

    name: ClassVar[str]

    # memories
    def add(self, items: Sequence[NewMemory]) -> list[Memory]:
        """Store ``items`` in one transaction and return them with ids and timestamps."""
        ...

    def get(self, ids: Sequence[str], namespace: str, filters: Filters | None = None) -> list[Memory]:
        """Return the memories with these ids, in the order given; skip missing or filtered ones."""
        ...

    def get_by_rowid(self, rowids: Sequence[int], *, with_embedding: bool = False) -> list[Memory]:
        """Return memories by their integer key, any namespace (for derived indexes)."""
        ...

    def vectors_by_rowid(self, rowids: Sequence[int]) -> list[StoredVector]:
        """Return the stored vectors of these memories, any namespace, in the order given; skip
        missing ones (``embedding`` ``None``: not embedded). The vector indexes' catch-up read."""
        ...

    def locate(
        self,
        namespace: str,
        filters: Filters | None = None,
        *,
        ids: Sequence[str] = (),
        rowids: Sequence[int] = (),
    ) -> list[MemoryRef]:
        """Return a :class:`MemoryRef` for each memory of ``namespace``, given by id or by rowid,
        that exists and passes ``filters``; any order, no duplicates.

        Recall ranks on these and reads in full (:meth:`get`) only the hits it returns, so this
        should read no content, metadata or vectors.
        """
        ...

    def update(self, memory_id: str, namespace: str, patch: MemoryPatch, reason: str | None = None) -> Memory:
        """Apply ``patch``, record a history entry, and return the new state.

        :raises NotFoundError: no such memory in that namespace.
        """
        ...

    def delete(self, memory_id: str, namespace: str) -> bool:
        """Delete a memory (and its history); return whether it existed."""
        ...

    def history(self, memory_id: str, namespace: str) -> list[HistoryEntry]:
        """Return the recorded changes of a memory, oldest first."""
        ...

    def find_by_hash(self, namespace: str, content_hash: str) -> list[Memory]:
        """Return the memories whose content hashes to ``content_hash``."""
        ...

    def count(self, namespace: str | None = None, filters: Filters | None = None) -> int:
        """Count memories in one namespace (``None``: all namespaces, for status)."""
        ...

    def namespaces(self) -> list[str]:
        """Return every namespace holding at least one memory or tale."""
        ...

    def iter_memories(
        self, namespace: str | None = None, *, batch_size: int = 1000, with_embedding: bool = False
    ) -> Iterator[list[Memory]]:
        """Yield every memory in batches, ordered by rowid (rebuilds, export)."""
        ...

    def iter_vectors(
        self, namespace: str | None = None, *, batch_size: int = 1000
    ) -> Iterator[list[StoredVector]]:
        """Yield every memory's stored vector in batches, ordered by rowid (vector index rebuilds)."""
        ...

    def keyword_search(
        self, namespace: str, query: TextQuery, limit: int, filters: Filters | None = None
    ) -> list[Candidate]:
        """Full-text search, best first; the query's text is data, never syntax."""
        ...

    def touch(self, ids: Sequence[str], namespace: str, at: datetime) -> None:
        """Record an access (last_accessed_at, access_count) without a history entry."""
        ...

    # embeddings
    def set_embeddings(
        self,
        items: Sequence[tuple[str, Vector]],
        fingerprint: str,
        labels: Mapping[str, tuple[str | None, float | None]] | None = None,
    ) -> None:
        """Store vectors for existing memories (write-behind, re-embed); records a change.

        :param labels: CXD (function, confidence) per memory id, written with the vectors when
            classification was deferred to the embedding batch; no history entry.
        """
        ...

    def unembedded(self, limit: int, namespace: str | None = None) -> list[Memory]:
        """Return active memories that have no embedding yet, oldest first."""
        ...

    def embedder_counts(self) -> dict[str, int]:
        """Return how many memories carry an embedding of each embedder fingerprint."""
        ...

    # change sequence
    def last_seq(self) -> int:
        """Return the sequence number of the newest change (0 for an empty store)."""
        ...

    def changes_since(self, seq: int, limit: int = 10_000) -> list[Change]:
        """Return changes with a sequence number above ``seq``, oldest first."""
        ...

    def generation(self, namespace: str) -> int:
        """Return a number that grows with every write in ``namespace`` (cache keys)."""
        ...

    def change_token(self) -> int | None:
        """Return a cheap number that changes whenever any connection, in any process, commits.

        Read before :meth:`last_seq` / :meth:`generation`, an unchanged token lets the caller
        reuse the values it read last time without a query (SQLite: ``PRAGMA data_version`` on a
        dedicated connection). ``None`` means the backend cannot tell cheaply: callers query.
        """
        ...

    # tales
    def save_tale(self, namespace: str, name: str, content: str, category: str, tags: Sequence[str]) -> Tale:
        """Save a new version of a tale (version 1 when new) and return it."""
        ...

    def get_tale(
        self, namespace: str, name: str, version: int | None = None, *, include_deleted: bool = False
    ) -> Tale:
        """Return the latest (or a given) version of a tale.

        :raises NotFoundError: no such tale (or version).
        """
        ...

    def list_tales(
        self,
        namespace: str,
        *,
        category: str | None = None,
        query: str | None = None,
        include_deleted: bool = False,
    ) -> list[Tale]:
        """Return the latest version of each tale, optionally filtered by category or text."""
        ...

    def tale_versions(self, namespace: str, name: str) -> list[Tale]:
        """Return every version of a tale, oldest first."""
        ...

    def delete_tale(self, namespace: str, name: str, *, purge: bool = False) -> bool:
        """Soft-delete a tale (restorable) or purge it with every version."""
        ...

    def restore_tale(self, namespace: str, name: str) -> Tale:
        """Undo a soft delete."""
        ...

    # housekeeping
    def stats(self) -> dict[str, Any]:
        """Return backend facts for status (file size, pool use, …)."""
        ...

    def maintain(self) -> dict[str, Any]:
        """Optimize (ANALYZE, FTS optimize, …) and report what changed."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@runtime_checkable
class DerivedIndex(Protocol):
    """An index rebuilt from storage: it replays the change sequence to catch up."""

    name: ClassVar[str]

    def sync(self) -> int:
        """Catch up with the storage's change sequence; return how many changes were applied.

        Rebuilds from storage when the index is missing, damaged or too far behind. The engine
        calls it at start-up and before a search whenever storage changed (its change token or
        last sequence moved), so an index need not check storage again in ``search``.
        """
        ...

    def lag(self) -> int:
        """Return how many changes the index is behind the storage."""
        ...

    def stats(self) -> dict[str, Any]:
        """Return index facts for status (kind, size, last change seen)."""
        ...

    def close(self) -> None:
        """Persist and release files."""
        ...


@runtime_checkable
class TextIndex(DerivedIndex, Protocol):
    """Keyword (BM25) retrieval over memory content."""

    def search(
        self, namespace: str, query: TextQuery, limit: int, filters: Filters | None = None
    ) -> list[Candidate]:
        """Return up to ``limit`` candidates of ``namespace``, best first."""
        ...


@runtime_checkable
class VectorIndex(DerivedIndex, Protocol):
    """Nearest-neighbour search over memory embeddings (inner product of normalized vectors)."""

    def search(self, namespace: str, vector: Vector, limit: int) -> list[Candidate]:
        """Return up to ``limit`` candidates of ``namespace``, most similar first."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Text to normalized float32 vectors, batched."""

    name: ClassVar[str]

    @property
    def dimension(self) -> int:
        """The vectors' dimension."""
        ...

    @property
    def fingerprint(self) -> str:
        """Identifies model and version: vectors with different fingerprints don't mix."""
        ...

    def embed(self, texts: Sequence[str]) -> Vector:
        """Return an (n, dimension) float32 array of L2-normalized rows."""
        ...

    def close(self) -> None:
        """Release the model."""
        ...


@runtime_checkable
class Expander(Protocol):
    """Query text to extra weighted terms."""

    name: ClassVar[str]

    def expand(self, text: str) -> list[WeightedTerm]:
        """Return extra terms for ``text`` (never the query's own words), bounded in number."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


@runtime_checkable
class Ranker(Protocol):
    """Fuses per-source candidate lists into one ranked list."""

    name: ClassVar[str]

    def fuse(self, sources: Mapping[str, Sequence[Candidate]], limit: int) -> list[Fused]:
        """Return at most ``limit`` fused results, best first, each explaining its sources.

        A ranker may also accept a keyword ``explain: bool = False``; when the pipeline passes
        ``explain=True`` (``recall(..., explain=True)``) it fills each result's breakdown of the
        final score (what each source added, the agreement bonus) without changing the ranking.
        A ranker without the keyword still works; its hits then carry no breakdown.
        """
        ...


@runtime_checkable
class Cache(Protocol):
    """Byte values under (pool, key) with TTLs and a byte budget."""

    name: ClassVar[str]

    def get(self, pool: str, key: str) -> bytes | None:
        """Return the value, or ``None`` when absent or expired."""
        ...

    def set(self, pool: str, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store a value; ``ttl`` in seconds overrides the pool's default."""
        ...

    def delete(self, pool: str, key: str) -> None:
        """Remove a value if present."""
        ...

    def clear(self, pool: str | None = None) -> None:
        """Remove every value of a pool (or of every pool)."""
        ...

    def stats(self) -> dict[str, Any]:
        """Return hits, misses, evictions and bytes per pool."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@runtime_checkable
class Classifier(Protocol):
    """Text to a CXD function (CONTROL / CONTEXT / DATA) and a confidence in [0, 1]."""

    name: ClassVar[str]

    def classify(self, texts: Sequence[str]) -> list[tuple[str | None, float | None]]:
        """Return one (function, confidence) per text; (None, None) when undecided."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...
