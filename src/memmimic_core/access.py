"""Access statistics, recorded off the read path by a background thread."""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict
from datetime import datetime, timezone

from .protocols import Storage

__all__ = ["AccessRecorder"]

log = logging.getLogger(__name__)


class AccessRecorder:
    """Queues (namespace, ids) of recalled memories and writes them to storage in batches."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
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
        batch: dict[str, set[str]] = defaultdict(set)
        batch[first[0]].update(first[1])
        stop = False
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            batch[item[0]].update(item[1])
        now = datetime.now(timezone.utc)
        for namespace, ids in batch.items():
            try:
                self._storage.touch(sorted(ids), namespace, now)
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
