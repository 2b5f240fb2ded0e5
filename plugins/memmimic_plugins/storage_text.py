"""The ``storage`` text index: keyword search delegated to the storage's own full-text search.

No extra dependency and nothing to keep in step: the storage (SQLite FTS5, PostgreSQL
tsvector) updates its full-text index in the same transaction as the memory, so this index
is never behind. Pick ``tantivy`` instead when the store grows past a few tens of thousands
of memories.
"""

from __future__ import annotations

from typing import Any, ClassVar

from memmimic_core import hookimpl
from memmimic_core.errors import ConfigError
from memmimic_core.models import Candidate, Filters, TextQuery
from memmimic_core.protocols import BackendContext, BackendOptions, Storage, TextIndex
from memmimic_core.registry import BackendRegistry

__all__ = ["StorageTextIndex"]


class StorageTextIndex:
    """A text index that is the storage's own ``keyword_search``."""

    name: ClassVar[str] = "storage"

    class Options(BackendOptions):
        """The ``storage`` text index takes no options."""

    def __init__(self, options: Options | None, context: BackendContext) -> None:
        if context.storage is None:
            raise ConfigError("text_index: the storage text index needs the store's storage in its context")
        self.options = options or self.Options()
        self.storage: Storage = context.storage

    def search(
        self, namespace: str, query: TextQuery, limit: int, filters: Filters | None = None
    ) -> list[Candidate]:
        """Return the storage's keyword search results, best first."""
        if limit <= 0 or (not query.text.strip() and not query.terms):
            return []
        return self.storage.keyword_search(namespace, query, limit, filters)

    def sync(self) -> int:
        """Nothing to catch up: the storage indexes in the same transaction as it writes."""
        return 0

    def lag(self) -> int:
        """Always 0: never behind the storage."""
        return 0

    def stats(self) -> dict[str, Any]:
        """Return the kind and the storage backend answering the searches."""
        return {"kind": self.name, "storage": self.storage.name}

    def close(self) -> None:
        """Nothing to release: the storage is closed by its owner."""


@hookimpl
def memmimic_register_text_index(register: BackendRegistry[TextIndex]) -> None:
    """Register the ``storage`` text index."""
    register(StorageTextIndex)
