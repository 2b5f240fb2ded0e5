"""The ``numpy`` vector index: the vector-index contract plus replay, rebuild and mismatch handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memmimic_core.errors import ConfigError, EmbedderMismatchError, InvalidInputError
from memmimic_core.models import NewMemory
from memmimic_core.protocols import BackendContext, Storage
from memmimic_core.testing.vector_index import VectorIndexContract, unit_vectors
from memmimic_plugins.numpy_index import NumpyVectorIndex

from .conftest import needs_two_cores, other_threads_cpu_during


class TestNumpyContract(VectorIndexContract):
    backend_name = "numpy"


class TestNumpyWithoutAutoSyncContract(VectorIndexContract):
    backend_name = "numpy"
    backend_options = {"auto_sync": False}


def add(storage: Storage, namespace: str, vectors: np.ndarray) -> list[str]:
    items = [
        NewMemory(namespace=namespace, content=f"m{i}", embedding=v, embedder="test:v1")
        for i, v in enumerate(vectors)
    ]
    return [m.id for m in storage.add(items)]


def index(context: BackendContext, **options: object) -> NumpyVectorIndex:
    return NumpyVectorIndex(NumpyVectorIndex.Options(**options), context)  # type: ignore[arg-type]


def test_first_sync_loads_everything_then_replays_only_changes(
    storage: Storage, backend_context: BackendContext
) -> None:
    add(storage, "ns", unit_vectors(5, 8, seed=0))
    idx = index(backend_context, auto_sync=False)
    assert idx.lag() == storage.last_seq() > 0
    assert idx.sync() == 5  # loaded memories
    assert idx.sync() == 0
    add(storage, "ns", unit_vectors(2, 8, seed=1))
    assert idx.sync() == 2  # replayed changes
    assert idx.stats()["vectors"] == 7
    assert idx.stats()["last_seen"] == storage.last_seq()


def test_without_auto_sync_search_shows_the_last_synced_state(
    storage: Storage, backend_context: BackendContext
) -> None:
    vectors = unit_vectors(2, 8, seed=2)
    (first,) = add(storage, "ns", vectors[:1])
    idx = index(backend_context, auto_sync=False)
    idx.sync()
    add(storage, "ns", vectors[1:])
    assert [c.memory_id for c in idx.search("ns", vectors[1], 5)] == [first]
    assert idx.lag() > 0


def test_auto_sync_searches_see_new_writes(storage: Storage, backend_context: BackendContext) -> None:
    idx = index(backend_context)
    vectors = unit_vectors(3, 8, seed=3)
    stored = add(storage, "ns", vectors)
    assert idx.search("ns", vectors[1], 1)[0].memory_id == stored[1]


def test_a_long_lag_rebuilds_instead_of_replaying(storage: Storage, backend_context: BackendContext) -> None:
    idx = index(backend_context, auto_sync=False, rebuild_lag=3)
    idx.sync()
    stored = add(storage, "ns", unit_vectors(10, 8, seed=4))
    for mid in stored[:6]:
        storage.delete(mid, "ns")
    assert idx.lag() >= 16
    assert idx.sync() == 4  # the memories reloaded, not the 16 changes
    assert idx.stats()["vectors"] == 4
    assert idx.lag() == 0


def test_vectors_of_another_dimension_are_skipped_and_counted(
    storage: Storage, backend_context: BackendContext
) -> None:
    good = add(storage, "ns", unit_vectors(3, 8, seed=5))
    add(storage, "ns", unit_vectors(2, 16, seed=6))
    idx = index(backend_context)
    idx.sync()
    stats = idx.stats()
    assert (stats["dimension"], stats["vectors"], stats["mismatched"]) == (8, 3, 2)
    found = {c.memory_id for c in idx.search("ns", unit_vectors(1, 8, seed=7)[0], 10)}
    assert found == set(good)


def test_a_query_of_the_wrong_dimension_is_a_clear_error(
    storage: Storage, backend_context: BackendContext
) -> None:
    add(storage, "ns", unit_vectors(2, 8, seed=8))
    with pytest.raises(EmbedderMismatchError, match="dimension 4"):
        index(backend_context).search("ns", unit_vectors(1, 4, seed=9)[0], 5)


def test_a_matrix_is_not_a_query(storage: Storage, backend_context: BackendContext) -> None:
    with pytest.raises(InvalidInputError, match="one vector"):
        index(backend_context).search("ns", unit_vectors(3, 8, seed=10), 5)


def test_a_one_row_matrix_is_accepted(storage: Storage, backend_context: BackendContext) -> None:
    vectors = unit_vectors(1, 8, seed=11)
    (mid,) = add(storage, "ns", vectors)
    assert [c.memory_id for c in index(backend_context).search("ns", vectors, 5)] == [mid]


def test_many_deletes_keep_the_remaining_vectors_findable(
    storage: Storage, backend_context: BackendContext
) -> None:
    vectors = unit_vectors(40, 8, seed=12)
    stored = add(storage, "ns", vectors)
    idx = index(backend_context)
    idx.sync()
    for mid in stored[::3]:
        storage.delete(mid, "ns")
    idx.sync()
    for i in range(1, 40, 3):
        assert idx.search("ns", vectors[i], 1)[0].memory_id == stored[i]
    assert idx.stats()["vectors"] == 40 - len(stored[::3])


def test_close_drops_the_vectors_and_the_next_sync_reloads(
    storage: Storage, backend_context: BackendContext
) -> None:
    add(storage, "ns", unit_vectors(4, 8, seed=13))
    idx = index(backend_context)
    idx.sync()
    idx.close()
    assert idx.stats()["vectors"] == 0
    assert idx.sync() == 4


def test_without_a_storage_it_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs the store's storage"):
        NumpyVectorIndex(None, BackendContext(data_dir=tmp_path))


@needs_two_cores
def test_a_search_wakes_no_blas_helper_threads(storage: Storage, backend_context: BackendContext) -> None:
    # numpy's OpenBLAS runs a 3,000-row matrix-vector product on every core (no faster) and its
    # helper thread then spins for up to ~0.1 s, beside the encoder or a concurrent recall
    add(storage, "default", unit_vectors(3000, 384, seed=5))
    idx = index(backend_context)
    query = unit_vectors(1, 384, seed=6)[0]
    idx.search("default", query, 10)  # loaded before measuring
    assert other_threads_cpu_during(lambda: idx.search("default", query, 10)) < 0.1
