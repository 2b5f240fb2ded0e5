"""The SQL schema comes from Alembic migrations: from empty, idempotent on re-open."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from memmimic_core.errors import ConfigError, StorageError
from memmimic_core.models import Filters
from memmimic_core.protocols import BackendContext
from memmimic_plugins.sql import migrate
from memmimic_plugins.sql.postgresql import PostgresqlStorage
from memmimic_plugins.sql.sqlite import SqliteStorage

from .conftest import require_service

TABLES = {"memories", "memory_tags", "memory_history", "changes", "tales", "tale_versions", "alembic_version"}
MEMORY_INDEXES = {
    "ix_memories_ns_created",
    "ix_memories_ns_hash",
    "ix_memories_ns_type",
    "ix_memories_ns_cxd",
    "ix_memories_ns_status",
    "ix_memories_unembedded",
}


def open_sqlite(path: Path) -> SqliteStorage:
    return SqliteStorage(SqliteStorage.Options(path=path), BackendContext(data_dir=path.parent))


def test_the_migrations_have_one_head() -> None:
    assert migrate.head_revision() == "0003"
    assert (migrate.SCRIPT_LOCATION / "env.py").is_file()
    assert (migrate.SCRIPT_LOCATION / "script.py.mako").is_file()


def test_sqlite_migrates_from_empty(tmp_path: Path) -> None:
    path = tmp_path / "new" / "store.db"
    storage = open_sqlite(path)
    storage.close()
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        inspector = sa.inspect(engine)
        assert set(inspector.get_table_names()) >= TABLES
        assert {ix["name"] for ix in inspector.get_indexes("memories")} >= MEMORY_INDEXES
        assert "ix_changes_ns_seq" in {ix["name"] for ix in inspector.get_indexes("changes")}
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one() == "0003"
            fts = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'memories_fts'"
            ).scalar_one()
            triggers = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars()
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert set(triggers) == {"memories_fts_insert", "memories_fts_delete", "memories_fts_update"}
        assert "porter unicode61" in fts
    finally:
        engine.dispose()


def test_reopening_a_current_store_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    from memmimic_core.models import NewMemory

    first = open_sqlite(path)
    (memory,) = first.add([NewMemory(namespace="ns", content="kept across opens")])
    first.close()
    second = open_sqlite(path)
    try:
        assert second.store.schema_revision() == migrate.head_revision()
        assert [m.id for m in second.get([memory.id], "ns")] == [memory.id]
        assert second.stats()["schema_revision"] == "0003"
    finally:
        second.close()


def test_sqlite_pragmas_are_set_on_every_connection(tmp_path: Path) -> None:
    options = SqliteStorage.Options(path=tmp_path / "s.db", cache_size=1234, busy_timeout_ms=4321)
    storage = SqliteStorage(options, BackendContext(data_dir=tmp_path))
    try:
        engine = storage.store.engine
        conns = [engine.connect() for _ in range(2)]  # two distinct pooled connections
        for conn in conns:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == 1234
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 4321
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA temp_store").scalar_one() == 2  # MEMORY
        for conn in conns:
            conn.close()
    finally:
        storage.close()


def test_an_unopenable_file_is_a_storage_error(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.db"
    folder.mkdir()
    with pytest.raises(StorageError, match=r"a-folder\.db"):
        open_sqlite(folder)


def test_an_in_memory_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=":memory:"):
        SqliteStorage(SqliteStorage.Options(path=Path(":memory:")), BackendContext(data_dir=tmp_path))


@pytest.mark.service
def test_postgresql_migrates_a_new_schema_from_empty(tmp_path: Path) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"mm_mig_{uuid.uuid4().hex[:10]}"
    options = PostgresqlStorage.Options.model_validate({"schema": schema})
    storage = PostgresqlStorage(options, BackendContext(data_dir=tmp_path))
    try:
        again = PostgresqlStorage(options, BackendContext(data_dir=tmp_path))  # re-open: no-op
        again.close()
        inspector = sa.inspect(storage.store.engine)
        assert set(inspector.get_table_names(schema=schema)) >= TABLES
        indexes = {ix["name"] for ix in inspector.get_indexes("memories", schema=schema)}
        assert {*MEMORY_INDEXES, "ix_memories_content_tsv"} <= indexes
        assert "content_tsv" in {c["name"] for c in inspector.get_columns("memories", schema=schema)}
        assert storage.store.schema_revision() == "0003"
    finally:
        storage.drop_schema()
        storage.close()


def test_plugin_modules_import_without_sqlalchemy() -> None:
    code = (
        "import sys, memmimic_plugins.sql.sqlite, memmimic_plugins.sql.postgresql\n"
        "heavy = [m for m in ('sqlalchemy', 'alembic', 'psycopg') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_pending_embeddings_are_found_through_the_partial_index(tmp_path: Path) -> None:
    from memmimic_core.models import NewMemory
    from memmimic_plugins.sql.embeddings import PENDING

    storage = open_sqlite(tmp_path / "store.db")
    try:
        done, pending = storage.add([NewMemory(namespace="ns", content=f"note {i}") for i in range(2)])
        storage.set_embeddings([(done.id, np.ones(4, dtype=np.float32) / 2)], "fp")
        assert [m.id for m in storage.unembedded(10, "ns")] == [pending.id]
        assert [m.id for m in storage.unembedded(10)] == [pending.id]
        with storage.store.engine.connect() as conn:
            index_sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_memories_unembedded'"
            ).scalar_one()
            plan = conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN SELECT rowid FROM memories INDEXED BY ix_memories_unembedded "
                f"WHERE {PENDING} AND namespace = 'ns' ORDER BY rowid"
            ).all()
        assert PENDING in index_sql  # the query's WHERE repeats the index's, or SQLite can't use it
        assert "ix_memories_unembedded" in str(plan)
    finally:
        storage.close()


def test_counts_per_embedder_read_only_their_partial_index(tmp_path: Path) -> None:
    """Opening a vector index counts vectors per embedder; that must not read every vector."""
    from memmimic_core.models import NewMemory
    from memmimic_plugins.sql.embeddings import EMBEDDED

    storage = open_sqlite(tmp_path / "store.db")
    statements: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if "count(" in statement.lower():
            statements.append(statement)

    engine = storage.store.engine
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        a, _b = storage.add([NewMemory(namespace="ns", content=f"note {i}") for i in range(2)])
        storage.set_embeddings([(a.id, np.ones(4, dtype=np.float32) / 2)], "fp")
        assert storage.embedder_counts() == {"fp": 1}
        with engine.connect() as conn:
            index_sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_memories_embedder'"
            ).scalar_one()
            plan = str(conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statements[-1]).all())
        assert EMBEDDED in index_sql
        # walks the partial index (rows it visits are read only up to the embedding's NULL-ness;
        # SQLite 3.40 does not call it covering because the WHERE names the column)
        assert "USING INDEX ix_memories_embedder" in plan or "COVERING INDEX ix_memories_embedder" in plan, (
            plan
        )
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
        storage.close()


def test_lookups_by_id_read_rows_by_key_not_by_walking_the_namespace(tmp_path: Path) -> None:
    """SQLite without statistics would walk ix_memories_ns_status for ``id IN (…)``: a scan.

    Every statement the lookups run, through SQLAlchemy or as text on the driver's cursor
    (``get``, ``locate``), is caught by sqlite3's trace hook with its parameters filled in.
    """
    from memmimic_core.models import NewMemory

    storage = open_sqlite(tmp_path / "store.db")
    statements: list[str] = []
    engine = storage.store.engine

    def trace(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(statements.append)

    sa.event.listen(engine, "connect", trace)
    engine.dispose()  # the next connections are traced
    try:
        made = storage.add([NewMemory(namespace="ns", content=f"note {i}") for i in range(30)])
        ids = [m.id for m in made[:5]]
        statements.clear()
        assert [m.id for m in storage.get(ids, "ns")] == ids
        assert storage.get(ids, "other") == []  # the namespace still applies
        assert sorted(r.id for r in storage.locate("ns", ids=ids)) == sorted(ids)
        assert sorted(r.id for r in storage.locate("ns", Filters(tags=("t",), status=None), ids=ids)) == []
        storage.touch(ids, "ns", made[0].created_at)
        assert {m.access_count for m in storage.get(ids, "ns", Filters(metadata={"k": None}))} == set()
        assert {m.access_count for m in storage.get(ids, "ns")} == {1}
        lookups = [
            s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE")) and ids[0] in s
        ]
        assert len(lookups) >= 6
        sa.event.remove(engine, "connect", trace)
        engine.dispose()
        with engine.connect() as conn:
            for statement in lookups:
                plan = str(conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement).all())
                by_key = "INTEGER PRIMARY KEY" in plan or "sqlite_autoindex_memories_1 (id=?)" in plan
                assert by_key and "ix_memories_ns" not in plan, (statement, plan)
    finally:
        if sa.event.contains(engine, "connect", trace):
            sa.event.remove(engine, "connect", trace)
        storage.close()
