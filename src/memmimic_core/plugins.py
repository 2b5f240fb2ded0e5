"""Building the plugin manager and collecting the backends plugins register."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import BackendRegistry

__all__ = ["Backends", "PluginInfo", "build_plugin_manager", "collect_backends", "describe_plugins"]

DISABLE_ENV = "MEMMIMIC_DISABLE_PLUGINS"
ENTRY_POINT_GROUP = "memmimic"


def blocked_plugin_names(environ: dict[str, str] | None = None) -> list[str]:
    """Return the plugin names listed in ``MEMMIMIC_DISABLE_PLUGINS`` (comma-separated)."""
    raw = (environ if environ is not None else os.environ).get(DISABLE_ENV, "")
    return [name.strip() for name in raw.split(",") if name.strip()]


def build_plugin_manager(
    *, entry_points: bool = True, plugins: Iterable[object] = (), environ: dict[str, str] | None = None
) -> pluggy.PluginManager:
    """Build the plugin manager in a fixed order.

    specs → blocked names from the environment → entry points of group ``memmimic`` →
    explicitly given plugins → ``check_pending()``. Nothing is registered at import time.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in blocked_plugin_names(environ):
        pm.set_blocked(name)
    if entry_points:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            raise PluginError(
                f"a plugin of entry point group {ENTRY_POINT_GROUP!r} failed to load "
                f"({_failing_entry_point()}): "
                f"{type(exc).__name__}: {exc}; fix or uninstall it, or block it with {DISABLE_ENV}=<name>"
            ) from exc
    try:
        for plugin in plugins:
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            pm.register(plugin, name=name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} is invalid: {exc}") from exc
    return pm


def _failing_entry_point() -> str:
    """Name the first entry point of the group that fails to import (for the error message)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception:
            return f"entry point {ep.name!r} = {ep.value!r}"
    return "entry point unknown"


@dataclass
class Backends:
    """Every backend registered by the loaded plugins, one registry per kind."""

    registries: dict[str, BackendRegistry[Any]] = field(default_factory=dict)

    def __getitem__(self, kind: str) -> BackendRegistry[Any]:
        return self.registries[kind]


def collect_backends(pm: pluggy.PluginManager) -> Backends:
    """Call every registration hook, once per plugin, so each name records its plugin."""
    backends = Backends()
    for kind, hook_name in hookspecs.KINDS.items():
        registry: BackendRegistry[Any] = BackendRegistry(kind)
        caller = getattr(pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            impl.function(register=registry.bind(impl.plugin_name))
        backends.registries[kind] = registry
    return backends


@dataclass(frozen=True)
class PluginInfo:
    """What ``memmimic plugins`` shows for one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]
    backends: dict[str, list[str]]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": self.hooks,
            "backends": self.backends,
        }


def describe_plugins(pm: pluggy.PluginManager, backends: Backends) -> list[PluginInfo]:
    """List each registered plugin with its distribution, hooks and backends."""
    dists: dict[int, Any] = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    infos = []
    for plugin_name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        registered: dict[str, list[str]] = {}
        for kind, registry in backends.registries.items():
            names = [entry.name for entry in registry if entry.plugin == plugin_name]
            if names:
                registered[kind] = names
        infos.append(
            PluginInfo(
                name=plugin_name,
                distribution=dist.project_name if dist else None,
                version=dist.version if dist else None,
                hooks=hooks,
                backends=registered,
            )
        )
    return infos
