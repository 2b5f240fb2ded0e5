"""pgvector index ingest: rows/s of its sync paths, optionally side by side with another version.

Run: ``.venv/bin/python benchmarks/bench_pgvector_ingest.py [--size 3000] [--rounds 3]
[--baseline OLD_STORE.py]``. ``--baseline`` names a copy of an older
``plugins/memmimic_plugins/pgvector_index/store.py`` (e.g. ``git show REV:plugins/…/store.py >
/tmp/old_store.py``); both versions then run in every round, in alternating order, each on its
own schema of one private PostgreSQL 16 + pgvector (``pgserver``). Per run, on a fresh store:

* ``ingest``: ``--size`` 384-d vectors stored in batches of ``--batch``, the index synced after
  each (what the write-behind embedding worker does while memories pour in);
* ``incremental``: 50 more vectors, then one sync (HNSW inserts into the full table);
* ``unchanged``: 500 memories updated without touching their vectors, then one sync;
* ``reload``: the index dropped and loaded again from storage (first start of a host);
* ``search_ms``: median milliseconds of 59 searches (limit 10) before the reload.

Variants: the current version with its defaults (exact scans below ``hnsw_min_vectors``), the
current version with ``hnsw_min_vectors: 0`` (HNSW upkeep from the first vector, as before),
and the baseline. Prints medians over rounds (rows/s; ms for search_ms, where lower is better)
and the ratios to the baseline.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from memmimic_core.models import MemoryPatch, NewMemory
from memmimic_core.plugins import build_plugin_manager, collect_backends
from memmimic_core.protocols import BackendContext
from memmimic_plugins.pgvector_index import PgvectorIndex
from memmimic_plugins.pgvector_index import store as current_store

SCENARIOS = ("ingest", "incremental", "unchanged", "reload", "search_ms")


def load_store_module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("pgvector_store_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vectors(rng: np.random.Generator, n: int, dim: int = 384) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def run(
    module: Any, options: dict[str, Any], url: str, backends: Any, size: int, batch: int, seed: int
) -> dict[str, float]:
    """One fresh store and index of ``module``'s PgvectorStore; rows/s per scenario."""
    rng = np.random.default_rng(seed)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    context = BackendContext(data_dir=Path(tempfile.mkdtemp(prefix="mm-bench-pgv-")))
    storage = backends["storage"].create("postgresql", {"url": url, "schema": schema}, context, "storage")
    context.storage = storage
    index = module.PgvectorStore(url, schema, PgvectorIndex.Options(auto_sync=False, **options), storage)
    out: dict[str, float] = {}

    def add(n: int) -> list[str]:
        items = [NewMemory(namespace="ns", content="m", embedding=v, embedder="fp") for v in vectors(rng, n)]
        return [m.id for m in storage.add(items)]

    try:
        ids: list[str] = []
        spent = 0.0
        for start in range(0, size, batch):
            ids += add(min(batch, size - start))
            began = time.perf_counter()
            index.sync()
            spent += time.perf_counter() - began
        out["ingest"] = size / spent
        add(50)
        began = time.perf_counter()
        index.sync()
        out["incremental"] = 50 / (time.perf_counter() - began)
        for memory_id in ids[:500]:
            storage.update(memory_id, "ns", MemoryPatch(importance=0.9))
        began = time.perf_counter()
        index.sync()
        out["unchanged"] = 500 / (time.perf_counter() - began)
        queries = vectors(rng, 60)
        index.search("ns", queries[0], 10)
        times = []
        for query in queries[1:]:
            began = time.perf_counter()
            index.search("ns", query, 10)
            times.append(time.perf_counter() - began)
        out["search_ms"] = statistics.median(times) * 1000
        index.drop()
        began = time.perf_counter()
        loaded = index.sync()
        out["reload"] = loaded / (time.perf_counter() - began)
    finally:
        index.close()
        storage.drop_schema()
        storage.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="an older pgvector_index/store.py to compare with")
    args = parser.parse_args()

    import pgserver

    root = Path(tempfile.mkdtemp(prefix="mm-bench-pgserver-"))
    server = pgserver.get_server(root / "data", cleanup_mode="delete")
    url = server.get_uri("postgres").replace("postgresql://", "postgresql+psycopg://", 1)
    backends = collect_backends(build_plugin_manager())
    variants: dict[str, tuple[Any, dict[str, Any]]] = {
        "current": (current_store, {}),
        "hnsw_min_vectors=0": (current_store, {"hnsw_min_vectors": 0}),
    }
    if args.baseline is not None:
        variants = {"baseline": (load_store_module(args.baseline), {}), **variants}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    loads = []
    for round_ in range(args.rounds):
        order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
        for name in order:
            module, options = variants[name]
            results[name].append(run(module, options, url, backends, args.size, args.batch, seed=round_))
            loads.append(os.getloadavg()[0])
            print(
                f"round {round_ + 1} {name}: "
                + ", ".join(f"{k} {v:.1f}" for k, v in results[name][-1].items())
            )
    print(
        f"\n{args.size} vectors of 384 dims, batches of {args.batch}; medians of {args.rounds} rounds "
        f"(rows/s); load average {min(loads):.1f}-{max(loads):.1f}\n"
    )
    names = list(variants)
    others = [n for n in names if n != "baseline"]
    ratios = [f"{n} / baseline" for n in others] if "baseline" in names else []
    print("| scenario | " + " | ".join(names + ratios) + " |")
    print("|---|" + "---:|" * (len(names) + len(ratios)))
    for scenario in SCENARIOS:
        medians = {n: statistics.median(r[scenario] for r in results[n]) for n in names}
        cells = [f"{medians[n]:.1f}" if scenario == "search_ms" else f"{medians[n]:.0f}" for n in names]
        if ratios:
            cells += [f"{medians[n] / medians['baseline']:.1f}x" for n in others]
        print(f"| {scenario} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
