"""The change sequence: every memory write appends one row per memory, in its transaction.

Derived indexes replay it to catch up; caches key on a namespace's newest sequence number.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from memmimic_core.models import Change

from .connection import SqlConnection
from .schema import changes

__all__ = ["ChangeLogMixin"]


class ChangeLogMixin(SqlConnection):
    """Append to and read the change sequence."""

    def _lock_change_log(self, conn: Connection) -> None:
        """Serialize appends until commit, so sequence order is commit order (dialect hook).

        Readers remember the last sequence number they saw; a lower number committed later
        would be skipped forever. SQLite writers are serialized already.
        """

    def _append_changes(self, conn: Connection, rows: Sequence[tuple[str, int, str]], op: str) -> None:
        if rows:
            self._lock_change_log(conn)
            # the driver's executemany with plain tuples: Core would build and process a
            # parameter dict per row (a third of a 2,000-memory write's Python time)
            ph = self._placeholder
            conn.exec_driver_sql(
                f"INSERT INTO changes (memory_id, rowid, namespace, op) VALUES ({ph}, {ph}, {ph}, {ph})",
                [(i, r, ns, op) for i, r, ns in rows],
            )

    def last_seq(self) -> int:
        """Return the newest change's sequence number (0 when empty)."""
        stmt = sa.select(sa.func.coalesce(sa.func.max(changes.c.seq), 0))
        return int(self.run_read(lambda conn: conn.execute(stmt).scalar_one()))

    def changes_since(self, seq: int, limit: int = 10_000) -> list[Change]:
        """Return up to ``limit`` changes after ``seq``, oldest first."""
        # SQL text on the driver (every derived index reads each write's rows back through here)
        ph = self._placeholder
        sql = (
            "SELECT seq, memory_id, rowid, namespace, op FROM changes "
            f"WHERE seq > {ph} ORDER BY seq LIMIT {ph}"
        )

        def work(conn: Connection) -> list[Change]:
            rows = conn.exec_driver_sql(sql, (int(seq), int(limit))).all()
            return [
                Change(int(s), memory_id, int(rowid), namespace, op)
                for s, memory_id, rowid, namespace, op in rows
            ]

        return self.run_read(work)

    def generation(self, namespace: str) -> int:
        """Return the newest change's sequence number in ``namespace`` (0 when none)."""
        stmt = sa.select(sa.func.coalesce(sa.func.max(changes.c.seq), 0)).where(
            changes.c.namespace == namespace
        )
        return int(self.run_read(lambda conn: conn.execute(stmt).scalar_one()))
