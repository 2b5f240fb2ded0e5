"""Long-running and housekeeping commands: serve (MCP) and maintain."""

from __future__ import annotations

from typing import Annotated

import typer

from . import output
from .state import ConfigOption, JsonOption, state_of

__all__ = ["register"]


def serve(
    ctx: typer.Context,
    http: Annotated[bool, typer.Option("--http", help="Streamable HTTP instead of stdio.")] = False,
    host: Annotated[str | None, typer.Option(help="Address to bind (default: server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: server.port).")] = None,
    token: Annotated[
        str | None,
        typer.Option(help="Bearer token HTTP clients must send (else MEMMIMIC_SERVER_TOKEN, server.token)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Serve the MemMimic tools over MCP: stdio for Claude Desktop and IDE agents, or HTTP."""
    from ..mcp_server.cli import serve as run_server

    path = state_of(ctx, config).config_path
    run_server(str(path) if path else None, http, host, port, token)


def maintain(ctx: typer.Context, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Optimize the database, clean caches, catch up and optimize indexes; show what changed."""
    report = state_of(ctx, config).store().maintain()
    if as_json:
        output.print_json(report)
        return
    for section, value in report.items():
        output.print_mapping(value if isinstance(value, dict) else {"result": value}, title=section)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``maintain`` to ``app``."""
    app.command(rich_help_panel="Server")(serve)
    app.command(rich_help_panel="Store")(maintain)
