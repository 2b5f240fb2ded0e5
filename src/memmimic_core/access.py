"""Access statistics, recorded off the read path by a background thread.

Writes are coalesced: the thread waits ``delay`` seconds after the first recall it hears of and
writes everything recalled meanwhile in one transaction per namespace. A write per recall would
make every recall a commit, and every commit moves the storage's change token, so the next
recall would redo the index bookkeeping the token exists to skip. The price is that
``access_count`` / ``last_accessed_at`` lag reads by up to ``delay`` (they are written at
close), and a crash loses at most that window of statistics, never a memory.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone

from .protocols import Storage

__all__ = ["AccessRecorder"]

log = logging.getLogger(__name__)


class AccessRecorder:
    """Queues (namespace, ids) of recalled memories and writes them to storage in batches."""

    def __init__(self, storage: Storage, *, delay: float = 1.0) -> None:
        self._storage = storage
        self._delay = delay
        self._queue: queue.SimpleQueue[tuple[str, tuple[str, ...]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def record(self, namespace: str, ids: tuple[str, ...]) -> None:
        """Note that ``ids`` were returned by a recall; never blocks on storage."""
        if not ids:
            return
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="memmimic-access", daemon=True)
                    self._thread.start()
        self._queue.put((namespace, ids))

    def _drain(self, first: tuple[str, tuple[str, ...]]) -> bool:
        # per namespace, how many recalls returned each memory during the window
        batch: dict[str, Counter[str]] = defaultdict(Counter)
        batch[first[0]].update(set(first[1]))
        stop = False
        deadline = time.monotonic() + self._delay
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            batch[item[0]].update(set(item[1]))
        now = datetime.now(timezone.utc)
        for namespace, counts in batch.items():
            try:
                # touch counts one access per id and call: layer j holds the ids recalled ≥ j times
                for layer in range(1, max(counts.values()) + 1):
                    self._storage.touch(sorted(i for i, c in counts.items() if c >= layer), namespace, now)
            except Exception as exc:  # statistics only: never fail or block a read for them
                log.warning("could not record access statistics: %s", exc)
        return stop

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._drain(item):
                return

    def close(self) -> None:
        """Write what is queued and stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
