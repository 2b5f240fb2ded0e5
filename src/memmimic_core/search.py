"""The recall pipeline (DESIGN §5): cache → expand → retrieve → fuse → filter → hits."""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .models import (
    Candidate,
    Explanation,
    Filters,
    Fused,
    Hit,
    Memory,
    MemoryRef,
    SourceScore,
    TextQuery,
    WeightedTerm,
)
from .protocols import Cache, Expander, Ranker, Storage, TextIndex, VectorIndex

__all__ = ["RecallPipeline", "RecallRequest", "hits_from_json", "hits_to_json", "normalize_query"]

KEYWORD, SEMANTIC, EXPANSION = "keyword", "semantic", "expansion"
CONTEXT = "context"  # not a retriever: the lift a memory gets from a neighbour that matched
DEFAULT_CONTEXT_WINDOW = 600.0  # seconds; the ranker's context_window_seconds when it has none
_WORD = re.compile(r"[^\W_]+")


def normalize_query(text: str) -> str:
    """Fold a query for cache keys: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True)
class RecallRequest:
    """One validated recall."""

    query: str
    limit: int
    namespace: str
    filters: Filters
    sources: tuple[str, ...] = (KEYWORD, SEMANTIC, EXPANSION)
    explain: bool = False

    def cache_key(self, fingerprint: str, generation: int) -> str:
        """Key of the result cache: query, namespace, filters, config and data generation."""
        f = self.filters
        parts = {
            "q": normalize_query(self.query),
            "n": self.namespace,
            "l": self.limit,
            "s": list(self.sources),
            "x": self.explain,
            "f": [
                f.memory_type,
                f.cxd_function,
                sorted(f.tags),
                f.since.isoformat() if f.since else None,
                f.until.isoformat() if f.until else None,
                f.status,
                sorted((f.metadata or {}).items(), key=lambda kv: kv[0]),
            ],
            "c": fingerprint,
            "g": generation,
        }
        blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False).encode()
        return hashlib.blake2b(blob, digest_size=16).hexdigest()


def hits_to_json(hits: Sequence[Hit]) -> bytes:
    """Serialize hits for a (possibly shared) cache: plain JSON, never pickle."""
    return json.dumps([h.to_dict() for h in hits], ensure_ascii=False).encode()


def hits_from_json(blob: bytes) -> list[Hit]:
    """Rebuild hits from :func:`hits_to_json` output."""
    out = []
    for item in json.loads(blob):
        m = dict(item["memory"])
        for key in ("created_at", "updated_at", "last_accessed_at", "valid_from", "valid_to"):
            if m.get(key):
                m[key] = datetime.fromisoformat(m[key])
        m["tags"] = tuple(m.get("tags") or ())
        sources = {
            name: SourceScore(score=s["score"], normalized=s["normalized"], rank=s["rank"])
            for name, s in item["sources"].items()
        }
        out.append(
            Hit(
                memory=Memory(**m),
                score=item["score"],
                sources=sources,
                matched_terms=tuple(item["matched_terms"]),
                explanation=Explanation.from_dict(item["explanation"]) if item.get("explanation") else None,
            )
        )
    return out


def _accepts_explain(fuse: Callable[..., Any]) -> bool:
    """Whether a ranker's ``fuse`` takes ``explain=`` (then it breaks its scores down on request)."""
    try:
        parameters = inspect.signature(fuse).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "explain" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _term_key(text: str) -> str:
    """A term as text indexes report it: its words, case-folded, space-joined."""
    return " ".join(_WORD.findall(text.casefold()))


@dataclass(frozen=True, slots=True)
class _Draft:
    """A ranked candidate whose memory is not read yet: only where it sits (:class:`MemoryRef`)."""

    memory: MemoryRef
    score: float
    sources: Mapping[str, SourceScore]
    matched_terms: tuple[str, ...] = ()
    explanation: Explanation | None = None

    @property
    def id(self) -> str:
        """The memory's id."""
        return self.memory.id


