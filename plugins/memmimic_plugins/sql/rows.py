"""Conversions between database rows and the core's dataclasses, and small shared helpers."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from memmimic_core.errors import InvalidInputError
from memmimic_core.models import Memory, Tale, TextQuery, Vector

__all__ = [
    "content_hash",
    "dump_json",
    "from_blob",
    "history_value",
    "matched_terms",
    "new_memory_ids",
    "query_tokens",
    "row_to_memory",
    "row_to_tale",
    "to_blob",
    "utcnow",
]

# Words of the user's query: letters and digits of any script (underscore is a separator,
# as in FTS5's unicode61 tokenizer).
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_QUERY_TOKENS = 64


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def new_memory_ids(n: int) -> list[str]:
    """Return ``n`` new stable memory ids: ``mem_`` + time-ordered hex (sortable) + random hex,
    the random parts from one read of the system's source."""
    entropy = secrets.token_bytes(5 * n)
    out = []
    for i in range(n):
        out.append(f"mem_{time.time_ns() // 1000:014x}{entropy[5 * i : 5 * i + 5].hex()}")
    return out


def content_hash(content: str) -> str:
    """Return the SHA-256 hex digest of ``content`` (UTF-8), the key of duplicate detection."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def dump_json(value: Any) -> str:
    """Serialize metadata or tags to compact JSON text."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"value is not JSON-serializable: {exc}") from None


def to_blob(vector: Vector | Sequence[float]) -> tuple[bytes, int]:
    """Return a vector as float32 bytes and its dimension.

    :raises InvalidInputError: not a one-dimensional, finite vector.
    """
    array = np.asarray(vector, dtype=np.float32)
    if array.ndim != 1 or array.size == 0:
        raise InvalidInputError(f"an embedding must be a non-empty 1-D vector, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise InvalidInputError("an embedding contains NaN or infinite values")
    return array.tobytes(), int(array.size)


def from_blob(blob: bytes | None) -> Vector | None:
    """Return float32 bytes as a vector (a copy, writable)."""
    if blob is None:
        return None
    return np.frombuffer(bytes(blob), dtype=np.float32).copy()


def query_tokens(text: str, limit: int = MAX_QUERY_TOKENS) -> list[str]:
    """Split user text into distinct words (order kept), at most ``limit``: the text is data."""
    out: list[str] = []
    seen: set[str] = set()
    for match in _WORD.finditer(text):
        word = match.group(0)
        key = word.lower()
        if key not in seen:
            seen.add(key)
            out.append(word)
            if len(out) >= limit:
                break
    return out


def history_value(value: Any) -> Any:
    """Return a JSON-ready form of a field value for the history's before / after."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _load_metadata(text: str) -> dict[str, Any]:
    """Metadata JSON as a dict (most memories have none: no parse for them)."""
    return {} if text == "{}" else json.loads(text)


def _load_tags(text: str) -> tuple[str, ...]:
    """Tags JSON as a tuple (most memories have none: no parse for them)."""
    return () if text == "[]" else tuple(json.loads(text))


def row_to_memory(row: Mapping[Any, Any], *, with_embedding: bool = False) -> Memory:
    """Build a :class:`Memory` from a ``memories`` row mapping."""
    return Memory(
        id=row["id"],
        namespace=row["namespace"],
        content=row["content"],
        memory_type=row["memory_type"],
        importance=float(row["importance"]),
        metadata=_load_metadata(row["metadata"]),
        tags=_load_tags(row["tags"]),
        content_hash=row["content_hash"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        cxd_function=row["cxd_function"],
        cxd_confidence=row["cxd_confidence"],
        last_accessed_at=row["last_accessed_at"],
        access_count=int(row["access_count"]),
        status=row["status"],
        supersedes=row["supersedes"],
        superseded_by=row["superseded_by"],
        valid_from=row["valid_from"],
        valid_to=row["valid_to"],
        embedder=row["embedder"],
        embedding=from_blob(row["embedding"]) if with_embedding and "embedding" in row else None,
        rowid=int(row["rowid"]),
    )


def row_to_tale(row: Mapping[Any, Any]) -> Tale:
    """Build a :class:`Tale` from a row with the tale's columns (a version's or the latest)."""
    return Tale(
        namespace=row["namespace"],
        name=row["name"],
        content=row["content"],
        category=row["category"],
        tags=tuple(json.loads(row["tags"])),
        version=int(row["version"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deleted_at=row["deleted_at"],
    )


def matched_terms(content: str, query: TextQuery) -> tuple[str, ...]:
    """Return the query's words and terms found verbatim (case-folded) among ``content``'s words."""
    words = {w.lower() for w in _WORD.findall(content)}
    out = [t.lower() for t in query_tokens(query.text) if t.lower() in words]
    for term in query.terms:
        parts = [p.lower() for p in query_tokens(term.term)]
        if parts and all(p in words for p in parts):
            out.append(" ".join(parts))
    return tuple(dict.fromkeys(out))
