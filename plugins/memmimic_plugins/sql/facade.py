"""The light front of the SQL storages: what plugin modules import at start-up.

SQLAlchemy and Alembic take a third of a second to import, so the registered classes only
hold options and build their :class:`~memmimic_plugins.sql.base.SqlStore` on construction;
every :class:`~memmimic_core.protocols.Storage` method is forwarded to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from memmimic_core.models import (
    Candidate,
    Change,
    Filters,
    HistoryEntry,
    Memory,
    MemoryPatch,
    MemoryRef,
    NewMemory,
    StoredVector,
    Tale,
    TextQuery,
    Vector,
)

if TYPE_CHECKING:
    from .base import SqlStore

__all__ = ["SqlStorageFacade"]


class SqlStorageFacade:
    """Forwards the Storage protocol to a lazily imported SQLAlchemy store."""

    name: ClassVar[str]
    _store: SqlStore

    @property
    def store(self) -> SqlStore:
        """The SQLAlchemy store behind this backend (engine, tables, dialect parts)."""
        return self._store

    def add(self, items: Sequence[NewMemory]) -> list[Memory]:
        """Store ``items`` in one transaction and return them with ids and timestamps."""
        return self._store.add(items)

    def get(self, ids: Sequence[str], namespace: str, filters: Filters | None = None) -> list[Memory]:
        """Return the memories with these ids, in the order given; skip missing or filtered ones."""
        return self._store.get(ids, namespace, filters)

    def locate(
        self,
        namespace: str,
        filters: Filters | None = None,
        *,
        ids: Sequence[str] = (),
        rowids: Sequence[int] = (),
    ) -> list[MemoryRef]:
        """Return id, rowid, type and time of the memories given by id or rowid that pass ``filters``."""
        return self._store.locate(namespace, filters, ids=ids, rowids=rowids)

    def get_by_rowid(self, rowids: Sequence[int], *, with_embedding: bool = False) -> list[Memory]:
        """Return memories by their integer key, any namespace (for derived indexes)."""
        return self._store.get_by_rowid(rowids, with_embedding=with_embedding)

    def vectors_by_rowid(self, rowids: Sequence[int]) -> list[StoredVector]:
        """Return the stored vectors of these memories, any namespace (vector index catch-up)."""
        return self._store.vectors_by_rowid(rowids)

    def update(self, memory_id: str, namespace: str, patch: MemoryPatch, reason: str | None = None) -> Memory:
        """Apply ``patch``, record a history entry, and return the new state."""
        return self._store.update(memory_id, namespace, patch, reason)

    def delete(self, memory_id: str, namespace: str) -> bool:
        """Delete a memory (and its history); return whether it existed."""
        return self._store.delete(memory_id, namespace)

    def history(self, memory_id: str, namespace: str) -> list[HistoryEntry]:
        """Return the recorded changes of a memory, oldest first."""
        return self._store.history(memory_id, namespace)

    def find_by_hash(self, namespace: str, content_hash: str) -> list[Memory]:
        """Return the memories whose content hashes to ``content_hash``."""
        return self._store.find_by_hash(namespace, content_hash)

    def count(self, namespace: str | None = None, filters: Filters | None = None) -> int:
        """Count memories in one namespace (``None``: all namespaces)."""
        return self._store.count(namespace, filters)

    def namespaces(self) -> list[str]:
        """Return every namespace holding at least one memory or tale."""
        return self._store.namespaces()

    def iter_memories(
        self, namespace: str | None = None, *, batch_size: int = 1000, with_embedding: bool = False
    ) -> Iterator[list[Memory]]:
        """Yield every memory in batches, ordered by rowid."""
        return self._store.iter_memories(namespace, batch_size=batch_size, with_embedding=with_embedding)

    def iter_vectors(
        self, namespace: str | None = None, *, batch_size: int = 1000
    ) -> Iterator[list[StoredVector]]:
        """Yield every memory's stored vector in batches, ordered by rowid (vector index rebuilds)."""
        return self._store.iter_vectors(namespace, batch_size=batch_size)

    def keyword_search(
        self, namespace: str, query: TextQuery, limit: int, filters: Filters | None = None
    ) -> list[Candidate]:
        """Full-text search, best first; the query's text is data, never syntax."""
        return self._store.keyword_search(namespace, query, limit, filters)

    def touch(self, ids: Sequence[str], namespace: str, at: datetime) -> None:
        """Record an access without a history entry."""
        self._store.touch(ids, namespace, at)

    def set_embeddings(
        self,
        items: Sequence[tuple[str, Vector]],
        fingerprint: str,
        labels: Mapping[str, tuple[str | None, float | None]] | None = None,
    ) -> None:
        """Store vectors (and deferred CXD labels) for existing memories; records changes."""
        self._store.set_embeddings(items, fingerprint, labels)

    def unembedded(self, limit: int, namespace: str | None = None) -> list[Memory]:
        """Return active memories that have no embedding yet, oldest first."""
        return self._store.unembedded(limit, namespace)

    def embedder_counts(self) -> dict[str, int]:
        """Return how many memories carry an embedding of each embedder fingerprint."""
        return self._store.embedder_counts()

    def last_seq(self) -> int:
        """Return the sequence number of the newest change (0 for an empty store)."""
        return self._store.last_seq()

    def changes_since(self, seq: int, limit: int = 10_000) -> list[Change]:
        """Return changes with a sequence number above ``seq``, oldest first."""
        return self._store.changes_since(seq, limit)

    def generation(self, namespace: str) -> int:
        """Return the newest change's sequence number in ``namespace`` (0 if none)."""
        return self._store.generation(namespace)

    def change_token(self) -> int | None:
        """Return a cheap number that changes with every commit, or ``None`` (callers query)."""
        return self._store.change_token()

    def save_tale(self, namespace: str, name: str, content: str, category: str, tags: Sequence[str]) -> Tale:
        """Save a new version of a tale (version 1 when new) and return it."""
        return self._store.save_tale(namespace, name, content, category, tags)

    def get_tale(
        self, namespace: str, name: str, version: int | None = None, *, include_deleted: bool = False
    ) -> Tale:
        """Return the latest (or a given) version of a tale."""
        return self._store.get_tale(namespace, name, version, include_deleted=include_deleted)

    def list_tales(
        self,
        namespace: str,
        *,
        category: str | None = None,
        query: str | None = None,
        include_deleted: bool = False,
    ) -> list[Tale]:
        """Return the latest version of each tale, optionally filtered by category or text."""
        return self._store.list_tales(
            namespace, category=category, query=query, include_deleted=include_deleted
        )

    def tale_versions(self, namespace: str, name: str) -> list[Tale]:
        """Return every version of a tale, oldest first."""
        return self._store.tale_versions(namespace, name)

    def delete_tale(self, namespace: str, name: str, *, purge: bool = False) -> bool:
        """Soft-delete a tale (restorable) or purge it with every version."""
        return self._store.delete_tale(namespace, name, purge=purge)

    def restore_tale(self, namespace: str, name: str) -> Tale:
        """Undo a soft delete."""
        return self._store.restore_tale(namespace, name)

    def stats(self) -> dict[str, Any]:
        """Return backend facts for status (file or server, size, pool use)."""
        return self._store.stats()

    def maintain(self) -> dict[str, Any]:
        """Optimize the database and report sizes before and after."""
        return self._store.maintain()

    def export_records(self, batch_size: int = 1000) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Yield raw ``(table, rows)`` batches of every record (optional capability: migrate-store)."""
        from .transfer import export_records

        return export_records(self._store, batch_size)

    def import_records(self, batches: Iterable[tuple[str, list[dict[str, Any]]]]) -> dict[str, int]:
        """Copy raw batches from :meth:`export_records` into this empty store; return rows per table."""
        from .transfer import import_records

        return import_records(self._store, batches)

    def close(self) -> None:
        """Release every pooled connection."""
        self._store.close()
