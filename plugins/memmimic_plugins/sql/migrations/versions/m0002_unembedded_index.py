"""Index the memories still waiting for their embedding (write-behind catch-up).

A partial index holds only active memories whose embedding is NULL, so finding the pending
ones costs a lookup in a tiny index instead of a scan of every stored vector.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: Must match, term for term and with the literal, the WHERE of ``unembedded`` (sql/embeddings.py):
#: SQLite uses a partial index only when the query's WHERE implies the index's.
PENDING = "embedding IS NULL AND status = 'active'"


def upgrade() -> None:
    """Create the partial index of memories waiting for an embedding."""
    op.create_index(
        "ix_memories_unembedded",
        "memories",
        ["namespace", "rowid"],
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_memories_unembedded", table_name="memories")
