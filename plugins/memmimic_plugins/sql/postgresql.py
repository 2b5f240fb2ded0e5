"""Plugin: the ``postgresql`` storage (SQLAlchemy + psycopg 3, tsvector full-text search).

The same schema and migrations as ``sqlite``; each store lives in one PostgreSQL schema, so
teams and tests can share a database without seeing each other's memories. SQLAlchemy and
psycopg are imported when the backend is built, not when this module is imported.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field

from memmimic_core import hookimpl
from memmimic_core.protocols import BackendContext, BackendOptions
from memmimic_core.registry import BackendRegistry

from .facade import SqlStorageFacade

__all__ = ["PostgresqlStorage"]


class PostgresqlStorage(SqlStorageFacade):
    """Memories, tales and history in a PostgreSQL schema, searched with tsvector + GIN."""

    name: ClassVar[str] = "postgresql"

    class Options(BackendOptions):
        """Options of the ``postgresql`` storage (``schema`` is the key; ``schema_`` in Python)."""

        model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

        url: str = Field(
            default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
            description="SQLAlchemy URL; postgresql:// means psycopg 3",
        )
        schema_: str = Field(
            default="public",
            alias="schema",
            description="the schema holding this store's tables (created when missing)",
        )
        pool_size: int = Field(default=5, ge=1, le=200, description="pooled connections")
        max_overflow: int = Field(default=10, ge=0, le=200, description="connections beyond the pool")
        pool_timeout: float = Field(default=30.0, gt=0, description="seconds to wait for a pooled connection")
        connect_timeout: int = Field(default=10, ge=1, description="seconds to wait for the server")

    def __init__(self, options: Options, context: BackendContext) -> None:
        from .postgres_store import PostgresStore

        self.options = options
        self._store = PostgresStore(options)

    def drop_schema(self) -> None:
        """Drop this store's schema and everything in it (refuses ``public``)."""
        from .postgres_store import PostgresStore

        assert isinstance(self._store, PostgresStore)
        self._store.drop_schema()


@hookimpl
def memmimic_register_storage(register: BackendRegistry[PostgresqlStorage]) -> None:
    """Register the ``postgresql`` storage."""
    register(PostgresqlStorage)
