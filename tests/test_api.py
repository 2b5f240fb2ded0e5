"""The Python API end to end on the model-free defaults: write path, recall, isolation, errors."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memmimic_core.engine import MemMimic
from memmimic_core.errors import (
    ConfigError,
    InvalidInputError,
    MemMimicError,
    NotFoundError,
    UnknownPluginError,
)
from tests.conftest import model_free_config


def test_remember_returns_an_id_usable_at_once(memory: MemMimic) -> None:
    mid = memory.remember("The staging server runs on port 8443")
    assert memory.get(mid).content == "The staging server runs on port 8443"
    hits = memory.recall("staging server port")
    assert [h.id for h in hits] == [mid]
    memory.update(mid, importance=0.9, reason="it matters")
    memory.forget(mid)
    with pytest.raises(NotFoundError):
        memory.get(mid)


def test_ids_are_unique_strings(memory: MemMimic) -> None:
    ids = memory.remember_many([f"note number {i}" for i in range(50)])
    assert len(set(ids)) == 50
    assert all(isinstance(i, str) and i for i in ids)


def test_recall_explains_each_source(memory: MemMimic) -> None:
    memory.remember("Deploys happen with ops/deploy.sh after the VPN is up")
    memory.remember("Lunch is at noon in the small kitchen")
    hit = memory.recall("how do deploys happen", limit=1)[0]
    assert "deploy" in hit.memory.content
    assert set(hit.sources) >= {"keyword", "semantic"}
    for source in hit.sources.values():
        assert source.rank >= 1
        assert 0.0 <= source.normalized <= 1.0
    assert hit.score > 0


def test_recall_honours_the_limit(memory: MemMimic) -> None:
    memory.remember_many([f"apple pie recipe variant {i}" for i in range(30)])
    assert len(memory.recall("apple pie", limit=7)) == 7


def test_remember_many_keeps_order_and_reports_progress(memory: MemMimic) -> None:
    seen: list[tuple[int, int]] = []
    texts = [f"item {i} about topic {i % 3}" for i in range(20)]
    ids = memory.remember_many(texts, progress=lambda done, total: seen.append((done, total)))
    assert [memory.get(i).content for i in ids] == texts
    assert seen[-1] == (20, 20)


def test_namespaces_isolate_everything(memory: MemMimic) -> None:
    mine = memory.remember("the secret launch code is tulip", namespace="alice")
    memory.remember("bob likes tulips too", namespace="bob")
    assert [h.id for h in memory.recall("launch code tulip", namespace="alice")] == [mine]
    assert all(h.memory.namespace == "bob" for h in memory.recall("launch code tulip", namespace="bob"))
    with pytest.raises(NotFoundError):
        memory.get(mine, namespace="bob")
    with pytest.raises(NotFoundError):
        memory.update(mine, content="stolen", namespace="bob")
    with pytest.raises(NotFoundError):
        memory.forget(mine, namespace="bob")
    with pytest.raises(NotFoundError):
        memory.history(mine, namespace="bob")
    assert memory.get(mine, namespace="alice").content == "the secret launch code is tulip"
    assert memory.status()["memories"] == {"alice": 1, "bob": 1}


def test_filters_narrow_recall(memory: MemMimic) -> None:
    tech = memory.remember("restart the api after migrations", memory_type="technical", tags=["ops", "api"])
    memory.remember("restart the bakery oven after cleaning", memory_type="interaction", tags=["home"])
    assert [h.id for h in memory.recall("restart after", memory_type="technical")] == [tech]
    assert [h.id for h in memory.recall("restart after", tags=["ops"])] == [tech]
    assert memory.recall("restart after", tags=["ops", "home"]) == []
    future = datetime.now(timezone.utc) + timedelta(days=1)
    assert memory.recall("restart after", since=future) == []
    assert len(memory.recall("restart after", until=future.isoformat())) == 2


def test_metadata_filter(memory: MemMimic) -> None:
    a = memory.remember("meeting notes about budget", metadata={"project": "apollo"})
    memory.remember("meeting notes about hiring", metadata={"project": "zeus"})
    assert [h.id for h in memory.recall("meeting notes", metadata={"project": "apollo"})] == [a]


def test_archived_memories_leave_default_recall(memory: MemMimic) -> None:
    mid = memory.remember("the old office was on Baker Street")
    memory.update(mid, status="archived", reason="we moved")
    assert memory.recall("office Baker Street") == []
    assert [h.id for h in memory.recall("office Baker Street", status="archived")] == [mid]
    assert [h.id for h in memory.recall("office Baker Street", status=None)] == [mid]


def test_update_keeps_history_and_changes_recall(memory: MemMimic) -> None:
    mid = memory.remember("the wifi password is hunter2")
    memory.update(mid, content="the wifi password is correcthorse", reason="rotated")
    assert memory.recall("hunter2", sources=["keyword"]) == []
    assert [h.id for h in memory.recall("correcthorse")] == [mid]
    (entry,) = memory.history(mid)
    assert entry.reason == "rotated"
    assert entry.before["content"] == "the wifi password is hunter2"
    assert entry.after["content"] == "the wifi password is correcthorse"


def test_forget_removes_from_every_source(memory: MemMimic) -> None:
    mid = memory.remember("quantum flux capacitor maintenance")
    memory.forget(mid)
    assert memory.recall("quantum flux capacitor maintenance", sources=["keyword"]) == []
    assert memory.recall("quantum flux capacitor maintenance", sources=["semantic"]) == []
    with pytest.raises(NotFoundError):
        memory.forget(mid)


@pytest.mark.parametrize(
    "content",
    ["", "   \n\t", "nul\x00byte", "bad \ud800 surrogate", 42, None],
)
def test_bad_content_is_refused_clearly(memory: MemMimic, content: object) -> None:
    with pytest.raises(InvalidInputError):
        memory.remember(content)  # type: ignore[arg-type]
    assert memory.status()["total_memories"] == 0


def test_content_over_the_limit_is_refused(tmp_path: Path) -> None:
    with MemMimic(model_free_config(tmp_path, memory={"max_content_bytes": 100})) as m:
        with pytest.raises(InvalidInputError, match="over the limit"):
            m.remember("x" * 101)
        m.remember("x" * 100)


def test_a_bad_item_in_a_batch_writes_nothing(memory: MemMimic) -> None:
    with pytest.raises(InvalidInputError):
        memory.remember_many(["fine", "also fine", "", "never stored"])
    assert memory.status()["total_memories"] == 0


@pytest.mark.parametrize("limit", [0, -1, 10**9, True, 2.5, "5"])
def test_bad_limits_are_refused(memory: MemMimic, limit: object) -> None:
    with pytest.raises(InvalidInputError, match="limit"):
        memory.recall("anything", limit=limit)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad_id", ["mem_doesnotexist", ""])
def test_unknown_ids_are_clear_errors(memory: MemMimic, bad_id: str) -> None:
    with pytest.raises((NotFoundError, InvalidInputError)):
        memory.get(bad_id)


def test_malformed_ids_and_namespaces_are_refused(memory: MemMimic) -> None:
    with pytest.raises(InvalidInputError):
        memory.get("../../etc/passwd")
    with pytest.raises(InvalidInputError):
        memory.remember("hello", namespace="bad\nname")
    with pytest.raises(InvalidInputError):
        memory.recall("x", sources=["telepathy"])


HOSTILE = ['"unbalanced', "AND OR NOT", "NEAR(a b)", "col:val", "*", "-x ^y", "((((", "🙂🚀", "a" * 9000]


@pytest.mark.parametrize("query", HOSTILE)
def test_query_syntax_is_data(memory: MemMimic, query: str) -> None:
    memory.remember('she said "unbalanced" AND then NEAR the (((( 🙂🚀')
    memory.recall(query)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=200).filter(lambda s: s.strip() and "\x00" not in s))
def test_any_text_query_never_breaks_recall(memory: MemMimic, query: str) -> None:
    try:
        query.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(InvalidInputError):
            memory.recall(query)
        return
    for hit in memory.recall(query):
        assert hit.memory.namespace == "default"


def test_unknown_backend_fails_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(UnknownPluginError, match="ranker backend 'nope'"):
        MemMimic(model_free_config(tmp_path, ranker={"backend": "nope"}))


def test_bad_backend_option_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"storage\.pool_sise: unknown key"):
        MemMimic(model_free_config(tmp_path, storage={"backend": "sqlite", "pool_sise": 3}))


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    m = MemMimic(model_free_config(tmp_path))
    m.close()
    m.close()
    with pytest.raises(MemMimicError, match="closed"):
        m.remember("too late")


def test_threads_write_and_read_concurrently(memory: MemMimic) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                mid = memory.remember(f"thread {n} note {i} about gardening")
                assert memory.get(mid).content.endswith("gardening")
                memory.recall("gardening note", limit=5)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert memory.status()["total_memories"] == 100


def test_status_reports_backends_and_counts(memory: MemMimic) -> None:
    memory.remember("one")
    memory.flush()  # indexes catch up on the next read (or after the embedding worker's batch)
    status = memory.status()
    assert status["total_memories"] == 1
    assert status["backends"]["storage"] == memory.config.storage.backend
    assert status["text_index"]["lag"] == 0
    assert status["vector_index"]["lag"] == 0
    assert status["metrics"]["operations"]["remember"]["count"] == 1
