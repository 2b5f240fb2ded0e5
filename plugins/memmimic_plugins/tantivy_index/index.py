"""The ``TantivyIndex`` backend: BM25 keyword search kept in step with storage.

A search reads one :class:`_View`: a searcher over the committed on-disk index and the
in-memory tail of newer changes (see :mod:`.tail`). ``sync()`` extends the tail from the
storage's change sequence without committing; a background :class:`.committer.Committer` folds
the tail into the on-disk index later. Views are immutable and swapped whole, so searches take
no lock and never wait for a commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from memmimic_core.errors import ConfigError, MissingResourceError, StorageError
from memmimic_core.models import Candidate, Filters, TextQuery
from memmimic_core.protocols import BackendContext, Storage

from .options import TantivyOptions

if TYPE_CHECKING:
    from .analysis import Analysis, QueryTerm
    from .scoring import BM25Stats
    from .store import TantivyStore
    from .tail import Tail, TailDoc

__all__ = ["TantivyIndex"]

log = logging.getLogger(__name__)
FOLDER = "tantivy"
LOCK_FILE = "tantivy.lock"
MAX_FETCH = 100_000
COMMITTER_LOCK_SECONDS = 1.0  # the committer retries later rather than hold its writer lock long


class _View:
    """What one search reads: the committed index as of ``committed_seq`` and the newer tail."""

    __slots__ = ("_exclude", "_stats", "committed_seq", "searcher", "tail")

    def __init__(self, searcher: Any, committed_seq: int, tail: Tail, stats: BM25Stats | None = None) -> None:
        self.searcher = searcher
        self.committed_seq = committed_seq
        self.tail = tail
        self._stats = stats  # of the committed index: computed on first use (idempotent, no lock)
        self._exclude: Any = None

    @property
    def seq(self) -> int:
        """Every change up to this one is visible to a search of this view."""
        return max(self.committed_seq, self.tail.seq)

    def stats(self, schema: Any, hints: Iterable[str]) -> BM25Stats:
        """The committed index's BM25 statistics (``hints``: terms it probably holds)."""
        if self._stats is None:
            from .scoring import committed_stats

            self._stats = committed_stats(self.searcher, schema, hints)
        return self._stats

    def exclude(self, schema: Any) -> Any:
        """A query matching the committed documents the tail replaces (``None``: none)."""
        if self._exclude is None and self.tail.docs:
            import tantivy

            self._exclude = tantivy.Query.term_set_query(schema, "rowid", list(self.tail.docs))
        return self._exclude


