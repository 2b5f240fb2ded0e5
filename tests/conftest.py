"""Shared fixtures: a fresh store on the model-free defaults, and service checks."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    """Return whether a TCP server answers at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Fail in CI, skip elsewhere, when a service the test needs is not running."""
    if service_reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: service tests must not be skipped)")
    pytest.skip(f"{message}; start it to run this test")


@pytest.fixture
def postgres_available() -> None:
    """Require the PostgreSQL server at 127.0.0.1:5432."""
    require_service("PostgreSQL", "127.0.0.1", 5432)


@pytest.fixture
def redis_available() -> None:
    """Require the Redis server at 127.0.0.1:6379."""
    require_service("Redis", "127.0.0.1", 6379)


def model_free_config(data_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A config on the dependency-free backends (hashing embedder, numpy, storage FTS)."""
    config: dict[str, Any] = {
        "data_dir": str(data_dir),
        "embedder": {"backend": "hashing"},
        "vector_index": {"backend": "numpy"},
        "text_index": {"backend": "storage"},
        "cache": {"backend": "none"},
        "classifier": {"backend": "none"},
        "expanders": [],
    }
    config.update(overrides)
    return config


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.service)])
def memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh store on the model-free backends, once on SQLite and once on PostgreSQL.

    On PostgreSQL each test gets a throwaway schema (named like the ``storage`` fixture's of
    memmimic_core.testing.plugin), dropped afterwards by the backend's own ``drop_schema``.
    """
    from memmimic_core.engine import MemMimic

    overrides: dict[str, Any] = {}
    if request.param == "postgresql":
        require_service("PostgreSQL", "127.0.0.1", 5432)
        overrides["storage"] = {"backend": "postgresql", "schema": f"mm_test_{uuid.uuid4().hex[:12]}"}
    config = model_free_config(tmp_path / "store", **overrides)
    try:
        with MemMimic(config) as store:
            yield store
    finally:
        if request.param == "postgresql":
            from memmimic_core.migrate_store import open_storage

            storage = open_storage(config)
            try:
                storage.drop_schema()  # type: ignore[attr-defined]
            finally:
                storage.close()


def other_threads_cpu_during(call: Callable[[], object], repeats: int = 20, gap: float = 0.02) -> float:
    """CPU seconds this process's other threads used while ``call`` ran ``repeats`` times,
    ``gap`` seconds apart (the gaps are where a spinning helper thread would burn its core)."""
    process, thread = time.process_time(), time.thread_time()
    for _ in range(repeats):
        call()
        time.sleep(gap)
    return (time.process_time() - process) - (time.thread_time() - thread)


#: for tests of helper threads: they need a second core to run on
needs_two_cores = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: no helper thread to wake")
