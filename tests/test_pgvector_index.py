"""The ``pgvector`` vector index on a private PostgreSQL 16 with pgvector (the ``pgserver`` package).

Debian's PostgreSQL here has no pgvector, so one ``pgserver`` instance is started per test
session (a few seconds) and both the ``postgresql`` storage and the index live on it, each
test in a throwaway schema. The whole vector-index contract runs on it, plus the shared-state
behaviour that makes the index useful to several hosts.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memmimic_core.errors import ConfigError, EmbedderMismatchError, MissingResourceError
from memmimic_core.models import NewMemory
from memmimic_core.protocols import BackendContext, Storage
from memmimic_core.testing.vector_index import VectorIndexContract, unit_vectors

pytestmark = pytest.mark.service

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_SERVER: dict[str, Any] = {}
_START_LOCK = threading.Lock()


def pgserver_url() -> str:
    """Start (once per process) a private PostgreSQL with pgvector; return its SQLAlchemy URL.

    The server listens on a Unix socket only and is stopped and deleted at exit.
    """
    with _START_LOCK:
        if "url" not in _SERVER:
            try:
                import pgserver
            except ImportError:
                _unavailable("the pgserver package is not installed (pip install pgserver)")
            root = Path(tempfile.mkdtemp(prefix="mm-pgs-"))
            atexit.register(shutil.rmtree, root, ignore_errors=True)  # runs after pgserver's own
            try:
                server = pgserver.get_server(root / "data", cleanup_mode="delete")
            except Exception as exc:
                _unavailable(f"pgserver could not start a private PostgreSQL: {exc}")
            _SERVER["server"] = server
            _SERVER["url"] = server.get_uri("postgres").replace("postgresql://", "postgresql+psycopg://", 1)
        return str(_SERVER["url"])


def _unavailable(reason: str) -> Any:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: service tests must not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pgvector_url() -> str:
    """The URL of the session's private PostgreSQL 16 with the vector extension."""
    return pgserver_url()


# The storage fixture of memmimic_core.testing.plugin builds the postgresql storage with these
# options (a throwaway schema per test): storage and index share pgserver's database.
@pytest.fixture
def storage_name() -> str:
    return "postgresql"


@pytest.fixture
def storage_options(pgvector_url: str) -> dict[str, Any]:
    return {"url": pgvector_url}


class TestPgvectorContract(VectorIndexContract):
    backend_name = "pgvector"


class TestPgvectorWithoutAutoSyncContract(VectorIndexContract):
    backend_name = "pgvector"
    backend_options = {
        "auto_sync": False,
        "hnsw_min_vectors": 0,
        "m": 8,
        "ef_construction": 16,
        "ef_search": 10,
    }


class TestPgvectorHnswContract(VectorIndexContract):
    """The contract with the HNSW index from the first vector (the default scans exactly while small)."""

    backend_name = "pgvector"
    backend_options = {"hnsw_min_vectors": 0}


def build(context: BackendContext, **options: Any) -> Any:
    from memmimic_plugins.pgvector_index import PgvectorIndex

    # the index on its own, as these tests use it: it syncs before each search (the engine would)
    return PgvectorIndex(PgvectorIndex.Options(**{"auto_sync": True, **options}), context)


def add(storage: Storage, namespace: str, vectors: Any, fingerprint: str = "test:v1") -> list[str]:
    items = [
        NewMemory(namespace=namespace, content=f"m{i}", embedding=v, embedder=fingerprint)
        for i, v in enumerate(vectors)
    ]
    return [m.id for m in storage.add(items)]


@pytest.fixture
def index(backend_context: BackendContext, storage: Storage) -> Iterator[Any]:
    idx = build(backend_context)
    yield idx
    idx.close()


@pytest.fixture
def hnsw_index(backend_context: BackendContext, storage: Storage) -> Iterator[Any]:
    """An index with its HNSW index from the first vector on."""
    idx = build(backend_context, hnsw_min_vectors=0)
    yield idx
    idx.close()


