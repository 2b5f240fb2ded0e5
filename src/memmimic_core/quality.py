"""Memory quality without an LLM: scores, duplicates and the store / refuse / merge / supersede gate.

Everything here is deterministic and explainable (DESIGN §8):

- *clarity*: enough words, word-like tokens rather than noise, sentences of a readable length;
- *information density*: distinct content words per word, plus specifics (numbers, names,
  identifiers) that make a memory checkable;
- *uniqueness*: one minus the cosine similarity to the nearest stored neighbour.

Exact duplicates are found by content hash (SHA-256 of the UTF-8 content, as the storage
computes it), near duplicates and related memories by cosine thresholds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from .config import QualityConfig
from .errors import InvalidInputError
from .models import Memory, MemoryPatch

if TYPE_CHECKING:
    from .engine import MemMimic

__all__ = [
    "Neighbour",
    "QualityConfig",
    "QualityDecision",
    "QualityScores",
    "content_hash",
    "content_words",
    "find_neighbours",
    "remember_with_quality",
    "score_text",
]


_STOPWORD_TEXT = """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves also get got let us may might must
    shall still yet via per"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_NEGATION_TEXT = (
    "no not never none nobody nothing neither nor cannot can't won't don't doesn't didn't isn't "
    "aren't wasn't weren't shouldn't wouldn't couldn't hasn't haven't hadn't without"
)
NEGATIONS = frozenset(_NEGATION_TEXT.split())
_TOKEN = re.compile(r"[^\W_]+(?:['’.\-][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,:]\d+)*%?")
_IDENTIFIER = re.compile(r"\b\w+[_/.:]\w[\w/.:]*\b|\b[a-z]+[A-Z]\w*\b")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


class QualityScores(BaseModel):
    """The scores of one candidate, each in [0, 1], and the observations behind them."""

    clarity: float
    density: float
    uniqueness: float
    content: float = Field(description="clarity and density by their weights: what min_quality gates")
    overall: float = Field(description="clarity, density and uniqueness by their weights")
    notes: list[str] = Field(default_factory=list)


class Neighbour(BaseModel):
    """A stored memory close to a candidate."""

    id: str
    cosine: float
    status: str
    created_at: str
    preview: str


class QualityDecision(BaseModel):
    """What ``remember_with_quality`` did and why."""

    action: Literal["stored", "refused", "merged", "superseded", "assessed"]
    memory_id: str | None = Field(description="the stored, merged-into, or blocking memory")
    reason: str
    scores: QualityScores
    exact_duplicates: list[str] = Field(default_factory=list)
    near_duplicates: list[Neighbour] = Field(default_factory=list)
    related: list[Neighbour] = Field(default_factory=list)
    superseded: str | None = Field(default=None, description="the memory archived in favour of the new one")
    semantic: bool = Field(default=True, description="whether cosine comparisons were available")


def content_hash(content: str) -> str:
    """The content hash the storage keeps (SHA-256 of the UTF-8 text, hex)."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens of ``text``."""
    return [t.lower() for t in _TOKEN.findall(text)]


def content_words(text: str) -> list[str]:
    """Tokens that carry content: not stop words, not single characters."""
    return [t for t in tokens(text) if t not in STOPWORDS and len(t) > 1]


def numbers(text: str) -> set[str]:
    """The numbers written in ``text``."""
    return {n.strip("+") for n in _NUMBER.findall(text)}


def has_negation(text: str) -> bool:
    """Whether ``text`` contains a negation word."""
    return any(t.replace("’", "'") in NEGATIONS for t in tokens(text)) or "n't" in text.lower()


