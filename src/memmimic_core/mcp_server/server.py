"""Build the MemMimic MCP server: one open store, the fourteen tools."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer

from ..quality import QualityConfig
from .state import ServerState
from .tools import TOOL_NAMES, register_all

if TYPE_CHECKING:
    from ..engine import MemMimic

__all__ = ["INSTRUCTIONS", "build_server"]

INSTRUCTIONS = """\
MemMimic is a persistent memory. recall_cxd finds memories by meaning and keyword;
remember / remember_with_quality store them (the latter refuses duplicates and weak text);
think_with_memory, socratic_dialogue and analyze_memory_patterns return structured analysis
of what is stored; tales are named, versioned narratives. Reads take max_tokens and return a
cursor for the next page. Guided update / delete show their impact and apply only with
confirm=true."""


def build_server(
    memory: MemMimic, *, quality: QualityConfig | None = None, log_level: str = "WARNING"
) -> MCPServer:
    """Return an :class:`MCPServer` exposing the MemMimic tools over ``memory``.

    :param memory: an open store; the caller closes it when the server stops.
    :param quality: the quality gate's settings (``memory.quality`` in config).
    """
    from .. import __version__

    server: MCPServer = MCPServer(
        "memmimic",
        title="MemMimic",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level=log_level,  # type: ignore[arg-type]
    )
    register_all(server, ServerState(memory=memory, quality=quality or QualityConfig()))
    tools = server._tool_manager.list_tools()
    missing = set(TOOL_NAMES) ^ {t.name for t in tools}
    if missing:  # a renamed function would silently change the public tool set
        raise RuntimeError(f"tool set mismatch: {sorted(missing)}")
    for tool in tools:
        _forbid_unknown_arguments(tool)
    return server


def _forbid_unknown_arguments(tool: Any) -> None:
    """Reject misspelled arguments (``namepsace``) instead of silently ignoring them.

    The SDK's argument models ignore extra keys; this tightens the model and the advertised
    schema of one tool.
    """
    model = tool.fn_metadata.arg_model
    model.model_config["extra"] = "forbid"
    model.model_rebuild(force=True)
    tool.parameters["additionalProperties"] = False
