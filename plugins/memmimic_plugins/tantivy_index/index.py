"""The ``TantivyIndex`` backend: BM25 keyword search kept in step with storage."""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from memmimic_core.errors import ConfigError, MissingResourceError, StorageError
from memmimic_core.models import Candidate, Filters, TextQuery
from memmimic_core.protocols import BackendContext, Storage

from .options import TantivyOptions

CONTENT_FIELD_ID = 3  # position of ``content`` in schema.build_schema

if TYPE_CHECKING:
    from .analysis import Analysis, QueryTerm
    from .store import TantivyStore

__all__ = ["TantivyIndex"]

log = logging.getLogger(__name__)
FOLDER = "tantivy"
LOCK_FILE = "tantivy.lock"
MAX_FETCH = 100_000
# tantivy's explanation names each matching term as Term(field=<n>, type=Str, "<token>"); the
# simple tokenizer's tokens are alphanumeric, so they appear verbatim.
_CONTENT_TERM = re.compile(rf'Term\(field={CONTENT_FIELD_ID}, type=Str, "([^"\\]*)"\)')


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
        self._mutex = threading.RLock()
        self._seen = -1
        self._analysis: Analysis = build_analysis(
            self.options.tokenizer, self.options.stopwords, self.options.ascii_fold
        )
        self._store: TantivyStore = TantivyStore(
            self.folder, self._analysis, self.options, self.storage, context.store_id
        )
        state = self._store.refresh()
        self._seen = state.seq if state is not None else -1
        if self.options.sync_on_open:
            self.sync()

    # DerivedIndex ----------------------------------------------------------------------------

    def sync(self) -> int:
        """Catch up with the storage's change sequence; return how many changes were applied.

        Cheap when nothing changed (one ``last_seq`` query and one ``stat``). When another
        process holds the index's write lock for longer than ``lock_timeout``, follows what
        that process committed and returns 0: a later sync catches up the rest.
        """
        from .locking import FileLock

        with self._mutex:
            target = self.storage.last_seq()
            if self._store.index is not None and self._seen == target and not self._store.state_changed():
                return 0
            state = self._store.refresh()
            if state is not None:
                self._seen = state.seq
                if state.seq == target:
                    return 0
            with FileLock(self._lock_path, self.options.lock_timeout) as locked:
                if not locked:
                    log.warning(
                        "tantivy index at %s: another process has been syncing for over %.0fs; "
                        "searching what it committed so far",
                        self.folder,
                        self.options.lock_timeout,
                    )
                    return 0
                try:
                    applied = self._store.catch_up()
                except (OSError, ValueError) as exc:  # tantivy reports I/O trouble as ValueError
                    raise StorageError(f"can't update the tantivy index at {self.folder}: {exc}") from exc
            state = self._store.refresh()
            self._seen = state.seq if state is not None else -1
            return applied

    def lag(self) -> int:
        """Return how many changes the committed index is behind the storage."""
        target = self.storage.last_seq()
        state = self._store.read_state()
        if state is None or state.seq > target:
            return target
        return target - state.seq

    def stats(self) -> dict[str, Any]:
        """Return the index's facts: documents, segments, size, settings, last change seen."""
        index = self._store.index
        searcher = index.searcher() if index is not None else None
        return {
            "kind": self.name,
            "path": str(self.folder),
            "documents": searcher.num_docs if searcher is not None else 0,
            "segments": searcher.num_segments if searcher is not None else 0,
            "size_bytes": self._store.size_bytes(),
            "last_seq": max(self._seen, 0),
            "lag": self.lag(),
            "tokenizer": self.options.tokenizer,
            "stopwords": self.options.stopwords,
        }

    def close(self) -> None:
        """Release the index files (every sync already committed and released its writer)."""
        with self._mutex:
            self._store.index = None
            self._store.uid = None
            self._seen = -1

    # TextIndex -------------------------------------------------------------------------------

    def search(
        self, namespace: str, query: TextQuery, limit: int, filters: Filters | None = None
    ) -> list[Candidate]:
        """Return up to ``limit`` memories of ``namespace`` ranked by BM25, best first.

        The query is an OR of the analyzed terms of ``query.text`` (weight 1) and of each
        weighted term (boosted by its weight); namespace and filters are must-clauses.
        """
        if limit <= 0:
            return []
        terms = self._analysis.query_terms(query, self.options.max_query_terms)
        if not terms:
            return []
        if self.options.sync_on_search or self._store.index is None:
            self.sync()
        index = self._store.index
        if index is None:
            return []
        from .schema import pushable_metadata

        filters = filters if filters is not None else Filters()  # as the storage: active memories
        verify = not pushable_metadata(filters.metadata)
        query_obj = self._build_query(namespace, terms, filters)
        fetch = limit * 4 if verify else limit
        while True:
            searcher = index.searcher()
            try:
                hits = searcher.search(query_obj, min(fetch, MAX_FETCH), count=False).hits
            except ValueError as exc:
                raise StorageError(f"tantivy search failed in {self.folder}: {exc}") from exc
            found = [(float(score), searcher.doc(address)["id"][0], address) for score, address in hits]
            if verify:
                allowed = {m.id for m in self.storage.get([f[1] for f in found], namespace, filters)}
                kept = [f for f in found if f[1] in allowed]
            else:
                kept = found
            if len(kept) >= limit or len(hits) < fetch or fetch >= MAX_FETCH:
                break
            fetch *= 4
        kept = kept[:limit]
        if not self.options.matched_terms:  # claim nothing rather than every query term
            return [Candidate(memory_id, score) for score, memory_id, _ in kept]
        return [
            Candidate(memory_id, score, self._matched_terms(searcher, query_obj, terms, address))
            for score, memory_id, address in kept
        ]

    def _build_query(self, namespace: str, terms: list[QueryTerm], filters: Filters | None) -> Any:
        import tantivy

        from .schema import filter_clauses

        schema = self._store.schema
        should = []
        for term in terms:
            clause = self._clause(term, "freq")
            if term.weight != 1.0:
                clause = tantivy.Query.boost_query(clause, term.weight)
            should.append((tantivy.Occur.Should, clause))
        must = [
            (tantivy.Occur.Must, tantivy.Query.const_score_query(clause, 0.0))
            for clause in filter_clauses(schema, namespace, filters)
        ]
        return tantivy.Query.boolean_query([*must, (tantivy.Occur.Must, tantivy.Query.boolean_query(should))])

    def _matched_terms(
        self, searcher: Any, query: Any, terms: list[QueryTerm], address: Any
    ) -> tuple[str, ...]:
        """Return the surface words of the query clauses one hit contains (from tantivy's explain).

        Costs about 0.2 ms per hit, hence the ``matched_terms`` option (off by default).
        """
        explanation = json.loads(query.explain(searcher, address).to_json())
        present: set[str] = set()
        pending = [explanation]
        while pending:
            node = pending.pop()
            for context in node.get("context", ()):
                present.update(_CONTENT_TERM.findall(context))
            pending.extend(node.get("details", ()))
        return tuple(term.surface for term in terms if all(t in present for t in term.tokens))

    def _clause(self, term: QueryTerm, index_option: str) -> Any:
        """Return the query of one clause: its token, or all its tokens for a multi-word term."""
        import tantivy

        schema = self._store.schema
        queries = [tantivy.Query.term_query(schema, "content", t, index_option) for t in term.tokens]
        if len(queries) == 1:
            return queries[0]
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in queries])
