"""Index the embedded memories by embedder fingerprint.

Opening a vector index compares its size with ``embedder_counts`` (a count per fingerprint of
the memories that have a vector). Without an index that count reads every row, and since the
``embedder`` column is stored after the embedding blob it reads every vector too: the whole
database at each start-up (258 MB at 100k MiniLM memories, all of it left in the process's
resident memory through SQLite's mmap). The partial index answers the count on its own.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: Must match, term for term, the WHERE of ``embedder_counts`` (sql/embeddings.py):
#: SQLite uses a partial index only when the query's WHERE implies the index's.
EMBEDDED = "embedding IS NOT NULL"


def upgrade() -> None:
    """Create the partial index of embedded memories by fingerprint."""
    op.create_index(
        "ix_memories_embedder",
        "memories",
        ["embedder"],
        sqlite_where=sa.text(EMBEDDED),
        postgresql_where=sa.text(EMBEDDED),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_memories_embedder", table_name="memories")
