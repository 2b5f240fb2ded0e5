"""The SQL side of the ``pgvector`` index: tables, shared sync state, HNSW search.

Tables in the configured schema (``T`` is the ``table`` option):

- ``T`` (rowid PK, memory_id, namespace, embedding vector(dim), fingerprint) with a b-tree
  index on namespace and, once it holds ``hnsw_min_vectors``, an HNSW index (``vector_ip_ops``:
  inner product, which is cosine on the normalized vectors embedders return). Below that,
  searches are exact scans (a few ms at a few thousand vectors) and writes cost no graph
  upkeep, which is what makes inserting into pgvector's HNSW slow (milliseconds per vector);
- ``T_state``: one row, the last storage change applied, the dimension and fingerprint;
- ``T_skipped``: rowids whose vector has another dimension or fingerprint (counted in stats).

Every change to these tables happens under ``pg_advisory_xact_lock`` on the table's name, in
the transaction that also advances ``T_state.last_seen``: hosts take turns, and each starts
from where the previous one stopped.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, make_url

from memmimic_core.errors import (
    BackendUnavailableError,
    ConfigError,
    EmbedderMismatchError,
    MemMimicError,
    MissingResourceError,
    StorageError,
)
from memmimic_core.models import Candidate, StoredVector, Vector
from memmimic_core.protocols import Storage

__all__ = ["PgvectorStore"]

T = TypeVar("T")
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,50}$")
PAGE = 5_000
# When one page of changes brings ``n`` vectors into a table that will hold ``total``, the HNSW
# index is dropped and built again after the load when ``n >= BULK_MIN`` and
# ``n * INSERT_COST >= total``: inserting into the graph one row at a time costs about
# INSERT_COST (measured 4.5 to 11 at 1k-6k 384-d vectors) times a row's share of a build.
BULK_MIN = 100
INSERT_COST = 4
BUILD_MEMORY_CAP = 1 << 30  # bytes: maintenance_work_mem is raised for a build up to this, never lowered
EXTENSION_HELP = (
    "install pgvector on that server (e.g. the postgresql-16-pgvector package) and run "
    "`CREATE EXTENSION vector;` in the database as a superuser"
)


_Row = tuple[int, str, str, Vector, str | None]  # rowid, memory_id, namespace, embedding, fingerprint


class _State:
    """The shared sync state as read from ``T_state``."""

    def __init__(self, row: Sequence[Any] | None) -> None:
        self.last_seen = int(row[0]) if row else 0
        self.dimension: int | None = int(row[1]) if row and row[1] is not None else None
        self.fingerprint: str | None = row[2] if row else None
        self.loaded = bool(row[3]) if row else False


class PgvectorStore:
    """One pgvector-backed index over one engine (pooled psycopg 3 connections)."""

    def __init__(self, url: str, schema: str, options: Any, storage: Storage) -> None:
        for what, name in (("schema", schema), ("table", options.table)):
            if not IDENTIFIER.match(name):
                raise ConfigError(
                    f"vector_index.{what} must be a lowercase SQL identifier (letters, digits, _), "
                    f"got {name!r}"
                )
        try:
            parsed = make_url(url)
        except sa_exc.ArgumentError as exc:
            raise ConfigError(f"vector_index.url is not a database URL: {exc}") from None
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.drivername != "postgresql+psycopg":
            raise ConfigError(f"vector_index.url must be a postgresql:// URL, got {parsed.drivername!r}")
        self.url = parsed
        self.schema = schema
        self.options = options
        self.storage = storage
        self.table = options.table
        self._lock_key = f"memmimic-pgvector:{schema}.{options.table}"
        self._dimension: int | None = None
        self.engine = self._make_engine(f'"{schema}", public')
        ext_schema = self._ensure_extension()
        if ext_schema not in (schema, "public"):
            self.engine.dispose()
            self.engine = self._make_engine(f'"{schema}", "{ext_schema}"')
        self._run(self._create_state)
        self.engine.dispose()  # connections opened from here on know the vector type
        sa.event.listen(self.engine, "connect", _register_vector)

    @property
    def masked_url(self) -> str:
        """The URL with its password hidden."""
        return self.url.render_as_string(hide_password=True)

    def _make_engine(self, search_path: str) -> sa.Engine:
        return sa.create_engine(
            self.url,
            pool_size=self.options.pool_size,
            max_overflow=self.options.pool_size,
            pool_pre_ping=True,
            connect_args={
                "options": f"-c search_path={search_path.replace(' ', '')}",
                "connect_timeout": int(self.options.connect_timeout),
            },
        )

    # -- transactions ---------------------------------------------------------------------

    def _run(self, work: Callable[[Any], T], *, lock: bool = True) -> T:
        """Run ``work(cursor)`` in one transaction, under the index's advisory lock if asked."""
        try:
            with self.engine.begin() as conn:
                cur = _driver(conn).cursor()
                if lock:
                    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_key,))
                return work(cur)
        except MemMimicError:
            raise
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            raise self._translate(exc) from exc
        except Exception as exc:  # psycopg errors raised by the raw cursor
            if type(exc).__module__.startswith("psycopg"):
                raise self._translate(exc) from exc
            raise

    def _translate(self, exc: BaseException) -> MemMimicError:
        orig = getattr(exc, "orig", None) or exc
        sqlstate = getattr(orig, "sqlstate", None)
        if sqlstate is None or str(sqlstate).startswith(("08", "57P")):
            return BackendUnavailableError(
                f"the pgvector index's PostgreSQL at {self.masked_url} can't be reached or failed: "
                f"{str(orig).strip()}"
            )
        return StorageError(
            f"the pgvector index ({self.masked_url}, {self.schema}.{self.table}) failed: {orig}"
        )

    def _ensure_extension(self) -> str:
        find = (
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'vector'"
        )

        def work(cur: Any) -> str:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('memmimic-pgvector:extension'))")
            row = cur.execute(find).fetchone()
            if row is not None:
                return str(row[0])
            if cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone() is None:
                raise MissingResourceError(
                    f"the PostgreSQL server at {self.masked_url} has no pgvector extension; {EXTENSION_HELP}"
                )
            try:
                cur.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
            except Exception as exc:
                if getattr(exc, "sqlstate", None) == "42501":  # insufficient privilege
                    raise MissingResourceError(
                        f"the vector extension is not enabled in the database at {self.masked_url} and "
                        f"this user may not create it; {EXTENSION_HELP}"
                    ) from None
                raise
            return "public"

        return self._run(work, lock=False)

    def _create_state(self, cur: Any) -> None:
        cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table}_state (id INT PRIMARY KEY CHECK (id = 1), "
            "last_seen BIGINT NOT NULL, dimension INT, fingerprint TEXT, loaded BOOLEAN NOT NULL)"
        )
        cur.execute(f"CREATE TABLE IF NOT EXISTS {self.table}_skipped (rowid BIGINT PRIMARY KEY)")
        cur.execute(
            f"INSERT INTO {self.table}_state VALUES (1, 0, NULL, NULL, false) ON CONFLICT (id) DO NOTHING"
        )

    def _state(self, cur: Any, *, for_update: bool = False) -> _State:
        suffix = " FOR UPDATE" if for_update else ""
        sql = f"SELECT last_seen, dimension, fingerprint, loaded FROM {self.table}_state WHERE id = 1{suffix}"
        return _State(cur.execute(sql).fetchone())

    # -- sync -----------------------------------------------------------------------------

    def lag(self) -> int:
        """Return how many storage changes the shared index has not applied."""
        state = self._run(self._state, lock=False)
        return max(0, self.storage.last_seq() - state.last_seen)

    def sync(self) -> int:
        """Apply the storage's new changes (or reload everything); return how many were applied."""
        state = self._run(self._state, lock=False)
        if state.loaded and state.last_seen >= self.storage.last_seq():
            self._dimension = state.dimension
            return 0
        return self._run(self._sync_locked)

    def _sync_locked(self, cur: Any) -> int:
        state = self._state(cur, for_update=True)  # re-read: another host may have caught up
        if not state.loaded or self.storage.last_seq() - state.last_seen > self.options.rebuild_lag:
            return self._reload(cur)
        applied = 0
        while True:
            changes = self.storage.changes_since(state.last_seen, limit=PAGE)
            if not changes:
                break
            latest = {c.rowid: c.op for c in changes}
            gone = [rowid for rowid, op in latest.items() if op == "delete"]
            upserts = [rowid for rowid, op in latest.items() if op == "upsert"]
            found = self.storage.vectors_by_rowid(upserts) if upserts else []
            gone += sorted(set(upserts) - {m.rowid for m in found})  # deleted again since
            self._remove(cur, gone, state)
            rows, new = self._changed(cur, self._fit(cur, found, state))
            total = self._count(cur, state) + new  # the table's size once the rows are written
            indexed = self._hnsw_exists(cur)
            bulk = indexed and len(rows) >= BULK_MIN and len(rows) * INSERT_COST >= total
            if bulk:  # building HNSW afterwards is faster than inserting into it one by one
                cur.execute(f"DROP INDEX IF EXISTS {self.table}_hnsw")
            self._write(cur, rows)
            grown = not indexed and total >= self.options.hnsw_min_vectors
            if state.dimension is not None and (bulk or grown):
                self._create_hnsw(cur, state.dimension, total)
                cur.execute(f"ANALYZE {self.table}")
            state.last_seen = changes[-1].seq
            applied += len(changes)
        cur.execute(
            f"UPDATE {self.table}_state SET last_seen = %s, dimension = %s, fingerprint = %s WHERE id = 1",
            (state.last_seen, state.dimension, state.fingerprint),
        )
        self._dimension = state.dimension
        skipped = cur.execute(f"SELECT count(*) FROM {self.table}_skipped").fetchone()[0]
        if skipped and skipped > self._count(cur, state):  # most vectors changed embedder: start over
            return applied + self._reload(cur)
        return applied

    def _count(self, cur: Any, state: _State) -> int:
        if state.dimension is None or not self._table_exists(cur):
            return 0
        return int(cur.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0])

    def _reload(self, cur: Any) -> int:
        """Rebuild the table from every embedded memory (majority fingerprint); return how many."""
        head = self.storage.last_seq()  # read first: later changes are replayed by the next sync
        counts = self.storage.embedder_counts()
        state = _State(None)
        state.fingerprint = max(counts, key=lambda fp: (counts[fp], fp)) if counts else None
        cur.execute(f"DROP TABLE IF EXISTS {self.table}")
        cur.execute(f"TRUNCATE {self.table}_skipped")
        loaded = 0
        for batch in self.storage.iter_vectors(batch_size=2000):
            loaded += self._put(cur, batch, state, fresh=True)
        if state.dimension is not None:
            if loaded >= self.options.hnsw_min_vectors:
                self._create_hnsw(cur, state.dimension, loaded)
            cur.execute(f"ANALYZE {self.table}")  # the planner must know namespaces' sizes
        cur.execute(
            f"UPDATE {self.table}_state SET last_seen = %s, dimension = %s, fingerprint = %s, "
            "loaded = true WHERE id = 1",
            (head, state.dimension, state.fingerprint),
        )
        self._dimension = state.dimension
        return loaded

    def _create_table(self, cur: Any, dimension: int) -> None:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (rowid BIGINT PRIMARY KEY, memory_id TEXT NOT NULL, "
            f"namespace TEXT NOT NULL, embedding vector({dimension}) NOT NULL, fingerprint TEXT)"
        )
        cur.execute(f"CREATE INDEX IF NOT EXISTS {self.table}_namespace ON {self.table} (namespace)")

    def _hnsw_exists(self, cur: Any) -> bool:
        row = cur.execute("SELECT to_regclass(%s)", (f'"{self.schema}".{self.table}_hnsw',)).fetchone()
        return bool(row and row[0] is not None)

    def _create_hnsw(self, cur: Any, dimension: int, rows: int) -> None:
        """Build the HNSW index over ``rows`` vectors, with enough memory to keep the graph in it.

        A graph larger than ``maintenance_work_mem`` is built on disk, many times slower;
        the setting is raised for this transaction only (``SET LOCAL``), up to BUILD_MEMORY_CAP.
        """
        o = self.options
        need = rows * (4 * dimension + 32 * int(o.m) + 256) * 5 // 4  # vector, level-0 links, element
        if need > 64 << 20:
            have = int(
                cur.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem'))").fetchone()[0]
            )
            want = min(need, BUILD_MEMORY_CAP)
            if want > have:
                cur.execute(f"SET LOCAL maintenance_work_mem = '{want // 1024}kB'")
        cur.execute(
            f"CREATE INDEX IF NOT EXISTS {self.table}_hnsw ON {self.table} USING hnsw "
            f"(embedding vector_ip_ops) WITH (m = {int(o.m)}, ef_construction = {int(o.ef_construction)})"
        )

    def _remove(self, cur: Any, rowids: Sequence[int], state: _State) -> None:
        if not rowids:
            return
        if state.dimension is not None:
            cur.execute(f"DELETE FROM {self.table} WHERE rowid = ANY(%s)", (list(rowids),))
        cur.execute(f"DELETE FROM {self.table}_skipped WHERE rowid = ANY(%s)", (list(rowids),))

    def _put(self, cur: Any, memories: Iterable[StoredVector], state: _State, *, fresh: bool = False) -> int:
        """Store the vectors of ``memories`` that fit (COPY when ``fresh``: not in the table yet)."""
        rows = self._fit(cur, memories, state)
        self._write(cur, rows, fresh=fresh)
        return len(rows)

    def _fit(self, cur: Any, memories: Iterable[StoredVector], state: _State) -> list[_Row]:
        """Return the rows of ``memories`` that fit the index; remove the others from it.

        A memory without a vector is removed; one of another dimension or fingerprint is
        removed and recorded in ``T_skipped``. The table is created with the first vector.
        """
        rows: list[_Row] = []
        empty: list[int] = []
        skipped: list[int] = []
        for memory in memories:
            if memory.embedding is None:
                empty.append(memory.rowid)
                continue
            vector = np.asarray(memory.embedding, dtype=np.float32).reshape(-1)
            if state.fingerprint is None:
                state.fingerprint = memory.embedder
            if state.dimension is None and memory.embedder == state.fingerprint:
                state.dimension = int(vector.shape[0])
                self._create_table(cur, state.dimension)
            if vector.shape[0] != state.dimension or memory.embedder != state.fingerprint:
                skipped.append(memory.rowid)
                continue
            rows.append((memory.rowid, memory.id, memory.namespace, vector, memory.embedder))
        self._remove(cur, empty + skipped, state)
        if skipped:
            cur.executemany(
                f"INSERT INTO {self.table}_skipped (rowid) VALUES (%s) ON CONFLICT DO NOTHING",
                [(r,) for r in skipped],
            )
        return rows

    def _changed(self, cur: Any, rows: list[_Row]) -> tuple[list[_Row], int]:
        """Return the rows that differ from what the table holds, and how many are not in it yet.

        Changes that leave a memory's vector as it is (an edited tag, a new importance) are
        dropped here: rewriting the row would add a new HNSW entry and a dead tuple for nothing.
        """
        if not rows:
            return [], 0
        held = {
            int(r[0]): (r[1], r[2], _float32_bytes(r[3]), r[4])
            for r in cur.execute(
                f"SELECT rowid, memory_id, namespace, embedding, fingerprint FROM {self.table} "
                "WHERE rowid = ANY(%s)",
                ([r[0] for r in rows],),
                binary=True,
            )
        }
        changed = [r for r in rows if held.get(r[0]) != (r[1], r[2], r[3].tobytes(), r[4])]
        return changed, sum(1 for r in changed if r[0] not in held)

    def _write(self, cur: Any, rows: list[_Row], *, fresh: bool = False) -> None:
        """Upsert ``rows`` (or COPY them into a table that does not hold them: ``fresh``)."""
        if not rows:
            return
        columns = "rowid, memory_id, namespace, embedding, fingerprint"
        if fresh:
            with cur.copy(f"COPY {self.table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "text", "text", "vector", "text"])
                for row in rows:
                    copy.write_row(row)
            return
        cur.executemany(
            f"INSERT INTO {self.table} ({columns}) VALUES (%s, %s, %s, %b, %s) "
            "ON CONFLICT (rowid) DO UPDATE SET memory_id = excluded.memory_id, "
            "namespace = excluded.namespace, embedding = excluded.embedding, "
            "fingerprint = excluded.fingerprint",
            rows,
        )
        cur.execute(f"DELETE FROM {self.table}_skipped WHERE rowid = ANY(%s)", ([r[0] for r in rows],))

    # -- search ---------------------------------------------------------------------------

    def search(self, namespace: str, query: Vector, limit: int) -> list[Candidate]:
        """HNSW search filtered by namespace; an exact scan when it found fewer than ``limit``."""
        if self._dimension is None:
            self._dimension = self._run(self._state, lock=False).dimension
            if self._dimension is None:
                return []
        if query.shape[0] != self._dimension:
            raise EmbedderMismatchError(
                f"the query vector has dimension {query.shape[0]} but the index holds vectors of "
                f"dimension {self._dimension}; re-embed the store with the configured embedder"
            )
        sql = (
            f"SELECT memory_id, (embedding <#> %b) * -1 FROM {self.table} WHERE namespace = %s "
            "ORDER BY embedding <#> %b LIMIT %s"
        )
        params = (query, namespace, query, limit)

        def work(cur: Any) -> list[Candidate]:
            cur.execute(f"SET LOCAL hnsw.ef_search = {max(self.options.ef_search, min(limit, 1000))}")
            rows = cur.execute(sql, params).fetchall()
            if len(rows) < limit:  # the approximate scan's candidates fell outside the namespace
                cur.execute("SET LOCAL enable_indexscan = off")
                rows = cur.execute(sql, params).fetchall()
            return [Candidate(memory_id=r[0], score=float(r[1])) for r in rows]

        try:
            return self._run(work, lock=False)
        except StorageError as exc:
            if "does not exist" in str(exc):  # dropped by another host's reload: try once more
                return self._run(work, lock=False)
            raise

    # -- housekeeping ---------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Return kind, vectors per namespace, dimension, last change seen and the HNSW settings."""

        def work(cur: Any) -> dict[str, Any]:
            state = self._state(cur)
            sizes: Counter[str] = Counter()
            if state.dimension is not None and self._table_exists(cur):
                for ns, n in cur.execute(f"SELECT namespace, count(*) FROM {self.table} GROUP BY namespace"):
                    sizes[ns] = int(n)
            skipped = cur.execute(f"SELECT count(*) FROM {self.table}_skipped").fetchone()[0]
            return {
                "kind": "pgvector",
                "url": self.masked_url,
                "schema": self.schema,
                "table": self.table,
                "vectors": sum(sizes.values()),
                "namespaces": dict(sorted(sizes.items())),
                "dimension": state.dimension,
                "fingerprint": state.fingerprint,
                "last_seen": state.last_seen,
                "mismatched": int(skipped),
                "search": "hnsw" if self._hnsw_exists(cur) else "exact",
                "hnsw": {
                    "min_vectors": self.options.hnsw_min_vectors,
                    "m": self.options.m,
                    "ef_construction": self.options.ef_construction,
                    "ef_search": self.options.ef_search,
                },
            }

        return self._run(work, lock=False)

    def maintain(self) -> dict[str, Any]:
        """Catch up, then ANALYZE the vectors table (namespace sizes steer the query plan)."""
        applied = self.sync()

        def work(cur: Any) -> None:
            if self._table_exists(cur):
                cur.execute(f"ANALYZE {self.table}")

        self._run(work, lock=False)
        return {"applied": applied, "actions": ["ANALYZE"]}

    def _table_exists(self, cur: Any) -> bool:
        row = cur.execute("SELECT to_regclass(%s)", (f'"{self.schema}".{self.table}',)).fetchone()
        return bool(row and row[0] is not None)

    def drop(self) -> None:
        """Drop the index's tables; the next sync recreates and reloads them."""

        def work(cur: Any) -> None:
            for suffix in ("", "_skipped", "_state"):
                cur.execute(f"DROP TABLE IF EXISTS {self.table}{suffix}")
            self._create_state(cur)

        self._run(work)
        self._dimension = None

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()


def _float32_bytes(value: Any) -> bytes:
    """The float32 bytes of a vector as psycopg loads it (pgvector's Vector in binary results)."""
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if callable(to_numpy) else value, dtype=np.float32).tobytes()


def _driver(conn: Connection) -> Any:
    """The psycopg connection under a SQLAlchemy connection."""
    return conn.connection.driver_connection


def _register_vector(dbapi_connection: Any, _record: Any) -> None:
    """Teach a new psycopg connection the ``vector`` type (binary numpy dumps and loads)."""
    from pgvector.psycopg.vector import register_vector_info
    from psycopg.types import TypeInfo

    info = TypeInfo.fetch(dbapi_connection, "vector")
    if info is not None:
        register_vector_info(dbapi_connection, info)
    dbapi_connection.commit()
