"""Operation timings, counters and gauges, process facts: JSON snapshots, alerts, Prometheus.

Each operation keeps a fixed log-linear histogram of its durations (16 sub-buckets per power
of two of nanoseconds: a quantile is within about 3 % of the true value, memory is constant),
exact count / errors / sum / min / max, and a ring of per-second counts for ops/s over the
last ``window_seconds``. ``Metrics(enabled=False)`` makes :meth:`Metrics.time` return one
shared do-nothing context manager and :meth:`Metrics.record` return at once.

This is a core module: it imports no plugin, and prometheus-client only in
:meth:`Metrics.to_prometheus` (see :mod:`memmimic_core.metrics_prometheus`).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

__all__ = ["Metrics", "check_alerts", "process_stats"]

_SUB_BITS = 4
_SUB = 1 << _SUB_BITS
_BUCKETS = _SUB * 38  # the last bucket ends at 2**41 ns (about 37 minutes); longer is clamped

_NO_MIN = 1 << 62  # min_ns before the first duration

LabelKey = tuple[str, tuple[tuple[str, str], ...]]


def _bucket(ns: int) -> int:
    """Index of the histogram bucket holding a duration of ``ns`` nanoseconds."""
    if ns < _SUB:
        return ns if ns > 0 else 0
    shift = ns.bit_length() - _SUB_BITS - 1
    return min((shift << _SUB_BITS) + (ns >> shift), _BUCKETS - 1)


def _bounds(index: int) -> tuple[int, int]:
    """The ``[lower, upper)`` nanoseconds of bucket ``index``."""
    if index < 2 * _SUB:
        return index, index + 1
    shift = (index >> _SUB_BITS) - 1
    mantissa = (index & (_SUB - 1)) + _SUB
    return mantissa << shift, (mantissa + 1) << shift


class _OpStats:
    """Counts and a bounded histogram of one operation, written by one thread only."""

    __slots__ = ("buckets", "count", "errors", "max_ns", "min_ns", "ring_counts", "ring_secs", "sum_ns")

    def __init__(self, window: int) -> None:
        self.buckets = [0] * _BUCKETS
        self.count = self.errors = self.sum_ns = self.max_ns = 0
        self.min_ns = _NO_MIN
        self.ring_counts = [0] * window
        self.ring_secs = [-1] * window

    def add(self, ns: int, error: bool, second: int) -> None:
        self.count += 1
        if error:
            self.errors += 1
        self.sum_ns += ns
        if ns > self.max_ns:
            self.max_ns = ns
        if ns < self.min_ns:
            self.min_ns = ns
        if ns < _SUB:
            self.buckets[ns if ns > 0 else 0] += 1
        else:
            shift = ns.bit_length() - _SUB_BITS - 1
            index = (shift << _SUB_BITS) + (ns >> shift)
            self.buckets[index if index < _BUCKETS else _BUCKETS - 1] += 1
        slot = second % len(self.ring_secs)
        if self.ring_secs[slot] != second:
            self.ring_secs[slot] = second
            self.ring_counts[slot] = 0
        self.ring_counts[slot] += 1

    def merge(self, other: _OpStats) -> None:
        """Add ``other``'s figures to these (reading a shard another thread may be writing)."""
        self.count += other.count
        self.errors += other.errors
        self.sum_ns += other.sum_ns
        self.max_ns = max(self.max_ns, other.max_ns)
        self.min_ns = min(self.min_ns, other.min_ns)
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        for slot, second in enumerate(list(other.ring_secs)):
            if second == self.ring_secs[slot]:
                self.ring_counts[slot] += other.ring_counts[slot]
            elif second > self.ring_secs[slot]:
                self.ring_secs[slot] = second
                self.ring_counts[slot] = other.ring_counts[slot]

    def quantile(self, q: float) -> float:
        """The ``q`` quantile in nanoseconds (bucket midpoint, clamped to min and max)."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index, n in enumerate(self.buckets):
            seen += n
            if seen >= rank:
                lower, upper = _bounds(index)
                mid = lower if upper - lower == 1 else (lower + upper) / 2
                return float(min(max(mid, self.min_ns), self.max_ns))
        return float(self.max_ns)

    def recent(self, second: int) -> int:
        """Operations in the window ending at ``second``."""
        window = len(self.ring_secs)
        return sum(c for s, c in zip(self.ring_secs, self.ring_counts, strict=True) if second - s < window)

    def cumulative(self, bounds_ns: Iterable[float]) -> list[int]:
        """Counts of durations at or below each bound (a bucket counts where its midpoint falls)."""
        out, seen, index = [], 0, 0
        for bound in bounds_ns:
            while index < _BUCKETS:
                lower, upper = _bounds(index)
                if (lower + upper) / 2 > bound:
                    break
                seen += self.buckets[index]
                index += 1
            out.append(seen)
        return out


class _Shard:
    """The operations timed by one thread: only that thread writes it, so no lock is taken."""

    __slots__ = ("ops", "thread")

    def __init__(self) -> None:
        self.thread = threading.current_thread()
        self.ops: dict[str, _OpStats] = {}


class _Timer:
    """Times one operation; an exception leaving the block counts as an error."""

    __slots__ = ("_metrics", "_op", "_start")

    def __init__(self, metrics: Metrics, op: str) -> None:
        self._metrics = metrics
        self._op = op
        self._start = 0

    def __enter__(self) -> _Timer:
        self._start = time.perf_counter_ns()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        end = time.perf_counter_ns()
        self._metrics.record_ns(self._op, end - self._start, exc_type is not None, end)


class _NoTimer:
    """The shared context manager of a disabled :class:`Metrics`."""

    __slots__ = ()

    def __enter__(self) -> _NoTimer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


_NO_TIMER = _NoTimer()


class Metrics:
    """Thread-safe metrics of one MemMimic instance.

    :param enabled: ``False`` turns :meth:`time`, :meth:`record` and :meth:`inc` into no-ops
        (gauges set with ``set_*`` / ``observe_*`` are still kept: they are not on the hot path).
    :param window_seconds: the span of the ops/s figure.
    """

    def __init__(self, enabled: bool = True, *, window_seconds: int = 60) -> None:
        if window_seconds < 1:
            raise ValueError("window_seconds must be at least 1")
        self.enabled = enabled
        self.window_seconds = window_seconds
        self._local = threading.local()
        self._shards: list[_Shard] = []
        self._retired: dict[str, _OpStats] = {}  # figures of threads that have ended
        self._counters: dict[LabelKey, float] = {}
        self._gauges: dict[LabelKey, float] = {}
        self._histograms: dict[LabelKey, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._started = time.perf_counter_ns()

    # timings

    def time(self, op: str) -> _Timer | _NoTimer:
        """Return a context manager timing one ``op``: ``with metrics.time("recall"): ...``."""
        if not self.enabled:
            return _NO_TIMER
        return _Timer(self, op)

    def record(self, op: str, seconds: float, error: bool = False) -> None:
        """Record one ``op`` that took ``seconds`` (and failed, if ``error``)."""
        if self.enabled:
            self.record_ns(op, round(seconds * 1e9), error)

    def record_ns(self, op: str, ns: int, error: bool = False, now_ns: int | None = None) -> None:
        """Record one ``op`` that took ``ns`` nanoseconds (ending at ``now_ns``, perf_counter_ns)."""
        if not self.enabled:
            return
        try:
            ops = self._local.ops
        except AttributeError:
            ops = self._new_shard()
        stats = ops.get(op)
        if stats is None:
            stats = ops[op] = _OpStats(self.window_seconds)
        stats.add(ns, error, (now_ns or time.perf_counter_ns()) // 1_000_000_000)

    def _new_shard(self) -> dict[str, _OpStats]:
        shard = _Shard()
        with self._lock:
            self._shards.append(shard)
        self._local.ops = shard.ops
        return shard.ops

    # counters and gauges

    def inc(self, name: str, amount: float = 1.0, labels: Mapping[str, str] | None = None) -> None:
        """Add ``amount`` to counter ``name`` (with ``labels``)."""
        if not self.enabled:
            return
        key = _label_key(name, labels)
        with self._lock:
            self._counters[key] = self._counters.get(key, 0.0) + amount

    def set_counter(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Set counter ``name`` to a total kept elsewhere (a backend's hit count)."""
        with self._lock:
            self._counters[_label_key(name, labels)] = float(value)

    def set_gauge(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Set gauge ``name`` (with ``labels``) to ``value``."""
        with self._lock:
            self._gauges[_label_key(name, labels)] = float(value)

    def observe_cache(self, stats: Mapping[str, Any]) -> None:
        """Copy a cache backend's ``stats()`` into ``cache_*`` counters and gauges by tier and pool."""
        tiers = stats.get("tiers") or {str(stats.get("backend", "cache")): stats}
        if "promotions" in stats:
            self.set_counter("cache_promotions", stats["promotions"], {"tier": "memory"})
        for tier, tier_stats in tiers.items():
            if "degraded" in tier_stats:
                self.set_gauge("cache_degraded", bool(tier_stats["degraded"]), {"tier": tier})
            for field in ("errors", "reconnects", "total_pressure_cleanups", "total_emergency_evictions"):
                if isinstance(tier_stats.get(field), (int, float)):
                    self.set_counter(f"cache_{field}", tier_stats[field], {"tier": tier})
            for pool, pool_stats in (tier_stats.get("pools") or {}).items():
                labels = {"tier": tier, "pool": pool}
                for field in _CACHE_COUNTERS:
                    if isinstance(pool_stats.get(field), (int, float)):
                        self.set_counter(f"cache_{field}", pool_stats[field], labels)
                for field in _CACHE_GAUGES:
                    if isinstance(pool_stats.get(field), (int, float)):
                        self.set_gauge(f"cache_{field}", pool_stats[field], labels)

    def set_histogram(
        self,
        name: str,
        buckets: Iterable[tuple[float, int]],
        count: int,
        total: float,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Set histogram ``name`` to figures kept elsewhere: cumulative ``(upper bound, count)``
        pairs in increasing bound order, the ``count`` of observations and their ``total``."""
        cumulative = [[float(b), int(n)] for b, n in buckets]
        value = {"count": int(count), "sum": float(total), "buckets": cumulative}
        with self._lock:
            self._histograms[_label_key(name, labels)] = value

    def observe_pool(
        self,
        name: str,
        *,
        size: int,
        checked_out: int,
        overflow: int = 0,
        checkouts: int | None = None,
        wait_seconds: float | None = None,
        peak_checked_out: int | None = None,
        max_overflow: int | None = None,
        connects: int | None = None,
        timeouts: int | None = None,
        wait: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a connection pool's state; ``pool_utilization`` = checked out / size.

        :param peak_checked_out: the most connections in use at once recently
            (``pool_peak_utilization``, which the utilization alert prefers).
        :param wait: the checkout-wait histogram as a storage's ``stats()["pool"]["wait"]``
            reports it (``count``, ``sum_seconds``, ``max_seconds``, cumulative ``buckets``).
        """
        labels = {"pool": name}
        self.set_gauge("pool_size", size, labels)
        self.set_gauge("pool_checked_out", checked_out, labels)
        self.set_gauge("pool_overflow", overflow, labels)
        self.set_gauge("pool_utilization", checked_out / size if size else 0.0, labels)
        if peak_checked_out is not None:
            self.set_gauge("pool_peak_checked_out", peak_checked_out, labels)
            self.set_gauge("pool_peak_utilization", peak_checked_out / size if size else 0.0, labels)
        if max_overflow is not None:
            self.set_gauge("pool_max_overflow", max_overflow, labels)
        totals = {"checkouts": checkouts, "connects": connects, "checkout_timeouts": timeouts}
        for counter, value in totals.items():
            if value is not None:
                self.set_counter(f"pool_{counter}", value, labels)
        if wait_seconds is not None:
            self.set_counter("pool_wait_seconds", wait_seconds, labels)
        if wait is not None:
            buckets = [(float(b), int(n)) for b, n in wait.get("buckets", [])]
            self.set_histogram(
                "pool_checkout_wait_seconds", buckets, int(wait["count"]), float(wait["sum_seconds"]), labels
            )
            self.set_gauge("pool_checkout_wait_max_seconds", float(wait.get("max_seconds", 0.0)), labels)

    def observe_pool_stats(self, name: str, pool: Mapping[str, Any]) -> None:
        """Record a storage's ``stats()["pool"]`` (see docs/caching-and-metrics.md) as pool ``name``."""
        if not isinstance(pool.get("size"), int):
            return  # a pool without a fixed size (NullPool, StaticPool): nothing to compare with
        self.observe_pool(
            name,
            size=pool["size"],
            checked_out=int(pool.get("checked_out") or 0),
            overflow=int(pool.get("overflow") or 0),
            checkouts=pool.get("checkouts"),
            peak_checked_out=pool.get("peak_checked_out"),
            max_overflow=pool.get("max_overflow"),
            connects=pool.get("connects"),
            timeouts=pool.get("timeouts"),
            wait=pool.get("wait"),
        )

    def observe_index(self, index: str, kind: str, size: int, lag: int | None = None) -> None:
        """Record an index's kind, size (entries) and lag behind storage (changes)."""
        labels = {"index": index, "kind": kind}
        self.set_gauge("index_size", size, labels)
        if lag is not None:
            self.set_gauge("index_lag", lag, labels)

    # reading

    def operations(self) -> dict[str, _OpStats]:
        """Return each operation's figures merged over every thread (a copy, safe to read)."""
        merged: dict[str, _OpStats] = {}
        with self._lock:
            for shard in [s for s in self._shards if not s.thread.is_alive()]:
                self._shards.remove(shard)
                for op, stats in list(shard.ops.items()):
                    self._retired.setdefault(op, _OpStats(self.window_seconds)).merge(stats)
            sources = [list(self._retired.items())] + [list(s.ops.items()) for s in self._shards]
        for items in sources:
            for op, stats in items:
                merged.setdefault(op, _OpStats(self.window_seconds)).merge(stats)
        return merged

    def snapshot(self) -> dict[str, Any]:
        """Return every figure as plain JSON-ready data."""
        now = time.perf_counter_ns()
        uptime = (now - self._started) / 1e9
        elapsed = max(1.0, min(float(self.window_seconds), uptime))
        operations = {}
        for op, stats in sorted(self.operations().items()):
            count, errors = stats.count, stats.errors
            latency = {
                "mean": stats.sum_ns / count / 1e6 if count else 0.0,
                "min": stats.min_ns / 1e6 if count else 0.0,
                "p50": stats.quantile(0.50) / 1e6,
                "p95": stats.quantile(0.95) / 1e6,
                "p99": stats.quantile(0.99) / 1e6,
                "max": stats.max_ns / 1e6,
            }
            recent = stats.recent(now // 1_000_000_000)
            operations[op] = {
                "count": count,
                "errors": errors,
                "error_rate": errors / count if count else 0.0,
                "window_count": recent,
                "ops_per_second": recent / elapsed,
                "latency_ms": latency,
            }
        with self._lock:
            counters, gauges = _group(self._counters), _group(self._gauges)
            histograms = _group(self._histograms)
        return {
            "enabled": self.enabled,
            "uptime_seconds": uptime,
            "window_seconds": self.window_seconds,
            "operations": operations,
            "counters": counters,
            "gauges": gauges,
            "histograms": histograms,
            "process": process_stats(),
        }

    def to_prometheus(self) -> str:
        """Return the metrics in Prometheus text format (needs prometheus-client)."""
        from .metrics_prometheus import render

        return render(self)

    def reset(self) -> None:
        """Forget every timing, counter and gauge."""
        with self._lock:
            for shard in self._shards:
                shard.ops.clear()
            self._retired.clear()
            self._counters.clear()
            self._gauges.clear()
            self._histograms.clear()
            self._started = time.perf_counter_ns()


_CACHE_COUNTERS = (
    "hits",
    "misses",
    "sets",
    "evictions",
    "expired",
    "pressure_cleanups",
    "emergency_evictions",
    "rejected",
    "errors",
)
_CACHE_GAUGES = ("bytes", "items", "max_bytes", "utilization")


def _label_key(name: str, labels: Mapping[str, str] | None) -> LabelKey:
    return name, tuple(sorted((str(k), str(v)) for k, v in labels.items())) if labels else ()


def _pool_name(entry: Mapping[str, Any]) -> str:
    return str(entry["labels"].get("pool", "?"))


def _group(values: Mapping[LabelKey, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for (name, labels), value in sorted(values.items()):
        out.setdefault(name, []).append({"labels": dict(labels), "value": value})
    return out


def process_stats() -> dict[str, Any]:
    """RSS, peak RSS and CPU time of this process (``/proc`` and ``resource``; no psutil)."""
    out: dict[str, Any] = {"pid": os.getpid(), "rss_bytes": None, "peak_rss_bytes": None}
    times = os.times()
    out["cpu_user_seconds"], out["cpu_system_seconds"] = times.user, times.system
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            out["rss_bytes"] = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_rss_bytes"] = peak if sys.platform == "darwin" else peak * 1024
    except ImportError:  # pragma: no cover - Windows
        pass
    if out["rss_bytes"] is None:
        out["rss_bytes"] = out["peak_rss_bytes"]
    return out


def check_alerts(alerts: Any, snapshot: Mapping[str, Any]) -> list[str]:
    """Return a warning for each figure of ``snapshot`` past a threshold of ``alerts``.

    :param alerts: ``config.performance.alerts`` (``p95_ms`` per operation, ``error_rate``,
        ``pool_utilization``, ``rss_mb``).
    :param snapshot: :meth:`Metrics.snapshot`'s result.
    """
    warnings = []
    operations = snapshot.get("operations", {})
    for op, limit in sorted(alerts.p95_ms.items()):
        stats = operations.get(op)
        if stats and stats["count"] and stats["latency_ms"]["p95"] > limit:
            warnings.append(
                f"{op}: p95 latency {stats['latency_ms']['p95']:.1f} ms is above the {limit:g} ms threshold"
            )
    for op, stats in sorted(operations.items()):
        if stats["count"] and stats["error_rate"] > alerts.error_rate:
            warnings.append(
                f"{op}: error rate {stats['error_rate']:.1%} ({stats['errors']}/{stats['count']}) "
                f"is above the {alerts.error_rate:.1%} threshold"
            )
    gauges = snapshot.get("gauges", {})
    peaks = {_pool_name(e): e["value"] for e in gauges.get("pool_peak_utilization", [])}
    for entry in gauges.get("pool_utilization", []):
        pool = _pool_name(entry)
        now, peak = entry["value"], peaks.get(pool, entry["value"])
        if max(now, peak) > alerts.pool_utilization:
            what = f"utilization {now:.0%}"
            if peak > now:
                what = f"peak utilization {peak:.0%} in the last 2 minutes"
            warnings.append(
                f"connection pool {pool}: {what} is above the {alerts.pool_utilization:.0%} threshold"
            )
    for entry in snapshot.get("counters", {}).get("pool_checkout_timeouts", []):
        if entry["value"]:
            warnings.append(
                f"connection pool {_pool_name(entry)}: {entry['value']:.0f} checkouts timed out "
                "(every connection stayed in use; raise the pool size)"
            )
    for entry in snapshot.get("gauges", {}).get("cache_degraded", []):
        if entry["value"]:
            warnings.append(f"cache tier {entry['labels'].get('tier', '?')} is degraded (see cache status)")
    rss = (snapshot.get("process") or {}).get("rss_bytes")
    if rss is not None and rss / (1024 * 1024) > alerts.rss_mb:
        mib = rss / (1024 * 1024)
        warnings.append(f"process RSS {mib:.0f} MiB is above the {alerts.rss_mb:g} MiB threshold")
    return warnings
