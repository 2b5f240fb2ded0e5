"""The ``faiss`` vector index: inner product over normalized vectors, one index per namespace.

A derived index: the storage is the source of truth. :meth:`FaissVectorIndex.sync` replays the
storage's change sequence; the index is saved atomically under ``<data_dir>/faiss/`` after
batches of changes and on close, and on open it loads, checks itself against the storage and
catches up, or rebuilds from the storage when its files are missing, damaged or made with
other settings. ``import faiss`` happens on first use. See docs/semantic.md.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from memmimic_core import hookimpl
from memmimic_core.errors import ConfigError, EmbedderMismatchError
from memmimic_core.models import Candidate, Change, StoredVector, Vector, as_query_vector
from memmimic_core.protocols import BackendContext, BackendOptions, Storage
from memmimic_core.registry import BackendRegistry

from .files import IndexFiles, SnapshotError
from .shards import IVF_MIN_TRAIN, Shard, ShardParams, build_shard, load_shard

__all__ = ["FaissVectorIndex", "memmimic_register_vector_index"]

_READ_CHUNK = 1000


class FaissVectorIndex:
    """Nearest neighbours of a query vector among a namespace's memory embeddings.

    Thread-safe (one lock). Embeddings whose fingerprint differs from the index's (the
    configured one, else the majority in storage) or whose dimension differs are skipped and
    counted in :meth:`stats`.
    """

    name: ClassVar[str] = "faiss"

    class Options(BackendOptions):
        """Options of the ``faiss`` vector index."""

        kind: Literal["flat", "hnsw", "ivf", "auto"] = Field(
            default="flat",
            description="flat: exhaustive (exact up to precision); hnsw / ivf: approximate; "
            "auto: flat below auto_threshold",
        )
        auto_threshold: int = Field(default=50_000, ge=1, description="auto: vectors per namespace for hnsw")
        hnsw_m: int = Field(default=32, ge=4, le=256, description="HNSW links per node")
        ef_search: int = Field(default=64, ge=1, description="HNSW search breadth")
        ef_construction: int = Field(default=80, ge=1, description="HNSW build breadth")
        nlist: int | None = Field(default=None, ge=1, description="IVF lists (default: √n)")
        nprobe: int = Field(default=16, ge=1, description="IVF lists searched per query")
        tombstone_ratio: float = Field(default=0.2, gt=0, le=1, description="HNSW rebuild threshold")
        fingerprint: str | None = Field(default=None, description="embedder fingerprint to index")
        save_every_changes: int = Field(default=5000, ge=1, description="save after this many changes")
        save_every_seconds: float = Field(default=30.0, ge=0, description="…or after this long")
        precision: Literal["float16", "float32"] = Field(
            default="float16",
            description="how vectors are stored: float16 halves memory and the bytes a flat search "
            "scans (scores within ~1e-4 of float32's); float32 stores them as the embedder made them",
        )
        auto_sync: bool = Field(
            default=False,
            description="catch up with the storage before every search (the engine already syncs "
            "before each recall when storage changed; for using the index on its own)",
        )
        rebuild_lag: int = Field(
            default=100_000, ge=1, description="rebuild instead of replaying more changes than this"
        )
        threads: int = Field(default=1, ge=1, description="OpenMP threads per search (builds use every core)")
        path: str | None = Field(default=None, description="index folder (default: <data_dir>/faiss)")

    def __init__(self, options: Options | None, context: BackendContext) -> None:
        if context.storage is None:
            raise ConfigError("vector_index: the faiss index needs the store's storage in its context")
        self.options = options or self.Options()
        self.storage: Storage = context.storage
        if self.options.path is not None:
            folder = Path(self.options.path).expanduser()
        else:
            folder = Path(context.data_dir) / "faiss"
        self._files = IndexFiles(folder)
        self._params = ShardParams(
            hnsw_m=self.options.hnsw_m,
            ef_search=self.options.ef_search,
            ef_construction=self.options.ef_construction,
            nlist=self.options.nlist,
            nprobe=self.options.nprobe,
            tombstone_ratio=self.options.tombstone_ratio,
            precision=self.options.precision,
        )
        self._lock = threading.RLock()
        self._writer = uuid.uuid4().hex
        self._reset()
        self._opened = False
        self._rebuilds = 0
        self._last_rebuild_reason: str | None = None

    def _reset(self) -> None:
        self._shards: dict[str, Shard] = {}
        self._seq = 0
        self._dim: int | None = None
        self._fingerprint: str | None = self.options.fingerprint
        self._skipped: dict[int, str] = {}
        self._dirty: set[str] = set()
        self._pending = 0
        self._entries: dict[str, dict[str, str]] = {}
        self._base: tuple[str, int] | None = None
        self._save_no = 0
        self._last_save = time.monotonic()

    @property
    def folder(self) -> Path:
        """Where the index files live."""
        return self._files.folder

    # ---------------------------------------------------------------- open, rebuild, sync

    def _open(self) -> None:
        if self._opened:
            return
        reason = self._load()
        if reason is not None:
            self._rebuild(reason)
        self._opened = True
        self._catch_up()
        if reason is None and self._fingerprint:
            expected = self.storage.embedder_counts().get(self._fingerprint, 0)
            odd_sized = sum(1 for why in self._skipped.values() if why == "dimension")
            if not self._count() <= expected <= self._count() + odd_sized:
                self._rebuild(f"index holds {self._count()} vectors, storage {expected}")
        self._maybe_save(force=self._pending > 0 or bool(self._dirty))

    def _load(self) -> str | None:
        """Load the snapshot; return why it can't be used, or None."""
        try:
            meta, arrays = self._files.load()
        except SnapshotError as exc:
            return str(exc)
        if meta.get("params") != self._params_key():
            return "index settings changed"
        if self.options.fingerprint is not None and meta.get("fingerprint") != self.options.fingerprint:
            return "embedder fingerprint changed"
        if int(meta["last_seq"]) > self.storage.last_seq():
            return "storage is older than the index"
        try:
            dim = meta.get("dim")
            shards = {
                ns: load_shard(str(a["kind"][0]), int(dim or 0), self._params, a) for ns, a in arrays.items()
            }
        except (ValueError, KeyError, RuntimeError) as exc:
            return f"shard unreadable: {exc}"
        self._reset()
        self._shards = shards
        self._seq = int(meta["last_seq"])
        self._dim = int(dim) if dim else None
        self._fingerprint = meta.get("fingerprint") or self.options.fingerprint
        self._skipped = {int(r): str(why) for r, why in meta.get("skipped", [])}
        self._entries = {ns: dict(e) for ns, e in meta["namespaces"].items()}
        self._base = (str(meta.get("writer")), int(meta.get("save_no", 0)))
        return None

    def _params_key(self) -> dict[str, Any]:
        p = self._params
        key: dict[str, Any] = {
            "kind": self.options.kind,
            "m": p.hnsw_m,
            "efc": p.ef_construction,
            "nlist": p.nlist,
        }
        if p.precision != "float32":  # snapshots from before the option hold float32 and match it
            key["precision"] = p.precision
        return key

    def _count(self) -> int:
        return sum(len(shard) for shard in self._shards.values())

    def rebuild(self, reason: str = "requested") -> int:
        """Rebuild every namespace from storage; return how many vectors were indexed."""
        with self._lock:
            self._rebuild(reason)
            self._opened = True
            self._catch_up()
            self._maybe_save(force=True)
            return self._count()

    def _rebuild(self, reason: str) -> None:
        storage = self.storage
        base, entries = self._base, self._entries
        self._reset()
        self._base, self._entries = base, entries
        self._seq = storage.last_seq()
        if self._fingerprint is None:
            counts = storage.embedder_counts()
            self._fingerprint = max(counts, key=lambda fp: counts[fp]) if counts else None
        with _omp_threads(None):
            for batch in storage.iter_vectors():  # batch by batch: low peak RSS
                self._add_memories([m for m in batch if self._accept(m)], initial=True)
            for namespace in list(self._shards):
                self._reshape(namespace)
        self._dirty = set(self._shards) | set(self._entries)
        self._rebuilds += 1
        self._last_rebuild_reason = reason

    def _accept(self, memory: StoredVector) -> bool:
        """Whether ``memory``'s embedding belongs in the index (records why not)."""
        self._skipped.pop(memory.rowid, None)
        if memory.embedding is None:
            return False
        fingerprint = memory.embedder or ""
        if self._fingerprint is None:
            self._fingerprint = fingerprint
        if fingerprint != self._fingerprint:
            self._skipped[memory.rowid] = "fingerprint"
            return False
        size = int(np.asarray(memory.embedding).shape[-1])
        if self._dim is None:
            self._dim = size
        if size != self._dim:
            self._skipped[memory.rowid] = "dimension"
            return False
        return True

    def _choose_kind(self, n: int, current: str | None) -> str:
        kind = self.options.kind
        if kind == "ivf":
            keep = current == "ivf" and n >= IVF_MIN_TRAIN // 2
            return "ivf" if n >= IVF_MIN_TRAIN or keep else "flat"
        if kind == "auto":
            keep = current == "hnsw" and n >= self.options.auto_threshold // 2
            return "hnsw" if n >= self.options.auto_threshold or keep else "flat"
        return kind

    def sync(self) -> int:
        """Catch up with the storage's change sequence; return how many changes were applied."""
        with self._lock:
            if not self._opened:
                before = self._seq
                self._open()
                return max(0, self._seq - before)
            applied = self._catch_up()
            self._maybe_save()
            return applied

    def _catch_up(self) -> int:
        """Replay the changes since ``last_seen`` (one query when there are none)."""
        applied = 0
        page = _READ_CHUNK * 10
        while True:
            changes = self.storage.changes_since(self._seq, limit=page)
            if not changes:
                return applied
            if len(changes) == page and self.storage.last_seq() - self._seq > self.options.rebuild_lag:
                before = self._seq
                self._rebuild("too far behind the storage")
                return applied + self._seq - before
            self._apply(changes)
            self._seq = changes[-1].seq
            applied += len(changes)
            self._pending += len(changes)

    def _apply(self, changes: Sequence[Change]) -> None:
        latest = {change.rowid: change for change in changes}
        upserts = [rowid for rowid, change in latest.items() if change.op == "upsert"]
        found: dict[int, StoredVector] = {}
        for start in range(0, len(upserts), _READ_CHUNK):
            chunk = upserts[start : start + _READ_CHUNK]
            found.update((v.rowid, v) for v in self.storage.vectors_by_rowid(chunk))
        accepted: list[StoredVector] = []
        leaving: dict[str, list[int]] = {}  # per namespace: the changed rowids' old vectors go
        for rowid, change in latest.items():
            memory = found.get(rowid)
            leaving.setdefault(memory.namespace if memory is not None else change.namespace, []).append(rowid)
            if memory is None:
                self._skipped.pop(rowid, None)
            elif self._accept(memory):
                accepted.append(memory)
        for namespace, rowids in leaving.items():
            shard = self._shards.get(namespace)
            if shard is not None and shard.remove(rowids):
                self._dirty.add(namespace)
        with _omp_threads(None):
            self._add_memories(accepted, initial=False)
            for namespace in list(self._dirty):
                self._reshape(namespace)
        self._check_majority()

    def _add_memories(self, memories: Sequence[StoredVector], *, initial: bool) -> None:
        """Add accepted memories to their namespaces' shards (creating shards as needed).

        During a rebuild (``initial``) a new shard starts flat unless ``kind`` is hnsw: the
        final :meth:`_reshape` converts it once its size is known (IVF must train on it all).
        """
        grouped: dict[str, list[StoredVector]] = {}
        for memory in memories:
            grouped.setdefault(memory.namespace, []).append(memory)
        for namespace, group in grouped.items():
            assert self._dim is not None
            rowids = [m.rowid for m in group]
            ids = [m.id for m in group]
            matrix = np.ascontiguousarray(np.stack([m.embedding for m in group]), dtype=np.float32)  # type: ignore[misc]
            shard = self._shards.get(namespace)
            if shard is None:
                kind = "hnsw" if initial and self.options.kind == "hnsw" else None
                kind = kind or ("flat" if initial else self._choose_kind(len(rowids), None))
                self._shards[namespace] = build_shard(kind, self._dim, self._params, rowids, ids, matrix)
            else:
                shard.upsert(rowids, ids, matrix)
            self._dirty.add(namespace)

    def _reshape(self, namespace: str) -> None:
        """Drop an empty shard; convert or compact one whose kind or tombstones call for it."""
        shard = self._shards.get(namespace)
        if shard is None:
            return
        if not len(shard):
            del self._shards[namespace]
            return
        kind = self._choose_kind(len(shard), shard.kind)
        if kind != shard.kind or shard.needs_rebuild():
            assert self._dim is not None
            rowids, vectors = shard.vectors()
            ids = [shard.ids[int(r)] for r in rowids]
            self._shards[namespace] = build_shard(
                kind, self._dim, self._params, rowids.tolist(), ids, vectors
            )

    def _check_majority(self) -> None:
        """Rebuild when most embeddings now carry another fingerprint (after a re-embed)."""
        if self.options.fingerprint is not None:
            return
        mismatched = sum(1 for why in self._skipped.values() if why == "fingerprint")
        if mismatched <= self._count():
            return
        counts = self.storage.embedder_counts()
        if counts and max(counts, key=lambda fp: counts[fp]) != self._fingerprint:
            self._fingerprint = None
            self._rebuild("most embeddings now come from another embedder")

    # ---------------------------------------------------------------- persistence

    def _maybe_save(self, *, force: bool = False) -> None:
        if not self._pending and not self._dirty:
            return
        due = (
            self._pending >= self.options.save_every_changes
            or time.monotonic() - self._last_save >= self.options.save_every_seconds
        )
        if force or due:
            self._save()

    def _save(self) -> None:
        self._save_no += 1
        meta = {
            "last_seq": self._seq,
            "dim": self._dim,
            "fingerprint": self._fingerprint,
            "params": self._params_key(),
            "count": self._count(),
            "skipped": sorted([rowid, why] for rowid, why in self._skipped.items()),
            "writer": self._writer,
            "save_no": self._save_no,
            "namespaces": {ns: e for ns, e in self._entries.items() if ns in self._shards},
        }

        def arrays(names: set[str] | list[str]) -> dict[str, Any]:
            return {
                ns: {**self._shards[ns].to_arrays(), "kind": np.array([self._shards[ns].kind])}
                for ns in names
                if ns in self._shards
            }

        written = self._files.save(
            meta, self._base, lambda: arrays(self._dirty), lambda: arrays(list(self._shards))
        )
        if written is not None:
            self._entries = dict(written["namespaces"])
            self._base = (self._writer, self._save_no)
        self._dirty.clear()
        self._pending = 0
        self._last_save = time.monotonic()

    # ---------------------------------------------------------------- the protocol

    def search(self, namespace: str, vector: Vector, limit: int) -> list[Candidate]:
        """Return up to ``limit`` memories of ``namespace`` by inner product, best first.

        :raises InvalidInputError: the vector is not one row of finite numbers of the index's dimension.
        """
        query = as_query_vector(vector)
        if limit < 1:
            return []
        with self._lock:
            if self.options.auto_sync or not self._opened:
                self.sync()
            shard = self._shards.get(namespace)
            if shard is None:
                return []
            if query.shape[0] != self._dim:
                raise EmbedderMismatchError(
                    f"the query vector has dimension {query.shape[0]} but the index holds vectors of "
                    f"dimension {self._dim}; was the store embedded with another embedder? "
                    "(`memmimic reembed` re-embeds it)"
                )
            with _omp_threads(self.options.threads):
                hits = shard.search(np.ascontiguousarray(query.reshape(1, -1)), limit)
            found = shard.ids.lookup(rowid for rowid, _ in hits)
            pairs = zip(found, hits, strict=True)
            return [Candidate(mid, score) for mid, (_, score) in pairs if mid is not None]

    def lag(self) -> int:
        """Return how many changes the index is behind the storage."""
        with self._lock:
            seq = self._seq
            if not self._opened:
                meta = self._files.read_meta()
                seq = int(meta.get("last_seq", 0)) if meta else 0
            return max(0, self.storage.last_seq() - seq)

    def stats(self) -> dict[str, Any]:
        """Kind per namespace (what ``auto`` picked), counts, skipped vectors, last change seen."""
        with self._lock:
            skipped = Counter(self._skipped.values())
            return {
                "backend": self.name,
                "kind": self.options.kind,
                "precision": self.options.precision,
                "path": str(self.folder),
                "open": self._opened,
                "vectors": self._count(),
                "dimension": self._dim,
                "fingerprint": self._fingerprint,
                "last_seen": self._seq,
                "mismatched": sum(skipped.values()),
                "skipped": dict(skipped),
                "unsaved_changes": self._pending,
                "rebuilds": self._rebuilds,
                "last_rebuild_reason": self._last_rebuild_reason,
                "namespaces": {ns: shard.stats() for ns, shard in sorted(self._shards.items())},
            }

    def close(self) -> None:
        """Save unsaved changes and release the indexes; a later call reopens."""
        with self._lock:
            if self._opened:
                self._maybe_save(force=True)
            self._reset()
            self._opened = False


@contextmanager
def _omp_threads(count: int | None) -> Iterator[None]:
    """Run FAISS with ``count`` OpenMP threads (None: every core).

    One thread per single-query search: on a busy 2-core machine FAISS's OpenMP threads wait
    on each other (measured here: flat search at 100k, p50 ~110 ms with 2 threads, ~20 ms
    with 1); builds use every core.
    """
    import faiss

    faiss.omp_set_num_threads(count or os.cpu_count() or 1)
    yield


@hookimpl
def memmimic_register_vector_index(register: BackendRegistry[FaissVectorIndex]) -> None:
    """Register the ``faiss`` vector index."""
    register(FaissVectorIndex)
