"""One FAISS index per namespace ("shard"), keyed by the memory's storage rowid.

Vectors are held as float32 or, with ``precision: float16``, as half floats (FAISS's scalar
quantizer ``QT_fp16``): half the memory and half the bytes a flat scan reads, scores within
~1e-4 of float32's for unit vectors.

``flat`` and ``ivf`` shards remove vectors in place; HNSW cannot, so an ``hnsw`` shard gives
each added vector a fresh label, hides replaced or deleted labels with a search-time selector
(tombstones) and is rebuilt from its own vectors when tombstones pass a fraction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from memmimic_core.models import Vector

from .idmap import IdMap

__all__ = [
    "IVF_MIN_TRAIN",
    "FlatShard",
    "build_shard",
    "HnswShard",
    "IvfShard",
    "Shard",
    "ShardParams",
    "load_shard",
]

IVF_MIN_TRAIN = 2048  # fewer vectors than this train poor centroids: an ivf shard stays flat until then

Arrays = dict[str, np.ndarray[Any, Any]]


def _faiss() -> Any:
    import faiss

    return faiss


@dataclass(frozen=True)
class ShardParams:
    """Index parameters shared by every shard of one vector index."""

    hnsw_m: int = 32
    ef_search: int = 64
    ef_construction: int = 80
    nlist: int | None = None
    nprobe: int = 16
    tombstone_ratio: float = 0.2
    precision: str = "float32"  # or "float16"

    def index(self, dim: int, layout: str) -> Any:
        """A FAISS inner-product index: ``layout`` (``IDMap2``, ``HNSW32``, ``IVF100``) over the
        vectors stored at this precision (``Flat``: float32, ``SQfp16``: half floats)."""
        faiss = _faiss()
        storage = "SQfp16" if self.precision == "float16" else "Flat"
        return faiss.index_factory(dim, f"{layout},{storage}", faiss.METRIC_INNER_PRODUCT)

    def nlist_for(self, n: int) -> int:
        """The number of IVF lists for ``n`` vectors (√n unless configured)."""
        if self.nlist is not None:
            return self.nlist
        return max(1, min(int(math.sqrt(n)), n // 39 or 1))


class Shard:
    """A namespace's vectors: rowid → memory id, plus the FAISS index holding the vectors."""

    kind: ClassVar[str] = ""

    def __init__(self, dim: int, params: ShardParams) -> None:
        self.dim = dim
        self.params = params
        self.ids = IdMap()
        self.index: Any = None

    def __len__(self) -> int:
        return len(self.ids)

    def upsert(self, rowids: Sequence[int], memory_ids: Sequence[str], vectors: Vector) -> None:
        """Add vectors, replacing any the rowids already had."""
        self.remove(rowids)
        if len(rowids):
            self._add(np.asarray(rowids, dtype=np.int64), np.ascontiguousarray(vectors, dtype=np.float32))
            self.ids.update(zip(rowids, memory_ids, strict=True))

    def remove(self, rowids: Sequence[int]) -> int:
        """Remove the vectors of ``rowids`` (unknown rowids are ignored); return how many went."""
        known = [r for r, hit in zip(rowids, self.ids.contains_many(rowids), strict=True) if hit]
        if known:
            self._remove(np.asarray(known, dtype=np.int64))
            for rowid in known:
                del self.ids[rowid]
        return len(known)

    def search(self, query: Vector, k: int) -> list[tuple[int, float]]:
        """Return up to ``k`` (rowid, inner product) pairs, best first."""
        if not self.ids:
            return []
        scores, labels = self._search(query, min(k, len(self.ids)))
        return [(r, s) for r, s in zip(labels[0].tolist(), scores[0].tolist(), strict=True) if r >= 0]

    def needs_rebuild(self) -> bool:
        """Whether the shard should be rebuilt from its own vectors (tombstones, stale training)."""
        return False

    def vectors(self) -> tuple[np.ndarray[Any, Any], Vector]:
        """Return every live (rowid, vector) pair, for conversions and rebuilds."""
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        """Facts for status."""
        return {"kind": self.kind, "count": len(self.ids), "precision": self.params.precision}

    def to_arrays(self) -> Arrays:
        """Serialize to arrays (the FAISS index as bytes)."""
        rowids, memory_ids = self.ids.to_arrays()
        return {"index": _faiss().serialize_index(self.index), "rowids": rowids, "memory_ids": memory_ids}

    def _restore(self, arrays: Arrays) -> None:
        self.index = _faiss().deserialize_index(arrays["index"])
        self.ids = IdMap.from_arrays(arrays["rowids"], arrays["memory_ids"])

    def _add(self, rowids: np.ndarray[Any, Any], vectors: Vector) -> None:
        raise NotImplementedError

    def _remove(self, rowids: np.ndarray[Any, Any]) -> None:
        raise NotImplementedError

    def _search(self, query: Vector, k: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        return self.index.search(query, k)


class FlatShard(Shard):
    """Exhaustive inner product (``IndexIDMap2`` over ``IndexFlatIP``, or over an fp16
    ``IndexScalarQuantizer``): exact, up to the stored precision."""

    kind = "flat"

    def __init__(self, dim: int, params: ShardParams) -> None:
        super().__init__(dim, params)
        self.index = params.index(dim, "IDMap2")

    def _add(self, rowids: np.ndarray[Any, Any], vectors: Vector) -> None:
        self.index.add_with_ids(vectors, rowids)

    def _remove(self, rowids: np.ndarray[Any, Any]) -> None:
        self.index.remove_ids(_faiss().IDSelectorBatch(rowids))

    def vectors(self) -> tuple[np.ndarray[Any, Any], Vector]:
        faiss = _faiss()
        rowids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        return rowids, self.index.index.reconstruct_n(0, self.index.ntotal)


class HnswShard(Shard):
    """Approximate search on an HNSW graph (``IndexHNSWFlat`` or, fp16, ``IndexHNSWSQ``; inner
    product) with tombstones."""

    kind = "hnsw"

    def __init__(self, dim: int, params: ShardParams) -> None:
        super().__init__(dim, params)
        self.index = params.index(dim, f"HNSW{params.hnsw_m}")
        self.index.hnsw.efConstruction = params.ef_construction
        self.labels: list[int] = []  # label → rowid, -1 once dead
        self.label_of: dict[int, int] = {}
        self.dead: set[int] = set()
        self._selector: Any = None

    def _add(self, rowids: np.ndarray[Any, Any], vectors: Vector) -> None:
        start = len(self.labels)
        self.index.add(vectors)
        for offset, rowid in enumerate(rowids.tolist()):
            self.labels.append(rowid)
            self.label_of[rowid] = start + offset

    def _remove(self, rowids: np.ndarray[Any, Any]) -> None:
        for rowid in rowids.tolist():
            label = self.label_of.pop(rowid)
            self.labels[label] = -1
            self.dead.add(label)
        self._selector = None

    def _search(self, query: Vector, k: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        faiss = _faiss()
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.params.ef_search, k)
        if self.dead:
            if self._selector is None:
                batch = faiss.IDSelectorBatch(np.fromiter(self.dead, dtype=np.int64, count=len(self.dead)))
                self._selector = (batch, faiss.IDSelectorNot(batch))
            params.sel = self._selector[1]
        scores, labels = self.index.search(query, k, params=params)
        rowids = np.array([[self.labels[x] if x >= 0 else -1 for x in labels[0]]], dtype=np.int64)
        return scores, rowids

    def needs_rebuild(self) -> bool:
        return len(self.dead) > max(64, self.params.tombstone_ratio * len(self.labels))

    def vectors(self) -> tuple[np.ndarray[Any, Any], Vector]:
        live = np.array([label for label, rowid in enumerate(self.labels) if rowid >= 0], dtype=np.int64)
        if not len(live):
            return live, np.zeros((0, self.dim), dtype=np.float32)
        everything = self.index.reconstruct_n(0, self.index.ntotal)
        return np.array(self.labels, dtype=np.int64)[live], everything[live]

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "tombstones": len(self.dead), "m": self.params.hnsw_m}

    def to_arrays(self) -> Arrays:
        return {**super().to_arrays(), "labels": np.array(self.labels, dtype=np.int64)}

    def _restore(self, arrays: Arrays) -> None:
        super()._restore(arrays)
        self.labels = arrays["labels"].tolist()
        self.label_of = {rowid: label for label, rowid in enumerate(self.labels) if rowid >= 0}
        self.dead = {label for label, rowid in enumerate(self.labels) if rowid < 0}
        self._selector = None


