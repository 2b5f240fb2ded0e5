"""The tantivy index on disk: opening it, its state file, and bringing it up to date.

The database is the source of truth. The index folder holds a small state file written after
each tantivy commit with the last change sequence number the commit contains; catching up
replays ``storage.changes_since(seq)``. Because the state is written after the commit, a crash
in between only makes the next sync replay a few changes again, which is harmless: applying a
change deletes the memory's document by rowid and re-adds its current state.

Reading and writing use separate ``tantivy.Index`` objects: the reader (``index``) is reloaded
when the state file changes; every catch-up opens its own (~0.5 ms), so a commit running in the
committer thread never touches what searches use. Every write happens under an inter-process
file lock, with a tantivy writer created for that one catch-up and released at its end, so any
number of processes can share one data_dir.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

from memmimic_core.errors import StorageError
from memmimic_core.protocols import Storage

from .analysis import Analysis
from .options import TantivyOptions
from .schema import SCHEMA_VERSION, build_schema, memory_document

__all__ = ["IndexState", "TantivyStore"]

log = logging.getLogger(__name__)
STATE_FILE = "memmimic-state.json"
WRITER_RETRY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class IndexState:
    """What the state file records about the committed index."""

    uid: str
    seq: int
    signature: str
    store_id: str
    version: int = SCHEMA_VERSION


class TantivyStore:
    """One index folder: open reader, state file and the write path (under the file lock)."""

    def __init__(
        self, folder: Path, analysis: Analysis, options: TantivyOptions, storage: Storage, store_id: str
    ) -> None:
        self.folder = folder
        self.analysis = analysis
        self.options = options
        self.storage = storage
        self.store_id = store_id
        self.schema = build_schema(analysis.name)
        self.index: tantivy.Index | None = None
        self.uid: str | None = None
        self._state_stamp: tuple[int, int] | None = None

    # reading -------------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        """The state file inside the index folder (deleting the folder deletes it too)."""
        return self.folder / STATE_FILE

    def read_state(self) -> IndexState | None:
        """Return the recorded state when it belongs to this schema, analysis and store."""
        try:
            raw = json.loads(self.state_path.read_text(encoding="utf-8"))
            state = IndexState(
                uid=str(raw["uid"]),
                seq=int(raw["seq"]),
                signature=str(raw["signature"]),
                store_id=str(raw["store_id"]),
                version=int(raw["version"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if (
            state.version != SCHEMA_VERSION
            or state.signature != self.analysis.signature
            or state.store_id != self.store_id
        ):
            return None
        return state

    def state_changed(self) -> bool:
        """Whether the state file changed (or vanished) since this process last read it."""
        try:
            info = os.stat(self.state_path)
        except OSError:
            return True
        return (info.st_mtime_ns, info.st_size) != self._state_stamp

    def refresh(self) -> IndexState | None:
        """Follow the state file: (re)open the index if it was recreated, else reload the reader.

        Returns the state the reader now reflects (``None``: no usable index on disk).
        """
        try:
            info = os.stat(self.state_path)
            stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        state = self.read_state()
        if state is None:
            return None
        try:
            if self.index is None or self.uid != state.uid:
                self.index = self._open_existing()
                self.uid = state.uid
            else:
                self.index.reload()
        except (OSError, ValueError) as exc:
            log.warning("tantivy index at %s can't be opened (%s); it will be rebuilt", self.folder, exc)
            self.index = None
            return None
        self._state_stamp = stamp
        return state

    def _open_existing(self) -> tantivy.Index:
        index = tantivy.Index(self.schema, path=str(self.folder), reuse=True)
        index.register_tokenizer(self.analysis.name, self.analysis.analyzer)
        index.config_reader(reload_policy="Manual")
        return index

    # writing (caller holds the file lock) -------------------------------------------------

    def catch_up(self) -> int:
        """Bring the index up to the storage's last change; return the changes applied.

        Rebuilds when the index is missing, damaged, made with other settings, for another
        store, or more than ``rebuild_threshold`` changes behind.
        """
        state = self.read_state()
        target = self.storage.last_seq()
        index = self._open_for_writing() if state is not None else None
        if state is None or index is None:
            return self._rebuild(None)
        if state.seq > target or target - state.seq > self.options.rebuild_threshold:
            return self._rebuild(index, state.uid)
        return self._replay(index, state)

    def _open_for_writing(self) -> tantivy.Index | None:
        try:
            return self._open_existing()
        except (OSError, ValueError) as exc:
            log.warning("tantivy index at %s can't be opened (%s); it will be rebuilt", self.folder, exc)
            return None

    def _rebuild(self, index: tantivy.Index | None, uid: str | None = None) -> int:
        """Index every memory in one commit: in ``index``, or in a new folder when ``None``."""
        if index is None or uid is None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True, exist_ok=True)
            index = self._open_existing()
            uid = uuid.uuid4().hex
        seq = self.storage.last_seq()  # later changes are replayed below: applying twice is harmless
        started = time.perf_counter()
        count = 0
        with _WriterSession(index, self.options, self.folder) as writer:
            writer.delete_all_documents()
            for batch in self.storage.iter_memories(batch_size=1000):
                for memory in batch:
                    writer.add_document(memory_document(memory))
                count += len(batch)
            writer.commit()
            self._write_state(uid, seq)
        log.info(
            "rebuilt tantivy index at %s: %d memories in %.1fs",
            self.folder,
            count,
            time.perf_counter() - started,
        )
        state = self.read_state()
        assert state is not None
        return count + self._replay(index, state)

    def _replay(self, index: tantivy.Index, state: IndexState) -> int:
        seq = state.seq
        applied = 0
        changes = self.storage.changes_since(seq, limit=self.options.batch_size)
        if not changes:
            return 0
        with _WriterSession(index, self.options, self.folder) as writer:
            while changes:
                latest = {change.rowid: change for change in changes}
                upserts = [rowid for rowid, change in latest.items() if change.op == "upsert"]
                current = self.storage.get_by_rowid(upserts) if upserts else []
                # by query: delete_documents_by_term treats a Python int as i64 and misses u64 terms
                gone = tantivy.Query.term_set_query(self.schema, "rowid", list(latest))
                writer.delete_documents_by_query(gone)
                for memory in current:
                    writer.add_document(memory_document(memory))
                writer.commit()
                seq = changes[-1].seq
                self._write_state(state.uid, seq)
                applied += len(changes)
                changes = self.storage.changes_since(seq, limit=self.options.batch_size)
        return applied

    def _write_state(self, uid: str, seq: int) -> None:
        payload = {
            "uid": uid,
            "seq": seq,
            "signature": self.analysis.signature,
            "store_id": self.store_id,
            "version": SCHEMA_VERSION,
        }
        tmp = self.folder / f".{STATE_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(tmp, self.state_path)

    # facts ---------------------------------------------------------------------------------

    def size_bytes(self) -> int:
        """Return the bytes the index folder takes on disk."""
        total = 0
        for path in self.folder.rglob("*"):
            try:
                if path.is_file():
                    total += path.stat().st_size
            except OSError:
                continue
        return total


class _WriterSession:
    """A tantivy writer for one sync: rolled back on error, merges awaited, lock released."""

    def __init__(self, index: tantivy.Index, options: TantivyOptions, folder: Path) -> None:
        self.index = index
        self.options = options
        self.folder = folder
        self.writer: Any = None

    def __enter__(self) -> Any:
        deadline = time.monotonic() + WRITER_RETRY_SECONDS
        while True:
            try:
                self.writer = self.index.writer(
                    heap_size=self.options.heap_size_mb * 1_000_000, num_threads=self.options.num_threads
                )
                return self.writer
            except ValueError as exc:  # the tantivy lock of a process outside our file lock
                if "LockBusy" not in str(exc) or time.monotonic() >= deadline:
                    raise StorageError(f"can't write the tantivy index at {self.folder}: {exc}") from None
                time.sleep(0.05)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        writer, self.writer = self.writer, None
        if exc_type is not None:
            try:
                writer.rollback()
            except (ValueError, RuntimeError):
                log.debug("rollback of the tantivy writer failed", exc_info=True)
        try:
            writer.wait_merging_threads()  # finishes merges and drops the writer (and its lock)
        except (ValueError, RuntimeError) as error:
            if exc_type is None:
                raise StorageError(f"tantivy index at {self.folder}: {error}") from None
