"""Keyword retrieval benchmark: the ``tantivy`` text index against the ``storage`` one (SQLite FTS5).

Two parts, both through the registered backends (as the engine builds them):

* quality: recall@10 on LoCoMo (each conversation its own namespace, one memory per turn as
  ``"speaker: text"``, query = question, relevant = its evidence turns);
* scale: search latency p50 / p95 at N synthetic documents of ~60 words (drawn from LoCoMo's
  word frequencies) with LoCoMo questions as queries; ingest rate; index size on disk; and the
  time the tantivy index takes to catch up after its folder is deleted.

Run::

    .venv/bin/python benchmarks/bench_keyword.py --sizes 10000,100000 --out benchmarks/results/keyword.json

Prints a markdown table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from memmimic_core.bench.speed_env import machine_info, machine_load
from memmimic_core.models import NewMemory, TextQuery
from memmimic_core.plugins import build_plugin_manager, collect_backends
from memmimic_core.protocols import BackendContext, Storage, TextIndex

LOCOMO = Path(
    os.environ.get(
        "MEMMIMIC_LOCOMO", Path(__file__).resolve().parents[2] / "shared/data/locomo/locomo10.json"
    )
)
BACKENDS = ("tantivy", "storage")
WORD = re.compile(r"[A-Za-z']+")


def open_store(data_dir: Path) -> tuple[Storage, BackendContext]:
    """Build the sqlite storage in ``data_dir`` through the registry."""
    backends = collect_backends(build_plugin_manager())
    context = BackendContext(data_dir=data_dir, store_id=f"bench-{data_dir.name}")
    storage: Storage = backends["storage"].create("sqlite", {}, context, "storage")
    context.storage = storage
    return storage, context


def open_index(name: str, context: BackendContext, options: dict[str, Any] | None = None) -> TextIndex:
    """Build a text index by its registered name."""
    backends = collect_backends(build_plugin_manager())
    index: TextIndex = backends["text_index"].create(name, options or {}, context, "text_index")
    return index


# -- LoCoMo ----------------------------------------------------------------------------------


def normalise_evidence(raw: list[str], known: set[str]) -> list[str]:
    """Split multi-id strings, repair ``D:11:26`` / ``D30:05``, drop ids that name no turn."""
    out: list[str] = []
    for item in raw:
        for part in re.split(r"[;\s]+", item.strip()):
            match = re.fullmatch(r"D:?(\d+):0*(\d+)", part)
            if match:
                dia_id = f"D{int(match.group(1))}:{int(match.group(2))}"
                if dia_id in known and dia_id not in out:
                    out.append(dia_id)
    return out


def locomo_recall(path: Path, k: int, options: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return recall@k of each backend on LoCoMo (mean over questions with evidence)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="bench-locomo-") as tmp:
        storage, context = open_store(Path(tmp))
        dia_of: dict[str, str] = {}
        questions: list[tuple[str, str, list[str], int]] = []
        for sample in data:
            namespace = sample["sample_id"]
            conv = sample["conversation"]
            turns = [
                turn for key, value in conv.items() if re.fullmatch(r"session_\d+", key) for turn in value
            ]
            stored = storage.add(
                [NewMemory(namespace=namespace, content=f"{t['speaker']}: {t['text']}") for t in turns]
            )
            for memory, turn in zip(stored, turns, strict=True):
                dia_of[memory.id] = turn["dia_id"]
            known = {t["dia_id"] for t in turns}
            for qa in sample["qa"]:
                relevant = normalise_evidence(qa.get("evidence") or [], known)
                if relevant:
                    questions.append((namespace, qa["question"], relevant, int(qa["category"])))
        result: dict[str, Any] = {"questions": len(questions), "k": k}
        for name in BACKENDS:
            index = open_index(name, context, options.get(name))
            index.sync()
            per_q = []
            for namespace, question, relevant, category in questions:
                found = index.search(namespace, TextQuery(text=question), k)
                got = {dia_of[c.memory_id] for c in found}
                per_q.append((len(got & set(relevant)) / len(relevant), category))
            index.close()
            result[name] = {
                "recall_at_k": statistics.fmean(r for r, _ in per_q),
                "recall_at_k_without_cat5": statistics.fmean(r for r, c in per_q if c != 5),
            }
        storage.close()
    return result


# -- scale -----------------------------------------------------------------------------------


def word_model(path: Path) -> tuple[list[str], list[int], list[str]]:
    """Return LoCoMo's words with their counts, and its questions."""
    data = json.loads(path.read_text(encoding="utf-8"))
    counts: Counter[str] = Counter()
    questions: list[str] = []
    for sample in data:
        for key, value in sample["conversation"].items():
            if re.fullmatch(r"session_\d+", key):
                for turn in value:
                    counts.update(w.lower() for w in WORD.findall(turn["text"]))
        questions.extend(qa["question"] for qa in sample["qa"])
    words = list(counts)
    return words, [counts[w] for w in words], questions


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0..100) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def scale_run(
    size: int, words: list[str], weights: list[int], queries: list[str], seed: int, options: dict[str, Any]
) -> dict[str, Any]:
    """Ingest ``size`` synthetic documents, then time both backends."""
    rng = random.Random(seed)
    out: dict[str, Any] = {"documents": size, "queries": len(queries)}
    with tempfile.TemporaryDirectory(prefix=f"bench-{size}-") as tmp:
        storage, context = open_store(Path(tmp))
        started = time.perf_counter()
        batch = 2_000
        for start in range(0, size, batch):
            n = min(batch, size - start)
            docs = [" ".join(rng.choices(words, weights, k=rng.randint(45, 75))) for _ in range(n)]
            storage.add([NewMemory(namespace="bench", content=d) for d in docs])
        elapsed = time.perf_counter() - started
        out["storage"] = {
            "ingest_docs_per_s": size / elapsed,
            "size_bytes": storage.stats().get("file_bytes"),
        }
        started = time.perf_counter()
        tantivy = open_index("tantivy", context, options)  # catches up on open: indexes every document
        elapsed = time.perf_counter() - started
        out["tantivy"] = {
            "ingest_docs_per_s": size / elapsed,
            "size_bytes": tantivy.stats()["size_bytes"],
        }
        storage_index = open_index("storage", context)
        for name, index in (("tantivy", tantivy), ("storage", storage_index)):
            for q in queries[:5]:  # warm caches
                index.search("bench", TextQuery(text=q), 10)
            times = []
            for q in queries:
                t0 = time.perf_counter()
                index.search("bench", TextQuery(text=q), 10)
                times.append((time.perf_counter() - t0) * 1000)
            out[name]["p50_ms"] = percentile(times, 50)
            out[name]["p95_ms"] = percentile(times, 95)
        tantivy.close()
        shutil.rmtree(Path(tmp) / "tantivy")
        started = time.perf_counter()
        reopened = open_index("tantivy", context, options)
        out["tantivy"]["catch_up_after_delete_s"] = time.perf_counter() - started
        reopened.close()
        storage_index.close()
        storage.close()
    return out