class IvfShard(Shard):
    """Inverted lists over k-means cells (``IndexIVFFlat`` or, fp16, ``IndexIVFScalarQuantizer``;
    inner product), trained on build."""

    kind = "ivf"

    def __init__(self, dim: int, params: ShardParams, training: Vector | None = None) -> None:
        super().__init__(dim, params)
        self.trained_on = 0
        if training is not None:
            faiss = _faiss()
            nlist = params.nlist_for(len(training))
            self.index = params.index(dim, f"IVF{nlist}")
            self.index.set_direct_map_type(faiss.DirectMap.Hashtable)
            self.index.cp.seed = 1234
            self.index.train(np.ascontiguousarray(training, dtype=np.float32))
            self.trained_on = len(training)

    def _add(self, rowids: np.ndarray[Any, Any], vectors: Vector) -> None:
        self.index.add_with_ids(vectors, rowids)

    def _remove(self, rowids: np.ndarray[Any, Any]) -> None:
        faiss = _faiss()
        keep_alive = np.ascontiguousarray(rowids, dtype=np.int64)  # the selector borrows this buffer
        self.index.remove_ids(faiss.IDSelectorArray(len(keep_alive), faiss.swig_ptr(keep_alive)))

    def _search(self, query: Vector, k: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        params = _faiss().SearchParametersIVF()
        params.nprobe = min(self.params.nprobe, self.index.nlist)
        return self.index.search(query, k, params=params)

    def needs_rebuild(self) -> bool:
        return self.params.nlist is None and len(self.ids) > 4 * max(self.trained_on, IVF_MIN_TRAIN)

    def vectors(self) -> tuple[np.ndarray[Any, Any], Vector]:
        rowids = np.fromiter(self.ids.keys(), dtype=np.int64, count=len(self.ids))
        if not len(rowids):
            return rowids, np.zeros((0, self.dim), dtype=np.float32)
        return rowids, self.index.reconstruct_batch(rowids)

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "nlist": int(self.index.nlist), "nprobe": self.params.nprobe}

    def to_arrays(self) -> Arrays:
        return {**super().to_arrays(), "trained_on": np.array([self.trained_on], dtype=np.int64)}

    def _restore(self, arrays: Arrays) -> None:
        super()._restore(arrays)
        self.trained_on = int(arrays["trained_on"][0])


