"""The storage contract: every Storage backend must pass these tests.

Subclass :class:`StorageContract` in a test module; the tests use the ``storage`` fixture
(by default the one from :mod:`memmimic_core.testing.plugin`, which builds the backend named by
``--memmimic-storage``), or override ``storage`` to build your own backend::

    class TestMyStorage(StorageContract):
        pass

Semantics the suite pins down beyond the Protocol's docstrings: ``get`` and ``count`` with
``filters=None`` apply no filter (archived memories included), ``keyword_search`` with
``filters=None`` searches active memories only; ``history`` of an unknown id raises
NotFoundError; a patch that changes nothing records no history and no change;
``content_hash`` is the SHA-256 hex digest of the UTF-8 content.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..errors import InvalidInputError, NotFoundError
from ..models import Filters, MemoryPatch, NewMemory, TextQuery, WeightedTerm
from ..protocols import BackendContext, Storage

__all__ = ["HOSTILE_QUERIES", "StorageContract", "reopen_spec"]

HOSTILE_QUERIES = [
    '"unbalanced quote',
    'say "hello" AND goodbye',
    "apple OR banana NOT cherry",
    "NEAR(apple banana, 2)",
    "appl*",
    "-apple +banana",
    "^apple",
    "((apple",
    "apple)) OR (",
    "content:apple",
    "apple:banana",
    "🍎 apple 🍌",
    "apple " * 3000,
    "'; DROP TABLE memories; --",
    "a & b | !c <-> d",
    "\\\" \\ ' ` $ % _ { } [ ]",
    "AND",
    "NOT",
]


OTHER_PROCESS_WRITER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from memmimic_core.models import NewMemory
    from memmimic_core.plugins import build_plugin_manager, collect_backends
    from memmimic_core.protocols import BackendContext

    name, options, data_dir = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
    backends = collect_backends(build_plugin_manager())
    storage = backends["storage"].create(name, options, BackendContext(data_dir=data_dir), "storage")
    try:
        (m,) = storage.add([NewMemory(namespace="ns", content="written by another process")])
        print(json.dumps({"id": m.id, "last_seq": storage.last_seq()}))
    finally:
        storage.close()
    """
)


def reopen_spec(storage: Storage, context: BackendContext) -> tuple[str, dict[str, Any], Path]:
    """Return ``(backend name, options, data_dir)`` that open the same store in another process.

    Reads the backend's ``options`` (its pydantic ``Options``, dumped with aliases); backends
    without one must override :meth:`StorageContract.reopen_spec`.
    """
    options = getattr(storage, "options", None)
    dump = getattr(options, "model_dump", None)
    if not callable(dump):
        pytest.fail(
            f"{type(storage).__name__} has no `options` model: override StorageContract.reopen_spec "
            "to say how another process opens the same store"
        )
    return type(storage).name, dump(mode="json", by_alias=True, exclude_defaults=True), context.data_dir


def new(content: str = "a memory", namespace: str = "ns", **fields: Any) -> NewMemory:
    """A NewMemory with defaults for the contract's tests."""
    return NewMemory(namespace=namespace, content=content, **fields)


def vec(*values: float) -> np.ndarray:
    """A float32 vector."""
    return np.asarray(values, dtype=np.float32)


