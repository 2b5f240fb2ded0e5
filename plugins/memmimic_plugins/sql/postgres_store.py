"""The PostgreSQL dialect of the SQL store: psycopg 3, a schema per store, tsvector search."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, make_url

from memmimic_core.errors import BackendUnavailableError, InvalidInputError, MemMimicError, StorageError
from memmimic_core.models import Candidate, TextQuery

from . import migrate
from .base import SqlStore
from .rows import matched_terms, query_tokens
from .schema import memories

__all__ = ["SCHEMA_NAME", "PostgresStore"]

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MAX_WEIGHTED_TERMS = 16
RETRY_SQLSTATES = ("40P01", "40001", "23505")
_TSV: sa.ColumnElement[Any] = sa.literal_column("memories.content_tsv")


class PostgresStore(SqlStore):
    """The SQL store in one schema of a PostgreSQL database."""

    backend_name = "postgresql"

    def __init__(self, options: Any) -> None:
        if not SCHEMA_NAME.match(options.schema_):
            raise InvalidInputError(
                f"storage.schema must be a lowercase SQL identifier (letters, digits, _), "
                f"got {options.schema_!r}"
            )
        try:
            url = make_url(options.url)
        except sa_exc.ArgumentError as exc:
            raise InvalidInputError(f"storage.url is not a database URL: {exc}") from None
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        self.url = url
        engine = sa.create_engine(
            url,
            pool_size=options.pool_size,
            max_overflow=options.max_overflow,
            pool_timeout=options.pool_timeout,
            pool_pre_ping=True,
            connect_args={
                "options": f"-c search_path={options.schema_}",
                "connect_timeout": int(options.connect_timeout),
            },
        )
        super().__init__(engine, schema=options.schema_)

    @property
    def masked_url(self) -> str:
        """The URL with its password hidden."""
        return self.url.render_as_string(hide_password=True)

    def _retryable(self, exc: sa_exc.DBAPIError) -> bool:
        # deadlock, serialization failure, and two first saves of one tale racing
        return getattr(exc.orig, "sqlstate", None) in RETRY_SQLSTATES

    def _translate(self, exc: sa_exc.SQLAlchemyError) -> MemMimicError:
        orig = getattr(exc, "orig", None) or exc
        sqlstate = getattr(orig, "sqlstate", None)
        invalidated = isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
        connection_failed = isinstance(exc, sa_exc.OperationalError) and (
            sqlstate is None or sqlstate.startswith(("08", "57P"))
        )
        if invalidated or connection_failed or isinstance(exc, sa_exc.InterfaceError):
            return BackendUnavailableError(
                f"PostgreSQL at {self.masked_url} can't be reached or failed: {str(orig).strip()}"
            )
        return StorageError(
            f"the PostgreSQL storage ({self.masked_url}, schema {self.schema}) failed: {orig}"
        )

    def _lock_change_log(self, conn: Connection) -> None:
        conn.execute(
            sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"memmimic-changes:{self.schema}")))
        )

    def _migrate(self) -> None:
        schema = self.schema

        def work(conn: Connection) -> None:
            # One opener at a time per schema: the others wait here, then find it current.
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"memmimic:{schema}"))))
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            if migrate.current_revision(conn, schema) != migrate.head_revision():
                migrate.upgrade(conn, schema)

        self.run_write(work)

    def drop_schema(self) -> None:
        """Drop this store's schema with everything in it (test isolation); refuses ``public``."""
        if self.schema == "public":
            raise InvalidInputError("refusing to drop the public schema")
        schema = self.schema
        self.run_write(lambda conn: conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

    def _id_list(self, column: str, values: Sequence[Any], sql_type: str) -> tuple[str, Any]:
        # typed, so the index on the column serves the comparison
        return f"{column} = ANY(%s::{sql_type}[])", list(values)

    def _metadata_equals(self, key: str, value: Any) -> sa.ColumnElement[bool]:
        try:
            dumped = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError):
            raise InvalidInputError(f"metadata filter value for {key!r} is not JSON") from None
        doc = sa.cast(memories.c.metadata, sa.dialects.postgresql.JSONB)
        return doc.op("->")(sa.literal(key, sa.Text)) == sa.cast(
            sa.literal(dumped, sa.Text), sa.dialects.postgresql.JSONB
        )

    @staticmethod
    def _tsquery(words: list[str]) -> sa.ColumnElement[Any] | None:
        """OR of ``plainto_tsquery`` per word: each word is a bound parameter, never syntax."""
        parts = [sa.func.plainto_tsquery("english", sa.literal(w, sa.Text)) for w in words]
        if not parts:
            return None
        out: sa.ColumnElement[Any] = parts[0]
        for part in parts[1:]:
            out = out.op("||")(part)
        return out

    def _keyword_search(
        self, conn: Connection, query: TextQuery, limit: int, clauses: list[sa.ColumnElement[bool]]
    ) -> list[Candidate]:
        # The text's words (weight 1) and each expansion term (its weight): the rank is the
        # weighted sum of ts_rank_cd per part, so terms count as much as the expander says.
        weighted: list[tuple[sa.ColumnElement[Any], float]] = []
        text_q = self._tsquery(query_tokens(query.text))
        if text_q is not None:
            weighted.append((text_q, 1.0))
        for term in query.terms[:MAX_WEIGHTED_TERMS]:
            words = query_tokens(term.term)
            if words:
                phrase = sa.func.phraseto_tsquery("english", sa.literal(" ".join(words), sa.Text))
                weighted.append((phrase, float(term.weight)))
        if not weighted:
            return []
        matches = [_TSV.op("@@")(q) for q, _ in weighted]
        score: sa.ColumnElement[Any] = sa.literal(0.0)  # a sum of weighted ranks
        for q, weight in weighted:
            score = score + sa.func.ts_rank_cd(_TSV, q) * weight
        # explain: one @@ per word and term, so stemmed matches are reported as the index sees them
        checks = self._term_checks(query) if query.want_matched else []
        stmt = (
            sa.select(memories.c.id, memories.c.content, score.label("score"), *(c for _, c in checks))
            .where(sa.or_(*matches), *clauses)
            .order_by(sa.desc("score"), memories.c.rowid)
            .limit(limit)
        )
        if checks:
            return [
                Candidate(
                    memory_id=r[0],
                    score=float(r[2]),
                    matched_terms=tuple(
                        dict.fromkeys(term for (term, _), hit in zip(checks, r[3:], strict=True) if hit)
                    ),
                )
                for r in conn.execute(stmt)
            ]
        return [
            Candidate(memory_id=r[0], score=float(r[2]), matched_terms=matched_terms(r[1], query))
            for r in conn.execute(stmt)
        ]

    @staticmethod
    def _term_checks(query: TextQuery) -> list[tuple[str, sa.ColumnElement[Any]]]:
        """Return ``(reported term, "the memory matches it" column)`` per word of the text and term."""
        checks: list[tuple[str, sa.ColumnElement[Any]]] = []
        for word in query_tokens(query.text):
            q = sa.func.plainto_tsquery("english", sa.literal(word, sa.Text))
            checks.append((word.lower(), _TSV.op("@@")(q)))
        for term in query.terms[:MAX_WEIGHTED_TERMS]:
            words = query_tokens(term.term)
            if words:
                q = sa.func.phraseto_tsquery("english", sa.literal(" ".join(words), sa.Text))
                checks.append((" ".join(words).lower(), _TSV.op("@@")(q)))
        return [(term, check.label(f"matched_{i}")) for i, (term, check) in enumerate(checks)]

    def stats(self) -> dict[str, Any]:
        """Return the backend, masked URL, schema, its size on the server and pool use."""
        size_sql = sa.text(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind = 'r'"
        )
        size = self.run_read(lambda conn: int(conn.execute(size_sql, {"s": self.schema}).scalar_one()))
        return {
            "backend": "postgresql",
            "url": self.masked_url,
            "schema": self.schema,
            "schema_bytes": size,
            "schema_revision": self.schema_revision(),
            **self.pool_stats(),
        }

    def maintain(self) -> dict[str, Any]:
        """ANALYZE the store's tables; report the schema's size before and after."""
        before = self.stats()["schema_bytes"]
        tables = ("memories", "memory_tags", "memory_history", "changes", "tales", "tale_versions")
        self.run_write(lambda conn: [conn.exec_driver_sql(f"ANALYZE {t}") for t in tables])
        return {
            "backend": "postgresql",
            "actions": ["ANALYZE"],
            "bytes_before": before,
            "bytes_after": self.stats()["schema_bytes"],
        }
