"""CXD classifier benchmark: accuracy and confusion matrices on the held-out labelled set.

Configurations: lexical only; the embedding signal alone and fused with the lexical one, with
the ``hashing`` embedder and (unless ``--no-minilm`` or it cannot load) the
``sentence-transformers`` MiniLM embedder. Accuracy is reported overall and per style of the
labelled set (``note``: written before the lexical patterns; ``chat``: written after they were
frozen). ``--tune`` picks the fusion weight and temperature by leave-one-out over the
*canonical examples* (never the labelled set) and prints the grid.

Run::

    .venv/bin/python benchmarks/bench_cxd.py [--no-minilm] [--tune] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from memmimic_core.models import CXD_FUNCTIONS
from memmimic_core.protocols import BackendContext, Embedder
from memmimic_plugins.cxd_classifier import CxdClassifier
from memmimic_plugins.cxd_classifier.evaluation import LabelledText, evaluate, load_labelled
from memmimic_plugins.cxd_classifier.examples import CanonicalExamples
from memmimic_plugins.cxd_classifier.patterns import lexical_scores
from memmimic_plugins.hashing import HashingEmbedder

LABELLED = Path(__file__).resolve().parent.parent / "tests" / "data" / "cxd_labelled.json"


def load_styles(path: Path) -> list[str]:
    """Return the ``style`` of each labelled item (``note`` when absent)."""
    return [str(i.get("style", "note")) for i in json.loads(path.read_text(encoding="utf-8"))["items"]]


def run_config(
    name: str,
    items: list[LabelledText],
    styles: list[str],
    data_dir: Path,
    embedder: Embedder | None,
    **options: Any,
) -> dict[str, Any]:
    """Evaluate one configuration; return its accuracies, confusion matrix and speed."""
    context = BackendContext(data_dir=data_dir, embedder=(lambda: embedder) if embedder else None)
    classifier = CxdClassifier(CxdClassifier.Options(**options), context)
    classifier.classify([items[0].text])  # warm-up: examples embedded (or read from cache)
    start = time.perf_counter()
    overall = evaluate(classifier, items)
    seconds = time.perf_counter() - start
    by_style = {}
    for style in sorted(set(styles)):
        subset = [i for i, s in zip(items, styles, strict=True) if s == style]
        by_style[style] = round(evaluate(classifier, subset).accuracy, 3)
    return {
        "name": name,
        "options": options,
        "accuracy": round(overall.accuracy, 3),
        "by_style": by_style,
        "per_class_recall": {k: round(v, 3) for k, v in overall.per_class_recall().items()},
        "confusion": overall.confusion,
        "table": overall.table(),
        "texts_per_second": round(len(items) / seconds, 1),
        "mistakes": overall.mistakes,
    }


def leave_one_out(embedder: Embedder, top_k: int = 3) -> list[dict[str, float]]:
    """Grid over (lexical weight, temperature), scored by leave-one-out on the canonical examples."""
    examples = CanonicalExamples.load()
    vectors = np.asarray(embedder.embed(list(examples.texts)), dtype=np.float64)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)  # an example never votes for itself
    per_class = np.stack(
        [np.sort(sims[:, examples.labels == c], axis=1)[:, -top_k:].mean(axis=1) for c in range(3)], axis=1
    )
    raw = np.array([lexical_scores(t) for t in examples.texts])
    has_lex = raw.sum(axis=1) > 0
    lex = np.exp(raw - raw.max(axis=1, keepdims=True))
    lex /= lex.sum(axis=1, keepdims=True)
    grid = []
    for temperature in (0.02, 0.05, 0.1, 0.2):
        z = per_class / temperature
        emb = np.exp(z - z.max(axis=1, keepdims=True))
        emb /= emb.sum(axis=1, keepdims=True)
        for lexical_weight in (0.0, 0.3, 0.5, 0.7, 1.0):
            w = np.where(has_lex, lexical_weight, 0.0)[:, None]
            fused = (w * lex + (1 - lexical_weight) * emb) / np.maximum(w + (1 - lexical_weight), 1e-12)
            accuracy = float((fused.argmax(axis=1) == examples.labels).mean())
            grid.append({"temperature": temperature, "lexical_weight": lexical_weight, "accuracy": accuracy})
    return grid


def main(argv: list[str] | None = None) -> int:
    """Print accuracy and confusion matrices per configuration."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labelled", type=Path, default=LABELLED)
    parser.add_argument("--no-minilm", action="store_true", help="skip the MiniLM embedder")
    parser.add_argument("--tune", action="store_true", help="leave-one-out grid over the canonical examples")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--mistakes", action="store_true", help="list misclassified texts")
    args = parser.parse_args(argv)
    items = load_labelled(args.labelled)
    styles = load_styles(args.labelled)
    counts = {f: sum(i.label == f for i in items) for f in CXD_FUNCTIONS}
    style_counts = {s: styles.count(s) for s in sorted(set(styles))}
    print(f"labelled set: {len(items)} texts {counts}, styles {style_counts}")
    embedders: dict[str, Callable[[], Embedder]] = {"hashing": HashingEmbedder}
    if not args.no_minilm:
        try:
            from memmimic_plugins.minilm import SentenceTransformersEmbedder

            embedders["minilm"] = SentenceTransformersEmbedder
        except ImportError as exc:
            print(f"MiniLM skipped: {exc}", file=sys.stderr)
    results: list[dict[str, Any]] = []
    grids: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        results.append(run_config("lexical only", items, styles, data_dir, None))
        for label, make in embedders.items():
            try:
                embedder = make() if label == "hashing" else make(None, BackendContext(data_dir=data_dir))  # type: ignore[call-arg]
                embedder.embed(["warm up"])
            except Exception as exc:  # a missing model is reported, not fatal
                print(f"{label} skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            results.append(
                run_config(f"{label}: embedding only", items, styles, data_dir, embedder, lexical_weight=0.0)
            )
            results.append(run_config(f"{label}: fused (default)", items, styles, data_dir, embedder))
            if args.tune:
                grids[label] = leave_one_out(embedder)
            embedder.close()
    for r in results:
        print(
            f"\n## {r['name']}: accuracy {r['accuracy']:.3f}  by style {r['by_style']}  "
            f"({r['texts_per_second']} texts/s)"
        )
        print(f"per-class recall {r['per_class_recall']}")
        print(r["table"])
        if args.mistakes:
            for text, label, predicted in r["mistakes"]:
                print(f"  - [{label} -> {predicted}] {text}")
    for label, grid in grids.items():
        print(f"\n## leave-one-out on the canonical examples, {label}")
        for row in sorted(grid, key=lambda g: (-g["accuracy"], g["temperature"])):
            t, w, acc = row["temperature"], row["lexical_weight"], row["accuracy"]
            print(f"T={t:<5} lexical_weight={w:<4} accuracy={acc:.3f}")
    if args.json:
        for r in results:
            r.pop("table")
        args.json.write_text(
            json.dumps({"results": results, "leave_one_out": grids}, indent=1), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
