"""Bearer-token protection of the HTTP transport, and the rule for where it may bind."""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
from typing import Any

from ..errors import ConfigError

__all__ = ["TOKEN_ENV", "BearerTokenMiddleware", "check_bind", "is_loopback", "resolve_token"]

TOKEN_ENV = "MEMMIMIC_SERVER_TOKEN"
Scope = dict[str, Any]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(token: str | None, configured: str | None = None) -> str | None:
    """The token to require: the argument, else ``MEMMIMIC_SERVER_TOKEN``, else the config's."""
    for candidate in (token, os.environ.get(TOKEN_ENV), configured):
        if candidate is not None and candidate.strip():
            return candidate.strip()
    return None


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose the server beyond this machine without a token.

    :raises ConfigError: ``host`` is not a loopback address and no token is set.
    """
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"binding the MCP server to {host!r} exposes your memory to the network; set a token "
            f"(--token or {TOKEN_ENV}) or bind to 127.0.0.1"
        )
    if token is not None and len(token) < 16:
        raise ConfigError("the server token is shorter than 16 characters; use a long random value")


class BearerTokenMiddleware:
    """ASGI middleware: HTTP requests without ``Authorization: Bearer <token>`` get 401."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Pass lifespan events through; check every HTTP request's token."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization":
                given = value
                break
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "unauthorized", "detail": "send Authorization: Bearer <token>"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="memmimic"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
