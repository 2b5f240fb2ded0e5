"""Per-question retrieval metrics and their averages, overall and per category."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["METRICS", "MetricTotals", "question_metrics"]

#: Metric names in report order.
METRICS: tuple[str, ...] = ("recall@1", "recall@5", "recall@10", "any_hit@10", "mrr@10", "ndcg@10")


def question_metrics(ranked: Sequence[str], relevant: Iterable[str]) -> dict[str, float]:
    """Score one question's ranked ids against its relevant ids.

    recall@k is the share of the relevant ids found in the first k; any_hit@10 is 1 when at
    least one is in the first 10; mrr@10 is 1/rank of the first relevant id (0 past 10);
    ndcg@10 uses binary gains, ``1/log2(rank + 1)``, divided by the ideal ordering's sum.
    A ranked id listed twice counts once, at its first rank.
    """
    wanted = set(relevant)
    if not wanted:
        raise ValueError("a question needs at least one relevant id")
    seen: set[str] = set()
    order: list[str] = []
    for item in ranked:
        if item not in seen:
            seen.add(item)
            order.append(item)
    top = order[:10]
    hits = [i for i, item in enumerate(top, start=1) if item in wanted]

    def recall(k: int) -> float:
        return sum(1 for item in order[:k] if item in wanted) / len(wanted)

    dcg = sum(1.0 / math.log2(rank + 1) for rank in hits)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(wanted), 10) + 1))
    return {
        "recall@1": recall(1),
        "recall@5": recall(5),
        "recall@10": recall(10),
        "any_hit@10": 1.0 if hits else 0.0,
        "mrr@10": 1.0 / hits[0] if hits else 0.0,
        "ndcg@10": dcg / ideal,
    }


class MetricTotals:
    """Running sums of per-question metrics, overall and per category."""

    def __init__(self) -> None:
        self._sums: dict[str, dict[str, float]] = {}
        self._counts: dict[str, int] = {}

    def add(self, category: str, scores: Mapping[str, float]) -> None:
        """Add one question's scores under ``category`` and under ``all``."""
        for group in ("all", category):
            sums = self._sums.setdefault(group, dict.fromkeys(METRICS, 0.0))
            for name in METRICS:
                sums[name] += scores[name]
            self._counts[group] = self._counts.get(group, 0) + 1

    def means(self) -> dict[str, dict[str, float]]:
        """Return ``{group: {metric: mean, "questions": n}}``, ``all`` first, categories sorted."""
        groups = ["all", *sorted(g for g in self._sums if g != "all")]
        out: dict[str, dict[str, float]] = {}
        for group in groups:
            if group not in self._sums:
                continue
            n = self._counts[group]
            out[group] = {name: self._sums[group][name] / n for name in METRICS}
            out[group]["questions"] = float(n)
        return out
