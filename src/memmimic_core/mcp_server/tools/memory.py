"""Memory tools: recall_cxd, remember, remember_with_quality, status."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

from ...quality import QualityDecision, parse_config, remember_with_quality
from ..budget import decode_cursor, encode_cursor, fit, request_key
from ..schemas import ContentMode, RecallResult, RememberResult, hit_view, shrink_text
from ..state import ServerState, guard

__all__ = ["register"]

Namespace = Annotated[
    str | None, Field(description="the namespace (a user, agent or project); default from config")
]
MaxTokens = Annotated[
    int, Field(ge=50, le=200_000, description="token budget of the answer (≈ characters / 4)")
]
Cursor = Annotated[str | None, Field(description="the cursor a previous page returned, to continue it")]
Content = Annotated[
    ContentMode, Field(description="'full' content or 'metadata' only (with a short preview)")
]
Tags = Annotated[list[str] | None, Field(description="tags (a memory must carry all of them when filtering)")]
CxdFunction = Literal["CONTROL", "CONTEXT", "DATA"]


class StatusResult(BaseModel):
    """Counts, backends, index and embedder state, warnings, and (with detail) metrics."""

    namespace: str = Field(description="the namespace asked about (default from config)")
    namespace_memories: int = Field(description="memories stored in that namespace")
    memories: dict[str, int] = Field(description="memories per namespace, every namespace")
    total_memories: int
    backends: dict[str, Any]
    warnings: list[str]
    quality: dict[str, Any]
    indexes: dict[str, Any]
    embedder: dict[str, Any]
    detail: dict[str, Any] | None = None


def register(server: MCPServer, state: ServerState) -> None:
    """Add the memory tools to ``server``."""

    @server.tool(structured_output=True)
    @guard
    def recall_cxd(
        query: Annotated[
            str, Field(description="what to recall, in plain words (quotes and operators are data)")
        ],
        limit: Annotated[
            int, Field(ge=1, le=1000, description="hits to find in total; pages split them")
        ] = 10,
        cxd_function: Annotated[CxdFunction | None, Field(description="only this CXD function")] = None,
        memory_type: Annotated[str | None, Field(description="only this memory type")] = None,
        tags: Tags = None,
        since: Annotated[str | None, Field(description="created at or after (ISO 8601)")] = None,
        until: Annotated[str | None, Field(description="created before (ISO 8601)")] = None,
        include_archived: Annotated[
            bool, Field(description="also return archived / superseded memories")
        ] = False,
        content: Content = "full",
        max_tokens: MaxTokens = 2000,
        cursor: Cursor = None,
        namespace: Namespace = None,
        explain: Annotated[
            bool,
            Field(
                description="add each hit's explanation: what each source, the agreement bonus and "
                "a neighbouring memory added to its score, and the query / expanded terms that matched"
            ),
        ] = False,
    ) -> RecallResult:
        """Recall memories by meaning and keyword (hybrid search), best first.

        Each hit carries its final score, how each source (keyword, semantic, expansion) scored
        and ranked it, and its CXD function (CONTROL / CONTEXT / DATA). Filters narrow by CXD
        function, type, tags and time. The answer stays within max_tokens: pass the returned
        cursor to read the next page; content='metadata' returns hits without their text;
        explain=true adds why each hit scored as it did.
        """
        mm = state.memory
        ns = mm._ns(namespace)
        key = request_key(
            "recall",
            query,
            limit,
            cxd_function,
            memory_type,
            tags,
            since,
            until,
            include_archived,
            ns,
            explain,
        )
        offset = decode_cursor(cursor, key)
        hits = mm.recall(
            query,
            limit,
            namespace=ns,
            cxd_function=cxd_function,
            memory_type=memory_type,
            tags=tags,
            since=since,
            until=until,
            status=None if include_archived else "active",
            explain=explain,
        )
        views = [hit_view(h, content) for h in hits[offset:]]
        page, used = fit(views, max_tokens, shrink_text)
        nxt = offset + len(page)
        return RecallResult(
            query=query,
            namespace=ns,
            hits=page,
            total=len(hits),
            offset=offset,
            cursor=encode_cursor(nxt, key) if nxt < len(hits) else None,
            estimated_tokens=used,
            by_function=dict(Counter(h.cxd_function or "UNCLASSIFIED" for h in page)),
        )

    @server.tool(structured_output=True)
    @guard
    def remember(
        content: Annotated[str, Field(description="the text to remember")],
        memory_type: Annotated[
            str | None, Field(description="interaction, reflection, milestone, technical, … (open set)")
        ] = None,
        importance: Annotated[
            float | None, Field(ge=0, le=1, description="0..1; default from config")
        ] = None,
        tags: Tags = None,
        metadata: Annotated[dict[str, Any] | None, Field(description="JSON metadata")] = None,
        namespace: Namespace = None,
    ) -> RememberResult:
        """Store a memory as given (no quality gate) and return its id, usable at once.

        The memory is classified (CXD function), embedded and indexed. Use
        remember_with_quality to check for duplicates and low-quality text first.
        """
        mm = state.memory
        mid = mm.remember(
            content,
            memory_type=memory_type,
            importance=importance,
            tags=tags,
            metadata=metadata,
            namespace=namespace,
        )
        m = mm.get(mid, namespace=namespace)
        return RememberResult(
            id=m.id,
            namespace=m.namespace,
            cxd_function=m.cxd_function,
            cxd_confidence=m.cxd_confidence,
            memory_type=m.memory_type,
            created_at=m.created_at.isoformat(),
        )

    @server.tool(name="remember_with_quality", structured_output=True)
    @guard
    def remember_quality(
        content: Annotated[str, Field(description="the text to remember")],
        memory_type: Annotated[str | None, Field(description="memory type (open set)")] = None,
        importance: Annotated[float | None, Field(ge=0, le=1, description="0..1")] = None,
        tags: Tags = None,
        metadata: Annotated[dict[str, Any] | None, Field(description="JSON metadata")] = None,
        dry_run: Annotated[
            bool, Field(description="assess only: report what would happen, write nothing")
        ] = False,
        near_duplicate_policy: Annotated[
            Literal["supersede", "merge", "refuse", "store"] | None,
            Field(description="override the configured policy for near duplicates"),
        ] = None,
        near_duplicate_threshold: Annotated[
            float | None, Field(ge=0, le=1, description="cosine override")
        ] = None,
        related_threshold: Annotated[float | None, Field(ge=0, le=1, description="cosine override")] = None,
        min_quality: Annotated[float | None, Field(ge=0, le=1, description="overall score override")] = None,
        namespace: Namespace = None,
    ) -> QualityDecision:
        """Score a candidate memory, detect duplicates, then store, refuse, merge or supersede.

        Scores (0..1): clarity (words, not noise; readable sentences), information density
        (distinct content words, specifics such as numbers and names) and uniqueness (1 − cosine
        to the nearest stored memory). An exact duplicate (same content hash) is refused; a near
        duplicate (cosine ≥ threshold) is handled by policy: supersede (store the new one and
        archive the old with valid_to / superseded_by), merge (append its new sentences to the
        old one, history kept), refuse, or store. The answer says which action and why, and
        lists near duplicates and related memories. No LLM involved.
        """
        overrides = {
            k: v
            for k, v in {
                "near_duplicate_policy": near_duplicate_policy,
                "near_duplicate_threshold": near_duplicate_threshold,
                "related_threshold": related_threshold,
                "min_quality": min_quality,
            }.items()
            if v is not None
        }
        return remember_with_quality(
            state.memory,
            content,
            memory_type=memory_type,
            importance=importance,
            tags=tags,
            metadata=metadata,
            namespace=namespace,
            config=parse_config(overrides, state.quality),
            dry_run=dry_run,
        )

    @server.tool(structured_output=True)
    @guard
    def status(
        detail: Annotated[
            bool, Field(description="include storage, cache and per-operation metrics")
        ] = False,
        namespace: Namespace = None,
    ) -> StatusResult:
        """Report how the memory is doing: counts per namespace (and of the one asked about),
        backends, index lag, embedder state, quality settings and warnings (alert thresholds);
        with detail, the metrics too."""
        ns = state.memory._ns(namespace)
        s = state.memory.status()
        extra: dict[str, Any] = {
            k: s[k] for k in ("storage", "cache", "metrics", "data_dir", "last_change") if k in s
        }
        return StatusResult(
            namespace=ns,
            namespace_memories=s["memories"].get(ns, 0),
            memories=s["memories"],
            total_memories=s["total_memories"],
            backends=s["backends"],
            warnings=s["warnings"],
            quality=state.quality.model_dump(),
            indexes={"text": s["text_index"], "vector": s["vector_index"]},
            embedder=s["embedder"],
            detail=extra if detail else None,
        )
