"""Plugin: the ``sqlite`` storage, MemMimic's embedded default (one file, WAL, FTS5).

SQLAlchemy is imported when the backend is built, not when this module is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from memmimic_core import hookimpl
from memmimic_core.errors import ConfigError
from memmimic_core.protocols import BackendContext, BackendOptions
from memmimic_core.registry import BackendRegistry

from .facade import SqlStorageFacade

__all__ = ["SqliteStorage"]


class SqliteStorage(SqlStorageFacade):
    """Memories, tales and history in one SQLite file, pooled by SQLAlchemy, searched by FTS5."""

    name: ClassVar[str] = "sqlite"

    class Options(BackendOptions):
        """Options of the ``sqlite`` storage (defaults follow the performance document)."""

        path: Path | None = Field(default=None, description="database file; default <data_dir>/memmimic.db")
        pool_size: int = Field(default=5, ge=1, le=100, description="pooled connections")
        max_overflow: int = Field(default=10, ge=0, le=100, description="connections beyond the pool")
        pool_timeout: float = Field(default=30.0, gt=0, description="seconds to wait for a pooled connection")
        busy_timeout_ms: int = Field(default=30_000, ge=0, description="how long a writer waits for the lock")
        # per pooled connection: 10,000 pages (40 MB) each let an ingesting process hold ~200 MB
        # of page cache; 8 MiB made no difference to recall at 10k (docs/semantic.md)
        cache_size: int = Field(default=-8000, description="PRAGMA cache_size (pages; negative: KiB)")
        # 0 (SQLite's own default): reads go through the bounded page cache (cache_size). With
        # mmap every page a scan touched stayed in the process's RSS: +248 MB at 100k memories
        # for no measurable recall gain at 10k (docs/semantic.md)
        mmap_size: int = Field(default=0, ge=0, description="PRAGMA mmap_size in bytes (0: no mmap)")
        synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "NORMAL"
        temp_store: Literal["DEFAULT", "FILE", "MEMORY"] = "MEMORY"

    def __init__(self, options: Options, context: BackendContext) -> None:
        from .sqlite_store import SqliteStore

        self.options = options
        if options.path is not None and str(options.path) == ":memory:":
            raise ConfigError(
                "storage.path: ':memory:' is not supported (each pooled connection would see its "
                "own empty database); use a file, e.g. in a temporary folder"
            )
        path = options.path if options.path is not None else Path(context.data_dir) / "memmimic.db"
        self._store = SqliteStore(Path(path).expanduser(), options)


@hookimpl
def memmimic_register_storage(register: BackendRegistry[SqliteStorage]) -> None:
    """Register the ``sqlite`` storage."""
    register(SqliteStorage)
