"""Recall ranks on positions (Storage.locate) and reads in full only the hits it returns."""

from __future__ import annotations

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
