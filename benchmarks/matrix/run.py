"""Run benchmark-matrix environments: what each tox ``bench-*`` / ``smoke-*`` env calls.

    python benchmarks/matrix/run.py bench-sqlite-tantivy-faissflat-minilm-tiered
    python benchmarks/matrix/run.py --smoke        # every smoke combination (CI), then nothing else
    python benchmarks/matrix/run.py --bench        # every bench combination
    python benchmarks/matrix/run.py concurrency    # 32 clients x 60 s on the defaults, threads then processes

An env name is ``smoke-<combination>`` or ``bench-<combination>``; the combination is a YAML file
in this folder. Each (combination, size) runs ``memmimic bench-speed`` in its own process and
writes ``benchmarks/results/<smoke|raw>/<combination>-<size>.json``.

Environment:
``MEMMIMIC_BENCH_MEMORIES``  sizes of the bench envs, comma-separated (default ``1000,10000``)
``MEMMIMIC_BENCH_CLIENTS``   client counts of the mixed workload (default ``1,4,10,32``)
``MEMMIMIC_BENCH_REPEATS``   runs per figure (default 3)
``MEMMIMIC_BENCH_INGEST_REPEATS``  ingest runs (default: the repeats; each builds a whole store)
``MEMMIMIC_BENCH_SKIP_EXISTING``   1: keep a result JSON that already exists (resume a matrix)
``MEMMIMIC_LOCOMO``          LoCoMo JSON used as the bench corpus (default: synthetic text)
``MEMMIMIC_BENCH_OUT``       results folder (default ``benchmarks/results``)

The ``concurrency`` env (the issue's goal: 32 clients for 60 s at 0 errors) runs the mixed
workload (80 % recall, 20 % remember) once per mode and writes
``benchmarks/results/concurrency/<combination>-<mode>-<clients>x<seconds>s.json``; it prints
ops/s, p50 / p95 and the errors, and exits 1 when any operation failed. Its knobs:
``MEMMIMIC_BENCH_CONCURRENCY_COMBINATION`` (default: the defaults,
``sqlite-tantivy-faissflat-minilm-tiered``), ``..._CLIENTS`` (32), ``..._SECONDS`` (60),
``..._MODES`` (``threads,processes``), ``..._MEMORIES`` (store size, 1000), ``..._REPEATS`` (1);
``MEMMIMIC_LOCOMO`` applies too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# the smoke matrix: model-free, 1k memories, one run each; a minute or two in all
SMOKE = (
    "sqlite-storage-numpy-hashing-tiered",
    "sqlite-storage-numpy-hashing-none",
    "sqlite-tantivy-numpy-hashing-tiered",
    "sqlite-tantivy-faisshnsw-hashing-tiered",
    "postgresql-storage-numpy-hashing-tiered",
)
SMOKE_ARGS = ["--repeats", "1", "--queries", "10", "--gets", "50", "--clients", "1,10", "--duration", "1"]


def combinations() -> list[str]:
    """Every combination with a YAML file here."""
    return sorted(p.stem for p in HERE.glob("*.yaml"))


def memmimic() -> str:
    """The ``memmimic`` console script next to this Python (the project's .venv under tox)."""
    exe = Path(sys.executable).parent / "memmimic"
    return str(exe) if exe.exists() else "memmimic"


def run_env(env: str, extra: list[str]) -> int:
    """Run one env; return the worst exit code of its runs."""
    kind, _, combo = env.partition("-")
    if kind not in ("smoke", "bench") or combo not in combinations():
        print(f"error: unknown env {env!r}; known combinations: {', '.join(combinations())}", file=sys.stderr)
        return 2
    out_root = Path(os.environ.get("MEMMIMIC_BENCH_OUT", ROOT / "benchmarks" / "results"))
    if kind == "smoke":
        sizes, args, folder = ["1000"], list(SMOKE_ARGS), out_root / "smoke"
    else:
        sizes = os.environ.get("MEMMIMIC_BENCH_MEMORIES", "1000,10000").split(",")
        args = [
            "--repeats",
            os.environ.get("MEMMIMIC_BENCH_REPEATS", "3"),
            "--clients",
            os.environ.get("MEMMIMIC_BENCH_CLIENTS", "1,4,10,32"),
        ]
        if os.environ.get("MEMMIMIC_BENCH_INGEST_REPEATS"):
            args += ["--ingest-repeats", os.environ["MEMMIMIC_BENCH_INGEST_REPEATS"]]
        locomo = os.environ.get("MEMMIMIC_LOCOMO")
        if locomo:
            args += ["--locomo", locomo]
        folder = out_root / "raw"
    worst = 0
    for size in (s.strip() for s in sizes if s.strip()):
        out = folder / f"{combo}-{size}.json"
        if out.exists() and os.environ.get("MEMMIMIC_BENCH_SKIP_EXISTING") == "1":
            print(f"{combo} {size}: kept {out}", flush=True)
            continue
        cmd = [memmimic(), "bench-speed", "--workload", "all", "--config", str(HERE / f"{combo}.yaml")]
        cmd += ["--memories", size, "--json-out", str(out), *args, *extra]
        print("+", " ".join(cmd), flush=True)
        t0 = time.perf_counter()
        code = subprocess.call(cmd)
        print(f"{combo} {size}: exit {code} in {time.perf_counter() - t0:.1f}s", flush=True)
        worst = max(worst, code)
    return worst


CONCURRENCY = {
    "COMBINATION": "sqlite-tantivy-faissflat-minilm-tiered",
    "CLIENTS": "32",
    "SECONDS": "60",
    "MODES": "threads,processes",
    "MEMORIES": "1000",
    "REPEATS": "1",
}


def _knob(name: str) -> str:
    return os.environ.get(f"MEMMIMIC_BENCH_CONCURRENCY_{name}", CONCURRENCY[name])


def run_concurrency(extra: list[str]) -> int:
    """N clients for T seconds in each mode; 0 when every run finished with no error, else 1."""
    combo, clients, seconds = _knob("COMBINATION"), _knob("CLIENTS"), _knob("SECONDS")
    if combo not in combinations():
        print(f"error: unknown combination {combo!r}", file=sys.stderr)
        return 2
    folder = Path(os.environ.get("MEMMIMIC_BENCH_OUT", ROOT / "benchmarks" / "results")) / "concurrency"
    worst = 0
    for mode in (m.strip() for m in _knob("MODES").split(",") if m.strip()):
        out = folder / f"{combo}-{mode}-{clients}x{seconds}s.json"
        cmd = [memmimic(), "bench-speed", "--workload", "mixed", "--config", str(HERE / f"{combo}.yaml")]
        cmd += ["--memories", _knob("MEMORIES"), "--clients", clients, "--mixed-seconds", seconds]
        cmd += ["--mode", mode, "--repeats", _knob("REPEATS"), "--json-out", str(out)]
        if os.environ.get("MEMMIMIC_LOCOMO"):
            cmd += ["--locomo", os.environ["MEMMIMIC_LOCOMO"]]
        cmd += extra
        print("+", " ".join(cmd), flush=True)
        code = subprocess.call(cmd)
        if code or not out.exists():
            print(f"{combo} {mode}: exit {code}", flush=True)
            worst = max(worst, code or 1)
            continue
        fig = json.loads(out.read_text(encoding="utf-8"))["workloads"]["mixed"]["clients"][clients]
        print(
            f"{combo} {mode}: {clients} clients x {seconds} s: {fig['ops_s']:.1f} ops/s, "
            f"p50 {fig['p50_ms']:.1f} ms, p95 {fig['p95_ms']:.1f} ms, errors {fig['errors']}",
            flush=True,
        )
        if fig["errors"]:
            for error in fig.get("first_errors", []):
                print(f"    {error}", flush=True)
            worst = max(worst, 1)
    return worst


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run the envs named."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("envs", nargs="*", help="smoke-<combination>, bench-<combination> or concurrency")
    parser.add_argument("--smoke", action="store_true", help="run every smoke env")
    parser.add_argument("--bench", action="store_true", help="run every bench env")
    opts, extra = parser.parse_known_args(argv)
    envs = list(opts.envs)
    if opts.smoke:
        envs += [f"smoke-{c}" for c in SMOKE]
    if opts.bench:
        envs += [f"bench-{c}" for c in combinations()]
    if not envs:
        parser.error("name an env, or give --smoke / --bench")
    return max(run_concurrency(extra) if env == "concurrency" else run_env(env, extra) for env in envs)


if __name__ == "__main__":
    sys.exit(main())
