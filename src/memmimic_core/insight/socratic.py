"""``socratic_dialogue``: questions that examine what the store holds about a topic."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..models import Memory, TextQuery
from ..quality import QualityConfig, content_words, cosine_matrix, preview
from .models import UNCLASSIFIED, Round, SocraticResult, age_days, brief
from .think import find_contradictions

if TYPE_CHECKING:
    from ..engine import MemMimic

__all__ = ["socratic_dialogue"]


def socratic_dialogue(
    mm: MemMimic,
    topic: str,
    *,
    depth: int = 3,
    limit: int = 10,
    namespace: str | None = None,
    config: QualityConfig | None = None,
) -> SocraticResult:
    """Examine what the store holds about ``topic`` in up to five rounds.

    The rounds: clarify, evidence, contradiction, implication, assumption.
    """
    cfg = config or QualityConfig()
    ns = mm._ns(namespace)
    hits = mm.recall(topic, limit, namespace=ns)
    memories = [h.memory for h in hits]
    now = datetime.now(timezone.utc)
    stages = [
        _clarify(mm, topic, ns),
        _evidence(mm, memories, cfg.related_threshold),
        _contradiction(mm, topic, memories, cfg.related_threshold, now),
        _implication(topic, memories),
        _assumption(memories, now),
    ]
    rounds = [r for r in stages if r is not None][: max(1, min(depth, 5))]
    return SocraticResult(topic=topic, rounds=rounds, memories=[brief(h.memory, h.score) for h in hits])


def _clarify(mm: MemMimic, topic: str, ns: str) -> Round | None:
    best: tuple[int, str, list[str], set[str], set[str]] | None = None
    missing: list[str] = []
    for term in dict.fromkeys(content_words(topic)):
        found = mm.storage.keyword_search(ns, TextQuery(text=term), 50)
        if not found:
            missing.append(term)
            continue
        mems = mm.storage.get([c.memory_id for c in found], ns)
        types = {m.memory_type for m in mems}
        functions = {m.cxd_function or UNCLASSIFIED for m in mems}
        if best is None or (len(types) + len(functions), len(mems)) > (len(best[3]) + len(best[4]), best[0]):
            best = (len(mems), term, [m.id for m in mems[:5]], types, functions)
    if missing:
        return Round(
            stage="clarify",
            question=f"What do you mean by {', '.join(repr(t) for t in missing)}? "
            "No stored memory mentions it.",
            basis=[],
        )
    if best is None:
        return None
    n, term, ids, types, functions = best
    return Round(
        stage="clarify",
        question=f"Which sense of {term!r} is meant? It appears in {n} memories (types: "
        f"{', '.join(sorted(types))}; CXD: {', '.join(sorted(functions))}).",
        basis=ids,
    )


def _evidence(mm: MemMimic, memories: Sequence[Memory], threshold: float) -> Round | None:
    if not memories:
        return None
    sims = cosine_matrix(mm, [m.content for m in memories])
    top = memories[0]
    support = [memories[j].id for j in range(1, len(memories)) if float(sims[0, j]) >= threshold]
    claim = preview(top.content, 90)
    if support:
        q = f"{claim!r} is backed by {len(support)} similar memories; do they agree on the details?"
    else:
        others = len(memories) - 1
        q = f"{claim!r} stands alone: none of the other {others} results is similar. What supports it?"
    return Round(stage="evidence", question=q, basis=[top.id, *support])


def _contradiction(
    mm: MemMimic, topic: str, memories: Sequence[Memory], threshold: float, now: datetime
) -> Round | None:
    found = find_contradictions(mm, memories, threshold)
    if found:
        c = found[0]
        return Round(
            stage="contradiction",
            question=f"These disagree ({c.detail}): which is current, and why?",
            basis=[c.a, c.b],
        )
    words = set(content_words(topic))
    on_topic = [m for m in memories if words & set(content_words(m.content))]
    if len(on_topic) >= 2:  # no disagreement found: ask whether the oldest still agrees with the newest
        old = max(on_topic, key=lambda m: age_days(m, now))
        new = min(on_topic, key=lambda m: age_days(m, now))
        if old.id != new.id:
            q = (
                f"Has anything changed between {preview(old.content, 60)!r} ({old.created_at.date()}) and "
                f"{preview(new.content, 60)!r} ({new.created_at.date()})?"
            )
            return Round(stage="contradiction", question=q, basis=[old.id, new.id])
    return None


def _implication(topic: str, memories: Sequence[Memory]) -> Round | None:
    decisions = [m for m in memories if m.cxd_function == "CONTROL"]
    if decisions:
        d = decisions[0]
        return Round(
            stage="implication",
            question=f"What follows from the decision {preview(d.content, 90)!r}?",
            basis=[m.id for m in decisions[:5]],
        )
    if memories:
        facts = [m for m in memories if m.cxd_function == "DATA"] or list(memories)
        q = (
            f"No decision about {topic!r} is recorded among {len(memories)} memories; what should follow "
            f"from {preview(facts[0].content, 80)!r}?"
        )
        return Round(stage="implication", question=q, basis=[facts[0].id])
    return None


def _assumption(memories: Sequence[Memory], now: datetime) -> Round | None:
    if not memories:
        return None
    m = max(memories, key=lambda x: (x.importance, x.access_count, -age_days(x, now)))
    updated = m.updated_at if m.updated_at.tzinfo else m.updated_at.replace(tzinfo=timezone.utc)
    days = max(0.0, (now - updated).total_seconds() / 86400)
    q = (
        f"{preview(m.content, 90)!r} has importance {m.importance:.2f}, was recalled {m.access_count} times "
        f"and last changed {days:.0f} days ago: what would make it false?"
    )
    return Round(stage="assumption", question=q, basis=[m.id])