class StorageContract:
    """Behaviour every :class:`~memmimic_core.protocols.Storage` must show."""

    # -- add / get -------------------------------------------------------------------------

    def test_satisfies_the_protocol(self, storage: Storage) -> None:
        assert isinstance(storage, Storage)
        assert isinstance(type(storage).name, str) and type(storage).name

    def test_add_returns_ids_rowids_and_utc_timestamps(self, storage: Storage) -> None:
        first, second = storage.add([new("one"), new("two")])
        assert first.id != second.id and isinstance(first.id, str)
        assert 0 < first.rowid < second.rowid
        assert first.created_at.tzinfo is not None
        assert first.created_at.utcoffset() == timedelta(0)
        assert first.updated_at == first.created_at
        assert first.content_hash and first.content_hash != second.content_hash

    def test_a_large_add_gives_each_memory_its_own_key_and_tags(self, storage: Storage) -> None:
        # more rows than one multi-row INSERT holds: keys and tags must follow each item
        items = [new(f"note {i}", tags=[f"t{i % 7}"]) for i in range(1500)]
        stored = storage.add(items)
        assert [m.content for m in stored] == [f"note {i}" for i in range(1500)]
        rowids = [m.rowid for m in stored]
        assert len(set(rowids)) == 1500 and rowids == sorted(rowids)
        back = storage.get_by_rowid(rowids[::97])
        assert [(m.id, m.content) for m in back] == [(m.id, m.content) for m in stored[::97]]
        tagged = storage.get([stored[i].id for i in (3, 10, 1499)], "ns")
        assert [m.tags for m in tagged] == [("t3",), ("t3",), ("t1",)]

    def test_add_nothing_returns_nothing(self, storage: Storage) -> None:
        assert storage.add([]) == []
        assert storage.count() == 0

    def test_returned_ids_are_usable_at_once(self, storage: Storage) -> None:
        (memory,) = storage.add([new("usable at once")])
        assert [m.id for m in storage.get([memory.id], "ns")] == [memory.id]
        assert storage.update(memory.id, "ns", MemoryPatch(importance=0.9)).importance == 0.9
        assert storage.delete(memory.id, "ns") is True

    def test_get_round_trips_every_field(self, storage: Storage) -> None:
        since = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        item = new(
            'Round trip: ünïcödé 🙂 and "quotes"',
            memory_type="technical",
            importance=0.75,
            metadata={"source": "chat", "n": 3, "nested": {"a": [1, 2]}, "flag": True},
            tags=("alpha", "beta"),
            cxd_function="DATA",
            cxd_confidence=0.6,
            valid_from=since,
        )
        (added,) = storage.add([item])
        (got,) = storage.get([added.id], "ns")
        assert got.content == item.content
        assert got.memory_type == "technical"
        assert got.importance == pytest.approx(0.75)
        assert dict(got.metadata) == {"source": "chat", "n": 3, "nested": {"a": [1, 2]}, "flag": True}
        assert got.tags == ("alpha", "beta")
        assert (got.cxd_function, got.cxd_confidence) == ("DATA", pytest.approx(0.6))
        assert got.valid_from == since
        assert got.status == "active" and got.access_count == 0 and got.last_accessed_at is None
        assert got.created_at == added.created_at and got.rowid == added.rowid

    def test_get_keeps_the_order_given_and_skips_missing_ids(self, storage: Storage) -> None:
        a, b, c = storage.add([new("a"), new("b"), new("c")])
        got = storage.get([c.id, "mem_missing", a.id, b.id], "ns")
        assert [m.id for m in got] == [c.id, a.id, b.id]

    def test_get_applies_filters(self, storage: Storage) -> None:
        a, b = storage.add([new("a", memory_type="technical"), new("b")])
        got = storage.get([a.id, b.id], "ns", Filters(memory_type="technical"))
        assert [m.id for m in got] == [a.id]

    def test_get_by_rowid_reads_any_namespace_with_embeddings(self, storage: Storage) -> None:
        a, b = storage.add(
            [new("a", namespace="n1", embedding=vec(1, 0), embedder="fp"), new("b", namespace="n2")]
        )
        got = storage.get_by_rowid([b.rowid, a.rowid], with_embedding=True)
        assert [m.id for m in got] == [b.id, a.id]
        assert got[1].embedding is not None and list(got[1].embedding) == [1.0, 0.0]
        assert got[1].embedder == "fp" and got[0].embedding is None
        assert storage.get_by_rowid([a.rowid])[0].embedding is None

    def test_vectors_by_rowid_are_the_stored_vectors_of_any_namespace(self, storage: Storage) -> None:
        a, b = storage.add(
            [new("a", namespace="n1", embedding=vec(0.6, 0.8), embedder="fp"), new("b", namespace="n2")]
        )
        got = storage.vectors_by_rowid([b.rowid, a.rowid, 10**9, b.rowid])  # missing, repeated
        assert [(v.rowid, v.id, v.namespace, v.embedder) for v in got] == [
            (b.rowid, b.id, "n2", None),
            (a.rowid, a.id, "n1", "fp"),
        ]
        assert got[0].embedding is None
        assert got[1].embedding is not None and got[1].embedding.dtype == np.float32
        assert np.allclose(got[1].embedding, [0.6, 0.8])
        storage.set_embeddings([(b.id, vec(1, 0))], "fp-2")
        (again,) = storage.vectors_by_rowid([b.rowid])
        assert (
            again.embedder == "fp-2" and again.embedding is not None and list(again.embedding) == [1.0, 0.0]
        )
        assert storage.vectors_by_rowid([]) == []
        with pytest.raises(InvalidInputError):
            storage.vectors_by_rowid(["not a key"])  # type: ignore[list-item]

    def test_locate_by_id_and_rowid_within_namespace_and_filters(self, storage: Storage) -> None:
        a, b, c = storage.add(
            [new("a", memory_type="technical"), new("b", memory_type="personal"), new("c", namespace="other")]
        )
        refs = storage.locate("ns", ids=[b.id, a.id, c.id, "mem_missing", a.id])
        assert sorted(r.id for r in refs) == sorted([a.id, b.id])  # no foreign namespace, no duplicates
        by_id = {r.id: r for r in refs}
        assert (by_id[a.id].rowid, by_id[a.id].memory_type, by_id[a.id].created_at) == (
            a.rowid,
            "technical",
            a.created_at,
        )
        personal = storage.locate("ns", Filters(memory_type="personal"), ids=[a.id, b.id])
        assert [r.id for r in personal] == [b.id]
        by_rowid = storage.locate("ns", rowids=[a.rowid, c.rowid, b.rowid + 1000])
        assert [r.id for r in by_rowid] == [a.id]
        both = storage.locate("ns", ids=[b.id], rowids=[a.rowid, b.rowid])
        assert sorted(r.id for r in both) == sorted([a.id, b.id])
        assert storage.locate("ns") == [] and storage.locate("ns", ids=[], rowids=[]) == []

    def test_locate_honours_status_and_rejects_bad_rowids(self, storage: Storage) -> None:
        (a,) = storage.add([new("a")])
        storage.update(a.id, "ns", MemoryPatch(status="archived"))
        assert storage.locate("ns", Filters(), ids=[a.id]) == []  # default filters: active only
        assert [r.id for r in storage.locate("ns", Filters(status=None), ids=[a.id])] == [a.id]
        with pytest.raises(InvalidInputError):
            storage.locate("ns", rowids=["x"])  # type: ignore[list-item]

    def test_locate_and_get_apply_every_filter_as_filters_matches_does(self, storage: Storage) -> None:
        added = storage.add(
            [
                new("a", memory_type="technical", tags=("x", "y"), cxd_function="DATA", metadata={"k": 1}),
                new("b", memory_type="personal", tags=("x",), cxd_function="CONTROL", metadata={"k": "1"}),
                new("c", memory_type="technical", metadata={"k": None}),
                new("d", memory_type="personal", tags=("y",), cxd_function="DATA"),
            ]
        )
        storage.update(added[3].id, "ns", MemoryPatch(status="archived"))
        full = storage.get([m.id for m in added], "ns", Filters(status=None))
        stamp = full[1].created_at
        cases = [
            Filters(),
            Filters(status=None),
            Filters(status="archived"),
            Filters(memory_type="technical"),
            Filters(cxd_function="DATA", status=None),
            Filters(tags=("x",)),
            Filters(tags=("x", "y"), status=None),
            Filters(tags=("missing",)),
            Filters(since=stamp, status=None),  # since is inclusive, until exclusive
            Filters(until=stamp, status=None),
            Filters(since=stamp, until=stamp + timedelta(microseconds=1)),
            Filters(metadata={"k": 1}),
            Filters(memory_type="personal", tags=("x",), cxd_function="CONTROL", since=stamp),
        ]
        ids, rowids = [m.id for m in added], [m.rowid for m in added]
        for filters in cases:
            expected = [m.id for m in full if filters.matches(m)]
            assert [m.id for m in storage.get(ids, "ns", filters)] == expected, filters
            assert sorted(r.id for r in storage.locate("ns", filters, ids=ids)) == sorted(expected), filters
            assert sorted(r.id for r in storage.locate("ns", filters, rowids=rowids)) == sorted(expected), (
                filters
            )
            for ref in storage.locate("ns", filters, ids=ids):
                memory = next(m for m in full if m.id == ref.id)
                assert (ref.rowid, ref.memory_type, ref.created_at) == (
                    memory.rowid,
                    memory.memory_type,
                    memory.created_at,
                )
                assert ref.created_at.utcoffset() == timedelta(0)

    def test_a_failing_batch_writes_nothing(self, storage: Storage) -> None:
        bad = new("bad", embedding=vec(float("nan"), 1.0))
        with pytest.raises(InvalidInputError):
            storage.add([new("good"), bad])
        assert storage.count() == 0 and storage.last_seq() == 0

    def test_find_by_hash_finds_duplicates_in_one_namespace(self, storage: Storage) -> None:
        a, _, c = storage.add([new("same"), new("other"), new("same", namespace="elsewhere")])
        assert a.content_hash == hashlib.sha256(b"same").hexdigest()
        assert [m.id for m in storage.find_by_hash("ns", a.content_hash)] == [a.id]
        assert [m.id for m in storage.find_by_hash("elsewhere", a.content_hash)] == [c.id]

    # -- namespaces ------------------------------------------------------------------------

    def test_namespaces_isolate_reads(self, storage: Storage) -> None:
        (mine,) = storage.add([new("shared words here", namespace="mine")])
        storage.add([new("shared words here", namespace="yours")])
        assert storage.get([mine.id], "yours") == []
        assert storage.count("yours") == 1 and storage.count("mine") == 1 and storage.count() == 2
        found = storage.keyword_search("yours", TextQuery("shared words"), 10)
        assert mine.id not in {c.memory_id for c in found} and len(found) == 1
        assert [m.id for m in storage.find_by_hash("yours", mine.content_hash)] != [mine.id]

    def test_namespaces_isolate_writes(self, storage: Storage) -> None:
        (mine,) = storage.add([new("mine", namespace="mine")])
        with pytest.raises(NotFoundError):
            storage.update(mine.id, "yours", MemoryPatch(content="stolen"))
        with pytest.raises(NotFoundError):
            storage.history(mine.id, "yours")
        assert storage.delete(mine.id, "yours") is False
        storage.touch([mine.id], "yours", datetime.now(timezone.utc))
        (still,) = storage.get([mine.id], "mine")
        assert still.content == "mine" and still.access_count == 0
        assert storage.generation("yours") == 0

    def test_namespaces_lists_memories_and_tales(self, storage: Storage) -> None:
        storage.add([new("x", namespace="b"), new("y", namespace="a")])
        storage.save_tale("c", "story", "text", "general", [])
        assert storage.namespaces() == ["a", "b", "c"]

    # -- filters ---------------------------------------------------------------------------

    def _filter_fixture(self, storage: Storage) -> dict[str, str]:
        ms = storage.add(
            [
                new("alpha filter", memory_type="technical", tags=("x", "y"), metadata={"k": "v"}),
                new("beta filter", cxd_function="CONTROL", tags=("x",), metadata={"k": 2}),
                new("gamma filter", metadata={"k": True, "obj": {"a": 1}}),
            ]
        )
        return {m.content.split()[0]: m.id for m in ms}

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            (Filters(memory_type="technical"), {"alpha"}),
            (Filters(cxd_function="CONTROL"), {"beta"}),
            (Filters(tags=("x",)), {"alpha", "beta"}),
            (Filters(tags=("x", "y")), {"alpha"}),
            (Filters(tags=("z",)), set()),
            (Filters(metadata={"k": "v"}), {"alpha"}),
            (Filters(metadata={"k": 2}), {"beta"}),
            (Filters(metadata={"k": True}), {"gamma"}),
            (Filters(metadata={"obj": {"a": 1}}), {"gamma"}),
            (Filters(metadata={"k": "v", "missing": 1}), set()),
            (Filters(), {"alpha", "beta", "gamma"}),
        ],
    )
    def test_each_filter_is_applied_in_search_and_count(
        self, storage: Storage, filters: Filters, expected: set[str]
    ) -> None:
        ids = self._filter_fixture(storage)
        found = {c.memory_id for c in storage.keyword_search("ns", TextQuery("filter"), 10, filters)}
        assert found == {ids[name] for name in expected}
        assert storage.count("ns", filters) == len(expected)

    def test_time_filters_bound_created_at(self, storage: Storage) -> None:
        (m,) = storage.add([new("timed filter")])
        before, after = m.created_at - timedelta(seconds=1), m.created_at + timedelta(seconds=1)
        query = TextQuery("timed")
        assert storage.keyword_search("ns", query, 5, Filters(since=before, until=after))
        assert storage.keyword_search("ns", query, 5, Filters(since=m.created_at))
        assert not storage.keyword_search("ns", query, 5, Filters(until=m.created_at))
        assert not storage.keyword_search("ns", query, 5, Filters(since=after))

    def test_status_filter_defaults_to_active(self, storage: Storage) -> None:
        a, b = storage.add([new("status one"), new("status two")])
        storage.update(b.id, "ns", MemoryPatch(status="archived"))
        query = TextQuery("status")
        assert {c.memory_id for c in storage.keyword_search("ns", query, 5)} == {a.id}
        archived = storage.keyword_search("ns", query, 5, Filters(status="archived"))
        assert {c.memory_id for c in archived} == {b.id}
        assert len(storage.keyword_search("ns", query, 5, Filters(status=None))) == 2
        assert storage.count("ns") == 2 and storage.count("ns", Filters()) == 1

    # -- update / history / delete ---------------------------------------------------------

    def test_update_records_history_with_before_after_and_reason(self, storage: Storage) -> None:
        (m,) = storage.add([new("before text", importance=0.5)])
        updated = storage.update(m.id, "ns", MemoryPatch(content="after text", importance=0.5), "fix")
        assert updated.content == "after text" and updated.updated_at > m.updated_at
        assert updated.content_hash != m.content_hash
        storage.update(m.id, "ns", MemoryPatch(tags=("t",), metadata={"a": 1}))
        first, second = storage.history(m.id, "ns")
        assert (first.version, second.version) == (1, 2)
        assert first.reason == "fix" and second.reason is None
        assert dict(first.before) == {"content": "before text"}
        assert dict(first.after) == {"content": "after text"}
        assert dict(second.after) == {"tags": ["t"], "metadata": {"a": 1}}
        assert first.changed_at.tzinfo is not None

    def test_update_that_changes_nothing_records_nothing(self, storage: Storage) -> None:
        (m,) = storage.add([new("same")])
        seq = storage.last_seq()
        assert storage.update(m.id, "ns", MemoryPatch(content="same")).updated_at == m.updated_at
        assert storage.history(m.id, "ns") == [] and storage.last_seq() == seq

    def test_update_of_tags_changes_tag_filters(self, storage: Storage) -> None:
        (m,) = storage.add([new("tagged words", tags=("old",))])
        storage.update(m.id, "ns", MemoryPatch(tags=("new", "other")))
        assert storage.count("ns", Filters(tags=("old",))) == 0
        assert storage.count("ns", Filters(tags=("new", "other"))) == 1
        assert storage.get([m.id], "ns")[0].tags == ("new", "other")

    def test_content_change_clears_the_embedding(self, storage: Storage) -> None:
        (m,) = storage.add([new("embedded", embedding=vec(1, 0), embedder="fp")])
        storage.update(m.id, "ns", MemoryPatch(content="changed"))
        assert storage.get_by_rowid([m.rowid], with_embedding=True)[0].embedding is None
        assert [u.id for u in storage.unembedded(10)] == [m.id]

    def test_update_can_set_or_clear_the_embedding(self, storage: Storage) -> None:
        (m,) = storage.add([new("text")])
        storage.update(m.id, "ns", MemoryPatch(content="text 2", embedding=vec(0, 1), embedder="fp"))
        got = storage.get_by_rowid([m.rowid], with_embedding=True)[0]
        assert got.embedding is not None and list(got.embedding) == [0.0, 1.0] and got.embedder == "fp"
        storage.update(m.id, "ns", MemoryPatch(clear_embedding=True))
        assert storage.get_by_rowid([m.rowid], with_embedding=True)[0].embedding is None

    def test_update_of_unknown_id_raises_not_found(self, storage: Storage) -> None:
        with pytest.raises(NotFoundError):
            storage.update("mem_nope", "ns", MemoryPatch(content="x"))

    @pytest.mark.parametrize("bad_id", [123, None, b"mem_x", ""])
    def test_bad_ids_are_clear_errors_never_sql_errors(self, storage: Storage, bad_id: Any) -> None:
        storage.add([new("x")])
        with pytest.raises((InvalidInputError, NotFoundError)):
            storage.update(bad_id, "ns", MemoryPatch(content="y"))
        with pytest.raises((InvalidInputError, NotFoundError)):
            storage.history(bad_id, "ns")
        with contextlib.suppress(InvalidInputError):
            assert storage.delete(bad_id, "ns") is False
        assert storage.get([bad_id], "ns") == []

    def test_get_without_filters_returns_archived_memories(self, storage: Storage) -> None:
        (m,) = storage.add([new("archived but readable")])
        storage.update(m.id, "ns", MemoryPatch(status="archived"))
        assert [x.status for x in storage.get([m.id], "ns")] == ["archived"]
        assert storage.get([m.id], "ns", Filters()) == []

    def test_update_rejects_an_unknown_status(self, storage: Storage) -> None:
        (m,) = storage.add([new("x")])
        with pytest.raises(InvalidInputError):
            storage.update(m.id, "ns", MemoryPatch(status="gone"))  # type: ignore[arg-type]

    def test_supersede_fields_round_trip(self, storage: Storage) -> None:
        (old,) = storage.add([new("old fact")])
        (newer,) = storage.add([new("new fact", supersedes=old.id)])
        assert newer.supersedes == old.id
        assert storage.get([newer.id], "ns")[0].supersedes == old.id
        until = datetime(2025, 5, 5, tzinfo=timezone.utc)
        got = storage.update(old.id, "ns", MemoryPatch(superseded_by=newer.id, valid_to=until))
        assert got.superseded_by == newer.id and got.valid_to == until

    def test_delete_removes_memory_history_and_search_hits(self, storage: Storage) -> None:
        (m,) = storage.add([new("forget me please")])
        storage.update(m.id, "ns", MemoryPatch(importance=0.1))
        assert storage.delete(m.id, "ns") is True
        assert storage.delete(m.id, "ns") is False
        assert storage.get([m.id], "ns") == []
        assert storage.keyword_search("ns", TextQuery("forget"), 5) == []
        with pytest.raises(NotFoundError):
            storage.history(m.id, "ns")
        assert storage.changes_since(0)[-1].op == "delete"

    # -- change sequence -------------------------------------------------------------------

    def test_every_write_appends_a_change(self, storage: Storage) -> None:
        assert storage.last_seq() == 0 and storage.generation("ns") == 0
        a, b = storage.add([new("a"), new("b")])
        storage.update(a.id, "ns", MemoryPatch(content="a2"))
        storage.set_embeddings([(b.id, vec(1, 0))], "fp")
        storage.delete(b.id, "ns")
        got = storage.changes_since(0)
        assert [(c.memory_id, c.op) for c in got] == [
            (a.id, "upsert"),
            (b.id, "upsert"),
            (a.id, "upsert"),
            (b.id, "upsert"),
            (b.id, "delete"),
        ]
        assert [c.rowid for c in got] == [a.rowid, b.rowid, a.rowid, b.rowid, b.rowid]
        seqs = [c.seq for c in got]
        assert seqs == sorted(set(seqs)) and storage.last_seq() == seqs[-1]
        assert storage.changes_since(seqs[1], limit=2) == got[2:4]
        assert storage.changes_since(seqs[-1]) == []

    def test_generation_grows_only_with_its_namespace(self, storage: Storage) -> None:
        storage.add([new("a", namespace="one")])
        g_one = storage.generation("one")
        assert g_one > 0 and storage.generation("two") == 0
        storage.add([new("b", namespace="two")])
        assert storage.generation("one") == g_one
        assert storage.generation("two") > g_one

    def test_touch_counts_access_without_history_or_change(self, storage: Storage) -> None:
        (m,) = storage.add([new("touched")])
        seq, at = storage.last_seq(), datetime(2030, 1, 1, tzinfo=timezone.utc)
        storage.touch([m.id, m.id, "mem_missing"], "ns", at)
        storage.touch([m.id], "ns", at)
        (got,) = storage.get([m.id], "ns")
        assert got.access_count == 2 and got.last_accessed_at == at
        assert got.updated_at == m.updated_at
        assert storage.last_seq() == seq and storage.history(m.id, "ns") == []

    # -- change token ----------------------------------------------------------------------

    def reopen_spec(self, storage: Storage, context: BackendContext) -> tuple[str, dict[str, Any], Path]:
        """How another process opens this test's store (override for backends without ``options``)."""
        return reopen_spec(storage, context)

    @staticmethod
    def _token(storage: Storage) -> int:
        token = storage.change_token()
        if token is None:
            pytest.skip(f"{type(storage).name} has no change token (allowed: callers then query)")
        assert isinstance(token, int), f"change_token must be an int or None, got {token!r}"
        return token

    def test_change_token_stays_while_nothing_is_written(self, storage: Storage) -> None:
        (m,) = storage.add([new("read only from here on")])
        storage.save_tale("ns", "story", "text", "general", [])
        before = self._token(storage)
        storage.get([m.id], "ns")
        storage.get_by_rowid([m.rowid], with_embedding=True)
        storage.count("ns")
        storage.keyword_search("ns", TextQuery("read"), 5)
        storage.last_seq()
        storage.changes_since(0)
        storage.generation("ns")
        storage.history(m.id, "ns")
        storage.list_tales("ns")
        storage.get_tale("ns", "story")
        storage.namespaces()
        storage.unembedded(5)
        list(storage.iter_memories())
        assert storage.change_token() == before == storage.change_token()

    def test_change_token_changes_with_every_write_of_this_process(self, storage: Storage) -> None:
        seen: list[int | None] = [self._token(storage)]

        def changed(what: str) -> None:
            token = storage.change_token()
            assert token not in seen, f"the change token did not change after {what}"
            seen.append(token)

        a, b = storage.add([new("first"), new("second")])
        changed("add")
        storage.update(a.id, "ns", MemoryPatch(content="first, edited"))
        changed("update")
        storage.set_embeddings([(b.id, vec(1, 0))], "fp")
        changed("set_embeddings")
        storage.delete(b.id, "ns")
        changed("delete")
        storage.save_tale("ns", "story", "once", "general", [])
        changed("save_tale (new)")
        storage.save_tale("ns", "story", "twice", "general", [])
        changed("save_tale (new version)")
        storage.delete_tale("ns", "story")
        changed("delete_tale")
        storage.restore_tale("ns", "story")
        changed("restore_tale")

    def test_change_token_sees_a_commit_of_another_process(
        self, storage: Storage, backend_context: BackendContext
    ) -> None:
        storage.add([new("before the other process")])
        before = self._token(storage)
        name, options, data_dir = self.reopen_spec(storage, backend_context)
        done = subprocess.run(
            [sys.executable, "-c", OTHER_PROCESS_WRITER, name, json.dumps(options), str(data_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        written = json.loads(done.stdout.splitlines()[-1])
        assert storage.last_seq() == written["last_seq"]  # the same store, not a new one
        assert [m.content for m in storage.get([written["id"]], "ns")] == ["written by another process"]
        assert storage.change_token() != before

    # -- embeddings ------------------------------------------------------------------------

    def test_set_embeddings_stores_vectors_and_skips_unknown_ids(self, storage: Storage) -> None:
        a, b = storage.add([new("a"), new("b")])
        storage.set_embeddings([(a.id, vec(0.6, 0.8)), ("mem_unknown", vec(1, 0))], "fp-1")
        got = storage.get_by_rowid([a.rowid, b.rowid], with_embedding=True)
        assert got[0].embedding is not None
        np.testing.assert_allclose(got[0].embedding, [0.6, 0.8], rtol=1e-6)
        assert got[0].embedding.dtype == np.float32 and got[0].embedder == "fp-1"
        assert got[1].embedding is None

    def test_unembedded_lists_active_memories_without_vectors_oldest_first(self, storage: Storage) -> None:
        a, b, c, d = storage.add(
            [new("a"), new("b", embedding=vec(1, 0), embedder="fp"), new("c"), new("d", namespace="x")]
        )
        storage.update(c.id, "ns", MemoryPatch(status="archived"))
        assert [m.id for m in storage.unembedded(10)] == [a.id, d.id]
        assert [m.id for m in storage.unembedded(10, namespace="ns")] == [a.id]
        assert [m.id for m in storage.unembedded(1)] == [a.id]
        assert b.id not in {m.id for m in storage.unembedded(10)}

    def test_embedder_counts_per_fingerprint(self, storage: Storage) -> None:
        a, b, _ = storage.add([new("a"), new("b"), new("c")])
        assert storage.embedder_counts() == {}
        storage.set_embeddings([(a.id, vec(1, 0))], "fp-1")
        storage.set_embeddings([(b.id, vec(0, 1))], "fp-2")
        assert storage.embedder_counts() == {"fp-1": 1, "fp-2": 1}

    # -- keyword search --------------------------------------------------------------------

    def test_keyword_search_ranks_better_matches_first(self, storage: Storage) -> None:
        best, other, _ = storage.add(
            [
                new("python packaging with python wheels and python tools"),
                new("python snakes live in the jungle, far from cities and roads"),
                new("nothing relevant at all"),
            ]
        )
        found = storage.keyword_search("ns", TextQuery("python packaging"), 10)
        assert [c.memory_id for c in found] == [best.id, other.id]
        assert found[0].score > found[1].score > 0

    def test_keyword_search_stems_words(self, storage: Storage) -> None:
        (m,) = storage.add([new("She was running through the gardens")])
        assert [c.memory_id for c in storage.keyword_search("ns", TextQuery("runs garden"), 5)] == [m.id]

    def test_keyword_search_respects_limit(self, storage: Storage) -> None:
        storage.add([new(f"limited item {i}") for i in range(5)])
        assert len(storage.keyword_search("ns", TextQuery("limited"), 3)) == 3
        with pytest.raises(InvalidInputError):
            storage.keyword_search("ns", TextQuery("limited"), 0)

    def test_keyword_search_also_searches_weighted_terms(self, storage: Storage) -> None:
        (m,) = storage.add([new("automobile maintenance schedule")])
        query = TextQuery("car", terms=(WeightedTerm("automobile", 0.5, "car"),))
        assert [c.memory_id for c in storage.keyword_search("ns", query, 5)] == [m.id]
        only_terms = TextQuery("", terms=(WeightedTerm("maintenance schedule", 0.7),))
        assert [c.memory_id for c in storage.keyword_search("ns", only_terms, 5)] == [m.id]

    @pytest.mark.parametrize("text", ["", "   ", "!!! ??? ...", "()\"'*^-", "🍎🍌"])
    def test_keyword_search_without_words_returns_nothing(self, storage: Storage, text: str) -> None:
        storage.add([new("apple banana")])
        assert storage.keyword_search("ns", TextQuery(text), 5) == []

    @pytest.mark.parametrize("text", HOSTILE_QUERIES, ids=range(len(HOSTILE_QUERIES)))
    def test_keyword_search_treats_operators_as_words(self, storage: Storage, text: str) -> None:
        (m,) = storage.add([new("apple banana cherry and not near content drop table memories")])
        storage.add([new("apple banana", namespace="other")])
        found = storage.keyword_search("ns", TextQuery(text), 5)
        assert {c.memory_id for c in found} <= {m.id}

    def test_keyword_search_finds_quoted_and_operator_words(self, storage: Storage) -> None:
        # Operator-like words that are not stop words in any analyzer (and, or, not may be).
        (m,) = storage.add([new('He said "NEAR" twice, then column:value')])
        for text in ['"NEAR', "NEAR(", "near*", "^near", "-near", "column:value", 'said"']:
            assert [c.memory_id for c in storage.keyword_search("ns", TextQuery(text), 5)] == [m.id], text

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
    )
    @given(text=st.text(max_size=80))
    def test_keyword_search_never_fails_on_any_text(self, storage: Storage, text: str) -> None:
        if storage.count() == 0:
            storage.add([new("apple pie recipe"), new("apple pie recipe", namespace="other")])
        ids = {m.id for batch in storage.iter_memories("ns") for m in batch}
        text = text.replace("\x00", "")
        found = storage.keyword_search("ns", TextQuery(text, terms=(WeightedTerm(text, 0.5),)), 5)
        assert {c.memory_id for c in found} <= ids

    # -- iteration -------------------------------------------------------------------------

    def test_iter_memories_yields_batches_in_rowid_order(self, storage: Storage) -> None:
        added = storage.add([new(f"m{i}", namespace="ns" if i % 3 else "x") for i in range(7)])
        batches = list(storage.iter_memories(batch_size=3))
        assert [len(b) for b in batches] == [3, 3, 1]
        assert [m.rowid for b in batches for m in b] == [m.rowid for m in added]
        in_ns = [m.id for b in storage.iter_memories("ns", batch_size=2) for m in b]
        assert in_ns == [m.id for m in added if m.namespace == "ns"]

    def test_iter_memories_can_include_embeddings(self, storage: Storage) -> None:
        storage.add([new("e", embedding=vec(1, 0), embedder="fp")])
        (batch,) = list(storage.iter_memories(with_embedding=True))
        assert batch[0].embedding is not None
        (batch,) = list(storage.iter_memories())
        assert batch[0].embedding is None

    def test_iter_vectors_yields_every_stored_vector_in_rowid_order(self, storage: Storage) -> None:
        added = storage.add(
            [
                new(
                    f"v{i}",
                    namespace="ns" if i % 3 else "x",
                    embedding=vec(i, 1) if i % 2 else None,
                    embedder="fp",
                )
                for i in range(7)
            ]
        )
        batches = list(storage.iter_vectors(batch_size=3))
        assert [len(b) for b in batches] == [3, 3, 1]
        flat = [v for b in batches for v in b]
        assert [(v.rowid, v.id, v.namespace) for v in flat] == [(m.rowid, m.id, m.namespace) for m in added]
        for i, v in enumerate(flat):
            if i % 2:
                assert v.embedding is not None and np.allclose(v.embedding, vec(i, 1)) and v.embedder == "fp"
            else:
                assert v.embedding is None
        in_ns = [v.id for b in storage.iter_vectors("ns", batch_size=2) for v in b]
        assert in_ns == [m.id for m in added if m.namespace == "ns"]
        with pytest.raises(InvalidInputError):
            list(storage.iter_vectors(batch_size=0))

    # -- tales -----------------------------------------------------------------------------

    def test_tales_keep_every_version(self, storage: Storage) -> None:
        first = storage.save_tale("ns", "story", "once", "general", ["a"])
        second = storage.save_tale("ns", "story", "twice", "work", ["b"])
        assert (first.version, second.version) == (1, 2)
        assert second.created_at == first.created_at and second.updated_at >= first.updated_at
        latest = storage.get_tale("ns", "story")
        assert (latest.content, latest.category, latest.tags, latest.version) == ("twice", "work", ("b",), 2)
        old = storage.get_tale("ns", "story", version=1)
        assert (old.content, old.category, old.tags) == ("once", "general", ("a",))
        assert [t.content for t in storage.tale_versions("ns", "story")] == ["once", "twice"]
        with pytest.raises(NotFoundError):
            storage.get_tale("ns", "story", version=9)

    def test_list_tales_filters_by_category_and_text(self, storage: Storage) -> None:
        storage.save_tale("ns", "b-tale", "about gardens", "hobby", [])
        storage.save_tale("ns", "a-tale", "about work 100%", "work", [])
        assert [t.name for t in storage.list_tales("ns")] == ["a-tale", "b-tale"]
        assert [t.name for t in storage.list_tales("ns", category="hobby")] == ["b-tale"]
        assert [t.name for t in storage.list_tales("ns", query="GARDEN")] == ["b-tale"]
        assert [t.name for t in storage.list_tales("ns", query="100%")] == ["a-tale"]
        assert storage.list_tales("ns", query="_") == []  # LIKE wildcards are data
        assert storage.list_tales("ns", query="%x%") == []

    def test_tale_soft_delete_restore_and_purge(self, storage: Storage) -> None:
        storage.save_tale("ns", "story", "text", "general", [])
        assert storage.delete_tale("ns", "story") is True
        assert storage.delete_tale("ns", "story") is False
        with pytest.raises(NotFoundError):
            storage.get_tale("ns", "story")
        assert storage.get_tale("ns", "story", include_deleted=True).deleted_at is not None
        assert storage.list_tales("ns") == []
        assert [t.name for t in storage.list_tales("ns", include_deleted=True)] == ["story"]
        restored = storage.restore_tale("ns", "story")
        assert restored.deleted_at is None and storage.get_tale("ns", "story").content == "text"
        assert storage.delete_tale("ns", "story", purge=True) is True
        with pytest.raises(NotFoundError):
            storage.restore_tale("ns", "story")
        with pytest.raises(NotFoundError):
            storage.tale_versions("ns", "story")

    def test_saving_a_deleted_tale_revives_it_as_a_new_version(self, storage: Storage) -> None:
        storage.save_tale("ns", "story", "one", "general", [])
        storage.delete_tale("ns", "story")
        again = storage.save_tale("ns", "story", "two", "general", [])
        assert again.version == 2 and again.deleted_at is None

    def test_tales_are_isolated_by_namespace(self, storage: Storage) -> None:
        storage.save_tale("mine", "story", "secret", "general", [])
        with pytest.raises(NotFoundError):
            storage.get_tale("yours", "story")
        assert storage.list_tales("yours") == []
        assert storage.delete_tale("yours", "story") is False
        assert storage.save_tale("yours", "story", "own", "general", []).version == 1
        assert storage.get_tale("mine", "story").content == "secret"

    @pytest.mark.parametrize("name", ["", "  ", "../etc/passwd", "a/b", "a\\b", "bad\x01name"])
    def test_tale_names_are_never_paths(self, storage: Storage, name: str) -> None:
        with pytest.raises(InvalidInputError):
            storage.save_tale("ns", name, "text", "general", [])

    # -- housekeeping ----------------------------------------------------------------------

    def test_stats_and_maintain_report_the_backend(self, storage: Storage) -> None:
        storage.add([new("some text to optimize")])
        assert storage.stats()["backend"] == type(storage).name
        report = storage.maintain()
        assert report["backend"] == type(storage).name
        assert "bytes_before" in report and "bytes_after" in report
        assert storage.keyword_search("ns", TextQuery("optimize"), 5)
