"""The in-memory tail: changes newer than the committed tantivy index, searchable at once.

``sync()`` reads ``storage.changes_since`` and keeps the current state of each changed memory
here (analyzed with the index's own analyzer), so a search never waits for a tantivy commit.
A :class:`Tail` is immutable: extending or trimming it returns a new one, so a search reads one
consistent snapshot without a lock while ``sync()`` and the committer build the next.

Tail documents are scored by :mod:`.scoring` on the committed index's statistics plus the
tail's, which is what tantivy computes once the tail is committed.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from memmimic_core.models import Filters, Memory

from .analysis import Analysis, QueryTerm
from .schema import micros
from .scoring import K1, B, BM25Stats, fieldnorm, idf

__all__ = ["Tail", "TailDoc", "TailHit", "make_doc", "matches"]


@dataclass(frozen=True, slots=True)
class TailDoc:
    """The state of one changed memory as of the tail's last extension (``memory`` None: gone)."""

    rowid: int
    seq: int  # the newest change of this memory the tail has applied
    memory: Memory | None
    terms: Mapping[str, int]  # analyzed content term -> frequency
    length: int  # tokens in the content, as tantivy counts them for the fieldnorm
    norm_length: int  # that length as tantivy's 1-byte fieldnorm decodes it
    added: float  # time.monotonic() when this state entered the tail


def make_doc(rowid: int, seq: int, memory: Memory | None, analysis: Analysis, now: float) -> TailDoc:
    """Analyze ``memory`` (``None``: deleted) into a tail document."""
    if memory is None:
        return TailDoc(rowid, seq, None, {}, 0, 0, now)
    tokens = analysis.analyze(memory.content)
    return TailDoc(rowid, seq, memory, dict(Counter(tokens)), len(tokens), fieldnorm(len(tokens)), now)


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
        newest = {doc.rowid: doc for doc in docs}  # a rowid changed twice: its last state
        added: dict[str, list[int]] = {}
        for rowid, doc in newest.items():
            old = own.get(rowid)
            if old is not None:
                num_docs, num_tokens = _unpost(postings, old, num_docs, num_tokens)
            own[rowid] = doc
            if doc.memory is not None:
                for term in doc.terms:
                    added.setdefault(term, []).append(rowid)
                num_docs += 1
                num_tokens += doc.length
        for term, rowids in added.items():  # one new set per term, not one per document
            postings[term] = postings.get(term, _EMPTY).union(rowids)
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
        limit: int | None,
        want_matched: bool,
    ) -> list[TailHit]:
        """Return the best present tail documents of ``namespace`` that pass ``filters`` and
        match a clause, scored by BM25 on the committed statistics plus the tail's.

        Walks the postings of the query's tokens only, so the cost follows the matches.

        :param committed_df: each query token's document frequency in the committed index.
        :param metadata: apply the metadata filter here (else the caller checks it with storage).
        :param limit: how many to return, best first (``None``: every match).
        """
        stats = self.combined(committed)
        avgdl = stats.avgdl or 1.0
        docs = self.docs
        # each clause: its postings (all its tokens), (token, weight·(k1+1)·idf) pairs, and the
        # bound of what it can add to a score (tf / (tf + norm) < 1)
        clauses: list[tuple[frozenset[int], list[tuple[str, float]], str]] = []
        for term in terms:
            sets = [self.postings.get(t, _EMPTY) for t in term.tokens]
            rows = sets[0] if len(sets) == 1 else frozenset.intersection(*sets)
            if rows:
                factors = [
                    (t, term.weight * (1.0 + K1) * idf(committed_df.get(t, 0) + len(posted), stats.num_docs))
                    for t, posted in zip(term.tokens, sets, strict=True)
                ]
                clauses.append((rows, factors, term.surface))
        # MaxScore: rarest (highest bound) clauses first; stop when no unseen document can beat
        # the k-th score so far. Every document seen is scored on every clause.
        in_query_order = list(clauses)
        clauses.sort(key=lambda c: -sum(f for _, f in c[1]))
        bounds = [sum(f for _, f in c[1]) for c in clauses]
        rest = [sum(bounds[i:]) for i in range(len(bounds))]
        seen: set[int] = set()
        best: list[tuple[float, int]] = []  # min-heap of the top ``limit``
        found: list[tuple[float, int]] = []  # every match when there is no limit
        for index, (rows, _, _) in enumerate(clauses):
            if limit is not None and len(best) >= limit and rest[index] <= best[0][0]:
                break
            for rowid in rows:
                if rowid in seen:
                    continue
                seen.add(rowid)
                doc = docs[rowid]
                memory = doc.memory
                if memory is None or memory.namespace != namespace:
                    continue
                if not matches(memory, filters, metadata=metadata):
                    continue
                norm = K1 * (1.0 - B + B * doc.norm_length / avgdl)
                freqs = doc.terms
                score = 0.0
                for _, factors, _ in clauses[index:]:
                    if len(factors) == 1:  # one word: most clauses
                        token, factor = factors[0]
                        tf = freqs.get(token)
                        if tf:
                            score += factor * tf / (tf + norm)
                    elif all(t in freqs for t, _ in factors):
                        for token, factor in factors:
                            tf = freqs[token]
                            score += factor * tf / (tf + norm)
                if limit is None:
                    found.append((score, rowid))
                elif len(best) < limit:
                    heapq.heappush(best, (score, rowid))
                elif score > best[0][0]:
                    heapq.heapreplace(best, (score, rowid))
        ranked = sorted(found if limit is None else best, reverse=True)
        hits = []
        for score, rowid in ranked:
            doc = docs[rowid]
            surfaces = (
                tuple(c[2] for c in in_query_order if all(t in doc.terms for t, _ in c[1]))
                if want_matched
                else ()
            )
            hits.append(TailHit(_memory_id(doc), score, surfaces))
        return hits


def _memory_id(doc: TailDoc) -> str:
    assert doc.memory is not None
    return doc.memory.id


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
