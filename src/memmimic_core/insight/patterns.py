"""``analyze_memory_patterns``: distributions over a namespace and what they show."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..models import Memory
from .models import AGE_BUCKETS, UNCLASSIFIED, PatternsResult, age_bucket, age_days, brief

if TYPE_CHECKING:
    from ..engine import MemMimic

__all__ = ["analyze_memory_patterns"]


def analyze_memory_patterns(mm: MemMimic, *, namespace: str | None = None, top: int = 10) -> PatternsResult:
    """Distributions of types, CXD functions, status, age, access, importance, tags and growth."""
    ns = mm._ns(namespace)
    now = datetime.now(timezone.utc)
    types: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    status: Counter[str] = Counter()
    ages: Counter[str] = Counter()
    access: Counter[str] = Counter()
    importance: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    weeks: Counter[str] = Counter()
    hashes: Counter[str] = Counter()
    lengths: list[int] = []
    superseded = 0
    accessed: list[Memory] = []
    for batch in mm.storage.iter_memories(ns):
        for m in batch:
            types[m.memory_type] += 1
            functions[m.cxd_function or UNCLASSIFIED] += 1
            status[m.status] += 1
            ages[age_bucket(age_days(m, now))] += 1
            n = m.access_count
            access["never" if n == 0 else "1-2" if n < 3 else "3-9" if n < 10 else "10+"] += 1
            low = min(int(m.importance * 5), 4) / 5
            importance[f"{low:.1f}-{low + 0.2:.1f}"] += 1
            tags.update(m.tags)
            year, week, _ = m.created_at.isocalendar()
            weeks[f"{year}-W{week:02d}"] += 1
            hashes[m.content_hash] += 1
            lengths.append(len(m.content))
            superseded += m.superseded_by is not None
            if n:
                accessed.append(m)
                accessed = sorted(accessed, key=lambda x: -x.access_count)[:top]
    total = len(lengths)
    lengths.sort()
    chars = {
        "mean": round(sum(lengths) / total, 1) if total else 0.0,
        "median": float(lengths[total // 2]) if total else 0.0,
        "max": float(lengths[-1]) if total else 0.0,
    }
    dup_groups = sum(1 for c in hashes.values() if c > 1)
    per_week = dict(sorted(weeks.items())[-12:])
    return PatternsResult(
        namespace=ns,
        total=total,
        by_type=dict(types.most_common()),
        by_function=dict(functions.most_common()),
        by_status=dict(status.most_common()),
        by_age={k: ages[k] for k in [*(b for b, _ in AGE_BUCKETS), "older"] if ages[k]},
        by_access={k: access[k] for k in ("never", "1-2", "3-9", "10+") if access[k]},
        importance=dict(sorted(importance.items())),
        top_tags=dict(tags.most_common(top)),
        per_week=per_week,
        content_chars=chars,
        duplicate_groups=dup_groups,
        superseded=superseded,
        most_accessed=[brief(m, full=False) for m in accessed],
        observations=_observations(total, types, functions, access, status, dup_groups, per_week, tags),
    )


def _observations(
    total: int,
    types: Counter[str],
    functions: Counter[str],
    access: Counter[str],
    status: Counter[str],
    dup_groups: int,
    per_week: dict[str, int],
    tags: Counter[str],
) -> list[str]:
    if not total:
        return ["the namespace holds no memories"]
    out = []
    kind, n = types.most_common(1)[0]
    out.append(f"{n / total:.0%} of memories are of type {kind!r} ({len(types)} types in all)")
    if functions.get(UNCLASSIFIED):
        out.append(f"{functions[UNCLASSIFIED] / total:.0%} have no CXD function")
    for fn in ("CONTROL", "CONTEXT", "DATA"):
        if functions.get(UNCLASSIFIED, 0) < total and not functions.get(fn):
            out.append(f"no {fn} memories")
    if access.get("never"):
        out.append(f"{access['never'] / total:.0%} were never recalled")
    if status.get("archived"):
        out.append(f"{status['archived']} archived ({status['archived'] / total:.0%})")
    if dup_groups:
        out.append(f"{dup_groups} groups of identical content")
    if len(per_week) >= 2:
        (w1, c1), (w2, c2) = list(per_week.items())[-2:]
        out.append(f"{c2} created in {w2} against {c1} in {w1}")
    if not tags:
        out.append("no memory carries a tag")
    return out
