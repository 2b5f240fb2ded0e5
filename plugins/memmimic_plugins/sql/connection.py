"""Engine, transactions and error mapping shared by every part of the SQL store."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from typing import Any, ClassVar, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from memmimic_core.errors import MemMimicError, StorageError

from . import migrate
from .pool import PoolMeter

__all__ = ["CHUNK", "SqlConnection", "unique"]

T = TypeVar("T")
CHUNK = 500  # ids per IN (...) list
WRITE_ATTEMPTS = 8


def unique(values: Any) -> list[Any]:
    """Return ``values`` without repeats, in their first order."""
    return list(dict.fromkeys(values))


class SqlConnection:
    """One SQLAlchemy engine; every public write runs in exactly one transaction."""

    backend_name: ClassVar[str] = "sql"

    def __init__(self, engine: Engine, *, schema: str | None = None) -> None:
        self.engine = engine
        self.schema = schema
        self._closed = False
        self.pool_meter = PoolMeter(engine)
        self._migrate()

    @cached_property
    def _placeholder(self) -> str:
        """The driver's parameter marker for SQL text: ``?`` (sqlite3) or ``%s`` (psycopg)."""
        return "?" if self.engine.dialect.paramstyle == "qmark" else "%s"

    # -- transactions and errors ------------------------------------------------------------

    def _migrate(self) -> None:
        """Bring the schema to the newest migration (dialects serialize concurrent openers)."""
        raise NotImplementedError

    def _begin_write(self, conn: Connection) -> None:
        """Prepare ``conn`` so its next transaction takes the write lock (dialect hook)."""

    def _retryable(self, exc: sa_exc.DBAPIError) -> bool:
        """Whether a failed write may be retried (a lock the busy timeout did not outwait)."""
        return False

    def _translate(self, exc: sa_exc.SQLAlchemyError) -> MemMimicError:
        """Turn a driver error into a MemMimic error with a clear message."""
        orig = getattr(exc, "orig", None) or exc
        return StorageError(f"the {self.backend_name} storage failed: {orig}")

    def run_write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, retrying lock conflicts with backoff."""
        return self._run(work, write=True)

    def run_read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a pooled connection in a read transaction."""
        return self._run(work, write=False)

    def _connect(self) -> Connection:
        """Check a connection out of the pool, timing the wait (``pool_meter``)."""
        start = time.perf_counter()
        try:
            conn = self.engine.connect()
        except sa_exc.TimeoutError:
            waited = time.perf_counter() - start
            self.pool_meter.timed_out(waited)
            pool = self.pool_meter.stats()
            raise StorageError(
                f"the {self.backend_name} storage's connection pool stayed exhausted for {waited:.1f} s "
                f"(pool_size {pool['size']}, max_overflow {pool['max_overflow']}, "
                f"{pool['checked_out']} in use); raise storage.pool_size, max_overflow or "
                "pool_timeout, or look for calls that hold connections long"
            ) from None
        self.pool_meter.waited(time.perf_counter() - start)
        return conn

    def _run(self, work: Callable[[Connection], T], *, write: bool) -> T:
        self._check_open()
        delay = 0.05
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self._connect() as conn:
                    if not write:
                        return work(conn)
                    self._begin_write(conn)
                    with conn.begin():
                        return work(conn)
            except MemMimicError:
                raise
            except sa_exc.DBAPIError as exc:
                if attempt + 1 < WRITE_ATTEMPTS and self._retryable(exc):
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                raise self._translate(exc) from exc
            except sa_exc.SQLAlchemyError as exc:
                raise self._translate(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"the {self.backend_name} storage is closed")

    def close(self) -> None:
        """Dispose of the pool; later calls raise StorageError."""
        if not self._closed:
            self._closed = True
            self.engine.dispose()

    def schema_revision(self) -> str | None:
        """Return the Alembic revision the database is at."""
        return self.run_read(lambda conn: migrate.current_revision(conn, self.schema))

    # -- housekeeping -----------------------------------------------------------------------

    def change_token(self) -> int | None:
        """A cheap number that changes with every commit, or ``None`` (dialect hook; see Storage)."""
        return None

    def pool_stats(self) -> dict[str, Any]:
        """Return the connection pool's state and counts: ``{"pool": {...}}`` plus flat ``pool_*`` keys."""
        pool = self.pool_meter.stats()
        return {
            "pool": pool,
            "pool_class": pool["class"],
            "pool_size": pool["size"],
            "pool_checkedout": pool["checked_out"],
            "pool_overflow": pool["overflow"],
            "pool_checkedin": pool["checked_in"],
            "pool_checkouts": pool["checkouts"],
            "pool_wait_seconds": pool["wait"]["sum_seconds"],
        }

    def stats(self) -> dict[str, Any]:
        """Return backend facts for status."""
        raise NotImplementedError

    def maintain(self) -> dict[str, Any]:
        """Optimize the database; report what changed."""
        raise NotImplementedError
