"""The SQL stores' recall reads (``locate``, ``get``) run as SQL text on the driver's cursor:
driver errors still come out as MemMimic errors, and PostgreSQL connections the server dropped
are replaced (the filters' equivalence with the Core path is in the storage contract)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from memmimic_core.errors import StorageError
from memmimic_core.models import Filters, NewMemory
from memmimic_core.plugins import build_plugin_manager, collect_backends
from memmimic_core.protocols import BackendContext, Storage

from .conftest import require_service


def build(tmp_path: Path, backend: str, **options: object) -> Storage:
    backends = collect_backends(build_plugin_manager())
    return backends["storage"].create(backend, options, BackendContext(data_dir=tmp_path), "storage")


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Storage]:
    storage = build(tmp_path, "sqlite")
    yield storage
    storage.close()


@pytest.fixture
def pg_store(tmp_path: Path) -> Iterator[Storage]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    storage = build(tmp_path, "postgresql", schema=f"mm_dr_{uuid.uuid4().hex[:10]}")
    yield storage
    storage.store.drop_schema()  # type: ignore[attr-defined]
    storage.close()


def test_a_sqlite_driver_error_is_a_storage_error_naming_the_file(
    sqlite_store: Storage, tmp_path: Path
) -> None:
    (m,) = sqlite_store.add([NewMemory(namespace="ns", content="kept")])
    raw = sqlite3.connect(tmp_path / "memmimic.db")
    raw.execute("ALTER TABLE memories RENAME TO memories_elsewhere")
    raw.commit()
    raw.close()
    for read in (
        lambda: sqlite_store.get([m.id], "ns"),
        lambda: sqlite_store.locate("ns", ids=[m.id]),
        lambda: sqlite_store.locate("ns", Filters(tags=("t",)), rowids=[m.rowid]),
    ):
        with pytest.raises(StorageError, match=r"memmimic\.db failed: no such table: memories"):
            read()


@pytest.mark.service
def test_pg_reads_survive_the_server_dropping_the_pool_connections(pg_store: Storage) -> None:
    (m,) = pg_store.add([NewMemory(namespace="ns", content="still here")])
    assert [x.id for x in pg_store.get([m.id], "ns")] == [m.id]  # the pool now holds a connection
    engine = pg_store.store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:  # the pooled connection the read used
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as admin:
        dropped = admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
    assert dropped == (True,)
    assert [x.id for x in pg_store.get([m.id], "ns")] == [m.id]
    assert [r.rowid for r in pg_store.locate("ns", ids=[m.id], rowids=[m.rowid])] == [m.rowid]


@pytest.mark.service
def test_a_pg_driver_error_is_a_storage_error(pg_store: Storage) -> None:
    (m,) = pg_store.add([NewMemory(namespace="ns", content="kept")])
    engine = pg_store.store.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE memories RENAME TO memories_elsewhere")
    with pytest.raises(StorageError, match='relation "memories" does not exist'):
        pg_store.get([m.id], "ns")
    with pytest.raises(StorageError, match='relation "memories" does not exist'):
        pg_store.locate("ns", rowids=[m.rowid])
