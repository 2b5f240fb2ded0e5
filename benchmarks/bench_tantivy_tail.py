"""The tantivy index's in-memory tail: what a read right after a write costs, and the tail's price.

Two measurements at N documents (synthetic ~60-word documents drawn from LoCoMo's word
frequencies, LoCoMo questions as queries, top 10), through the registered backends:

* (a) ``sync()`` + ``search()`` right after one ``storage.add``: the tail (default options)
  against the old behaviour (``max_tail: 0``: every sync that finds a change commits, as before
  the tail existed). Two stores of the same documents, one per variant, written to
  alternately in the same run, so both see the same machine load.
* (b) ``search()`` p50 with 0, 100 and 1,000 memories in the tail (committer held off), then
  once more after committing them.

Each repetition builds fresh stores; the figures are medians over repetitions of each
repetition's median. Run::

    .venv/bin/python benchmarks/bench_tantivy_tail.py --docs 10000 --repeats 5 \
        --out benchmarks/results/tantivy-tail.json
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_keyword import LOCOMO, open_index, open_store, word_model
from memmimic_core.models import NewMemory, TextQuery
from memmimic_core.protocols import Storage, TextIndex

HOLD = {"commit_interval_ms": 3_600_000, "max_tail": 100_000}  # (b): no commit while measuring


def fill(storage: Storage, docs: list[str]) -> None:
    """Store ``docs`` in batches."""
    for start in range(0, len(docs), 2_000):
        storage.add([NewMemory(namespace="bench", content=d) for d in docs[start : start + 2_000]])


def read_after_write(
    stores: dict[str, tuple[Storage, TextIndex]], new_docs: list[str], queries: list[str]
) -> dict[str, list[float]]:
    """Per variant, the ms of sync + search right after each single write (alternating)."""
    times: dict[str, list[float]] = {name: [] for name in stores}
    for i, (doc, query) in enumerate(zip(new_docs, queries, strict=False)):
        order = list(stores.items()) if i % 2 == 0 else list(reversed(stores.items()))
        for name, (storage, index) in order:
            storage.add([NewMemory(namespace="bench", content=doc)])
            started = time.perf_counter()
            index.sync()
            index.search("bench", TextQuery(text=query), 10)
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def search_p50(index: TextIndex, queries: list[str]) -> float:
    """The median ms of one search (the index is synced first, outside the timing)."""
    index.sync()
    for query in queries[:5]:  # warm
        index.search("bench", TextQuery(text=query), 10)
    times = []
    for query in queries:
        started = time.perf_counter()
        index.search("bench", TextQuery(text=query), 10)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def one_repeat(
    size: int, words: list[str], weights: list[int], queries: list[str], seed: int
) -> dict[str, Any]:
    """Build the stores and measure (a) and (b) once."""
    rng = random.Random(seed)

    def make_docs(n: int) -> list[str]:
        return [" ".join(rng.choices(words, weights, k=rng.randint(45, 75))) for _ in range(n)]

    base = make_docs(size)
    extra = make_docs(1_000)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-tail-") as tmp:
        stores: dict[str, tuple[Storage, TextIndex]] = {}
        for name, options in (("tail", {}), ("commit_on_read", {"max_tail": 0})):
            storage, context = open_store(Path(tmp) / name)
            fill(storage, base)
            stores[name] = (storage, open_index("tantivy", context, options))  # catches up on open
        times = read_after_write(stores, extra[:200], queries)
        out["read_after_write_p50_ms"] = {name: statistics.median(t) for name, t in times.items()}
        out["read_after_write_p95_ms"] = {
            name: statistics.quantiles(t, n=20)[-1] for name, t in times.items()
        }
        for storage, index in stores.values():
            index.close()
            storage.close()

        storage, context = open_store(Path(tmp) / "sizes")
        fill(storage, base)
        index = open_index("tantivy", context, HOLD)
        p50: dict[str, float] = {"0": search_p50(index, queries)}
        added = 0
        for tail_size in (100, 1_000):
            fill(storage, extra[added:tail_size])
            added = tail_size
            index.sync()
            assert index.stats()["tail_documents"] == tail_size
            p50[str(tail_size)] = search_p50(index, queries)
        index.commit()  # type: ignore[attr-defined]
        assert index.stats()["tail_documents"] == 0
        p50["0 after committing the 1000"] = search_p50(index, queries)
        out["search_p50_ms_by_tail_size"] = p50
        index.close()
        storage.close()
    return out


def median_of(reps: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Per variant, the median over repetitions."""
    return {name: statistics.median(r[key][name] for r in reps) for name in reps[0][key]}


def main() -> None:
    """Parse arguments, run, print markdown, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locomo", type=Path, default=LOCOMO)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/tantivy-tail.json"))
    args = parser.parse_args()
    words, weights, questions = word_model(args.locomo)
    queries = random.Random(args.seed).sample(questions, min(args.queries, len(questions)))
    reps = [one_repeat(args.docs, words, weights, queries, args.seed + i) for i in range(args.repeats)]
    report = {
        "documents": args.docs,
        "repeats": args.repeats,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "read_after_write_p50_ms": median_of(reps, "read_after_write_p50_ms"),
        "read_after_write_p95_ms": median_of(reps, "read_after_write_p95_ms"),
        "search_p50_ms_by_tail_size": median_of(reps, "search_p50_ms_by_tail_size"),
        "runs": reps,
    }
    raw, p95 = report["read_after_write_p50_ms"], report["read_after_write_p95_ms"]
    print(f"{args.docs:,} documents, medians of {args.repeats} repetitions\n")
    print("| sync + search right after one write | p50 ms | p95 ms |\n|---|---|---|")
    old = "commit_on_read"
    print(f"| commit on the read path (max_tail: 0) | {raw[old]:.2f} | {p95[old]:.2f} |")
    print(f"| tail (defaults) | {raw['tail']:.2f} | {p95['tail']:.2f} |\n")
    print("| memories in the tail | search p50 ms |\n|---|---|")
    for size, value in report["search_p50_ms_by_tail_size"].items():
        print(f"| {size} | {value:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
