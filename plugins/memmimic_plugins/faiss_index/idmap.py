"""rowid → memory id for one shard, in sorted arrays instead of a dict.

A ``dict[int, str]`` costs ~160 bytes per entry in CPython (16 MB at 100k vectors, as much as a
tenth of the whole process); two numpy arrays cost 8 bytes per rowid plus the id's bytes (~3.6 MB
at 100k). Recent additions and deletions sit in a small dict and set that are folded into the
arrays once they grow past a fraction of them, so an upsert stays O(batch), not O(n).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

__all__ = ["IdMap"]

_MIN_FOLD = 1024  # pending changes kept beside the arrays before folding them in


class IdMap:
    """A compact mapping of int64 rowids to memory id strings (a subset of the dict API)."""

    __slots__ = ("_dead", "_extra", "_mids", "_rowids")

    def __init__(self) -> None:
        self._rowids: np.ndarray[Any, Any] = np.zeros(0, dtype=np.int64)  # sorted, unique
        self._mids: np.ndarray[Any, Any] = np.zeros(0, dtype="S1")  # UTF-8, aligned with _rowids
        self._extra: dict[int, str] = {}  # added since the last fold (never also alive in the arrays)
        self._dead: set[int] = set()  # rowids of the arrays deleted since the last fold

    @classmethod
    def from_arrays(cls, rowids: np.ndarray[Any, Any], memory_ids: np.ndarray[Any, Any]) -> IdMap:
        """Build from parallel arrays (memory ids as ``str_`` or UTF-8 ``bytes_``)."""
        out = cls()
        rowids = np.asarray(rowids, dtype=np.int64)
        mids = np.asarray(memory_ids)
        if mids.dtype.kind == "U":
            mids = np.char.encode(mids, "utf-8") if len(mids) else np.zeros(0, dtype="S1")
        order = np.argsort(rowids, kind="stable")
        out._rowids, out._mids = rowids[order], mids[order]
        if len(out._rowids) > 1 and bool((np.diff(out._rowids) == 0).any()):
            raise ValueError("duplicate rowids in a shard's id map")
        return out

    def to_arrays(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Return (rowids int64, memory ids str_), in rowid order."""
        self._fold()
        return self._rowids.copy(), np.char.decode(self._mids, "utf-8").astype(np.str_)

    # -- the dict API the shards use ---------------------------------------------------------

    def _position(self, rowid: int) -> int:
        """Index of ``rowid`` in the arrays, or -1."""
        at = int(np.searchsorted(self._rowids, rowid))
        if at < len(self._rowids) and int(self._rowids[at]) == rowid:
            return at
        return -1

    def __len__(self) -> int:
        return len(self._rowids) - len(self._dead) + len(self._extra)

    def _positions(self, keys: list[int]) -> list[int]:
        """Each key's index in the arrays, or -1 when they don't hold it alive (one search for all)."""
        if not keys or not len(self._rowids):
            return [-1] * len(keys)
        wanted = np.asarray(keys, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._rowids, wanted), len(self._rowids) - 1)
        positions: list[int] = np.where(self._rowids[at] == wanted, at, -1).tolist()
        if self._dead:
            positions = [-1 if key in self._dead else pos for key, pos in zip(keys, positions, strict=True)]
        return positions

    def contains_many(self, rowids: Iterable[int]) -> list[bool]:
        """``rowid in self`` for each of ``rowids``, with one array search for all."""
        keys = [int(r) for r in rowids]
        extra = self._extra
        return [pos >= 0 or key in extra for key, pos in zip(keys, self._positions(keys), strict=True)]

    def __contains__(self, rowid: object) -> bool:
        if not isinstance(rowid, (int, np.integer)):
            return False
        key = int(rowid)
        if key in self._extra:
            return True
        return key not in self._dead and self._position(key) >= 0

    def __getitem__(self, rowid: int) -> str:
        key = int(rowid)
        found = self._extra.get(key)
        if found is not None:
            return found
        at = -1 if key in self._dead else self._position(key)
        if at < 0:
            raise KeyError(rowid)
        return bytes(self._mids[at]).decode("utf-8")

    def get(self, rowid: int, default: str | None = None) -> str | None:
        """The memory id of ``rowid``, or ``default``."""
        try:
            return self[rowid]
        except KeyError:
            return default

    def lookup(self, rowids: Iterable[int]) -> list[str | None]:
        """The memory id of each rowid (``None`` when absent), with one array search for all."""
        keys = [int(r) for r in rowids]
        out: list[str | None] = []
        for key, pos in zip(keys, self._positions(keys), strict=True):
            found = self._extra.get(key)
            if found is None and pos >= 0:
                found = bytes(self._mids[pos]).decode("utf-8")
            out.append(found)
        return out

    def __delitem__(self, rowid: int) -> None:
        key = int(rowid)
        if self._extra.pop(key, None) is not None:
            return
        if key in self._dead or self._position(key) < 0:
            raise KeyError(rowid)
        self._dead.add(key)
        self._maybe_fold()

    def update(self, pairs: Iterable[tuple[int, str]]) -> None:
        """Add or replace entries."""
        items = [(int(rowid), str(memory_id)) for rowid, memory_id in pairs]
        positions = self._positions([key for key, _ in items])
        for (key, memory_id), pos in zip(items, positions, strict=True):
            if pos >= 0:
                self._dead.add(key)  # replaced: the new id lives in _extra until the next fold
            self._extra[key] = memory_id
        self._maybe_fold()

    def keys(self) -> Iterator[int]:
        """Live rowids: the arrays' in rowid order, then the recent additions."""
        for rowid in self._rowids.tolist():
            if rowid not in self._dead:
                yield rowid
        yield from self._extra

    def __iter__(self) -> Iterator[int]:
        return self.keys()

    def values(self) -> Iterator[str]:
        """Memory ids, in the order of :meth:`keys`."""
        for rowid in self.keys():
            yield self[rowid]

    # -- folding -------------------------------------------------------------------------------

    def _maybe_fold(self) -> None:
        if len(self._extra) + len(self._dead) > max(_MIN_FOLD, len(self._rowids) // 8):
            self._fold()

    def _fold(self) -> None:
        if not self._extra and not self._dead:
            return
        rowids, mids = self._rowids, self._mids
        if self._dead:
            keep = ~np.isin(rowids, np.fromiter(self._dead, dtype=np.int64, count=len(self._dead)))
            rowids, mids = rowids[keep], mids[keep]
        if self._extra:
            new_rowids = np.fromiter(self._extra.keys(), dtype=np.int64, count=len(self._extra))
            new_mids = np.array([m.encode("utf-8") for m in self._extra.values()])
            width = max(mids.dtype.itemsize if len(mids) else 1, new_mids.dtype.itemsize)
            rowids = np.concatenate([rowids, new_rowids])
            mids = np.concatenate([mids.astype(f"S{width}"), new_mids.astype(f"S{width}")])
            order = np.argsort(rowids, kind="stable")
            rowids, mids = rowids[order], mids[order]
        self._rowids, self._mids = rowids, mids
        self._extra, self._dead = {}, set()
