"""Speed workloads: named, repeatable timings of one MemMimic configuration, written as JSON.

Workloads (``--workload``):

``ingest``
    ``remember_many`` into an empty store, in batches; memories/s per run, latency per batch;
    ``searchable_ops_s`` also counts the wait until every vector is stored (write-behind).
``recall-cold``
    queries never asked before in this store: no result cache and no query-embedding cache hit
    can help (the process, model and indexes are warm: "cold" is about the query).
``recall-keyword``
    as ``recall-cold`` with ``sources=("keyword",)``: the keyword index alone (other queries).
``recall-warm``
    the same few queries asked again and again with the result cache turned off (``cache:
    none``): the cost of the full pipeline when the OS, indexes and query embeddings are warm.
``recall-cached``
    the same few queries again with the configured cache: what a result-cache hit costs.
    Skipped when the configuration's cache is ``none``.
``get``
    ``get`` by id, random ids.
``remember``
    one ``remember`` call at a time (one memory per transaction).
``mixed``
    N concurrent clients (threads, or processes each opening the store) for a fixed time;
    each operation is a recall (80 %) or a remember (20 %); ops/s, latency per kind, errors.
``all``
    every workload above on one store (the store is built once: its build is the first
    ingest run).

Each run also records ``cpu_ms_per_op``: the process CPU time (all threads) per operation,
which CPU contention from other programs inflates far less than wall-clock latency.

Every figure is taken ``repeats`` times; the JSON keeps each run and reports the median of
the runs' p50, p95 and ops/s, with the machine (CPU, cores, load average) it ran on.
"""

from __future__ import annotations

import contextlib
import copy
import json
import multiprocessing as mp
import queue
import random
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from .speed_env import Corpus, machine_info, machine_load, temporary_store_config

__all__ = ["SCHEMA", "WORKLOADS", "SpeedSettings", "percentile", "run_speed", "summarize", "write_json"]

SCHEMA = "memmimic.bench.speed/1"
WORKLOADS = (
    "ingest",
    "recall-cold",
    "recall-keyword",
    "recall-warm",
    "recall-cached",
    "get",
    "remember",
    "mixed",
    "all",
)
_HOT_QUERIES = 10  # distinct queries of the warm and cached workloads
Progress = Callable[[str], None]


