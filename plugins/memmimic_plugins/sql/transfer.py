"""Raw record export / import between SQL stores (``memmimic migrate-store``).

An optional capability of the SQL storages, not part of the Storage protocol: the core calls
``export_records`` / ``import_records`` only when a backend has them. Rows are copied as they
are (ids, rowids, timestamps, embeddings with their fingerprint, history, tales with every
version); the change sequence is not copied but written afresh, one ``upsert`` per memory,
so the target's derived indexes load everything on their first sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from memmimic_core.errors import InvalidInputError

from .base import SqlStore
from .schema import changes, memories, memory_history, memory_tags, tale_versions, tales

__all__ = ["TABLES", "export_records", "import_records", "stored_counts"]

TABLES: dict[str, sa.Table] = {
    "memories": memories,
    "memory_tags": memory_tags,
    "memory_history": memory_history,
    "tales": tales,
    "tale_versions": tale_versions,
}
_SEQUENCES = (("memories", "rowid"), ("memory_history", "id"), ("tales", "id"), ("changes", "seq"))


def export_records(store: SqlStore, batch_size: int = 1000) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Yield ``(table, rows)`` batches of every stored record, in primary-key order.

    Each memory batch is followed by its tags; each tale batch by its versions.
    """
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    for table, children, child_key in (
        (memories, memory_tags, "memory_rowid"),
        (memory_history, None, ""),
        (tales, tale_versions, "tale_id"),
    ):
        (pk,) = [c for c in table.primary_key.columns]
        last: Any = None
        while True:
            stmt = sa.select(table).order_by(pk).limit(batch_size)
            if last is not None:
                stmt = stmt.where(pk > last)
            rows = store.run_read(partial(_fetch, stmt=stmt))
            if not rows:
                break
            last = rows[-1][pk.name]
            yield table.name, rows
            if children is not None:
                keys = [r[pk.name] for r in rows]
                child_pk = [children.c[c.name] for c in children.primary_key.columns]
                cstmt = sa.select(children).where(children.c[child_key].in_(keys)).order_by(*child_pk)
                kids = store.run_read(partial(_fetch, stmt=cstmt))
                if kids:
                    yield children.name, kids


def _fetch(conn: Connection, *, stmt: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(stmt).mappings()]


def _insert(conn: Connection, *, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    conn.execute(sa.insert(table), rows)


def stored_counts(store: SqlStore) -> dict[str, int]:
    """Return the number of rows of each copied table."""

    def work(conn: Connection) -> dict[str, int]:
        return {
            name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for name, t in TABLES.items()
        }

    return store.run_read(work)


def import_records(store: SqlStore, batches: Iterable[tuple[str, list[dict[str, Any]]]]) -> dict[str, int]:
    """Insert raw ``(table, rows)`` batches into an empty store; return rows per table.

    Each batch is one transaction; at the end the key sequences are moved past the copied keys
    and one ``upsert`` change per memory is appended.
    :raises InvalidInputError: the store already holds memories, history or tales.
    """
    present = {name: n for name, n in stored_counts(store).items() if n}
    if present:
        listed = ", ".join(f"{n} {name}" for name, n in present.items())
        raise InvalidInputError(f"the target store is not empty ({listed}); migrate into an empty store")
    copied = dict.fromkeys(TABLES, 0)
    for name, rows in batches:
        table = TABLES.get(name)
        if table is None:
            raise InvalidInputError(f"unknown table {name!r} in the records to import")
        if rows:
            store.run_write(partial(_insert, table=table, rows=rows))
            copied[name] += len(rows)

    def finish(conn: Connection) -> None:
        store._lock_change_log(conn)
        conn.execute(
            sa.insert(changes).from_select(
                ["memory_id", "rowid", "namespace", "op"],
                sa.select(
                    memories.c.id, memories.c.rowid, memories.c.namespace, sa.literal("upsert")
                ).order_by(memories.c.rowid),
            )
        )
        if conn.dialect.name == "postgresql":
            for table, column in _SEQUENCES:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"coalesce(max({column}), 0) + 1, false) FROM {table}"
                )

    store.run_write(finish)
    return copied
