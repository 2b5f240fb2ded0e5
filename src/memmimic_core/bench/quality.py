"""``bench quality``: recall quality of MemMimic configurations on LoCoMo-format data.

Each conversation is its own haystack in its own namespace; each turn is one memory
(:attr:`Turn.content`, with ``dia_id``, ``session`` and ``date`` in its metadata); each question
is a recall of 10 whose ranked ``dia_id`` values are scored against the question's evidence.

Configurations that store the same thing (same storage, embedder and classifier) share one
ingested store: it is built once in a temporary ``data_dir`` and each configuration opens it in
turn (its own text and vector indexes sync from the stored rows and vectors), so a preset that
changes only the ranker, the text index or the sources costs queries, not embeddings.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import load_config
from ..errors import InvalidInputError
from .locomo import CATEGORY_NAMES, Conversation, Dataset, load_locomo
from .metrics import MetricTotals, question_metrics
from .presets import PRESETS, Preset

__all__ = [
    "PRESETS",
    "Preset",
    "PresetResult",
    "QualityReport",
    "load_locomo",
    "merge_config",
    "run_quality",
]

Progress = Callable[[str], None]
_SHARED_SECTIONS = ("storage", "embedder", "classifier", "memory")


@dataclass
class PresetResult:
    """The scores of one configuration."""

    name: str
    description: str
    sources: tuple[str, ...] | None
    config: dict[str, Any]
    metrics: dict[str, dict[str, float]]
    latency_ms: dict[str, float]
    ingest_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "description": self.description,
            "sources": list(self.sources) if self.sources is not None else None,
            "config": self.config,
            "metrics": self.metrics,
            "latency_ms": self.latency_ms,
            "ingest_seconds": self.ingest_seconds,
        }


@dataclass
class QualityReport:
    """All configurations' scores on one data file."""

    dataset: str
    conversations: int
    turns: int
    questions: int
    evidence_notes: dict[str, Any]
    results: list[PresetResult] = field(default_factory=list)
    categories: dict[str, str] = field(default_factory=lambda: {str(k): v for k, v in CATEGORY_NAMES.items()})

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "dataset": self.dataset,
            "conversations": self.conversations,
            "turns": self.turns,
            "questions": self.questions,
            "evidence_notes": self.evidence_notes,
            "categories": self.categories,
            "results": [r.to_dict() for r in self.results],
        }


def merge_config(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base`` (mappings merge, anything else replaces)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _shared_key(config: Mapping[str, Any]) -> str:
    effective = load_config({k: v for k, v in config.items() if k != "data_dir"}).to_dict()
    return json.dumps({k: effective.get(k) for k in _SHARED_SECTIONS}, sort_keys=True, default=str)


def _ingest(config: Mapping[str, Any], dataset: Dataset, progress: Progress) -> float:
    from ..engine import MemMimic

    started = time.perf_counter()
    with MemMimic(dict(config)) as mm:
        for conv in dataset.conversations:
            items = [
                {
                    "content": turn.content,
                    "metadata": {"dia_id": turn.dia_id, "session": turn.session, "date": turn.date},
                }
                for turn in conv.turns
            ]
            mm.remember_many(items, namespace=_namespace(conv))
            progress(f"  stored {conv.sample_id}: {len(items)} turns")
    return time.perf_counter() - started


def _namespace(conv: Conversation) -> str:
    return f"locomo-{conv.sample_id}"


def _evaluate(
    preset: Preset, config: Mapping[str, Any], dataset: Dataset, limit: int
) -> tuple[dict[str, dict[str, float]], list[float]]:
    from ..engine import MemMimic

    totals = MetricTotals()
    latencies: list[float] = []
    with MemMimic(dict(config)) as mm:
        first = dataset.conversations[0] if dataset.conversations else None
        if first is not None and first.questions:  # load models before timing
            mm.recall(first.questions[0].question, limit, namespace=_namespace(first), sources=preset.sources)
        for conv in dataset.conversations:
            for q in conv.questions:
                started = time.perf_counter()
                hits = mm.recall(q.question, limit, namespace=_namespace(conv), sources=preset.sources)
                latencies.append((time.perf_counter() - started) * 1000.0)
                ranked = [str(h.memory.metadata.get("dia_id")) for h in hits]
                totals.add(str(q.category), question_metrics(ranked, q.evidence))
    return totals.means(), latencies


def _latency(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0}
    ordered = sorted(values)
    return {
        "mean": statistics.fmean(ordered),
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
    }


def run_quality(
    dataset: Dataset,
    presets: Sequence[Preset],
    *,
    base_config: Mapping[str, Any] | None = None,
    dataset_name: str = "",
    limit: int = 10,
    work_dir: str | Path | None = None,
    keep_stores: str | Path | None = None,
    progress: Progress | None = None,
) -> QualityReport:
    """Score each preset on ``dataset`` and return the report.

    :param base_config: settings every preset starts from (a preset's own keys win).
    :param work_dir: where the temporary stores go (default: the system's temp folder);
        they are deleted afterwards.
    :param keep_stores: keep the ingested stores in this folder instead (one sub-folder per
        storage/embedder/classifier combination) and reuse a complete one on the next run.
    :raises InvalidInputError: no presets, or a dataset without questions.
    """
    say = progress or (lambda _msg: None)
    if not presets:
        raise InvalidInputError("give at least one preset or config to benchmark")
    if dataset.question_count == 0:
        raise InvalidInputError("the benchmark file has no question with evidence")
    report = QualityReport(
        dataset=dataset_name,
        conversations=len(dataset.conversations),
        turns=dataset.turn_count,
        questions=dataset.question_count,
        evidence_notes=dataset.notes.to_dict(),
    )
    # the embedder's own default keeps its ONNX export in the per-user model cache, not the throwaway data_dir
    configs = [merge_config(base_config or {}, p.config) for p in presets]
    groups: dict[str, list[int]] = {}
    for i, config in enumerate(configs):
        groups.setdefault(_shared_key(config), []).append(i)
    results: dict[int, PresetResult] = {}
    for key, members in groups.items():
        if keep_stores is not None:
            digest = hashlib.sha256(f"{dataset_name}|{dataset.turn_count}|{key}".encode()).hexdigest()[:12]
            root = Path(keep_stores) / f"store-{digest}"
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(tempfile.mkdtemp(prefix="memmimic-bench-", dir=work_dir))
        try:
            data_dir = str(root / "store")
            names = ", ".join(presets[i].name for i in members)
            done = root / "ingested.json"
            if done.is_file():
                ingest = float(json.loads(done.read_text())["seconds"])
                say(f"reusing the stored turns in {root} for {names}")
            else:
                say(f"storing {dataset.turn_count} turns for {names}")
                ingest = _ingest({**configs[members[0]], "data_dir": data_dir}, dataset, say)
                if keep_stores is not None:
                    done.write_text(json.dumps({"seconds": ingest}))
            for i in members:
                preset = presets[i]
                say(f"recalling {dataset.question_count} questions with {preset.name}")
                metrics, latencies = _evaluate(preset, {**configs[i], "data_dir": data_dir}, dataset, limit)
                results[i] = PresetResult(
                    name=preset.name,
                    description=preset.description,
                    sources=preset.sources,
                    config=configs[i],
                    metrics=metrics,
                    latency_ms=_latency(latencies),
                    ingest_seconds=ingest,
                )
                say(f"  {preset.name}: recall@10 {metrics['all']['recall@10']:.3f}")
        finally:
            if keep_stores is None:
                shutil.rmtree(root, ignore_errors=True)
    report.results = [results[i] for i in range(len(presets))]
    return report
