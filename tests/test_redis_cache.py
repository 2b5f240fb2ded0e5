"""The redis cache: the contract on the system Redis, sharing, and a Redis that dies mid-run.

The outage tests start their own ``redis-server`` on a free port (never the system one on
6379), kill or freeze it, and restart it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memmimic_core.protocols import BackendContext, Cache
from memmimic_core.testing.cache import CacheContract
from memmimic_plugins.redis_cache import RedisCache, RedisOptions

pytestmark = pytest.mark.service

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SYSTEM_URL = "redis://127.0.0.1:6379/0"


def _require(ok: bool, message: str) -> None:
    if ok:
        return
    if IN_CI:
        pytest.fail(f"{message} (CI=true: service tests must not be skipped)")
    pytest.skip(message)


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def backend_context(tmp_path: Path) -> BackendContext:
    """A context with a store id unique across runs (the system Redis outlives a test run)."""
    return BackendContext(data_dir=tmp_path, store_id=f"test-{uuid.uuid4().hex}")


def make(context: BackendContext, url: str = SYSTEM_URL, **options: Any) -> RedisCache:
    return RedisCache(RedisOptions(url=url, **options), context)


class TestRedisContract(CacheContract):
    @pytest.fixture
    def cache(self, redis_available: None, backend_context: BackendContext) -> Iterator[Cache]:
        backend = make(backend_context)
        yield backend
        backend.clear()
        backend.close()


class TestRedisWithoutLocalTierContract(CacheContract):
    @pytest.fixture
    def cache(self, redis_available: None, backend_context: BackendContext) -> Iterator[Cache]:
        backend = make(backend_context, local=False)
        yield backend
        backend.clear()
        backend.close()


@pytest.fixture
def pair(redis_available: None, backend_context: BackendContext) -> Iterator[tuple[RedisCache, RedisCache]]:
    """Two caches of one store, as two processes would hold them."""
    first, second = make(backend_context), make(backend_context, local_max_ttl_seconds=0.2)
    yield first, second
    first.clear()
    first.close()
    second.close()


def test_two_instances_share_values(pair: tuple[RedisCache, RedisCache]) -> None:
    first, second = pair
    first.set("results", "q", b"hits")
    assert second.get("results", "q") == b"hits"
    stats = second.stats()
    assert stats["tiers"]["redis"]["hits"] == 1
    assert second.get("results", "q") == b"hits"
    assert second.stats()["tiers"]["local"]["hits"] == 1


def test_a_delete_reaches_other_instances_within_the_local_ttl(pair: tuple[RedisCache, RedisCache]) -> None:
    first, second = pair
    first.set("results", "q", b"v")
    assert second.get("results", "q") == b"v"
    first.delete("results", "q")
    time.sleep(0.3)
    assert second.get("results", "q") is None


def test_keys_carry_prefix_store_and_pool_with_the_ttl(
    redis_available: None, backend_context: BackendContext
) -> None:
    import redis

    cache = make(backend_context)
    cache.set("results", "q", b"v", ttl=30)
    cache.set("embeddings", "q", b"v")  # pool default: 86400 s
    raw = redis.Redis.from_url(SYSTEM_URL)
    prefix = f"memmimic:{backend_context.store_id}:"
    assert raw.get(prefix + "results:q") == b"v"
    assert 29_000 < raw.pttl(prefix + "results:q") <= 30_000
    assert 86_300 < raw.ttl(prefix + "embeddings:q") <= 86_400
    cache.clear()
    assert raw.keys(prefix + "*") == []
    raw.close()
    cache.close()


def test_stores_are_isolated(redis_available: None, tmp_path: Path) -> None:
    one = make(BackendContext(data_dir=tmp_path, store_id=f"one-{uuid.uuid4().hex}"))
    two = make(BackendContext(data_dir=tmp_path, store_id=f"two-{uuid.uuid4().hex}"))
    one.set("results", "q", b"1")
    assert two.get("results", "q") is None
    two.set("results", "q", b"2")
    two.clear()
    assert one.get("results", "q") == b"1"
    one.clear()
    one.close()
    two.close()


def test_another_process_reads_the_value(
    pair: tuple[RedisCache, RedisCache], backend_context: BackendContext
) -> None:
    first, _ = pair
    first.set("classifications", "text", b"DATA")
    code = (
        "from pathlib import Path\n"
        "from memmimic_core.protocols import BackendContext\n"
        "from memmimic_plugins.redis_cache import RedisCache, RedisOptions\n"
        f"ctx = BackendContext(data_dir=Path('.'), store_id={backend_context.store_id!r})\n"
        "print(RedisCache(RedisOptions(), ctx).get('classifications', 'text'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "b'DATA'"


# -- a Redis of our own, killed and frozen --------------------------------------------------


class RedisProcess:
    """A private redis-server on a free port, without persistence."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _reachable(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    _require(shutil.which("redis-server") is not None, "the redis-server binary is not installed")
    server = RedisProcess()
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.thaw()
    server.kill()


