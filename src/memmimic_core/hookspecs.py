"""Hook specifications: the only way plugins talk to the core.

A plugin is a module (or object) with functions marked ``@memmimic_core.hookimpl`` whose
names match the hooks below. Each registration hook receives a typed ``register`` callable
(a :class:`~memmimic_core.registry.BackendRegistry`); call it with each backend class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .protocols import Cache, Classifier, Embedder, Expander, Ranker, Storage, TextIndex, VectorIndex
    from .registry import BackendRegistry

PROJECT_NAME = "memmimic"
_hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -------------------------------------------------------------------------
# Backend registration hooks
# -------------------------------------------------------------------------


@_hookspec
def memmimic_register_storage(register: BackendRegistry[Storage]) -> None:
    """Register storage backends (the source of truth).

    :param register: call it with each backend class, e.g. ``register(SqliteStorage)``;
        the class's ``name`` is what ``storage.backend`` in the config selects.

    .. versionadded:: 0.1
    """


@_hookspec
def memmimic_register_text_index(register: BackendRegistry[TextIndex]) -> None:
    """Register keyword (text) index backends.

    :param register: call it with each backend class; ``text_index.backend`` selects one.

    .. versionadded:: 0.1
    """


@_hookspec
def memmimic_register_vector_index(register: BackendRegistry[VectorIndex]) -> None:
    """Register vector index backends.

    :param register: call it with each backend class; ``vector_index.backend`` selects one.

    .. versionadded:: 0.1
    """


@_hookspec
def memmimic_register_embedder(register: BackendRegistry[Embedder]) -> None:
    """Register embedders.

    :param register: call it with each backend class; ``embedder.backend`` selects one.

    .. versionadded:: 0.1
    """


@_hookspec
def memmimic_register_expander(register: BackendRegistry[Expander]) -> None:
    """Register query expanders.

    :param register: call it with each backend class; each entry of ``expanders`` selects one.

    .. versionadded:: 0.1
    """


@_hookspec
def memmimic_register_ranker(register: BackendRegistry[Ranker]) -> None:
    """Register rankers (fusion of per-source candidate lists).

    :param register: call it with each backend class; ``ranker.backend`` selects one.

    .. versionadded:: 0.1
    """


@_hookspec
def memmimic_register_cache(register: BackendRegistry[Cache]) -> None:
    """Register cache backends.

    :param register: call it with each backend class; ``cache.backend`` selects one.

    .. versionadded:: 0.1
    """


@_hookspec
def memmimic_register_classifier(register: BackendRegistry[Classifier]) -> None:
    """Register CXD classifiers.

    :param register: call it with each backend class; ``classifier.backend`` selects one.

    .. versionadded:: 0.1
    """


# -------------------------------------------------------------------------
# Extension hooks
# -------------------------------------------------------------------------


@_hookspec
def memmimic_register_commands(app: Any) -> None:
    """Add commands to the ``memmimic`` CLI.

    :param app: the root ``typer.Typer`` application; add commands or sub-apps to it.

    .. versionadded:: 0.1
    """


KINDS: dict[str, str] = {
    "storage": "memmimic_register_storage",
    "text_index": "memmimic_register_text_index",
    "vector_index": "memmimic_register_vector_index",
    "embedder": "memmimic_register_embedder",
    "expander": "memmimic_register_expander",
    "ranker": "memmimic_register_ranker",
    "cache": "memmimic_register_cache",
    "classifier": "memmimic_register_classifier",
}
"""Plugin kind → its registration hook."""
