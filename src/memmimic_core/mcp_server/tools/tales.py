"""Tale tools: tales, save_tale, load_tale, delete_tale, context_tale."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

from ...errors import InvalidInputError
from ...insight import TaleDraft, context_tale
from ..budget import decode_cursor, encode_cursor, fit, request_key
from ..schemas import ContentMode, TaleView, shrink_text, tale_view
from ..state import ServerState, guard

__all__ = ["register"]

Namespace = Annotated[str | None, Field(description="the namespace; default from config")]
TaleName = Annotated[
    str, Field(description="the tale's name (no '/', '\\\\' or '..': tales live in the database)")
]
MaxTokens = Annotated[
    int, Field(ge=50, le=200_000, description="token budget of the answer (≈ characters / 4)")
]
Cursor = Annotated[str | None, Field(description="the cursor a previous page returned, to continue it")]


class TaleList(BaseModel):
    """One page of tales (latest version of each)."""

    tales: list[TaleView]
    total: int
    offset: int
    cursor: str | None
    estimated_tokens: int


class TalePage(BaseModel):
    """A tale's text, or one slice of it when it is longer than the budget."""

    tale: TaleView
    offset: int = Field(description="character offset of this slice")
    cursor: str | None = Field(description="pass back to read the next slice; null when done")
    versions: int


class TaleDeleted(BaseModel):
    """The result of delete_tale."""

    name: str
    namespace: str
    action: Literal["deleted", "purged", "restored"]
    existed: bool
    message: str


def register(server: MCPServer, state: ServerState) -> None:
    """Add the tale tools to ``server``."""

    @server.tool(structured_output=True)
    @guard
    def tales(
        query: Annotated[str | None, Field(description="only tales whose name or text matches")] = None,
        category: Annotated[str | None, Field(description="only this category")] = None,
        include_deleted: Annotated[bool, Field(description="also list soft-deleted tales")] = False,
        content: Annotated[
            ContentMode, Field(description="'metadata' (default, with preview) or 'full'")
        ] = "metadata",
        max_tokens: MaxTokens = 2000,
        cursor: Cursor = None,
        namespace: Namespace = None,
    ) -> TaleList:
        """List or search tales (named, versioned narratives), latest version of each, within
        max_tokens; pass the returned cursor for the next page."""
        mm = state.memory
        ns = mm._ns(namespace)
        key = request_key("tales", query, category, include_deleted, ns)
        offset = decode_cursor(cursor, key)
        found = mm.tales.list(category=category, query=query, include_deleted=include_deleted, namespace=ns)
        page, used = fit([tale_view(t, content) for t in found[offset:]], max_tokens, shrink_text)
        nxt = offset + len(page)
        return TaleList(
            tales=page,
            total=len(found),
            offset=offset,
            cursor=encode_cursor(nxt, key) if nxt < len(found) else None,
            estimated_tokens=used,
        )

    @server.tool(structured_output=True)
    @guard
    def save_tale(
        name: TaleName,
        content: Annotated[str, Field(description="the tale's text")],
        category: Annotated[str, Field(description="a category, e.g. project, person, howto")] = "general",
        tags: Annotated[list[str] | None, Field(description="tags")] = None,
        namespace: Namespace = None,
    ) -> TaleView:
        """Save a tale; saving an existing name adds a new version (every version is kept)."""
        tale = state.memory.tales.save(name, content, category=category, tags=tags, namespace=namespace)
        return tale_view(tale)

    @server.tool(structured_output=True)
    @guard
    def load_tale(
        name: TaleName,
        version: Annotated[int | None, Field(ge=1, description="a version; default the latest")] = None,
        max_tokens: MaxTokens = 4000,
        cursor: Cursor = None,
        namespace: Namespace = None,
    ) -> TalePage:
        """Load a tale (the latest or a given version). A text longer than max_tokens comes in
        slices: pass the returned cursor to read on."""
        mm = state.memory
        ns = mm._ns(namespace)
        tale = mm.tales.load(name, version=version, namespace=ns)
        key = request_key("tale", tale.name, tale.version, ns)
        offset = decode_cursor(cursor, key)
        view = tale_view(tale, "full")
        chunk = max(1, max_tokens * 4 - len(view.model_copy(update={"content": ""}).model_dump_json()) - 64)
        text = tale.content[offset : offset + chunk]
        nxt = offset + len(text)
        return TalePage(
            tale=view.model_copy(update={"content": text}),
            offset=offset,
            cursor=encode_cursor(nxt, key) if nxt < len(tale.content) else None,
            versions=len(mm.tales.versions(tale.name, namespace=ns)),
        )

    @server.tool(structured_output=True)
    @guard
    def delete_tale(
        name: TaleName,
        purge: Annotated[bool, Field(description="delete every version for good (not restorable)")] = False,
        restore: Annotated[bool, Field(description="undo an earlier soft delete instead")] = False,
        namespace: Namespace = None,
    ) -> TaleDeleted:
        """Delete a tale: soft by default (restorable with restore=true), or purge every version."""
        mm = state.memory
        ns = mm._ns(namespace)
        if restore and purge:
            raise InvalidInputError("give purge=true or restore=true, not both")
        if restore:
            tale = mm.tales.restore(name, namespace=ns)
            return TaleDeleted(
                name=tale.name,
                namespace=ns,
                action="restored",
                existed=True,
                message=f"restored tale {tale.name!r} (version {tale.version})",
            )
        existed = mm.tales.delete(name, purge=purge, namespace=ns)
        action: Literal["deleted", "purged"] = "purged" if purge else "deleted"
        message = (
            f"{action} tale {name!r}" + ("" if purge else "; restore with restore=true")
            if existed
            else f"no tale {name!r} in namespace {ns!r}"
        )
        return TaleDeleted(name=name, namespace=ns, action=action, existed=existed, message=message)

    @server.tool(name="context_tale", structured_output=True)
    @guard
    def context_tale_tool(
        query: Annotated[str, Field(description="the subject to gather memories about")],
        limit: Annotated[int, Field(ge=1, le=200, description="relevant memories to consider")] = 20,
        max_tokens: MaxTokens = 2000,
        save_as: Annotated[str | None, Field(description="save the text as a tale of this name")] = None,
        category: Annotated[str, Field(description="category when saving")] = "context",
        namespace: Namespace = None,
    ) -> TaleDraft:
        """Assemble the memories relevant to a subject into a dated narrative, grouped by CXD
        function (context, facts, decisions), oldest first, each line citing its memory id.
        Writes nothing unless save_as is given."""
        return context_tale(
            state.memory,
            query,
            limit=limit,
            max_tokens=max_tokens,
            namespace=namespace,
            save_as=save_as,
            category=category,
        )
