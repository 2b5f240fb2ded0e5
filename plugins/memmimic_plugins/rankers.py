"""The ``weighted`` and ``rrf`` rankers: fuse per-source candidate lists into one ranked list.

Both explain every hit: each :class:`~memmimic_core.models.Fused` carries, per source that
found the memory, its raw score, its normalized score and its 1-based rank in that source,
the union of the terms that matched; asked to explain (``fuse(..., explain=True)``, which
``recall(explain=True)`` does), also what each source and the convergence bonus added to the
final score. Ties are broken by memory id, so the same input always gives the same order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, Literal

from pydantic import Field, NonNegativeFloat

from memmimic_core import hookimpl
from memmimic_core.models import Candidate, Fused, SourceScore
from memmimic_core.protocols import BackendContext, BackendOptions, Ranker
from memmimic_core.registry import BackendRegistry

__all__ = ["RrfRanker", "WeightedRanker", "rank_sources"]


def rank_sources(sources: Mapping[str, Sequence[Candidate]]) -> dict[str, list[tuple[Candidate, int]]]:
    """Return each non-empty source's candidates, best first, with 1-based ranks.

    A memory listed twice in one source keeps its best entry. Candidates are ordered by score
    (stable, so a source's own order breaks its ties).
    """
    ranked: dict[str, list[tuple[Candidate, int]]] = {}
    for source, candidates in sources.items():
        best: dict[str, Candidate] = {}
        for candidate in candidates:
            kept = best.get(candidate.memory_id)
            if kept is None or _finite(candidate.score) > _finite(kept.score):
                best[candidate.memory_id] = candidate
        ordered = sorted(best.values(), key=lambda c: -_finite(c.score))
        if ordered:
            ranked[source] = [(c, rank) for rank, c in enumerate(ordered, start=1)]
    return ranked


def _finite(score: float) -> float:
    """NaN ranks last; infinities are clipped so arithmetic stays finite."""
    if math.isnan(score):
        return -1e308
    return max(-1e308, min(1e308, score))


def _union_terms(*term_lists: Sequence[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for terms in term_lists:
        for term in terms:
            seen.setdefault(term, None)
    return tuple(seen)


def _finish(
    scores: dict[str, float],
    explained: dict[str, dict[str, SourceScore]],
    terms: dict[str, list[Sequence[str]]],
    limit: int,
    share: Callable[[str, SourceScore], float] | None = None,
    bonus: Callable[[str], float] | None = None,
) -> list[Fused]:
    """Order and cut to ``limit``; with ``share`` (explain), break each kept score down."""
    order = sorted(scores, key=lambda mid: (-scores[mid], mid))[: max(0, limit)]
    if share is None:
        return [
            Fused(
                memory_id=mid,
                score=scores[mid],
                sources=explained[mid],
                matched_terms=_union_terms(*terms[mid]),
            )
            for mid in order
        ]
    return [
        Fused(
            memory_id=mid,
            score=scores[mid],
            sources=explained[mid],
            matched_terms=_union_terms(*terms[mid]),
            contributions={source: share(source, seen) for source, seen in explained[mid].items()},
            bonus=bonus(mid) if bonus is not None else 0.0,
        )
        for mid in order
    ]


class WeightedRanker:
    """Weighted sum of per-query normalized scores, plus a bonus when sources agree.

    ``final = Σ w_s · norm_s / Σ w_s + bonus · (sources that found it - 1)``, where the first
    sum runs over the sources that found the memory and the second over every source that
    returned anything for this query (so a memory only one source found is not inflated).
    Sources with weight 0 are listed in the explanation but add nothing and earn no bonus.
    """

    name: ClassVar[str] = "weighted"

    class Options(BackendOptions):
        """Options of the ``weighted`` ranker."""

        weights: dict[str, NonNegativeFloat] = Field(
            default_factory=lambda: {"semantic": 0.5, "keyword": 0.5, "expansion": 0.25},
            description="weight per source name",
        )
        default_weight: NonNegativeFloat = Field(default=0.25, description="weight of a source not listed")
        convergence_bonus: NonNegativeFloat = Field(
            default=0.1, description="added per extra source that found the same memory"
        )
        normalization: Literal["minmax", "max"] = Field(
            default="minmax",
            description="per source and query: minmax maps [min, max] to [0, 1]; max divides by the best",
        )
        context_weight: NonNegativeFloat = Field(
            default=0.0,
            le=1.0,
            description=(
                "share of the best neighbour's score (the memory stored just before or after, "
                "same namespace) added to a memory's own; applied by the recall pipeline"
            ),
        )
        context_window_seconds: NonNegativeFloat = Field(
            default=600.0,
            description=(
                "two memories are neighbours for context_weight only when stored at most this many "
                "seconds apart (created_at); 0 = no time limit"
            ),
        )

    def __init__(self, options: Options | None = None, context: BackendContext | None = None) -> None:
        self.options = options or self.Options()

    def weight(self, source: str) -> float:
        """Return the weight of ``source``."""
        return float(self.options.weights.get(source, self.options.default_weight))

    def normalize(self, scores: Sequence[float]) -> list[float]:
        """Map one source's raw scores into [0, 1]; a lone or all-equal list maps to 1.0."""
        values = [_finite(s) for s in scores]
        high, low = max(values), min(values)
        if self.options.normalization == "max":
            if high <= 0:
                return [1.0 if v == high else 0.0 for v in values]
            return [max(0.0, v / high) for v in values]
        if high == low:
            return [1.0] * len(values)
        return [(v - low) / (high - low) for v in values]

    def fuse(
        self, sources: Mapping[str, Sequence[Candidate]], limit: int, *, explain: bool = False
    ) -> list[Fused]:
        """Return at most ``limit`` fused results, best first (with their breakdown if ``explain``)."""
        ranked = rank_sources(sources)
        total_weight = sum(self.weight(source) for source in ranked)
        weighted: dict[str, float] = {}
        agreeing: dict[str, int] = {}
        explained: dict[str, dict[str, SourceScore]] = {}
        terms: dict[str, list[Sequence[str]]] = {}
        for source, entries in ranked.items():
            w = self.weight(source)
            normalized = self.normalize([c.score for c, _ in entries])
            for (candidate, rank), norm in zip(entries, normalized, strict=True):
                mid = candidate.memory_id
                explained.setdefault(mid, {})[source] = SourceScore(
                    score=candidate.score, normalized=norm, rank=rank
                )
                terms.setdefault(mid, []).append(candidate.matched_terms)
                weighted[mid] = weighted.get(mid, 0.0) + w * norm
                agreeing[mid] = agreeing.get(mid, 0) + (1 if w > 0 else 0)
        bonus = self.options.convergence_bonus
        scores = {
            mid: (value / total_weight if total_weight > 0 else 0.0) + bonus * max(0, agreeing[mid] - 1)
            for mid, value in weighted.items()
        }
        if not explain:
            return _finish(scores, explained, terms, limit)
        share = {source: self.weight(source) / total_weight if total_weight > 0 else 0.0 for source in ranked}
        return _finish(
            scores,
            explained,
            terms,
            limit,
            share=lambda source, seen: share[source] * seen.normalized,
            bonus=lambda mid: bonus * max(0, agreeing[mid] - 1),
        )


class RrfRanker:
    """Reciprocal rank fusion: ``Σ w_s / (k + rank_s)``; raw scores only order each source.

    The explanation's ``normalized`` is ``(k + 1) / (k + rank)``: 1.0 for a source's first hit.
    """

    name: ClassVar[str] = "rrf"

    class Options(BackendOptions):
        """Options of the ``rrf`` ranker."""

        k: float = Field(default=60.0, gt=0, description="rank offset: larger flattens the rank curve")
        weights: dict[str, NonNegativeFloat] = Field(
            default_factory=dict, description="weight per source name (default_weight when unlisted)"
        )
        default_weight: NonNegativeFloat = Field(default=1.0, description="weight of a source not listed")

    def __init__(self, options: Options | None = None, context: BackendContext | None = None) -> None:
        self.options = options or self.Options()

    def fuse(
        self, sources: Mapping[str, Sequence[Candidate]], limit: int, *, explain: bool = False
    ) -> list[Fused]:
        """Return at most ``limit`` fused results, best first (with their breakdown if ``explain``)."""
        k = self.options.k
        scores: dict[str, float] = {}
        explained: dict[str, dict[str, SourceScore]] = {}
        terms: dict[str, list[Sequence[str]]] = {}
        for source, entries in rank_sources(sources).items():
            w = self.weight(source)
            for candidate, rank in entries:
                mid = candidate.memory_id
                explained.setdefault(mid, {})[source] = SourceScore(
                    score=candidate.score, normalized=(k + 1) / (k + rank), rank=rank
                )
                terms.setdefault(mid, []).append(candidate.matched_terms)
                scores[mid] = scores.get(mid, 0.0) + w / (k + rank)
        if not explain:
            return _finish(scores, explained, terms, limit)
        weights = {source: self.weight(source) for source in sources}
        return _finish(
            scores, explained, terms, limit, share=lambda source, seen: weights[source] / (k + seen.rank)
        )

    def weight(self, source: str) -> float:
        """Return the weight of ``source``."""
        return float(self.options.weights.get(source, self.options.default_weight))


@hookimpl
def memmimic_register_ranker(register: BackendRegistry[Ranker]) -> None:
    """Register the ``weighted`` and ``rrf`` rankers."""
    register(WeightedRanker)
    register(RrfRanker)
