"""``MemMimic``: the Python API and the engine behind it (write path, recall, status)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from os import PathLike
from typing import Any, TypeVar

import pluggy

from . import validation as v
from .access import AccessRecorder
from .config import MemMimicConfig, load_config
from .embedding import EmbeddingService
from .engine_admin import AdminMixin
from .errors import ConfigError, InvalidInputError, MemMimicError, NotFoundError
from .metrics import Metrics
from .models import Filters, HistoryEntry, Hit, Memory, MemoryPatch, NewMemory
from .plugins import Backends, build_plugin_manager, collect_backends
from .protocols import (
    BackendContext,
    Cache,
    Classifier,
    Expander,
    Ranker,
    Storage,
    TextIndex,
    VectorIndex,
)
from .results import ResultCache
from .search import SEMANTIC, RecallPipeline, RecallRequest
from .tales import TaleBook
from .warmup import LoggedQuery, QueryLog, Warmer

__all__ = ["MemMimic"]

log = logging.getLogger(__name__)
T = TypeVar("T")
ConfigSource = MemMimicConfig | Mapping[str, Any] | str | PathLike[str] | None
_ITEM_FIELDS = frozenset(
    {"content", "memory_type", "importance", "metadata", "tags", "namespace", "supersedes"}
)


class MemMimic(AdminMixin):
    """A memory store: remember, recall, update, forget; thread-safe; a context manager.

    :param config: a YAML path, a dict, a :class:`MemMimicConfig`, or ``None`` for
        ``MEMMIMIC_CONFIG`` / the defaults.
    :param plugins: extra plugin objects to register beside the installed ones.
    """

    def __init__(self, config: ConfigSource = None, *, plugins: Iterable[object] = ()) -> None:
        self.config = load_config(config)
        self._pm: pluggy.PluginManager = build_plugin_manager(plugins=plugins)
        self.backends: Backends = collect_backends(self._pm)
        self._check_sections()
        cfg = self.config
        try:
            cfg.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"data_dir {str(cfg.data_dir)!r} cannot be created: {exc}") from None
        self.metrics = Metrics(enabled=cfg.performance.metrics)
        self._closed = False
        self._mismatch: str | bool | None = False  # False: not checked yet
        self._services: list[Callable[[], None]] = []  # closed first: they flush into backends
        self._closers: list[Callable[[], None]] = []  # backends, newest first
        self.context = BackendContext(
            data_dir=cfg.data_dir,
            store_id="pending",
            embedder=lambda: self._embedding.embedder,
            settings=cfg.to_dict(),
        )
        try:
            self.storage: Storage = self._create("storage", cfg.storage.backend, cfg.storage.options)
            self.context.storage = self.storage
            self.context.store_id = self._store_id(self.storage.stats())
            self._embedding = EmbeddingService(
                lambda: self._create("embedder", cfg.embedder.backend, cfg.embedder.options),
                self.storage,
                batch_size=cfg.embedder.batch_size,
                cache_size=cfg.embedder.cache_size,
                write_behind=cfg.embedder.write_behind,
                on_embedded=self._sync_indexes,
                classify=self._classify_deferred,
            )
            self._services.append(self._embedding.close)
            self.text_index: TextIndex = self._create(
                "text_index", cfg.text_index.backend, cfg.text_index.options
            )
            self.vector_index: VectorIndex = self._create(
                "vector_index", cfg.vector_index.backend, cfg.vector_index.options
            )
            self.expanders: list[Expander] = [
                self._create("expander", e.backend, e.options, f"expanders.{i}")
                for i, e in enumerate(cfg.expanders)
            ]
            self.ranker: Ranker = self._create("ranker", cfg.ranker.backend, cfg.ranker.options)
            self.cache: Cache = self._create("cache", cfg.cache.backend, cfg.cache.options)
            self._results = ResultCache(self.cache)
            self.classifier: Classifier = self._create(
                "classifier", cfg.classifier.backend, cfg.classifier.options
            )
            self._access = AccessRecorder(self.storage)
            self._services.insert(0, self._access.close)
            self._index_lock = threading.RLock()
            self._synced_seq = -1
            self._seen_token: int | None = None
            self._generations: dict[str, int] = {}
            self._sync_indexes()  # drift check: indexes catch up with the database at start-up
            self._pipeline = RecallPipeline(
                storage=self.storage,
                text_index=self.text_index,
                vector_index=self.vector_index,
                expanders=self.expanders,
                ranker=self.ranker,
                cache=self.cache,
                embed_query=self._embedding.embed_query,
                semantic_enabled=self._semantic_enabled,
                overfetch=cfg.performance.overfetch,
                min_candidates=cfg.performance.min_candidates,
                parallel=cfg.performance.parallel_retrievers,
            )
            self._services.insert(0, self._pipeline.close)
            self.tales = TaleBook(self.storage, cfg.namespace)
            warm = cfg.performance.warmup
            self._querylog = QueryLog(cfg.data_dir, warm.log_size) if warm.log else None
            if self._querylog is not None:
                self._services.append(self._querylog.save)
        except BaseException:
            self.close()
            raise
        self._config_fingerprint = cfg.fingerprint()
        self.warmer: Warmer | None = None
        if warm.enabled and self._querylog is not None:
            self.warmer = Warmer(self._querylog.top(warm.queries), self._warm_one)
            self._services.insert(0, self.warmer.stop)
            self.warmer.start()

    # construction ----------------------------------------------------------------------

    def _check_sections(self) -> None:
        """Validate every backend name and its options before building anything."""
        for kind, section in self.config.sections().items():
            self.backends[kind].validate_options(section.backend, section.options, kind)
        for i, e in enumerate(self.config.expanders):
            self.backends["expander"].validate_options(e.backend, e.options, f"expanders.{i}")

    def _create(self, kind: str, name: str, options: Mapping[str, Any], key_path: str | None = None) -> Any:
        backend = self.backends[kind].create(name, options, self.context, key_path or kind)
        close = getattr(backend, "close", None)
        if callable(close):
            self._closers.insert(0, close)  # close in reverse order of creation
        return backend

    def _store_id(self, storage_stats: Mapping[str, Any]) -> str:
        """A stable id of the store: the same database gives the same id on every host."""
        where = storage_stats.get("url") or storage_stats.get("path") or str(self.config.data_dir.resolve())
        blob = json.dumps([self.config.storage.backend, where, storage_stats.get("schema")], default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    # helpers ---------------------------------------------------------------------------

    def _ns(self, namespace: str | None) -> str:
        return v.check_namespace(self.config.namespace if namespace is None else namespace)

    def _timed(self, op: str, fn: Callable[[], T]) -> T:
        if self._closed:
            raise MemMimicError("this MemMimic is closed; open a new one")
        with self.metrics.time(op):
            return fn()

    def _sync_indexes(self) -> None:
        """Bring the derived indexes up to the storage's newest change.

        Cheap when nothing was committed since the last call: the storage's change token (one
        ``PRAGMA data_version`` on SQLite) says so without a query; then the memoized sequence
        and generations stay valid. The token is read first, so a commit racing this call only
        makes the next call look again.
        """
        token = self.storage.change_token()
        if token is not None and token == self._seen_token:
            return
        seq = self.storage.last_seq()
        with self._index_lock:
            if seq != self._synced_seq:
                self.text_index.sync()
                self.vector_index.sync()
                self._synced_seq = seq
            self._generations = {}
            self._seen_token = token

    def _generation(self, namespace: str) -> int:
        """The namespace's data generation (result-cache keys), memoized while nothing changes."""
        if self._seen_token is not None:
            memo = self._generations.get(namespace)
            if memo is not None:
                return memo
        generation = self.storage.generation(namespace)
        if self._seen_token is not None:
            self._generations[namespace] = generation
        return generation

    def _rebuild_vector_index(self) -> None:
        """Replace the vector index by a fresh one (after a re-embed changed every vector)."""
        cfg = self.config.vector_index
        with self._index_lock:
            old = self.vector_index
            self._closers.remove(old.close)
            old.close()
            self.vector_index = self._create("vector_index", cfg.backend, cfg.options)
            self._pipeline.vector_index = self.vector_index
            self._synced_seq = -1
            self._seen_token = None
        self._sync_indexes()

    def _semantic_enabled(self) -> bool:
        return self.embedder_mismatch() is None

    def embedder_mismatch(self) -> str | None:
        """Say why stored embeddings don't fit the configured embedder, or ``None`` if they do."""
        if self._mismatch is False:
            counts = self.storage.embedder_counts()
            current = self._embedding.fingerprint
            foreign = {fp: n for fp, n in counts.items() if fp != current}
            self._mismatch = (
                (
                    f"{sum(foreign.values())} stored embeddings were made by "
                    f"{', '.join(sorted(foreign))}, not by the configured {current}; semantic recall "
                    "is off until you run `memmimic reembed`, or configure the embedder that made "
                    "them again"
                )
                if foreign
                else None
            )
        return self._mismatch if isinstance(self._mismatch, str) else None

    def _new_memory(self, item: Mapping[str, Any] | str, namespace: str | None) -> NewMemory:
        if isinstance(item, str):
            item = {"content": item}
        if not isinstance(item, Mapping):
            raise InvalidInputError(
                f"each item must be text or a mapping with 'content', got {type(item).__name__}"
            )
        unknown = set(item) - {
            "content",
            "memory_type",
            "importance",
            "metadata",
            "tags",
            "namespace",
            "supersedes",
        }
        if unknown:
            raise InvalidInputError(f"unknown memory fields: {', '.join(sorted(unknown))}")
        mem_cfg = self.config.memory
        mtype = item.get("memory_type")
        importance = item.get("importance")
        return NewMemory(
            namespace=self._ns(namespace if item.get("namespace") is None else item["namespace"]),
            content=v.check_content(item.get("content"), mem_cfg.max_content_bytes),
            memory_type=v.check_type(mtype) if mtype is not None else mem_cfg.default_type,
            importance=v.check_importance(importance)
            if importance is not None
            else mem_cfg.default_importance,
            metadata=v.check_metadata(item.get("metadata")),
            tags=v.check_tags(item.get("tags")),
            supersedes=v.check_memory_id(item["supersedes"]) if item.get("supersedes") is not None else None,
        )

    def _classify_deferred(
        self, texts: Sequence[str], vectors: Any
    ) -> list[tuple[str | None, float | None]] | None:
        """Labels for a write-behind batch whose classification waited for its vectors."""
        return self._classify(texts, vectors) if self._defers_classification() else None

    def _defers_classification(self) -> bool:
        """Whether CXD labels wait for the embedding batch (write-behind + an embedding classifier)."""
        return self._embedding.write_behind and bool(getattr(self.classifier, "uses_embeddings", False))

    def _classify(self, texts: Sequence[str], vectors: Any | None) -> list[tuple[str | None, float | None]]:
        """Classify texts, reusing their vectors when the classifier can (no second encode)."""
        with_vectors = getattr(self.classifier, "classify_embedded", None)
        if vectors is not None and callable(with_vectors):
            return list(with_vectors(texts, vectors))
        return self.classifier.classify(texts)

    def _enrich(self, items: list[NewMemory]) -> list[NewMemory]:
        """Embed (unless write-behind) and classify a batch."""
        if self._defers_classification():  # write-behind: vectors and labels come in its batch
            return items
        texts = [m.content for m in items]
        vectors = None if self._embedding.write_behind else self._embedding.embed(texts)
        labels = self._classify(texts, vectors)
        fingerprint = None if vectors is None else self._embedding.fingerprint
        out = []
        for i, m in enumerate(items):
            fn, conf = labels[i]
            out.append(
                NewMemory(
                    namespace=m.namespace,
                    content=m.content,
                    memory_type=m.memory_type,
                    importance=m.importance,
                    metadata=m.metadata,
                    tags=m.tags,
                    cxd_function=fn,
                    cxd_confidence=conf,
                    embedding=None if vectors is None else vectors[i],
                    embedder=fingerprint,
                    valid_from=m.valid_from,
                    supersedes=m.supersedes,
                )
            )
        return out

    # write path ------------------------------------------------------------------------

    def remember(
        self,
        content: str,
        *,
        memory_type: str | None = None,
        importance: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        namespace: str | None = None,
        supersedes: str | None = None,
    ) -> str:
        """Store one memory and return its id (usable at once by get / update / forget).

        :param supersedes: id of an older memory this one replaces (recorded on the new one;
            :meth:`supersede` also archives the old one).
        """
        item = {
            "content": content,
            "memory_type": memory_type,
            "importance": importance,
            "metadata": metadata,
            "tags": tags,
            "supersedes": supersedes,
        }
        return self._timed("remember", lambda: self._store([self._new_memory(item, namespace)])[0])

    def remember_many(
        self,
        items: Iterable[Mapping[str, Any] | str],
        *,
        namespace: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[str]:
        """Store many memories in one transaction with one embedding pass; return their ids.

        :param items: texts, or mappings with ``content`` and optional ``memory_type``,
            ``importance``, ``metadata``, ``tags``, ``namespace``.
        :param progress: called with (done, total) while embedding long batches.
        """

        def run() -> list[str]:
            news = [self._new_memory(item, namespace) for item in items]
            return self._store(news, progress) if news else []

        return self._timed("remember_many", run)

    def _store(self, news: list[NewMemory], progress: Callable[[int, int], None] | None = None) -> list[str]:
        enriched: list[NewMemory] = []
        step = max(self.config.embedder.batch_size, 256)
        for start in range(0, len(news), step):
            enriched.extend(self._enrich(news[start : start + step]))
            if progress is not None:
                progress(len(enriched), len(news))
        stored = self.storage.add(enriched)
        if self._embedding.write_behind:  # its batch ends by syncing the indexes
            self._embedding.notify_written({m.namespace for m in stored})
        return [m.id for m in stored]

    def update(
        self,
        memory_id: str,
        *,
        content: str | None = None,
        memory_type: str | None = None,
        importance: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        status: str | None = None,
        reason: str | None = None,
        namespace: str | None = None,
    ) -> Memory:
        """Change a memory, keeping the old values in its history; return the new state."""

        def run() -> Memory:
            ns = self._ns(namespace)
            mid = v.check_memory_id(memory_id)
            if status is not None and status not in ("active", "archived"):
                raise InvalidInputError(f"status must be 'active' or 'archived', got {status!r}")
            fields: dict[str, Any] = {}
            if content is not None:
                fields["content"] = v.check_content(content, self.config.memory.max_content_bytes)
                vectors = None
                if self._embedding.write_behind:
                    fields["clear_embedding"] = True
                else:
                    vectors = self._embedding.embed([fields["content"]])
                    fields["embedding"] = vectors[0]
                    fields["embedder"] = self._embedding.fingerprint
                ((fn, conf),) = self._classify([fields["content"]], vectors)
                fields.update(cxd_function=fn, cxd_confidence=conf)
            if memory_type is not None:
                fields["memory_type"] = v.check_type(memory_type)
            if importance is not None:
                fields["importance"] = v.check_importance(importance)
            if metadata is not None:
                fields["metadata"] = v.check_metadata(metadata)
            if tags is not None:
                fields["tags"] = v.check_tags(tags)
            if status is not None:
                fields["status"] = status
            if not fields:
                raise InvalidInputError(
                    "nothing to update: give content, memory_type, importance, metadata, tags or status"
                )
            if reason is not None:
                v.check_content(reason, 10_000)
            updated = self.storage.update(mid, ns, MemoryPatch(**fields), reason)
            if self._embedding.write_behind and content is not None:
                self._embedding.notify_written((ns,))
            return updated

        return self._timed("update", run)

    def forget(self, memory_id: str, *, namespace: str | None = None) -> None:
        """Delete a memory for good.

        :raises NotFoundError: no such memory in that namespace.
        """

        def run() -> None:
            ns = self._ns(namespace)
            mid = v.check_memory_id(memory_id)
            if not self.storage.delete(mid, ns):
                raise NotFoundError(f"no memory {mid!r} in namespace {ns!r}")

        self._timed("forget", run)

    # read path -------------------------------------------------------------------------

    def get(self, memory_id: str, *, namespace: str | None = None) -> Memory:
        """Return one memory.

        :raises NotFoundError: no such memory in that namespace.
        """

        def run() -> Memory:
            ns = self._ns(namespace)
            mid = v.check_memory_id(memory_id)
            found = self.storage.get([mid], ns)
            if not found:
                raise NotFoundError(f"no memory {mid!r} in namespace {ns!r}")
            if found[0].embedder is None and self._defers_classification():
                self._embedding.catch_up(ns)  # read-your-writes: its label waits for its vector
                found = self.storage.get([mid], ns) or found
            return found[0]

        return self._timed("get", run)

    def history(self, memory_id: str, *, namespace: str | None = None) -> list[HistoryEntry]:
        """Return the recorded updates of a memory, oldest first."""

        def run() -> list[HistoryEntry]:
            ns = self._ns(namespace)
            mid = v.check_memory_id(memory_id)
            if not self.storage.get([mid], ns):
                raise NotFoundError(f"no memory {mid!r} in namespace {ns!r}")
            return self.storage.history(mid, ns)

        return self._timed("history", run)

    def recall(
        self,
        query: str,
        limit: int = 10,
        *,
        namespace: str | None = None,
        memory_type: str | None = None,
        cxd_function: str | None = None,
        tags: Sequence[str] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        status: str | None = "active",
        metadata: Mapping[str, Any] | None = None,
        sources: Sequence[str] | None = None,
        explain: bool = False,
    ) -> list[Hit]:
        """Find the memories that best match ``query``, best first.

        Each hit carries its final score and how each source (keyword, semantic, expansion)
        scored and ranked it. Filters narrow the candidates; archived memories are left out
        unless ``status`` is ``"archived"`` or ``None`` (any). With ``explain=True`` each hit
        also carries its :attr:`Hit.explanation` (how the final score was made, and which
        query and expanded terms matched), at some extra cost.
        """
        return self._timed(
            "recall",
            lambda: self._recall(
                self._request(
                    query,
                    limit,
                    namespace,
                    memory_type,
                    cxd_function,
                    tags,
                    since,
                    until,
                    status,
                    metadata,
                    sources,
                    explain,
                )
            ),
        )

    def _request(
        self,
        query: str,
        limit: int,
        namespace: str | None,
        memory_type: str | None,
        cxd_function: str | None,
        tags: Sequence[str] | None,
        since: datetime | str | None,
        until: datetime | str | None,
        status: str | None,
        metadata: Mapping[str, Any] | None,
        sources: Sequence[str] | None,
        explain: bool = False,
    ) -> RecallRequest:
        if status not in ("active", "archived", None):
            raise InvalidInputError(f"status must be 'active', 'archived' or None, got {status!r}")
        if cxd_function is not None and cxd_function not in ("CONTROL", "CONTEXT", "DATA"):
            raise InvalidInputError(f"cxd_function must be CONTROL, CONTEXT or DATA, got {cxd_function!r}")
        allowed = ("keyword", "semantic", "expansion")
        chosen = tuple(sources) if sources is not None else allowed
        if not chosen or any(s not in allowed for s in chosen):
            raise InvalidInputError(
                f"sources must be a non-empty subset of {', '.join(allowed)}, got {sources!r}"
            )
        filters = Filters(
            memory_type=v.check_type(memory_type) if memory_type is not None else None,
            cxd_function=cxd_function,
            tags=v.check_tags(tags),
            since=v.check_time(since, "since"),
            until=v.check_time(until, "until"),
            status=status,  # type: ignore[arg-type]
            metadata=v.check_metadata(metadata) or None,
        )
        return RecallRequest(
            query=v.check_query(query),
            limit=v.check_limit(limit, self.config.memory.max_recall_limit),
            namespace=self._ns(namespace),
            filters=filters,
            sources=chosen,
            explain=bool(explain),
        )

    def _warm_one(self, query: LoggedQuery) -> None:
        """Recall one logged query for warm-up (not logged again, timed as ``warmup``)."""
        self._timed(
            "warmup",
            lambda: self._recall(
                self._request(
                    query.query,
                    query.limit,
                    query.namespace,
                    None,
                    None,
                    None,
                    None,
                    None,
                    "active",
                    None,
                    query.sources,
                ),
                log=False,
            ),
        )

    def _recall(self, req: RecallRequest, *, log: bool = True) -> list[Hit]:
        if log and self._querylog is not None and req.filters.is_empty() and not req.explain:
            self._querylog.record(req.namespace, req.query, req.limit, req.sources)
        self._sync_indexes()
        key = req.cache_key(self._config_fingerprint, self._generation(req.namespace))
        cached = self._results.get(key)
        if cached is not None:
            return cached
        if self._embedding.write_behind and (SEMANTIC in req.sources or req.filters.cxd_function):
            # read-your-writes by meaning and by CXD label. Vectors stored by this catch-up or by
            # the background worker are a new generation: key the result by what it was made from
            self._embedding.catch_up_pending(req.namespace)
            self._sync_indexes()
            key = req.cache_key(self._config_fingerprint, self._generation(req.namespace))
        hits = self._pipeline.run(req)
        self._results.put(key, hits)
        self._access.record(req.namespace, tuple(h.id for h in hits))
        return hits

    # embeddings ------------------------------------------------------------------------

    def reembed(self, *, progress: Callable[[int, int], None] | None = None) -> int:
        """Re-embed every memory whose vector is missing or from another embedder; return the count."""

        def run() -> int:
            current = self._embedding.fingerprint
            todo = [
                m
                for batch in self.storage.iter_memories(with_embedding=False)
                for m in batch
                if m.embedder != current
            ]
            done = 0
            size = self.config.embedder.batch_size
            for start in range(0, len(todo), size):
                part = todo[start : start + size]
                vectors = self._embedding.embed([m.content for m in part])
                self.storage.set_embeddings([(m.id, vectors[i]) for i, m in enumerate(part)], current)
                done += len(part)
                if progress is not None:
                    progress(done, len(todo))
            self._mismatch = False
            if done:
                self._rebuild_vector_index()
            return done

        return self._timed("reembed", run)

    def flush(self, *, namespace: str | None = None) -> int:
        """Wait for write-behind work: embed every pending memory and bring the indexes up to date.

        Returns how many memories were embedded. Recall already does this for its own namespace
        (read-your-writes); call it before reading storage directly, exporting or benchmarking.
        """

        def run() -> int:
            ns = None if namespace is None else self._ns(namespace)
            done = self._embedding.catch_up(ns) if self._semantic_enabled() else 0
            self._sync_indexes()
            return done

        return self._timed("flush", run)

    def embed(self, texts: Sequence[str]) -> Any:
        """Return the configured embedder's normalized vectors for ``texts`` (an n × d array)."""
        return self._timed("embed", lambda: self._embedding.embed([v.check_query(t) for t in texts]))

    def neighbours(
        self, text: str, k: int = 5, *, namespace: str | None = None, status: str | None = "active"
    ) -> list[tuple[Memory, float]]:
        """Return up to ``k`` memories nearest to ``text`` by meaning, with their cosine similarity."""

        def run() -> list[tuple[Memory, float]]:
            req = self._request(text, k, namespace, None, None, None, None, None, status, None, ["semantic"])
            if not self._semantic_enabled():
                return []
            if self._embedding.write_behind:
                self._embedding.catch_up_pending(req.namespace)
            self._sync_indexes()  # after the catch-up: the worker may have just stored vectors
            vector = self._embedding.embed_query(req.query)
            found = self.vector_index.search(req.namespace, vector, max(k * 4, k + 10))
            memories = {
                m.id: m for m in self.storage.get([c.memory_id for c in found], req.namespace, req.filters)
            }
            pairs = [(memories[c.memory_id], float(c.score)) for c in found if c.memory_id in memories]
            return pairs[:k]

        return self._timed("neighbours", run)

    def supersede(self, old_id: str, content: str, *, reason: str | None = None, **fields: Any) -> str:
        """Store ``content`` as a memory replacing ``old_id``; archive the old one. Return the new id.

        The old memory keeps its text and history, gains ``superseded_by`` and ``valid_to``, and
        leaves default recall (it stays findable with ``status="archived"``).
        """
        namespace = fields.get("namespace")
        old = self.get(old_id, namespace=namespace)
        new_id = self.remember(content, supersedes=old.id, **fields)
        self.update_links(old.id, superseded_by=new_id, reason=reason or "superseded", namespace=namespace)
        return new_id

    def update_links(
        self, memory_id: str, *, superseded_by: str, reason: str | None = None, namespace: str | None = None
    ) -> Memory:
        """Mark a memory as replaced by ``superseded_by``: archived, ``valid_to`` now."""

        def run() -> Memory:
            ns = self._ns(namespace)
            patch = MemoryPatch(
                superseded_by=v.check_memory_id(superseded_by),
                valid_to=datetime.now(timezone.utc),
                status="archived",
            )
            return self.storage.update(v.check_memory_id(memory_id), ns, patch, reason)

        return self._timed("update", run)

    # lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Flush background work and release every backend. Safe to call twice."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        errors = []
        for close in [*getattr(self, "_services", []), *getattr(self, "_closers", [])]:
            try:
                close()
            except Exception as exc:  # close the rest anyway; report the first failure
                errors.append(exc)
        self._services, self._closers = [], []
        if errors:
            raise MemMimicError(f"closing failed: {errors[0]}") from errors[0]

    def __enter__(self) -> MemMimic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MemMimic(data_dir={str(self.config.data_dir)!r}, backends={self.backend_names()!r})"