class TantivyIndex:
    """Keyword retrieval with tantivy: stemmed BM25, top-k by block-max WAND.

    A derived index under ``data_dir/tantivy``: the storage is the source of truth, and the
    index replays its change sequence to catch up (or rebuilds from it). Namespaces and the
    recall filters are enforced inside the tantivy query; the user's text is analyzed into
    plain terms, never parsed as query syntax.
    """

    name: ClassVar[str] = "tantivy"
    Options = TantivyOptions

    def __init__(self, options: TantivyOptions | None, context: BackendContext) -> None:
        if context.storage is None:
            raise ConfigError("text_index: the tantivy index needs the store's storage in its context")
        try:
            from .analysis import build_analysis
            from .store import TantivyStore
            from .tail import Tail
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise MissingResourceError(
                "the tantivy text index needs the `tantivy` package: pip install 'memmimic[embedded]' "
                "(or set text_index.backend: storage)"
            ) from exc
        self.options = options or TantivyOptions()
        self.storage: Storage = context.storage
        self.folder = context.data_dir / FOLDER
        self._lock_path = context.data_dir / LOCK_FILE
        try:
            context.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"can't create the data directory {context.data_dir}: {exc}") from exc
        self._sync_lock = threading.RLock()  # changes of the view: sync, follow, trim
        self._writer_lock = threading.Lock()  # writes to the on-disk index from this object
        self._analysis: Analysis = build_analysis(
            self.options.tokenizer, self.options.stopwords, self.options.ascii_fold
        )
        self._store: TantivyStore = TantivyStore(
            self.folder, self._analysis, self.options, self.storage, context.store_id
        )
        self._view = _View(None, -1, Tail())
        self._committer = self._new_committer()
        with self._sync_lock:
            self._follow(force=True)
        if self.options.sync_on_open:
            self.sync()

    # DerivedIndex ----------------------------------------------------------------------------

    def sync(self) -> int:
        """Catch up with the storage's change sequence; return how many changes were applied.

        Cheap when nothing changed (one ``last_seq`` query and one ``stat``). Up to ``max_tail``
        changes go to the in-memory tail, searchable at once, committed later in the background;
        a larger lag, a missing or damaged index, or a new database commits here, under the
        inter-process lock. When another process holds that lock for longer than
        ``lock_timeout``, follows what it committed and returns 0: a later sync catches up.
        """
        target = self.storage.last_seq()
        view = self._view
        if view.searcher is not None and view.seq >= target and not self._store.state_changed():
            return 0
        with self._sync_lock:
            self._follow()
            view = self._view
            behind = target - view.seq
            if (
                view.searcher is None
                or target < view.committed_seq
                or target - view.committed_seq > self.options.rebuild_threshold
                or behind > self.options.max_tail
                or behind + len(view.tail) > 2 * self.options.max_tail
            ):
                return self._catch_up_now()
            if behind <= 0:
                return 0
            applied = self._extend(view, target)
        self._committer.notify()
        return applied

    def commit(self, lock_timeout: float | None = None) -> int | None:
        """Fold the tail (every change in storage) into the on-disk index now.

        Returns the changes committed, or ``None`` when another process held the lock for
        ``lock_timeout`` seconds (default: the ``lock_timeout`` option). The background
        committer calls this; tests, benchmarks and ``close`` may too.
        """
        from .locking import FileLock

        timeout = self.options.lock_timeout if lock_timeout is None else lock_timeout
        with self._writer_lock, FileLock(self._lock_path, timeout) as locked:
            if not locked:
                return None
            applied = self._catch_up_locked()
        with self._sync_lock:
            self._follow(force=True)
        return applied

    def lag(self) -> int:
        """Return how many changes searches are behind the storage (0 right after a sync)."""
        target = self.storage.last_seq()
        state = self._store.read_state()
        if state is None or state.seq > target:
            return target
        return max(0, target - max(state.seq, self._view.seq))

    def stats(self) -> dict[str, Any]:
        """Return the index's facts: documents, segments, size, tail, settings, last change seen."""
        view = self._view
        searcher = view.searcher
        return {
            "kind": self.name,
            "path": str(self.folder),
            "documents": searcher.num_docs if searcher is not None else 0,
            "segments": searcher.num_segments if searcher is not None else 0,
            "size_bytes": self._store.size_bytes(),
            "last_seq": max(view.seq, 0),
            "committed_seq": max(view.committed_seq, 0),
            "tail_documents": len(view.tail),
            "lag": self.lag(),
            "tokenizer": self.options.tokenizer,
            "stopwords": self.options.stopwords,
        }

    def close(self) -> None:
        """Stop the committer, commit the tail (``commit_on_close``), release the index files.

        The commit waits at most ``lock_timeout`` for another process's lock; when it can't
        happen, nothing is lost: the next open replays those changes from storage.
        """
        from .tail import Tail

        self._committer.stop()
        if self.options.commit_on_close and self._view.tail.docs:
            try:
                if self.commit() is None:
                    log.warning(
                        "tantivy index at %s: lock busy at close; the next open catches up", self.folder
                    )
            except StorageError as exc:
                log.warning(
                    "tantivy index at %s: commit at close failed (%s); the next open catches up",
                    self.folder,
                    exc,
                )
        with self._sync_lock:
            self._view = _View(None, -1, Tail())
            self._store.index = None
            self._store.uid = None
            self._committer = self._new_committer()

    # TextIndex -------------------------------------------------------------------------------

    def search(
        self, namespace: str, query: TextQuery, limit: int, filters: Filters | None = None
    ) -> list[Candidate]:
        """Return up to ``limit`` memories of ``namespace`` ranked by BM25, best first.

        The query is an OR of the analyzed terms of ``query.text`` (weight 1) and of each
        weighted term (boosted by its weight); namespace and filters are must-clauses. The
        committed index answers for memories the tail doesn't hold; the tail for the rest.
        """
        if limit <= 0:
            return []
        terms = self._analysis.query_terms(query, self.options.max_query_terms)
        if not terms:
            return []
        if self.options.sync_on_search or self._view.searcher is None:
            self.sync()
        view = self._view
        from .schema import pushable_metadata

        filters = filters if filters is not None else Filters()  # as the storage: active memories
        pushable = pushable_metadata(filters.metadata)
        want = self.options.matched_terms or query.want_matched
        if not view.tail.docs:
            return self._search_committed(view, namespace, terms, filters, limit, pushable, want, {})
        # with a tail, both sides score with the statistics the index will have once it's committed
        from .scoring import idf_ratios

        tokens = {t for term in terms for t in term.tokens}
        searcher = view.searcher
        committed_df = (
            {t: int(searcher.doc_freq("content", t)) for t in tokens} if searcher is not None else {}
        )
        stats = view.stats(self._store.schema, tokens)
        tail_df = {t: view.tail.doc_freq(t) for t in tokens}
        boosts = idf_ratios(committed_df, tail_df, stats, view.tail.combined(stats))
        found = self._search_committed(view, namespace, terms, filters, limit, pushable, want, boosts)
        hits = view.tail.search(
            namespace,
            terms,
            filters,
            stats,
            committed_df,
            metadata=pushable,
            limit=limit if pushable else None,
            want_matched=want,
        )
        if hits and not pushable:
            allowed = {m.id for m in self.storage.get([h.memory_id for h in hits], namespace, filters)}
            hits = [h for h in hits if h.memory_id in allowed]
        found.extend(Candidate(h.memory_id, h.score, h.matched) for h in hits)
        found.sort(key=lambda c: c.score, reverse=True)
        return found[:limit]

    # the view ---------------------------------------------------------------------------------

    def _new_committer(self) -> Any:
        from .committer import Committer

        return Committer(
            f"tantivy-commit:{self.folder}",
            self._commit_due,
            self.commit,
            lock_timeout=min(self.options.lock_timeout, COMMITTER_LOCK_SECONDS),
            retry_after=max(self.options.commit_interval_ms / 1000, 0.05),
        )

    def _commit_due(self) -> float | None:
        """Seconds until the tail should be committed (``None``: nothing to commit)."""
        tail = self._view.tail
        if not tail.docs:
            return None
        if len(tail) >= self.options.max_tail:
            return 0.0
        return self.options.commit_interval_ms / 1000 - tail.age()

    def _follow(self, *, force: bool = False) -> None:
        """Follow the state file (caller holds the sync lock): reload the reader after a commit,
        by this process or another, and trim the tail to what the commit contains."""
        view = self._view
        if not force and view.searcher is not None and not self._store.state_changed():
            return
        state = self._store.refresh()
        if state is None or self._store.index is None:  # gone or unreadable: sync rebuilds
            self._view = _View(None, -1, view.tail)
            return
        self._view = _View(self._store.index.searcher(), state.seq, view.tail.trim(state.seq))

    def _extend(self, view: _View, target: int) -> int:
        """Add the changes after ``view.seq`` to the tail (caller holds the sync lock)."""
        from .tail import make_doc

        seq, applied = view.seq, 0
        docs: list[TailDoc] = []
        while seq < target:
            changes = self.storage.changes_since(seq, limit=self.options.batch_size)
            if not changes:
                break
            latest = {change.rowid: change for change in changes}
            upserts = [rowid for rowid, change in latest.items() if change.op == "upsert"]
            current = {m.rowid: m for m in self.storage.get_by_rowid(upserts)} if upserts else {}
            now = time.monotonic()
            docs.extend(
                make_doc(rowid, change.seq, current.get(rowid), self._analysis, now)
                for rowid, change in latest.items()
            )
            seq = changes[-1].seq
            applied += len(changes)
        self._view = _View(view.searcher, view.committed_seq, view.tail.extend(docs, seq), view._stats)
        return applied

    def _catch_up_now(self) -> int:
        """Commit here (caller holds the sync lock): rebuilds, a large lag, no tail."""
        from .locking import FileLock

        with self._writer_lock, FileLock(self._lock_path, self.options.lock_timeout) as locked:
            if locked:
                applied = self._catch_up_locked()
            else:
                log.warning(
                    "tantivy index at %s: another process has been syncing for over %.0fs; "
                    "searching what it committed so far",
                    self.folder,
                    self.options.lock_timeout,
                )
                applied = 0
        self._follow(force=True)
        return applied

    def _catch_up_locked(self) -> int:
        try:
            return self._store.catch_up()
        except (OSError, ValueError) as exc:  # tantivy reports I/O trouble as ValueError
            raise StorageError(f"can't update the tantivy index at {self.folder}: {exc}") from exc

    # searching --------------------------------------------------------------------------------

    def _search_committed(
        self,
        view: _View,
        namespace: str,
        terms: list[QueryTerm],
        filters: Filters,
        limit: int,
        pushable: bool,
        want: bool,
        boosts: dict[str, float],
    ) -> list[Candidate]:
        searcher = view.searcher
        if searcher is None:
            return []
        from .query import build_query, matched_terms

        schema = self._store.schema
        query_obj = build_query(schema, namespace, terms, filters, view.exclude(schema), boosts)
        fetch = limit if pushable else limit * 4
        while True:
            try:
                hits = searcher.search(query_obj, min(fetch, MAX_FETCH), count=False).hits
            except ValueError as exc:
                raise StorageError(f"tantivy search failed in {self.folder}: {exc}") from exc
            found = [(float(score), searcher.doc(address)["id"][0], address) for score, address in hits]
            if pushable:
                kept = found
            else:
                allowed = {m.id for m in self.storage.get([f[1] for f in found], namespace, filters)}
                kept = [f for f in found if f[1] in allowed]
            if len(kept) >= limit or len(hits) < fetch or fetch >= MAX_FETCH:
                break
            fetch *= 4
        kept = kept[:limit]
        if not want:  # claim nothing rather than every query term
            return [Candidate(memory_id, score) for score, memory_id, _ in kept]
        return [
            Candidate(memory_id, score, matched_terms(searcher, query_obj, terms, address))
            for score, memory_id, address in kept
        ]