def markdown(report: dict[str, Any]) -> str:
    """Render the report as markdown tables."""
    lines = []
    if "locomo" in report:
        loc = report["locomo"]
        lines += [
            f"LoCoMo recall@{loc['k']} ({loc['questions']} questions with evidence)",
            "",
            "| backend | recall@10 | without category 5 |",
            "|---|---|---|",
        ]
        for name in BACKENDS:
            r = loc[name]
            lines.append(f"| {name} | {r['recall_at_k']:.3f} | {r['recall_at_k_without_cat5']:.3f} |")
        lines.append("")
    if report.get("scale"):
        lines += [
            "| documents | backend | p50 ms | p95 ms | ingest docs/s | size MB | catch-up after delete s |",
            "|---|---|---|---|---|---|---|",
        ]
        for run in report["scale"]:
            for name in BACKENDS:
                r = run[name]
                size = (r.get("size_bytes") or 0) / 1e6
                catch = r.get("catch_up_after_delete_s")
                lines.append(
                    f"| {run['documents']:,} | {name} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
                    f"{r['ingest_docs_per_s']:,.0f} | {size:.1f} | {f'{catch:.2f}' if catch else '-'} |"
                )
        lines.append("")
        lines.append(
            "storage size is the whole SQLite file (memories + FTS5); storage ingest is storage.add "
            "(FTS5 included); tantivy ingest is the index catching up from storage."
        )
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run, print markdown, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locomo", type=Path, default=LOCOMO)
    parser.add_argument("--sizes", default="10000", help="comma-separated document counts ('' to skip)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-locomo", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tantivy-options", default="{}", help="JSON options of the tantivy index")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/keyword.json"))
    args = parser.parse_args()
    options = {"tantivy": json.loads(args.tantivy_options)}
    report: dict[str, Any] = {
        "machine": machine_info(),  # CPU, cores, Python, load average, commit
        "scale": [],
    }
    if not args.skip_locomo:
        report["locomo"] = locomo_recall(args.locomo, 10, options)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if sizes:
        words, weights, questions = word_model(args.locomo)
        rng = random.Random(args.seed)
        queries = rng.sample(questions, min(args.queries, len(questions)))
        for size in sizes:
            report["scale"].append(scale_run(size, words, weights, queries, args.seed, options["tantivy"]))
    report["machine"]["load_average_end"] = machine_load()
    print(markdown(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
