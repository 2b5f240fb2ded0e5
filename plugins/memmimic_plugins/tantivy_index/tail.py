"""The in-memory tail: changes newer than the committed tantivy index, searchable at once.

``sync()`` reads ``storage.changes_since`` and keeps the current state of each changed memory
here (analyzed with the index's own analyzer), so a search never waits for a tantivy commit.
A :class:`Tail` is immutable: extending or trimming it returns a new one, so a search reads one
consistent snapshot without a lock while ``sync()`` and the committer build the next.

Tail documents are scored by :mod:`.scoring` on the committed index's statistics plus the
tail's, which is what tantivy computes once the tail is committed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from memmimic_core.models import Filters, Memory

from .analysis import Analysis, QueryTerm
from .schema import micros
from .scoring import BM25Stats, bm25

__all__ = ["Tail", "TailDoc", "TailHit", "make_doc", "matches"]


@dataclass(frozen=True, slots=True)
class TailDoc:
    """The state of one changed memory as of the tail's last extension (``memory`` None: gone)."""

    rowid: int
    seq: int  # the newest change of this memory the tail has applied
    memory: Memory | None
    terms: Mapping[str, int]  # analyzed content term -> frequency
    length: int  # tokens in the content, as tantivy counts them for the fieldnorm
    added: float  # time.monotonic() when this state entered the tail


def make_doc(rowid: int, seq: int, memory: Memory | None, analysis: Analysis, now: float) -> TailDoc:
    """Analyze ``memory`` (``None``: deleted) into a tail document."""
    if memory is None:
        return TailDoc(rowid, seq, None, {}, 0, now)
    tokens = analysis.analyze(memory.content)
    return TailDoc(rowid, seq, memory, dict(Counter(tokens)), len(tokens), now)


@dataclass(frozen=True, slots=True)
class TailHit:
    """One tail document that matches a query."""

    memory_id: str
    score: float
    matched: tuple[str, ...]


