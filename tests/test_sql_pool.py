"""Connection-pool figures of the SQL storages: checkouts, overflow, checkout wait, alerts.

Every test runs on SQLite and on PostgreSQL (a throwaway schema each).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from memmimic_core.config import AlertsConfig
from memmimic_core.errors import StorageError
from memmimic_core.metrics import Metrics, check_alerts
from memmimic_core.models import MemoryPatch, NewMemory
from memmimic_core.plugins import build_plugin_manager, collect_backends
from memmimic_core.protocols import BackendContext
from memmimic_plugins.sql.pool import WAIT_BOUNDS

from .conftest import require_service

Build = Callable[..., Any]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.service)])
def build(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Build]:
    """Open storages of the parametrized backend with given options; drop and close them after."""
    backends = collect_backends(build_plugin_manager())
    opened: list[Any] = []
    if request.param == "postgresql":
        require_service("PostgreSQL", "127.0.0.1", 5432)

    def open_storage(**options: Any) -> Any:
        if request.param == "postgresql":
            options["schema"] = f"mm_pool_{uuid.uuid4().hex[:10]}"
        context = BackendContext(data_dir=tmp_path / f"store{len(opened)}")
        context.data_dir.mkdir()
        storage = backends["storage"].create(request.param, options, context, "storage")
        opened.append(storage)
        return storage

    yield open_storage
    for storage in opened:
        if request.param == "postgresql":
            storage.drop_schema()
        storage.close()


def meter(storage: Any) -> dict[str, Any]:
    return dict(storage.store.pool_meter.stats())


def test_every_operation_checks_out_once_and_is_timed(build: Build) -> None:
    storage = build()
    before = meter(storage)
    (m,) = storage.add([NewMemory(namespace="ns", content="pool figures")])
    storage.update(m.id, "ns", MemoryPatch(importance=0.9))
    for _ in range(8):
        storage.get([m.id], "ns")
    storage.count("ns")
    after = meter(storage)  # 11 operations, one connection each
    assert after["checkouts"] - before["checkouts"] == 11
    assert after["wait"]["count"] - before["wait"]["count"] == 11
    wait = after["wait"]
    assert [b for b, _ in wait["buckets"]] == list(WAIT_BOUNDS)
    counts = [n for _, n in wait["buckets"]]
    assert counts == sorted(counts) and counts[-1] <= wait["count"]
    assert wait["sum_seconds"] > 0 and wait["mean_seconds"] <= wait["max_seconds"]
    assert after["connects"] >= 1 and after["timeouts"] == 0
    assert (after["size"], after["max_overflow"], after["checked_out"]) == (5, 10, 0)


def test_stats_report_the_pool_nested_and_flat(build: Build) -> None:
    storage = build(pool_size=3, max_overflow=2)
    storage.count()
    stats = storage.stats()
    pool = stats["pool"]
    assert (pool["class"], pool["size"], pool["max_overflow"], pool["overflow"]) == ("QueuePool", 3, 2, 0)
    assert pool["checkouts"] >= 2 and pool["utilization"] == 0.0
    assert (stats["pool_size"], stats["pool_checkedout"]) == (3, 0)
    assert stats["pool_checkouts"] == pool["checkouts"]
    assert stats["pool_wait_seconds"] == pool["wait"]["sum_seconds"]


def test_a_full_pool_overflows_then_times_out(build: Build) -> None:
    storage = build(pool_size=1, max_overflow=1, pool_timeout=0.3)
    storage.count()
    engine = storage.store.engine
    held = [engine.connect(), engine.connect()]  # the pooled connection and the one overflow
    try:
        pool = meter(storage)
        assert (pool["checked_out"], pool["overflow"], pool["utilization"]) == (2, 1, 2.0)
        assert pool["peak_checked_out"] == 2
        with pytest.raises(StorageError, match=r"pool stayed exhausted .*pool_size 1, max_overflow 1"):
            storage.count()
        pool = meter(storage)
        assert pool["timeouts"] == 1
        assert pool["wait"]["max_seconds"] >= 0.3  # the pool waits at least pool_timeout
    finally:
        for conn in held:
            conn.close()
    pool = meter(storage)
    assert (pool["checked_out"], pool["overflow"], pool["peak_checked_out"]) == (0, 0, 2)
    metrics = Metrics()
    metrics.observe_pool_stats("storage", pool)
    warnings = check_alerts(AlertsConfig(rss_mb=1e6), metrics.snapshot())
    assert warnings == [
        "connection pool storage: peak utilization 200% in the last 2 minutes is above the 90% threshold",
        "connection pool storage: 1 checkouts timed out "
        "(every connection stayed in use; raise the pool size)",
    ]


def test_a_caller_waits_for_a_connection_to_come_back(build: Build) -> None:
    storage = build(pool_size=1, max_overflow=0, pool_timeout=60)
    storage.add([NewMemory(namespace="ns", content="waited for")])
    held = storage.store.engine.connect()
    before = meter(storage)
    result: list[int] = []
    waiter = threading.Thread(target=lambda: result.append(storage.count("ns")))
    waiter.start()
    time.sleep(0.2)  # let it queue for the only connection (it can't finish before the release)
    assert result == []
    held.close()
    waiter.join(timeout=60)
    after = meter(storage)
    assert result == [1]
    assert after["wait"]["count"] - before["wait"]["count"] == 1
    assert after["timeouts"] == 0 and after["checkouts"] - before["checkouts"] == 1


def test_the_peak_covers_the_last_one_to_two_minutes(build: Build) -> None:
    storage = build(pool_size=2)
    pool_meter = storage.store.pool_meter
    engine = storage.store.engine
    with engine.connect(), engine.connect():
        pass
    assert meter(storage)["peak_checked_out"] == 2
    pool_meter._window_start -= 61  # one window later: the previous window's peak still counts
    assert meter(storage)["peak_checked_out"] == 2
    storage.count()  # one connection in this window
    pool_meter._window_start -= 61  # and one more: the peak of two is forgotten
    assert meter(storage)["peak_checked_out"] == 1
    pool_meter._window_start -= 61
    assert meter(storage)["peak_checked_out"] == 0
    pool_meter._window_start -= 200  # a long idle spell forgets at once
    with engine.connect():
        assert meter(storage)["peak_checked_out"] == 1


def test_status_metrics_and_prometheus_carry_the_pool(memory: Any) -> None:
    memory.remember("pool figures reach the engine")
    memory.recall("pool figures")
    pool = memory.status()["storage"]["pool"]
    assert pool["checkouts"] > 0 and pool["wait"]["count"] > 0 and pool["size"] == 5
    snapshot = memory.metrics_snapshot()
    (size,) = snapshot["gauges"]["pool_size"]
    assert (size["labels"], size["value"]) == ({"pool": "storage"}, 5.0)
    (checkouts,) = snapshot["counters"]["pool_checkouts"]
    assert checkouts["value"] >= pool["checkouts"]
    (wait,) = snapshot["histograms"]["pool_checkout_wait_seconds"]
    assert wait["value"]["count"] >= pool["wait"]["count"]
    text = memory.prometheus()
    assert 'memmimic_pool_checkout_wait_seconds_bucket{le="+Inf",pool="storage"}' in text
    assert 'memmimic_pool_checkouts_total{pool="storage"}' in text
