"""The ``faiss`` vector index: the contract on each kind, persistence and crash recovery."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memmimic_core.errors import ConfigError, EmbedderMismatchError, InvalidInputError
from memmimic_core.models import NewMemory
from memmimic_core.protocols import BackendContext, Storage
from memmimic_core.testing.storage import reopen_spec
from memmimic_core.testing.vector_index import VectorIndexContract, unit_vectors
from memmimic_plugins.faiss_index import FaissVectorIndex


@pytest.fixture
def default_storage_only(request: pytest.FixtureRequest) -> None:
    """Skip on the PostgreSQL rerun (``--memmimic-storage postgresql``) a test that exercises the
    index alone: it ran on the default storage already, and the rerun keeps to what the
    storage changes (replaying its change sequence, other processes, rebuilds from it)."""
    name = str(request.config.getoption("--memmimic-storage"))
    if name != "sqlite":
        pytest.skip(f"index-only behaviour: checked on the default storage, not again on {name}")


class TestFaissFlatContract(VectorIndexContract):
    backend_name = "faiss"
    backend_options = {"kind": "flat"}


@pytest.mark.usefixtures("default_storage_only")
class TestFaissHnswContract(VectorIndexContract):
    backend_name = "faiss"
    backend_options = {"kind": "hnsw"}


@pytest.mark.usefixtures("default_storage_only")
class TestFaissFlatFloat32Contract(VectorIndexContract):
    backend_name = "faiss"
    backend_options = {"kind": "flat", "precision": "float32"}


@pytest.mark.usefixtures("default_storage_only")
class TestFaissFlatWithoutAutoSyncContract(VectorIndexContract):
    backend_name = "faiss"
    backend_options = {"kind": "flat", "auto_sync": False}


def add(storage: Storage, namespace: str, vectors: np.ndarray, embedder: str = "test:v1") -> list[str]:
    items = [
        NewMemory(namespace=namespace, content=f"m{i}", embedding=v, embedder=embedder)
        for i, v in enumerate(vectors)
    ]
    return [m.id for m in storage.add(items)]


def index(context: BackendContext, **options: Any) -> FaissVectorIndex:
    """The index on its own, as these tests use it: it syncs before each search (the engine would)."""
    return FaissVectorIndex(FaissVectorIndex.Options(**{"auto_sync": True, **options}), context)


def best(idx: FaissVectorIndex, namespace: str, vector: np.ndarray) -> str:
    return idx.search(namespace, vector, 1)[0].memory_id


# -- persistence ----------------------------------------------------------------------------


def test_close_saves_and_reopen_loads_without_rebuilding(
    storage: Storage, backend_context: BackendContext
) -> None:
    vectors = unit_vectors(20, 16, seed=0)
    stored = add(storage, "ns", vectors)
    first = index(backend_context, save_every_changes=10_000, save_every_seconds=3600)
    first.sync()
    first.close()
    meta = json.loads((backend_context.data_dir / "faiss" / "meta.json").read_text())
    assert (meta["last_seq"], meta["count"], meta["dim"]) == (storage.last_seq(), 20, 16)
    second = index(backend_context)
    assert best(second, "ns", vectors[7]) == stored[7]
    assert second.stats()["last_rebuild_reason"] is None


@pytest.mark.parametrize("damage", ["delete-all", "delete-shard", "garble-meta", "garble-shard"])
def test_missing_or_damaged_files_rebuild_from_storage(
    storage: Storage, backend_context: BackendContext, damage: str
) -> None:
    vectors = unit_vectors(10, 16, seed=1)
    stored = add(storage, "ns", vectors)
    first = index(backend_context)
    first.sync()
    first.close()
    folder = backend_context.data_dir / "faiss"
    shard = next(folder.glob("ns-*.npz"))
    if damage == "delete-all":
        for path in folder.iterdir():
            path.unlink()
    elif damage == "delete-shard":
        shard.unlink()
    elif damage == "garble-meta":
        (folder / "meta.json").write_text("{not json")
    else:
        shard.write_bytes(b"garbage")
    second = index(backend_context)
    assert best(second, "ns", vectors[3]) == stored[3]
    assert second.stats()["last_rebuild_reason"] is not None
    assert second.stats()["vectors"] == 10


def test_changed_settings_rebuild(storage: Storage, backend_context: BackendContext) -> None:
    vectors = unit_vectors(10, 16, seed=2)
    add(storage, "ns", vectors)
    flat = index(backend_context, kind="flat")
    flat.sync()
    flat.close()
    hnsw = index(backend_context, kind="hnsw")
    hnsw.sync()
    assert hnsw.stats()["last_rebuild_reason"] == "index settings changed"
    assert hnsw.stats()["namespaces"]["ns"]["kind"] == "hnsw"


@pytest.mark.usefixtures("default_storage_only")
@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_float16_ranks_and_scores_as_float32(
    storage: Storage, backend_context: BackendContext, kind: str
) -> None:
    """Half floats change a unit vector's inner products by ~1e-4: the same neighbours, in the
    same order, and scores that agree to 1e-3 (queries near stored vectors, where ties are rare)."""
    vectors = unit_vectors(2200, 64, seed=21)
    add(storage, "ns", vectors)
    extra = {"nprobe": 64} if kind == "ivf" else {}  # every cell: what differs is the precision alone
    half = index(
        backend_context, kind=kind, precision="float16", path=str(backend_context.data_dir / "h"), **extra
    )
    full = index(
        backend_context, kind=kind, precision="float32", path=str(backend_context.data_dir / "f"), **extra
    )
    rng = np.random.default_rng(22)
    queries = vectors[rng.choice(len(vectors), 25, replace=False)] + 0.3 * unit_vectors(25, 64, seed=23)
    for query in queries / np.linalg.norm(queries, axis=1, keepdims=True):
        got, want = half.search("ns", query, 10), full.search("ns", query, 10)
        assert [c.memory_id for c in got][:5] == [c.memory_id for c in want][:5]
        assert len({c.memory_id for c in got} & {c.memory_id for c in want}) >= 9
        assert max(abs(a.score - b.score) for a, b in zip(got, want, strict=True)) < 1e-3
    assert half.stats()["namespaces"]["ns"]["precision"] == "float16"
    assert full.stats()["namespaces"]["ns"]["precision"] == "float32"


@pytest.mark.usefixtures("default_storage_only")
def test_float16_snapshots_are_half_the_size(storage: Storage, backend_context: BackendContext) -> None:
    add(storage, "ns", unit_vectors(1000, 128, seed=24))
    sizes = {}
    for precision in ("float16", "float32"):
        folder = backend_context.data_dir / precision
        idx = index(backend_context, precision=precision, path=str(folder))
        idx.sync()
        idx.close()
        sizes[precision] = sum(f.stat().st_size for f in folder.glob("ns-*"))
    vectors_bytes = 1000 * 128 * 4
    assert sizes["float32"] - sizes["float16"] == pytest.approx(vectors_bytes / 2, rel=0.05)


def test_changed_precision_rebuilds_and_float32_snapshots_keep_loading(
    storage: Storage, backend_context: BackendContext
) -> None:
    """A float32 snapshot written before the option existed (no precision in its settings) loads
    as float32; asking for float16 rebuilds it once."""
    add(storage, "ns", unit_vectors(10, 16, seed=25))
    old = index(backend_context, precision="float32")
    old.sync()
    old.close()
    meta_file = backend_context.data_dir / "faiss" / "meta.json"
    assert "precision" not in json.loads(meta_file.read_text())["params"]
    again = index(backend_context, precision="float32")
    again.sync()
    assert again.stats()["rebuilds"] == 0
    again.close()
    half = index(backend_context, precision="float16")
    half.sync()
    assert half.stats()["last_rebuild_reason"] == "index settings changed"
    assert half.stats()["namespaces"]["ns"]["precision"] == "float16"


def test_an_emptied_namespace_loses_its_file(storage: Storage, backend_context: BackendContext) -> None:
    (mid,) = add(storage, "gone", unit_vectors(1, 16, seed=3))
    add(storage, "kept", unit_vectors(1, 16, seed=4))
    idx = index(backend_context)
    idx.sync()
    storage.delete(mid, "gone")
    idx.sync()
    idx.close()
    assert len(list((backend_context.data_dir / "faiss").glob("ns-*.npz"))) == 1


# -- kinds ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("default_storage_only")
def test_auto_picks_flat_when_small_and_hnsw_when_large(
    storage: Storage, backend_context: BackendContext
) -> None:
    idx = index(backend_context, kind="auto", auto_threshold=40)
    add(storage, "ns", unit_vectors(30, 16, seed=5))
    idx.sync()
    assert idx.stats()["namespaces"]["ns"]["kind"] == "flat"
    vectors = unit_vectors(20, 16, seed=6)
    stored = add(storage, "ns", vectors)
    idx.sync()
    assert idx.stats()["namespaces"]["ns"]["kind"] == "hnsw"
    assert best(idx, "ns", vectors[4]) == stored[4]


@pytest.mark.usefixtures("default_storage_only")
def test_ivf_trains_once_there_are_enough_vectors(storage: Storage, backend_context: BackendContext) -> None:
    vectors = unit_vectors(2100, 16, seed=7)
    stored = add(storage, "ns", vectors)
    idx = index(backend_context, kind="ivf", nprobe=64)
    for i in range(0, 2100, 300):
        assert best(idx, "ns", vectors[i]) == stored[i]
    shard = idx.stats()["namespaces"]["ns"]
    assert (shard["kind"], shard["nlist"]) == ("ivf", 45)
    storage.delete(stored[0], "ns")
    assert stored[0] not in [c.memory_id for c in idx.search("ns", vectors[0], 5)]


@pytest.mark.usefixtures("default_storage_only")
def test_ivf_stays_flat_while_small(storage: Storage, backend_context: BackendContext) -> None:
    add(storage, "ns", unit_vectors(50, 16, seed=8))
    idx = index(backend_context, kind="ivf")
    idx.sync()
    assert idx.stats()["namespaces"]["ns"]["kind"] == "flat"


@pytest.mark.usefixtures("default_storage_only")
def test_hnsw_tombstones_are_compacted(storage: Storage, backend_context: BackendContext) -> None:
    vectors = unit_vectors(400, 16, seed=9)
    stored = add(storage, "ns", vectors)
    idx = index(backend_context, kind="hnsw", tombstone_ratio=0.2)
    idx.sync()
    for mid in stored[:60]:
        storage.delete(mid, "ns")
    idx.sync()
    assert idx.stats()["namespaces"]["ns"]["tombstones"] == 60
    for mid in stored[60:100]:
        storage.delete(mid, "ns")
    idx.sync()
    assert idx.stats()["namespaces"]["ns"] == {
        "kind": "hnsw",
        "count": 300,
        "tombstones": 0,
        "m": 32,
        "precision": "float16",
    }
    assert best(idx, "ns", vectors[250]) == stored[250]
    assert not set(stored[:100]) & {c.memory_id for c in idx.search("ns", vectors[5], 50)}


# -- embedder fingerprints and bad input ----------------------------------------------------


@pytest.mark.usefixtures("default_storage_only")
def test_vectors_of_another_embedder_are_skipped_and_counted(
    storage: Storage, backend_context: BackendContext
) -> None:
    good = add(storage, "ns", unit_vectors(3, 16, seed=10))
    add(storage, "ns", unit_vectors(2, 16, seed=11), embedder="other:v2")
    add(storage, "ns", unit_vectors(1, 8, seed=12))
    idx = index(backend_context)
    idx.sync()
    stats = idx.stats()
    assert (stats["fingerprint"], stats["vectors"]) == ("test:v1", 3)
    assert stats["skipped"] == {"fingerprint": 2, "dimension": 1}
    found = {c.memory_id for c in idx.search("ns", unit_vectors(1, 16, seed=13)[0], 10)}
    assert found == set(good)


def test_a_reembedded_store_switches_to_the_new_fingerprint(
    storage: Storage, backend_context: BackendContext
) -> None:
    stored = add(storage, "ns", unit_vectors(4, 16, seed=14))
    idx = index(backend_context)
    idx.sync()
    new = unit_vectors(4, 16, seed=15)
    storage.set_embeddings(list(zip(stored, new, strict=True)), "test:v2")
    assert best(idx, "ns", new[2]) == stored[2]
    assert (idx.stats()["fingerprint"], idx.stats()["vectors"]) == ("test:v2", 4)


def test_a_configured_fingerprint_is_the_only_one_indexed(
    storage: Storage, backend_context: BackendContext
) -> None:
    add(storage, "ns", unit_vectors(3, 16, seed=16))
    (wanted,) = add(storage, "ns", unit_vectors(1, 16, seed=17), embedder="chosen:v1")
    idx = index(backend_context, fingerprint="chosen:v1")
    assert [c.memory_id for c in idx.search("ns", unit_vectors(1, 16, seed=18)[0], 10)] == [wanted]


@pytest.mark.usefixtures("default_storage_only")
def test_a_query_of_the_wrong_dimension_is_a_clear_error(
    storage: Storage, backend_context: BackendContext
) -> None:
    add(storage, "ns", unit_vectors(2, 16, seed=19))
    with pytest.raises(EmbedderMismatchError, match="dimension 8"):
        index(backend_context).search("ns", unit_vectors(1, 8, seed=20)[0], 5)


@pytest.mark.usefixtures("default_storage_only")
@pytest.mark.parametrize("bad", [np.zeros((2, 16)), np.array([np.nan] * 16), np.zeros((0,))])
def test_bad_query_vectors_are_invalid_input(
    backend_context: BackendContext, storage: Storage, bad: Any
) -> None:
    with pytest.raises(InvalidInputError):
        index(backend_context).search("ns", bad, 5)


@pytest.mark.usefixtures("default_storage_only")
def test_without_a_storage_it_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs the store's storage"):
        FaissVectorIndex(None, BackendContext(data_dir=tmp_path))


@pytest.mark.usefixtures("default_storage_only")
def test_importing_the_plugin_does_not_import_faiss() -> None:
    code = "import sys, memmimic_plugins.faiss_index; assert 'faiss' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- other processes and crashes (real subprocesses) ----------------------------------------
# The writer opens the same store as the test (the backend of --memmimic-storage, with the
# test's options, e.g. its throwaway PostgreSQL schema) and the same faiss folder.

WRITER = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from memmimic_core.models import NewMemory
    from memmimic_core.plugins import build_plugin_manager, collect_backends
    from memmimic_core.protocols import BackendContext
    from memmimic_core.testing.vector_index import unit_vectors

    data_dir, mode, seed = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    storage_name, storage_options = sys.argv[4], json.loads(sys.argv[5])
    backends = collect_backends(build_plugin_manager())
    context = BackendContext(data_dir=data_dir)
    context.storage = backends["storage"].create(storage_name, storage_options, context, "storage")
    lazy = {"save_every_changes": 100_000, "save_every_seconds": 3600}
    index = backends["vector_index"].create("faiss", lazy, context, "vector_index")
    index.sync()
    vectors = unit_vectors(5, 16, seed=seed)
    items = [NewMemory(namespace="ns", content=f"w{i}", embedding=v, embedder="test:v1")
             for i, v in enumerate(vectors)]
    print(json.dumps([m.id for m in context.storage.add(items)]), flush=True)
    if mode == "kill-before-index-save":
        index.sync()  # applied in memory, not yet saved
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "kill-before-index-sync":
        os.kill(os.getpid(), signal.SIGKILL)
    index.close()
    context.storage.close()
    """
)


