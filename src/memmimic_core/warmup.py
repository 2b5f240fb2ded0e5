"""Predictive warm-up (the performance document's "predictive preloading"), measured.

A :class:`QueryLog` counts the unfiltered recalls a store answers and keeps them in
``<data_dir>/query-log.json``: derived, disposable data (deleting it only forgets what to warm).
When ``performance.warmup.enabled`` is on, opening a store re-runs the most frequent recent
queries in a background thread (:class:`Warmer`): their results land in the result cache under
the current data generation, their query vectors in the embedding cache, and the model loads
before the first caller needs it. Callers never wait for it; closing the store stops it.

The ranking is explainable: each logged query scores ``count × 0.5 ** (age / half_life)``,
so a query asked often last week and one asked a few times today both stay near the top.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LoggedQuery", "QueryLog", "Warmer"]

log = logging.getLogger(__name__)
LOG_FILE = "query-log.json"
HALF_LIFE_SECONDS = 7 * 24 * 3600.0
_VERSION = 1


@dataclass(frozen=True, slots=True)
class LoggedQuery:
    """One distinct query of the log and how often, how recently it was asked."""

    namespace: str
    query: str
    limit: int
    sources: tuple[str, ...]
    count: int
    last_seen: float

    def score(self, now: float) -> float:
        """Frequency decayed by age (half-life one week)."""
        return self.count * 0.5 ** (max(0.0, now - self.last_seen) / HALF_LIFE_SECONDS)


Key = tuple[str, str, int, tuple[str, ...]]


class QueryLog:
    """Counts of recent queries, merged into the log file on :meth:`save` (several processes may share it)."""

    def __init__(self, folder: Path, size: int) -> None:
        self.path = folder / LOG_FILE
        self.size = size
        self._lock = threading.Lock()
        self._saved: dict[Key, tuple[int, float]] = self._read()
        self._delta: dict[Key, tuple[int, float]] = {}

    def _read(self) -> dict[Key, tuple[int, float]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if raw.get("version") != _VERSION:
                return {}
            out: dict[Key, tuple[int, float]] = {}
            for e in raw["queries"]:
                key = (str(e["namespace"]), str(e["query"]), int(e["limit"]), tuple(map(str, e["sources"])))
                out[key] = (int(e["count"]), float(e["last_seen"]))
            return out
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable query log %s (%s); it will be rewritten", self.path, exc)
            return {}

    def record(self, namespace: str, query: str, limit: int, sources: Sequence[str]) -> None:
        """Count one recall."""
        key = (namespace, query, limit, tuple(sources))
        now = time.time()
        with self._lock:
            count, _ = self._delta.get(key, (0, now))
            self._delta[key] = (count + 1, now)
            if len(self._delta) > 4 * self.size:  # a process asking endless distinct queries
                self._trim(self._delta, self.size)

    def _merged(self, saved: dict[Key, tuple[int, float]]) -> dict[Key, tuple[int, float]]:
        merged = dict(saved)
        for key, (count, seen) in self._delta.items():
            old_count, old_seen = merged.get(key, (0, 0.0))
            merged[key] = (old_count + count, max(old_seen, seen))
        return merged

    def _trim(self, entries: dict[Key, tuple[int, float]], size: int) -> None:
        now = time.time()
        ranked = sorted(entries.items(), key=lambda kv: _score(kv[1], now), reverse=True)
        entries.clear()
        entries.update(ranked[:size])

    def top(self, n: int) -> list[LoggedQuery]:
        """The ``n`` best queries by decayed frequency, best first."""
        now = time.time()
        with self._lock:
            merged = self._merged(self._saved)
        ranked = sorted(merged.items(), key=lambda kv: (_score(kv[1], now), kv[0]), reverse=True)
        return [
            LoggedQuery(namespace=k[0], query=k[1], limit=k[2], sources=k[3], count=c, last_seen=seen)
            for k, (c, seen) in ranked[:n]
        ]

    def __len__(self) -> int:
        with self._lock:
            return len(self._merged(self._saved))

    def save(self) -> None:
        """Merge this process's counts into the file (re-read first: other processes save too)."""
        with self._lock:
            if not self._delta:
                return
            merged = self._merged(self._read())
            self._trim(merged, self.size)
            payload: dict[str, Any] = {
                "version": _VERSION,
                "queries": [
                    {"namespace": k[0], "query": k[1], "limit": k[2], "sources": list(k[3]), "count": c}
                    | {"last_seen": seen}
                    for k, (c, seen) in merged.items()
                ],
            }
            tmp = self.path.with_name(f".{LOG_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError as exc:  # a read-only data_dir loses only the warm-up hints
                log.warning("could not save the query log %s: %s", self.path, exc)
                tmp.unlink(missing_ok=True)
                return
            self._saved, self._delta = merged, {}


def _score(entry: tuple[int, float], now: float) -> float:
    count, seen = entry
    return count * 0.5 ** (max(0.0, now - seen) / HALF_LIFE_SECONDS)


class Warmer:
    """Re-runs logged queries in a daemon thread; reports what it did."""

    def __init__(self, queries: Sequence[LoggedQuery], recall: Callable[[LoggedQuery], object]) -> None:
        self.queries = list(queries)
        self._recall = recall
        self._stop = threading.Event()
        self.warmed = 0
        self.errors = 0
        self.last_error: str | None = None
        self.seconds: float | None = None
        self._thread = threading.Thread(target=self._run, name="memmimic-warmup", daemon=True)

    def start(self) -> None:
        """Start warming in the background."""
        self._thread.start()

    def _run(self) -> None:
        started = time.perf_counter()
        for query in self.queries:
            if self._stop.is_set():
                break
            try:
                self._recall(query)
                self.warmed += 1
            except Exception as exc:  # warm-up is best effort: a bad entry must not stop the rest
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
        self.seconds = time.perf_counter() - started

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until warm-up is done; return whether it is."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Stop after the query in progress and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def stats(self) -> dict[str, Any]:
        """Facts for status."""
        info: dict[str, Any] = {
            "planned": len(self.queries),
            "warmed": self.warmed,
            "errors": self.errors,
            "running": self._thread.is_alive(),
            "seconds": None if self.seconds is None else round(self.seconds, 3),
        }
        if self.last_error:
            info["last_error"] = self.last_error
        return info
