"""The plugin framework: manager build order, registries, errors that name names."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import ClassVar

import pytest

from memmimic_core import hookimpl, hookspecs
from memmimic_core.errors import DuplicatePluginError, PluginError, UnknownPluginError
from memmimic_core.plugins import build_plugin_manager, collect_backends, describe_plugins
from memmimic_core.protocols import BackendOptions

PLUGINS = "memmimic_plugins"
DEFAULT_PLUGINS = {"sqlite", "storage_text", "hashing", "numpy_index", "rankers", "basics"}


def test_default_plugins_come_from_entry_points() -> None:
    pm = build_plugin_manager(environ={})
    names = {name for name, _ in pm.list_name_plugin()}
    assert names >= DEFAULT_PLUGINS
    dists = {plugin.__name__: dist.project_name for plugin, dist in pm.list_plugin_distinfo()}
    assert dists["memmimic_plugins.sql.sqlite"] == "memmimic"


def test_the_core_never_imports_a_plugin() -> None:
    """The defaults reach the core through entry points only, as a third party's would."""
    core = Path(__file__).parent.parent / "src" / "memmimic_core"
    offenders = []
    for path in sorted(core.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module or ""]
            else:
                continue
            offenders += [f"{path.relative_to(core)}:{node.lineno}" for m in modules if m.startswith(PLUGINS)]
    assert offenders == [], f"the core imports {PLUGINS}: {offenders}"


def test_every_kind_has_its_defaults_registered() -> None:
    backends = collect_backends(build_plugin_manager(environ={}))
    assert "sqlite" in backends["storage"]
    assert "storage" in backends["text_index"]
    assert "numpy" in backends["vector_index"]
    assert "hashing" in backends["embedder"]
    assert {"weighted", "rrf"} <= set(backends["ranker"].names)
    assert "none" in backends["expander"]
    assert "none" in backends["cache"]
    assert "none" in backends["classifier"]


def test_disabled_plugins_are_not_loaded() -> None:
    pm = build_plugin_manager(environ={"MEMMIMIC_DISABLE_PLUGINS": "rankers, hashing"})
    backends = collect_backends(pm)
    assert "weighted" not in backends["ranker"]
    assert "hashing" not in backends["embedder"]
    assert "sqlite" in backends["storage"]


def test_unknown_backend_names_kind_name_and_registered() -> None:
    backends = collect_backends(build_plugin_manager(environ={}))
    with pytest.raises(UnknownPluginError) as info:
        backends["ranker"].get("fancy")
    err = info.value
    assert (err.kind, err.name) == ("ranker", "fancy")
    assert "weighted" in err.available
    assert "the ranker backend 'fancy' can't be found" in str(err)
    assert "weighted" in str(err)


class _ShadowRanker:
    name: ClassVar[str] = "weighted"

    class Options(BackendOptions):
        pass


class _ShadowPlugin:
    @hookimpl
    def memmimic_register_ranker(self, register):  # type: ignore[no-untyped-def]
        register(_ShadowRanker)


def test_duplicate_backend_names_both_plugins() -> None:
    pm = build_plugin_manager(plugins=[_ShadowPlugin()], environ={})
    with pytest.raises(DuplicatePluginError) as info:
        collect_backends(pm)
    message = str(info.value)
    assert "'weighted'" in message
    assert "rankers" in message
    assert "_ShadowPlugin" in message


class _Misspelled:
    @hookimpl
    def memmimic_register_storag(self, register):  # type: ignore[no-untyped-def]
        raise AssertionError("never called")


def test_misspelled_hook_is_refused_at_start_up() -> None:
    with pytest.raises(PluginError, match="memmimic_register_storag"):
        build_plugin_manager(plugins=[_Misspelled()], environ={})


def test_describe_lists_distribution_hooks_and_backends() -> None:
    pm = build_plugin_manager(environ={})
    infos = {info.name: info for info in describe_plugins(pm, collect_backends(pm))}
    sqlite = infos["sqlite"]
    assert sqlite.distribution == "memmimic"
    assert sqlite.version
    assert sqlite.hooks == ["memmimic_register_storage"]
    assert sqlite.backends == {"storage": ["sqlite"]}


def test_every_hook_is_documented_with_the_template() -> None:
    for name in hookspecs.KINDS.values():
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert doc.splitlines()[0].startswith("Register"), name
        assert ":param register:" in doc, name
        assert "versionadded" in doc, name


def test_every_hook_has_a_heading_in_the_plugin_guide() -> None:
    guide = (Path(__file__).parent.parent / "docs" / "plugins.md").read_text()
    hooks = [n for n in dir(hookspecs) if n.startswith("memmimic_")]
    assert hooks
    for name in hooks:
        assert f"`{name}`" in guide, f"{name} is not documented in docs/plugins.md"
