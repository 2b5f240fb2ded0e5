"""Shared plumbing of the contract suites: building a registered backend by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ..plugins import Backends
from ..protocols import BackendContext

__all__ = ["build_backend", "close_backend"]


def build_backend(suite: object, backends: Backends, kind: str, context: BackendContext) -> Any:
    """Build the backend a contract class names in ``backend_name`` / ``backend_options``.

    A suite subclass either sets ``backend_name`` (a name registered through an entry point)
    or overrides the fixture that calls this.
    """
    name: str | None = getattr(suite, "backend_name", None)
    options: Mapping[str, Any] = getattr(suite, "backend_options", {}) or {}
    if not name:
        pytest.fail(
            f"{type(suite).__name__}: set `backend_name = '<your {kind} name>'` on the class "
            f"(and `backend_options` if needed), or override the suite's {kind} fixture"
        )
    return backends[kind].create(name, dict(options), context, kind)


def close_backend(backend: Any) -> None:
    """Close a backend at teardown (if it has a close method)."""
    close = getattr(backend, "close", None)
    if close is not None:
        close()
