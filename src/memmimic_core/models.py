"""The data model shared by the core and every plugin (DESIGN §3).

Plain dataclasses: they cross the plugin boundary on every call, so they stay cheap to build
and free of behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "CXD_FUNCTIONS",
    "Candidate",
    "Change",
    "Explanation",
    "Filters",
    "Fused",
    "HistoryEntry",
    "Hit",
    "Memory",
    "MemoryPatch",
    "MemoryRef",
    "NewMemory",
    "SourceScore",
    "Tale",
    "TextQuery",
    "Vector",
    "WeightedTerm",
    "as_query_vector",
]

Vector = npt.NDArray[np.float32]
CXD_FUNCTIONS: tuple[str, ...] = ("CONTROL", "CONTEXT", "DATA")
MemoryStatus = Literal["active", "archived"]


def as_query_vector(vector: object) -> Vector:
    """Return ``vector`` as one finite float32 row: what every vector index's ``search`` takes.

    :raises InvalidInputError: not one non-empty row (a (1, d) array is accepted), or NaN / infinite values.
    """
    from .errors import InvalidInputError

    query = np.asarray(vector, dtype=np.float32)
    if query.ndim == 2 and query.shape[0] == 1:
        query = query[0]
    if query.ndim != 1 or not query.size:
        raise InvalidInputError(f"search() takes one vector, got an array of shape {query.shape}")
    if not np.all(np.isfinite(query)):
        raise InvalidInputError("the query vector holds NaN or infinite values")
    return query


@dataclass(frozen=True, slots=True)
class NewMemory:
    """A validated memory about to be written; the storage assigns the id and timestamps."""

    namespace: str
    content: str
    memory_type: str = "interaction"
    importance: float = 0.5
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tags: Sequence[str] = ()
    cxd_function: str | None = None
    cxd_confidence: float | None = None
    embedding: Vector | None = None
    embedder: str | None = None  # the embedder's fingerprint, stored with the vector
    valid_from: datetime | None = None
    supersedes: str | None = None  # id of the older memory this one replaces


@dataclass(frozen=True, slots=True)
class Memory:
    """A stored memory, as the storage returns it."""

    id: str
    namespace: str
    content: str
    memory_type: str
    importance: float
    metadata: Mapping[str, Any]
    tags: tuple[str, ...]
    content_hash: str
    created_at: datetime
    updated_at: datetime
    cxd_function: str | None = None
    cxd_confidence: float | None = None
    last_accessed_at: datetime | None = None
    access_count: int = 0
    status: MemoryStatus = "active"
    supersedes: str | None = None
    superseded_by: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    embedder: str | None = None
    embedding: Vector | None = None
    rowid: int = 0  # the storage's integer key: derived indexes key their entries by it

    def to_dict(self, *, with_embedding: bool = False) -> dict[str, Any]:
        """Return a JSON-ready dict (datetimes as ISO 8601 strings)."""
        out: dict[str, Any] = {}
        for name in self.__slots__:
            if name == "embedding":
                continue
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[name] = value
        if with_embedding and self.embedding is not None:
            out["embedding"] = [float(x) for x in self.embedding]
        return out


@dataclass(frozen=True, slots=True)
class MemoryRef:
    """Where a memory sits, without its content: what ranking needs before the winners are read.

    ``Storage.locate`` returns these for candidates that exist and pass the filters; the recall
    pipeline ranks and lifts neighbours on them and reads only the hits it returns in full.
    """

    id: str
    rowid: int
    memory_type: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredVector:
    """A memory's stored embedding and what a vector index keys it by, without the rest.

    ``Storage.vectors_by_rowid`` and ``Storage.iter_vectors`` return these: the vector indexes'
    catch-up and rebuild reads, which would otherwise build a whole :class:`Memory` per row.
    """

    rowid: int
    id: str
    namespace: str
    embedder: str | None  # the fingerprint stored with the vector
    embedding: Vector | None  # None: not embedded (yet)


@dataclass(frozen=True, slots=True)
class MemoryPatch:
    """The fields an update changes; ``None`` means unchanged."""

    content: str | None = None
    memory_type: str | None = None
    importance: float | None = None
    metadata: Mapping[str, Any] | None = None
    tags: Sequence[str] | None = None
    status: MemoryStatus | None = None
    cxd_function: str | None = None
    cxd_confidence: float | None = None
    embedding: Vector | None = None
    embedder: str | None = None
    superseded_by: str | None = None
    valid_to: datetime | None = None
    clear_embedding: bool = False  # content changed but no new vector yet

    def changed_fields(self) -> dict[str, Any]:
        """Return the fields this patch sets (embedding excluded)."""
        skip = {"embedding", "embedder", "clear_embedding"}
        return {
            name: getattr(self, name)
            for name in self.__slots__
            if name not in skip and getattr(self, name) is not None
        }


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One recorded change of a memory: when, why, and the fields before and after."""

    memory_id: str
    version: int
    changed_at: datetime
    reason: str | None
    before: Mapping[str, Any]
    after: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "memory_id": self.memory_id,
            "version": self.version,
            "changed_at": self.changed_at.isoformat(),
            "reason": self.reason,
            "before": dict(self.before),
            "after": dict(self.after),
        }


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the storage's change sequence, which derived indexes replay to catch up."""

    seq: int
    memory_id: str
    rowid: int
    namespace: str
    op: Literal["upsert", "delete"]


