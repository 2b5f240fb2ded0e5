"""Several real processes sharing one data_dir: one SQLite store, one tantivy index folder."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from memmimic_core.models import NewMemory, TextQuery
from memmimic_core.plugins import build_plugin_manager, collect_backends
from memmimic_core.protocols import BackendContext

pytest.importorskip("tantivy")

WORKER = r"""
import json, sys
from pathlib import Path
from memmimic_core.models import NewMemory, TextQuery
from memmimic_core.plugins import build_plugin_manager, collect_backends
from memmimic_core.protocols import BackendContext

data_dir, name, count, total = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
backends = collect_backends(build_plugin_manager())
context = BackendContext(data_dir=data_dir, store_id="shared")
storage = backends["storage"].create("sqlite", {}, context, "storage")
context.storage = storage
index = backends["text_index"].create("tantivy", {"sync_on_search": False}, context, "text_index")
for i in range(count):
    storage.add([NewMemory(namespace="shared", content=f"shared capybara note {i} written by {name}")])
    index.sync()
own = index.search("shared", TextQuery(text=name), count + 5)
# wait for the other writer, then catch up with what it wrote
import time
deadline = time.monotonic() + 60
while storage.count("shared") < total and time.monotonic() < deadline:
    time.sleep(0.05)
index.sync()
seen = index.search("shared", TextQuery(text="capybara"), total + 10)
print(json.dumps({"own": len(own), "seen": len(seen), "lag": index.lag()}))
index.close()
storage.close()
"""


def open_backends(data_dir: Path, **options: Any) -> tuple[Any, Any]:
    backends = collect_backends(build_plugin_manager())
    context = BackendContext(data_dir=data_dir, store_id="shared")
    storage = backends["storage"].create("sqlite", {}, context, "storage")
    context.storage = storage
    return storage, backends["text_index"].create("tantivy", options, context, "text_index")


def test_two_writing_processes_each_see_every_document(tmp_path: Path) -> None:
    count = 25
    storage, index = open_backends(tmp_path)  # creates the database and the index first
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path), name, str(count), str(2 * count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alpha", "beta")
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    for result in results:
        assert result == {"own": count, "seen": 2 * count, "lag": 0}
    index.sync()
    assert len(index.search("shared", TextQuery(text="capybara"), 100)) == 2 * count
    assert index.stats()["documents"] == 2 * count
    index.close()
    storage.close()


def hold_lock(path: Path) -> subprocess.Popen[str]:
    """Start a process that holds the index's inter-process lock until its stdin closes."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX);"
            " print('locked', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_a_process_that_cannot_get_the_lock_still_reads_its_writes(tmp_path: Path) -> None:
    """The tail needs no lock: writes are searchable while another process holds it."""
    storage, index = open_backends(tmp_path, lock_timeout=0.2, sync_on_search=False)
    (first,) = storage.add([NewMemory(namespace="ns", content="tapir one")])
    index.sync()
    committed = index.stats()["committed_seq"]
    (second,) = storage.add([NewMemory(namespace="ns", content="tapir two")])
    holder = hold_lock(tmp_path / "tantivy.lock")
    try:
        assert index.sync() == 1
        assert index.lag() == 0
        assert sorted(c.memory_id for c in index.search("ns", TextQuery(text="tapir"), 10)) == sorted(
            [first.id, second.id]
        )
        assert index.commit(lock_timeout=0.1) is None  # the holder has the lock
        assert index.stats()["committed_seq"] == committed
    finally:
        holder.communicate("", timeout=30)
    assert index.commit() == storage.last_seq() - committed
    assert index.stats()["tail_documents"] == 0
    assert sorted(c.memory_id for c in index.search("ns", TextQuery(text="tapir"), 10)) == sorted(
        [first.id, second.id]
    )
    index.close()
    storage.close()


def test_a_process_that_cannot_get_the_lock_for_a_large_lag_follows_and_catches_up_later(
    tmp_path: Path,
) -> None:
    """More changes than ``max_tail`` are committed by the sync itself, which needs the lock."""
    storage, index = open_backends(tmp_path, lock_timeout=0.2, sync_on_search=False, max_tail=0)
    (first,) = storage.add([NewMemory(namespace="ns", content="tapir one")])
    index.sync()
    (second,) = storage.add([NewMemory(namespace="ns", content="tapir two")])
    holder = hold_lock(tmp_path / "tantivy.lock")
    try:
        assert index.sync() == 0
        assert index.lag() == 1
        assert [c.memory_id for c in index.search("ns", TextQuery(text="tapir"), 10)] == [first.id]
    finally:
        holder.communicate("", timeout=30)
    assert index.sync() == 1
    assert sorted(c.memory_id for c in index.search("ns", TextQuery(text="tapir"), 10)) == sorted(
        [first.id, second.id]
    )
    index.close()
    storage.close()


def test_a_process_killed_mid_sync_leaves_a_usable_index(tmp_path: Path) -> None:
    storage, index = open_backends(tmp_path, sync_on_search=False)
    storage.add([NewMemory(namespace="ns", content=f"okapi {i}") for i in range(3000)])
    killer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys, threading\n"
            "from pathlib import Path\n"
            "from memmimic_core.plugins import build_plugin_manager, collect_backends\n"
            "from memmimic_core.protocols import BackendContext\n"
            "b = collect_backends(build_plugin_manager())\n"
            "c = BackendContext(data_dir=Path(sys.argv[1]), store_id='shared')\n"
            "c.storage = b['storage'].create('sqlite', {}, c, 'storage')\n"
            "threading.Timer(0.05, lambda: os._exit(9)).start()\n"
            "b['text_index'].create('tantivy', {'batch_size': 100, 'max_tail': 0}, c, 'text_index')\n",
            str(tmp_path),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    killer.communicate(timeout=120)
    index.sync()
    assert index.lag() == 0
    assert len(index.search("ns", TextQuery(text="okapi"), 5000)) == 3000
    index.commit()
    assert index.stats()["documents"] == 3000
    assert len(index.search("ns", TextQuery(text="okapi"), 5000)) == 3000
    index.close()
    storage.close()