_KINDS: dict[str, type[Shard]] = {"flat": FlatShard, "hnsw": HnswShard, "ivf": IvfShard}


def load_shard(kind: str, dim: int, params: ShardParams, arrays: Arrays) -> Shard:
    """Rebuild a shard object from :meth:`Shard.to_arrays` output."""
    shard = _KINDS[kind].__new__(_KINDS[kind])
    Shard.__init__(shard, dim, params)
    if isinstance(shard, HnswShard):
        shard.labels, shard.label_of, shard.dead, shard._selector = [], {}, set(), None
    shard._restore(arrays)
    if shard.index.d != dim:
        raise ValueError(f"shard dimension {shard.index.d} != {dim}")
    return shard


def build_shard(
    kind: str,
    dim: int,
    params: ShardParams,
    rowids: Sequence[int],
    memory_ids: Sequence[str],
    vectors: Vector,
) -> Shard:
    """Build a shard of ``kind`` holding ``vectors`` (IVF trains on them)."""
    shard: Shard
    if kind == "ivf":
        shard = IvfShard(dim, params, training=vectors)
    elif kind == "hnsw":
        shard = HnswShard(dim, params)
    else:
        shard = FlatShard(dim, params)
    shard.upsert(rowids, memory_ids, vectors)
    return shard