def preview(text: str, chars: int = 120) -> str:
    """The start of ``text`` on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= chars else flat[: chars - 1] + "…"


def score_text(text: str) -> tuple[float, float, list[str]]:
    """Return (clarity, density, notes) of ``text``; both scores in [0, 1]."""
    notes: list[str] = []
    words = tokens(text)
    raw = text.split()
    n = len(words)
    if n == 0:
        return 0.0, 0.0, ["no words"]
    length_f = 0.2 if n < 3 else 0.6 if n < 6 else 1.0
    if n < 6:
        notes.append(f"short: {n} word{'s' if n != 1 else ''}")
    wordlike = sum(1 for w in raw if re.search(r"[^\W\d_]", w)) / max(len(raw), 1)
    if wordlike < 0.6:
        notes.append(f"only {wordlike:.0%} of tokens are words")
    sentences = [s for s in _SENTENCE.findall(text) if s.strip()]
    mean_len = n / max(len(sentences), 1)
    sentence_f = 1.0 if mean_len <= 30 else max(0.4, 30 / mean_len)
    if mean_len > 30:
        notes.append(f"long sentences: {mean_len:.0f} words on average")
    letters = [c for c in text if c.isalpha()]
    upper = sum(c.isupper() for c in letters) / max(len(letters), 1)
    shouting_f = 0.7 if upper > 0.6 and len(letters) > 10 else 1.0
    if shouting_f < 1.0:
        notes.append("mostly capital letters")
    clarity = length_f * (0.4 + 0.6 * wordlike) * sentence_f * shouting_f

    content = content_words(text)
    lexical = len(set(content)) / n
    if n >= 6 and len(set(words)) / n < 0.5:
        notes.append(f"repetitive: {len(set(words))} distinct of {n} words")
    specifics = len(numbers(text)) + len(_IDENTIFIER.findall(text))
    specifics += sum(1 for w in raw[1:] if w[:1].isupper() and w.strip(".,;:!?").isalpha())
    if specifics == 0:
        notes.append("no specifics (numbers, names, identifiers)")
    density = min(1.0, 0.75 * min(1.0, lexical / 0.6) + 0.25 * min(1.0, specifics / 2))
    density *= length_f if n < 3 else 1.0
    return round(clarity, 4), round(density, 4), notes


def _weighted(parts: dict[str, float], config: QualityConfig) -> float:
    w = config.weights
    total = sum(w.get(k, 0.0) for k in parts)
    if total <= 0:
        return round(sum(parts.values()) / len(parts), 4)
    return round(sum(v * w.get(k, 0.0) for k, v in parts.items()) / total, 4)


def find_neighbours(
    mm: MemMimic, text: str, namespace: str, limit: int, *, exclude: Sequence[str] = ()
) -> tuple[list[tuple[Memory, float]], bool]:
    """Return the stored memories nearest to ``text`` by cosine, closest first, and whether
    semantic comparison was available (``False`` when stored embeddings don't fit the embedder).
    """
    if mm.embedder_mismatch() is not None:
        return [], False
    if mm.config.embedder.write_behind:
        mm._embedding.catch_up_pending(namespace)
    mm._sync_indexes()
    vector = mm._embedding.embed_query(text)
    found = mm.vector_index.search(namespace, vector, limit + len(exclude))
    ids = [c.memory_id for c in found if c.memory_id not in exclude][:limit]
    memories = {m.id: m for m in mm.storage.get(ids, namespace)}
    scores = {c.memory_id: float(c.score) for c in found}
    return [(memories[i], scores[i]) for i in ids if i in memories], True


def cosine_matrix(mm: MemMimic, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Pairwise cosine similarities of ``texts`` under the configured embedder."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    vectors = mm._embedding.embed(list(texts))
    return np.asarray(vectors @ vectors.T, dtype=np.float32)


def _neighbour(memory: Memory, cosine: float) -> Neighbour:
    return Neighbour(
        id=memory.id,
        cosine=round(cosine, 4),
        status=memory.status,
        created_at=memory.created_at.isoformat(),
        preview=preview(memory.content),
    )


def _merge_text(old: str, new: str) -> str:
    """The old text plus the sentences of the new one it does not already contain."""
    have = {" ".join(tokens(s)) for s in _SENTENCE.findall(old)}
    extra = [s.strip() for s in _SENTENCE.findall(new) if s.strip() and " ".join(tokens(s)) not in have]
    return old if not extra else old.rstrip() + "\n" + " ".join(extra)


def _store_superseding(mm: MemMimic, item: dict[str, Any], namespace: str | None, old: Memory) -> str:
    """Store ``item`` as the successor of ``old`` and archive ``old`` (valid_to, superseded_by)."""
    new = mm._new_memory(item, namespace)
    enriched = [replace(e, supersedes=old.id) for e in mm._enrich([new])]
    stored = mm.storage.add(enriched)
    if mm.config.embedder.write_behind:
        mm._embedding.notify_written((new.namespace,))
    new_id = stored[0].id
    mm.storage.update(
        old.id,
        old.namespace,
        MemoryPatch(status="archived", superseded_by=new_id, valid_to=datetime.now(timezone.utc)),
        f"superseded by {new_id} (near duplicate)",
    )
    mm._sync_indexes()
    return new_id


def remember_with_quality(
    mm: MemMimic,
    content: str,
    *,
    memory_type: str | None = None,
    importance: float | None = None,
    tags: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
    namespace: str | None = None,
    config: QualityConfig | None = None,
    dry_run: bool = False,
) -> QualityDecision:
    """Score a candidate memory, look for duplicates, then store, refuse, merge or supersede.

    :param dry_run: assess only; nothing is written (action ``assessed``).
    """
    cfg = config or QualityConfig()
    ns = mm._ns(namespace)
    item: dict[str, Any] = {
        "content": content,
        "memory_type": memory_type,
        "importance": importance,
        "tags": tags,
        "metadata": metadata,
    }
    checked = mm._new_memory(item, ns)  # validates every field before anything else
    text = checked.content
    clarity, density, notes = score_text(text)
    exact = [m for m in mm.storage.find_by_hash(ns, content_hash(text))]
    exact_active = [m.id for m in exact if m.status == "active"]
    if exact and not exact_active:
        notes.append(f"same text as archived memory {exact[0].id}")
    near, semantic = find_neighbours(mm, text, ns, cfg.neighbours, exclude=[m.id for m in exact])
    if not semantic:
        notes.append("semantic comparison unavailable (embedder mismatch); uniqueness from hashes only")
    best = max((c for _, c in near), default=0.0)
    uniqueness = 0.0 if exact_active else round(max(0.0, min(1.0, 1.0 - best)), 4)
    scores = QualityScores(
        clarity=clarity,
        density=density,
        uniqueness=uniqueness,
        content=_weighted({"clarity": clarity, "density": density}, cfg),
        overall=_weighted({"clarity": clarity, "density": density, "uniqueness": uniqueness}, cfg),
        notes=notes,
    )
    active_near = [(m, c) for m, c in near if m.status == "active"]
    dups = [_neighbour(m, c) for m, c in active_near if c >= cfg.near_duplicate_threshold]
    related = [_neighbour(m, c) for m, c in near if cfg.related_threshold <= c < cfg.near_duplicate_threshold]
    result = QualityDecision(
        action="assessed",
        memory_id=None,
        reason="",
        scores=scores,
        exact_duplicates=exact_active,
        near_duplicates=dups,
        related=related,
        semantic=semantic,
    )

    def done(action: str, memory_id: str | None, reason: str, **extra: Any) -> QualityDecision:
        if dry_run:
            reason = f"would be {action}: {reason}"
            action, memory_id = "assessed", memory_id if action == "refused" else None
        return result.model_copy(update={"action": action, "memory_id": memory_id, "reason": reason, **extra})

    if exact_active and cfg.exact_duplicate_policy == "refuse":
        return done("refused", exact_active[0], f"exact duplicate of {exact_active[0]} (same content hash)")
    if scores.content < cfg.min_quality and cfg.low_quality_policy == "refuse":
        why = "; ".join(notes) or "low clarity and density"
        return done(
            "refused", None, f"content quality {scores.content:.2f} is below {cfg.min_quality:.2f}: {why}"
        )
    if dups and cfg.near_duplicate_policy != "store":
        top_memory, top_cos = active_near[0]
        about = f"near duplicate of {top_memory.id} (cosine {top_cos:.3f} ≥ {cfg.near_duplicate_threshold})"
        if cfg.near_duplicate_policy == "refuse":
            return done("refused", top_memory.id, about)
        if cfg.near_duplicate_policy == "merge":
            if dry_run:
                return done("merged", top_memory.id, about)
            merged = _merge_text(top_memory.content, text)
            if merged == top_memory.content:
                return done("refused", top_memory.id, f"{about}; it adds no new sentence")
            union = list(dict.fromkeys([*top_memory.tags, *(tags or ())]))
            mm.update(
                top_memory.id, content=merged, tags=union, reason="merged a near duplicate", namespace=ns
            )
            return done("merged", top_memory.id, f"{about}; its new sentences were appended (history kept)")
        if dry_run:
            return done("superseded", None, about, superseded=top_memory.id)
        new_id = _store_superseding(mm, item, ns, top_memory)
        return done("superseded", new_id, f"{about}; the older memory is archived", superseded=top_memory.id)
    if dry_run:
        return done("stored", None, _store_reason(scores, cfg, dups, related))
    new_id = mm.remember(
        text, memory_type=memory_type, importance=importance, tags=tags, metadata=metadata, namespace=ns
    )
    return done("stored", new_id, _store_reason(scores, cfg, dups, related))


def _store_reason(
    scores: QualityScores, cfg: QualityConfig, dups: list[Neighbour], related: list[Neighbour]
) -> str:
    parts = [f"content quality {scores.content:.2f}, overall {scores.overall:.2f}"]
    if scores.content < cfg.min_quality:
        parts.append(f"below {cfg.min_quality:.2f} but low_quality_policy is 'store'")
    if dups:
        parts.append(f"{len(dups)} near duplicate(s) kept beside it (near_duplicate_policy 'store')")
    if related:
        parts.append(f"{len(related)} related memor{'y' if len(related) == 1 else 'ies'}")
    else:
        parts.append("no near duplicate")
    return "; ".join(parts)


def parse_config(overrides: dict[str, Any] | None, base: QualityConfig | None = None) -> QualityConfig:
    """Return ``base`` with ``overrides`` applied, validated.

    :raises InvalidInputError: naming the bad key and value.
    """
    base = base or QualityConfig()
    if not overrides:
        return base
    try:
        return QualityConfig.model_validate({**base.model_dump(), **overrides})
    except ValueError as exc:
        errors = getattr(exc, "errors", None)
        if callable(errors):
            msgs = [f"{'.'.join(str(p) for p in e['loc']) or 'quality'}: {e['msg']}" for e in errors()]
            raise InvalidInputError("bad quality settings: " + "; ".join(msgs)) from None
        raise InvalidInputError(f"bad quality settings: {exc}") from None
