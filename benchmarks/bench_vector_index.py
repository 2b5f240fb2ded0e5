"""Vector index benchmark: FAISS flat vs HNSW vs IVF vs the ``numpy`` index, through the plugins.

One SQLite store holds ``--size`` memories (windows of 8–30 consecutive LoCoMo words) with
``hashing``-embedder vectors (dimension 384, the MiniLM size: the embedder that needs no
model, so a million vectors take seconds, not hours); each
variant then runs in its own child process (so RSS is its own), one after the other in one
run, building its index from that storage exactly as the engine does (``sync()`` on open):

* build: seconds for the first ``sync()`` (reading every embedding from SQLite + indexing);
* reopen: seconds for a new instance to load the saved index from disk (FAISS only);
* search latency p50 / p95 over ``--queries`` queries, index only (``auto_sync: false``);
* recall@10 against exact search (faiss flat at float32) for two query sets: LoCoMo questions (hashing
  embedded: the usual case) and uniformly random unit vectors (the worst case for
  approximate indexes: no neighbour stands out);
* variants that share settings with the one before (``ef_search``, ``nprobe``) load its saved
  index, so their "first sync" is a load, not a build;
* RSS before building (storage open) and after building, in MB.

Run::

    .venv/bin/python benchmarks/bench_vector_index.py --size 100000 --out benchmarks/results/vector_index.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
FINGERPRINT = "bench:hashing-384"
LOCOMO = Path(
    os.environ.get(
        "MEMMIMIC_LOCOMO", Path(__file__).resolve().parents[2] / "shared/data/locomo/locomo10.json"
    )
)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "numpy": ("numpy", {}),
    "faiss-flat-fp32": ("faiss", {"kind": "flat", "precision": "float32"}),
    "faiss-flat": ("faiss", {"kind": "flat"}),
    "faiss-hnsw-fp32": ("faiss", {"kind": "hnsw", "precision": "float32"}),
    "faiss-hnsw": ("faiss", {"kind": "hnsw"}),
    "faiss-hnsw-ef128": ("faiss", {"kind": "hnsw", "ef_search": 128}),
    "faiss-ivf": ("faiss", {"kind": "ivf"}),
    "faiss-ivf-nprobe64": ("faiss", {"kind": "ivf", "nprobe": 64}),
}


def rss_mb() -> float:
    """Resident set size of this process in MB."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def unit(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32."""
    matrix = matrix.astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def corpus_words(path: Path) -> list[str]:
    """Every word of the LoCoMo turns, in order."""
    words: list[str] = []
    for conv in json.loads(path.read_text(encoding="utf-8")):
        talk = conv["conversation"]
        for key in talk:
            if key.startswith("session_") and isinstance(talk[key], list):
                for turn in talk[key]:
                    words.extend(str(turn["text"]).split())
    return words


def dataset_texts(path: Path, size: int) -> list[str]:
    """``size`` synthetic memories: windows of 8–30 consecutive LoCoMo words (deterministic)."""
    words = corpus_words(path)
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(words) - 30, size)
    lengths = rng.integers(8, 31, size)
    return [" ".join(words[a : a + n]) for a, n in zip(starts.tolist(), lengths.tolist(), strict=True)]


def embed(texts: list[str]) -> np.ndarray:
    """Vectors of the ``hashing`` embedder (dimension 384)."""
    from memmimic_plugins.hashing import HashingEmbedder

    embedder = HashingEmbedder(HashingEmbedder.Options(dimension=DIM), None)
    return np.vstack([embedder.embed(texts[i : i + 10_000]) for i in range(0, len(texts), 10_000)])


def queries(path: Path, count: int) -> dict[str, np.ndarray]:
    """LoCoMo questions (hashing-embedded) and uniformly random unit vectors."""
    questions = [qa["question"] for conv in json.loads(path.read_text(encoding="utf-8")) for qa in conv["qa"]]
    rng = np.random.default_rng(1)
    picked = [str(questions[i]) for i in rng.choice(len(questions), count, replace=False)]
    return {"questions": embed(picked), "random": unit(rng.standard_normal((count, DIM)))}


def open_store(data_dir: Path) -> Any:
    """The sqlite storage in ``data_dir`` and its context, through the registry."""
    from memmimic_core.plugins import build_plugin_manager, collect_backends
    from memmimic_core.protocols import BackendContext

    backends = collect_backends(build_plugin_manager())
    context = BackendContext(data_dir=data_dir, store_id="bench")
    context.storage = backends["storage"].create("sqlite", {}, context, "storage")
    return backends, context


