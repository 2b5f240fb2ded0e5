"""Core latencies on the configuration given: remember, get, keyword recall, hybrid recall.

    .venv/bin/python benchmarks/bench_core.py --memories 10000 --queries 200 [--config FILE]

Prints medians and p95 per operation (milliseconds) and writes JSON with --json-out. Uses the
model-free defaults (hashing embedder, numpy vectors, SQLite FTS5) unless a config is given.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from memmimic_core.engine import MemMimic

WORDS = [
    "deploy",
    "server",
    "database",
    "backup",
    "network",
    "cache",
    "memory",
    "python",
    "config",
    "release",
    "meeting",
    "budget",
    "customer",
    "invoice",
    "schedule",
    "coffee",
    "garden",
    "travel",
    "flight",
    "hotel",
    "doctor",
    "appointment",
    "birthday",
    "project",
    "deadline",
    "review",
    "design",
    "test",
    "migration",
    "index",
    "query",
    "latency",
    "storage",
    "cluster",
    "token",
    "password",
    "rotation",
    "incident",
    "alert",
    "dashboard",
    "metric",
    "report",
    "quarter",
    "planning",
    "hiring",
    "interview",
]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 4),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 4),
        "n": len(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--config", default=None, help="YAML config (data_dir is replaced by a temp dir)")
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        config: dict[str, Any]
        if args.config:
            import yaml

            config = yaml.safe_load(Path(args.config).read_text()) or {}
        else:
            config = {
                "embedder": {"backend": "hashing"},
                "vector_index": {"backend": "numpy"},
                "text_index": {"backend": "storage"},
                "cache": {"backend": "none"},
            }
        config["data_dir"] = tmp
        with MemMimic(config) as m:
            start = time.perf_counter()
            ids = m.remember_many([sentence(rng, 60) for _ in range(args.memories)])
            ingest_s = time.perf_counter() - start
            results: dict[str, Any] = {
                "machine": {
                    "python": platform.python_version(),
                    "cpu": platform.processor() or platform.machine(),
                },
                "memories": args.memories,
                "backends": m.backend_names(),
                "ingest_per_s": round(args.memories / ingest_s, 1),
            }
            results["remember"] = summary(timed(lambda: m.remember(sentence(rng, 40)), args.queries))
            results["get"] = summary(timed(lambda: m.get(rng.choice(ids)), args.queries))
            queries = [sentence(rng, rng.randint(10, 20)) for _ in range(args.queries)]
            it = iter(queries * 2)
            results["recall_keyword"] = summary(
                timed(lambda: m.recall(next(it), sources=["keyword"]), args.queries)
            )
            it = iter(queries)
            results["recall_hybrid"] = summary(timed(lambda: m.recall(next(it)), args.queries))
    print(json.dumps(results, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
