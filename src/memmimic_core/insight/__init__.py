"""Structured thinking aids over the store, computed from the data (no LLM, no canned text).

``think_with_memory``, ``socratic_dialogue``, ``analyze_memory_patterns`` and ``context_tale``
read memories and return what the data shows: relevant memories grouped by CXD function and
age, query terms no memory covers, pairs of close memories that disagree (a negation on one
side, or different numbers), questions built from those findings, and distributions. Only
``context_tale`` writes, and only when asked to save its text as a tale.
"""

from __future__ import annotations

from .models import (
    Contradiction,
    Gap,
    MemoryBrief,
    PatternsResult,
    Round,
    SocraticResult,
    TaleDraft,
    ThinkResult,
    brief,
)
from .narrative import context_tale, tale_citations
from .patterns import analyze_memory_patterns
from .socratic import socratic_dialogue
from .think import find_contradictions, find_gaps, think_with_memory

__all__ = [
    "Contradiction",
    "Gap",
    "MemoryBrief",
    "PatternsResult",
    "Round",
    "SocraticResult",
    "TaleDraft",
    "ThinkResult",
    "analyze_memory_patterns",
    "brief",
    "context_tale",
    "find_contradictions",
    "find_gaps",
    "socratic_dialogue",
    "tale_citations",
    "think_with_memory",
]