WRITER = r"""
import sys
from pathlib import Path
from memmimic_core.models import NewMemory
from memmimic_core.plugins import build_plugin_manager, collect_backends
from memmimic_core.protocols import BackendContext

backends = collect_backends(build_plugin_manager())
context = BackendContext(data_dir=Path(sys.argv[1]), store_id="shared")
storage = backends["storage"].create("sqlite", {}, context, "storage")
context.storage = storage
options = {"commit_interval_ms": 3_600_000, "commit_on_close": False}
index = backends["text_index"].create("tantivy", options, context, "text_index")
for line in sys.stdin:
    command = line.split()
    if command[0] == "write":
        (memory,) = storage.add([NewMemory(namespace="ns", content=" ".join(command[1:]))])
        index.sync()
        print(memory.id, flush=True)
    elif command[0] == "commit":
        print(index.commit(), flush=True)
index.close()
storage.close()
"""


def test_a_write_in_one_process_is_found_at_once_in_another_and_once_after_its_commit(
    tmp_path: Path,
) -> None:
    storage, index = open_backends(tmp_path, commit_interval_ms=3_600_000)
    storage.add([NewMemory(namespace="ns", content="an older note about a wombat")])
    index.sync()
    index.commit()
    state_path = tmp_path / "tantivy" / "memmimic-state.json"
    committed = json.loads(state_path.read_text(encoding="utf-8"))["seq"]
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdin is not None and writer.stdout is not None

    def ask(command: str) -> str:
        assert writer.stdin is not None and writer.stdout is not None
        writer.stdin.write(command + "\n")
        writer.stdin.flush()
        return writer.stdout.readline().strip()

    try:
        written = ask("write a fresh note about a wombat burrow")
        assert written.startswith("mem_")
        index.sync()
        before = {c.memory_id: c.score for c in index.search("ns", TextQuery(text="wombat burrow"), 10)}
        assert written in before and len(before) == 2
        assert json.loads(state_path.read_text(encoding="utf-8"))["seq"] == committed  # nothing committed
        assert index.stats()["tail_documents"] == 1
        assert ask("commit") == "1"  # the writer commits its change
        index.sync()
        after = list(index.search("ns", TextQuery(text="wombat burrow"), 10))
        assert [c.memory_id for c in after].count(written) == 1 and len(after) == 2
        assert {c.memory_id: c.score for c in after}[written] == pytest.approx(before[written], rel=1e-5)
        assert index.stats()["tail_documents"] == 0  # this process's tail was trimmed by that commit
        assert json.loads(state_path.read_text(encoding="utf-8"))["seq"] == storage.last_seq()
    finally:
        _, err = writer.communicate(timeout=60)  # closes its stdin: it closes and exits
    assert writer.returncode == 0, err
    index.close()
    storage.close()


# the child opens the backends with this module's own open_backends (shipped as source)
CRASHER = (
    "import os, sys\n"
    "from pathlib import Path\n"
    "from typing import Any\n"
    "from memmimic_core.models import NewMemory\n"
    "from memmimic_core.plugins import build_plugin_manager, collect_backends\n"
    "from memmimic_core.protocols import BackendContext\n"
    + inspect.getsource(open_backends)
    + r"""
storage, index = open_backends(Path(sys.argv[1]), commit_interval_ms=3_600_000)
(memory,) = storage.add([NewMemory(namespace="ns", content="a pangolin written just before the crash")])
index.sync()  # into the in-memory tail only: the database has it, the on-disk index doesn't
print(memory.id, flush=True)
os._exit(9)  # no close, no commit
"""
)


def test_a_crash_between_the_database_commit_and_the_index_commit_loses_nothing(tmp_path: Path) -> None:
    storage, index = open_backends(tmp_path, commit_interval_ms=3_600_000)
    (older,) = storage.add([NewMemory(namespace="ns", content="an older pangolin")])
    index.sync()
    index.commit()
    state_path = tmp_path / "tantivy" / "memmimic-state.json"
    committed = json.loads(state_path.read_text(encoding="utf-8"))["seq"]
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHER, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert crashed.returncode == 9, crashed.stderr
    written = crashed.stdout.strip()
    assert written.startswith("mem_")
    assert json.loads(state_path.read_text(encoding="utf-8"))["seq"] == committed  # never committed
    assert storage.last_seq() > committed
    other_storage, reopened = open_backends(tmp_path, commit_interval_ms=3_600_000)  # a new process
    assert reopened.lag() == 0
    expected = sorted([older.id, written])
    assert sorted(c.memory_id for c in reopened.search("ns", TextQuery(text="pangolin"), 10)) == expected
    index.sync()  # and one that was open all along
    assert sorted(c.memory_id for c in index.search("ns", TextQuery(text="pangolin"), 10)) == expected
    reopened.close()
    other_storage.close()
    index.close()
    assert json.loads(state_path.read_text(encoding="utf-8"))["seq"] == storage.last_seq()
    storage.close()
