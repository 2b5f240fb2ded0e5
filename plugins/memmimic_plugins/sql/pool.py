"""Connection-pool figures of a SQL store: checkouts, connects, overflow, checkout wait.

Counts come from SQLAlchemy's pool events (every checkout, also those outside the store's
own transactions); the wait is measured around the store's own connection acquisition
(``engine.connect()``: waiting for a free connection, opening a new one, and PostgreSQL's
pre-ping), kept as a small fixed-bucket histogram. Recording takes one uncontended lock.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

__all__ = ["PEAK_WINDOW", "WAIT_BOUNDS", "PoolMeter"]

PEAK_WINDOW = 60.0
"""Seconds per window of the recent peak: the peak reported covers the last one to two windows."""

WAIT_BOUNDS = (
    0.00005,
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
    30.0,
)
"""Upper bounds (seconds) of the checkout-wait histogram's buckets; longer waits count in +Inf."""


class PoolMeter:
    """Counts checkouts, new connections and invalidations of one engine's pool; times checkouts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self.checkouts = 0
        self.connects = 0
        self.invalidations = 0
        self.timeouts = 0
        self._wait_counts = [0] * (len(WAIT_BOUNDS) + 1)
        self._wait_sum = 0.0
        self._wait_max = 0.0
        self._peak = self._peak_before = 0  # most connections in use: this window, the previous one
        self._window_start = time.monotonic()
        event.listen(engine, "checkout", self._on_checkout)
        event.listen(engine, "connect", self._on_connect)
        event.listen(engine, "invalidate", self._on_invalidate)

    # -- recording ---------------------------------------------------------------------------

    def _on_checkout(self, *_args: Any) -> None:
        in_use = _call(self.engine.pool, "checkedout")  # counts this checkout already
        with self._lock:
            self.checkouts += 1
            self._rotate(time.monotonic())
            if isinstance(in_use, int) and in_use > self._peak:
                self._peak = in_use

    def _rotate(self, now: float) -> None:
        """Start a new peak window when the current one is over (called under the lock)."""
        elapsed = now - self._window_start
        if elapsed >= PEAK_WINDOW:
            self._peak_before = self._peak if elapsed < 2 * PEAK_WINDOW else 0
            self._peak = 0
            self._window_start = now

    def _on_connect(self, *_args: Any) -> None:
        with self._lock:
            self.connects += 1

    def _on_invalidate(self, *_args: Any) -> None:
        with self._lock:
            self.invalidations += 1

    def waited(self, seconds: float) -> None:
        """Record one connection acquisition that took ``seconds``."""
        index = bisect_left(WAIT_BOUNDS, seconds)
        with self._lock:
            self._wait_counts[index] += 1
            self._wait_sum += seconds
            if seconds > self._wait_max:
                self._wait_max = seconds

    def timed_out(self, seconds: float) -> None:
        """Record an acquisition that gave up after ``seconds`` (the pool stayed exhausted)."""
        with self._lock:
            self.timeouts += 1
        self.waited(seconds)

    # -- reading -----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Return the pool's state and the counts, JSON-ready (see docs/caching-and-metrics.md)."""
        pool = self.engine.pool
        size = _call(pool, "size")
        checked_out = _call(pool, "checkedout")
        overflow = _call(pool, "overflow")
        max_overflow = getattr(pool, "_max_overflow", None)  # QueuePool keeps it only privately
        with self._lock:
            self._rotate(time.monotonic())
            peak = max(self._peak, self._peak_before)
            counts = list(self._wait_counts)
            wait_sum, wait_max = self._wait_sum, self._wait_max
            totals = (self.checkouts, self.connects, self.invalidations, self.timeouts)
        cumulative, seen = [], 0
        for bound, n in zip(WAIT_BOUNDS, counts, strict=False):
            seen += n
            cumulative.append([bound, seen])
        acquisitions = seen + counts[-1]
        return {
            "class": type(pool).__name__,
            "size": size,
            "max_overflow": max_overflow if isinstance(max_overflow, int) and max_overflow >= 0 else None,
            "timeout_seconds": _call(pool, "timeout"),
            "checked_out": checked_out,
            "checked_in": _call(pool, "checkedin"),
            "overflow": max(0, overflow) if isinstance(overflow, int) else None,
            "utilization": checked_out / size if isinstance(checked_out, int) and size else None,
            "peak_checked_out": max(peak, checked_out) if isinstance(checked_out, int) else peak,
            "checkouts": totals[0],
            "connects": totals[1],
            "invalidations": totals[2],
            "timeouts": totals[3],
            "wait": {
                "count": acquisitions,
                "sum_seconds": wait_sum,
                "max_seconds": wait_max,
                "mean_seconds": wait_sum / acquisitions if acquisitions else 0.0,
                "buckets": cumulative,
            },
        }


def _call(pool: Any, name: str) -> Any:
    method = getattr(pool, name, None)
    return method() if callable(method) else None
