"""The shared SQLAlchemy Core store: every memory operation over one engine.

Dialect modules (:mod:`.sqlite_store`, :mod:`.postgres_store`) add the engine, full-text
search, metadata filters and housekeeping; :mod:`.changelog`, :mod:`.embeddings` and
:mod:`.tales` hold the other parts of the Storage protocol.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from memmimic_core.errors import InvalidInputError, NotFoundError
from memmimic_core.models import (
    Candidate,
    Filters,
    HistoryEntry,
    Memory,
    MemoryPatch,
    MemoryRef,
    NewMemory,
    StoredVector,
    TextQuery,
)
from memmimic_core.validation import check_namespace

from .connection import CHUNK, unique
from .driver_reads import DriverReadMixin
from .embeddings import EmbeddingStoreMixin
from .rows import (
    content_hash,
    dump_json,
    history_value,
    new_memory_ids,
    row_to_memory,
    to_blob,
    utcnow,
)
from .schema import memories, memory_columns, memory_history, memory_tags, tales
from .tales import TaleStoreMixin

__all__ = ["SqlStore"]

_STATUSES = ("active", "archived")
_BY_ID = memories.alias("by_id")  # built once: an alias makes a proxy of every column
_REF_COLUMNS = (memories.c.id, memories.c.rowid, memories.c.memory_type, memories.c.created_at)
_JSON_FIELDS = ("metadata", "tags")


def _expanding(values: Sequence[Any]) -> sa.BindParameter[Any]:
    """One expanding parameter for an ``IN`` list: cheaper to build than a bound value per item."""
    return sa.bindparam(None, list(values), expanding=True)


def _in_namespace(namespace: str) -> sa.ColumnElement[bool]:
    """``namespace = ?`` as an expression no index can serve, so the id / rowid lookup drives
    SQLite's plan (see ``SqlStore._by_ids``)."""
    return memories.c.namespace.concat("") == namespace


def _check_key(memory_id: object, namespace: object) -> None:
    """Reject ids and namespaces that are not text before they reach SQL."""
    if not isinstance(memory_id, str):
        raise InvalidInputError(f"{memory_id!r} is not a memory id (ids are text, like 'mem_…')")
    if not isinstance(namespace, str):
        raise InvalidInputError(f"namespace must be text, got {type(namespace).__name__}")


