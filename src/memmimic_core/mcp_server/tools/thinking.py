"""Thinking tools: think_with_memory, analyze_memory_patterns, socratic_dialogue."""

from __future__ import annotations

from typing import Annotated, TypeVar

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from ...insight import (
    PatternsResult,
    SocraticResult,
    ThinkResult,
    analyze_memory_patterns,
    socratic_dialogue,
    think_with_memory,
)
from ..budget import fit
from ..schemas import ContentMode, shrink_text
from ..state import ServerState, guard

__all__ = ["register"]

Namespace = Annotated[str | None, Field(description="the namespace; default from config")]
MaxTokens = Annotated[
    int, Field(ge=50, le=200_000, description="token budget of the memories listed (≈ chars / 4)")
]
Content = Annotated[ContentMode, Field(description="'full' memory text or 'metadata' only")]


def register(server: MCPServer, state: ServerState) -> None:
    """Add the thinking tools to ``server``."""

    @server.tool(name="think_with_memory", structured_output=True)
    @guard
    def think(
        query: Annotated[str, Field(description="the question or subject to think about")],
        limit: Annotated[int, Field(ge=1, le=100, description="relevant memories to consider")] = 10,
        content: Content = "full",
        max_tokens: MaxTokens = 2000,
        namespace: Namespace = None,
    ) -> ThinkResult:
        """Lay out what memory knows about a query: relevant memories grouped by CXD function
        and by age, gaps (query terms no relevant memory covers, and where else they occur),
        contradictions (similar memories where one negates the other or the numbers differ),
        and questions built from those findings. Computed from the data; writes nothing.
        Memories that do not fit max_tokens are left out of the list and counted in omitted."""
        result = think_with_memory(
            state.memory, query, limit=limit, namespace=namespace, config=state.quality
        )
        return _page(result, content, max_tokens)

    @server.tool(name="analyze_memory_patterns", structured_output=True)
    @guard
    def patterns(
        top: Annotated[
            int, Field(ge=1, le=100, description="how many top tags / most-accessed memories")
        ] = 10,
        namespace: Namespace = None,
    ) -> PatternsResult:
        """Distributions over a namespace: memory types, CXD functions, status, age, access
        counts, importance, top tags, memories per week, content length, identical-content
        groups, superseded memories, the most accessed, and observations drawn from them."""
        return analyze_memory_patterns(state.memory, namespace=namespace, top=top)

    @server.tool(name="socratic_dialogue", structured_output=True)
    @guard
    def socratic(
        topic: Annotated[str, Field(description="the belief, plan or subject to examine")],
        depth: Annotated[
            int,
            Field(
                ge=1, le=5, description="rounds: clarify, evidence, contradiction, implication, assumption"
            ),
        ] = 3,
        limit: Annotated[int, Field(ge=1, le=100, description="relevant memories to consider")] = 10,
        content: Content = "metadata",
        max_tokens: MaxTokens = 2000,
        namespace: Namespace = None,
    ) -> SocraticResult:
        """Examine what memory holds about a topic with Socratic questions, each built from the
        memories it cites: which sense of a term is meant, what supports the top claim, which
        memories disagree or changed, what follows from recorded decisions, and what would make
        the most relied-on memory false. Writes nothing. Memories that do not fit max_tokens are
        left out of the list and counted in omitted."""
        result = socratic_dialogue(
            state.memory, topic, depth=depth, limit=limit, namespace=namespace, config=state.quality
        )
        return _page(result, content, max_tokens)


_Paged = TypeVar("_Paged", ThinkResult, SocraticResult)


def _page(result: _Paged, content: ContentMode, max_tokens: int) -> _Paged:
    """``result`` with only the memories that fit ``max_tokens``, counting the others in ``omitted``."""
    memories = result.memories
    if content == "metadata":
        memories = [m.model_copy(update={"content": None}) for m in memories]
    page, _ = fit(memories, max_tokens, shrink_text)
    return result.model_copy(update={"memories": page, "omitted": len(memories) - len(page)})