@dataclass(frozen=True, slots=True)
class Filters:
    """Recall filters. Backends push down what they can; the engine applies the rest."""

    memory_type: str | None = None
    cxd_function: str | None = None
    tags: tuple[str, ...] = ()  # a memory must carry every tag listed
    since: datetime | None = None  # created_at >= since
    until: datetime | None = None  # created_at < until
    status: MemoryStatus | None = "active"  # None: any status
    metadata: Mapping[str, Any] | None = None  # top-level key == value, all must match

    def is_empty(self) -> bool:
        """True when only the default status filter is set."""
        return (
            self.memory_type is None
            and self.cxd_function is None
            and not self.tags
            and self.since is None
            and self.until is None
            and self.status == "active"
            and not self.metadata
        )

    def matches(self, memory: Memory) -> bool:
        """Return whether ``memory`` passes every filter (the engine's fallback)."""
        if self.status is not None and memory.status != self.status:
            return False
        if self.memory_type is not None and memory.memory_type != self.memory_type:
            return False
        if self.cxd_function is not None and memory.cxd_function != self.cxd_function:
            return False
        if self.tags and not set(self.tags).issubset(memory.tags):
            return False
        if self.since is not None and memory.created_at < self.since:
            return False
        if self.until is not None and memory.created_at >= self.until:
            return False
        if self.metadata:
            for key, value in self.metadata.items():
                if memory.metadata.get(key) != value:
                    return False
        return True


@dataclass(frozen=True, slots=True)
class WeightedTerm:
    """An extra query term with a weight in (0, 1], as an expander produces it."""

    term: str
    weight: float
    source: str = ""  # the query word it was expanded from


@dataclass(frozen=True, slots=True)
class TextQuery:
    """What a text index searches for: the user's raw text and/or weighted terms.

    The text is data, never syntax: quotes, operators and parentheses are searched as words.
    """

    text: str = ""
    terms: tuple[WeightedTerm, ...] = ()
    want_matched: bool = False
    """Report each candidate's matched terms even where the index skips that by default (explain)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One retriever's answer: a memory and its raw score (higher is better)."""

    memory_id: str
    score: float
    matched_terms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceScore:
    """How one source (keyword, semantic, expansion) saw a hit."""

    score: float  # the source's raw score
    normalized: float  # after the ranker's per-query normalization
    rank: int  # 1-based rank within that source


@dataclass(frozen=True, slots=True)
class Fused:
    """A ranker's output for one memory.

    ``contributions`` and ``bonus`` break ``score`` down for explanations: what each source
    added and what the ranker added for agreement, so that ``sum(contributions) + bonus``
    is ``score``. Rankers fill them when asked (``fuse(..., explain=True)``, for
    ``recall(explain=True)``); otherwise, or when a ranker cannot break its score down, they
    stay empty.
    """

    memory_id: str
    score: float
    sources: Mapping[str, SourceScore]
    matched_terms: tuple[str, ...] = ()
    contributions: Mapping[str, float] = field(default_factory=dict)
    bonus: float = 0.0


