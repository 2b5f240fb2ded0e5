"""Where the write path's time goes: ``remember_many`` + ``flush`` of LoCoMo turns, call by call.

The semantic issue asks ``remember_many`` until searchable to reach 90 % of the raw encode rate,
so everything besides the encoder must fit in a tenth of it. This script times that remainder:
for ``--runs`` fresh stores it stores ``--memories`` LoCoMo turns with ``remember_many`` then
``flush`` (embedded, classified, both indexes synced), wrapping the storage, index, classifier
and embedder calls of that one engine with timers, and reports per call the median seconds
over the runs, the wall time (``store``), the embedder's share (``encode``) and what is left
(``overhead``). The embedder's raw rate on the same texts, in batches of ``embedder.batch_size``,
is measured in each run before the store side (``raw``). ``cpu.*`` are the process's CPU
seconds (all threads) on each side and their difference: work done in helper threads, such as
a BLAS pool spinning beside the encoder, shows there and not in the per-call timers.

``--embedder hashing`` takes the encoder out (the hashing embedder costs ~0.07 s per 2,000): the
overhead is then the write path's own Python and SQLite time, which is what moves between
commits and what carries over between CPUs (the int8 encoder's speed differs 7x across the
machines this project runs on; the overhead scales like the interpreter). Compare two commits
side by side by running this file twice with ``PYTHONPATH=<checkout>/src:<checkout>/plugins``.

Run: ``.venv/bin/python benchmarks/bench_write_path.py --embedder hashing --runs 5``
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_semantic_path import texts_and_questions

STORAGE_CALLS = ("add", "unembedded", "set_embeddings", "get_by_rowid", "vectors_by_rowid", "changes_since")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memories", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--embedder", default=None, help="embedder backend (default: the shipped default)")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()

    import memmimic_core.embedding as embedding_module
    from memmimic_core.bench.speed_env import machine_info
    from memmimic_core.engine import MemMimic

    texts, _ = texts_and_questions(args.memories)
    spent: dict[str, float] = defaultdict(float)

    def timed(obj: Any, name: str, label: str) -> None:
        inner = getattr(obj, name, None)
        if inner is None:  # an older checkout without this call
            return

        @functools.wraps(inner)
        def wrapper(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                spent[label] += time.perf_counter() - t0

        setattr(obj, name, wrapper)

    trim = embedding_module.release_free_memory

    def timed_trim() -> None:
        t0 = time.perf_counter()
        trim()
        spent["malloc_trim"] += time.perf_counter() - t0

    embedding_module.release_free_memory = timed_trim  # type: ignore[assignment]
    runs: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.runs):
        spent.clear()
        config: dict[str, Any] = {"embedder": {"backend": args.embedder}} if args.embedder else {}
        with (
            tempfile.TemporaryDirectory(prefix="mm-write-") as tmp,
            MemMimic({"data_dir": tmp, **config}) as m,
        ):
            embedder, batch = m._embedding.embedder, m.config.embedder.batch_size
            embedder.embed(texts[:batch])  # model loaded before anything is timed
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(0, len(texts), batch):
                embedder.embed(texts[i : i + batch])
            raw, raw_cpu = time.perf_counter() - t0, time.process_time() - c0
            for name in STORAGE_CALLS:
                timed(m.storage, name, f"storage.{name}")
            timed(embedder, "embed", "encode")
            timed(m.classifier, "classify_embedded", "classify")
            timed(m.text_index, "sync", "text_index.sync")
            timed(m.vector_index, "sync", "vector_index.sync")
            t0, c0 = time.perf_counter(), time.process_time()
            m.remember_many(texts)
            stored = time.perf_counter() - t0
            m.flush()
            store, store_cpu = time.perf_counter() - t0, time.process_time() - c0
            within = dict(spent)  # closing commits the text index: not part of the figure
        for label, seconds in within.items():
            runs[label].append(seconds)
        runs["remember_many"].append(stored)
        runs["store"].append(store)
        runs["raw"].append(raw)
        runs["cpu.raw"].append(raw_cpu)  # every thread's CPU time, helper pools included
        runs["cpu.store"].append(store_cpu)
        runs["cpu.extra"].append(store_cpu - raw_cpu)
        runs["overhead"].append(store - within["encode"])
        runs["ratio"].append(raw / store)
    medians = {label: statistics.median(values) for label, values in sorted(runs.items())}
    for label, median in medians.items():
        print(f"{label:24s} {median:8.3f}   runs {' '.join(f'{v:.3f}' for v in runs[label])}")
    if args.output:
        result = {
            "machine": machine_info(),
            "args": vars(args) | {"output": str(args.output)},
            "median_s": medians,
            "runs_s": runs,
        }
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
