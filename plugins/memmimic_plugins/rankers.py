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
from math import isfinite
from operator import itemgetter
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
        best: dict[str, tuple[float, Candidate]] = {}
        for candidate in candidates:
            score = candidate.score
            key = score if isfinite(score) else _finite(score)
            kept = best.get(candidate.memory_id)
            if kept is None or key > kept[0]:
                best[candidate.memory_id] = (key, candidate)
        ordered = sorted(best.values(), key=itemgetter(0), reverse=True)  # reverse keeps it stable
        if ordered:
            ranked[source] = [(c, rank) for rank, (_, c) in enumerate(ordered, start=1)]
    return ranked


def _finite(score: float) -> float:
    """NaN ranks last; infinities are clipped so arithmetic stays finite."""
    if math.isnan(score):
        return -1e308
    return max(-1e308, min(1e308, score))


# what one source said of one memory: (source, candidate, normalized score, rank)
_Seen = tuple[str, Candidate, float, int]


def _union_terms(seen: Sequence[_Seen]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for _, candidate, _, _ in seen:
        for term in candidate.matched_terms:
            found.setdefault(term, None)
    return tuple(found)


def _collect(
    ranked: Mapping[str, Sequence[tuple[Candidate, int]]],
    normalized: Mapping[str, Sequence[float]],
    value: Callable[[str, float, int], float],
) -> tuple[dict[str, float], dict[str, list[_Seen]]]:
    """Sum ``value(source, normalized, rank)`` per memory; keep what each source said of it."""
    totals: dict[str, float] = {}
    seen: dict[str, list[_Seen]] = {}
    for source, entries in ranked.items():
        for (candidate, rank), norm in zip(entries, normalized[source], strict=True):
            mid = candidate.memory_id
            got = seen.get(mid)
            if got is None:
                seen[mid] = [(source, candidate, norm, rank)]
                totals[mid] = value(source, norm, rank)
            else:
                got.append((source, candidate, norm, rank))
                totals[mid] += value(source, norm, rank)
    return totals, seen


def _finish(
    scores: dict[str, float],
    seen: dict[str, list[_Seen]],
    limit: int,
    share: Callable[[str, SourceScore], float] | None = None,
    bonus: Callable[[str], float] | None = None,
) -> list[Fused]:
    """Order and cut to ``limit``; only the kept memories get their per-source breakdown
    (and, with ``share`` for explain, what each source added)."""
    order = sorted(scores, key=lambda mid: (-scores[mid], mid))[: max(0, limit)]
    out = []
    for mid in order:
        said = seen[mid]
        sources = {source: SourceScore(c.score, norm, rank) for source, c, norm, rank in said}
        if share is None:
            out.append(Fused(mid, scores[mid], sources, _union_terms(said)))
        else:
            contributions = {source: share(source, s) for source, s in sources.items()}
            extra = bonus(mid) if bonus is not None else 0.0
            out.append(Fused(mid, scores[mid], sources, _union_terms(said), contributions, extra))
    return out


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
        values = [s if isfinite(s) else _finite(s) for s in scores]
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
        weights = {source: self.weight(source) for source in ranked}
        total_weight = sum(weights.values())
        normalized = {
            source: self.normalize([c.score for c, _ in entries]) for source, entries in ranked.items()
        }
        weighted, seen = _collect(ranked, normalized, lambda source, norm, _rank: weights[source] * norm)
        bonus = self.options.convergence_bonus

        counted = {source for source, w in weights.items() if w > 0}  # a source weighted 0 agrees with none
        every_source_counts = len(counted) == len(weights)

        def agreeing(mid: str) -> int:
            said = seen[mid]
            return len(said) if every_source_counts else sum(1 for x in said if x[0] in counted)

        scores = {
            mid: (value / total_weight if total_weight > 0 else 0.0) + bonus * max(0, agreeing(mid) - 1)
            for mid, value in weighted.items()
        }
        if not explain:
            return _finish(scores, seen, limit)
        share = {source: w / total_weight if total_weight > 0 else 0.0 for source, w in weights.items()}
        return _finish(
            scores,
            seen,
            limit,
            share=lambda source, said: share[source] * said.normalized,
            bonus=lambda mid: bonus * max(0, agreeing(mid) - 1),
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
        ranked = rank_sources(sources)
        weights = {source: self.weight(source) for source in ranked}
        normalized = {
            source: [(k + 1) / (k + rank) for _, rank in entries] for source, entries in ranked.items()
        }
        scores, seen = _collect(ranked, normalized, lambda source, _norm, rank: weights[source] / (k + rank))
        if not explain:
            return _finish(scores, seen, limit)
        return _finish(scores, seen, limit, share=lambda source, said: weights[source] / (k + said.rank))

    def weight(self, source: str) -> float:
        """Return the weight of ``source``."""
        return float(self.options.weights.get(source, self.options.default_weight))


@hookimpl
def memmimic_register_ranker(register: BackendRegistry[Ranker]) -> None:
    """Register the ``weighted`` and ``rrf`` rankers."""
    register(WeightedRanker)
    register(RrfRanker)