def test_the_index_lives_in_the_storages_schema(storage: Storage, index: Any) -> None:
    add(storage, "ns", unit_vectors(3, 8, seed=0))
    index.sync()
    stats = index.stats()
    assert stats["schema"] == storage.stats()["schema"]
    assert (stats["kind"], stats["vectors"], stats["dimension"]) == ("pgvector", 3, 8)
    assert stats["last_seen"] == storage.last_seq()
    assert "@" in stats["url"] or stats["url"].startswith("postgresql")


def test_sync_state_is_shared_between_instances(
    storage: Storage, backend_context: BackendContext, index: Any
) -> None:
    add(storage, "ns", unit_vectors(4, 8, seed=1))
    assert index.sync() == 4  # first load
    other = build(backend_context, auto_sync=False)  # another host
    try:
        assert other.lag() == 0 and other.sync() == 0  # nothing left to do: the state is shared
        vectors = unit_vectors(2, 8, seed=2)
        late = add(storage, "ns", vectors)
        assert index.lag() == other.lag() == 2
        assert other.sync() == 2
        assert index.lag() == 0
        assert [c.memory_id for c in other.search("ns", vectors[1], 1)] == [late[1]]
    finally:
        other.close()


def test_concurrent_syncs_apply_each_change_once(
    storage: Storage, backend_context: BackendContext, index: Any
) -> None:
    index.sync()
    stored = add(storage, "ns", unit_vectors(30, 8, seed=3))
    hosts = [build(backend_context, auto_sync=False) for _ in range(4)]
    applied: list[int] = []
    errors: list[BaseException] = []

    def run(host: Any) -> None:
        try:
            applied.append(host.sync())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(h,)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for h in hosts:
        h.close()
    assert not errors
    assert sorted(applied) == [0, 0, 0, 30]
    assert index.stats()["vectors"] == len(stored)


def test_a_small_namespace_among_many_vectors_is_found_whole(storage: Storage, hnsw_index: Any) -> None:
    add(storage, "big", unit_vectors(400, 8, seed=4))
    small = add(storage, "small", unit_vectors(5, 8, seed=5))
    found = [c.memory_id for c in hnsw_index.search("small", unit_vectors(1, 8, seed=6)[0], 10)]
    assert sorted(found) == sorted(small)
    assert hnsw_index.stats()["search"] == "hnsw"


def test_other_fingerprints_are_skipped_and_counted(storage: Storage, index: Any) -> None:
    good = add(storage, "ns", unit_vectors(3, 8, seed=7))
    add(storage, "ns", unit_vectors(2, 8, seed=8), fingerprint="other:v2")
    add(storage, "ns", unit_vectors(1, 16, seed=9))
    index.sync()
    stats = index.stats()
    assert (stats["vectors"], stats["mismatched"], stats["fingerprint"]) == (3, 3, "test:v1")
    found = {c.memory_id for c in index.search("ns", unit_vectors(1, 8, seed=10)[0], 10)}
    assert found == set(good)


def test_a_re_embedded_store_is_reloaded_with_the_new_dimension(storage: Storage, index: Any) -> None:
    stored = add(storage, "ns", unit_vectors(3, 8, seed=11))
    index.sync()
    new = unit_vectors(3, 12, seed=12)
    storage.set_embeddings(list(zip(stored, new, strict=True)), "new:v1")
    index.sync()
    stats = index.stats()
    assert (stats["dimension"], stats["fingerprint"], stats["vectors"]) == (12, "new:v1", 3)
    assert index.search("ns", new[2], 1)[0].memory_id == stored[2]


def test_a_query_of_the_wrong_dimension_is_a_clear_error(storage: Storage, index: Any) -> None:
    add(storage, "ns", unit_vectors(2, 8, seed=13))
    with pytest.raises(EmbedderMismatchError, match="dimension 4"):
        index.search("ns", unit_vectors(1, 4, seed=14)[0], 5)


def test_drop_then_sync_rebuilds_from_storage(storage: Storage, index: Any) -> None:
    add(storage, "ns", unit_vectors(5, 8, seed=15))
    index.sync()
    index.drop()
    assert index.lag() == storage.last_seq()
    assert index.sync() == 5
    assert index.stats()["vectors"] == 5


