"""The tantivy index's in-memory tail: exact read-your-writes without waiting for a commit.

Every test runs on the storage chosen with ``--memmimic-storage`` (sqlite by default). The
background committer is held off (``commit_interval_ms`` of an hour) unless a test is about it,
so "no commit happened" is checked on the state file, never by timing.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memmimic_core.models import Filters, MemoryPatch, NewMemory, TextQuery, WeightedTerm
from memmimic_core.plugins import Backends
from memmimic_core.protocols import BackendContext, Storage

pytest.importorskip("tantivy")

from memmimic_plugins.tantivy_index.scoring import FIELDNORMS, fieldnorm

HOLD = {"commit_interval_ms": 3_600_000}  # the committer never fires on its own
MakeIndex = Callable[..., Any]


@pytest.fixture
def make_index(
    memmimic_backends: Backends, backend_context: BackendContext, storage: Storage
) -> Iterator[MakeIndex]:
    """Build tantivy indexes on the test's storage (committer held off unless overridden)."""
    made: list[Any] = []

    def make(**options: Any) -> Any:
        options = {**HOLD, **options}
        made.append(memmimic_backends["text_index"].create("tantivy", options, backend_context, "text_index"))
        return made[-1]

    yield make
    for index in made:
        index.close()


def add(storage: Storage, namespace: str, *contents: str, **fields: Any) -> list[str]:
    return [
        m.id for m in storage.add([NewMemory(namespace=namespace, content=c, **fields) for c in contents])
    ]


def search(index: Any, namespace: str, text: str = "", limit: int = 50, **kw: Any) -> list[Any]:
    filters = kw.pop("filters", None)
    index.sync()
    return list(index.search(namespace, TextQuery(text=text, **kw), limit, filters))


def found(index: Any, namespace: str, text: str = "", limit: int = 50, **kw: Any) -> list[str]:
    return [c.memory_id for c in search(index, namespace, text, limit, **kw)]


def state_seq(context: BackendContext) -> int:
    """The change sequence number the committed on-disk index contains (its state file)."""
    state = json.loads((context.data_dir / "tantivy" / "memmimic-state.json").read_text(encoding="utf-8"))
    return int(state["seq"])