@dataclass(frozen=True, slots=True)
class Explanation:
    """How one recall hit got its final score, and which terms matched (``recall(explain=True)``).

    ``score = sum(contributions.values()) + bonus + context_lift``, up to float rounding, for
    the built-in rankers.
    """

    score: float
    """The hit's final score."""
    contributions: Mapping[str, float] = field(default_factory=dict)
    """Per source (keyword, semantic, expansion, …): what it added to the final score."""
    bonus: float = 0.0
    """What the ranker added because several sources agreed (the convergence bonus)."""
    context_lift: float = 0.0
    """What the neighbour lift added (``ranker.context_weight`` × the neighbour's score)."""
    lifted_by: str | None = None
    """The id of the neighbouring hit that lifted this one, if any."""
    matched_query_terms: tuple[str, ...] = ()
    """Words of the query found in the memory (as the text index reports them)."""
    matched_expanded_terms: tuple[WeightedTerm, ...] = ()
    """Expanded terms found in the memory, with the expander's weight and source word."""
    sources: Mapping[str, SourceScore] = field(default_factory=dict)
    """How each source saw the hit (as :attr:`Hit.sources`), for the rendering."""

    def lines(self) -> list[str]:
        """Return a human rendering, one line per fact (no markup)."""
        parts = [f"{name} {value:.4f}" for name, value in self.contributions.items()]
        if self.bonus:
            parts.append(f"bonus {self.bonus:.4f}")
        if self.context_lift:
            parts.append(f"context {self.context_lift:.4f}")
        out = [f"final score {self.score:.4f}" + (f" = {' + '.join(parts)}" if parts else "")]
        for name, src in self.sources.items():
            if name == "context":
                continue
            added = self.contributions.get(name)
            share = f"+{added:.4f}" if added is not None else "   -   "
            out.append(
                f"  {name:<10} {share}  (score {_num(src.score)}, rank {src.rank},"
                f" normalized {_num(src.normalized)})"
            )
        if self.bonus:
            out.append(f"  {'bonus':<10} +{self.bonus:.4f}  (sources agreed)")
        if self.lifted_by is not None:
            out.append(f"  {'context':<10} +{self.context_lift:.4f}  (lifted by neighbour {self.lifted_by})")
        out.append(f"  matched terms: {', '.join(self.matched_query_terms) or '-'}")
        if self.matched_expanded_terms:
            expanded = ", ".join(
                f"{t.term} (weight {t.weight:g}" + (f", from {t.source})" if t.source else ")")
                for t in self.matched_expanded_terms
            )
            out.append(f"  matched expanded terms: {expanded}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "score": self.score,
            "contributions": dict(self.contributions),
            "bonus": self.bonus,
            "context_lift": self.context_lift,
            "lifted_by": self.lifted_by,
            "matched_query_terms": list(self.matched_query_terms),
            "matched_expanded_terms": [
                {"term": t.term, "weight": t.weight, "source": t.source} for t in self.matched_expanded_terms
            ],
            "sources": {
                name: {"score": s.score, "normalized": s.normalized, "rank": s.rank}
                for name, s in self.sources.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Explanation:
        """Rebuild an explanation from :meth:`to_dict` output."""
        return cls(
            score=float(data["score"]),
            contributions={str(k): float(v) for k, v in data.get("contributions", {}).items()},
            bonus=float(data.get("bonus", 0.0)),
            context_lift=float(data.get("context_lift", 0.0)),
            lifted_by=data.get("lifted_by"),
            matched_query_terms=tuple(data.get("matched_query_terms", ())),
            matched_expanded_terms=tuple(
                WeightedTerm(term=t["term"], weight=float(t["weight"]), source=t.get("source", ""))
                for t in data.get("matched_expanded_terms", ())
            ),
            sources={
                str(name): SourceScore(score=s["score"], normalized=s["normalized"], rank=s["rank"])
                for name, s in data.get("sources", {}).items()
            },
        )


def _num(value: float) -> str:
    return f"{value:.2e}" if 0 < abs(value) < 0.0001 else f"{value:.4f}"


@dataclass(frozen=True, slots=True)
class Hit:
    """One recall result: the memory, its final score and how each source saw it."""

    memory: Memory
    score: float
    sources: Mapping[str, SourceScore]
    matched_terms: tuple[str, ...] = ()
    explanation: Explanation | None = None
    """How the score was made and what matched; set by ``recall(..., explain=True)`` only."""

    @property
    def id(self) -> str:
        """The memory's id."""
        return self.memory.id

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (with ``explanation`` when the hit carries one)."""
        out: dict[str, Any] = {
            "id": self.memory.id,
            "score": self.score,
            "sources": {
                name: {"score": s.score, "normalized": s.normalized, "rank": s.rank}
                for name, s in self.sources.items()
            },
            "matched_terms": list(self.matched_terms),
            "memory": self.memory.to_dict(),
        }
        if self.explanation is not None:
            out["explanation"] = self.explanation.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class Tale:
    """A named narrative in a namespace; every save is a new version."""

    namespace: str
    name: str
    content: str
    category: str
    tags: tuple[str, ...]
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "namespace": self.namespace,
            "name": self.name,
            "content": self.content,
            "category": self.category,
            "tags": list(self.tags),
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "deleted_at": self.deleted_at.isoformat() if self.deleted_at else None,
        }
