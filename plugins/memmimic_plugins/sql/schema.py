"""The tables of the SQL storages, as SQLAlchemy Core objects used to build queries.

The migrations under ``migrations/versions`` create these tables; this module only describes
them for querying. A column added here needs a new migration too.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "UTCDateTime",
    "changes",
    "id_type",
    "memories",
    "memory_columns",
    "memory_history",
    "memory_tags",
    "metadata",
    "tale_versions",
    "tales",
]


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def id_type() -> sa.types.TypeEngine[int]:
    """An auto-increment integer key: BIGINT on servers, INTEGER (the rowid alias) on SQLite."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


metadata = sa.MetaData()

memories = sa.Table(
    "memories",
    metadata,
    sa.Column("rowid", id_type(), primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("namespace", sa.String(200), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("memory_type", sa.String(64), nullable=False),
    sa.Column("cxd_function", sa.String(16)),
    sa.Column("cxd_confidence", sa.Float),
    sa.Column("importance", sa.Float, nullable=False),
    sa.Column("metadata", sa.Text, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("last_accessed_at", UTCDateTime),
    sa.Column("access_count", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("supersedes", sa.String(64)),
    sa.Column("superseded_by", sa.String(64)),
    sa.Column("valid_from", UTCDateTime),
    sa.Column("valid_to", UTCDateTime),
    sa.Column("embedding", sa.LargeBinary),
    sa.Column("embedder", sa.String(200)),
    sa.Column("embedding_dim", sa.Integer),
    sqlite_autoincrement=True,
)

memory_tags = sa.Table(
    "memory_tags",
    metadata,
    sa.Column("memory_rowid", id_type(), primary_key=True),
    sa.Column("tag", sa.String(100), primary_key=True),
)

memory_history = sa.Table(
    "memory_history",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("memory_id", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("changed_at", UTCDateTime, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("before", sa.Text, nullable=False),
    sa.Column("after", sa.Text, nullable=False),
)

changes = sa.Table(
    "changes",
    metadata,
    sa.Column("seq", id_type(), primary_key=True, autoincrement=True),
    sa.Column("memory_id", sa.String(64), nullable=False),
    sa.Column("rowid", sa.BigInteger, nullable=False),
    sa.Column("namespace", sa.String(200), nullable=False),
    sa.Column("op", sa.String(8), nullable=False),
    sqlite_autoincrement=True,
)

tales = sa.Table(
    "tales",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("namespace", sa.String(200), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("category", sa.String(100), nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime),
)

tale_versions = sa.Table(
    "tale_versions",
    metadata,
    sa.Column("tale_id", id_type(), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("category", sa.String(100), nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("saved_at", UTCDateTime, nullable=False),
)


def memory_columns(with_embedding: bool) -> list[sa.Column[Any]]:
    """The ``memories`` columns to select (the embedding blob only when asked for)."""
    return [c for c in memories.c if with_embedding or c.name != "embedding"]
