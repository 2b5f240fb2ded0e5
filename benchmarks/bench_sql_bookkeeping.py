"""The SQL storage's bookkeeping calls side by side: change token, change-sequence reads, pool metering.

Run: ``.venv/bin/python benchmarks/bench_sql_bookkeeping.py`` (``--rounds``, ``--number``).
A SQLite store of 1000 memories; every variant runs in each round, rounds interleaved, and
the median over rounds is printed (µs per call) with the rounds themselves.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

from memmimic_core.models import NewMemory
from memmimic_core.protocols import BackendContext
from memmimic_plugins.sql.sqlite import SqliteStorage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=2000, help="calls per variant and round")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mm-bench-sql-"))
    storage = SqliteStorage(SqliteStorage.Options(path=folder / "bench.db"), BackendContext(data_dir=folder))
    storage.add([NewMemory(namespace="ns", content=f"memory number {i}") for i in range(1000)])
    meter = storage.store.pool_meter
    variants: dict[str, Callable[[], object]] = {
        "change_token()": storage.change_token,
        "last_seq()": storage.last_seq,
        'generation("ns")': lambda: storage.generation("ns"),
        "count() (one pooled read)": lambda: storage.count("ns"),
        "pool meter: one checkout event": meter._on_checkout,
        "pool meter: one wait recorded": lambda: meter.waited(0.00002),
    }
    rounds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, call in variants.items():
            rounds[name].append(timeit.timeit(call, number=args.number) / args.number * 1e6)
    print(f"load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds of {args.number} calls\n")
    print("| call | µs per call (median) | rounds |")
    print("|---|---:|---|")
    for name, values in rounds.items():
        print(f"| `{name}` | {statistics.median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} |")
    storage.close()


if __name__ == "__main__":
    main()
