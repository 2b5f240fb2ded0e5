"""``memmimic serve``: run the MCP server over stdio (default) or streamable HTTP."""

from __future__ import annotations

import logging
import sys
from typing import Any

from ..config import load_config
from .auth import BearerTokenMiddleware, check_bind, resolve_token
from .server import build_server

__all__ = ["serve"]

log = logging.getLogger(__name__)


def serve(
    config: str | None = None,
    http: bool = False,
    host: str | None = None,
    port: int | None = None,
    token: str | None = None,
) -> None:
    """Open the store once and serve MCP calls until stopped.

    :param config: a YAML path (default ``MEMMIMIC_CONFIG`` / the defaults).
    :param http: streamable HTTP at ``http://host:port/mcp`` instead of stdio.
    :param host: the address to bind (default ``server.host``); beyond loopback a token is required.
    :param port: the port (default ``server.port``).
    :param token: the bearer token HTTP clients must send (else ``MEMMIMIC_SERVER_TOKEN``).
    :raises MemMimicError: bad config, or a non-loopback bind without a token.
    """
    from ..engine import MemMimic

    cfg = load_config(config)
    host = host or cfg.server.host
    port = port or cfg.server.port
    secret = resolve_token(token, cfg.server.token)
    if http:
        check_bind(host, secret)
    memory = MemMimic(cfg)
    try:
        if cfg.server.metrics_port:
            from prometheus_client import start_http_server

            from ..metrics_prometheus import make_registry

            start_http_server(cfg.server.metrics_port, addr=host, registry=make_registry(memory.metrics))
        server = build_server(memory, quality=cfg.memory.quality)
        if not http:
            server.run("stdio")
            return
        import anyio
        import uvicorn

        app: Any = server.streamable_http_app(host=host)
        if secret:
            app = BearerTokenMiddleware(app, secret)
        print(
            f"MemMimic MCP server on http://{host}:{port}/mcp"
            + (" (bearer token required)" if secret else ""),
            file=sys.stderr,
            flush=True,
        )
        uv = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
        anyio.run(uv.serve)
    finally:
        memory.close()