def test_over_a_sqlite_storage_it_needs_a_url(tmp_path: Path, memmimic_backends: Any) -> None:
    context = BackendContext(data_dir=tmp_path)
    sqlite = memmimic_backends["storage"].create("sqlite", {}, context, "storage")
    context.storage = sqlite
    try:
        with pytest.raises(ConfigError, match=r"vector_index\.url is required"):
            build(context)
    finally:
        sqlite.close()


def test_over_a_sqlite_storage_with_a_url(tmp_path: Path, memmimic_backends: Any, pgvector_url: str) -> None:
    context = BackendContext(data_dir=tmp_path)
    sqlite = memmimic_backends["storage"].create("sqlite", {}, context, "storage")
    context.storage = sqlite
    schema = f"mm_vec_{uuid.uuid4().hex[:10]}"
    idx = build(context, url=pgvector_url, schema=schema, table="vectors")
    try:
        vectors = unit_vectors(4, 8, seed=16)
        stored = add(sqlite, "ns", vectors)
        assert idx.search("ns", vectors[3], 1)[0].memory_id == stored[3]
        assert idx.stats()["schema"] == schema
    finally:
        idx.drop()
        idx.close()
        sqlite.close()
        _drop_schema(pgvector_url, schema)


def test_bad_names_are_config_errors(backend_context: BackendContext, storage: Storage) -> None:
    with pytest.raises(ConfigError, match=r"vector_index\.table"):
        build(backend_context, table="Robert'); DROP TABLE x;--")
    with pytest.raises(ConfigError, match="postgresql:// URL"):
        build(backend_context, url="sqlite:///x.db")


def test_a_server_without_pgvector_is_a_clear_error(
    backend_context: BackendContext, storage: Storage, postgres_available: None
) -> None:
    # Debian's PostgreSQL 15 at 127.0.0.1:5432 has no pgvector.
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    with pytest.raises(MissingResourceError, match="CREATE EXTENSION vector"):
        build(backend_context, url=url, schema="mm_no_vector")


def _drop_schema(url: str, schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        engine.dispose()


def test_a_bulk_of_changes_rebuilds_the_hnsw_index_and_keeps_it(storage: Storage, hnsw_index: Any) -> None:
    index = hnsw_index
    first = add(storage, "ns", unit_vectors(10, 8, seed=17))
    index.sync()
    vectors = unit_vectors(600, 8, seed=18)
    bulk = add(storage, "ns", vectors)
    assert index.sync() == 600
    assert index.search("ns", vectors[599], 1)[0].memory_id == bulk[599]
    assert index.search("ns", unit_vectors(10, 8, seed=17)[3], 1)[0].memory_id == first[3]
    assert index.stats()["vectors"] == 610
    assert index.maintain()["actions"] == ["ANALYZE"]
    engine = index._store.engine
    with engine.connect() as conn:
        names = {
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT indexname FROM pg_indexes "
                "WHERE tablename = 'memmimic_vectors' AND schemaname = current_schema()"
            )
        }
    assert "memmimic_vectors_hnsw" in names


def _xmins(index: Any) -> dict[int, str]:
    with index._store.engine.connect() as conn:
        return {
            int(r[0]): str(r[1]) for r in conn.exec_driver_sql("SELECT rowid, xmin FROM memmimic_vectors")
        }


def _hnsw_oid(index: Any) -> int | None:
    with index._store.engine.connect() as conn:
        oid = conn.exec_driver_sql("SELECT to_regclass('memmimic_vectors_hnsw')::oid").scalar_one()
    return int(oid) if oid is not None else None


