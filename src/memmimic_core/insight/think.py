"""``think_with_memory``: relevant memories grouped, gaps, contradictions and questions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..models import Hit, Memory, TextQuery
from ..quality import QualityConfig, content_words, cosine_matrix, has_negation, numbers, preview
from .models import UNCLASSIFIED, Contradiction, Gap, ThinkResult, age_bucket, age_days, brief

if TYPE_CHECKING:
    from ..engine import MemMimic

__all__ = ["find_contradictions", "find_gaps", "think_with_memory"]


def _stem(word: str) -> str:
    return word[:5] if len(word) > 5 else word


def find_gaps(mm: MemMimic, query: str, memories: Sequence[Memory], namespace: str) -> list[Gap]:
    """Query terms absent from ``memories``, with the other memories that do mention them."""
    covered = {_stem(w) for m in memories for w in content_words(m.content)}
    shown = {m.id for m in memories}
    gaps = []
    for term in dict.fromkeys(content_words(query)):
        if _stem(term) in covered:
            continue
        found = mm.storage.keyword_search(namespace, TextQuery(text=term), 5)
        gaps.append(Gap(term=term, elsewhere=[c.memory_id for c in found if c.memory_id not in shown][:3]))
    return gaps


def find_contradictions(mm: MemMimic, memories: Sequence[Memory], threshold: float) -> list[Contradiction]:
    """Pairs of memories at least ``threshold`` similar whose negation or numbers differ."""
    sims = cosine_matrix(mm, [m.content for m in memories])
    out = []
    for i, a in enumerate(memories):
        for j in range(i + 1, len(memories)):
            b, cos = memories[j], float(sims[i, j])
            if cos < threshold:
                continue
            na, nb = numbers(a.content), numbers(b.content)
            if has_negation(a.content) != has_negation(b.content):
                negated = a if has_negation(a.content) else b
                detail = f"{negated.id} negates what the other states"
                out.append(
                    Contradiction(a=a.id, b=b.id, cosine=round(cos, 4), kind="negation", detail=detail)
                )
            elif na and nb and na != nb:
                detail = f"{a.id} says {', '.join(sorted(na - nb))}; {b.id} says {', '.join(sorted(nb - na))}"
                out.append(Contradiction(a=a.id, b=b.id, cosine=round(cos, 4), kind="numbers", detail=detail))
    return out


def think_with_memory(
    mm: MemMimic,
    query: str,
    *,
    limit: int = 10,
    namespace: str | None = None,
    config: QualityConfig | None = None,
) -> ThinkResult:
    """Recall ``query`` and lay out what the results show: groups, gaps, contradictions, questions."""
    cfg = config or QualityConfig()
    ns = mm._ns(namespace)
    hits = mm.recall(query, limit, namespace=ns)
    memories = [h.memory for h in hits]
    now = datetime.now(timezone.utc)
    by_function: dict[str, list[str]] = {}
    by_age: dict[str, list[str]] = {}
    for m in memories:
        by_function.setdefault(m.cxd_function or UNCLASSIFIED, []).append(m.id)
        by_age.setdefault(age_bucket(age_days(m, now)), []).append(m.id)
    gaps = find_gaps(mm, query, memories, ns)
    contradictions = find_contradictions(mm, memories, cfg.related_threshold)
    questions = _questions(query, hits, gaps, contradictions, by_function, now)
    return ThinkResult(
        query=query,
        memories=[brief(h.memory, h.score) for h in hits],
        by_function=by_function,
        by_age=by_age,
        gaps=gaps,
        contradictions=contradictions,
        questions=questions,
    )


def _questions(
    query: str,
    hits: Sequence[Hit],
    gaps: Sequence[Gap],
    contradictions: Sequence[Contradiction],
    by_function: dict[str, list[str]],
    now: datetime,
) -> list[str]:
    byid = {h.id: h.memory for h in hits}
    out: list[str] = []
    if not hits:
        out.append(f"Nothing stored matches {query!r}: what should be remembered about it?")
    for c in contradictions:
        a, b = byid[c.a], byid[c.b]
        out.append(
            f"Which holds: {preview(a.content, 80)!r} ({a.created_at.date()}) or "
            f"{preview(b.content, 80)!r} ({b.created_at.date()})? ({c.kind} differ)"
        )
    for g in gaps:
        where = (
            f" ({len(g.elsewhere)} other memories mention it: {', '.join(g.elsewhere)})"
            if g.elsewhere
            else ""
        )
        out.append(f"How does {g.term!r} relate to the memories found? None of them mentions it{where}.")
    if hits:
        if "CONTROL" not in by_function and any(k != UNCLASSIFIED for k in by_function):
            out.append(
                f"No decision or action (CONTROL) is recorded among {len(hits)} memories: what was decided?"
            )
        oldest = max(hits, key=lambda h: age_days(h.memory, now)).memory
        days = age_days(oldest, now)
        if days >= 30:
            out.append(f"Is {preview(oldest.content, 80)!r} still true after {days:.0f} days?")
        unseen = [h.memory for h in hits if h.memory.access_count == 0]
        if len(unseen) > len(hits) / 2:
            out.append(
                f"{len(unseen)} of {len(hits)} memories found were never recalled before: are they current?"
            )
    return out
