"""Input validation for the public API: bad input gets a clear error before anything is written."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from .errors import InvalidInputError

__all__ = [
    "MAX_QUERY_CHARS",
    "check_content",
    "check_importance",
    "check_limit",
    "check_memory_id",
    "check_metadata",
    "check_namespace",
    "check_query",
    "check_tags",
    "check_tale_name",
    "check_time",
    "check_type",
]

MAX_QUERY_CHARS = 10_000
MAX_NAME_CHARS = 200
_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")


def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be text, got {type(value).__name__}")
    if "\x00" in value:
        raise InvalidInputError(f"{what} contains a NUL byte; remove it or store the data base64-encoded")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"{what} contains an unpaired surrogate (invalid Unicode); decode the source text properly"
        ) from None
    return value


def check_content(content: object, max_bytes: int) -> str:
    """Return valid memory content, or raise naming the problem."""
    text = _check_text(content, "content")
    if not text.strip():
        raise InvalidInputError("content is empty; a memory needs some text")
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise InvalidInputError(
            f"content is {size:,} bytes, over the limit of {max_bytes:,} (memory.max_content_bytes); "
            "split it into several memories or raise the limit"
        )
    return text


def check_query(query: object) -> str:
    """Return a valid recall query (text is data: any characters but NUL are allowed)."""
    text = _check_text(query, "query")
    if not text.strip():
        raise InvalidInputError("query is empty; give some words to recall by")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"query is {len(text):,} characters, over the limit of {MAX_QUERY_CHARS:,}")
    return text


def check_limit(limit: object, maximum: int) -> int:
    """Return a valid result limit in 1..maximum."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidInputError(f"limit must be a whole number, got {limit!r}")
    if limit < 1 or limit > maximum:
        raise InvalidInputError(
            f"limit must be between 1 and {maximum} (memory.max_recall_limit), got {limit}"
        )
    return limit


@lru_cache(maxsize=4096)
def _has_control(text: str) -> bool:
    """Whether ``text`` holds a control, format, private-use or unassigned character (category C*).

    Memoized: the same namespaces, types and tags come back with every write.
    """
    return any(unicodedata.category(ch).startswith("C") for ch in text)


def check_namespace(namespace: object) -> str:
    """Return a valid namespace: 1–200 printable characters."""
    text = _check_text(namespace, "namespace")
    if not text or len(text) > MAX_NAME_CHARS:
        raise InvalidInputError(f"namespace must be 1 to {MAX_NAME_CHARS} characters, got {len(text)}")
    if _has_control(text):
        raise InvalidInputError(f"namespace {text!r} contains control characters")
    return text


def check_type(memory_type: object) -> str:
    """Return a valid memory type: 1–64 printable characters."""
    text = _check_text(memory_type, "memory_type").strip()
    if not text or len(text) > 64 or _has_control(text):
        raise InvalidInputError(f"memory_type must be 1 to 64 printable characters, got {memory_type!r}")
    return text


def check_importance(importance: object) -> float:
    """Return an importance in [0, 1]."""
    if isinstance(importance, bool) or not isinstance(importance, (int, float)):
        raise InvalidInputError(f"importance must be a number between 0 and 1, got {importance!r}")
    value = float(importance)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"importance must be between 0 and 1, got {importance!r}")
    return value


def check_metadata(metadata: object) -> dict[str, Any]:
    """Return metadata as a JSON-serializable dict with string keys."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(f"metadata must be a mapping, got {type(metadata).__name__}")
    try:
        blob = json.dumps(dict(metadata), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"metadata must be JSON-serializable: {exc}") from None
    if "\x00" in blob:
        raise InvalidInputError("metadata contains a NUL byte")
    try:
        blob.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError("metadata contains an unpaired surrogate (invalid Unicode)") from None
    return dict(json.loads(blob))


def check_tags(tags: object) -> tuple[str, ...]:
    """Return tags as a tuple of unique, non-empty strings (order kept)."""
    if tags is None:
        return ()
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, Iterable):
        raise InvalidInputError(f"tags must be a list of strings, got {type(tags).__name__}")
    out: list[str] = []
    for tag in tags:
        text = _check_text(tag, "a tag").strip()
        if not text or len(text) > 100:
            raise InvalidInputError(f"a tag must be 1 to 100 characters, got {tag!r}")
        if text not in out:
            out.append(text)
    return tuple(out)


def check_memory_id(memory_id: object) -> str:
    """Return a syntactically valid memory id."""
    if not isinstance(memory_id, str) or not _ID_RE.match(memory_id):
        raise InvalidInputError(f"{memory_id!r} is not a memory id (ids look like 'mem_…')")
    return memory_id


def check_time(value: object, what: str) -> datetime | None:
    """Return a timezone-aware datetime from a datetime or an ISO 8601 string."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInputError(f"{what} must be an ISO 8601 date or time, got {value!r}") from None
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


_TALE_BAD = re.compile(r"[/\\]|\.\.")


def check_tale_name(name: object) -> str:
    """Return a valid tale name: never a path (no separators, no '..', no control characters)."""
    text = _check_text(name, "tale name")
    if not text.strip() or len(text) > MAX_NAME_CHARS:
        raise InvalidInputError(f"a tale name must be 1 to {MAX_NAME_CHARS} characters")
    if _TALE_BAD.search(text):
        raise InvalidInputError(
            f"tale name {text!r} looks like a path ('/', '\\\\' and '..' are not allowed); tales are "
            "stored in the database, not in files"
        )
    if _has_control(text):
        raise InvalidInputError(f"tale name {text!r} contains control characters")
    return text.strip()
