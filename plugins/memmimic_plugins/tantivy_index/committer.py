"""The background committer: folds an index's tail into the on-disk tantivy index.

One daemon thread per index object, started when the tail first gets an entry. It sleeps until
the tail is ``commit_interval_ms`` old or holds ``max_tail`` documents, then calls the index's
``commit`` (one writer session under the inter-process file lock, then the tail is trimmed to
what the new state file covers). Failures are logged and retried later: the tail keeps every
change searchable meanwhile, and the database stays the source of truth.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Committer"]

log = logging.getLogger(__name__)


class Committer:
    """Runs ``commit(lock_timeout)`` when ``due()`` says so; ``due()`` returns the seconds to wait
    (0: commit now, ``None``: nothing pending, sleep until notified)."""

    def __init__(
        self,
        name: str,
        due: Callable[[], float | None],
        commit: Callable[[float], int | None],
        *,
        lock_timeout: float,
        retry_after: float,
    ) -> None:
        self._name = name
        self._due = due
        self._commit = commit
        self._lock_timeout = lock_timeout
        self._retry_after = retry_after
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def notify(self) -> None:
        """Say the tail changed (starts the thread on first use)."""
        if self._stopping.is_set():
            return
        if not self.running:  # first use, or after a fork (the child has no such thread)
            with self._start_lock:
                if not self.running and not self._stopping.is_set():
                    self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread.start()
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread (a commit in progress finishes first) and wait for it."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before reading the tail: a later notify wakes the wait below
            try:
                wait = self._due()
                if wait is not None and wait <= 0:
                    applied = self._commit(self._lock_timeout)
                    again = self._due()
                    # lock busy elsewhere, or a commit of nothing left the tail due: try later
                    if applied is None or (applied == 0 and again is not None and again <= 0):
                        self._stopping.wait(self._retry_after)
                    continue
            except Exception:  # keep committing later; the tail keeps searches exact meanwhile
                log.exception("%s: background commit failed; retrying later", self._name)
                self._stopping.wait(self._retry_after)
                continue
            self._wake.wait(wait)