def test_changes_that_keep_the_vector_rewrite_no_row(storage: Storage, index: Any) -> None:
    from memmimic_core.models import MemoryPatch

    vectors = unit_vectors(6, 8, seed=19)
    stored = add(storage, "ns", vectors)
    index.sync()
    before = _xmins(index)
    for memory_id in stored:
        storage.update(memory_id, "ns", MemoryPatch(importance=0.9, tags=("kept",)))
    assert index.sync() == 6
    assert _xmins(index) == before  # no new row versions, so no HNSW inserts
    new = unit_vectors(1, 8, seed=20)[0]
    storage.set_embeddings([(stored[2], new)], "test:v1")
    index.sync()
    after = _xmins(index)
    assert [rowid for rowid in after if after[rowid] != before[rowid]] == [sorted(before)[2]]
    assert index.search("ns", new, 1)[0].memory_id == stored[2]


def test_a_large_share_of_new_vectors_rebuilds_hnsw_a_small_one_inserts(
    storage: Storage, hnsw_index: Any
) -> None:
    index = hnsw_index
    add(storage, "ns", unit_vectors(300, 8, seed=21))
    index.sync()
    first = _hnsw_oid(index)
    assert first is not None
    add(storage, "ns", unit_vectors(99, 8, seed=22))  # under BULK_MIN: inserted into the graph
    index.sync()
    assert _hnsw_oid(index) == first
    late = add(storage, "ns", unit_vectors(150, 8, seed=23))  # 150 * 4 >= 549: built again
    index.sync()
    rebuilt = _hnsw_oid(index)
    assert rebuilt is not None and rebuilt != first
    assert index.search("ns", unit_vectors(150, 8, seed=23)[7], 1)[0].memory_id == late[7]
    assert index.stats()["vectors"] == 549
    from memmimic_core.models import MemoryPatch

    for memory_id in late:  # 150 changes that keep every vector: nothing to insert, no rebuild
        storage.update(memory_id, "ns", MemoryPatch(importance=0.1))
    assert index.sync() == 150
    assert _hnsw_oid(index) == rebuilt


def test_a_large_build_gets_the_memory_to_keep_its_graph(index: Any, storage: Storage) -> None:
    from memmimic_plugins.pgvector_index.store import BUILD_MEMORY_CAP

    store = index._store
    add(storage, "ns", unit_vectors(3, 8, seed=24))
    index.sync()

    def build_for(rows: int) -> Any:
        def work(cur: Any) -> int:
            cur.execute("DROP INDEX IF EXISTS memmimic_vectors_hnsw")
            store._create_hnsw(cur, 8, rows)
            return int(
                cur.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem'))").fetchone()[0]
            )

        return store._run(work)

    default = build_for(0)
    assert build_for(100) == default  # a small graph fits: the server's setting stays
    assert build_for(10_000_000) == BUILD_MEMORY_CAP // 1024 * 1024  # raised, for that build only
    assert build_for(0) == default


def test_hnsw_is_built_once_the_table_reaches_the_threshold(
    storage: Storage, backend_context: BackendContext
) -> None:
    index = build(backend_context, hnsw_min_vectors=50, auto_sync=False)
    try:
        first = add(storage, "ns", unit_vectors(30, 8, seed=25))
        index.sync()
        assert (index.stats()["search"], _hnsw_oid(index)) == ("exact", None)
        assert index.search("ns", unit_vectors(30, 8, seed=25)[4], 1)[0].memory_id == first[4]
        add(storage, "ns", unit_vectors(20, 8, seed=26))  # 50 now: built
        index.sync()
        built = _hnsw_oid(index)
        assert index.stats()["search"] == "hnsw" and built is not None
        add(storage, "ns", unit_vectors(5, 8, seed=27))  # a few more: inserted into the graph
        index.sync()
        assert _hnsw_oid(index) == built
        index.drop()  # a reload of 55 builds it in one go
        assert index.sync() == 55 and index.stats()["search"] == "hnsw"
        assert index.search("ns", unit_vectors(30, 8, seed=25)[9], 1)[0].memory_id == first[9]
    finally:
        index.close()
    small = build(backend_context, hnsw_min_vectors=1000, auto_sync=False)
    try:
        small.drop()
        assert small.sync() == 55 and small.stats()["search"] == "exact"
    finally:
        small.close()
