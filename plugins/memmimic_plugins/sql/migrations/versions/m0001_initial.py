"""Create memories, their tags, history and change sequence, tales, and full-text search.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from memmimic_plugins.sql.schema import UTCDateTime, id_type

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SQLITE_FTS = [
    "CREATE VIRTUAL TABLE memories_fts USING fts5("
    "content, content='memories', content_rowid='rowid', tokenize='porter unicode61')",
    "CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN "
    "INSERT INTO memories_fts(rowid, content) VALUES (new.rowid, new.content); END",
    "CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN "
    "INSERT INTO memories_fts(memories_fts, rowid, content) VALUES ('delete', old.rowid, old.content); END",
    "CREATE TRIGGER memories_fts_update AFTER UPDATE OF content ON memories BEGIN "
    "INSERT INTO memories_fts(memories_fts, rowid, content) VALUES ('delete', old.rowid, old.content); "
    "INSERT INTO memories_fts(rowid, content) VALUES (new.rowid, new.content); END",
]

POSTGRES_FTS = [
    "ALTER TABLE memories ADD COLUMN content_tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', content)) STORED",
    "CREATE INDEX ix_memories_content_tsv ON memories USING gin (content_tsv)",
]


def upgrade() -> None:
    """Create every table, index and the dialect's full-text machinery."""
    op.create_table(
        "memories",
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
        sa.Column("access_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("supersedes", sa.String(64)),
        sa.Column("superseded_by", sa.String(64)),
        sa.Column("valid_from", UTCDateTime),
        sa.Column("valid_to", UTCDateTime),
        sa.Column("embedding", sa.LargeBinary),
        sa.Column("embedder", sa.String(200)),
        sa.Column("embedding_dim", sa.Integer),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_memories_ns_created", "memories", ["namespace", "created_at"])
    op.create_index("ix_memories_ns_hash", "memories", ["namespace", "content_hash"])
    op.create_index("ix_memories_ns_type", "memories", ["namespace", "memory_type"])
    op.create_index("ix_memories_ns_cxd", "memories", ["namespace", "cxd_function"])
    op.create_index("ix_memories_ns_status", "memories", ["namespace", "status", "rowid"])

    op.create_table(
        "memory_tags",
        sa.Column("memory_rowid", id_type(), primary_key=True),
        sa.Column("tag", sa.String(100), primary_key=True),
    )
    op.create_index("ix_memory_tags_tag", "memory_tags", ["tag", "memory_rowid"])

    op.create_table(
        "memory_history",
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("memory_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", UTCDateTime, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("before", sa.Text, nullable=False),
        sa.Column("after", sa.Text, nullable=False),
    )
    op.create_index("ix_memory_history_memory", "memory_history", ["memory_id", "version"])

    op.create_table(
        "changes",
        sa.Column("seq", id_type(), primary_key=True, autoincrement=True),
        sa.Column("memory_id", sa.String(64), nullable=False),
        sa.Column("rowid", sa.BigInteger, nullable=False),
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_changes_ns_seq", "changes", ["namespace", "seq"])

    op.create_table(
        "tales",
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
        sa.UniqueConstraint("namespace", "name", name="uq_tales_ns_name"),
    )
    op.create_table(
        "tale_versions",
        sa.Column("tale_id", id_type(), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("saved_at", UTCDateTime, nullable=False),
    )

    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_FTS, "postgresql": POSTGRES_FTS}.get(dialect, []):
        op.execute(statement)


def downgrade() -> None:
    """Drop everything this revision created."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS memories_fts")
    for table in ("tale_versions", "tales", "changes", "memory_history", "memory_tags", "memories"):
        op.drop_table(table)
