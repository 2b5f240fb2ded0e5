"""Tales: named, versioned narratives stored in the database (never in files)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from . import validation as v
from .errors import InvalidInputError
from .models import Tale
from .protocols import Storage

__all__ = ["TaleBook"]

MAX_TALE_BYTES = 1_000_000


class TaleBook:
    """Validated access to the tales of a store; every save is a new version."""

    def __init__(self, storage: Storage, default_namespace: str) -> None:
        self._storage = storage
        self._default = default_namespace

    def _ns(self, namespace: str | None) -> str:
        return v.check_namespace(self._default if namespace is None else namespace)

    def save(
        self,
        name: str,
        content: str,
        *,
        category: str = "general",
        tags: Sequence[str] | None = None,
        namespace: str | None = None,
    ) -> Tale:
        """Save a tale (a new version when it exists) and return it."""
        category = v.check_type(category)
        return self._storage.save_tale(
            self._ns(namespace),
            v.check_tale_name(name),
            v.check_content(content, MAX_TALE_BYTES),
            category,
            v.check_tags(tags),
        )

    def load(self, name: str, *, version: int | None = None, namespace: str | None = None) -> Tale:
        """Return the latest (or a given) version of a tale."""
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
            raise InvalidInputError(f"version must be a whole number ≥ 1, got {version!r}")
        return self._storage.get_tale(self._ns(namespace), v.check_tale_name(name), version)

    def list(
        self,
        *,
        category: str | None = None,
        query: str | None = None,
        include_deleted: bool = False,
        namespace: str | None = None,
    ) -> list[Tale]:
        """Return the latest version of each tale."""
        return self._storage.list_tales(
            self._ns(namespace),
            category=category,
            query=v.check_query(query) if query is not None else None,
            include_deleted=include_deleted,
        )

    def versions(self, name: str, *, namespace: str | None = None) -> builtins.list[Tale]:
        """Return every version of a tale, oldest first."""
        return self._storage.tale_versions(self._ns(namespace), v.check_tale_name(name))

    def delete(self, name: str, *, purge: bool = False, namespace: str | None = None) -> bool:
        """Soft-delete a tale (restorable), or purge it with every version."""
        return self._storage.delete_tale(self._ns(namespace), v.check_tale_name(name), purge=purge)

    def restore(self, name: str, *, namespace: str | None = None) -> Tale:
        """Undo a soft delete."""
        return self._storage.restore_tale(self._ns(namespace), v.check_tale_name(name))