def run_writer(storage: Storage, context: BackendContext, mode: str, seed: int) -> tuple[int, list[str]]:
    name, options, data_dir = reopen_spec(storage, context)
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(data_dir), mode, str(seed), name, json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    ids = json.loads(done.stdout.splitlines()[0]) if done.stdout else []
    assert ids, done.stderr
    return done.returncode, ids


@pytest.mark.parametrize("mode", ["kill-before-index-save", "kill-before-index-sync"])
def test_a_writer_killed_after_the_commit_is_caught_up_on_reopen(
    storage: Storage, backend_context: BackendContext, mode: str
) -> None:
    before = add(storage, "ns", unit_vectors(10, 16, seed=21))
    idx = index(backend_context)
    idx.sync()
    idx.close()
    saved_seq = storage.last_seq()
    returncode, written = run_writer(storage, backend_context, mode, seed=22)
    assert returncode == -signal.SIGKILL
    meta = json.loads((backend_context.data_dir / "faiss" / "meta.json").read_text())
    assert meta["last_seq"] == saved_seq  # the index never saved the writer's memories
    reopened = index(backend_context)
    vectors = unit_vectors(5, 16, seed=22)
    assert [best(reopened, "ns", v) for v in vectors] == written
    stats = reopened.stats()
    assert (stats["vectors"], stats["last_seen"]) == (15, storage.last_seq())
    assert stats["last_rebuild_reason"] is None  # replayed the changes, no rebuild
    assert best(reopened, "ns", unit_vectors(10, 16, seed=21)[4]) == before[4]


def test_another_process_writes_are_seen_without_reopening(
    storage: Storage, backend_context: BackendContext
) -> None:
    add(storage, "ns", unit_vectors(10, 16, seed=23))
    mine = index(backend_context)
    mine.sync()
    returncode, written = run_writer(storage, backend_context, "close", seed=24)
    assert returncode == 0
    vectors = unit_vectors(5, 16, seed=24)
    assert [best(mine, "ns", v) for v in vectors] == written
    mine.close()  # the other process saved too: this save must not lose anything
    again = index(backend_context)
    again.sync()
    assert (again.stats()["vectors"], again.stats()["last_rebuild_reason"]) == (15, None)
    assert best(again, "ns", vectors[3]) == written[3]


def test_a_long_lag_rebuilds_instead_of_replaying(storage: Storage, backend_context: BackendContext) -> None:
    idx = index(backend_context, auto_sync=False, rebuild_lag=3)
    idx.sync()
    vectors = unit_vectors(10_001, 16, seed=25)
    stored = add(storage, "ns", vectors)
    idx.sync()
    assert idx.stats()["last_rebuild_reason"] == "too far behind the storage"
    assert (idx.stats()["vectors"], best(idx, "ns", vectors[9])) == (10_001, stored[9])
