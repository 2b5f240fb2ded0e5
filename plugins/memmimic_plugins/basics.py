"""The "off" switches: expander ``none``, classifier ``none`` and cache ``none``.

Each does the least its Protocol allows, so a config can turn a feature off by name
(``expanders: []`` or ``[none]``, ``classifier: {backend: none}``, ``cache: {backend: none}``)
without the core knowing anything about it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from memmimic_core import hookimpl
from memmimic_core.models import WeightedTerm
from memmimic_core.protocols import BackendContext, BackendOptions, Cache, Classifier, Expander
from memmimic_core.registry import BackendRegistry

__all__ = ["NoCache", "NoClassifier", "NoExpander"]


class NoExpander:
    """An expander that adds no terms."""

    name: ClassVar[str] = "none"

    class Options(BackendOptions):
        """The ``none`` expander takes no options."""

    def __init__(self, options: Options | None = None, context: BackendContext | None = None) -> None:
        self.options = options or self.Options()

    def expand(self, text: str) -> list[WeightedTerm]:
        """Return no extra terms."""
        return []

    def close(self) -> None:
        """Nothing to release."""


class NoClassifier:
    """A classifier that never decides: every text gets ``(None, None)``."""

    name: ClassVar[str] = "none"

    class Options(BackendOptions):
        """The ``none`` classifier takes no options."""

    def __init__(self, options: Options | None = None, context: BackendContext | None = None) -> None:
        self.options = options or self.Options()

    def classify(self, texts: Sequence[str]) -> list[tuple[str | None, float | None]]:
        """Return ``(None, None)`` for every text."""
        return [(None, None) for _ in texts]

    def close(self) -> None:
        """Nothing to release."""


class NoCache:
    """A cache that stores nothing: every ``get`` is a miss.

    It declares ``stores_values = False``, so the cache contract suite skips the tests that
    read back a stored value and checks only that every call is safe and counted.
    """

    name: ClassVar[str] = "none"
    stores_values: ClassVar[bool] = False

    class Options(BackendOptions):
        """The ``none`` cache takes no options."""

    def __init__(self, options: Options | None = None, context: BackendContext | None = None) -> None:
        self.options = options or self.Options()
        self._misses: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, pool: str, key: str) -> bytes | None:
        """Count a miss and return ``None``."""
        with self._lock:
            self._misses[pool] = self._misses.get(pool, 0) + 1
        return None

    def set(self, pool: str, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store nothing."""

    def delete(self, pool: str, key: str) -> None:
        """Nothing to remove."""

    def clear(self, pool: str | None = None) -> None:
        """Nothing to remove."""

    def stats(self) -> dict[str, Any]:
        """Return zero hits and the misses counted, in total and per pool."""
        with self._lock:
            pools = {pool: {"hits": 0, "misses": n, "bytes": 0} for pool, n in sorted(self._misses.items())}
            return {
                "kind": self.name,
                "hits": 0,
                "misses": sum(self._misses.values()),
                "evictions": 0,
                "bytes": 0,
                "pools": pools,
            }

    def close(self) -> None:
        """Nothing to release."""


@hookimpl
def memmimic_register_expander(register: BackendRegistry[Expander]) -> None:
    """Register the ``none`` expander."""
    register(NoExpander)


@hookimpl
def memmimic_register_classifier(register: BackendRegistry[Classifier]) -> None:
    """Register the ``none`` classifier."""
    register(NoClassifier)


@hookimpl
def memmimic_register_cache(register: BackendRegistry[Cache]) -> None:
    """Register the ``none`` cache."""
    register(NoCache)