def fill(data_dir: Path, size: int, locomo: Path) -> float:
    """Store ``size`` memories with hashing-embedder vectors; return seconds taken."""
    from memmimic_core.models import NewMemory

    _, context = open_store(data_dir)
    texts = dataset_texts(locomo, size)
    started = time.perf_counter()
    for chunk_start in range(0, size, 10_000):
        chunk = texts[chunk_start : chunk_start + 10_000]
        vectors = embed(chunk)
        context.storage.add(
            [
                NewMemory(namespace="bench", content=text, embedding=v, embedder=FINGERPRINT)
                for text, v in zip(chunk, vectors, strict=True)
            ]
        )
    context.storage.close()
    return time.perf_counter() - started


def child(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    """Build one index, search, and report."""
    backend, options = VARIANTS[variant]
    options = {**options, "auto_sync": False}
    if backend == "faiss":
        suffix = "-fp32" if options.get("precision") == "float32" else ""  # the default: float16
        options["path"] = str(args.data_dir / f"faiss-{options['kind']}{suffix}")
    backends, context = open_store(args.data_dir)
    sets = queries(args.locomo, args.queries)
    rss_before = rss_mb()
    index = backends["vector_index"].create(backend, options, context, "vector_index")
    started = time.perf_counter()
    index.sync()
    build_s = time.perf_counter() - started
    rss_after = rss_mb()
    figures: dict[str, Any] = {"variant": variant, "build_s": build_s, "rss_before_mb": rss_before}
    figures["rss_after_mb"] = rss_after
    figures["stats"] = {k: v for k, v in index.stats().items() if k in ("namespaces", "last_rebuild_reason")}
    for name, matrix in sets.items():
        latencies, top = [], []
        for vector in matrix:
            started = time.perf_counter()
            found = index.search("bench", vector, 10)
            latencies.append((time.perf_counter() - started) * 1000)
            top.append([c.memory_id for c in found])
        figures[name] = {
            "p50_ms": float(np.percentile(latencies, 50)),
            "p95_ms": float(np.percentile(latencies, 95)),
            "top": top,
        }
    if backend == "faiss":
        started = time.perf_counter()
        index.close()
        figures["save_s"] = time.perf_counter() - started
        again = backends["vector_index"].create(backend, options, context, "vector_index")
        started = time.perf_counter()
        again.sync()
        figures["reopen_s"] = time.perf_counter() - started
        figures["reopen_rebuilt"] = again.stats()["last_rebuild_reason"]
        again.close()
    return figures


def main() -> None:
    """Fill a store, run every variant in a child process, print a markdown table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--locomo", type=Path, default=LOCOMO)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-vectors-") as tmp:
        data_dir = Path(tmp)
        fill_s = fill(data_dir, args.size, args.locomo)
        results: dict[str, dict[str, Any]] = {}
        for variant in args.variants.split(","):
            command = [sys.executable, __file__, "--child", variant, "--data-dir", str(data_dir)]
            command += [
                "--size",
                str(args.size),
                "--queries",
                str(args.queries),
                "--locomo",
                str(args.locomo),
            ]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            results[variant] = json.loads(done.stdout.splitlines()[-1])
            print(f"done {variant}: build {results[variant]['build_s']:.1f}s", file=sys.stderr)
    exact = results.get("faiss-flat-fp32") or results.get("numpy") or results["faiss-flat"]
    for figures in results.values():
        for name in ("questions", "random"):
            hits = [
                len(set(got) & set(want)) / 10
                for got, want in zip(figures[name]["top"], exact[name]["top"], strict=True)
            ]
            figures[name]["recall_at_10"] = float(np.mean(hits))
    print(f"{args.size} vectors of dimension {DIM}, {args.queries} queries per set, {os.cpu_count()} CPUs")
    print(
        "| variant | first sync s | reopen s | p50 ms | p95 ms | recall@10 questions | recall@10 random "
        "| RSS before → after MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for variant, f in results.items():
        reopen = f"{f['reopen_s']:.2f}" if "reopen_s" in f else "–"
        print(
            f"| {variant} | {f['build_s']:.1f} | {reopen} | {f['questions']['p50_ms']:.2f} "
            f"| {f['questions']['p95_ms']:.2f} "
            f"| {f['questions']['recall_at_10']:.3f} | {f['random']['recall_at_10']:.3f} "
            f"| {f['rss_before_mb']:.0f} → {f['rss_after_mb']:.0f} |"
        )
    for figures in results.values():
        for name in ("questions", "random"):
            figures[name].pop("top")
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "size": args.size,
        "load_average_after": os.getloadavg(),
        "dimension": DIM,
        "queries": args.queries,
        "fill_s": fill_s,
        "variants": results,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
