"""SQLite's change token (``PRAGMA data_version`` on a dedicated connection) beyond the contract."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from memmimic_core.errors import StorageError
from memmimic_core.models import NewMemory
from memmimic_core.protocols import BackendContext
from memmimic_plugins.sql.sqlite import SqliteStorage


def open_storage(path: Path) -> SqliteStorage:
    return SqliteStorage(SqliteStorage.Options(path=path), BackendContext(data_dir=path.parent))


def test_a_commit_on_a_pooled_connection_changes_the_token(tmp_path: Path) -> None:
    storage = open_storage(tmp_path / "pooled.db")
    try:
        storage.add([NewMemory(namespace="ns", content="a row to rewrite")])
        before = storage.change_token()
        with storage.store.engine.begin() as conn:  # a pooled connection, not the watcher
            conn.exec_driver_sql("UPDATE memories SET importance = 0.25")
        assert storage.change_token() != before
        before = storage.change_token()
        with storage.store.engine.connect() as conn:  # a read commits nothing
            conn.exec_driver_sql("SELECT count(*) FROM memories").scalar_one()
        assert storage.change_token() == before
    finally:
        storage.close()


def test_touch_changes_the_token_too(tmp_path: Path) -> None:
    storage = open_storage(tmp_path / "touch.db")
    try:
        (m,) = storage.add([NewMemory(namespace="ns", content="touched")])
        before, seq = storage.change_token(), storage.last_seq()
        storage.touch([m.id], "ns", datetime.now(timezone.utc))
        assert storage.change_token() != before and storage.last_seq() == seq
    finally:
        storage.close()


def test_two_storages_on_one_file_see_each_others_commits(tmp_path: Path) -> None:
    first, second = open_storage(tmp_path / "shared.db"), open_storage(tmp_path / "shared.db")
    try:
        a, b = first.change_token(), second.change_token()
        second.add([NewMemory(namespace="ns", content="from the second")])
        assert first.change_token() != a and second.change_token() != b
    finally:
        first.close()
        second.close()


def test_threads_read_the_token_while_others_write(tmp_path: Path) -> None:
    storage = open_storage(tmp_path / "threads.db")
    errors: list[BaseException] = []
    stop = threading.Event()
    tokens: set[int] = set()

    def reader() -> None:
        try:
            while not stop.is_set():
                token = storage.change_token()
                assert isinstance(token, int)
                tokens.add(token)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def writer(worker: int) -> None:
        try:
            for i in range(20):
                storage.add([NewMemory(namespace="ns", content=f"writer {worker} item {i}")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
    try:
        for t in readers + writers:
            t.start()
        for t in writers:
            t.join()
        stop.set()
        for t in readers:
            t.join()
        assert not errors
        assert len(tokens) > 1 and storage.count("ns") == 40
        settled = storage.change_token()
        assert settled >= max(tokens)  # data_version only grows on one connection
        assert storage.change_token() == settled
    finally:
        storage.close()


def test_a_closed_storage_refuses_the_token(tmp_path: Path) -> None:
    storage = open_storage(tmp_path / "closed.db")
    storage.close()
    with pytest.raises(StorageError, match="closed"):
        storage.change_token()
