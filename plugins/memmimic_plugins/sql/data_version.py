"""SQLite's change token: ``PRAGMA data_version`` on a connection kept for that alone.

``data_version`` on one connection changes whenever *another* connection commits to the file,
in this process (the store's pooled connections are other connections) or in any other. The
watcher never writes, so every commit of the store shows. One call costs a few microseconds:
a lock, and a read of the WAL index header without touching the database pages.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

__all__ = ["DataVersionWatcher"]


class DataVersionWatcher:
    """A dedicated, lock-guarded SQLite connection that reads ``PRAGMA data_version``."""

    def __init__(self, path: Path, *, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._epoch = -1  # bumped per connection: versions of two connections are not comparable
        self._closed = False

    def token(self) -> int | None:
        """Return the current data version, or ``None`` when it can't be read (callers query)."""
        with self._lock:
            if self._closed:
                return None
            try:
                if self._conn is None:
                    # autocommit (no transaction stays open), usable from any thread under the lock
                    self._conn = sqlite3.connect(
                        self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
                    )
                    self._epoch += 1
                row = self._conn.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error:
                self._drop()
                return None
            return (self._epoch << 48) + int(row[0])

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):  # closing a broken connection
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close the connection; later tokens are ``None``."""
        with self._lock:
            self._closed = True
            self._drop()
