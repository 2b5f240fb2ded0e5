"""MemMimic: persistent, searchable memory for AI assistants.

The core: API facade, hook specs, plugin manager, config, data model and engine. Backends
come from plugins (entry point group ``memmimic``); the core never imports a plugin.
"""

from __future__ import annotations

from .config import MemMimicConfig, load_config
from .errors import (
    BackendUnavailableError,
    ConfigError,
    DuplicatePluginError,
    EmbedderMismatchError,
    InvalidInputError,
    MemMimicError,
    MissingResourceError,
    NotFoundError,
    StorageError,
    UnknownPluginError,
)
from .hookspecs import hookimpl
from .models import Filters, Hit, Memory, Tale

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "ConfigError",
    "DuplicatePluginError",
    "EmbedderMismatchError",
    "Filters",
    "Hit",
    "InvalidInputError",
    "MemMimicConfig",
    "MemMimicError",
    "Memory",
    "MissingResourceError",
    "NotFoundError",
    "StorageError",
    "Tale",
    "UnknownPluginError",
    "__version__",
    "hookimpl",
    "load_config",
]
