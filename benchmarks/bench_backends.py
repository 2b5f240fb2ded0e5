"""Backends side by side: remember / recall latency on SQLite vs. PostgreSQL (FAISS, pgvector).

One run, the same workload on each deployment step of docs/deployment.md:

* ``sqlite+faiss``: the laptop default (one SQLite file, tantivy and FAISS files beside it);
* ``postgresql+faiss``: PostgreSQL storage (the server at ``--pg-url``), tantivy and FAISS
  copies kept by the host;
* ``postgresql+pgvector``: PostgreSQL storage with tsvector keyword search and the pgvector
  HNSW index, nothing on the host (a private PostgreSQL 16 with pgvector from ``pgserver``);
* ``postgresql+pgvector+tantivy``: the same with tantivy per host for keywords (to tell the
  vector index's cost from the keyword search's).

Texts are 14 words drawn Zipf-like from a 5000-word vocabulary; queries are 4 such words.

For each: ingest ``--size`` memories (``remember_many`` in batches of 1000; the hashing
embedder, dimension 384, so no model is loaded), then sequential ``remember`` and ``recall``
latency (p50 / p95 over ``--ops`` calls each; result cache off, so every recall runs the
whole pipeline), then ``--clients`` threads sharing one ``MemMimic``, each doing recalls and
remembers (4:1), for throughput and latency under concurrency. JSON out plus a markdown table.

Run::

    .venv/bin/python benchmarks/bench_backends.py --size 10000 --out benchmarks/results/backends.json
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from memmimic_core.bench.speed_env import machine_info, machine_load

WORDS = [
    "deploy",
    "server",
    "database",
    "backup",
    "network",
    "cache",
    "memory",
    "index",
    "query",
    "schema",
    "migration",
    "team",
    "laptop",
    "python",
    "rust",
    "vector",
    "keyword",
    "search",
    "meeting",
    "friday",
    "report",
    "budget",
    "design",
    "review",
    "release",
    "staging",
    "production",
    "incident",
    "alert",
    "metric",
    "latency",
    "throughput",
    "cluster",
    "replica",
    "shard",
    "token",
    "config",
    "secret",
    "docker",
    "kernel",
    "storage",
    "volume",
    "disk",
    "queue",
    "worker",
    "thread",
    "process",
    "signal",
    "socket",
    "port",
    "proxy",
    "gateway",
    "coffee",
    "lunch",
    "kitchen",
    "garden",
    "holiday",
    "travel",
    "train",
    "flight",
    "hotel",
    "museum",
    "concert",
    "movie",
    "book",
    "novel",
    "maria",
    "john",
    "alex",
    "sam",
    "priya",
    "chen",
    "olga",
    "ahmed",
    "lucia",
    "tom",
    "nina",
    "omar",
    "kate",
    "ivan",
    "yuki",
    "paul",
    "rosa",
    "liam",
]


SYLLABLES = ["ka", "lo", "mi", "ren", "tas", "vo", "qui", "sel", "dor", "ban", "eth", "ul", "pra", "zin"]


def vocabulary(size: int = 5000, seed: int = 11) -> list[str]:
    """Real words first, then made-up ones: a vocabulary large enough for selective keywords."""
    rng = random.Random(seed)
    words = list(dict.fromkeys(WORDS))
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in words:
            words.append(word)
    return words


VOCAB = vocabulary()
WEIGHTS = [1.0 / (rank + 1) for rank in range(len(VOCAB))]  # Zipf-like: a few words are common


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(VOCAB, weights=WEIGHTS, k=n))


def pct(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p95_ms": round(float(np.percentile(arr, 95)), 2),
    }


def config_for(
    variant: str, root: Path, pg_url: str, pgvector_url: str | None, schema: str
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "data_dir": str(root / variant),
        "embedder": {"backend": "hashing"},
        "cache": {"backend": "none"},
        "classifier": {"backend": "none"},
        "expanders": [],
    }
    if variant == "sqlite+faiss":
        return {**base, "text_index": {"backend": "tantivy"}, "vector_index": {"backend": "faiss"}}
    if variant == "postgresql+pgvector+tantivy":
        assert pgvector_url is not None
        return {
            **base,
            "storage": {"backend": "postgresql", "url": pgvector_url, "schema": schema},
            "text_index": {"backend": "tantivy"},
            "vector_index": {"backend": "pgvector"},
        }
    if variant == "postgresql+faiss":
        return {
            **base,
            "storage": {"backend": "postgresql", "url": pg_url, "schema": schema},
            "text_index": {"backend": "tantivy"},
            "vector_index": {"backend": "faiss"},
        }
    assert pgvector_url is not None
    return {
        **base,
        "storage": {"backend": "postgresql", "url": pgvector_url, "schema": schema},
        "text_index": {"backend": "storage"},
        "vector_index": {"backend": "pgvector"},
    }


def timed(fn: Callable[[], Any], into: list[float]) -> None:
    start = time.perf_counter()
    fn()
    into.append(time.perf_counter() - start)


def run_variant(config: dict[str, Any], size: int, ops: int, clients: int, seed: int) -> dict[str, Any]:
    from memmimic_core.engine import MemMimic

    rng = random.Random(seed)
    out: dict[str, Any] = {}
    with MemMimic(config) as store:
        start = time.perf_counter()
        for done in range(0, size, 1000):
            store.remember_many([sentence(rng, 14) for _ in range(min(1000, size - done))])
        store.recall("warm up the indexes")
        out["ingest_per_s"] = round(size / (time.perf_counter() - start), 1)
        remember: list[float] = []
        recall: list[float] = []
        cpu = time.process_time()
        for _ in range(ops):
            timed(lambda: store.remember(sentence(rng, 14)), remember)
        cpu_remember = time.process_time() - cpu
        for _ in range(ops):
            timed(lambda: store.recall(sentence(rng, 4), limit=10), recall)
        cpu_recall = time.process_time() - cpu - cpu_remember
        # process CPU per call (all threads): steadier than wall-clock on a busy machine
        out["remember"] = {**pct(remember), "cpu_ms_per_op": round(cpu_remember * 1000 / ops, 2)}
        out["recall"] = {**pct(recall), "cpu_ms_per_op": round(cpu_recall * 1000 / ops, 2)}
        per_client = max(1, ops // clients) * 5
        lat: dict[str, list[float]] = {"remember": [], "recall": []}
        lock = threading.Lock()

        def client(i: int) -> None:
            local = random.Random(seed * 100 + i)
            mine: dict[str, list[float]] = {"remember": [], "recall": []}
            for j in range(per_client):
                if j % 5 == 4:
                    timed(lambda: store.remember(sentence(local, 14)), mine["remember"])
                else:
                    timed(lambda: store.recall(sentence(local, 4), limit=10), mine["recall"])
            with lock:
                for key, values in mine.items():
                    lat[key].extend(values)

        start = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        out["concurrent"] = {
            "clients": clients,
            "ops_per_s": round(clients * per_client / elapsed, 1),
            "remember": pct(lat["remember"]),
            "recall": pct(lat["recall"]),
        }
        status = store.status()
        out["memories"] = status["total_memories"]
        out["vector_index"] = {k: status["vector_index"].get(k) for k in ("kind", "vectors", "lag")}
    return out


def drop_schema(url: str, schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"{results['size']} memories, hashing embedder (384-d), {results['clients']} concurrent clients; "
        "latencies in ms (p50 / p95), cpu = process CPU ms per call; "
        f"{m.get('cpu')}, {m.get('cores')} cores, commit {m.get('commit')}, {m.get('taken_at')}",
        "",
        f"| backends | ingest /s | remember | remember cpu | recall | recall cpu | "
        f"{results['clients']} clients: ops/s | remember | recall | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in results["variants"].items():
        c = r["concurrent"]
        load = " → ".join(f"{la[0]:.1f}" for la in r.get("load_average", []) if la)
        lines.append(
            f"| {name} | {r['ingest_per_s']} | {r['remember']['p50_ms']} / {r['remember']['p95_ms']} | "
            f"{r['remember'].get('cpu_ms_per_op', '–')} | "
            f"{r['recall']['p50_ms']} / {r['recall']['p95_ms']} | {r['recall'].get('cpu_ms_per_op', '–')} | "
            f"{c['ops_per_s']} | {c['remember']['p50_ms']} / {c['remember']['p95_ms']} | "
            f"{c['recall']['p50_ms']} / {c['recall']['p95_ms']} | {load} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--ops", type=int, default=200, help="sequential calls per operation")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--variants", default="sqlite+faiss,postgresql+faiss,postgresql+pgvector,postgresql+pgvector+tantivy"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/backends.json"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    root = Path(tempfile.mkdtemp(prefix="mm-bench-backends-"))
    pgvector_url = None
    if any("pgvector" in v for v in variants):
        import pgserver

        server = pgserver.get_server(root / "pgserver", cleanup_mode="delete")
        pgvector_url = server.get_uri("postgres").replace("postgresql://", "postgresql+psycopg://", 1)
    results: dict[str, Any] = {
        "size": args.size,
        "ops": args.ops,
        "clients": args.clients,
        "machine": machine_info(),  # CPU, cores, Python, load average, commit
        "variants": {},
    }
    for variant in variants:
        schema = f"mm_bench_{uuid.uuid4().hex[:8]}"
        config = config_for(variant, root, args.pg_url, pgvector_url, schema)
        started = time.perf_counter()
        load = machine_load()
        try:
            results["variants"][variant] = run_variant(config, args.size, args.ops, args.clients, args.seed)
        finally:
            if variant != "sqlite+faiss":
                drop_schema(config["storage"]["url"], schema)
        results["variants"][variant]["seconds"] = round(time.perf_counter() - started, 1)
        results["variants"][variant]["load_average"] = [load, machine_load()]
        print(f"{variant}: {json.dumps(results['variants'][variant])}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if pgvector_url is not None:
        server.cleanup()  # stop the private server before its folder goes
    shutil.rmtree(root, ignore_errors=True)
    table = markdown(results)
    args.out.with_suffix(".md").write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
