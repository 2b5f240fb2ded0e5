"""Structured outputs of the MCP tools (each becomes the tool's output schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..models import Hit, Memory, Tale
from ..quality import preview

__all__ = [
    "ContentMode",
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
    return HitView(**memory_view(h.memory, mode), score=round(h.score, 6), sources=sources)


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
