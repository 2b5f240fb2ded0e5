"""Recall ranks on positions (Storage.locate) and reads in full only the hits it returns."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from memmimic_core.engine import MemMimic
from memmimic_core.models import Filters

from .conftest import model_free_config


def test_only_the_returned_hits_are_read_in_full(tmp_path: Path) -> None:
    cfg = model_free_config(tmp_path, ranker={"backend": "weighted", "context_weight": 0.3})
    with MemMimic(cfg) as m:
        m.remember_many([f"garden note {i}: tomatoes, basil and beans in bed {i}" for i in range(40)])
        read: list[list[str]] = []
        real_get = m.storage.get

        def counting_get(ids: Any, namespace: str, filters: Filters | None = None) -> Any:
            read.append(list(ids))
            return real_get(ids, namespace, filters)

        m.storage.get = counting_get  # type: ignore[method-assign]  # the real storage, counted
        hits = m.recall("tomatoes basil garden", limit=5)
        assert len(hits) == 5
        assert read == [[h.id for h in hits]]  # one read, of exactly the winners, in their order
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_a_filter_applies_to_candidates_and_to_lifted_neighbours(tmp_path: Path) -> None:
    cfg = model_free_config(tmp_path, ranker={"backend": "weighted", "context_weight": 0.3})
    with MemMimic(cfg) as m:
        m.remember("we planted tomatoes along the fence", memory_type="interaction")
        m.remember("the fence needs painting before winter", memory_type="technical")
        m.remember("tomatoes ripen in late summer", memory_type="interaction")
        got = m.recall("tomatoes", limit=10, memory_type="interaction")
        assert got and all(h.memory.memory_type == "interaction" for h in got)
        assert all("context" not in h.sources or h.memory.memory_type == "interaction" for h in got)


def _recalls_and_threads(data_dir: Path, parallel: bool) -> tuple[list[list[tuple[str, float]]], list[str]]:
    """Three recalls' (content, score) lists, and the threads the vector index searched in."""
    texts = [
        f"note {i}: the {w} of the garden in spring" for i, w in enumerate(["beans", "roses", "fence"] * 12)
    ]
    cfg = model_free_config(
        data_dir,
        performance={"parallel_retrievers": parallel},
        ranker={"backend": "weighted", "context_weight": 0.3},
    )
    with MemMimic(cfg) as m:
        m.remember_many(texts)
        threads: list[str] = []
        real_search = m.vector_index.search

        def noting_search(*args: Any, **kwargs: Any) -> Any:
            threads.append(threading.current_thread().name)
            return real_search(*args, **kwargs)

        m.vector_index.search = noting_search  # type: ignore[method-assign]  # the real index, observed
        hits = [
            [(h.memory.content, round(h.score, 9)) for h in m.recall(q, limit=6)]
            for q in ("roses in spring", "garden fence", "beans")
        ]
    return hits, threads


def test_parallel_and_sequential_retrievers_agree(tmp_path: Path) -> None:
    """``performance.parallel_retrievers`` moves the semantic source to a worker thread and
    changes nothing else: the same hits, in the same order, with the same scores."""
    sequential, in_threads = _recalls_and_threads(tmp_path / "sequential", parallel=False)
    parallel, pool_threads = _recalls_and_threads(tmp_path / "parallel", parallel=True)
    main = threading.main_thread().name
    assert in_threads and set(in_threads) == {main}
    assert pool_threads and main not in pool_threads
    assert parallel == sequential
    assert all(sequential)
