"""Structured outputs of the MCP tools (each becomes the tool's output schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..models import Hit, Memory, Tale
from ..quality import preview

__all__ = [
    "ContentMode",
    "ExpandedTermView",
    "ExplanationView",
    "HitView",
    "MemoryView",
    "RecallResult",
    "RememberResult",
    "SourceView",
    "TaleView",
    "hit_view",
    "memory_view",
    "tale_view",
]

ContentMode = Literal["full", "metadata"]
PREVIEW_CHARS = 80


class SourceView(BaseModel):
    """How one retriever (keyword, semantic, expansion) saw a hit."""

    score: float
    normalized: float
    rank: int


class ExpandedTermView(BaseModel):
    """An expanded term that matched: the expander's weight and the query word it came from."""

    term: str
    weight: float
    source: str


class ExplanationView(BaseModel):
    """How a hit's score was made (``explain``): it is the sum of the parts below."""

    contributions: dict[str, float] = Field(description="what each source added to the score")
    bonus: float = Field(description="added because several sources found the memory")
    context_lift: float = Field(description="added by the neighbouring memory lifted_by")
    lifted_by: str | None
    matched_terms: list[str] = Field(description="query words found in the memory")
    matched_expanded_terms: list[ExpandedTermView]


class MemoryView(BaseModel):
    """A memory; ``content`` is omitted in metadata mode (``preview`` shows its start)."""

    id: str
    content: str | None = None
    preview: str | None = None
    truncated: bool = False
    chars: int
    memory_type: str
    cxd_function: str | None
    cxd_confidence: float | None
    importance: float
    tags: list[str]
    metadata: dict[str, Any]
    status: str
    created_at: str
    updated_at: str
    access_count: int
    supersedes: str | None = None
    superseded_by: str | None = None
    valid_to: str | None = None


class HitView(MemoryView):
    """A recall hit: the memory, its final score and each source's view."""

    score: float
    sources: dict[str, SourceView]
    explanation: ExplanationView | None = None


class RecallResult(BaseModel):
    """One page of recall hits within the token budget."""

    query: str
    namespace: str
    hits: list[HitView]
    total: int = Field(description="hits found for the request (before paging)")
    offset: int
    cursor: str | None = Field(description="pass back to get the next page; null when done")
    estimated_tokens: int
    by_function: dict[str, int] = Field(description="CXD functions of the hits on this page")


class RememberResult(BaseModel):
    """A stored memory."""

    id: str
    namespace: str
    cxd_function: str | None
    cxd_confidence: float | None
    memory_type: str
    created_at: str


class TaleView(BaseModel):
    """A tale; ``content`` is omitted in metadata mode, or a slice when paged."""

    name: str
    namespace: str
    category: str
    tags: list[str]
    version: int
    created_at: str
    updated_at: str
    deleted: bool
    chars: int
    content: str | None = None
    preview: str | None = None


def memory_view(m: Memory, mode: ContentMode = "full") -> dict[str, Any]:
    """The fields of a :class:`MemoryView` for ``m``."""
    return {
        "id": m.id,
        "content": m.content if mode == "full" else None,
        "preview": preview(m.content, PREVIEW_CHARS) if mode == "metadata" else None,
        "chars": len(m.content),
        "memory_type": m.memory_type,
        "cxd_function": m.cxd_function,
        "cxd_confidence": m.cxd_confidence,
        "importance": m.importance,
        "tags": list(m.tags),
        "metadata": dict(m.metadata),
        "status": m.status,
        "created_at": m.created_at.isoformat(),
        "updated_at": m.updated_at.isoformat(),
        "access_count": m.access_count,
        "supersedes": m.supersedes,
        "superseded_by": m.superseded_by,
        "valid_to": m.valid_to.isoformat() if m.valid_to else None,
    }


def hit_view(h: Hit, mode: ContentMode) -> HitView:
    """A :class:`HitView` of a recall hit."""
    sources = {
        k: SourceView(score=s.score, normalized=s.normalized, rank=s.rank) for k, s in h.sources.items()
    }
    x = h.explanation
    explanation = (
        None
        if x is None
        else ExplanationView(
            contributions=dict(x.contributions),
            bonus=x.bonus,
            context_lift=x.context_lift,
            lifted_by=x.lifted_by,
            matched_terms=list(x.matched_query_terms),
            matched_expanded_terms=[
                ExpandedTermView(term=t.term, weight=t.weight, source=t.source)
                for t in x.matched_expanded_terms
            ],
        )
    )
    return HitView(
        **memory_view(h.memory, mode), score=round(h.score, 6), sources=sources, explanation=explanation
    )


def tale_view(t: Tale, mode: ContentMode = "metadata") -> TaleView:
    """A :class:`TaleView` of a tale."""
    return TaleView(
        name=t.name,
        namespace=t.namespace,
        category=t.category,
        tags=list(t.tags),
        version=t.version,
        created_at=t.created_at.isoformat(),
        updated_at=t.updated_at.isoformat(),
        deleted=t.deleted_at is not None,
        chars=len(t.content),
        content=t.content if mode == "full" else None,
        preview=preview(t.content, PREVIEW_CHARS) if mode == "metadata" else None,
    )


def shrink_text(model: Any, tokens: int) -> Any:
    """Cut a view's ``content`` so the view fits about ``tokens``; mark it ``truncated`` where it can be."""
    content = getattr(model, "content", None)
    if not content:
        return model
    overhead = len(model.model_copy(update={"content": ""}).model_dump_json())
    keep = max(0, tokens * 4 - overhead - 16)
    update: dict[str, Any] = {"content": content[:keep]}
    if "truncated" in type(model).model_fields:
        update["truncated"] = True
    return model.model_copy(update=update)
