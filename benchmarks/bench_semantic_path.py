"""The semantic path against its floor, the encoder, side by side in one process (issue: semantic memory).

On the shipped defaults (MiniLM through ONNX Runtime, write-behind, FAISS, tantivy):

* ingest: the embedder's raw batch encode rate (sentences/s, the store's own embedder object,
  batches of ``embedder.batch_size``) vs ``remember_many`` into a fresh store until every memory
  is embedded and searchable (``flush``). Alternated, ``--runs`` times. Goal: ≥ 90 % of raw.
* at ``--memories`` stored: for each of ``--queries`` distinct LoCoMo questions, one raw
  single-query encode then one cold recall of the same question (result cache off, so the
  recall encodes the query itself). Goal: recall p50 ≤ 1.2 × encode p50 + 3 ms.
* the same recalls again: the query vector now comes from the embedding cache. Goal: p50 ≤ 3 ms.
* ``remember`` one at a time on that store (p50, p95), the background worker embedding meanwhile.
* ``--rss N``: in a child process, N memories stored, embedded and indexed with the defaults,
  then a few recalls: resident memory (VmRSS, VmHWM, anonymous vs file-backed). Then a second
  child opens that store as a user's next session would, loads the model and recalls 40
  questions: the steady-state figure. Goal: ≤ 400 MB at 100k.

Run: ``.venv/bin/python benchmarks/bench_semantic_path.py -o benchmarks/results/semantic-path.json``
(add ``--rss 100000`` for the memory figure; it embeds 100k texts: many minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_LOCOMO = Path(__file__).resolve().parents[2] / "shared/data/locomo/locomo10.json"
LOCOMO = Path(os.environ.get("MEMMIMIC_LOCOMO", DEFAULT_LOCOMO))


def texts_and_questions(n: int) -> tuple[list[str], list[str]]:
    from memmimic_core.bench.locomo import load_locomo

    data = load_locomo(LOCOMO)
    turns = [t.content for c in data.conversations for t in c.turns]
    texts = [
        turns[i % len(turns)] + (f" (copy {i // len(turns)})" if i >= len(turns) else "") for i in range(n)
    ]
    asked = list(dict.fromkeys(q.question for c in data.conversations for q in c.questions))
    return texts, asked


def pct(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q))


def rss_mb() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
            key, value = line.split(":")
            out[key] = int(value.split()[0]) / 1024
    return out


def memory_figures(status: dict[str, float]) -> dict[str, float]:
    """The figures reported from one :func:`rss_mb` reading."""
    return {
        "rss_mb": status["VmRSS"],
        "peak_rss_mb": status["VmHWM"],
        "anon_mb": status["RssAnon"],
        "file_mb": status["RssFile"],
    }


def measure_rss(n: int, data_dir: str) -> dict[str, Any]:
    from memmimic_core.engine import MemMimic

    texts, asked = texts_and_questions(n)
    started = time.perf_counter()
    with MemMimic({"data_dir": data_dir}) as m:
        for start in range(0, n, 5000):
            m.remember_many(texts[start : start + 5000])
            m.flush()
        ingest_s = time.perf_counter() - started
        for q in asked[:20]:
            m.recall(q)
        status = m.status()
        memory = rss_mb()
    return {
        "memories": n,
        "ingest_s": ingest_s,
        **memory_figures(memory),
        "vector_index": {k: status["vector_index"].get(k) for k in ("kind", "vectors", "lag")},
    }


def measure_reopen(data_dir: str) -> dict[str, Any]:
    """RSS of a new process on an existing store: opened, model loaded, 40 recalls."""
    stages: dict[str, dict[str, float]] = {"start": rss_mb()}
    from memmimic_core.engine import MemMimic

    _, asked = texts_and_questions(1)
    stages["imported"] = rss_mb()
    with MemMimic({"data_dir": data_dir}) as m:
        stages["opened"] = rss_mb()
        m.recall(asked[0], sources=("keyword",))
        stages["keyword recall"] = rss_mb()
        for q in asked[1:41]:
            m.recall(q)
        stages["model loaded, 40 recalls"] = rss_mb()
        vectors = m.status()["vector_index"].get("vectors")
    final = stages["model loaded, 40 recalls"]
    return {
        **memory_figures(final),
        "vectors": vectors,
        "stages": stages,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ingest", type=int, default=2000, help="memories per ingest run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--memories", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--remembers", type=int, default=300)
    ap.add_argument("--rss", type=int, default=0, help="also measure RSS with this many memories")
    ap.add_argument("--rss-child", type=str, help=argparse.SUPPRESS)
    ap.add_argument("--reopen-child", type=str, help=argparse.SUPPRESS)
    ap.add_argument("--rss-only", action="store_true", help="only the --rss figures")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    if args.rss_child:
        print(json.dumps(measure_rss(args.rss, args.rss_child)))
        return
    if args.reopen_child:
        print(json.dumps(measure_reopen(args.reopen_child)))
        return

    from memmimic_core.bench.speed_env import machine_info

    texts, asked = texts_and_questions(max(args.memories, args.ingest))
    result: dict[str, Any] = {"machine": machine_info(), "args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory(prefix="mm-sem-") as tmp:
        if not args.rss_only:
            measure_paths(args, texts, asked, tmp, result)
        if args.rss:
            for key, flag in (("rss", "--rss-child"), ("rss_reopen", "--reopen-child")):
                child = subprocess.run(
                    [sys.executable, __file__, "--rss", str(args.rss), flag, f"{tmp}/rss"],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                result[key] = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def measure_paths(
    args: argparse.Namespace, texts: list[str], asked: list[str], tmp: str, result: dict[str, Any]
) -> None:
    """Ingest vs raw encode, cold / cached-vector recall vs encode, and remember, into ``result``."""
    from memmimic_core.engine import MemMimic

    # ingest: raw encode vs remember_many (+ flush), alternated
    raw_rates, store_rates = [], []
    for run in range(args.runs):
        with MemMimic({"data_dir": f"{tmp}/ingest{run}"}) as m:
            embedder, batch = m._embedding.embedder, m.config.embedder.batch_size
            embedder.embed(texts[:batch])  # model loaded before either side is timed
            part = texts[: args.ingest]
            order = ("raw", "store") if run % 2 == 0 else ("store", "raw")
            for side in order:
                t0 = time.perf_counter()
                if side == "raw":
                    for i in range(0, len(part), batch):
                        embedder.embed(part[i : i + batch])
                    raw_rates.append(len(part) / (time.perf_counter() - t0))
                else:
                    m.remember_many(part)
                    m.flush()
                    store_rates.append(len(part) / (time.perf_counter() - t0))
    result["ingest"] = {
        "raw_encode_per_s": statistics.median(raw_rates),
        "remember_many_searchable_per_s": statistics.median(store_rates),
        "ratio": statistics.median(s / r for s, r in zip(store_rates, raw_rates, strict=True)),
        "runs": {"raw": raw_rates, "store": store_rates},
    }
    # the store at --memories, cache off so each recall runs the pipeline
    cfg = {"data_dir": f"{tmp}/big", "cache": {"backend": "none"}}
    with MemMimic(cfg) as m:
        t0 = time.perf_counter()
        for start in range(0, args.memories, 5000):
            m.remember_many(texts[start : start + 5000])
        m.flush()
        result["build_s"] = time.perf_counter() - t0
        embedder = m._embedding.embedder
        queries = asked[: args.queries]
        m.recall("warm the process up")
        enc, cold, cached = [], [], []
        for q in queries:
            t0 = time.perf_counter()
            embedder.embed([q])
            enc.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            m.recall(q)
            cold.append((time.perf_counter() - t0) * 1000)
        for q in queries:
            t0 = time.perf_counter()
            m.recall(q)
            cached.append((time.perf_counter() - t0) * 1000)
        rem = []
        for i in range(args.remembers):
            t0 = time.perf_counter()
            m.remember(f"a fresh note number {i} about the weekend plans")
            rem.append((time.perf_counter() - t0) * 1000)
        enc50, cold50 = pct(enc, 50), pct(cold, 50)
        result["query"] = {
            "memories": args.memories,
            "encode_p50_ms": enc50,
            "encode_p95_ms": pct(enc, 95),
            "recall_cold_p50_ms": cold50,
            "recall_cold_p95_ms": pct(cold, 95),
            "goal_ms": 1.2 * enc50 + 3,
            "recall_query_vector_cached_p50_ms": pct(cached, 50),
            "recall_query_vector_cached_p95_ms": pct(cached, 95),
        }
        result["remember"] = {"p50_ms": pct(rem, 50), "p95_ms": pct(rem, 95), "n": len(rem)}


if __name__ == "__main__":
    main()
