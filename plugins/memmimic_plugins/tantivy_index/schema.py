"""The tantivy schema of the text index, the document of a memory, and filter queries.

Besides the analyzed ``content``, every filter the recall API offers is indexed as a raw
field, so a filtered search is answered by the index itself and stays top-k correct.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import tantivy

from memmimic_core.models import Filters, Memory

__all__ = [
    "SCHEMA_VERSION",
    "build_schema",
    "filter_clauses",
    "memory_document",
    "micros",
    "pushable_metadata",
]

SCHEMA_VERSION = 1
MAX_RAW_CHARS = 1000  # longer metadata strings are checked against storage instead
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def build_schema(analyzer_name: str) -> tantivy.Schema:
    """Return the schema; ``content`` uses the analyzer registered as ``analyzer_name``."""
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("rowid", stored=False, indexed=True, fast=True)
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("namespace", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("content", tokenizer_name=analyzer_name, index_option="freq")
    builder.add_text_field("memory_type", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("status", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("cxd_function", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("tags", tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("created_us", indexed=True, fast=True)
    builder.add_json_field("metadata", tokenizer_name="raw", index_option="basic")
    return builder.build()


def memory_document(memory: Memory) -> tantivy.Document:
    """Return the tantivy document of ``memory`` (unsigned fields need the typed adders)."""
    doc = tantivy.Document()
    doc.add_unsigned("rowid", memory.rowid)
    doc.add_text("id", memory.id)
    doc.add_text("namespace", memory.namespace)
    doc.add_text("content", memory.content)
    doc.add_text("memory_type", memory.memory_type)
    doc.add_text("status", memory.status)
    if memory.cxd_function is not None:
        doc.add_text("cxd_function", memory.cxd_function)
    for tag in memory.tags:
        doc.add_text("tags", tag)
    doc.add_integer("created_us", micros(memory.created_at))
    scalars = {
        key: value
        for key, value in memory.metadata.items()
        if isinstance(value, str) and len(value) <= MAX_RAW_CHARS
    }
    if scalars:
        doc.add_json("metadata", scalars)
    return doc


def pushable_metadata(metadata: Mapping[str, Any] | None) -> bool:
    """Whether every metadata filter can be answered by the index.

    Only short string values under plain keys are indexed: other types (numbers, booleans,
    lists) compare by Python equality, which the engine's check against storage applies.
    """
    if not metadata:
        return True
    return all(
        isinstance(value, str) and len(value) <= MAX_RAW_CHARS and _plain_key(key)
        for key, value in metadata.items()
    )


def filter_clauses(schema: tantivy.Schema, namespace: str, filters: Filters | None) -> list[tantivy.Query]:
    """Return the queries every hit must match: the namespace always, then each filter set.

    Metadata values that :func:`pushable_metadata` rejects are left to the caller.
    """
    term = tantivy.Query.term_query
    clauses = [term(schema, "namespace", namespace)]
    if filters is None:
        return clauses
    if filters.status is not None:
        clauses.append(term(schema, "status", filters.status))
    if filters.memory_type is not None:
        clauses.append(term(schema, "memory_type", filters.memory_type))
    if filters.cxd_function is not None:
        clauses.append(term(schema, "cxd_function", filters.cxd_function))
    clauses.extend(term(schema, "tags", tag) for tag in filters.tags)
    if filters.since is not None or filters.until is not None:
        clauses.append(
            tantivy.Query.range_query(
                schema,
                "created_us",
                tantivy.FieldType.Integer,
                micros(filters.since) if filters.since is not None else None,
                micros(filters.until) if filters.until is not None else None,
                include_lower=True,
                include_upper=filters.until is None,
            )
        )
    if filters.metadata and pushable_metadata(filters.metadata):
        clauses.extend(term(schema, f"metadata.{key}", value) for key, value in filters.metadata.items())
    return clauses


def _plain_key(key: object) -> bool:
    return isinstance(key, str) and bool(key) and "." not in key and "\\" not in key


def micros(moment: datetime) -> int:
    """Return ``moment`` as microseconds since the epoch (naive datetimes are UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
