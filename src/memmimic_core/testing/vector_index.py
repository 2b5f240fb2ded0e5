"""The vector index contract: subclass :class:`VectorIndexContract` to test a vector index.

The suite needs no embedder: it writes random unit vectors straight into the ``storage``
fixture (``NewMemory(..., embedding=vec, embedder="test:v1")``, ``set_embeddings``,
``MemoryPatch(embedding=...)``) and checks what your index finds after ``sync()``. Name a
registered backend (``backend_name = "my-index"``, ``backend_options``) or override
``make_vector_index``: a fixture returning a function that builds a new index instance on the
test's storage (the suite builds two to act as two processes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import pytest

from ..models import MemoryPatch, NewMemory, Vector
from ..plugins import Backends
from ..protocols import BackendContext, Storage, VectorIndex
from ._support import build_backend, close_backend

__all__ = ["VectorIndexContract", "unit_vectors"]

FINGERPRINT = "test:v1"


def unit_vectors(n: int, dimension: int, seed: int) -> Vector:
    """Return ``n`` random float32 rows of unit length."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


class VectorIndexContract:
    """Behaviour every vector index must show: exact self-match, isolation, catching up."""

    backend_name: ClassVar[str | None] = None
    backend_options: ClassVar[Mapping[str, Any]] = {}
    dimension: ClassVar[int] = 16

    @pytest.fixture
    def make_vector_index(
        self, memmimic_backends: Backends, backend_context: BackendContext, storage: Storage
    ) -> Iterator[Callable[[], VectorIndex]]:
        """Return a function that builds a new index instance on the test's storage."""
        made: list[VectorIndex] = []

        def make() -> VectorIndex:
            made.append(build_backend(self, memmimic_backends, "vector_index", backend_context))
            return made[-1]

        yield make
        for index in made:
            close_backend(index)

    @pytest.fixture
    def vector_index(self, make_vector_index: Callable[[], VectorIndex]) -> VectorIndex:
        """The vector index under test."""
        return make_vector_index()

    def vectors(self, n: int, seed: int = 0) -> Vector:
        """Random unit vectors of the suite's dimension."""
        return unit_vectors(n, self.dimension, seed)

    @staticmethod
    def add(storage: Storage, namespace: str, vectors: Vector | None, n: int | None = None) -> list[str]:
        """Store one memory per vector (or ``n`` without vectors) and return their ids."""
        count = len(vectors) if vectors is not None else (n or 1)
        items = [
            NewMemory(
                namespace=namespace,
                content=f"memory {i} of {namespace}",
                embedding=None if vectors is None else vectors[i],
                embedder=None if vectors is None else FINGERPRINT,
            )
            for i in range(count)
        ]
        return [m.id for m in storage.add(items)]

    @staticmethod
    def top(index: VectorIndex, namespace: str, vector: Vector, limit: int = 5) -> list[str]:
        """Sync, search and return the ids found, best first."""
        index.sync()
        return [c.memory_id for c in index.search(namespace, vector, limit)]

    # -- the basics -------------------------------------------------------------------------

    def test_satisfies_the_protocol(self, vector_index: VectorIndex) -> None:
        assert isinstance(vector_index, VectorIndex)

    def test_empty_index_finds_nothing(self, vector_index: VectorIndex) -> None:
        assert self.top(vector_index, "ns", self.vectors(1)[0]) == []

    def test_sync_picks_up_adds(self, storage: Storage, vector_index: VectorIndex) -> None:
        vectors = self.vectors(5)
        found = self.add(storage, "ns", vectors)
        assert self.top(vector_index, "ns", vectors[2], limit=1) == [found[2]]

    def test_nearest_neighbour_of_a_stored_vector_is_itself(
        self, storage: Storage, vector_index: VectorIndex
    ) -> None:
        vectors = self.vectors(60, seed=1)
        stored = self.add(storage, "ns", vectors)
        vector_index.sync()
        for i in range(0, 60, 7):
            best = vector_index.search("ns", vectors[i], 3)[0]
            assert best.memory_id == stored[i]
            assert best.score == pytest.approx(1.0, abs=1e-3)

    def test_results_are_most_similar_first(self, storage: Storage, vector_index: VectorIndex) -> None:
        vectors = self.vectors(30, seed=2)
        self.add(storage, "ns", vectors)
        vector_index.sync()
        scores = [c.score for c in vector_index.search("ns", self.vectors(1, seed=99)[0], 10)]
        assert len(scores) == 10
        assert scores == sorted(scores, reverse=True)

    def test_limit_is_honoured(self, storage: Storage, vector_index: VectorIndex) -> None:
        vectors = self.vectors(12, seed=3)
        self.add(storage, "ns", vectors)
        assert len(self.top(vector_index, "ns", vectors[0], limit=4)) == 4
        assert len(self.top(vector_index, "ns", vectors[0], limit=100)) == 12

    def test_memories_without_vectors_are_not_found(
        self, storage: Storage, vector_index: VectorIndex
    ) -> None:
        self.add(storage, "ns", None, n=3)
        assert self.top(vector_index, "ns", self.vectors(1)[0]) == []

    # -- namespaces -------------------------------------------------------------------------

    def test_namespaces_are_isolated(self, storage: Storage, vector_index: VectorIndex) -> None:
        vectors = self.vectors(10, seed=4)
        alice = self.add(storage, "alice", vectors[:5])
        bob = self.add(storage, "bob", vectors[5:])
        vector_index.sync()
        for vector in vectors:
            assert set(self.top(vector_index, "alice", vector, limit=10)) <= set(alice)
            assert set(self.top(vector_index, "bob", vector, limit=10)) <= set(bob)
        assert self.top(vector_index, "carol", vectors[0]) == []

    def test_same_vector_in_two_namespaces(self, storage: Storage, vector_index: VectorIndex) -> None:
        vector = self.vectors(1, seed=5)
        (mine,) = self.add(storage, "alice", vector)
        (theirs,) = self.add(storage, "bob", vector)
        assert self.top(vector_index, "alice", vector[0]) == [mine]
        assert self.top(vector_index, "bob", vector[0]) == [theirs]

    # -- catching up ------------------------------------------------------------------------

    def test_lag_is_zero_after_sync(self, storage: Storage, vector_index: VectorIndex) -> None:
        self.add(storage, "ns", self.vectors(3))
        applied = vector_index.sync()
        assert isinstance(applied, int) and applied >= 0
        assert vector_index.lag() == 0

    def test_sync_picks_up_updated_vectors(self, storage: Storage, vector_index: VectorIndex) -> None:
        old, new = self.vectors(2, seed=6)
        (mid,) = self.add(storage, "ns", old[None, :])
        others = self.add(storage, "ns", self.vectors(5, seed=7))
        assert self.top(vector_index, "ns", old, limit=1) == [mid]
        storage.update(mid, "ns", MemoryPatch(embedding=new, embedder=FINGERPRINT))
        assert self.top(vector_index, "ns", new, limit=1) == [mid]
        scores = {c.memory_id: c.score for c in vector_index.search("ns", old, 10)}
        assert scores[mid] == pytest.approx(float(old @ new), abs=1e-3)  # the new vector, once
        assert len(scores) == 1 + len(others)

    def test_sync_picks_up_deletes(self, storage: Storage, vector_index: VectorIndex) -> None:
        vectors = self.vectors(4, seed=8)
        stored = self.add(storage, "ns", vectors)
        assert self.top(vector_index, "ns", vectors[0], limit=1) == [stored[0]]
        storage.delete(stored[0], "ns")
        found = self.top(vector_index, "ns", vectors[0], limit=10)
        assert stored[0] not in found
        assert sorted(found) == sorted(stored[1:])

    def test_sync_picks_up_set_embeddings(self, storage: Storage, vector_index: VectorIndex) -> None:
        (mid,) = self.add(storage, "ns", None, n=1)
        vector = self.vectors(1, seed=9)[0]
        assert self.top(vector_index, "ns", vector) == []
        storage.set_embeddings([(mid, vector)], FINGERPRINT)
        assert self.top(vector_index, "ns", vector, limit=1) == [mid]

    def test_a_cleared_embedding_leaves_the_index(self, storage: Storage, vector_index: VectorIndex) -> None:
        vectors = self.vectors(2, seed=10)
        cleared, kept = self.add(storage, "ns", vectors)
        assert sorted(self.top(vector_index, "ns", vectors[0])) == sorted([cleared, kept])
        storage.update(
            cleared, "ns", MemoryPatch(content="rewritten, not yet embedded", clear_embedding=True)
        )
        assert self.top(vector_index, "ns", vectors[0]) == [kept]

    def test_a_second_instance_catches_up(
        self, storage: Storage, make_vector_index: Callable[[], VectorIndex]
    ) -> None:
        first = make_vector_index()
        early = self.add(storage, "ns", self.vectors(3, seed=11))
        first.sync()
        second = make_vector_index()  # another process opening the same store
        second.sync()
        assert second.lag() == 0
        late_vectors = self.vectors(2, seed=12)
        late = self.add(storage, "ns", late_vectors)
        assert first.lag() > 0
        assert self.top(first, "ns", late_vectors[0], limit=1) == [late[0]]
        assert self.top(second, "ns", late_vectors[1], limit=1) == [late[1]]
        assert len(self.top(second, "ns", late_vectors[0], limit=10)) == len(early) + len(late)

    def test_stats_is_a_dict(self, vector_index: VectorIndex) -> None:
        vector_index.sync()
        assert isinstance(vector_index.stats(), dict)