def eventually(check: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    """Wait for a background effect (a generous deadline: a failure, not a timing assert)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {seconds:.0f}s")
        time.sleep(0.02)


# -- read-your-writes before any commit --------------------------------------------------------


def test_a_write_is_found_by_the_next_search_without_a_commit(
    storage: Storage, make_index: MakeIndex, backend_context: BackendContext
) -> None:
    add(storage, "ns", "an old note about a heron")
    index = make_index()
    committed = state_seq(backend_context)
    (new,) = add(storage, "ns", "a brand new note about a pelican")
    assert found(index, "ns", "pelican") == [new]
    assert state_seq(backend_context) == committed  # no commit happened
    assert index.stats()["tail_documents"] == 1
    assert index.stats()["committed_seq"] == committed
    assert index.lag() == 0


def test_updates_deletes_and_archives_are_reflected_before_the_commit(
    storage: Storage, make_index: MakeIndex, backend_context: BackendContext
) -> None:
    moved, gone, old = add(
        storage, "ns", "the meeting is on tuesday", "delete this banana", "archive this banana"
    )
    (kept,) = add(storage, "ns", "keep this banana")
    index = make_index()
    committed = state_seq(backend_context)
    assert found(index, "ns", "tuesday") == [moved]
    storage.update(moved, "ns", MemoryPatch(content="the meeting moved to friday"))
    storage.delete(gone, "ns")
    storage.update(old, "ns", MemoryPatch(status="archived"))
    assert found(index, "ns", "tuesday") == []
    assert found(index, "ns", "friday") == [moved]
    assert found(index, "ns", "banana") == [kept]
    assert found(index, "ns", "banana", filters=Filters(status="archived")) == [old]
    assert sorted(found(index, "ns", "banana", filters=Filters(status=None))) == sorted([kept, old])
    assert state_seq(backend_context) == committed
    # an update of a memory that is itself only in the tail
    (fresh,) = add(storage, "ns", "a fresh walrus")
    assert found(index, "ns", "walrus") == [fresh]
    storage.update(fresh, "ns", MemoryPatch(content="a fresh seal"))
    assert found(index, "ns", "walrus") == []
    assert found(index, "ns", "seal") == [fresh]
    storage.delete(fresh, "ns")
    assert found(index, "ns", "seal") == []
    assert state_seq(backend_context) == committed


def test_after_the_commit_each_memory_is_found_once_with_the_same_score(
    storage: Storage, make_index: MakeIndex, backend_context: BackendContext
) -> None:
    add(storage, "ns", *[f"committed note {i} about otters and rivers" for i in range(20)])
    index = make_index()
    new = add(storage, "ns", "otters otters in the tail", "a river otter in the tail too")
    before = {c.memory_id: c.score for c in search(index, "ns", "otter river")}
    assert set(new) <= set(before)
    assert index.commit() == 2
    assert state_seq(backend_context) == storage.last_seq()
    assert index.stats()["tail_documents"] == 0
    after_list = search(index, "ns", "otter river")
    after = {c.memory_id: c.score for c in after_list}
    assert len(after_list) == len(after) == 22  # each memory exactly once
    for memory_id in new:
        assert after[memory_id] == pytest.approx(before[memory_id], rel=1e-5)


def test_ranks_are_the_same_before_and_after_the_commit(storage: Storage, make_index: MakeIndex) -> None:
    add(storage, "ns", *[f"background document {i} on gardening and soil" for i in range(200)])
    add(storage, "ns", "tomato tomato tomato garden", "a tomato in the garden shed", "garden tomato")
    index = make_index()
    add(storage, "ns", "tomato tomato garden soil", "tomato", "a long note that mentions a tomato once " * 3)
    query = TextQuery(text="tomato garden", terms=(WeightedTerm("cherry tomato", 0.5, "tomato"),))
    index.sync()
    before = [c.memory_id for c in index.search("ns", query, 8)]
    assert index.stats()["tail_documents"] == 3
    index.commit()
    after = [c.memory_id for c in index.search("ns", query, 8)]
    assert index.stats()["tail_documents"] == 0
    assert before == after


@pytest.mark.parametrize(
    "options",
    [{}, {"stopwords": "english"}, {"tokenizer": "default", "ascii_fold": True}, {"stopwords": ("walk",)}],
    ids=["defaults", "english-stopwords", "default-ascii-fold", "custom-stopwords"],
)
def test_tail_scores_equal_what_tantivy_computes_once_committed(
    storage: Storage, make_index: MakeIndex, options: dict[str, Any]
) -> None:
    """Same BM25 as tantivy: idf, k1/b, fieldnorm quantization (lengths past 40), weights."""
    words = [
        *("the", "walk", "in", "a", "park", "with", "running", "dogs"),
        *("and", "café", "owners", "near", "ice", "cream", "stands"),
    ]
    contents = [" ".join(words[(i * 7 + j) % len(words)] for j in range(3 + i * 9)) for i in range(30)]
    add(storage, "ns", *contents[:10])
    index = make_index(**options)
    tail = add(storage, "ns", *contents[10:])
    update_target = add(storage, "ns", "park dogs")[0]
    storage.update(update_target, "ns", MemoryPatch(content="park dogs running in the park " * 9))
    queries = [
        TextQuery(text="park"),
        TextQuery(text="running dogs cafe"),
        TextQuery(text="the walk", terms=(WeightedTerm("ice cream", 0.4, "dessert"),)),
    ]
    index.sync()
    before = [{c.memory_id: c.score for c in index.search("ns", q, 100)} for q in queries]
    index.commit()
    after = [{c.memory_id: c.score for c in index.search("ns", q, 100)} for q in queries]
    checked = 0
    for old, new in zip(before, after, strict=True):
        assert old.keys() == new.keys()
        for memory_id in [*tail, update_target]:
            if memory_id in new:
                assert old[memory_id] == pytest.approx(new[memory_id], rel=1e-5)
                checked += 1
    assert checked > 20


def test_the_fieldnorm_table_is_tantivys() -> None:
    assert FIELDNORMS[:41] == tuple(range(41))
    assert FIELDNORMS[41:50] == (42, 44, 46, 48, 50, 52, 54, 56, 60)
    assert FIELDNORMS[-1] == 2_013_265_944
    assert [fieldnorm(n) for n in (0, 39, 40, 41, 43, 59, 60, 1_000_000)] == [
        0,
        39,
        40,
        40,
        42,
        56,
        60,
        983_064,
    ]


# -- filters, namespaces, matched terms in the tail ----------------------------------------------


def test_filters_apply_to_tail_documents(storage: Storage, make_index: MakeIndex) -> None:
    add(storage, "ns", "an unrelated committed note")
    index = make_index()
    note, fact = add(storage, "ns", "koala note", "koala fact", memory_type="note", tags=["a"])
    storage.update(fact, "ns", MemoryPatch(memory_type="fact", tags=["a", "b"], cxd_function="DATA"))
    (meta,) = add(storage, "ns", "koala with metadata", metadata={"k": "blue", "n": 3, "flag": True})
    (other,) = add(storage, "other", "koala elsewhere")
    assert sorted(found(index, "ns", "koala")) == sorted([note, fact, meta])
    assert found(index, "other", "koala") == [other]
    assert found(index, "ns", "koala", filters=Filters(memory_type="fact")) == [fact]
    assert found(index, "ns", "koala", filters=Filters(cxd_function="DATA")) == [fact]
    assert found(index, "ns", "koala", filters=Filters(tags=("a", "b"))) == [fact]
    assert sorted(found(index, "ns", "koala", filters=Filters(tags=("a",)))) == sorted([note, fact])
    assert found(index, "ns", "koala", filters=Filters(metadata={"k": "blue"})) == [meta]
    assert found(index, "ns", "koala", filters=Filters(metadata={"n": 3})) == [meta]
    assert found(index, "ns", "koala", filters=Filters(metadata={"flag": True})) == [meta]
    assert found(index, "ns", "koala", filters=Filters(metadata={"flag": 1})) == []  # as storage
    assert found(index, "ns", "koala", filters=Filters(metadata={"k": "red"})) == []
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    assert len(found(index, "ns", "koala", filters=Filters(since=now - hour))) == 3
    assert found(index, "ns", "koala", filters=Filters(until=now - hour)) == []
    assert found(index, "ns", "koala", filters=Filters(since=now + hour)) == []
    assert index.stats()["committed_seq"] < storage.last_seq()


def test_filters_are_enforced_inside_the_top_k_across_tail_and_index(
    storage: Storage, make_index: MakeIndex
) -> None:
    add(storage, "ns", *["bison bison bison"] * 10, memory_type="note")
    index = make_index()
    add(storage, "ns", *["bison bison bison"] * 10, memory_type="note")
    (wanted,) = add(storage, "ns", "a lone bison among many words here", memory_type="fact")
    assert found(index, "ns", "bison", limit=1, filters=Filters(memory_type="fact")) == [wanted]
    assert len(found(index, "ns", "bison", limit=15)) == 15


def test_matched_terms_when_the_query_wants_them(storage: Storage, make_index: MakeIndex) -> None:
    (committed,) = add(storage, "ns", "the running fox and the ice cream")
    index = make_index()
    (tail,) = add(storage, "ns", "a fox that runs to the ice cream van")
    query = TextQuery(
        text="Runs FOX badger", terms=(WeightedTerm("ice cream", 0.5, "dessert"),), want_matched=True
    )
    index.sync()
    hits = {c.memory_id: c.matched_terms for c in index.search("ns", query, 5)}
    assert hits == {committed: ("runs", "fox", "ice cream"), tail: ("runs", "fox", "ice cream")}
    plain = TextQuery(text="Runs FOX badger", terms=(WeightedTerm("ice cream", 0.5, "dessert"),))
    assert all(c.matched_terms == () for c in index.search("ns", plain, 5))


# -- the committer, close and reopen ------------------------------------------------------------


def test_the_background_committer_folds_the_tail_into_the_index(
    storage: Storage, make_index: MakeIndex, backend_context: BackendContext
) -> None:
    index = make_index(commit_interval_ms=0)
    (mid,) = add(storage, "ns", "a gecko on the wall")
    assert found(index, "ns", "gecko") == [mid]
    eventually(lambda: state_seq(backend_context) == storage.last_seq(), "the background commit")
    eventually(lambda: found(index, "ns", "gecko") == [mid] and index.stats()["tail_documents"] == 0, "trim")


def test_a_full_tail_is_committed_before_the_interval(
    storage: Storage, make_index: MakeIndex, backend_context: BackendContext
) -> None:
    index = make_index(max_tail=3)
    add(storage, "ns", "one lemur", "two lemurs")
    index.sync()
    assert state_seq(backend_context) < storage.last_seq()  # two memories: under max_tail
    add(storage, "ns", "three lemurs")
    assert len(found(index, "ns", "lemur")) == 3
    eventually(lambda: state_seq(backend_context) == storage.last_seq(), "the size-triggered commit")
    assert len(found(index, "ns", "lemur")) == 3


def test_a_sync_far_behind_commits_itself(
    storage: Storage, make_index: MakeIndex, backend_context: BackendContext
) -> None:
    index = make_index(max_tail=2)
    add(storage, "ns", "ibis one", "ibis two", "ibis three")
    assert index.sync() == 3
    assert state_seq(backend_context) == storage.last_seq()
    assert index.stats()["tail_documents"] == 0


def test_no_tail_means_every_sync_commits(
    storage: Storage, make_index: MakeIndex, backend_context: BackendContext
) -> None:
    index = make_index(max_tail=0)
    (mid,) = add(storage, "ns", "a quokka")
    assert found(index, "ns", "quokka") == [mid]
    assert state_seq(backend_context) == storage.last_seq()
    assert index.stats()["tail_documents"] == 0


@pytest.mark.parametrize("commit_on_close", [True, False])
def test_close_leaves_nothing_the_next_open_cannot_catch_up(
    storage: Storage, make_index: MakeIndex, backend_context: BackendContext, commit_on_close: bool
) -> None:
    index = make_index(commit_on_close=commit_on_close)
    (first,) = add(storage, "ns", "a marmot")
    index.sync()
    committed = state_seq(backend_context)
    (second,) = add(storage, "ns", "another marmot")
    storage.update(first, "ns", MemoryPatch(content="a marmot, edited"))
    assert sorted(found(index, "ns", "marmot")) == sorted([first, second])
    index.close()
    assert (state_seq(backend_context) == storage.last_seq()) is commit_on_close
    assert state_seq(backend_context) >= committed
    reopened = make_index(sync_on_search=False)
    assert reopened.lag() == 0
    assert sorted(found(reopened, "ns", "marmot")) == sorted([first, second])
    assert found(reopened, "ns", "edited") == [first]


def test_another_instance_commit_trims_this_tail(
    storage: Storage, make_index: MakeIndex, backend_context: BackendContext
) -> None:
    first, second = make_index(), make_index()
    (mid,) = add(storage, "ns", "a narwhal")
    assert found(first, "ns", "narwhal") == [mid]
    assert found(second, "ns", "narwhal") == [mid]
    assert first.stats()["tail_documents"] == second.stats()["tail_documents"] == 1
    assert second.commit() == 1
    assert found(first, "ns", "narwhal") == [mid]
    assert first.stats()["tail_documents"] == 0
    assert first.commit() == 0  # nothing left: the other instance committed it


def test_a_deleted_folder_is_rebuilt_and_the_tail_stays_exact(
    storage: Storage, make_index: MakeIndex, backend_context: BackendContext
) -> None:
    add(storage, "ns", "penguin one", "penguin two")
    index = make_index()
    (tail,) = add(storage, "ns", "penguin three")
    assert len(found(index, "ns", "penguin")) == 3
    shutil.rmtree(backend_context.data_dir / "tantivy")
    (gone,) = add(storage, "ns", "penguin four")
    storage.delete(gone, "ns")
    hits = found(index, "ns", "penguin")
    assert len(hits) == len(set(hits)) == 3 and tail in hits
    assert index.stats()["documents"] == 3


def test_searches_from_threads_stay_exact_while_the_committer_runs(
    storage: Storage, make_index: MakeIndex
) -> None:
    index = make_index(commit_interval_ms=0, sync_on_search=True)
    written: list[str] = []
    failures: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            expected = list(written)  # written before this search's sync
            hits = [c.memory_id for c in index.search("ns", TextQuery(text="hedgehog"), 1000)]
            if len(hits) != len(set(hits)):
                failures.append(f"duplicates in {hits}")
            missing = set(expected) - set(hits)
            if missing:
                failures.append(f"missing {sorted(missing)}")

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        for i in range(60):
            written.extend(add(storage, "ns", f"hedgehog number {i}"))
            if i % 20 == 19:
                index.commit()
    finally:
        done.set()
        for thread in readers:
            thread.join()
    assert not failures, failures[:5]
    assert sorted(found(index, "ns", "hedgehog", limit=100)) == sorted(written)


FRUITS = ("kiwi", "mango", "lemon", "grape", "melon", "peach")
operation = st.one_of(
    st.tuples(st.just("add"), st.lists(st.sampled_from(FRUITS), min_size=1, max_size=4)),
    st.tuples(st.just("edit"), st.integers(0, 30), st.lists(st.sampled_from(FRUITS), min_size=1, max_size=4)),
    st.tuples(st.just("delete"), st.integers(0, 30)),
    st.tuples(st.just("archive"), st.integers(0, 30)),
    st.tuples(st.just("commit")),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=25), probe=st.sampled_from(FRUITS))
def test_any_sequence_of_writes_and_commits_searches_like_storage(
    storage: Storage, make_index: MakeIndex, ops: list[tuple[Any, ...]], probe: str
) -> None:
    """After each sync, the index finds exactly the active memories holding the word, once."""
    index = make_index(sync_on_open=False)
    namespace = f"prop{storage.last_seq()}"
    live: dict[str, str] = {}
    for op in ops:
        ids = sorted(live)
        if op[0] == "add":
            (mid,) = add(storage, namespace, " ".join(op[1]))
            live[mid] = " ".join(op[1])
        elif op[0] == "commit":
            index.commit()
        elif ids:
            mid = ids[op[1] % len(ids)]
            if op[0] == "edit":
                storage.update(mid, namespace, MemoryPatch(content=" ".join(op[2])))
                live[mid] = " ".join(op[2])
            elif op[0] == "delete":
                storage.delete(mid, namespace)
                del live[mid]
            else:
                storage.update(mid, namespace, MemoryPatch(status="archived"))
                del live[mid]
        hits = found(index, namespace, probe, limit=100)
        assert len(hits) == len(set(hits))
        assert set(hits) == {mid for mid, text in live.items() if probe in text.split()}
    index.close()
