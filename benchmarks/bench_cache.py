"""Cache backends side by side, hit rate on a Zipf workload, and the cost of metrics.

Run: ``.venv/bin/python benchmarks/bench_cache.py`` (``--quick`` for a smoke run). Redis rows
need a server at ``--redis-url`` (default the local one); they are left out when it is down.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from memmimic_core.metrics import Metrics
from memmimic_core.protocols import BackendContext, Cache
from memmimic_plugins.caches import DiskCache, DiskOptions, LruCache, LruOptions, TieredCache, TieredOptions
from memmimic_plugins.redis_cache import RedisCache, RedisOptions


def percentile_us(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def timed(fn: Callable[[int], Any], n: int) -> list[int]:
    out = []
    for i in range(n):
        start = time.perf_counter_ns()
        fn(i)
        out.append(time.perf_counter_ns() - start)
    return out


def redis_up(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=0.5):
            return True
    except OSError:
        return False


def backends(data_dir: Path, redis_url: str) -> dict[str, Callable[[], Cache]]:
    context = BackendContext(data_dir=data_dir, store_id=f"bench-{time.time_ns()}")
    made: dict[str, Callable[[], Cache]] = {
        "lru": lambda: LruCache(LruOptions(), context),
        "diskcache": lambda: DiskCache(DiskOptions(), context),
        "diskcache (least-recently-stored)": lambda: DiskCache(
            DiskOptions(eviction_policy="least-recently-stored", directory=data_dir / "lrs"), context
        ),
        "tiered": lambda: TieredCache(TieredOptions(), context),
    }
    if redis_up(redis_url):
        made["redis (local tier)"] = lambda: RedisCache(RedisOptions(url=redis_url), context)
        made["redis (no local tier)"] = lambda: RedisCache(RedisOptions(url=redis_url, local=False), context)
    return made


def bench_latency(data_dir: Path, redis_url: str, n: int) -> list[str]:
    value = json.dumps([{"id": f"m{i}", "score": 0.5} for i in range(20)]).encode()  # ~600 bytes
    rows = [
        f"| backend (µs, {len(value)}-byte values, n={n}) | set p50 | get hit p50 | get hit p95 "
        "| get miss p50 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, make in backends(data_dir, redis_url).items():
        cache = make()

        def put(i: int, c: Cache = cache) -> None:
            c.set("results", f"q{i}", value)

        def hit(i: int, c: Cache = cache) -> None:
            c.get("results", f"q{i}")

        def miss(i: int, c: Cache = cache) -> None:
            c.get("results", f"absent{i}")

        sets, hits, misses = timed(put, n), timed(hit, n), timed(miss, n)
        rows.append(
            f"| {name} | {percentile_us(sets, 0.5):.1f} | {percentile_us(hits, 0.5):.1f} | "
            f"{percentile_us(hits, 0.95):.1f} | {percentile_us(misses, 0.5):.1f} |"
        )
        if isinstance(cache, TieredCache):
            cache.memory.clear()
            promo = timed(hit, n)
            rows.append(
                f"| tiered, disk hit + promotion | | {percentile_us(promo, 0.5):.1f} | "
                f"{percentile_us(promo, 0.95):.1f} | |"
            )
        cache.clear()
        cache.close()
    return rows


def bench_hit_rate(data_dir: Path, queries: int) -> list[str]:
    """Repeated queries drawn from a Zipf law (s=1.1) over 5,000 distinct queries."""
    rng = np.random.default_rng(7)
    ranks = np.arange(1, 5001)
    weights = 1 / ranks**1.1
    stream = rng.choice(5000, size=queries, p=weights / weights.sum())
    value = b"r" * 2000
    rows = [
        f"| results pool budget | lru hit rate | tiered hit rate | (n={queries}, 2 kB values) |",
        "|---|---:|---:|---|",
    ]
    for budget in (256 * 1024, 1024 * 1024, 4 * 1024 * 1024, 16 * 1024 * 1024):
        pools = {"results": {"max_bytes": budget, "ttl_seconds": 300}}
        context = BackendContext(data_dir=Path(tempfile.mkdtemp(dir=data_dir)))
        caches: list[Any] = [
            LruCache(LruOptions.model_validate({"pools": pools})),
            TieredCache(TieredOptions.model_validate({"pools": pools}), context),
        ]
        rates = []
        for cache in caches:
            for q in stream:
                key = f"query-{q}"
                if cache.get("results", key) is None:
                    cache.set("results", key, value)
            rates.append(cache.stats()["hit_rate"])
            cache.close()
        rows.append(f"| {budget // 1024} KiB | {rates[0]:.1%} | {rates[1]:.1%} | |")
    return rows


def bench_metrics(n: int, rounds: int = 7) -> list[str]:
    """Nanoseconds per call; the variants run interleaved, best round kept (a loaded host drifts)."""
    on, off = Metrics(), Metrics(enabled=False)
    cache = LruCache(LruOptions())
    cache.set("results", "q", b"v" * 600)

    def timer(m: Metrics) -> Callable[[], None]:
        def body() -> None:
            with m.time("recall"):
                pass

        return body

    def cached_get(m: Metrics | None) -> Callable[[], None]:
        def body() -> None:
            if m is None:
                cache.get("results", "q")
                return
            with m.time("get"):
                cache.get("results", "q")

        return body

    variants: dict[str, Callable[[], Any]] = {
        "empty loop body (baseline)": lambda: None,
        "`with metrics.time(op)`, enabled": timer(on),
        "`with metrics.time(op)`, disabled": timer(off),
        "`metrics.record(op, s)`, enabled": lambda: on.record("remember", 0.0001),
        "`metrics.record(op, s)`, disabled": lambda: off.record("remember", 0.0001),
        "lru get hit, no metrics": cached_get(None),
        "lru get hit inside `metrics.time`, enabled": cached_get(on),
        "lru get hit inside `metrics.time`, disabled": cached_get(off),
    }
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(rounds):
        for name, body in variants.items():
            start = time.perf_counter_ns()
            for _ in range(n):
                body()
            best[name] = min(best[name], (time.perf_counter_ns() - start) / n)
    rows = [f"| metrics call | ns per call (best of {rounds} interleaved rounds × {n}) |", "|---|---:|"]
    rows += [f"| {name} | {ns:.0f} |" for name, ns in best.items()]
    start = time.perf_counter_ns()
    on.snapshot()
    rows.append(f"| `snapshot()` with 3 operations (µs) | {(time.perf_counter_ns() - start) / 1000:.0f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    n, queries, metric_n = (300, 3000, 20_000) if args.quick else (3000, 50_000, 100_000)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        for rows in (
            bench_latency(data_dir, args.redis_url, n),
            bench_hit_rate(data_dir, queries),
            bench_metrics(metric_n),
        ):
            print("\n".join(rows), end="\n\n")


if __name__ == "__main__":
    main()
