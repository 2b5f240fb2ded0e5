"""Two real processes, separate configs, one PostgreSQL schema and one Redis: a team server.

Each process runs a small worker (JSON lines on stdin / stdout) around its own ``MemMimic``.
A write in one is recalled by the other at once; a forget in one is never returned by the
other, neither from its index nor from the shared (or its local) result cache. Run once with
a per-host ``numpy`` vector index on the PostgreSQL at 127.0.0.1:5432, and once with the
shared ``pgvector`` index on a private PostgreSQL with pgvector (``pgserver``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from memmimic_core.migrate_store import open_storage
from tests.conftest import model_free_config, require_service

pytestmark = [pytest.mark.service, pytest.mark.server]

WORKER = r"""
import json, sys
from memmimic_core.engine import MemMimic
from memmimic_core.errors import MemMimicError

store = MemMimic(sys.argv[1])
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    op = req["op"]
    try:
        if op == "remember":
            result = store.remember(req["content"], namespace=req["ns"])
        elif op == "recall":
            result = [h.id for h in store.recall(req["query"], limit=10, namespace=req["ns"])]
        elif op == "forget":
            result = store.forget(req["id"], namespace=req["ns"])
        elif op == "get":
            result = store.get(req["id"], namespace=req["ns"]).content
        elif op == "cache":
            result = store.status()["cache"]["tiers"]["redis"]
        elif op == "vector_index":
            result = store.status()["vector_index"]
        else:
            break
        out = {"ok": True, "result": result}
    except MemMimicError as exc:
        out = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
    print(json.dumps(out, default=str), flush=True)
store.close()
"""


class Host:
    """One MemMimic process, driven over pipes."""

    def __init__(self, config: Path, log: Path) -> None:
        self.ns = "default"
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self._read() == {"ready": True}, log.read_text()

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the worker died (exit {self.proc.poll()})")
        return json.loads(line)

    def call(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, "ns": self.ns, **args}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def ok(self, op: str, **args: Any) -> Any:
        reply = self.call(op, **args)
        assert reply["ok"], reply
        return reply["result"]

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


def host_config(
    root: Path, name: str, storage: dict[str, Any], vector_index: dict[str, Any], prefix: str
) -> Path:
    config = model_free_config(
        root / name,
        storage=storage,
        vector_index=vector_index,
        cache={"backend": "redis", "key_prefix": prefix},
    )
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=["numpy-per-host", "pgvector-shared"])
def hosts(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Host, Host]]:
    """Two worker processes on one schema and one Redis prefix (started once per variant)."""
    tmp_path = tmp_path_factory.mktemp("team")
    require_service("Redis", "127.0.0.1", 6379)
    schema = f"mm_shared_{uuid.uuid4().hex[:10]}"
    if request.param == "numpy-per-host":
        require_service("PostgreSQL", "127.0.0.1", 5432)
        storage: dict[str, Any] = {"backend": "postgresql", "schema": schema}
        vector_index: dict[str, Any] = {"backend": "numpy"}
    else:
        from tests.test_pgvector_index import pgserver_url

        storage = {"backend": "postgresql", "url": pgserver_url(), "schema": schema}
        vector_index = {"backend": "pgvector"}
    prefix = f"mmtest{uuid.uuid4().hex[:8]}"
    started: list[Host] = []
    try:
        for name in ("host-a", "host-b"):
            config = host_config(tmp_path, name, storage, vector_index, prefix)
            started.append(Host(config, tmp_path / f"{name}.log"))
        yield started[0], started[1]
    finally:
        for host in started:
            host.close()
        dropper = open_storage({"data_dir": str(tmp_path / "drop"), "storage": storage})
        try:
            dropper.drop_schema()  # type: ignore[attr-defined]
        finally:
            dropper.close()
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def team(hosts: tuple[Host, Host]) -> tuple[Host, Host]:
    """The two hosts, both working in a namespace of this test's own."""
    namespace = f"t{uuid.uuid4().hex[:8]}"
    for host in hosts:
        host.ns = namespace
    return hosts


def test_a_write_in_one_is_recalled_by_the_other_at_once(team: tuple[Host, Host]) -> None:
    a, b = team
    query = "which port does the staging server use"
    assert b.ok("recall", query=query) == []  # cached in Redis (and B's local tier) as empty
    mid = a.ok("remember", content="The staging server runs on port 8443")
    assert b.ok("recall", query=query) == [mid]
    assert b.ok("get", id=mid) == "The staging server runs on port 8443"
    assert a.ok("recall", query=query) == [mid]  # A reads B's cached result (or A embedded it)
    assert b.ok("recall", query=query) == [mid]  # any new vector from A is caught up on read
    assert b.ok("vector_index")["lag"] == 0


def test_a_forget_in_one_is_never_returned_by_the_other(team: tuple[Host, Host]) -> None:
    a, b = team
    keep = a.ok("remember", content="Deploys run from ops/deploy.sh after the VPN is up")
    gone = a.ok("remember", content="Deploys used to run from the old jenkins box")
    query = "how do deploys run"
    assert sorted(b.ok("recall", query=query)) == sorted([keep, gone])
    assert sorted(b.ok("recall", query=query)) == sorted([keep, gone])  # now a cache hit
    a.ok("forget", id=gone)
    for host in (b, a, b):
        assert host.ok("recall", query=query) == [keep]
    assert b.call("get", id=gone)["error"] == "NotFoundError"
    b.ok("forget", id=keep)
    assert a.ok("recall", query=query) == []


def test_the_result_cache_is_shared_between_hosts(team: tuple[Host, Host]) -> None:
    a, b = team
    mid = a.ok("remember", content="Maria prefers short status updates on Fridays")
    query = "what does maria prefer"
    assert a.ok("recall", query=query) == [mid]  # computed by A, stored in Redis
    before = b.ok("cache")["hits"]
    assert b.ok("recall", query=query) == [mid]
    assert b.ok("cache")["hits"] == before + 1  # served to B from Redis, not recomputed
