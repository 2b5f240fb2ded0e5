"""The ``tantivy`` text index: stemmed BM25 keyword search, derived from storage.

Registered through the ``memmimic`` entry point ``tantivy``. tantivy itself is imported only
when an index is built, so start-up stays cheap where keyword search is not configured.
See docs/text-index.md for the design (change replay, several processes, analysis).
"""

from __future__ import annotations

from memmimic_core import hookimpl
from memmimic_core.protocols import TextIndex
from memmimic_core.registry import BackendRegistry

from .index import TantivyIndex
from .options import TantivyOptions

__all__ = ["TantivyIndex", "TantivyOptions"]


@hookimpl
def memmimic_register_text_index(register: BackendRegistry[TextIndex]) -> None:
    """Register the ``tantivy`` text index."""
    register(TantivyIndex)
