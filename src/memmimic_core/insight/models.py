"""Result models of the thinking aids and the helpers they share."""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, Field

from ..models import Memory

__all__ = [
    "AGE_BUCKETS",
    "UNCLASSIFIED",
    "Contradiction",
    "Gap",
    "MemoryBrief",
    "PatternsResult",
    "Round",
    "SocraticResult",
    "TaleDraft",
    "ThinkResult",
    "age_bucket",
    "age_days",
    "brief",
]

AGE_BUCKETS = (("last_day", 1), ("last_week", 7), ("last_month", 31), ("last_year", 366))
UNCLASSIFIED = "UNCLASSIFIED"


class MemoryBrief(BaseModel):
    """A memory as the thinking tools show it."""

    id: str
    content: str | None
    truncated: bool = Field(default=False, description="content was cut to fit max_tokens")
    chars: int
    score: float | None = None
    memory_type: str
    cxd_function: str | None
    importance: float
    tags: list[str]
    created_at: str
    access_count: int
    status: str


class Gap(BaseModel):
    """A query term that the relevant memories do not cover."""

    term: str
    elsewhere: list[str] = Field(description="ids of memories outside the results that mention it")


class Contradiction(BaseModel):
    """Two similar memories that disagree: a negation on one side, or different numbers."""

    a: str
    b: str
    cosine: float
    kind: str
    detail: str


class ThinkResult(BaseModel):
    """Relevant memories and what they show about a query."""

    query: str
    memories: list[MemoryBrief]
    by_function: dict[str, list[str]]
    by_age: dict[str, list[str]]
    gaps: list[Gap]
    contradictions: list[Contradiction]
    questions: list[str]
    omitted: int = Field(
        default=0, description="relevant memories left out of memories to stay within max_tokens"
    )


class Round(BaseModel):
    """One step of a Socratic examination."""

    stage: str
    question: str
    basis: list[str] = Field(description="ids of the memories the question was built from")


class SocraticResult(BaseModel):
    """Questions that examine what the store holds about a topic."""

    topic: str
    rounds: list[Round]
    memories: list[MemoryBrief]
    omitted: int = Field(
        default=0, description="relevant memories left out of memories to stay within max_tokens"
    )


class PatternsResult(BaseModel):
    """Distributions over the memories of a namespace."""

    namespace: str
    total: int
    by_type: dict[str, int]
    by_function: dict[str, int]
    by_status: dict[str, int]
    by_age: dict[str, int]
    by_access: dict[str, int]
    importance: dict[str, int]
    top_tags: dict[str, int]
    per_week: dict[str, int] = Field(description="memories created per ISO week, the last 12 weeks seen")
    content_chars: dict[str, float]
    duplicate_groups: int = Field(description="groups of memories with identical content")
    superseded: int
    most_accessed: list[MemoryBrief]
    observations: list[str]


class TaleDraft(BaseModel):
    """A narrative assembled from memories, optionally saved as a tale."""

    query: str
    text: str
    cited: list[str]
    omitted: int = Field(description="relevant memories left out to stay within max_tokens")
    saved_as: str | None = None
    version: int | None = None


def brief(memory: Memory, score: float | None = None, *, full: bool = True) -> MemoryBrief:
    """A :class:`MemoryBrief` of ``memory`` (content omitted unless ``full``)."""
    return MemoryBrief(
        id=memory.id,
        content=memory.content if full else None,
        chars=len(memory.content),
        score=None if score is None else round(score, 4),
        memory_type=memory.memory_type,
        cxd_function=memory.cxd_function,
        importance=memory.importance,
        tags=list(memory.tags),
        created_at=memory.created_at.isoformat(),
        access_count=memory.access_count,
        status=memory.status,
    )


def age_days(memory: Memory, now: datetime) -> float:
    created = (
        memory.created_at if memory.created_at.tzinfo else memory.created_at.replace(tzinfo=timezone.utc)
    )
    return max(0.0, (now - created).total_seconds() / 86400)


def age_bucket(days: float) -> str:
    for name, limit in AGE_BUCKETS:
        if days <= limit:
            return name
    return "older"