def test_a_killed_redis_degrades_to_the_local_tier_and_recovers(
    own_redis: RedisProcess, backend_context: BackendContext
) -> None:
    cache = make(backend_context, url=own_redis.url, retry_interval=0.2)
    cache.set("results", "kept", b"v")
    own_redis.kill()

    assert cache.get("results", "kept") == b"v"  # local tier
    assert cache.get("results", "absent") is None  # no exception
    cache.set("results", "during", b"d")
    cache.clear("embeddings")
    stats = cache.stats()
    assert stats["degraded"] is True
    assert "ConnectionError" in stats["last_error"]
    assert stats["tiers"]["redis"]["errors"] >= 1

    own_redis.start()
    time.sleep(0.25)
    cache.set("results", "after", b"a")
    stats = cache.stats()
    assert stats["degraded"] is False
    assert stats["tiers"]["redis"]["reconnects"] == 1
    other = make(backend_context, url=own_redis.url)
    assert other.get("results", "after") == b"a"
    cache.close()
    other.close()


def test_a_frozen_redis_times_out_and_pending_deletes_are_replayed(
    own_redis: RedisProcess, backend_context: BackendContext
) -> None:
    cache = make(backend_context, url=own_redis.url, retry_interval=0.2, socket_timeout=0.2)
    cache.set("results", "gone", b"v")
    own_redis.freeze()
    started = time.monotonic()
    cache.delete("results", "gone")  # times out once
    cache.delete("results", "gone")  # skipped: within the retry interval
    assert time.monotonic() - started < 2
    stats = cache.stats()
    assert stats["degraded"] is True
    assert "Timeout" in stats["last_error"]
    assert stats["tiers"]["redis"]["pending"] == 1

    own_redis.thaw()
    time.sleep(0.25)
    assert cache.get("results", "gone") is None
    assert cache.stats()["degraded"] is False
    other = make(backend_context, url=own_redis.url, local=False)
    assert other.get("results", "gone") is None
    cache.close()
    other.close()


def test_an_unreachable_redis_at_start_is_not_an_error(backend_context: BackendContext) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cache = make(backend_context, url=f"redis://127.0.0.1:{port}/0")
    cache.set("results", "k", b"v")
    assert cache.get("results", "k") == b"v"
    assert cache.stats()["degraded"] is True
    cache.close()


def test_the_password_is_not_shown_in_stats(backend_context: BackendContext) -> None:
    cache = make(backend_context, url="redis://user:secret@127.0.0.1:1/0")
    assert "secret" not in str(cache.stats())
    cache.close()


def test_a_bad_url_is_a_config_error(backend_context: BackendContext) -> None:
    from memmimic_core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"cache\.url"):
        make(backend_context, url="http://127.0.0.1:6379")


def test_a_degraded_redis_shows_in_metrics_alerts(backend_context: BackendContext) -> None:
    from memmimic_core.config import AlertsConfig
    from memmimic_core.metrics import Metrics, check_alerts

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cache = make(backend_context, url=f"redis://127.0.0.1:{port}/0")
    cache.get("results", "k")
    metrics = Metrics()
    metrics.observe_cache(cache.stats())
    snapshot = metrics.snapshot()
    assert {"labels": {"tier": "redis"}, "value": 1.0} in snapshot["gauges"]["cache_degraded"]
    assert "cache tier redis is degraded (see cache status)" in check_alerts(
        AlertsConfig(rss_mb=1e6), snapshot
    )
    cache.close()
