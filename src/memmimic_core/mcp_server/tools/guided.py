"""Guided changes: update_memory_guided and delete_memory_guided show their impact first."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

from ...engine import MemMimic
from ...insight import tale_citations
from ...models import Memory
from ...quality import Neighbour, QualityConfig, find_neighbours, preview
from ..schemas import MemoryView, memory_view
from ..state import ServerState, guard

__all__ = ["register"]

Namespace = Annotated[str | None, Field(description="the namespace; default from config")]
Confirm = Annotated[bool, Field(description="false (default): only show the impact; true: apply the change")]


class TaleCitation(BaseModel):
    """A tale that cites a memory by id or quotes its content."""

    name: str
    version: int
    cites_by: list[str]


class Impact(BaseModel):
    """What a change touches."""

    related: list[Neighbour] = Field(description="memories similar to this one (cosine ≥ related threshold)")
    near_duplicates_after: list[Neighbour] = Field(
        default_factory=list, description="memories the new content would nearly duplicate"
    )
    tales: list[TaleCitation]
    supersedes: str | None
    superseded_by: str | None
    history_entries: int


class GuidedResult(BaseModel):
    """The impact of a change and, with confirm, its result."""

    action: Literal["update", "forget", "archive"]
    applied: bool
    memory: MemoryView = Field(description="the memory before the change")
    changes: dict[str, dict[str, Any]] = Field(description="field → {before, after}")
    impact: Impact
    after: MemoryView | None = None
    message: str


def _impact(mm: MemMimic, m: Memory, cfg: QualityConfig, new_content: str | None = None) -> Impact:
    near, _ = find_neighbours(mm, m.content, m.namespace, cfg.neighbours, exclude=[m.id])
    related = [_n(x, c) for x, c in near if c >= cfg.related_threshold]
    after: list[Neighbour] = []
    if new_content is not None:
        near2, _ = find_neighbours(mm, new_content, m.namespace, cfg.neighbours, exclude=[m.id])
        after = [_n(x, c) for x, c in near2 if c >= cfg.near_duplicate_threshold and x.status == "active"]
    return Impact(
        related=related,
        near_duplicates_after=after,
        tales=[TaleCitation(**t) for t in tale_citations(mm, m, m.namespace)],
        supersedes=m.supersedes,
        superseded_by=m.superseded_by,
        history_entries=len(mm.history(m.id, namespace=m.namespace)),
    )


def _n(m: Memory, cos: float) -> Neighbour:
    return Neighbour(
        id=m.id,
        cosine=round(cos, 4),
        status=m.status,
        created_at=m.created_at.isoformat(),
        preview=preview(m.content),
    )


def register(server: MCPServer, state: ServerState) -> None:
    """Add the guided update / delete tools to ``server``."""

    @server.tool(structured_output=True)
    @guard
    def update_memory_guided(
        memory_id: Annotated[str, Field(description="the memory to change")],
        content: Annotated[str | None, Field(description="new text (re-classified and re-embedded)")] = None,
        memory_type: Annotated[str | None, Field(description="new memory type")] = None,
        importance: Annotated[float | None, Field(ge=0, le=1, description="new importance")] = None,
        tags: Annotated[list[str] | None, Field(description="new tags (replace the old ones)")] = None,
        metadata: Annotated[
            dict[str, Any] | None, Field(description="new metadata (replaces the old)")
        ] = None,
        status: Annotated[
            Literal["active", "archived"] | None, Field(description="archive or reactivate")
        ] = None,
        reason: Annotated[str | None, Field(description="why: kept in the memory's history")] = None,
        confirm: Confirm = False,
        namespace: Namespace = None,
    ) -> GuidedResult:
        """Change a memory in two steps: first (confirm=false) see the field changes and their
        impact (similar memories, tales that cite or quote it, supersession links, history, and
        whether the new text would duplicate another memory); then call again with confirm=true
        to apply. Updates keep history (before / after and the reason)."""
        mm = state.memory
        m = mm.get(memory_id, namespace=namespace)
        proposed = {
            "content": content,
            "memory_type": memory_type,
            "importance": importance,
            "tags": tags,
            "metadata": metadata,
            "status": status,
        }
        before = memory_view(m)
        changes = {
            k: {"before": before[k], "after": v}
            for k, v in proposed.items()
            if v is not None and before[k] != v
        }
        impact = _impact(mm, m, state.quality, content if "content" in changes else None)
        if not changes:
            message = "nothing would change: give at least one field that differs from the current value"
            return GuidedResult(
                action="update",
                applied=False,
                memory=MemoryView(**before),
                changes={},
                impact=impact,
                message=message,
            )
        if not confirm:
            message = f"{len(changes)} field(s) would change; call again with confirm=true to apply"
            return GuidedResult(
                action="update",
                applied=False,
                memory=MemoryView(**before),
                changes=changes,
                impact=impact,
                message=message,
            )
        kwargs: dict[str, Any] = {k: proposed[k] for k in changes}
        updated = mm.update(m.id, reason=reason or "guided update", namespace=m.namespace, **kwargs)
        return GuidedResult(
            action="update",
            applied=True,
            memory=MemoryView(**before),
            changes=changes,
            impact=impact,
            after=MemoryView(**memory_view(updated)),
            message=f"updated {m.id}: {', '.join(changes)} (history keeps the old values)",
        )

    @server.tool(structured_output=True)
    @guard
    def delete_memory_guided(
        memory_id: Annotated[str, Field(description="the memory to delete")],
        mode: Annotated[
            Literal["forget", "archive"],
            Field(
                description="'forget' deletes for good; 'archive' hides it from default recall (restorable)"
            ),
        ] = "forget",
        reason: Annotated[str | None, Field(description="why (kept in history when archiving)")] = None,
        confirm: Confirm = False,
        namespace: Namespace = None,
    ) -> GuidedResult:
        """Delete (forget) or archive a memory in two steps: first (confirm=false) see what
        depends on it (similar memories, tales that cite or quote it, supersession links,
        history); then call again with confirm=true to apply."""
        mm = state.memory
        m = mm.get(memory_id, namespace=namespace)
        view = MemoryView(**memory_view(m))
        impact = _impact(mm, m, state.quality)
        changes = {"status": {"before": m.status, "after": "archived" if mode == "archive" else "deleted"}}
        warn = []
        if impact.tales:
            warn.append(f"{len(impact.tales)} tale(s) cite it")
        if m.superseded_by or m.supersedes:
            warn.append("it is part of a supersession chain")
        tail = f" ({'; '.join(warn)})" if warn else ""
        if not confirm:
            verb = "forgotten for good" if mode == "forget" else "archived"
            return GuidedResult(
                action=mode,
                applied=False,
                memory=view,
                changes=changes,
                impact=impact,
                message=f"{m.id} would be {verb}{tail}; call again with confirm=true to apply",
            )
        if mode == "forget":
            mm.forget(m.id, namespace=m.namespace)
            return GuidedResult(
                action=mode,
                applied=True,
                memory=view,
                changes=changes,
                impact=impact,
                message=f"forgot {m.id}{tail}",
            )
        updated = mm.update(m.id, status="archived", reason=reason or "guided archive", namespace=m.namespace)
        return GuidedResult(
            action=mode,
            applied=True,
            memory=view,
            changes=changes,
            impact=impact,
            after=MemoryView(**memory_view(updated)),
            message=f"archived {m.id}{tail}",
        )