@dataclass
class SpeedSettings:
    """What to run: the workload, the configuration and the sizes."""

    workload: str = "all"
    config: dict[str, Any] = field(default_factory=dict)
    combination: str = "default"
    memories: int = 1000
    repeats: int = 3
    ingest_repeats: int | None = None  # default: repeats
    queries: int = 30  # recalls per run
    gets: int = 200  # gets per run
    batch: int = 500  # memories per remember_many call
    clients: tuple[int, ...] = (1, 4, 10)
    duration: float = 3.0  # seconds per mixed run
    mode: str = "threads"  # or "processes"
    locomo: str | None = None
    seed: int = 7

    def check(self) -> None:
        """Raise :class:`InvalidInputError` on a setting that cannot run."""
        if self.workload not in WORKLOADS:
            raise InvalidInputError(f"unknown workload {self.workload!r}; choose from {', '.join(WORKLOADS)}")
        if self.mode not in ("threads", "processes"):
            raise InvalidInputError(f"mode must be 'threads' or 'processes', got {self.mode!r}")
        for name in ("memories", "repeats", "queries", "gets", "batch"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be at least 1")
        if not self.clients or min(self.clients) < 1:
            raise InvalidInputError("clients must be positive integers")
        if self.duration <= 0:
            raise InvalidInputError("duration must be positive")

    def wants(self, name: str) -> bool:
        """Whether workload ``name`` is part of this run."""
        return self.workload in (name, "all")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) with linear interpolation; ``values`` must not be empty."""
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def _run_stats(latencies: Sequence[float], elapsed: float, ops: int | None = None) -> dict[str, float]:
    n = len(latencies)
    count = n if ops is None else ops
    return {
        "n": n,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "ops_s": count / elapsed if elapsed > 0 else 0.0,
    }


def summarize(runs: Sequence[Mapping[str, float]], **extra: Any) -> dict[str, Any]:
    """Medians over runs of p50, p95, mean and ops/s, with the runs themselves."""
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float)]
    out: dict[str, Any] = {key: statistics.median(float(r[key]) for r in runs if key in r) for key in keys}
    out["repeats"] = len(runs)
    out.update(extra)
    out["runs"] = [dict(r) for r in runs]
    return out


def _timed_calls(calls: Sequence[Callable[[], object]]) -> dict[str, float]:
    lat: list[float] = []
    cpu = time.process_time()
    start = time.perf_counter()
    for call in calls:
        t0 = time.perf_counter()
        call()
        lat.append(time.perf_counter() - t0)
    stats = _run_stats(lat, time.perf_counter() - start)
    stats["cpu_ms_per_op"] = (time.process_time() - cpu) * 1000 / len(lat)
    return stats


def _open(cfg: Mapping[str, Any]) -> Any:
    from ..engine import MemMimic

    store = MemMimic(dict(cfg))
    store.embed(["warm up the embedder"])  # model load is start-up cost, not ingest or recall
    return store


def _ingest(store: Any, texts: Sequence[str], batch: int) -> tuple[dict[str, float], list[str]]:
    lat: list[float] = []
    ids: list[str] = []
    cpu = time.process_time()
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        t0 = time.perf_counter()
        ids.extend(store.remember_many(texts[i : i + batch]))
        lat.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    # with write-behind (embedder.write_behind) vectors are still being computed: one recall
    # waits for them (read-your-writes), so this rate is "remembered and searchable by meaning"
    store.recall(texts[0][:200])
    searchable = time.perf_counter() - start
    stats = _run_stats(lat, elapsed, ops=len(texts))
    stats["cpu_ms_per_op"] = (time.process_time() - cpu) * 1000 / max(1, len(texts))
    stats["searchable_ops_s"] = len(texts) / searchable
    return stats, ids


def run_speed(settings: SpeedSettings, progress: Progress | None = None) -> dict[str, Any]:
    """Run the workload(s) of ``settings`` on a fresh store and return the JSON-ready result."""
    settings.check()
    say = progress or (lambda _msg: None)
    s = settings
    cold_needed = 2 * s.queries * s.repeats + 1
    corpus = Corpus.build(s.memories, cold_needed + _HOT_QUERIES, locomo=s.locomo, seed=s.seed)
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "combination": s.combination,
        "memories": s.memories,
        "workload": s.workload,
        "settings": {k: v for k, v in asdict(s).items() if k != "config"},
        "config": s.config,
        "corpus": corpus.source,
        "effective_config": _effective(s.config),
        "machine": machine_info(),
        "workloads": {},
    }
    started = time.perf_counter()
    w: dict[str, Any] = result["workloads"]
    hot = corpus.queries[cold_needed : cold_needed + _HOT_QUERIES]
    with temporary_store_config(s.config) as cfg:
        t0 = time.perf_counter()
        store = _open(cfg)
        result["open_s"] = time.perf_counter() - t0
        try:
            say(f"ingest {s.memories} memories")
            first, ids = _ingest(store, corpus.texts, s.batch)
            if s.wants("ingest"):
                runs = [first]
                for r in range(1, s.ingest_repeats or s.repeats):
                    say(f"ingest run {r + 1}")
                    runs.append(_fresh_ingest(s.config, corpus.texts, s.batch))
                w["ingest"] = summarize(runs, unit="memories", batch=s.batch)
            if s.wants("get"):
                rng = random.Random(s.seed)
                say("get")
                w["get"] = summarize(
                    [
                        _timed_calls([_bind(store.get, rng.choice(ids)) for _ in range(s.gets)])
                        for _ in range(s.repeats)
                    ]
                )
            if s.wants("remember"):
                say("remember")
                w["remember"] = summarize(
                    [
                        _timed_calls(
                            [_bind(store.remember, f"{t} (single {r})") for t in corpus.texts[: s.queries]]
                        )
                        for r in range(s.repeats)
                    ]
                )
            if s.wants("recall-cold"):
                say("recall-cold")
                store.recall(corpus.queries[-1])  # first-call set-up (searchers, threads) is not timed
                w["recall_cold"] = summarize(
                    [
                        _timed_calls(
                            [
                                _bind(store.recall, q)
                                for q in corpus.queries[r * s.queries : (r + 1) * s.queries]
                            ]
                        )
                        for r in range(s.repeats)
                    ]
                )
            if s.wants("recall-keyword"):
                say("recall-keyword")
                base = s.queries * s.repeats
                w["recall_keyword"] = summarize(
                    [
                        _timed_calls(
                            [
                                _keyword(store, q)
                                for q in corpus.queries[base + r * s.queries : base + (r + 1) * s.queries]
                            ]
                        )
                        for r in range(s.repeats)
                    ]
                )
            if s.wants("recall-cached"):
                w["recall_cached"] = _repeated(store, hot, s) if _cache_of(cfg) != "none" else _skip(cfg)
        finally:
            store.close()
        if s.wants("recall-warm"):
            say("recall-warm (cache off)")
            off = copy.deepcopy(cfg)
            off["cache"] = {"backend": "none"}
            warm_store = _open(off)
            try:
                w["recall_warm"] = _repeated(warm_store, hot, s)
            finally:
                warm_store.close()
        if s.wants("mixed"):
            w["mixed"] = _mixed(cfg, corpus, s, say)
    result["duration_s"] = time.perf_counter() - started
    result["machine"]["load_average_end"] = machine_info()["load_average"]
    return result


def _effective(config: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration with every default filled in (which defaults were in force matters)."""
    from ..config import load_config

    data = load_config(dict(config)).to_dict()
    data.pop("data_dir", None)
    return data


