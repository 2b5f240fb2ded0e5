"""Status, metrics and maintenance of a :class:`~memmimic_core.engine.MemMimic` (a mixin).

Kept apart from the write and read paths so the engine module stays readable; everything here
reads the engine's backends and metrics, and nothing on a hot path calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from .config import MemMimicConfig
from .metrics import Metrics, check_alerts
from .plugins import Backends, describe_plugins
from .protocols import Cache, Storage, TextIndex, VectorIndex

if TYPE_CHECKING:
    from .embedding import EmbeddingService
    from .warmup import QueryLog, Warmer

__all__ = ["AdminMixin"]

T = TypeVar("T")


class AdminMixin:
    """``maintain``, ``status``, ``metrics_snapshot``, ``prometheus``, ``backend_names``, ``plugins``."""

    # provided by MemMimic
    config: MemMimicConfig
    storage: Storage
    text_index: TextIndex
    vector_index: VectorIndex
    cache: Cache
    metrics: Metrics
    backends: Backends
    warmer: Warmer | None
    _pm: pluggy.PluginManager
    _embedding: EmbeddingService
    _querylog: QueryLog | None

    def _timed(self, op: str, fn: Callable[[], T]) -> T:
        raise NotImplementedError  # MemMimic's

    def embedder_mismatch(self) -> str | None:
        raise NotImplementedError  # MemMimic's

    def maintain(self) -> dict[str, Any]:
        """Optimize storage, clean caches, and rebuild indexes that drifted; report what was done."""

        def run() -> dict[str, Any]:
            report: dict[str, Any] = {"storage": self.storage.maintain()}
            cleanup = getattr(self.cache, "cleanup", None)
            report["cache"] = {"before": self.cache.stats()}
            if callable(cleanup):
                cleanup()
            report["cache"]["after"] = self.cache.stats()
            for name, index in (("text_index", self.text_index), ("vector_index", self.vector_index)):
                optimize = getattr(index, "maintain", None)
                before = index.stats()
                applied = index.sync()
                result = optimize() if callable(optimize) else None
                report[name] = {
                    "before": before,
                    "caught_up": applied,
                    "after": index.stats(),
                    "result": result,
                }
            return report

        return self._timed("maintain", run)

    # status ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Return counts, backends, index state, embedder state, metrics and warnings."""

        def run() -> dict[str, Any]:
            warnings: list[str] = []
            mismatch = self.embedder_mismatch()
            if mismatch:
                warnings.append(mismatch)
            cache_stats = self.cache.stats()
            storage_stats = self.storage.stats()
            text_stats = {**self.text_index.stats(), "lag": self.text_index.lag()}
            vector_stats = {**self.vector_index.stats(), "lag": self.vector_index.lag()}
            self._observe(cache_stats, storage_stats, text_stats, vector_stats)
            snapshot = self.metrics.snapshot()
            warnings.extend(check_alerts(self.config.performance.alerts, snapshot))
            return {
                "data_dir": str(self.config.data_dir),
                "namespace": self.config.namespace,
                "memories": {ns: self.storage.count(ns) for ns in self.storage.namespaces()},
                "total_memories": self.storage.count(None),
                "last_change": self.storage.last_seq(),
                "backends": self.backend_names(),
                "storage": storage_stats,
                "text_index": text_stats,
                "vector_index": vector_stats,
                "embedder": {"backend": self.config.embedder.backend, **self._embedding.stats()},
                "cache": cache_stats,
                "warmup": self._warmup_stats(),
                "metrics": snapshot,
                "warnings": warnings,
            }

        return self._timed("status", run)

    def _warmup_stats(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "enabled": self.warmer is not None,
            "logged_queries": len(self._querylog) if self._querylog is not None else None,
        }
        if self.warmer is not None:
            info.update(self.warmer.stats())
        return info

    def _observe(
        self,
        cache_stats: Mapping[str, Any],
        storage_stats: Mapping[str, Any],
        text_stats: Mapping[str, Any],
        vector_stats: Mapping[str, Any],
    ) -> None:
        """Copy backend statistics into the metrics (cache tiers, pool, index sizes)."""
        self.metrics.observe_cache(cache_stats)
        pool = storage_stats.get("pool")
        if isinstance(pool, Mapping):
            self.metrics.observe_pool_stats("storage", pool)
        for name, stats in (("text", text_stats), ("vector", vector_stats)):
            size = stats.get("documents", stats.get("vectors", stats.get("count", 0)))
            self.metrics.observe_index(
                name, str(stats.get("kind", stats.get("backend", name))), int(size or 0), stats.get("lag")
            )

    def metrics_snapshot(self) -> dict[str, Any]:
        """Return the metrics of this process (operations, caches, pools, indexes, RSS)."""
        self._observe(
            self.cache.stats(),
            self.storage.stats(),
            {**self.text_index.stats(), "lag": self.text_index.lag()},
            {**self.vector_index.stats(), "lag": self.vector_index.lag()},
        )
        return self.metrics.snapshot()

    def prometheus(self) -> str:
        """Return the metrics in Prometheus text format."""
        self.metrics_snapshot()
        return self.metrics.to_prometheus()

    def backend_names(self) -> dict[str, Any]:
        """The configured backend of each kind."""
        cfg = self.config
        return {
            **{kind: section.backend for kind, section in cfg.sections().items()},
            "expanders": [e.backend for e in cfg.expanders],
        }

    def plugins(self) -> list[dict[str, Any]]:
        """Describe the installed plugins (distribution, version, hooks, backends)."""
        return [p.to_dict() for p in describe_plugins(self._pm, self.backends)]
