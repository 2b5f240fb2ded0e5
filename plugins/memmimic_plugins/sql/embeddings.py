"""Embeddings stored beside each memory: float32 bytes, dimension and embedder fingerprint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from memmimic_core.models import Memory, Vector

from .changelog import ChangeLogMixin
from .connection import CHUNK
from .rows import to_blob
from .schema import memories, memory_columns

#: The WHERE of the partial index ``ix_memories_unembedded`` (migration 0002), repeated verbatim.
PENDING = "embedding IS NULL AND status = 'active'"
#: The WHERE of the partial index ``ix_memories_embedder`` (migration 0003), repeated verbatim.
EMBEDDED = "embedding IS NOT NULL"

__all__ = ["EmbeddingStoreMixin"]


class EmbeddingStoreMixin(ChangeLogMixin):
    """Write-behind vectors, the memories still waiting for one, and counts per embedder."""

    # provided by DriverReadMixin and the dialect store
    _id_list: Any
    _driver_rows: Any
    _driver_memories: Any

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

        # SQL text with the driver's executemany over plain tuples, keyed by rowid: through Core
        # each row's parameters were built and processed one dict at a time
        ph = self._placeholder
        assign = f"embedding = {ph}, embedding_dim = {ph}, embedder = {ph}"
        if labels is not None:
            assign += f", cxd_function = {ph}, cxd_confidence = {ph}"
        update = f"UPDATE memories SET {assign} WHERE rowid = {ph}"

        def work(conn: Connection) -> None:
            ids = list(blobs)
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                condition, param = self._id_list("id", chunk, "text")
                found = conn.exec_driver_sql(
                    f"SELECT id, rowid, namespace FROM memories WHERE {condition}", (param,)
                ).all()
                if not found:
                    continue
                rows: list[tuple[Any, ...]] = []
                for memory_id, rowid, _ in found:
                    blob, dim = blobs[memory_id]
                    if labels is None:
                        rows.append((blob, dim, fingerprint, rowid))
                    else:
                        fn, conf = labels.get(memory_id, (None, None))
                        rows.append((blob, dim, fingerprint, fn, conf, rowid))
                conn.exec_driver_sql(update, rows)
                self._append_changes(conn, [(r[0], int(r[1]), r[2]) for r in found], "upsert")

        self.run_write(work)

    def unembedded(self, limit: int, namespace: str | None = None) -> list[Memory]:
        """Return active memories without an embedding, oldest first.

        Reads the partial index ``ix_memories_unembedded`` (migration 0002): a few pending rows
        instead of a scan of every stored vector. SQLite's planner, without statistics, prefers
        other indexes, so on SQLite the query names it (``INDEXED BY``).
        """
        names = tuple(c.name for c in memory_columns(False))
        ph = self._placeholder
        hint = " INDEXED BY ix_memories_unembedded" if self.engine.dialect.name == "sqlite" else ""
        where = PENDING + (f" AND namespace = {ph}" if namespace is not None else "")
        sql = f"SELECT {', '.join(names)} FROM memories{hint} WHERE {where} ORDER BY rowid LIMIT {ph}"
        params = [namespace, limit] if namespace is not None else [limit]
        rows = self._driver_rows(sql, params)
        found: list[Memory] = self._driver_memories(names, rows, with_embedding=False)
        return found

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