def _bind(fn: Callable[[str], object], arg: str) -> Callable[[], object]:
    return lambda: fn(arg)


def _keyword(store: Any, query: str) -> Callable[[], object]:
    return lambda: store.recall(query, sources=("keyword",))


def _cache_of(cfg: Mapping[str, Any]) -> str:
    return str((cfg.get("cache") or {}).get("backend", "tiered"))


def _skip(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {"skipped": f"cache backend is {_cache_of(cfg)!r}"}


def _repeated(store: Any, hot: Sequence[str], s: SpeedSettings) -> dict[str, Any]:
    for q in hot:  # the first ask of each is a miss (cold): not part of this figure
        store.recall(q)
    per_query = max(1, s.queries // len(hot))
    return summarize(
        [
            _timed_calls([_bind(store.recall, q) for _ in range(per_query) for q in hot])
            for _ in range(s.repeats)
        ],
        distinct_queries=len(hot),
    )


def _fresh_ingest(config: Mapping[str, Any], texts: Sequence[str], batch: int) -> dict[str, float]:
    with temporary_store_config(config) as cfg:
        store = _open(cfg)
        try:
            stats, _ = _ingest(store, texts, batch)
        finally:
            store.close()
    return stats


def _client_loop(store: Any, queries: Sequence[str], duration: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    lat: dict[str, list[float]] = {"recall": [], "remember": []}
    errors: list[str] = []
    deadline = time.perf_counter() + duration
    n = 0
    while time.perf_counter() < deadline:
        n += 1
        write = rng.random() < 0.2
        t0 = time.perf_counter()
        try:
            if write:
                store.remember(f"mixed workload note {seed}-{n}: {rng.choice(queries)}")
            else:
                store.recall(rng.choice(queries))
        except Exception as exc:  # counted and reported, never hidden
            errors.append(f"{'remember' if write else 'recall'}: {type(exc).__name__}: {exc}")
            continue
        lat["remember" if write else "recall"].append(time.perf_counter() - t0)
    return {"latencies": lat, "errors": errors}


def _process_client(
    cfg: dict[str, Any], queries: list[str], duration: float, seed: int, barrier: Any, out: Any
) -> None:
    def fail(stage: str, exc: Exception) -> None:
        barrier.abort()  # a client that cannot start is an error, and must not hang the others
        out.put({"latencies": {}, "errors": [f"{stage}: {type(exc).__name__}: {exc}"], "cpu_s": 0.0})

    try:
        store = _open(cfg)
    except Exception as exc:
        fail("open", exc)
        return
    try:
        try:
            store.recall(queries[0])  # first-search set-up (index load) is start-up cost
        except Exception as exc:
            fail("first recall", exc)
            return
        barrier.wait()
        cpu = time.process_time()
        res = _client_loop(store, queries, duration, seed)
        res["cpu_s"] = time.process_time() - cpu
        out.put(res)
    except Exception as exc:
        out.put({"latencies": {}, "errors": [f"{type(exc).__name__}: {exc}"], "cpu_s": 0.0})
    finally:
        store.close()


def _run_processes(
    cfg: Mapping[str, Any], queries: list[str], seeds: list[int], s: SpeedSettings
) -> tuple[list[dict[str, Any]], float]:
    """Run one client per process (``spawn``: each opens the store); results and elapsed seconds."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(len(seeds) + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_process_client, args=(dict(cfg), queries, s.duration, seed, barrier, out))
        for seed in seeds
    ]
    for p in procs:
        p.start()
    # every client has opened the store (model loads are not timed); a client that failed to
    # open broke the barrier: its error is in the queue and the others report the broken barrier
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=600)
    start = time.perf_counter()
    results: list[dict[str, Any]] = []
    deadline = start + s.duration + 600
    while len(results) < len(procs) and time.perf_counter() < deadline:
        try:
            results.append(out.get(timeout=5))
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and out.empty():
                break
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join(timeout=60)
        if p.is_alive():
            p.kill()
    missing = len(procs) - len(results)
    if missing:  # a client died without reporting (crash, kill): one error each
        codes = [p.exitcode for p in procs]
        results.append({"latencies": {}, "errors": [f"client process lost, exit codes {codes}"] * missing})
    return results, elapsed


def _mixed_once(
    cfg: Mapping[str, Any], store: Any, queries: list[str], c: int, s: SpeedSettings, r: int
) -> dict[str, Any]:
    seeds = [s.seed * 1000 + r * 100 + i for i in range(c)]
    load = machine_load()
    if s.mode == "threads":
        results: list[dict[str, Any]] = []
        lock = threading.Lock()

        def client(seed: int) -> None:
            res = _client_loop(store, queries, s.duration, seed)
            with lock:
                results.append(res)

        threads = [threading.Thread(target=client, args=(seed,)) for seed in seeds]
        cpu = time.process_time()
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        cpu_s = time.process_time() - cpu
    else:
        results, elapsed = _run_processes(cfg, queries, seeds, s)
        cpu_s = sum(float(res.get("cpu_s", 0.0)) for res in results)
    lat = {k: [x for res in results for x in res["latencies"].get(k, [])] for k in ("recall", "remember")}
    everything = lat["recall"] + lat["remember"]
    errors = [e for res in results for e in res["errors"]]
    stats: dict[str, Any] = _run_stats(everything or [0.0], elapsed, ops=len(everything))
    stats["cpu_ms_per_op"] = cpu_s * 1000 / max(1, len(everything))
    for kind, values in lat.items():
        if values:
            stats[f"{kind}_p50_ms"] = percentile(values, 50) * 1000
            stats[f"{kind}_p95_ms"] = percentile(values, 95) * 1000
            stats[f"{kind}_n"] = len(values)
    stats["errors"] = len(errors)
    stats["load_average"] = [load, machine_load()]
    if errors:
        stats["first_errors"] = errors[:3]
    return stats


def _mixed(cfg: Mapping[str, Any], corpus: Corpus, s: SpeedSettings, say: Progress) -> dict[str, Any]:
    queries = corpus.queries[: max(50, s.queries)]
    out: dict[str, Any] = {"mode": s.mode, "duration_s": s.duration, "read_share": 0.8, "clients": {}}
    store = _open(cfg) if s.mode == "threads" else None
    try:
        if store is not None:
            store.recall(queries[0])  # first-search set-up (index load) is not part of the first run
        for c in s.clients:
            say(f"mixed: {c} client(s), {s.mode}, {s.duration:g} s")
            runs = [_mixed_once(cfg, store, queries, c, s, r) for r in range(s.repeats)]
            errors = [e for r in runs for e in r.get("first_errors", [])]
            out["clients"][str(c)] = summarize(
                runs, errors=sum(int(r["errors"]) for r in runs), first_errors=errors[:3]
            )
    finally:
        if store is not None:
            store.close()
    return out


def write_json(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``result`` as indented JSON (creating the folder) and return the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return p
