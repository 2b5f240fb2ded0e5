"""The MemMimic MCP tools, registered in groups."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from ..state import ServerState
from . import guided, memory, tales, thinking

__all__ = ["TOOL_NAMES", "register_all"]

TOOL_NAMES: tuple[str, ...] = (
    "recall_cxd",
    "remember",
    "remember_with_quality",
    "think_with_memory",
    "status",
    "tales",
    "save_tale",
    "load_tale",
    "delete_tale",
    "context_tale",
    "update_memory_guided",
    "delete_memory_guided",
    "analyze_memory_patterns",
    "socratic_dialogue",
)


def register_all(server: MCPServer, state: ServerState) -> None:
    """Register every MemMimic tool on ``server``."""
    for group in (memory, guided, tales, thinking):
        group.register(server, state)