_EMPTY: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Tail:
    """The changes after the committed index: one state per changed rowid, with postings.

    ``seq``: every change up to it is reflected by the committed index or by this tail.
    """

    seq: int = 0
    docs: Mapping[int, TailDoc] = field(default_factory=dict)
    postings: Mapping[str, frozenset[int]] = field(default_factory=dict)
    num_docs: int = 0  # present (not deleted) documents
    num_tokens: int = 0
    since: float = 0.0  # monotonic time the oldest entry was added (0: empty)

    def __len__(self) -> int:
        return len(self.docs)

    def extend(self, docs: Iterable[TailDoc], seq: int) -> Tail:
        """Return the tail with these newer states (each replacing the rowid's older one)."""
        own = dict(self.docs)
        postings = dict(self.postings)
        num_docs, num_tokens = self.num_docs, self.num_tokens
        for doc in docs:
            old = own.get(doc.rowid)
            if old is not None:
                num_docs, num_tokens = _unpost(postings, old, num_docs, num_tokens)
            own[doc.rowid] = doc
            if doc.memory is not None:
                for term in doc.terms:
                    postings[term] = postings.get(term, _EMPTY) | {doc.rowid}
                num_docs += 1
                num_tokens += doc.length
        since = self.since if self.docs else min((d.added for d in own.values()), default=0.0)
        return Tail(max(seq, self.seq), own, postings, num_docs, num_tokens, since)

    def trim(self, committed_seq: int) -> Tail:
        """Return the tail without the states a commit up to ``committed_seq`` contains."""
        gone = [d for d in self.docs.values() if d.seq <= committed_seq]
        if not gone:
            return (
                self
                if committed_seq <= self.seq
                else Tail(committed_seq, self.docs, self.postings, self.num_docs, self.num_tokens, self.since)
            )
        kept = [d for d in self.docs.values() if d.seq > committed_seq]
        seq = max(self.seq, committed_seq)
        if len(kept) <= len(gone):
            return Tail(seq).extend(kept, seq)
        own = dict(self.docs)
        postings = dict(self.postings)
        num_docs, num_tokens = self.num_docs, self.num_tokens
        for doc in gone:
            del own[doc.rowid]
            num_docs, num_tokens = _unpost(postings, doc, num_docs, num_tokens)
        since = min(d.added for d in own.values())
        return Tail(seq, own, postings, num_docs, num_tokens, since)

    def combined(self, committed: BM25Stats) -> BM25Stats:
        """The statistics tantivy will have once this tail is committed (before merges)."""
        return BM25Stats(committed.num_docs + self.num_docs, committed.num_tokens + self.num_tokens)

    def doc_freq(self, token: str) -> int:
        """How many tail documents (any namespace) hold ``token``."""
        return len(self.postings.get(token, _EMPTY))

    def age(self) -> float:
        """Seconds since the oldest entry was added (0 when empty)."""
        return time.monotonic() - self.since if self.docs else 0.0

    def search(
        self,
        namespace: str,
        terms: Sequence[QueryTerm],
        filters: Filters,
        committed: BM25Stats,
        committed_df: Mapping[str, int],
        *,
        metadata: bool,
    ) -> list[TailHit]:
        """Return every present tail document of ``namespace`` that passes ``filters`` and
        matches a clause, scored by BM25 on the committed statistics plus the tail's.

        :param committed_df: each query token's document frequency in the committed index.
        :param metadata: apply the metadata filter here (else the caller checks it with storage).
        """
        tokens = {t for term in terms for t in term.tokens}
        posted = {t: self.postings.get(t, _EMPTY) for t in tokens}
        candidates = set().union(*posted.values()) if posted else set()
        if not candidates:
            return []
        stats = self.combined(committed)
        doc_freq = {t: committed_df.get(t, 0) + len(rows) for t, rows in posted.items() if rows}
        hits = []
        for rowid in candidates:
            doc = self.docs[rowid]
            memory = doc.memory
            if (
                memory is None
                or memory.namespace != namespace
                or not matches(memory, filters, metadata=metadata)
            ):
                continue
            score = 0.0
            matched = []
            for term in terms:
                if all(t in doc.terms for t in term.tokens):
                    part = sum(bm25(doc.terms[t], doc.length, doc_freq[t], stats) for t in term.tokens)
                    score += term.weight * part
                    matched.append(term.surface)
            if matched:
                hits.append(TailHit(memory.id, score, tuple(matched)))
        return hits


def _unpost(
    postings: dict[str, frozenset[int]], doc: TailDoc, num_docs: int, num_tokens: int
) -> tuple[int, int]:
    if doc.memory is None:
        return num_docs, num_tokens
    for term in doc.terms:
        rest = postings[term] - {doc.rowid}
        if rest:
            postings[term] = rest
        else:
            del postings[term]
    return num_docs - 1, num_tokens - doc.length


def matches(memory: Memory, filters: Filters, *, metadata: bool) -> bool:
    """Whether ``memory`` passes ``filters`` as the index's filter clauses would.

    :param metadata: check the metadata filter too (only when :func:`pushable_metadata` holds:
        short strings, compared as the index does; other values are left to ``storage.get``).
    """
    if filters.status is not None and memory.status != filters.status:
        return False
    if filters.memory_type is not None and memory.memory_type != filters.memory_type:
        return False
    if filters.cxd_function is not None and memory.cxd_function != filters.cxd_function:
        return False
    if filters.tags and not set(filters.tags).issubset(memory.tags):
        return False
    if filters.since is not None or filters.until is not None:
        created = micros(memory.created_at)
        if filters.since is not None and created < micros(filters.since):
            return False
        if filters.until is not None and created >= micros(filters.until):
            return False
    if metadata and filters.metadata:
        for key, value in filters.metadata.items():
            held = memory.metadata.get(key)
            if not isinstance(held, str) or held != value:
                return False
    return True
