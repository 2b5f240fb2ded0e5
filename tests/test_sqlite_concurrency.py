"""Threads and processes writing one SQLite file never see "database is locked"."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from memmimic_core.models import MemoryPatch, NewMemory
from memmimic_core.protocols import BackendContext
from memmimic_plugins.sql.sqlite import SqliteStorage

WRITES = 25

WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from memmimic_core.models import MemoryPatch, NewMemory
    from memmimic_core.protocols import BackendContext
    from memmimic_plugins.sql.sqlite import SqliteStorage

    path, worker, writes = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    (path.parent / f"ready-{worker}").touch()
    while not (path.parent / "go").exists():  # start together: open (migrate) and write at once
        time.sleep(0.01)
    storage = SqliteStorage(SqliteStorage.Options(path=path), BackendContext(data_dir=path.parent))
    ids = []
    for i in range(writes):
        (m,) = storage.add([NewMemory(namespace="ns", content=f"process {worker} write {i}")])
        storage.update(m.id, "ns", MemoryPatch(importance=0.9), reason="concurrency")
        ids.append(m.id)
    storage.close()
    print(json.dumps(ids))
    """
)


def open_storage(path: Path) -> SqliteStorage:
    return SqliteStorage(SqliteStorage.Options(path=path), BackendContext(data_dir=path.parent))


def test_threads_share_one_storage_without_lock_errors(tmp_path: Path) -> None:
    storage = open_storage(tmp_path / "threads.db")

    def writer(worker: int) -> list[str]:
        ids = []
        for i in range(WRITES):
            (m,) = storage.add([NewMemory(namespace="ns", content=f"thread {worker} write {i}")])
            storage.update(m.id, "ns", MemoryPatch(importance=0.9))
            storage.touch([m.id], "ns", m.created_at)
            ids.append(m.id)
        return ids

    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(writer, range(4)))
        ids = [i for r in results for i in r]
        assert len(set(ids)) == 4 * WRITES
        assert len(storage.get(ids, "ns")) == 4 * WRITES
        assert storage.count("ns") == 4 * WRITES
        assert len(storage.changes_since(0)) == 2 * 4 * WRITES
    finally:
        storage.close()


def test_processes_write_one_file_without_lock_errors(tmp_path: Path) -> None:
    path = tmp_path / "processes.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(worker), str(WRITES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(3)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    (tmp_path / "go").touch()
    ids: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        ids.extend(json.loads(out))
    storage = open_storage(path)
    try:
        assert len(set(ids)) == 3 * WRITES
        assert [m.id for m in storage.get(ids, "ns")] == ids
        assert all(len(storage.history(i, "ns")) == 1 for i in ids)
        seqs = [c.seq for c in storage.changes_since(0)]
        assert len(seqs) == 2 * 3 * WRITES and seqs == sorted(set(seqs))
    finally:
        storage.close()
