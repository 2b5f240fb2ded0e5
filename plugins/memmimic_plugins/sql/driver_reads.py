"""The hot reads as SQL text on the driver's own cursor.

Every recall reads its fused candidates' positions (``locate``, ~60 ids) and its winners in
full (``get``, ~10 ids); the derived indexes catch up through ``get_by_rowid``. Built and
run through SQLAlchemy Core each recall read took 1.5–2 ms at 10k memories, of which SQLite
spent ~0.1 ms on the query: statement construction, compiled-cache lookup, result objects and
row processing were the rest, half of a cached-vector recall.

So these reads are written here as text over the same tables, with one array parameter
for the id list (its text never changes, so the driver's statement cache always hits), run on
the pooled DBAPI connection, and their timestamps converted by the columns' own SQLAlchemy
type processors: the rows come back exactly as through Core. Driver errors are wrapped as
SQLAlchemy would wrap them (and a dropped server connection invalidated), so the store's
error translation applies unchanged. A filter the text form does not cover (metadata) takes
the Core path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from memmimic_core.models import Filters, Memory, MemoryRef, StoredVector

from .connection import unique
from .rows import from_blob, row_to_memory
from .schema import memories, memory_columns

__all__ = ["DriverReadMixin"]

_SCALAR_FILTERS = ("status", "memory_type", "cxd_function")
_TIME_COLUMNS = ("created_at", "updated_at", "last_accessed_at", "valid_from", "valid_to")
_MEMORY_NAMES = tuple(c.name for c in memory_columns(False))
_MEMORY_SELECT = ", ".join(f"m.{name}" for name in _MEMORY_NAMES)
_FULL_NAMES = tuple(c.name for c in memory_columns(True))
_FULL_SELECT = ", ".join(f"m.{name}" for name in _FULL_NAMES)
_REF_SELECT = "m.id, m.rowid, m.memory_type, m.created_at"  # MemoryRef's fields
_VECTOR_SELECT = "m.rowid, m.id, m.namespace, m.embedder, m.embedding"  # StoredVector's fields

Processor = Callable[[Any], Any]


class DriverReadMixin:
    """``locate``, ``get`` and ``get_by_rowid`` as SQL text on the DBAPI cursor (mixed into the SQL store)."""

    # provided by SqlConnection / the dialect store
    engine: Any
    run_read: Any
    _placeholder: str

    def _id_list(self, column: str, values: Sequence[Any], sql_type: str) -> tuple[str, Any]:
        """A condition ``column`` is one of ``values`` with one parameter, and that parameter
        (dialect hook: SQLite reads a JSON array, PostgreSQL an array)."""
        raise NotImplementedError

    # -- set-up (lazy: the dialect is known once the engine exists) ------------------------

    @cached_property
    def _time_processors(self) -> tuple[Processor | None, Processor | None]:
        """The timestamp columns' bind and result processors for this dialect."""
        dialect = self.engine.dialect
        kind = memories.c.created_at.type.dialect_impl(dialect)  # every timestamp column is UTCDateTime
        return kind.bind_processor(dialect), kind.result_processor(dialect, None)

    def _time_reader(self) -> Processor:
        """A converter of one read's stored timestamps to datetimes (``None`` stays ``None``).

        Memories written together share their timestamps, so each distinct value converts once.
        """
        _, to_time = self._time_processors
        if to_time is None:
            return lambda value: value
        converted: dict[Any, Any] = {None: None}

        def read(value: Any) -> Any:
            try:
                return converted[value]
            except KeyError:
                when = converted[value] = to_time(value)
                return when

        return read

    # -- statements ------------------------------------------------------------------------

    def _driver_filters(self, filters: Filters | None) -> tuple[list[str], list[Any]] | None:
        """The WHERE parts of ``filters`` over alias ``m`` and their parameters; ``None`` when a
        filter needs the Core path (metadata conditions are dialect expressions)."""
        if filters is None:
            return [], []
        if filters.metadata:
            return None
        ph = self._placeholder
        parts: list[str] = []
        params: list[Any] = []
        for name in _SCALAR_FILTERS:
            value = getattr(filters, name)
            if value is not None:
                parts.append(f"m.{name} = {ph}")
                params.append(value)
        for tag in unique(list(filters.tags)):
            parts.append(
                f"EXISTS (SELECT 1 FROM memory_tags AS t WHERE t.memory_rowid = m.rowid AND t.tag = {ph})"
            )
            params.append(tag)
        bind, _ = self._time_processors
        for op, value in ((">=", filters.since), ("<", filters.until)):
            if value is not None:
                parts.append(f"m.created_at {op} {ph}")
                params.append(bind(value) if bind is not None else value)
        return parts, params

    def _driver_select(
        self,
        columns: str,
        namespace: str | None,
        where: tuple[list[str], list[Any]],
        *,
        ids: Sequence[str] = (),
        rowids: Sequence[int] = (),
    ) -> list[tuple[Any, ...]]:
        """Rows of ``columns`` for the ids or rowids of ``namespace`` (``None``: any) that pass ``where``."""
        if ids:
            key, key_param = self._id_list("m.id", ids, "text")
        else:
            key, key_param = self._id_list("m.rowid", rowids, "bigint")
        parts, params = [key, *where[0]], [key_param, *where[1]]
        if namespace is not None:
            # `namespace || ''` keeps SQLite's planner on the id / rowid index (see SqlStore._by_ids)
            parts.insert(1, f"m.namespace || '' = {self._placeholder}")
            params.insert(1, namespace)
        sql = f"SELECT {columns} FROM memories AS m WHERE {' AND '.join(parts)} ORDER BY m.rowid"
        return self._driver_rows(sql, params)

    def _driver_rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run one read on a pooled connection's DBAPI cursor; errors wrapped as SQLAlchemy does."""
        dialect = self.engine.dialect

        def work(conn: Connection) -> list[tuple[Any, ...]]:
            fairy = conn.connection
            cursor = fairy.cursor()
            try:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
            except dialect.loaded_dbapi.Error as exc:
                dropped = dialect.is_disconnect(exc, fairy.dbapi_connection, cursor)
                if dropped:
                    conn.invalidate(exc)
                raise sa_exc.DBAPIError.instance(
                    sql, params, exc, dialect.loaded_dbapi.Error, connection_invalidated=dropped
                ) from exc
            finally:
                cursor.close()

        result: list[tuple[Any, ...]] = self.run_read(work)
        return result

    # -- reads -----------------------------------------------------------------------------

    def _driver_locate(
        self,
        namespace: str,
        where: tuple[list[str], list[Any]],
        ids: Sequence[str],
        rowids: Sequence[int],
    ) -> list[MemoryRef]:
        read_time = self._time_reader()
        rows = self._driver_select(_REF_SELECT, namespace, where, ids=ids) if ids else []
        if rowids:
            rows += self._driver_select(_REF_SELECT, namespace, where, rowids=rowids)
        found: dict[int, MemoryRef] = {}
        for memory_id, rowid, memory_type, created_at in rows:
            ref = MemoryRef(
                id=memory_id, rowid=int(rowid), memory_type=memory_type, created_at=read_time(created_at)
            )
            found[ref.rowid] = ref
        return list(found.values())

    def _driver_get(
        self, ids: Sequence[str], namespace: str, where: tuple[list[str], list[Any]]
    ) -> dict[str, Memory]:
        rows = self._driver_select(_MEMORY_SELECT, namespace, where, ids=ids)
        return {m.id: m for m in self._driver_memories(_MEMORY_NAMES, rows, with_embedding=False)}

    def _driver_get_by_rowid(self, rowids: Sequence[int], *, with_embedding: bool) -> dict[int, Memory]:
        """Memories by integer key, any namespace (the derived indexes' catch-up reads)."""
        names, columns = (_FULL_NAMES, _FULL_SELECT) if with_embedding else (_MEMORY_NAMES, _MEMORY_SELECT)
        rows = self._driver_select(columns, None, ([], []), rowids=rowids)
        return {m.rowid: m for m in self._driver_memories(names, rows, with_embedding=with_embedding)}

    def _driver_vectors_by_rowid(self, rowids: Sequence[int]) -> dict[int, StoredVector]:
        """Stored vectors by integer key, any namespace (the vector indexes' catch-up reads)."""
        rows = self._driver_select(_VECTOR_SELECT, None, ([], []), rowids=rowids)
        return {v.rowid: v for v in _stored_vectors(rows)}

    def _driver_vector_batch(self, after: int, namespace: str | None, limit: int) -> list[StoredVector]:
        """Up to ``limit`` stored vectors after rowid ``after``, in rowid order (rebuild reads)."""
        ph = self._placeholder
        where: list[str] = [f"m.rowid > {ph}"]
        params: list[Any] = [after]
        if namespace is not None:
            where.append(f"m.namespace = {ph}")
            params.append(namespace)
        sql = (
            f"SELECT {_VECTOR_SELECT} FROM memories AS m WHERE {' AND '.join(where)} "
            f"ORDER BY m.rowid LIMIT {ph}"
        )
        return _stored_vectors(self._driver_rows(sql, [*params, limit]))

    def _driver_memories(
        self, names: Sequence[str], rows: Sequence[tuple[Any, ...]], *, with_embedding: bool
    ) -> list[Memory]:
        read_time = self._time_reader()
        out = []
        for row in rows:
            record = dict(zip(names, row, strict=True))
            for name in _TIME_COLUMNS:
                record[name] = read_time(record[name])
            out.append(row_to_memory(record, with_embedding=with_embedding))
        return out


def _stored_vectors(rows: Sequence[tuple[Any, ...]]) -> list[StoredVector]:
    return [
        StoredVector(int(rowid), memory_id, namespace, embedder, from_blob(blob))
        for rowid, memory_id, namespace, embedder, blob in rows
    ]
