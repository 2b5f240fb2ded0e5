"""Give freed heap back to the operating system after large transient allocations.

Encoding a batch of texts allocates hundreds of megabytes of short-lived tensors; glibc's
allocator keeps freed blocks for reuse, so a process that embedded 5,000 texts once stays
that large for the rest of its life. ``malloc_trim`` returns the free pages. Called after
batch work (write-behind catch-up, re-embedding, index builds), never on the query path.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from functools import cache

__all__ = ["release_free_memory"]

log = logging.getLogger(__name__)


@cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim): nothing to do
        log.debug("malloc_trim is not available; freed memory stays with the allocator")
        return None


def release_free_memory() -> bool:
    """Return free heap pages to the OS where the C library can (glibc); say whether it did."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
