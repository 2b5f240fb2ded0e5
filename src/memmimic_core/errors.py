"""The exception hierarchy of MemMimic.

Every error MemMimic raises on purpose derives from :class:`MemMimicError`. The CLI and the
MCP server turn these into one clear line; anything else reaching a user is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "BackendUnavailableError",
    "ConfigError",
    "DuplicatePluginError",
    "EmbedderMismatchError",
    "InvalidInputError",
    "MemMimicError",
    "MissingResourceError",
    "NotFoundError",
    "PluginError",
    "StorageError",
    "UnknownPluginError",
]


class MemMimicError(Exception):
    """Root of every error MemMimic raises on purpose."""


class ConfigError(MemMimicError, ValueError):
    """The configuration is invalid: the message names the key path, the value and what is allowed."""


class UnknownPluginError(MemMimicError, LookupError):
    """A config names a backend that no installed plugin registers."""

    def __init__(self, kind: str, name: str, available: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.available = sorted(available)
        listed = ", ".join(self.available) or "none"
        super().__init__(
            f"the {kind} backend {name!r} can't be found (registered: {listed}); "
            "is the plugin that provides it installed?"
        )

    def __str__(self) -> str:  # LookupError would quote the message like a key
        return str(self.args[0])


class DuplicatePluginError(MemMimicError):
    """Two plugins registered the same backend name for one kind."""

    def __init__(self, kind: str, name: str, first: str, second: str) -> None:
        self.kind = kind
        self.name = name
        self.plugins = (first, second)
        super().__init__(
            f"the {kind} backend {name!r} is registered twice: by plugin {first!r} and by "
            f"plugin {second!r}; uninstall one or block it with MEMMIMIC_DISABLE_PLUGINS"
        )


class PluginError(MemMimicError):
    """A plugin failed to load or implements a hook that does not exist."""


class InvalidInputError(MemMimicError, ValueError):
    """An argument is unusable (empty content, a NUL byte, a limit out of range, …)."""


class NotFoundError(MemMimicError, LookupError):
    """No memory (or tale) with that id exists in that namespace."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class StorageError(MemMimicError):
    """The storage backend failed (disk full, server gone, …); nothing was half-written."""


class BackendUnavailableError(MemMimicError):
    """A backend's server (PostgreSQL, Redis, …) cannot be reached."""


class MissingResourceError(MemMimicError):
    """A model, corpus or optional package is missing; the message names the command that fixes it."""


class EmbedderMismatchError(MemMimicError):
    """The store's embeddings were made by another embedder than the one configured."""
