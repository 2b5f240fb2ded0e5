"""Prometheus exposition of :class:`~memmimic_core.metrics.Metrics` (needs prometheus-client).

A custom collector reads the metrics at scrape time: nothing is duplicated on the hot path.
Names get the ``memmimic_`` prefix; counters end in ``_total``; histograms set with
:meth:`~memmimic_core.metrics.Metrics.set_histogram` (the storage pool's checkout wait) are
exported as Prometheus histograms with their own bucket bounds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .errors import MissingResourceError

if TYPE_CHECKING:
    from .metrics import Metrics

__all__ = ["LATENCY_BUCKETS", "MetricsCollector", "make_registry", "render"]

LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Bucket bounds (seconds) of the exported latency histograms."""

_QUANTILES = ("0.5", "0.95", "0.99")


def _client() -> Any:
    try:
        import prometheus_client
        import prometheus_client.core
    except ImportError:
        raise MissingResourceError(
            "Prometheus output needs prometheus-client: pip install 'memmimic[server]'"
        ) from None
    return prometheus_client


def _name(raw: str) -> str:
    return "memmimic_" + re.sub(r"[^a-zA-Z0-9_]", "_", raw)


class MetricsCollector:
    """A prometheus-client collector over one :class:`Metrics`."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        """Yield the metric families of the current state."""
        core = _client().core
        snapshot = self.metrics.snapshot()
        ops = self.metrics.operations()

        latency = core.HistogramMetricFamily(
            "memmimic_operation_duration_seconds", "Duration of public operations", labels=["operation"]
        )
        quantiles = core.GaugeMetricFamily(
            "memmimic_operation_duration_quantile_seconds",
            "Latency quantiles of public operations (log-linear histogram, about 3 % precision)",
            labels=["operation", "quantile"],
        )
        by_op = ["operation"]
        total = core.CounterMetricFamily("memmimic_operations", "Operations performed", labels=by_op)
        errors = core.CounterMetricFamily("memmimic_operation_errors", "Operations that failed", labels=by_op)
        rate = core.GaugeMetricFamily(
            "memmimic_operations_per_second", "Operations per second over the recent window", labels=by_op
        )
        for op, figures in snapshot["operations"].items():
            stats = ops[op]
            cumulative = stats.cumulative(b * 1e9 for b in LATENCY_BUCKETS)
            count, sum_seconds = stats.count, stats.sum_ns / 1e9
            buckets = [(repr(b), n) for b, n in zip(LATENCY_BUCKETS, cumulative, strict=True)]
            buckets.append(("+Inf", count))
            latency.add_metric([op], buckets, sum_value=sum_seconds)
            for q, key in zip(_QUANTILES, ("p50", "p95", "p99"), strict=True):
                quantiles.add_metric([op, q], figures["latency_ms"][key] / 1000)
            total.add_metric([op], figures["count"])
            errors.add_metric([op], figures["errors"])
            rate.add_metric([op], figures["ops_per_second"])
        yield from (latency, quantiles, total, errors, rate)

        kinds = (("counters", core.CounterMetricFamily), ("gauges", core.GaugeMetricFamily))
        for kind, family_class in kinds:
            for raw_name, entries in snapshot[kind].items():
                label_names = sorted({k for e in entries for k in e["labels"]})
                help_text = f"MemMimic {raw_name.replace('_', ' ')}"
                family = family_class(_name(raw_name), help_text, labels=label_names)
                for entry in entries:
                    family.add_metric([entry["labels"].get(k, "") for k in label_names], entry["value"])
                yield family

        for raw_name, entries in snapshot.get("histograms", {}).items():
            label_names = sorted({k for e in entries for k in e["labels"]})
            family = core.HistogramMetricFamily(
                _name(raw_name), f"MemMimic {raw_name.replace('_', ' ')}", labels=label_names
            )
            for entry in entries:
                value = entry["value"]
                buckets = [(repr(float(bound)), n) for bound, n in value["buckets"]]
                buckets.append(("+Inf", value["count"]))
                family.add_metric(
                    [entry["labels"].get(k, "") for k in label_names], buckets, sum_value=value["sum"]
                )
            yield family

        process = snapshot["process"]
        if process.get("rss_bytes") is not None:
            yield core.GaugeMetricFamily(
                "memmimic_process_resident_memory_bytes",
                "Resident memory of the process",
                value=process["rss_bytes"],
            )
        cpu = core.CounterMetricFamily(
            "memmimic_process_cpu_seconds", "CPU time of the process", labels=["mode"]
        )
        cpu.add_metric(["user"], process["cpu_user_seconds"])
        cpu.add_metric(["system"], process["cpu_system_seconds"])
        yield cpu
        yield core.GaugeMetricFamily(
            "memmimic_uptime_seconds", "Seconds since the metrics started", value=snapshot["uptime_seconds"]
        )


def make_registry(metrics: Metrics) -> Any:
    """Return a ``CollectorRegistry`` serving ``metrics`` (for ``start_http_server(registry=…)``)."""
    client = _client()
    registry = client.CollectorRegistry(auto_describe=False)
    registry.register(MetricsCollector(metrics))
    return registry


def render(metrics: Metrics) -> str:
    """Return ``metrics`` in the Prometheus text exposition format."""
    client = _client()
    return str(client.generate_latest(make_registry(metrics)).decode("utf-8"))
