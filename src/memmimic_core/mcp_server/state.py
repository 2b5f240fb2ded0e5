"""What every tool shares: the open store, the quality settings, and the error translation."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from mcp.server.mcpserver.exceptions import ToolError

from ..errors import MemMimicError
from ..quality import QualityConfig

if TYPE_CHECKING:
    from ..engine import MemMimic

__all__ = ["ServerState", "guard"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class ServerState:
    """The one store a server process opens at start, shared by every call (the engine is thread-safe)."""

    memory: MemMimic
    quality: QualityConfig = field(default_factory=QualityConfig)


def guard(fn: F) -> F:
    """Turn a :class:`MemMimicError` raised by a tool into an MCP tool error with its message."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MemMimicError as exc:
            raise ToolError(str(exc)) from None

    return wrapper  # type: ignore[return-value]
