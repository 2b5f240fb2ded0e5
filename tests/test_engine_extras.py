"""Engine operations beyond the core five: neighbours, supersession, maintain, metrics, tales."""

from __future__ import annotations

import pytest

from memmimic_core.engine import MemMimic
from memmimic_core.errors import InvalidInputError, NotFoundError


def test_neighbours_are_the_closest_memories_by_meaning(memory: MemMimic) -> None:
    target = memory.remember("the red bicycle is locked in the basement")
    memory.remember("quarterly revenue grew by four percent")
    pairs = memory.neighbours("red bicycle locked basement", k=1)
    assert [(m.id, round(score, 3) > 0.5) for m, score in pairs] == [(target, True)]


def test_supersede_archives_the_old_memory_and_links_both(memory: MemMimic) -> None:
    old = memory.remember("the office is on Baker Street")
    new = memory.supersede(old, "the office is on Abbey Road", reason="we moved")
    old_memory, new_memory = memory.get(old), memory.get(new)
    assert old_memory.status == "archived"
    assert old_memory.superseded_by == new
    assert old_memory.valid_to is not None
    assert new_memory.supersedes == old
    assert [h.id for h in memory.recall("office street road")] == [new]
    assert memory.history(old)[-1].reason == "we moved"


def test_supersede_needs_an_existing_memory(memory: MemMimic) -> None:
    with pytest.raises(NotFoundError):
        memory.supersede("mem_missing", "anything")


def test_maintain_reports_each_part(memory: MemMimic) -> None:
    memory.remember_many([f"maintenance note {i}" for i in range(20)])
    memory.flush()  # the embedding worker must not add changes between the two maintains
    report = memory.maintain()
    assert set(report) >= {"storage", "cache", "text_index", "vector_index"}
    assert report["storage"]["backend"] == memory.config.storage.backend
    assert memory.maintain()["vector_index"]["caught_up"] == 0


def test_metrics_count_the_operations_performed(memory: MemMimic) -> None:
    for i in range(3):
        memory.remember(f"metric note {i}")
    memory.recall("metric note")
    with pytest.raises(InvalidInputError):
        memory.remember("")
    ops = memory.metrics_snapshot()["operations"]
    assert ops["remember"]["count"] == 4
    assert ops["remember"]["errors"] == 1
    assert ops["recall"]["count"] == 1
    text = memory.prometheus()
    assert 'memmimic_operations_total{operation="remember"} 4.0' in text


def test_tales_are_versioned_and_names_are_never_paths(memory: MemMimic) -> None:
    first = memory.tales.save("project-log", "day one", category="work")
    second = memory.tales.save("project-log", "day two")
    assert (first.version, second.version) == (1, 2)
    assert memory.tales.load("project-log").content == "day two"
    assert memory.tales.load("project-log", version=1).content == "day one"
    for bad in ("../etc/passwd", "a/b", "c\\d", "x\x07"):
        with pytest.raises(InvalidInputError):
            memory.tales.save(bad, "nope")
    assert memory.tales.delete("project-log")
    with pytest.raises(NotFoundError):
        memory.tales.load("project-log")
    assert memory.tales.restore("project-log").content == "day two"


def test_metrics_carry_the_storage_connection_pool(memory: MemMimic) -> None:
    before = memory.storage.stats()["pool"]["checkouts"]
    mid = memory.remember("pooled note")
    memory.get(mid)
    snapshot = memory.metrics_snapshot()
    (checkouts,) = [
        e["value"] for e in snapshot["counters"]["pool_checkouts"] if e["labels"] == {"pool": "storage"}
    ]
    assert checkouts >= before + 2  # the remember and the get each checked a connection out
    (size,) = [e["value"] for e in snapshot["gauges"]["pool_size"] if e["labels"] == {"pool": "storage"}]
    assert size == memory.storage.stats()["pool"]["size"]
    assert 'memmimic_pool_checkouts_total{pool="storage"}' in memory.prometheus()
