"""Token budgets and cursors: a large memory never floods the client's context.

Tokens are estimated as characters / 4 of the JSON an item serializes to. A page holds items
until the next one would pass the budget; the first item of a page is always returned (its
text cut to fit when it alone is over budget). A cursor is an opaque string naming the next
offset and the request it belongs to, so a cursor from another request is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from ..errors import InvalidInputError

__all__ = ["decode_cursor", "encode_cursor", "estimate_tokens", "fit", "request_key"]

M = TypeVar("M", bound=BaseModel)


def estimate_tokens(value: Any) -> int:
    """Estimated tokens of ``value`` once serialized as JSON (≈ characters / 4)."""
    if isinstance(value, BaseModel):
        text = value.model_dump_json()
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return (len(text) + 3) // 4


def request_key(*parts: Any) -> str:
    """A short fingerprint of a request's arguments (cursors are tied to it)."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.blake2b(blob.encode("utf-8"), digest_size=6).hexdigest()


def encode_cursor(offset: int, key: str) -> str:
    """An opaque cursor for ``offset`` within the request ``key``."""
    raw = json.dumps({"o": offset, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, key: str) -> int:
    """The offset a cursor points to (0 without a cursor).

    :raises InvalidInputError: the cursor is malformed or belongs to another request.
    """
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset, owner = int(data["o"]), str(data["k"])
    except (ValueError, KeyError, TypeError):
        raise InvalidInputError(f"cursor {cursor!r} is not a cursor this server returned") from None
    if owner != key or offset < 0:
        raise InvalidInputError(
            "cursor belongs to another request; repeat the same arguments with the cursor, or drop it"
        )
    return offset


def fit(
    items: Sequence[M],
    max_tokens: int,
    shrink: Callable[[M, int], M],
) -> tuple[list[M], int]:
    """Take items in order until ``max_tokens`` would be passed; return them and their token estimate.

    :param shrink: cuts an item down to about the given number of tokens (used only when the
        first item alone is over budget).
    """
    kept: list[M] = []
    used = 0
    for item in items:
        cost = estimate_tokens(item)
        if used + cost > max_tokens:
            if not kept:
                item = shrink(item, max_tokens)
                kept.append(item)
                used += estimate_tokens(item)
            break
        kept.append(item)
        used += cost
    return kept, used
