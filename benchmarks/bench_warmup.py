"""Predictive warm-up, measured: the first queries of a freshly started process, with and without it.

A first process answers a Zipf-distributed stream of LoCoMo questions (the query log fills), then
a few memories are written (every cached result is now stale). Then fresh processes start on
that store, alternately with ``performance.warmup.enabled`` off and on, wait ``--idle`` seconds
(a server starting before its first request), and answer the next ``--first`` queries of the
same stream. Reported per side: median over runs of the p50 / p95 of those first queries, the
result-cache hit rate among them, the first query's latency, and how long warm-up took.

Run: ``.venv/bin/python benchmarks/bench_warmup.py`` (defaults: the shipped config, MiniLM;
``--quick`` uses the hashing embedder). Prints Markdown and writes JSON with ``-o``.
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

SESSION = r"""
import json, sys, time
from memmimic_core.engine import MemMimic
cfg, queries, idle = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
t0 = time.perf_counter()
m = MemMimic(cfg)
opened = time.perf_counter() - t0
time.sleep(idle)
lat = []
hits0 = m.status()["cache"].get("hits", 0)
for q in queries:
    s = time.perf_counter(); m.recall(q); lat.append((time.perf_counter() - s) * 1000)
status = m.status()
m.close()
print(json.dumps({"open_s": opened, "latencies_ms": lat, "hits": status["cache"].get("hits", 0) - hits0,
                  "warmup": status["warmup"]}))
"""


def zipf_stream(queries: list[str], n: int, seed: int, s: float = 1.1) -> list[str]:
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, len(queries) + 1, dtype=float)
    p = ranks**-s
    p /= p.sum()
    return [queries[i] for i in rng.choice(len(queries), size=n, p=p)]


def run_session(cfg: dict[str, Any], queries: list[str], idle: float) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", SESSION, json.dumps(cfg), json.dumps(queries), str(idle)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memories", type=int, default=2000)
    ap.add_argument("--distinct", type=int, default=200, help="distinct questions in the stream")
    ap.add_argument("--history", type=int, default=400, help="queries answered before the restart")
    ap.add_argument("--first", type=int, default=50, help="queries measured after the restart")
    ap.add_argument("--warm", type=int, default=20, help="performance.warmup.queries")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds between open and first query")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="hashing embedder, small store")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()

    from memmimic_core.bench.locomo import load_locomo
    from memmimic_core.bench.speed_env import machine_info
    from memmimic_core.engine import MemMimic

    data = load_locomo(LOCOMO)
    turns = [t.content for c in data.conversations for t in c.turns][: args.memories]
    asked = list(dict.fromkeys(q.question for c in data.conversations for q in c.questions))[: args.distinct]
    stream = zipf_stream(asked, args.history + args.first, seed=11)
    base: dict[str, Any] = {"embedder": {"backend": "hashing"}} if args.quick else {}
    if args.quick:
        args.idle = min(args.idle, 1.0)
    results: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="mm-warmup-") as tmp:
        cfg = {**base, "data_dir": str(Path(tmp) / "store")}
        with MemMimic(cfg) as m:
            m.remember_many(turns)
            m.flush()
            for q in stream[: args.history]:
                m.recall(q)
        for run in range(args.runs):
            for side in ("off", "on") if run % 2 == 0 else ("on", "off"):
                # every cached result (disk tier too) goes stale, as after a day's use
                with MemMimic(cfg) as m:
                    m.remember_many([f"note written between sessions {run}.{side}.{i}" for i in range(5)])
                    m.flush()
                # the "off" side does not log; the "on" side's own queries join the log, as in real use
                perf = {"warmup": {"enabled": side == "on", "queries": args.warm, "log": side == "on"}}
                session = run_session({**cfg, "performance": perf}, stream[args.history :], args.idle)
                results[side].append(session)

    def med(side: str, fn: Any) -> float:
        return float(statistics.median(fn(r) for r in results[side]))

    rows = []
    for side in ("off", "on"):
        rows.append(
            {
                "warmup": side,
                "first_query_ms": med(side, lambda r: r["latencies_ms"][0]),
                "p50_ms": med(side, lambda r: float(np.percentile(r["latencies_ms"], 50))),
                "p95_ms": med(side, lambda r: float(np.percentile(r["latencies_ms"], 95))),
                "hit_rate": med(side, lambda r: r["hits"] / len(r["latencies_ms"])),
                "warmup_s": med(side, lambda r: r["warmup"].get("seconds") or 0.0),
            }
        )
    print(f"\n{args.first} first queries after a restart, {args.memories} memories, {args.runs} runs\n")
    print("| warm-up | first query ms | p50 ms | p95 ms | result-cache hit rate | warm-up took s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['warmup']} | {r['first_query_ms']:.1f} | {r['p50_ms']:.2f} | {r['p95_ms']:.1f} "
            f"| {r['hit_rate']:.2f} | {r['warmup_s']:.2f} |"
        )
    if args.output:
        payload = {"args": vars(args) | {"output": str(args.output)}, "machine": machine_info(), "rows": rows}
        payload["runs"] = results
        args.output.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"\n(took {time.perf_counter() - started:.0f} s)")
