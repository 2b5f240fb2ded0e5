"""PostgreSQL-specific behaviour of the ``postgresql`` storage (the contract runs elsewhere)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from memmimic_core.errors import BackendUnavailableError, ConfigError, InvalidInputError, StorageError
from memmimic_core.models import MemoryPatch, NewMemory, TextQuery, WeightedTerm
from memmimic_core.plugins import build_plugin_manager, collect_backends
from memmimic_core.protocols import BackendContext
from memmimic_plugins.sql.postgresql import PostgresqlStorage

from .conftest import require_service


def build(tmp_path: Path, **options: object) -> PostgresqlStorage:
    context = BackendContext(data_dir=tmp_path)
    backends = collect_backends(build_plugin_manager())
    return backends["storage"].create("postgresql", options, context, "storage")


@pytest.fixture
def schema() -> str:
    return f"mm_pg_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pg(tmp_path: Path, schema: str) -> Iterator[PostgresqlStorage]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    storage = build(tmp_path, schema=schema)
    try:
        yield storage
    finally:
        storage.drop_schema()
        storage.close()


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/test"
    with pytest.raises(BackendUnavailableError) as info:
        build(tmp_path, url=url, connect_timeout=2)
    assert "can't be reached" in str(info.value)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize("bad", ["Public", "drop table", "a;b", "x" * 70, "1abc"])
def test_schema_names_must_be_plain_identifiers(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidInputError):
        build(tmp_path, schema=bad)


def test_unknown_options_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        build(tmp_path, path="/tmp/x.db")


@pytest.mark.service
def test_stats_mask_the_password_and_report_the_schema(tmp_path: Path, schema: str) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    url = "postgresql://postgres:s3cret@127.0.0.1:5432/test"  # trust auth ignores the password
    storage = build(tmp_path, url=url, schema=schema)
    try:
        stats = storage.stats()
        assert stats["backend"] == "postgresql" and stats["schema"] == schema
        assert stats["schema_bytes"] > 0 and stats["pool_size"] == 5
        assert stats["url"] == "postgresql+psycopg://postgres:***@127.0.0.1:5432/test"
        assert "s3cret" not in repr(storage.maintain())
    finally:
        storage.drop_schema()
        storage.close()


@pytest.mark.service
def test_two_schemas_are_two_stores(pg: PostgresqlStorage, tmp_path: Path) -> None:
    other = build(tmp_path, schema=f"mm_pg_{uuid.uuid4().hex[:10]}")
    try:
        pg.add([NewMemory(namespace="ns", content="only in the first store")])
        assert other.count() == 0 and pg.count() == 1
        assert other.keyword_search("ns", TextQuery("first store"), 5) == []
    finally:
        other.drop_schema()
        other.close()


@pytest.mark.service
def test_concurrent_openers_migrate_once(tmp_path: Path, schema: str) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: build(tmp_path, schema=schema, pool_size=1), range(4)))
    try:
        stores[0].add([NewMemory(namespace="ns", content="seen by all")])
        assert all(s.count("ns") == 1 for s in stores)
    finally:
        stores[0].drop_schema()
        for s in stores:
            s.close()


@pytest.mark.service
def test_expansion_terms_count_by_their_weight(pg: PostgresqlStorage) -> None:
    strong, weak = pg.add(
        [
            NewMemory(namespace="ns", content="vehicle repair"),
            NewMemory(namespace="ns", content="auto repair"),
        ]
    )
    terms = (WeightedTerm("vehicle", 1.0), WeightedTerm("auto", 0.1))
    found = pg.keyword_search("ns", TextQuery("repair", terms=terms), 5)
    assert [c.memory_id for c in found] == [strong.id, weak.id]
    assert found[0].score > found[1].score


@pytest.mark.service
def test_english_stemming_and_stop_words(pg: PostgresqlStorage) -> None:
    (m,) = pg.add([NewMemory(namespace="ns", content="The gardens were blooming")])
    assert [c.memory_id for c in pg.keyword_search("ns", TextQuery("garden bloom"), 5)] == [m.id]
    assert pg.keyword_search("ns", TextQuery("the were"), 5) == []


@pytest.mark.service
def test_a_closed_store_refuses_work(tmp_path: Path, schema: str) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    storage = build(tmp_path, schema=schema)
    storage.drop_schema()
    storage.close()
    with pytest.raises(StorageError, match="closed"):
        storage.count()


@pytest.mark.service
def test_concurrent_writers_keep_the_change_sequence_whole(pg: PostgresqlStorage) -> None:
    def writer(worker: int) -> list[str]:
        ids = []
        for i in range(10):
            (m,) = pg.add([NewMemory(namespace="ns", content=f"writer {worker} item {i}")])
            pg.update(m.id, "ns", MemoryPatch(importance=0.9))
            ids.append(m.id)
        pg.save_tale("ns", "shared tale", f"from {worker}", "general", [])
        return ids

    with ThreadPoolExecutor(4) as pool:
        ids = [i for batch in pool.map(writer, range(4)) for i in batch]
    assert pg.count("ns") == len(set(ids)) == 40
    seqs = [c.seq for c in pg.changes_since(0)]
    assert len(seqs) == 80 and seqs == sorted(set(seqs))
    assert [t.version for t in pg.tale_versions("ns", "shared tale")] == [1, 2, 3, 4]
