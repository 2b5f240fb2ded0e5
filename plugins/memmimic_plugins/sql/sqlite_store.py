"""The SQLite dialect of the SQL store: one WAL file, pragmas per connection, FTS5 search.

Writers take the database lock up front (``BEGIN IMMEDIATE``) so that two writers never
deadlock on a read-to-write lock upgrade; ``busy_timeout`` makes them queue instead of failing,
and a last-resort retry with backoff covers a lock held longer than that.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from memmimic_core.errors import InvalidInputError, MemMimicError, StorageError
from memmimic_core.models import Candidate, TextQuery

from . import migrate
from .base import SqlStore
from .data_version import DataVersionWatcher
from .rows import matched_terms, query_tokens
from .schema import memories

__all__ = ["SqliteStore", "fts5_query"]

_BEGIN_OPTION = "memmimic_begin"


def _quote(token: str) -> str:
    """Return ``token`` as an FTS5 string: operators and punctuation inside it are data."""
    return '"' + token.replace('"', '""') + '"'


def fts5_parts(query: TextQuery) -> list[tuple[str, str]]:
    """Return ``(reported term, quoted FTS5 string)`` per word of the text and per term, deduplicated."""
    parts = [(t.lower(), _quote(t)) for t in query_tokens(query.text)]
    seen = {p.lower() for _, p in parts}
    for term in query.terms:
        words = query_tokens(term.term)
        if not words:
            continue
        part = _quote(" ".join(words))
        if part.lower() not in seen:
            seen.add(part.lower())
            parts.append((" ".join(words).lower(), part))
    return parts


def fts5_query(query: TextQuery) -> str:
    """Build an FTS5 MATCH expression: every word of the text and every term, quoted, OR-ed.

    FTS5 cannot weight single terms, so expansion terms join the OR with the user's words
    (multi-word terms as phrases); the engine's expansion retriever weights them if it
    searches the terms on their own. Returns "" when nothing searchable is left.
    """
    return " OR ".join(part for _, part in fts5_parts(query))


class SqliteStore(SqlStore):
    """The SQL store on one SQLite file."""

    backend_name = "sqlite"

    def __init__(self, path: Path, options: Any) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"can't create the folder of the SQLite file {path}: {exc}") from None
        engine = sa.create_engine(
            f"sqlite:///{path}",
            pool_size=options.pool_size,
            max_overflow=options.max_overflow,
            pool_timeout=options.pool_timeout,
            connect_args={"timeout": options.busy_timeout_ms / 1000, "check_same_thread": False},
        )
        pragmas = [
            f"PRAGMA busy_timeout = {int(options.busy_timeout_ms)}",
            "PRAGMA journal_mode = WAL",
            f"PRAGMA synchronous = {options.synchronous}",
            f"PRAGMA cache_size = {int(options.cache_size)}",
            f"PRAGMA mmap_size = {int(options.mmap_size)}",
            f"PRAGMA temp_store = {options.temp_store}",
            "PRAGMA foreign_keys = ON",
        ]

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # the "begin" hook below emits BEGIN itself
            cursor = dbapi_conn.cursor()
            try:
                for pragma in pragmas:
                    cursor.execute(pragma)
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        super().__init__(engine)
        self._watcher = DataVersionWatcher(path, timeout=options.busy_timeout_ms / 1000)

    def change_token(self) -> int | None:
        """``PRAGMA data_version`` of a dedicated connection: changes with every commit by any other."""
        self._check_open()
        return self._watcher.token()

    def close(self) -> None:
        """Dispose of the pool and close the change-token connection."""
        super().close()
        self._watcher.close()

    def _begin_write(self, conn: Connection) -> None:
        conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})

    def _retryable(self, exc: sa_exc.DBAPIError) -> bool:
        text = str(exc.orig).lower()
        return isinstance(exc, sa_exc.OperationalError) and ("locked" in text or "busy" in text)

    def _translate(self, exc: sa_exc.SQLAlchemyError) -> MemMimicError:
        orig = getattr(exc, "orig", None) or exc
        return StorageError(f"the SQLite storage at {self.path} failed: {orig}")

    def _migrate(self) -> None:
        head = migrate.head_revision()
        if self.run_read(lambda conn: migrate.current_revision(conn)) == head:
            return
        # The write lock serializes openers: the second one finds the schema current.
        self.run_write(lambda conn: migrate.upgrade(conn))

    def _id_list(self, column: str, values: Sequence[Any], sql_type: str) -> tuple[str, Any]:
        # one JSON array: the statement's text is the same for any number of ids
        return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(list(values))

    def _metadata_equals(self, key: str, value: Any) -> sa.ColumnElement[bool]:
        each = sa.func.json_each(memories.c.metadata).table_valued("key", "type", "atom", "value")
        if value is None:
            cond = each.c.type == "null"
        elif isinstance(value, bool):
            cond = each.c.type == ("true" if value else "false")
        elif isinstance(value, (int, float)):
            cond = sa.and_(each.c.type.in_(("integer", "real")), each.c.atom == value)
        elif isinstance(value, str):
            cond = sa.and_(each.c.type == "text", each.c.atom == value)
        else:
            try:
                dumped = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            except (TypeError, ValueError):
                raise InvalidInputError(f"metadata filter value for {key!r} is not JSON") from None
            cond = sa.and_(
                each.c.type.in_(("object", "array")), sa.func.json(each.c.value) == sa.func.json(dumped)
            )
        return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.key == key, cond))

    def _keyword_search(
        self, conn: Connection, query: TextQuery, limit: int, clauses: list[sa.ColumnElement[bool]]
    ) -> list[Candidate]:
        match = fts5_query(query)
        if not match:
            return []
        fts = sa.table("memories_fts", sa.column("rowid"))
        rank = sa.func.bm25(sa.literal_column("memories_fts"))
        stmt = (
            sa.select(memories.c.id, memories.c.content, (-rank).label("score"), memories.c.rowid)
            .select_from(fts.join(memories, memories.c.rowid == fts.c.rowid))
            .where(sa.literal_column("memories_fts").op("MATCH")(match), *clauses)
            .order_by(rank, memories.c.rowid)
            .limit(limit)
        )
        rows = conn.execute(stmt).all()
        if query.want_matched and rows:  # ask the index itself, so stemmed matches count too
            found = self._index_matches(conn, query, [int(r[3]) for r in rows])
            return [
                Candidate(memory_id=r[0], score=float(r[2]), matched_terms=found[int(r[3])]) for r in rows
            ]
        return [
            Candidate(memory_id=r[0], score=float(r[2]), matched_terms=matched_terms(r[1], query))
            for r in rows
        ]

    @staticmethod
    def _index_matches(conn: Connection, query: TextQuery, rowids: list[int]) -> dict[int, tuple[str, ...]]:
        """Return, per rowid, the query's words and terms that FTS5 matches in it (one MATCH each)."""
        fts = sa.table("memories_fts", sa.column("rowid"))
        found: dict[int, list[str]] = {rowid: [] for rowid in rowids}
        for term, part in fts5_parts(query):
            stmt = sa.select(fts.c.rowid).where(
                sa.literal_column("memories_fts").op("MATCH")(part), fts.c.rowid.in_(rowids)
            )
            for (rowid,) in conn.execute(stmt):
                found[int(rowid)].append(term)
        return {rowid: tuple(terms) for rowid, terms in found.items()}

    def _size(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            candidate = Path(f"{self.path}{suffix}")
            if candidate.exists():
                total += candidate.stat().st_size
        return total

    def stats(self) -> dict[str, Any]:
        """Return the backend, file, size on disk (with WAL) and pool use."""
        return {
            "backend": "sqlite",
            "path": str(self.path),
            "file_bytes": self._size(),
            "schema_revision": self.schema_revision(),
            **self.pool_stats(),
        }

    def maintain(self) -> dict[str, Any]:
        """Run FTS5 optimize, ANALYZE and PRAGMA optimize; checkpoint the WAL; report sizes."""
        before = self._size()

        def work(conn: Connection) -> None:
            conn.exec_driver_sql("INSERT INTO memories_fts(memories_fts) VALUES ('optimize')")
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("PRAGMA optimize")

        self.run_write(work)
        raw = self.engine.raw_connection()  # a checkpoint must run outside any transaction
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()
        return {
            "backend": "sqlite",
            "actions": ["fts5 optimize", "ANALYZE", "PRAGMA optimize", "wal_checkpoint(TRUNCATE)"],
            "bytes_before": before,
            "bytes_after": self._size(),
        }
