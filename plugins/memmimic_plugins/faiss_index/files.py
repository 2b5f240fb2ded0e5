"""The FAISS index on disk: one ``.npz`` per namespace plus ``meta.json``, written atomically.

Every file is written to a temporary name and moved into place with ``os.replace``; the meta
file is written last and lists each shard file with a random token that the shard file
repeats, so a reader never pairs a meta file with shards from another snapshot. Saves from
several processes are serialized with an ``flock`` on ``.lock``, and a process never
overwrites a snapshot newer than its own.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMAT", "IndexFiles", "SnapshotError"]

FORMAT = 1
Arrays = dict[str, np.ndarray[Any, Any]]


class SnapshotError(Exception):
    """The files on disk are missing, damaged or from another snapshot (the index rebuilds)."""


class IndexFiles:
    """Reads and writes the snapshot in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.meta_path = folder / "meta.json"

    @staticmethod
    def shard_file(namespace: str) -> str:
        """The file name of a namespace's shard (namespaces are never used as paths)."""
        return "ns-" + hashlib.sha1(namespace.encode("utf-8")).hexdigest()[:20] + ".npz"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's save lock (blocking)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / ".lock").open("a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def read_meta(self) -> dict[str, Any] | None:
        """Return the meta dict, or None when there is none or it is unreadable."""
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else None

    def load(self) -> tuple[dict[str, Any], dict[str, Arrays]]:
        """Return the meta dict and each namespace's arrays.

        :raises SnapshotError: anything missing, unreadable or inconsistent.
        """
        with self.locked():
            meta = self.read_meta()
            if meta is None:
                raise SnapshotError("no readable meta.json")
            shards: dict[str, Arrays] = {}
            for namespace, entry in dict(meta.get("namespaces", {})).items():
                path = self.folder / entry["file"]
                try:
                    with np.load(path, allow_pickle=False) as data:
                        arrays = {key: data[key] for key in data.files}
                except (OSError, ValueError, KeyError) as exc:
                    raise SnapshotError(f"shard of namespace {namespace!r} unreadable: {exc}") from None
                token = str(arrays.pop("token", np.array([""]))[0])
                if token != entry["token"]:
                    raise SnapshotError(f"shard of namespace {namespace!r} is from another snapshot")
                shards[namespace] = arrays
            return meta, shards

    def save(
        self,
        meta: dict[str, Any],
        base: tuple[str, int] | None,
        dirty: Callable[[], Mapping[str, Arrays]],
        everything: Callable[[], Mapping[str, Arrays]],
    ) -> dict[str, Any] | None:
        """Write shards then the meta; return the meta written, or None when disk is newer.

        ``meta["namespaces"]`` maps each live namespace to its last ``{file, token}``; shards
        written now get fresh tokens. Only the ``dirty`` shards are written when the snapshot
        on disk is ``base`` (``(writer, save_no)``, the one this process loaded or wrote last);
        otherwise ``everything`` is.
        """
        with self.locked():
            on_disk = self.read_meta()
            if on_disk is not None and int(on_disk.get("last_seq", 0)) > int(meta["last_seq"]):
                return None
            unchanged = on_disk is not None and (on_disk.get("writer"), on_disk.get("save_no")) == base
            shards = dirty() if unchanged else everything()
            entries: dict[str, dict[str, str]] = dict(meta.get("namespaces", {}))
            for namespace, arrays in shards.items():
                token = uuid.uuid4().hex
                file = self.shard_file(namespace)
                self._write_npz(self.folder / file, {**arrays, "token": np.array([token])})
                entries[namespace] = {"file": file, "token": token}
            meta = {**meta, "format": FORMAT, "namespaces": entries}
            self._write_bytes(self.meta_path, json.dumps(meta, sort_keys=True).encode("utf-8"))
            keep = {entry["file"] for entry in entries.values()}
            for stale in self.folder.glob("ns-*.npz"):
                if stale.name not in keep:
                    stale.unlink(missing_ok=True)
            return meta

    def remove(self) -> None:
        """Delete the snapshot (meta and shards)."""
        with self.locked():
            self.meta_path.unlink(missing_ok=True)
            for path in self.folder.glob("ns-*.npz"):
                path.unlink(missing_ok=True)

    def _write_npz(self, path: Path, arrays: Arrays) -> None:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _write_bytes(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