class SqlStore(DriverReadMixin, EmbeddingStoreMixin, TaleStoreMixin):
    """Memories, history, change sequence, embeddings and tales over one SQLAlchemy engine."""

    # -- query pieces -----------------------------------------------------------------------

    def _metadata_equals(self, key: str, value: Any) -> sa.ColumnElement[bool]:
        """A clause: the memory's metadata has ``key`` equal to ``value`` (dialect hook)."""
        raise NotImplementedError

    def filter_clauses(self, filters: Filters | None) -> list[sa.ColumnElement[bool]]:
        """Return the SQL conditions of ``filters`` (``None``: no condition)."""
        if filters is None:
            return []
        m = memories.c
        out: list[sa.ColumnElement[bool]] = []
        if filters.status is not None:
            out.append(m.status == filters.status)
        if filters.memory_type is not None:
            out.append(m.memory_type == filters.memory_type)
        if filters.cxd_function is not None:
            out.append(m.cxd_function == filters.cxd_function)
        for tag in unique(list(filters.tags)):
            out.append(sa.exists().where(memory_tags.c.memory_rowid == m.rowid, memory_tags.c.tag == tag))
        if filters.since is not None:
            out.append(m.created_at >= filters.since)
        if filters.until is not None:
            out.append(m.created_at < filters.until)
        for key, value in (filters.metadata or {}).items():
            out.append(self._metadata_equals(str(key), value))
        return out

    @staticmethod
    def _by_ids(chunk: Sequence[str], namespace: str) -> list[sa.ColumnElement[bool]]:
        """The WHERE of a lookup of memories by id in one namespace, shaped for SQLite's planner.

        Without statistics SQLite prefers walking a namespace index (``namespace = ?`` looks
        selective) over the unique index on ``id``: a scan of the whole namespace per lookup
        (115 ms against 0.6 ms at 80k memories). So the ids go through a subquery on the id
        index, the outer query reads those rowids by primary key, and the namespace is
        compared as an expression (``namespace || ''``) no index can serve. PostgreSQL plans
        this with its statistics either way.
        """
        return [
            memories.c.rowid.in_(sa.select(_BY_ID.c.rowid).where(_BY_ID.c.id.in_(_expanding(chunk)))),
            _in_namespace(namespace),
        ]

    def _select_memories(
        self, conn: Connection, *where: sa.ColumnElement[bool], with_embedding: bool = False
    ) -> list[Memory]:
        stmt = sa.select(*memory_columns(with_embedding)).where(*where).order_by(memories.c.rowid)
        return [row_to_memory(r, with_embedding=with_embedding) for r in conn.execute(stmt).mappings()]

    # -- memories ---------------------------------------------------------------------------

    def add(self, items: Sequence[NewMemory]) -> list[Memory]:
        """Store ``items`` in one transaction; return them with ids, rowids and timestamps."""
        if not items:
            return []
        now = utcnow()
        prepared: list[tuple[dict[str, Any], list[str]]] = []
        for item, memory_id in zip(items, new_memory_ids(len(items)), strict=True):
            check_namespace(item.namespace)
            if not isinstance(item.content, str):
                raise InvalidInputError(f"content must be text, got {type(item.content).__name__}")
            tags = unique([str(t) for t in item.tags])
            blob, dim = to_blob(item.embedding) if item.embedding is not None else (None, None)
            values = {
                "id": memory_id,
                "namespace": item.namespace,
                "content": item.content,
                "memory_type": item.memory_type,
                "cxd_function": item.cxd_function,
                "cxd_confidence": item.cxd_confidence,
                "importance": float(item.importance),
                "metadata": dump_json(dict(item.metadata)),
                "tags": dump_json(tags),
                "content_hash": content_hash(item.content),
                "created_at": now,
                "updated_at": now,
                "last_accessed_at": None,
                "access_count": 0,
                "status": "active",
                "supersedes": item.supersedes,
                "superseded_by": None,
                "valid_from": item.valid_from,
                "valid_to": None,
                "embedding": blob,
                "embedder": item.embedder if blob is not None else None,
                "embedding_dim": dim,
            }
            prepared.append((values, tags))

        # SQL text on the driver, many rows per statement, plain tuples: through Core each row's
        # parameters went through a dict and the type processors one by one (timestamps here are
        # shared by the batch: bound once). RETURNING the client-made id beside the key: rows map
        # back by id, so the insert need not keep parameter order.
        ph = self._placeholder
        bind_time, _ = self._time_processors
        names = tuple(prepared[0][0])
        per_statement = max(1, min(1000, 30_000 // len(names)))
        stamp = bind_time(now) if bind_time is not None else now
        valid_from = names.index("valid_from")  # the one timestamp not shared by the batch
        rows = []
        for values, _ in prepared:
            cells = [stamp if v is now else v for v in values.values()]
            if bind_time is not None and cells[valid_from] is not None:
                cells[valid_from] = bind_time(cells[valid_from])
            rows.append(tuple(cells))
        row_marks = "(" + ", ".join([ph] * len(names)) + ")"

        def work(conn: Connection) -> list[int]:
            keys: dict[str, int] = {}
            for start in range(0, len(rows), per_statement):
                chunk = rows[start : start + per_statement]
                sql = (
                    f"INSERT INTO memories ({', '.join(names)}) VALUES "
                    f"{', '.join([row_marks] * len(chunk))} RETURNING id, rowid"
                )
                params = [value for row in chunk for value in row]
                keys.update((str(r[0]), int(r[1])) for r in conn.exec_driver_sql(sql, tuple(params)))
            rowids = [keys[v["id"]] for v, _ in prepared]
            tag_rows = [
                (rowid, tag) for rowid, (_, tags) in zip(rowids, prepared, strict=True) for tag in tags
            ]
            if tag_rows:
                conn.exec_driver_sql(
                    f"INSERT INTO memory_tags (memory_rowid, tag) VALUES ({ph}, {ph})", tag_rows
                )
            self._append_changes(
                conn,
                [(v["id"], rowid, v["namespace"]) for rowid, (v, _) in zip(rowids, prepared, strict=True)],
                "upsert",
            )
            return rowids

        rowids = self.run_write(work)
        out = []
        for rowid, (values, _) in zip(rowids, prepared, strict=True):
            row = dict(values, rowid=rowid)
            memory = row_to_memory(row, with_embedding=True)
            out.append(memory)
        return out

    def get(self, ids: Sequence[str], namespace: str, filters: Filters | None = None) -> list[Memory]:
        """Return the memories with these ids in the order given; skip missing or filtered ones."""
        wanted = unique([i for i in ids if isinstance(i, str)])
        if not wanted:
            return []
        driver_where = self._driver_filters(filters)
        if driver_where is not None:
            found = self._driver_get(wanted, namespace, driver_where)
            return [found[i] for i in wanted if i in found]
        clauses = self.filter_clauses(filters)

        def work(conn: Connection) -> dict[str, Memory]:
            found: dict[str, Memory] = {}
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                where = [*self._by_ids(chunk, namespace), *clauses]
                found.update((m.id, m) for m in self._select_memories(conn, *where))
            return found

        found = self.run_read(work)
        return [found[i] for i in wanted if i in found]

    def locate(
        self,
        namespace: str,
        filters: Filters | None = None,
        *,
        ids: Sequence[str] = (),
        rowids: Sequence[int] = (),
    ) -> list[MemoryRef]:
        """Return id, rowid, type and time of the memories of ``namespace`` given by id or rowid
        that pass ``filters`` (four columns: no content, metadata or vectors)."""
        check_namespace(namespace)
        wanted_ids = unique([i for i in ids if isinstance(i, str)])
        wanted_rowids = _rowid_list(rowids)
        if not wanted_ids and not wanted_rowids:
            return []
        driver_where = self._driver_filters(filters)
        if driver_where is not None:
            return self._driver_locate(namespace, driver_where, wanted_ids, wanted_rowids)
        clauses = self.filter_clauses(filters)

        def work(conn: Connection) -> dict[int, MemoryRef]:
            wheres = [
                [*self._by_ids(wanted_ids[s : s + CHUNK], namespace), *clauses]
                for s in range(0, len(wanted_ids), CHUNK)
            ]
            wheres += [
                [
                    memories.c.rowid.in_(_expanding(wanted_rowids[s : s + CHUNK])),
                    _in_namespace(namespace),
                    *clauses,
                ]
                for s in range(0, len(wanted_rowids), CHUNK)
            ]
            found: dict[int, MemoryRef] = {}
            for where in wheres:
                for row in conn.execute(sa.select(*_REF_COLUMNS).where(*where)):
                    found[int(row[1])] = MemoryRef(
                        id=row[0], rowid=int(row[1]), memory_type=row[2], created_at=row[3]
                    )
            return found

        return list(self.run_read(work).values())

    def get_by_rowid(self, rowids: Sequence[int], *, with_embedding: bool = False) -> list[Memory]:
        """Return memories by their integer key, any namespace, in the order given."""
        wanted = _rowid_list(rowids)
        if not wanted:
            return []
        found = self._driver_get_by_rowid(wanted, with_embedding=with_embedding)
        return [found[r] for r in wanted if r in found]

    def vectors_by_rowid(self, rowids: Sequence[int]) -> list[StoredVector]:
        """Return the stored vectors of memories by their integer key, any namespace, in the order given."""
        wanted = _rowid_list(rowids)
        if not wanted:
            return []
        found = self._driver_vectors_by_rowid(wanted)
        return [found[r] for r in wanted if r in found]

    def _current(self, conn: Connection, memory_id: str, namespace: str) -> Memory:
        found = self._select_memories(
            conn, memories.c.id == memory_id, memories.c.namespace == namespace, with_embedding=True
        )
        if not found:
            raise NotFoundError(f"no memory with id {memory_id!r} in namespace {namespace!r}")
        return found[0]

    def update(self, memory_id: str, namespace: str, patch: MemoryPatch, reason: str | None = None) -> Memory:
        """Apply ``patch``; record before / after of the changed fields; return the new state.

        A patch that changes nothing returns the memory as it is, with no history entry.
        :raises NotFoundError: no such memory in that namespace.
        """
        if patch.status is not None and patch.status not in _STATUSES:
            raise InvalidInputError(f"status must be one of {', '.join(_STATUSES)}, got {patch.status!r}")
        _check_key(memory_id, namespace)
        new_blob = to_blob(patch.embedding) if patch.embedding is not None else None

        def work(conn: Connection) -> Memory:
            current = self._current(conn, memory_id, namespace)
            before: dict[str, Any] = {}
            after: dict[str, Any] = {}
            values: dict[str, Any] = {}
            for field, new in patch.changed_fields().items():
                if field == "tags":
                    new = tuple(unique([str(t) for t in new]))
                elif field == "metadata":
                    new = dict(new)
                old = getattr(current, field)
                if old == new:
                    continue
                before[field], after[field] = history_value(old), history_value(new)
                values[field] = (
                    dump_json(list(new) if field == "tags" else new) if field in _JSON_FIELDS else new
                )
            if "content" in values:
                values["content_hash"] = content_hash(values["content"])
            if new_blob is not None:
                values.update(embedding=new_blob[0], embedding_dim=new_blob[1], embedder=patch.embedder)
            elif (patch.clear_embedding or "content" in values) and current.embedding is not None:
                values.update(embedding=None, embedding_dim=None, embedder=None)
            if not values:
                return current
            now = utcnow()
            values["updated_at"] = now
            conn.execute(sa.update(memories).where(memories.c.rowid == current.rowid).values(values))
            if "tags" in values:
                conn.execute(sa.delete(memory_tags).where(memory_tags.c.memory_rowid == current.rowid))
                if after["tags"]:
                    conn.execute(
                        sa.insert(memory_tags),
                        [{"memory_rowid": current.rowid, "tag": t} for t in after["tags"]],
                    )
            if after:
                version = conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(memory_history.c.version), 0)).where(
                        memory_history.c.memory_id == memory_id
                    )
                ).scalar_one()
                conn.execute(
                    sa.insert(memory_history).values(
                        memory_id=memory_id,
                        version=int(version) + 1,
                        changed_at=now,
                        reason=reason,
                        before=dump_json(before),
                        after=dump_json(after),
                    )
                )
            self._append_changes(conn, [(memory_id, current.rowid, namespace)], "upsert")
            return self._current(conn, memory_id, namespace)

        return self.run_write(work)

    def delete(self, memory_id: str, namespace: str) -> bool:
        """Delete a memory, its tags and history; append a 'delete' change."""
        _check_key(memory_id, namespace)

        def work(conn: Connection) -> bool:
            row = conn.execute(
                sa.select(memories.c.rowid).where(
                    memories.c.id == memory_id, memories.c.namespace == namespace
                )
            ).first()
            if row is None:
                return False
            rowid = int(row[0])
            conn.execute(sa.delete(memory_tags).where(memory_tags.c.memory_rowid == rowid))
            conn.execute(sa.delete(memory_history).where(memory_history.c.memory_id == memory_id))
            conn.execute(sa.delete(memories).where(memories.c.rowid == rowid))
            self._append_changes(conn, [(memory_id, rowid, namespace)], "delete")
            return True

        return self.run_write(work)

    def history(self, memory_id: str, namespace: str) -> list[HistoryEntry]:
        """Return the recorded changes of a memory, oldest first.

        :raises NotFoundError: no such memory in that namespace.
        """
        _check_key(memory_id, namespace)

        def work(conn: Connection) -> list[HistoryEntry]:
            exists = conn.execute(
                sa.select(memories.c.rowid).where(
                    memories.c.id == memory_id, memories.c.namespace == namespace
                )
            ).first()
            if exists is None:
                raise NotFoundError(f"no memory with id {memory_id!r} in namespace {namespace!r}")
            h = memory_history.c
            rows = conn.execute(
                sa.select(h.memory_id, h.version, h.changed_at, h.reason, h.before, h.after)
                .where(h.memory_id == memory_id)
                .order_by(h.version)
            ).mappings()
            return [
                HistoryEntry(
                    memory_id=r["memory_id"],
                    version=int(r["version"]),
                    changed_at=r["changed_at"],
                    reason=r["reason"],
                    before=json.loads(r["before"]),
                    after=json.loads(r["after"]),
                )
                for r in rows
            ]

        return self.run_read(work)

    def find_by_hash(self, namespace: str, content_hash: str) -> list[Memory]:
        """Return the memories of ``namespace`` whose content has this SHA-256 hex digest."""
        where = (memories.c.namespace == namespace, memories.c.content_hash == content_hash)
        return self.run_read(lambda conn: self._select_memories(conn, *where))

    def count(self, namespace: str | None = None, filters: Filters | None = None) -> int:
        """Count memories of one namespace (``None``: all), filtered when ``filters`` is given."""
        clauses = self.filter_clauses(filters)
        if namespace is not None:
            clauses.append(memories.c.namespace == namespace)
        stmt = sa.select(sa.func.count()).select_from(memories).where(*clauses)
        return int(self.run_read(lambda conn: conn.execute(stmt).scalar_one()))

    def namespaces(self) -> list[str]:
        """Return every namespace holding a memory or a tale, sorted."""
        stmt = sa.union(sa.select(memories.c.namespace), sa.select(tales.c.namespace))
        return sorted(self.run_read(lambda conn: [r[0] for r in conn.execute(stmt)]))

    def iter_memories(
        self, namespace: str | None = None, *, batch_size: int = 1000, with_embedding: bool = False
    ) -> Iterator[list[Memory]]:
        """Yield every memory in batches ordered by rowid (one short read per batch)."""
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        last = 0
        while True:
            clauses = [memories.c.rowid > last]
            if namespace is not None:
                clauses.append(memories.c.namespace == namespace)
            stmt = (
                sa.select(*memory_columns(with_embedding))
                .where(*clauses)
                .order_by(memories.c.rowid)
                .limit(batch_size)
            )
            batch = self.run_read(partial(self._read_batch, stmt=stmt, with_embedding=with_embedding))
            if not batch:
                return
            yield batch
            last = batch[-1].rowid

    def iter_vectors(
        self, namespace: str | None = None, *, batch_size: int = 1000
    ) -> Iterator[list[StoredVector]]:
        """Yield every memory's stored vector in batches ordered by rowid (one short read per batch)."""
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        last = 0
        while True:
            batch = self._driver_vector_batch(last, namespace, batch_size)
            if not batch:
                return
            yield batch
            last = batch[-1].rowid

    @staticmethod
    def _read_batch(conn: Connection, *, stmt: sa.Select[Any], with_embedding: bool) -> list[Memory]:
        return [row_to_memory(r, with_embedding=with_embedding) for r in conn.execute(stmt).mappings()]

    def keyword_search(
        self, namespace: str, query: TextQuery, limit: int, filters: Filters | None = None
    ) -> list[Candidate]:
        """Full-text search of ``namespace``, best first (``filters=None``: active memories)."""
        if limit < 1:
            raise InvalidInputError(f"limit must be at least 1, got {limit}")
        clauses = [memories.c.namespace == namespace, *self.filter_clauses(filters or Filters())]
        return self.run_read(lambda conn: self._keyword_search(conn, query, limit, clauses))

    def _keyword_search(
        self, conn: Connection, query: TextQuery, limit: int, clauses: list[sa.ColumnElement[bool]]
    ) -> list[Candidate]:
        raise NotImplementedError

    def touch(self, ids: Sequence[str], namespace: str, at: datetime) -> None:
        """Set last_accessed_at and count an access, without history or change entries."""
        wanted = unique([i for i in ids if isinstance(i, str)])
        if not wanted:
            return

        def work(conn: Connection) -> None:
            for start in range(0, len(wanted), CHUNK):
                conn.execute(
                    sa.update(memories)
                    .where(*self._by_ids(wanted[start : start + CHUNK], namespace))
                    .values(last_accessed_at=at, access_count=memories.c.access_count + 1)
                )

        self.run_write(work)


def _rowid_list(rowids: Sequence[int]) -> list[int]:
    """The integer keys asked for, each once, in order; anything else is the caller's mistake."""
    try:
        return unique([int(r) for r in rowids])
    except (TypeError, ValueError):
        raise InvalidInputError(f"rowids must be integers, got {list(rowids)[:5]!r}") from None
