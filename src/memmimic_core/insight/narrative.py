"""``context_tale`` and tale citations: memories as a narrative, and tales that cite a memory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models import Memory
from .models import UNCLASSIFIED, TaleDraft

if TYPE_CHECKING:
    from ..engine import MemMimic

__all__ = ["context_tale", "tale_citations"]


def context_tale(
    mm: MemMimic,
    query: str,
    *,
    limit: int = 20,
    max_tokens: int = 2000,
    namespace: str | None = None,
    save_as: str | None = None,
    category: str = "context",
) -> TaleDraft:
    """Assemble the memories relevant to ``query`` into a dated narrative, by CXD function, oldest first.

    Writes nothing unless ``save_as`` names a tale to save the text under.
    """
    ns = mm._ns(namespace)
    hits = mm.recall(query, limit, namespace=ns)
    groups: dict[str, list[Memory]] = {}
    for h in hits:
        groups.setdefault(h.memory.cxd_function or UNCLASSIFIED, []).append(h.memory)
    titles = {
        "CONTEXT": "Context",
        "DATA": "Facts",
        "CONTROL": "Decisions and actions",
        UNCLASSIFIED: "Notes",
    }
    lines = [f"# {query}", ""]
    budget = max_tokens * 4
    cited: list[str] = []
    omitted = 0
    for fn in ("CONTEXT", "DATA", "CONTROL", UNCLASSIFIED):
        members = sorted(groups.get(fn, []), key=lambda m: m.created_at)
        if not members:
            continue
        section = [f"## {titles[fn]}"]
        for m in members:
            line = f"- {m.created_at.date()}: {' '.join(m.content.split())} [{m.id}]"
            if sum(len(x) + 1 for x in lines + section) + len(line) > budget:
                omitted += 1
                continue
            section.append(line)
            cited.append(m.id)
        if len(section) > 1:
            lines.extend([*section, ""])
    if not hits:
        lines.append(f"No stored memory matches {query!r}.")
    text = "\n".join(lines).rstrip() + "\n"
    draft = TaleDraft(query=query, text=text, cited=cited, omitted=omitted)
    if save_as is not None:
        tale = mm.tales.save(save_as, text, category=category, tags=["context"], namespace=ns)
        draft = draft.model_copy(update={"saved_as": tale.name, "version": tale.version})
    return draft


def tale_citations(mm: MemMimic, memory: Memory, namespace: str) -> list[dict[str, Any]]:
    """Tales that cite ``memory`` by id or quote its content (its first 60 characters or more)."""
    quote = " ".join(memory.content.split())[:60]
    out = []
    for tale in mm.tales.list(namespace=namespace):
        body = tale.content
        flat = " ".join(body.split())
        how = [
            w for w, ok in (("id", memory.id in body), ("quote", len(quote) >= 20 and quote in flat)) if ok
        ]
        if how:
            out.append({"name": tale.name, "version": tale.version, "cites_by": how})
    return out
