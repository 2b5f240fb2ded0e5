"""Metrics: exact counts, quantiles within the histogram's precision, alerts, Prometheus text."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memmimic_core.config import AlertsConfig
from memmimic_core.metrics import _BUCKETS, Metrics, _bounds, _bucket, check_alerts
from memmimic_core.protocols import BackendContext
from memmimic_plugins.caches import LruCache, LruOptions, TieredCache, TieredOptions

PRECISION = 1 / 32  # half a sub-bucket: 16 sub-buckets per power of two


def close_to(actual: float, expected: float) -> bool:
    return abs(actual - expected) <= expected * PRECISION


@given(st.integers(min_value=0, max_value=2**40))
def test_every_duration_falls_in_a_narrow_bucket(ns: int) -> None:
    lower, upper = _bounds(_bucket(ns))
    assert lower <= ns < upper
    assert upper - lower <= max(1, lower / 16)


def test_counts_and_quantiles_of_known_durations() -> None:
    metrics = Metrics()
    for ms in range(1, 101):
        metrics.record("recall", ms / 1000)
    op = metrics.snapshot()["operations"]["recall"]
    assert (op["count"], op["errors"], op["error_rate"], op["window_count"]) == (100, 0, 0.0, 100)
    latency = op["latency_ms"]
    assert (latency["min"], latency["max"]) == (1.0, 100.0)
    assert latency["mean"] == pytest.approx(50.5)
    assert close_to(latency["p50"], 50)
    assert close_to(latency["p95"], 95)
    assert close_to(latency["p99"], 99)


def test_a_single_duration_is_every_quantile_exactly() -> None:
    metrics = Metrics()
    metrics.record("get", 0.0123)
    latency = metrics.snapshot()["operations"]["get"]["latency_ms"]
    assert latency["p50"] == latency["p95"] == latency["p99"] == pytest.approx(12.3)


def test_errors_are_counted_and_exceptions_pass_through() -> None:
    metrics = Metrics()
    with metrics.time("remember"):
        pass
    with pytest.raises(KeyError), metrics.time("remember"):
        raise KeyError("boom")
    metrics.record("remember", 0.001, error=True)
    op = metrics.snapshot()["operations"]["remember"]
    assert (op["count"], op["errors"]) == (3, 2)
    assert op["error_rate"] == pytest.approx(2 / 3)


def test_the_histogram_stays_bounded() -> None:
    metrics = Metrics()
    for i in range(20_000):
        metrics.record_ns("op", (i * 7919) % 10**10)
    stats = metrics.operations()["op"]
    assert len(stats.buckets) == _BUCKETS
    assert stats.count == sum(stats.buckets) == 20_000


def test_recording_is_thread_safe() -> None:
    metrics = Metrics()

    def work() -> None:
        for _ in range(5000):
            metrics.record("recall", 0.001)
            metrics.inc("calls")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snapshot = metrics.snapshot()
    assert snapshot["operations"]["recall"]["count"] == 20_000
    assert snapshot["counters"]["calls"] == [{"labels": {}, "value": 20_000.0}]


def test_disabled_metrics_record_nothing() -> None:
    metrics = Metrics(enabled=False)
    assert metrics.time("a") is metrics.time("b")
    with metrics.time("a"):
        pass
    metrics.record("a", 1.0)
    metrics.inc("c")
    snapshot = metrics.snapshot()
    assert snapshot["enabled"] is False
    assert snapshot["operations"] == {} and snapshot["counters"] == {}


def test_counters_gauges_and_labels() -> None:
    metrics = Metrics()
    metrics.inc("writes", labels={"namespace": "a"})
    metrics.inc("writes", 2, labels={"namespace": "a"})
    metrics.inc("writes", labels={"namespace": "b"})
    metrics.set_gauge("queue_depth", 7)
    metrics.observe_index("vector", "faiss", 10_000, lag=3)
    metrics.observe_pool("storage", size=5, checked_out=2, overflow=0, checkouts=40, wait_seconds=0.25)
    snapshot = metrics.snapshot()
    assert snapshot["counters"]["writes"] == [
        {"labels": {"namespace": "a"}, "value": 3.0},
        {"labels": {"namespace": "b"}, "value": 1.0},
    ]
    assert snapshot["gauges"]["queue_depth"] == [{"labels": {}, "value": 7.0}]
    index_labels = {"index": "vector", "kind": "faiss"}
    assert snapshot["gauges"]["index_size"] == [{"labels": index_labels, "value": 10_000.0}]
    assert snapshot["gauges"]["pool_utilization"][0]["value"] == 0.4
    assert snapshot["counters"]["pool_checkouts"][0]["value"] == 40
    json.dumps(snapshot)


def test_process_figures_are_real() -> None:
    process = Metrics().snapshot()["process"]
    assert process["rss_bytes"] > 1024 * 1024
    assert process["cpu_user_seconds"] + process["cpu_system_seconds"] > 0


def test_cache_stats_become_labelled_counters(tmp_path: Path) -> None:
    metrics = Metrics()
    cache = TieredCache(TieredOptions(), BackendContext(data_dir=tmp_path))
    cache.set("results", "k", b"v")
    cache.memory.clear()
    cache.get("results", "k")
    cache.get("results", "absent")
    metrics.observe_cache(cache.stats())
    counters = metrics.snapshot()["counters"]

    def value(name: str, tier: str) -> float:
        (entry,) = [e for e in counters[name] if e["labels"] == {"tier": tier, "pool": "results"}]
        return float(entry["value"])

    assert (value("cache_hits", "memory"), value("cache_misses", "memory")) == (0, 2)
    assert (value("cache_hits", "disk"), value("cache_misses", "disk")) == (1, 1)
    assert counters["cache_promotions"] == [{"labels": {"tier": "memory"}, "value": 1.0}]
    cache.close()


# -- alerts ---------------------------------------------------------------------------------


def test_no_alerts_below_the_thresholds() -> None:
    metrics = Metrics()
    metrics.record("recall", 0.150)
    metrics.record("unlisted", 9.0)
    metrics.observe_pool("storage", size=10, checked_out=9)
    assert check_alerts(AlertsConfig(rss_mb=1e6), metrics.snapshot()) == []


def test_alerts_past_each_threshold() -> None:
    metrics = Metrics()
    for _ in range(99):
        metrics.record("recall", 0.300)
    metrics.record("recall", 0.300, error=True)
    metrics.record("recall", 0.300, error=True)
    metrics.observe_pool("storage", size=10, checked_out=10)
    metrics.set_gauge("cache_degraded", 1, {"tier": "redis"})
    alerts = check_alerts(AlertsConfig(rss_mb=1), metrics.snapshot())
    assert len(alerts) == 5
    assert alerts[0] == "recall: p95 latency 300.0 ms is above the 200 ms threshold"
    assert alerts[1].startswith("recall: error rate 2.0% (2/101) is above the 1.0% threshold")
    assert alerts[2] == "connection pool storage: utilization 100% is above the 90% threshold"
    assert alerts[3] == "cache tier redis is degraded (see cache status)"
    assert alerts[4].startswith("process RSS") and alerts[4].endswith("above the 1 MiB threshold")


def test_an_error_rate_at_the_threshold_is_no_alert() -> None:
    metrics = Metrics()
    for i in range(100):
        metrics.record("get", 0.001, error=i == 0)
    assert check_alerts(AlertsConfig(rss_mb=1e6), metrics.snapshot()) == []


# -- Prometheus -----------------------------------------------------------------------------


def test_prometheus_text_parses_with_the_recorded_values() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    metrics = Metrics()
    for ms in (1, 2, 3, 40):
        metrics.record("recall", ms / 1000)
    metrics.record("recall", 0.002, error=True)
    lru = LruCache(LruOptions())
    lru.set("results", "k", b"v")
    lru.get("results", "k")
    metrics.observe_cache(lru.stats())
    families = {f.name: f for f in text_string_to_metric_families(metrics.to_prometheus())}

    def sample(family: str, name: str, **labels: str) -> float:
        for s in families[family].samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
        raise AssertionError(f"no sample {name} {labels}")

    assert sample("memmimic_operations", "memmimic_operations_total", operation="recall") == 5
    assert sample("memmimic_operation_errors", "memmimic_operation_errors_total", operation="recall") == 1
    hist = "memmimic_operation_duration_seconds"
    assert sample(hist, hist + "_count", operation="recall") == 5
    assert sample(hist, hist + "_bucket", operation="recall", le="0.0025") == 3
    assert sample(hist, hist + "_bucket", operation="recall", le="0.005") == 4
    assert sample(hist, hist + "_bucket", operation="recall", le="0.025") == 4
    assert sample(hist, hist + "_bucket", operation="recall", le="0.05") == 5
    assert sample(hist, hist + "_sum", operation="recall") == pytest.approx(0.048)
    assert sample("memmimic_cache_hits", "memmimic_cache_hits_total", tier="lru", pool="results") == 1
    assert sample("memmimic_process_resident_memory_bytes", "memmimic_process_resident_memory_bytes") > 0
    quantile = sample(
        "memmimic_operation_duration_quantile_seconds",
        "memmimic_operation_duration_quantile_seconds",
        operation="recall",
        quantile="0.5",
    )
    assert close_to(quantile, 0.002)


def test_a_registry_for_the_http_endpoint() -> None:
    from prometheus_client import generate_latest

    from memmimic_core.metrics_prometheus import make_registry

    metrics = Metrics()
    metrics.record("get", 0.001)
    assert b'memmimic_operations_total{operation="get"} 1.0' in generate_latest(make_registry(metrics))


def test_reset_forgets_everything() -> None:
    metrics = Metrics()
    metrics.record("get", 0.001)
    metrics.inc("calls")
    metrics.set_gauge("g", 1)
    metrics.reset()
    snapshot = metrics.snapshot()
    assert (snapshot["operations"], snapshot["counters"], snapshot["gauges"]) == ({}, {}, {})
    metrics.record("get", 0.001)
    assert metrics.snapshot()["operations"]["get"]["count"] == 1


# -- connection pools -----------------------------------------------------------------------

POOL = {
    "size": 2,
    "max_overflow": 3,
    "checked_out": 1,
    "overflow": 0,
    "peak_checked_out": 4,
    "checkouts": 120,
    "connects": 3,
    "timeouts": 0,
    "wait": {
        "count": 120,
        "sum_seconds": 0.5,
        "max_seconds": 0.3,
        "buckets": [[0.001, 100], [0.01, 110], [0.1, 119], [1.0, 120]],
    },
}


def test_pool_stats_become_gauges_counters_and_a_histogram() -> None:
    metrics = Metrics()
    metrics.observe_pool_stats("storage", POOL)
    snapshot = metrics.snapshot()

    def value(kind: str, name: str) -> float:
        (entry,) = snapshot[kind][name]
        assert entry["labels"] == {"pool": "storage"}
        return float(entry["value"])

    assert value("gauges", "pool_utilization") == 0.5
    assert value("gauges", "pool_peak_utilization") == 2.0
    assert value("gauges", "pool_max_overflow") == 3
    assert value("gauges", "pool_checkout_wait_max_seconds") == 0.3
    assert (value("counters", "pool_checkouts"), value("counters", "pool_connects")) == (120, 3)
    assert value("counters", "pool_checkout_timeouts") == 0
    (hist,) = snapshot["histograms"]["pool_checkout_wait_seconds"]
    assert hist["value"] == {"count": 120, "sum": 0.5, "buckets": POOL["wait"]["buckets"]}
    json.dumps(snapshot)
    alerts = check_alerts(AlertsConfig(rss_mb=1e6), snapshot)
    assert alerts == [
        "connection pool storage: peak utilization 200% in the last 2 minutes is above the 90% threshold"
    ]
    metrics.observe_pool_stats("unsized", {"size": None, "checked_out": 1})  # NullPool: ignored
    assert len(metrics.snapshot()["gauges"]["pool_size"]) == 1


def test_pool_wait_is_a_prometheus_histogram() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    metrics = Metrics()
    metrics.observe_pool_stats("storage", {**POOL, "timeouts": 2})
    families = {f.name: f for f in text_string_to_metric_families(metrics.to_prometheus())}
    wait = families["memmimic_pool_checkout_wait_seconds"]
    assert wait.type == "histogram"
    samples = {(s.name, s.labels.get("le")): s.value for s in wait.samples}
    assert samples[("memmimic_pool_checkout_wait_seconds_bucket", "0.001")] == 100
    assert samples[("memmimic_pool_checkout_wait_seconds_bucket", "1.0")] == 120
    assert samples[("memmimic_pool_checkout_wait_seconds_bucket", "+Inf")] == 120
    assert samples[("memmimic_pool_checkout_wait_seconds_count", None)] == 120
    assert samples[("memmimic_pool_checkout_wait_seconds_sum", None)] == 0.5
    assert families["memmimic_pool_checkouts"].type == "counter"
    assert families["memmimic_pool_checkout_timeouts"].samples[0].value == 2
    assert families["memmimic_pool_peak_utilization"].type == "gauge"
    alerts = check_alerts(AlertsConfig(rss_mb=1e6), metrics.snapshot())
    assert alerts[-1] == (
        "connection pool storage: 2 checkouts timed out (every connection stayed in use; raise the pool size)"
    )
