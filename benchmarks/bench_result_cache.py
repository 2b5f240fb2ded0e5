"""Recall through the result cache at 10k memories: cold vs. cached, metrics on vs. off, one run.

One store of ``--memories`` LoCoMo turns (cycled), opened twice on the same data_dir: once with
metrics on, once with ``performance.metrics: false``, both with the default tiered cache. For each
of ``--queries`` LoCoMo questions: a cold recall (result-cache miss, full pipeline), then
``--hits`` cached recalls of the same question alternating between the two instances.
Reported: p50 / p95 of cold and cached recall, and the cached p50 with metrics on vs. off.

Run: ``.venv/bin/python benchmarks/bench_result_cache.py`` (``--hashing`` skips the model:
the cached path never encodes, so only the cold column depends on the embedder).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_LOCOMO = Path(__file__).resolve().parents[2] / "shared/data/locomo/locomo10.json"
LOCOMO = Path(os.environ.get("MEMMIMIC_LOCOMO", DEFAULT_LOCOMO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memories", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--hits", type=int, default=20, help="cached recalls per query and instance")
    ap.add_argument("--hashing", action="store_true", help="hashing embedder instead of MiniLM")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()

    from memmimic_core.bench.locomo import load_locomo
    from memmimic_core.bench.speed_env import machine_info
    from memmimic_core.engine import MemMimic

    data = load_locomo(LOCOMO)
    turns = [t.content for c in data.conversations for t in c.turns]
    texts = [
        turns[i % len(turns)] + (f" (copy {i // len(turns)})" if i >= len(turns) else "")
        for i in range(args.memories)
    ]
    asked = list(dict.fromkeys(q.question for c in data.conversations for q in c.questions))[: args.queries]
    extra: dict[str, Any] = {"embedder": {"backend": "hashing"}} if args.hashing else {}
    with tempfile.TemporaryDirectory(prefix="mm-rc-") as tmp:
        base = {**extra, "data_dir": tmp}
        with MemMimic(base) as m:
            for start in range(0, len(texts), 5000):
                m.remember_many(texts[start : start + 5000])
            m.flush()
        on = MemMimic(base)
        off = MemMimic({**base, "performance": {"metrics": False}})
        try:
            for store in (on, off):
                store.recall("warm up the process")
            cold, cached = [], {"on": [], "off": []}
            for q in asked:
                t0 = time.perf_counter_ns()
                on.recall(q)
                cold.append(time.perf_counter_ns() - t0)
                off.recall(q)  # its own first call: a disk-tier hit, promoted; not measured
                pair = (("on", on), ("off", off))
                for i in range(args.hits):
                    for side, store in pair if i % 2 == 0 else pair[::-1]:
                        t0 = time.perf_counter_ns()
                        store.recall(q)
                        cached[side].append(time.perf_counter_ns() - t0)
            hit_rate = on.status()["cache"].get("hit_rate")
        finally:
            on.close()
            off.close()

    def ms(samples: list[int], q: float) -> float:
        return float(np.percentile(samples, q)) / 1e6

    result = {
        "memories": args.memories,
        "embedder": "hashing" if args.hashing else "minilm (default)",
        "cold_p50_ms": ms(cold, 50),
        "cold_p95_ms": ms(cold, 95),
        "cached_p50_ms": ms(cached["on"], 50),
        "cached_p95_ms": ms(cached["on"], 95),
        "cached_p50_ms_metrics_off": ms(cached["off"], 50),
        "metrics_overhead_p50_us": (ms(cached["on"], 50) - ms(cached["off"], 50)) * 1000,
        "cache_hit_rate_metrics_on_instance": hit_rate,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))
    if args.output:
        payload = {**result, "machine": machine_info(), "args": vars(args)}
        args.output.write_text(json.dumps(payload, default=str))


if __name__ == "__main__":
    main()
