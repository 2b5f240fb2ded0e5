"""The storage contract on the default backend (``--memmimic-storage``) and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from memmimic_core.plugins import Backends, build_plugin_manager, collect_backends
from memmimic_core.protocols import BackendContext, Storage
from memmimic_core.testing.storage import StorageContract

from .conftest import require_service

TABLES = ("memory_tags", "memory_history", "changes", "memories", "tale_versions", "tales")


class TestStorage(StorageContract):
    """Runs on the backend chosen by --memmimic-storage (default sqlite)."""


@pytest.fixture(scope="class")
def postgresql_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storage]:
    """One PostgreSQL store in a throwaway schema for the whole class (migrated once)."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    backends: Backends = collect_backends(build_plugin_manager())
    context = BackendContext(data_dir=tmp_path_factory.mktemp("pg"))
    options = {"schema": f"mm_test_{uuid.uuid4().hex[:12]}", "pool_size": 2}
    backend = backends["storage"].create("postgresql", options, context, "storage")
    try:
        yield backend
    finally:
        backend.drop_schema()
        backend.close()


@pytest.mark.service
class TestPostgresqlStorage(StorageContract):
    """The same contract on PostgreSQL; every test starts from empty tables."""

    @pytest.fixture
    def storage(self, postgresql_store: Storage) -> Iterator[Storage]:
        engine = postgresql_store.store.engine  # type: ignore[attr-defined]
        with engine.begin() as conn:
            for table in TABLES:
                conn.exec_driver_sql(f"DELETE FROM {table}")
        yield postgresql_store
