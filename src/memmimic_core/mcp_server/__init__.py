"""The MemMimic MCP server: the tool set over stdio or streamable HTTP (DESIGN §6).

``build_server(memory)`` returns the SDK's ``MCPServer`` with the fourteen tools;
``serve(...)`` opens the store from config and runs it (``memmimic serve``).
"""

from __future__ import annotations

from .cli import serve
from .server import build_server
from .tools import TOOL_NAMES

__all__ = ["TOOL_NAMES", "build_server", "serve"]
