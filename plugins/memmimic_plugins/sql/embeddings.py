"""Embeddings stored beside each memory: float32 bytes, dimension and embedder fingerprint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from memmimic_core.models import Memory, Vector

from .changelog import ChangeLogMixin
from .connection import CHUNK
from .rows import row_to_memory, to_blob
from .schema import memories, memory_columns

#: The WHERE of the partial index ``ix_memories_unembedded`` (migration 0002), repeated verbatim.
PENDING = "embedding IS NULL AND status = 'active'"
#: The WHERE of the partial index ``ix_memories_embedder`` (migration 0003), repeated verbatim.
EMBEDDED = "embedding IS NOT NULL"

__all__ = ["EmbeddingStoreMixin"]


class EmbeddingStoreMixin(ChangeLogMixin):
    """Write-behind vectors, the memories still waiting for one, and counts per embedder."""

    def set_embeddings(
        self,
        items: Sequence[tuple[str, Vector]],
        fingerprint: str,
        labels: Mapping[str, tuple[str | None, float | None]] | None = None,
    ) -> None:
        """Store vectors (and CXD labels, when given) for existing memories; append changes.

        Unknown ids are skipped. Labels are written without a history entry: they complete a
        write whose classification was deferred to the embedding batch.
        """
        blobs = {memory_id: to_blob(vector) for memory_id, vector in items}
        if not blobs:
            return

        def work(conn: Connection) -> None:
            ids = list(blobs)
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                found = conn.execute(
                    sa.select(memories.c.id, memories.c.rowid, memories.c.namespace).where(
                        memories.c.id.in_(chunk)
                    )
                ).all()
                if not found:
                    continue
                values = {
                    "embedding": sa.bindparam("b_blob"),
                    "embedding_dim": sa.bindparam("b_dim"),
                    "embedder": fingerprint,
                }
                params = [{"b_id": r[0], "b_blob": blobs[r[0]][0], "b_dim": blobs[r[0]][1]} for r in found]
                if labels is not None:
                    values["cxd_function"] = sa.bindparam("b_fn")
                    values["cxd_confidence"] = sa.bindparam("b_conf")
                    for param in params:
                        param["b_fn"], param["b_conf"] = labels.get(param["b_id"], (None, None))
                conn.execute(
                    sa.update(memories).where(memories.c.id == sa.bindparam("b_id")).values(**values),
                    params,
                )
                self._append_changes(conn, [(r[0], int(r[1]), r[2]) for r in found], "upsert")

        self.run_write(work)

    def unembedded(self, limit: int, namespace: str | None = None) -> list[Memory]:
        """Return active memories without an embedding, oldest first.

        Reads the partial index ``ix_memories_unembedded`` (migration 0002): a few pending rows
        instead of a scan of every stored vector. SQLite's planner, without statistics, prefers
        other indexes, so on SQLite the query names it (``INDEXED BY``).
        """
        columns = memory_columns(False)

        def work(conn: Connection) -> list[Memory]:
            params: dict[str, object] = {"limit": limit}
            if conn.dialect.name == "sqlite":
                where = PENDING + (" AND namespace = :ns" if namespace is not None else "")
                names = ", ".join(c.name for c in columns)
                stmt: sa.Executable = sa.text(
                    f"SELECT {names} FROM memories INDEXED BY ix_memories_unembedded "
                    f"WHERE {where} ORDER BY rowid LIMIT :limit"
                ).columns(*columns)
                if namespace is not None:
                    params["ns"] = namespace
                return [row_to_memory(r) for r in conn.execute(stmt, params).mappings()]
            clauses = [memories.c.embedding.is_(None), memories.c.status == sa.literal_column("'active'")]
            if namespace is not None:
                clauses.append(memories.c.namespace == namespace)
            query = sa.select(*columns).where(*clauses).order_by(memories.c.rowid).limit(limit)
            return [row_to_memory(r) for r in conn.execute(query).mappings()]

        return self.run_read(work)

    def embedder_counts(self) -> dict[str, int]:
        """Return the number of embedded memories per embedder fingerprint.

        Answered from the partial index ``ix_memories_embedder`` (migration 0003) alone: the
        rows, and the vectors stored before the ``embedder`` column, are not read.
        """
        stmt = (
            sa.select(memories.c.embedder, sa.func.count())
            .where(sa.text(EMBEDDED))
            .group_by(memories.c.embedder)
        )
        return self.run_read(lambda conn: {str(r[0]): int(r[1]) for r in conn.execute(stmt)})