class RecallPipeline:
    """Runs the retrievers, fuses their answers and applies the filters."""

    def __init__(
        self,
        *,
        storage: Storage,
        text_index: TextIndex,
        vector_index: VectorIndex,
        expanders: Sequence[Expander],
        ranker: Ranker,
        cache: Cache,
        embed_query: Callable[[str], Any],
        semantic_enabled: Callable[[], bool],
        overfetch: int,
        min_candidates: int,
        parallel: bool,
        context_weight: float | None = None,
        context_window: float | None = None,
    ) -> None:
        self.storage = storage
        self.text_index = text_index
        self.vector_index = vector_index
        self.expanders = list(expanders)
        self.ranker = ranker
        self.cache = cache
        self._embed_query = embed_query
        self._semantic_enabled = semantic_enabled
        self.overfetch = overfetch
        self.min_candidates = min_candidates
        if context_weight is None:  # the ranker's option, when it has one
            context_weight = float(getattr(getattr(ranker, "options", None), "context_weight", 0.0) or 0.0)
        self.context_weight = max(0.0, context_weight)
        if context_window is None:
            context_window = getattr(getattr(ranker, "options", None), "context_window_seconds", None)
        self.context_window = max(0.0, DEFAULT_CONTEXT_WINDOW if context_window is None else context_window)
        self._ranker_explains = _accepts_explain(ranker.fuse)
        self._pool = (
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="memmimic-recall") if parallel else None
        )

    def expand(self, query: str) -> list[WeightedTerm]:
        """Collect the expanders' terms, best weight per term."""
        best: dict[str, WeightedTerm] = {}
        for expander in self.expanders:
            for term in expander.expand(query):
                key = term.term.casefold()
                if key not in best or term.weight > best[key].weight:
                    best[key] = term
        return list(best.values())

    def retrieve(
        self, req: RecallRequest, k: int, terms: Sequence[WeightedTerm]
    ) -> dict[str, list[Candidate]]:
        """Run each enabled source for ``k`` candidates, concurrently where configured."""
        jobs: dict[str, Callable[[], list[Candidate]]] = {}
        if KEYWORD in req.sources:
            jobs[KEYWORD] = lambda: self.text_index.search(
                req.namespace, TextQuery(text=req.query, want_matched=req.explain), k, req.filters
            )
        if SEMANTIC in req.sources and self._semantic_enabled():
            jobs[SEMANTIC] = lambda: self.vector_index.search(req.namespace, self._embed_query(req.query), k)
        if EXPANSION in req.sources and terms:
            jobs[EXPANSION] = lambda: self.text_index.search(
                req.namespace, TextQuery(terms=tuple(terms), want_matched=req.explain), k, req.filters
            )
        if self._pool is None or len(jobs) < 2:
            return {name: job() for name, job in jobs.items()}
        # the semantic job (encoder + ANN) runs beside the keyword ones in this thread
        futures: dict[str, Future[list[Candidate]]] = {}
        if SEMANTIC in jobs:
            futures[SEMANTIC] = self._pool.submit(jobs.pop(SEMANTIC))
        results = {name: job() for name, job in jobs.items()}
        for name, fut in futures.items():
            results[name] = fut.result()
        return results

    def run(self, req: RecallRequest) -> list[Hit]:
        """Return the request's hits, best first, never a filtered-out or foreign memory.

        Candidates are ranked (and lifted by their neighbours) on :class:`MemoryRef` positions;
        only the ``limit`` winners are read in full.
        """
        terms = self.expand(req.query) if EXPANSION in req.sources and self.expanders else []
        k = max(req.limit * self.overfetch, self.min_candidates)
        hits: list[Hit] = []
        for _attempt in range(4):
            sources = self.retrieve(req, k, terms)
            if req.explain and self._ranker_explains:
                fused = self.ranker.fuse(sources, k, explain=True)  # type: ignore[call-arg]
            else:
                fused = self.ranker.fuse(sources, k)
            drafts = self._locate(fused, req)
            if req.explain:
                drafts = self._explain(drafts, fused, req, terms)
            if self.context_weight > 0 and drafts:
                drafts = self._spread_to_neighbours(drafts, req)
            exhausted = all(len(c) < k for c in sources.values())
            if len(drafts) >= req.limit or exhausted:
                hits = self._hydrate(drafts[: req.limit], req)
                if len(hits) >= min(req.limit, len(drafts)) or exhausted:
                    return hits  # (a winner deleted meanwhile: look deeper)
            k *= 4  # filters removed too many: fetch deeper
        return hits

    def _locate(self, fused: Sequence[Fused], req: RecallRequest) -> list[_Draft]:
        """The fused candidates that exist in the namespace and pass the filters, in fused order."""
        if not fused:
            return []
        refs = self.storage.locate(req.namespace, req.filters, ids=[f.memory_id for f in fused])
        by_id = {r.id: r for r in refs}
        return [
            _Draft(memory=by_id[f.memory_id], score=f.score, sources=f.sources, matched_terms=f.matched_terms)
            for f in fused
            if f.memory_id in by_id
        ]

    def _hydrate(self, drafts: Sequence[_Draft], req: RecallRequest) -> list[Hit]:
        """Read the winners in full, in their order; the filters are checked once more on the rows."""
        if not drafts:
            return []
        full = {m.id: m for m in self.storage.get([d.id for d in drafts], req.namespace, req.filters)}
        out = []
        for d in drafts:
            memory = full.get(d.id)
            if memory is not None and req.filters.matches(memory):
                out.append(
                    Hit(
                        memory=memory,
                        score=d.score,
                        sources=d.sources,
                        matched_terms=d.matched_terms,
                        explanation=d.explanation,
                    )
                )
        return out

    @staticmethod
    def _explain(
        hits: Sequence[_Draft], fused: Sequence[Fused], req: RecallRequest, terms: Sequence[WeightedTerm]
    ) -> list[_Draft]:
        """Attach each hit's :class:`Explanation`: the ranker's breakdown and the matched terms."""
        by_id = {f.memory_id: f for f in fused}
        query_words = set(_WORD.findall(req.query.casefold()))
        expanded = {_term_key(t.term): t for t in terms}
        out = []
        for hit in hits:
            f = by_id[hit.id]
            query_terms: list[str] = []
            expanded_terms: list[WeightedTerm] = []
            for term in hit.matched_terms:
                key = _term_key(term)
                found = expanded.get(key)
                if found is not None and found not in expanded_terms:
                    expanded_terms.append(found)
                if (found is None or key in query_words) and term not in query_terms:
                    query_terms.append(term)
            explanation = Explanation(
                score=hit.score,
                contributions=dict(f.contributions),
                bonus=f.bonus,
                matched_query_terms=tuple(query_terms),
                matched_expanded_terms=tuple(expanded_terms),
                sources=dict(hit.sources),
            )
            out.append(replace(hit, explanation=explanation))
        return out

    def _close_in_time(self, a: MemoryRef, b: MemoryRef) -> bool:
        """Whether two memories belong to one exchange: the same memory type, stored within
        ``context_window`` seconds of each other (0: any time apart).

        The turns of a conversation share their type; a technical note and a remark about a
        colleague written a minute apart do not lift each other.
        """
        if a.memory_type != b.memory_type:
            return False
        window = self.context_window
        return window <= 0 or abs((a.created_at - b.created_at).total_seconds()) <= window

    def _spread_to_neighbours(self, hits: Sequence[_Draft], req: RecallRequest) -> list[_Draft]:
        """Lift each memory by ``context_weight`` × the best score of its stored neighbours.

        Neighbours are the memories stored just before and just after (adjacent integer keys)
        in the same namespace, of the same type and at most ``context_window`` seconds apart,
        such as the turns around a turn of a conversation: what was said next to a match is often what the
        question is about, while a note written days after another is about something else.
        A neighbour that no retriever found can enter the list this way; its ``context``
        source names the hit that lifted it. Own scores are kept, so a neighbour never
        outranks an equal match.
        """
        weight = self.context_weight
        by_rowid: dict[int, MemoryRef] = {h.memory.rowid: h.memory for h in hits}
        # a neighbour nobody found scores weight × its hit's score; it can reach the first
        # `limit` only past the limit-th own score (lifts only raise scores), so fetch no others
        scores = sorted((h.score for h in hits), reverse=True)
        floor = scores[req.limit - 1] if len(scores) >= req.limit else 0.0
        wanted = {h.memory.rowid + d for h in hits if weight * h.score > floor for d in (-1, 1)} - set(
            by_rowid
        )
        if wanted:
            for ref in self.storage.locate(
                req.namespace, req.filters, rowids=sorted(r for r in wanted if r > 0)
            ):
                by_rowid[ref.rowid] = ref
        own = {h.memory.rowid: h for h in hits}
        rank = {h.memory.rowid: i for i, h in enumerate(hits, start=1)}
        lifted: list[_Draft] = []
        for rowid, memory in by_rowid.items():
            hit = own.get(rowid)
            base = hit.score if hit is not None else 0.0
            best = None
            for near in (own.get(rowid - 1), own.get(rowid + 1)):
                if (
                    near is not None
                    and (best is None or near.score > best.score)
                    and self._close_in_time(memory, near.memory)
                ):
                    best = near
            if best is None or best.score <= 0:
                if hit is not None:
                    lifted.append(hit)  # nothing to lift it by: as it was
                continue
            sources = dict(hit.sources) if hit is not None else {}
            lift = weight * best.score
            score = base + lift
            sources[CONTEXT] = SourceScore(score=best.score, normalized=lift, rank=rank[best.memory.rowid])
            explanation = hit.explanation if hit is not None else None
            if req.explain:
                explanation = replace(
                    explanation or Explanation(score=0.0),
                    score=score,
                    context_lift=lift,
                    lifted_by=best.id,
                    sources=sources,
                )
            terms = hit.matched_terms if hit is not None else ()
            lifted.append(
                _Draft(
                    memory=memory, score=score, sources=sources, matched_terms=terms, explanation=explanation
                )
            )
        lifted.sort(key=lambda h: (-h.score, h.memory.id))
        return lifted

    def close(self) -> None:
        """Stop the worker threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
