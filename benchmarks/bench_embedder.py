"""Embedder benchmark: PyTorch sentence-transformers vs ONNX Runtime fp32 vs ONNX int8.

Every variant runs in its own child process (so import time and RSS are its own); all are
loaded at once and measured round-robin, one pass each in turn (rotating who goes first), so
the load of a busy machine falls on every variant alike. Same texts for all: the turns of the
first LoCoMo conversations.

* batch throughput: sentences/s encoding every turn (batch 32; median of ``--passes``);
* single-query latency: p50 / p95 over ``--queries`` LoCoMo questions, one ``embed([q])`` each
  (in chunks of ``--single-chunk``, round-robin);
* import: seconds to import the plugin and the runtime stack; load: first embed (model load);
* RSS after loading and encoding (MB), and peak RSS;
* cosine to the PyTorch vectors (mean / min over every turn) and LoCoMo recall@10 (each
  conversation its own haystack; query = question, relevant = its evidence turns).

The ONNX export is made (and timed) before the children start, so they only load it.

Run::

    .venv/bin/python benchmarks/bench_embedder.py --out benchmarks/results/embedder.json
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

LOCOMO = Path(
    os.environ.get(
        "MEMMIMIC_LOCOMO", Path(__file__).resolve().parents[2] / "shared/data/locomo/locomo10.json"
    )
)
VARIANTS: dict[str, dict[str, Any]] = {
    "torch": {"runtime": "torch"},
    "onnx-fp32": {"runtime": "onnx", "quantize": False},
    "onnx-int8": {"runtime": "onnx", "quantize": True},  # the default
}


def load_locomo(path: Path, conversations: int) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """Return (turn texts, turn keys "conv/dia_id", questions with their evidence keys)."""
    texts: list[str] = []
    keys: list[str] = []
    questions: list[dict[str, Any]] = []
    for conv in json.loads(path.read_text(encoding="utf-8"))[:conversations]:
        talk = conv["conversation"]
        for key in talk:
            if key.startswith("session_") and isinstance(talk[key], list):
                for turn in talk[key]:
                    texts.append(f"{turn['speaker']}: {turn['text']}")
                    keys.append(f"{conv['sample_id']}/{turn['dia_id']}")
        for qa in conv["qa"]:
            evidence = [
                e.strip() for raw in qa.get("evidence", []) for e in str(raw).replace(";", " ").split()
            ]
            if evidence:
                questions.append(
                    {
                        "conv": conv["sample_id"],
                        "text": str(qa["question"]),
                        "relevant": [f"{conv['sample_id']}/{e}" for e in evidence],
                    }
                )
    return texts, keys, questions


def child(variant: str, options: dict[str, Any], args: argparse.Namespace, out: Path) -> None:
    """Serve one variant: load it, then answer the parent's commands on stdin, one per line.

    ``batch`` encodes every turn once (prints sentences/s); ``single`` embeds the next
    questions one at a time (prints their latencies); ``final`` saves vectors + figures and exits.
    """
    import resource

    texts, _, questions = load_locomo(args.locomo, args.conversations)
    started = time.perf_counter()
    from memmimic_plugins.minilm import SentenceTransformersEmbedder as Embedder

    if options["runtime"] == "torch":
        import sentence_transformers  # noqa: F401 - import cost belongs to this variant
    else:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    import_s = time.perf_counter() - started
    embedder = Embedder(Embedder.Options(cache_dir=str(args.cache_dir), **options))
    started = time.perf_counter()
    embedder.embed(["warm up"])
    load_s = time.perf_counter() - started
    print("ready", flush=True)
    passes: list[float] = []
    latencies: list[float] = []
    vectors = np.zeros((0, 384), dtype=np.float32)
    cursor = 0
    for command in sys.stdin:
        if command.strip() == "batch":
            started = time.perf_counter()
            vectors = embedder.embed(texts)
            passes.append(len(texts) / (time.perf_counter() - started))
        elif command.strip() == "single":
            for _ in range(args.single_chunk):
                started = time.perf_counter()
                embedder.embed([questions[cursor % len(questions)]["text"]])
                latencies.append((time.perf_counter() - started) * 1000)
                cursor += 1
        else:
            break
        print("done", flush=True)
    query_vectors = embedder.embed([q["text"] for q in questions])
    with open("/proc/self/statm", encoding="ascii") as fh:
        rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.savez(out.with_suffix(".npz"), turns=vectors, questions=query_vectors)
    figures = {
        "variant": variant,
        "fingerprint": embedder.fingerprint,
        "import_s": import_s,
        "load_s": load_s,
        "batch_sentences_per_s": float(np.median(passes)),
        "batch_passes": passes,
        "single_p50_ms": float(np.percentile(latencies, 50)),
        "single_p95_ms": float(np.percentile(latencies, 95)),
        "single_count": len(latencies),
        "rss_mb": rss,
        "peak_rss_mb": peak,
        "torch_imported": "torch" in sys.modules,
    }
    out.write_text(json.dumps(figures), encoding="utf-8")


def recall_at_10(
    turns: np.ndarray, keys: list[str], qvecs: np.ndarray, questions: list[dict[str, Any]]
) -> float:
    """Mean recall@10 with each conversation as its own haystack."""
    convs = np.array([k.split("/")[0] for k in keys])
    scores = []
    for qvec, question in zip(qvecs, questions, strict=True):
        mine = np.flatnonzero(convs == question["conv"])
        top = mine[np.argsort(-(turns[mine] @ qvec))[:10]]
        found = {keys[i] for i in top}
        relevant = set(question["relevant"])
        scores.append(len(found & relevant) / len(relevant))
    return float(np.mean(scores))


def main() -> None:
    """Run every variant in a child process and print a markdown table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--locomo", type=Path, default=LOCOMO)
    parser.add_argument("--conversations", type=int, default=2)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--single-chunk", type=int, default=20)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "memmimic-bench-models"
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, VARIANTS[args.child], args, args.child_out)
        return

    from memmimic_plugins.minilm import SentenceTransformersEmbedder as Embedder
    from memmimic_plugins.minilm.onnx_export import cached_onnx_path, ensure_onnx

    files = Embedder().files
    export: dict[str, float | None] = {}
    for quantized in (False, True):
        fresh = not cached_onnx_path(files, args.cache_dir, quantized=quantized).is_file()
        started = time.perf_counter()
        ensure_onnx(files, args.cache_dir, quantized=quantized)
        export["int8" if quantized else "fp32"] = time.perf_counter() - started if fresh else None

    texts, keys, questions = load_locomo(args.locomo, args.conversations)
    results: dict[str, dict[str, Any]] = {}
    vectors: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-embedder-") as tmp:
        names = args.variants.split(",")
        children: dict[str, subprocess.Popen[str]] = {}
        for variant in names:  # started one at a time so import and load times don't overlap
            command = [sys.executable, __file__, "--child", variant, "--child-out", str(Path(tmp) / variant)]
            command += ["--locomo", str(args.locomo), "--conversations", str(args.conversations)]
            command += ["--single-chunk", str(args.single_chunk), "--cache-dir", str(args.cache_dir)]
            spawned = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert spawned.stdout is not None
            assert spawned.stdout.readline().strip() == "ready"
            children[variant] = spawned
        rounds = ["batch"] * args.passes + ["single"] * max(1, args.queries // args.single_chunk)
        for step, step_command in enumerate(rounds):  # round-robin, rotating who goes first
            for variant in names[step % len(names) :] + names[: step % len(names)]:
                proc = children[variant]
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(step_command + "\n")
                proc.stdin.flush()
                assert proc.stdout.readline().strip() == "done"
        for variant, proc in children.items():
            assert proc.stdin is not None
            proc.stdin.write("final\n")
            proc.stdin.close()
            proc.wait(timeout=600)
            out = Path(tmp) / variant
            results[variant] = json.loads(out.read_text(encoding="utf-8"))
            data = np.load(out.with_suffix(".npz"))
            vectors[variant] = (data["turns"], data["questions"])
    reference = vectors.get("torch")
    for variant, (turns, qvecs) in vectors.items():
        results[variant]["recall_at_10"] = recall_at_10(turns, keys, qvecs, questions)
        if reference is not None:
            cosine = np.sum(turns * reference[0], axis=1)
            results[variant]["cosine_mean"] = float(cosine.mean())
            results[variant]["cosine_min"] = float(cosine.min())
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "texts": len(texts),
        "questions": len(questions),
        "single_queries": args.queries,
        "export_s": export,
        "variants": results,
    }
    base = results.get("torch")
    print(f"{len(texts)} LoCoMo turns, {len(questions)} questions, {os.cpu_count()} CPUs; export: {export}")
    print(
        "| variant | sentences/s | × torch | p50 ms | p95 ms | ÷ torch p50 | import s | load s | RSS MB "
        "| cos mean / min | recall@10 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for variant, r in results.items():
        speed = r["batch_sentences_per_s"] / base["batch_sentences_per_s"] if base else float("nan")
        lat = base["single_p50_ms"] / r["single_p50_ms"] if base else float("nan")
        print(
            f"| {variant} | {r['batch_sentences_per_s']:.0f} | {speed:.2f} | {r['single_p50_ms']:.1f} "
            f"| {r['single_p95_ms']:.1f} | {lat:.2f} | {r['import_s']:.2f} | {r['load_s']:.2f} "
            f"| {r['rss_mb']:.0f} | {r.get('cosine_mean', float('nan')):.4f} / "
            f"{r.get('cosine_min', float('nan')):.4f} | {r['recall_at_10']:.3f} |"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
