"""Tales: named, versioned narratives per namespace, soft-deleted unless purged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from memmimic_core.errors import InvalidInputError, NotFoundError
from memmimic_core.models import Tale
from memmimic_core.validation import check_namespace, check_tale_name

from .connection import SqlConnection
from .rows import dump_json, row_to_tale, utcnow
from .schema import tale_versions, tales

__all__ = ["TaleStoreMixin"]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class TaleStoreMixin(SqlConnection):
    """Tale operations over the store's :meth:`run_read` / :meth:`run_write`."""

    @staticmethod
    def _tale_row(conn: Connection, namespace: str, name: str) -> Any:
        return (
            conn.execute(sa.select(tales).where(tales.c.namespace == namespace, tales.c.name == name))
            .mappings()
            .first()
        )

    @staticmethod
    def _missing(namespace: str, name: str, what: str = "tale") -> NotFoundError:
        return NotFoundError(f"no {what} named {name!r} in namespace {namespace!r}")

    def save_tale(self, namespace: str, name: str, content: str, category: str, tags: Sequence[str]) -> Tale:
        """Save a new version of a tale (version 1 when new; restores a soft-deleted one)."""
        check_namespace(namespace)
        name = check_tale_name(name)
        if not isinstance(content, str):
            raise InvalidInputError(f"tale content must be text, got {type(content).__name__}")
        tags_json = dump_json(list(dict.fromkeys(str(t) for t in tags)))

        def work(conn: Connection) -> Tale:
            now = utcnow()
            row = self._tale_row(conn, namespace, name)
            values = {"category": category, "tags": tags_json, "content": content, "updated_at": now}
            if row is None:
                tale_id = conn.execute(
                    sa.insert(tales)
                    .values(
                        namespace=namespace, name=name, version=1, created_at=now, deleted_at=None, **values
                    )
                    .returning(tales.c.id)
                ).scalar_one()
                version = 1
            else:
                tale_id, version = row["id"], int(row["version"]) + 1
                conn.execute(
                    sa.update(tales)
                    .where(tales.c.id == tale_id)
                    .values(version=version, deleted_at=None, **values)
                )
            conn.execute(
                sa.insert(tale_versions).values(
                    tale_id=tale_id,
                    version=version,
                    category=category,
                    tags=tags_json,
                    content=content,
                    saved_at=now,
                )
            )
            return row_to_tale(self._tale_row(conn, namespace, name))

        return self.run_write(work)

    def get_tale(
        self, namespace: str, name: str, version: int | None = None, *, include_deleted: bool = False
    ) -> Tale:
        """Return the latest (or a given) version of a tale.

        :raises NotFoundError: no such tale, it is deleted, or no such version.
        """

        def work(conn: Connection) -> Tale:
            row = self._tale_row(conn, namespace, name)
            if row is None or (row["deleted_at"] is not None and not include_deleted):
                raise self._missing(namespace, name)
            if version is None or version == row["version"]:
                return row_to_tale(row)
            v = (
                conn.execute(
                    sa.select(tale_versions).where(
                        tale_versions.c.tale_id == row["id"], tale_versions.c.version == version
                    )
                )
                .mappings()
                .first()
            )
            if v is None:
                raise NotFoundError(f"tale {name!r} in namespace {namespace!r} has no version {version}")
            return row_to_tale(
                dict(
                    row,
                    **{k: v[k] for k in ("version", "category", "tags", "content")},
                    updated_at=v["saved_at"],
                )
            )

        return self.run_read(work)

    def list_tales(
        self,
        namespace: str,
        *,
        category: str | None = None,
        query: str | None = None,
        include_deleted: bool = False,
    ) -> list[Tale]:
        """Return the latest version of each tale by name; ``query`` matches name or content."""
        stmt = sa.select(tales).where(tales.c.namespace == namespace).order_by(tales.c.name)
        if not include_deleted:
            stmt = stmt.where(tales.c.deleted_at.is_(None))
        if category is not None:
            stmt = stmt.where(tales.c.category == category)
        if query and query.strip():
            pattern = f"%{_like_escape(query.strip().lower())}%"
            stmt = stmt.where(
                sa.or_(
                    sa.func.lower(tales.c.name).like(pattern, escape="\\"),
                    sa.func.lower(tales.c.content).like(pattern, escape="\\"),
                )
            )
        return self.run_read(lambda conn: [row_to_tale(r) for r in conn.execute(stmt).mappings()])

    def tale_versions(self, namespace: str, name: str) -> list[Tale]:
        """Return every version of a tale (deleted or not), oldest first."""

        def work(conn: Connection) -> list[Tale]:
            row = self._tale_row(conn, namespace, name)
            if row is None:
                raise self._missing(namespace, name)
            versions = conn.execute(
                sa.select(tale_versions)
                .where(tale_versions.c.tale_id == row["id"])
                .order_by(tale_versions.c.version)
            ).mappings()
            return [
                row_to_tale(
                    dict(
                        row,
                        **{k: v[k] for k in ("version", "category", "tags", "content")},
                        updated_at=v["saved_at"],
                    )
                )
                for v in versions
            ]

        return self.run_read(work)

    def delete_tale(self, namespace: str, name: str, *, purge: bool = False) -> bool:
        """Soft-delete a tale, or purge it with every version; return whether it existed."""

        def work(conn: Connection) -> bool:
            row = self._tale_row(conn, namespace, name)
            if row is None or (row["deleted_at"] is not None and not purge):
                return False
            if purge:
                conn.execute(sa.delete(tale_versions).where(tale_versions.c.tale_id == row["id"]))
                conn.execute(sa.delete(tales).where(tales.c.id == row["id"]))
            else:
                conn.execute(sa.update(tales).where(tales.c.id == row["id"]).values(deleted_at=utcnow()))
            return True

        return self.run_write(work)

    def restore_tale(self, namespace: str, name: str) -> Tale:
        """Undo a soft delete.

        :raises NotFoundError: no such tale (a purged tale is gone).
        """

        def work(conn: Connection) -> Tale:
            row = self._tale_row(conn, namespace, name)
            if row is None:
                raise self._missing(namespace, name)
            if row["deleted_at"] is not None:
                conn.execute(sa.update(tales).where(tales.c.id == row["id"]).values(deleted_at=None))
                row = self._tale_row(conn, namespace, name)
            return row_to_tale(row)

        return self.run_write(work)
