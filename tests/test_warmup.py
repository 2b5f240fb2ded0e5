"""Predictive warm-up: the query log, and a store that re-runs its frequent queries when it opens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memmimic_core.engine import MemMimic
from memmimic_core.errors import ConfigError
from memmimic_core.warmup import HALF_LIFE_SECONDS, LOG_FILE, QueryLog
from tests.conftest import model_free_config


def config(tmp_path: Path, **warmup: Any) -> dict[str, Any]:
    return model_free_config(
        tmp_path, cache={"backend": "lru"}, performance={"warmup": {"enabled": True, **warmup}}
    )


def test_log_ranks_by_count_and_merges_what_several_processes_saved(tmp_path: Path) -> None:
    first, second = QueryLog(tmp_path, 100), QueryLog(tmp_path, 100)
    for _ in range(3):
        first.record("default", "where is the deploy script", 10, ("keyword", "semantic"))
    first.record("default", "who is maria", 5, ("keyword",))
    second.record("default", "who is maria", 5, ("keyword",))
    second.record("team", "who is maria", 5, ("keyword",))
    first.save()
    second.save()  # re-reads the file: first's counts are kept, not overwritten
    merged = QueryLog(tmp_path, 100).top(10)
    assert [(q.namespace, q.query, q.count) for q in merged] == [
        ("default", "where is the deploy script", 3),
        ("default", "who is maria", 2),
        ("team", "who is maria", 1),
    ]
    assert merged[0].sources == ("keyword", "semantic") and merged[1].limit == 5
    second.save()  # nothing new: saving again must not count twice
    assert QueryLog(tmp_path, 100).top(1)[0].count == 3


def test_old_queries_decay_and_the_log_keeps_its_size(tmp_path: Path) -> None:
    log = QueryLog(tmp_path, 2)
    for i in range(5):
        for _ in range(i + 1):
            log.record("default", f"query {i}", 10, ("keyword",))
    log.save()
    assert [q.query for q in QueryLog(tmp_path, 2).top(10)] == ["query 4", "query 3"]
    raw = json.loads((tmp_path / LOG_FILE).read_text())
    for entry in raw["queries"]:  # age "query 4" by two half-lives: 5 / 4 < 4
        if entry["query"] == "query 4":
            entry["last_seen"] -= 2 * HALF_LIFE_SECONDS
    (tmp_path / LOG_FILE).write_text(json.dumps(raw))
    assert [q.query for q in QueryLog(tmp_path, 2).top(10)] == ["query 3", "query 4"]


def test_an_unreadable_log_is_ignored_and_rewritten(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / LOG_FILE).write_text("{not json")
    log = QueryLog(tmp_path, 10)
    assert log.top(5) == [] and "unreadable query log" in caplog.text
    log.record("default", "hello", 10, ("keyword",))
    log.save()
    assert [q.query for q in QueryLog(tmp_path, 10).top(5)] == ["hello"]


def test_only_plain_recalls_are_logged(tmp_path: Path) -> None:
    with MemMimic(model_free_config(tmp_path)) as m:
        m.remember("the deploy script lives in ops/deploy.sh", tags=["ops"])
        m.recall("deploy script")
        m.recall("deploy script")
        m.recall("deploy script", limit=3, sources=["keyword"])
        m.recall("deploy script", tags=["ops"])  # filtered: not logged
        m.recall("deploy script", explain=True)  # explain: not logged
        assert m.status()["warmup"] == {"enabled": False, "logged_queries": 2}
    top = QueryLog(tmp_path, 10).top(10)
    assert [(q.query, q.limit, q.sources, q.count) for q in top] == [
        ("deploy script", 10, ("keyword", "semantic", "expansion"), 2),
        ("deploy script", 3, ("keyword",), 1),
    ]


def test_opening_warms_the_result_cache_with_the_frequent_queries(tmp_path: Path) -> None:
    with MemMimic(model_free_config(tmp_path)) as m:
        m.remember_many(["the deploy script lives in ops/deploy.sh", "maria likes friday updates"])
        for _ in range(3):
            m.recall("deploy script")
        m.recall("friday updates", namespace="default")
        m.recall("friday updates")
        m.recall("never asked again")
        new = m.remember("the deploy script needs the VPN")  # the logged results are stale now
    with MemMimic(config(tmp_path, queries=2)) as m:
        assert m.warmer is not None and m.warmer.wait(30)
        status = m.status()
        assert status["warmup"]["planned"] == 2 and status["warmup"]["warmed"] == 2
        assert status["warmup"]["errors"] == 0
        assert status["metrics"]["operations"]["warmup"]["count"] == 2
        hits_before = status["cache"]["hits"]
        found = m.recall("deploy script")
        assert new in [h.id for h in found]  # warmed on the current data, not the logged past
        assert m.status()["cache"]["hits"] == hits_before + 1  # served from the warmed entry
        m.recall("never asked again")
        assert m.status()["cache"]["hits"] == hits_before + 1  # not in the top 2: a miss


def test_closing_stops_a_warmup_in_progress(tmp_path: Path) -> None:
    log = QueryLog(tmp_path, 1000)
    for i in range(300):
        log.record("default", f"query number {i}", 10, ("keyword",))
    log.save()
    m = MemMimic(config(tmp_path, queries=300))
    m.close()  # stops the thread before any backend closes under it
    assert m.warmer is not None and not m.warmer.stats()["running"]
    assert m.warmer.errors == 0  # no recall ran against a closed store


def test_warmup_options_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"performance\.warmup\.queries"):
        MemMimic(config(tmp_path, queries=0))
