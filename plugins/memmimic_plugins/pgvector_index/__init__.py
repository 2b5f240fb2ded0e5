"""The ``pgvector`` vector index: vectors and an HNSW index inside PostgreSQL.

Several app hosts share one index with no local files: the vectors live in a table of a
PostgreSQL database that has the ``vector`` extension, next to a one-row state table holding
the last change of the storage's change sequence that was applied. Any host may catch up
(:meth:`PgvectorIndex.sync`): it takes a transaction-scoped advisory lock, re-reads the shared
state, replays the storage's changes and advances the state in the same transaction, so two
hosts never apply the same changes twice and never skip any. SQLAlchemy and psycopg are
imported when the backend is built. See docs/deployment.md.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from memmimic_core import hookimpl
from memmimic_core.errors import ConfigError, InvalidInputError
from memmimic_core.models import Candidate, Vector, as_query_vector
from memmimic_core.protocols import BackendContext, BackendOptions, Storage, VectorIndex
from memmimic_core.registry import BackendRegistry

__all__ = ["PgvectorIndex", "memmimic_register_vector_index"]


def storage_location(storage: Storage) -> tuple[str | None, str | None]:
    """Return the (URL with password, schema) of a ``postgresql`` storage, else (None, None)."""
    store = getattr(storage, "store", None)
    url = getattr(store, "url", None)
    if url is None or getattr(storage, "name", None) != "postgresql":
        return None, None
    render = getattr(url, "render_as_string", None)
    text = render(hide_password=False) if callable(render) else str(url)
    return text, getattr(store, "schema", None)


class PgvectorIndex:
    """Nearest neighbours by inner product in SQL: pgvector's HNSW index, or an exact scan while small.

    Thread-safe: every call uses its own pooled connection. The namespace filter is part of
    the SQL query; when the approximate scan returns fewer rows than asked for (a small
    namespace among many vectors), the query is repeated as an exact scan of the namespace.
    """

    name: ClassVar[str] = "pgvector"

    class Options(BackendOptions):
        """Options of the ``pgvector`` vector index (``schema`` is the key; ``schema_`` in Python)."""

        model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

        url: str | None = Field(
            default=None,
            description="PostgreSQL URL of a database with the vector extension "
            "(default: the storage's URL when the storage is postgresql)",
        )
        schema_: str | None = Field(
            default=None,
            alias="schema",
            description="schema of the index tables (default: the storage's schema, else public)",
        )
        table: str = Field(default="memmimic_vectors", description="table holding the vectors")
        hnsw_min_vectors: int = Field(
            default=5000,
            ge=0,
            description="below this many vectors searches scan exactly and writes skip HNSW upkeep; "
            "the HNSW index is built once the table reaches it",
        )
        m: int = Field(default=16, ge=2, le=100, description="HNSW links per node")
        ef_construction: int = Field(default=64, ge=4, le=1000, description="HNSW build breadth")
        ef_search: int = Field(
            default=40, ge=1, le=1000, description="HNSW search breadth (raised to the limit)"
        )
        auto_sync: bool = Field(
            default=False,
            description="catch up with the storage before every search (the engine already syncs "
            "before each recall when storage changed; for using the index on its own)",
        )
        rebuild_lag: int = Field(
            default=100_000, ge=1, description="reload everything instead of replaying more changes than this"
        )
        pool_size: int = Field(default=5, ge=1, le=200, description="pooled connections")
        connect_timeout: int = Field(default=10, ge=1, description="seconds to wait for the server")

    def __init__(self, options: Options | None, context: BackendContext) -> None:
        if context.storage is None:
            raise ConfigError("vector_index: the pgvector index needs the store's storage in its context")
        self.options = options or self.Options()
        self.storage: Storage = context.storage
        storage_url, storage_schema = storage_location(self.storage)
        url = self.options.url or storage_url
        if url is None:
            raise ConfigError(
                "vector_index.url is required for the pgvector index when the storage is not "
                "postgresql (e.g. postgresql://user@host:5432/db on a server with the vector extension)"
            )
        schema = self.options.schema_ or (storage_schema if not self.options.url else None) or "public"
        from .store import PgvectorStore

        self._store = PgvectorStore(url, schema, self.options, self.storage)

    # -- DerivedIndex ---------------------------------------------------------------------

    def sync(self) -> int:
        """Catch up with the storage (shared by every host); return how many changes were applied."""
        return self._store.sync()

    def lag(self) -> int:
        """Return how many changes the shared index is behind the storage."""
        return self._store.lag()

    def stats(self) -> dict[str, Any]:
        """Return kind, vectors per namespace, dimension, last change seen, HNSW settings."""
        return self._store.stats()

    def close(self) -> None:
        """Release the pooled connections (the index stays in the database)."""
        self._store.close()

    def maintain(self) -> dict[str, Any]:
        """Catch up and refresh the planner's statistics of the vectors table (``memmimic maintain``)."""
        return self._store.maintain()

    def drop(self) -> None:
        """Drop the index tables (the next sync rebuilds them from storage)."""
        self._store.drop()

    # -- VectorIndex ----------------------------------------------------------------------

    def search(self, namespace: str, vector: Vector, limit: int) -> list[Candidate]:
        """Return up to ``limit`` memories of ``namespace``, highest inner product first."""
        query = as_query_vector(vector)
        if not isinstance(namespace, str):
            raise InvalidInputError(f"namespace must be text, got {type(namespace).__name__}")
        if limit <= 0:
            return []
        if self.options.auto_sync:
            self._store.sync()
        return self._store.search(namespace, query, limit)


@hookimpl
def memmimic_register_vector_index(register: BackendRegistry[VectorIndex]) -> None:
    """Register the ``pgvector`` vector index."""
    register(PgvectorIndex)
