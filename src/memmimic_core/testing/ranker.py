"""The ranker contract: subclass :class:`RankerContract` to test a fusion ranker.

Either name a registered backend (``backend_name = "my-ranker"``, ``backend_options``) or
override the ``ranker`` fixture. The candidate lists below are built by hand so the right
answer holds for any sensible fusion, whatever its formula.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pytest

from ..models import Candidate, Fused
from ..plugins import Backends
from ..protocols import BackendContext, Ranker
from ._support import build_backend, close_backend

__all__ = ["RankerContract", "candidates"]


def candidates(
    *pairs: tuple[str, float], terms: Mapping[str, Sequence[str]] | None = None
) -> list[Candidate]:
    """Build a candidate list from ``(memory_id, score)`` pairs, best first."""
    terms = terms or {}
    return [Candidate(mid, score, tuple(terms.get(mid, ()))) for mid, score in pairs]


def ids(fused: Sequence[Fused]) -> list[str]:
    """The memory ids of a fused list, in order."""
    return [f.memory_id for f in fused]


class RankerContract:
    """Behaviour every ranker must show on hand-built candidate lists with known answers."""

    backend_name: ClassVar[str | None] = None
    backend_options: ClassVar[Mapping[str, Any]] = {}

    @pytest.fixture
    def ranker(self, memmimic_backends: Backends, backend_context: BackendContext) -> Iterator[Ranker]:
        """The ranker under test (built from ``backend_name`` unless overridden)."""
        backend = build_backend(self, memmimic_backends, "ranker", backend_context)
        yield backend
        close_backend(backend)

    def test_satisfies_the_protocol(self, ranker: Ranker) -> None:
        assert isinstance(ranker, Ranker)

    def test_no_sources_gives_nothing(self, ranker: Ranker) -> None:
        assert ranker.fuse({}, 10) == []

    def test_only_empty_sources_give_nothing(self, ranker: Ranker) -> None:
        assert ranker.fuse({"keyword": [], "semantic": []}, 10) == []

    def test_one_source_keeps_its_order(self, ranker: Ranker) -> None:
        keyword = candidates(("a", 9.0), ("b", 5.0), ("c", 2.0), ("d", 1.0))
        assert ids(ranker.fuse({"keyword": keyword}, 10)) == ["a", "b", "c", "d"]

    def test_agreeing_sources_give_the_known_order(self, ranker: Ranker) -> None:
        sources = {
            "keyword": candidates(("a", 12.0), ("b", 8.0), ("c", 3.0)),
            "semantic": candidates(("a", 0.91), ("b", 0.80)),
        }
        assert ids(ranker.fuse(sources, 10)) == ["a", "b", "c"]

    def test_a_memory_found_by_two_sources_beats_one_found_by_one(self, ranker: Ranker) -> None:
        sources = {
            "keyword": candidates(("both", 0.8), ("kw-only", 0.8)),
            "semantic": candidates(("sem-only", 0.8), ("both", 0.8)),
        }
        fused = ranker.fuse(sources, 10)
        assert fused[0].memory_id == "both"
        assert fused[0].score > max(f.score for f in fused[1:])

    def test_limit_is_honoured(self, ranker: Ranker) -> None:
        keyword = candidates(*[(f"m{i}", 10.0 - i) for i in range(10)])
        semantic = candidates(*[(f"m{i}", 1.0 - i / 20) for i in range(5, 15)])
        fused = ranker.fuse({"keyword": keyword, "semantic": semantic}, 3)
        assert len(fused) == 3

    def test_limit_larger_than_the_union_returns_the_union(self, ranker: Ranker) -> None:
        sources = {
            "keyword": candidates(("a", 2.0), ("b", 1.0)),
            "semantic": candidates(("b", 0.9), ("c", 0.5)),
        }
        assert sorted(ids(ranker.fuse(sources, 100))) == ["a", "b", "c"]

    def test_results_are_sorted_by_score(self, ranker: Ranker) -> None:
        sources = {
            "keyword": candidates(("a", 3.0), ("b", 2.0), ("c", 1.0)),
            "semantic": candidates(("c", 0.9), ("d", 0.7), ("a", 0.1)),
        }
        scores = [f.score for f in ranker.fuse(sources, 10)]
        assert scores == sorted(scores, reverse=True)

    def test_no_memory_appears_twice(self, ranker: Ranker) -> None:
        sources = {
            "keyword": candidates(("a", 3.0), ("a", 2.0), ("b", 1.0)),
            "semantic": candidates(("a", 0.9), ("b", 0.7)),
        }
        found = ids(ranker.fuse(sources, 10))
        assert sorted(found) == ["a", "b"]

    def test_each_hit_explains_its_sources(self, ranker: Ranker) -> None:
        sources = {
            "keyword": candidates(("a", 7.5), ("b", 4.0)),
            "semantic": candidates(("b", 0.83), ("c", 0.42)),
        }
        by_id = {f.memory_id: f for f in ranker.fuse(sources, 10)}
        assert set(by_id["a"].sources) == {"keyword"}
        assert set(by_id["b"].sources) == {"keyword", "semantic"}
        assert set(by_id["c"].sources) == {"semantic"}
        assert by_id["b"].sources["keyword"].score == pytest.approx(4.0)
        assert by_id["b"].sources["semantic"].score == pytest.approx(0.83)

    def test_source_ranks_are_one_based(self, ranker: Ranker) -> None:
        sources = {
            "keyword": candidates(("a", 7.5), ("b", 4.0), ("c", 1.0)),
            "semantic": candidates(("c", 0.9), ("a", 0.5)),
        }
        by_id = {f.memory_id: f for f in ranker.fuse(sources, 10)}
        assert [by_id[m].sources["keyword"].rank for m in "abc"] == [1, 2, 3]
        assert by_id["c"].sources["semantic"].rank == 1
        assert by_id["a"].sources["semantic"].rank == 2

    def test_matched_terms_are_the_union_over_sources(self, ranker: Ranker) -> None:
        sources = {
            "keyword": candidates(("a", 2.0), terms={"a": ["car"]}),
            "expansion": candidates(("a", 1.0), terms={"a": ["automobile", "car"]}),
        }
        (fused,) = ranker.fuse(sources, 10)
        assert sorted(set(fused.matched_terms)) == ["automobile", "car"]
        assert len(fused.matched_terms) == len(set(fused.matched_terms))

    def test_unknown_source_names_are_accepted(self, ranker: Ranker) -> None:
        fused = ranker.fuse({"my-own-retriever": candidates(("x", 1.0), ("y", 0.5))}, 10)
        assert ids(fused) == ["x", "y"]
        assert "my-own-retriever" in fused[0].sources

    def test_same_input_same_output(self, ranker: Ranker) -> None:
        sources = {
            "keyword": candidates(("a", 1.0), ("b", 1.0), ("c", 1.0)),
            "semantic": candidates(("d", 0.5), ("e", 0.5)),
        }
        first = ranker.fuse(sources, 10)
        assert ranker.fuse(sources, 10) == first
        reordered = {"semantic": sources["semantic"], "keyword": sources["keyword"]}
        assert ids(ranker.fuse(reordered, 10)) == ids(first)

    def test_the_breakdown_adds_up_to_the_score(self, ranker: Ranker) -> None:
        """Asked to explain (when ``fuse`` takes ``explain``), a ranker may leave ``contributions``
        empty; if it fills them, they add up to the score, and they never change the ranking."""
        sources = {
            "keyword": candidates(("a", 7.5), ("b", 4.0), ("c", 1.0)),
            "semantic": candidates(("b", 0.83), ("c", 0.42), ("d", 0.1)),
        }
        if "explain" not in inspect.signature(ranker.fuse).parameters:
            pytest.skip("this ranker's fuse() takes no explain= (it gives no breakdown)")
        explained = ranker.fuse(sources, 10, explain=True)  # type: ignore[call-arg]
        plain = ranker.fuse(sources, 10)
        assert [(f.memory_id, f.score) for f in explained] == [(f.memory_id, f.score) for f in plain]
        for fused in plain:
            assert not fused.contributions and fused.bonus == 0.0
        for fused in explained:
            if not fused.contributions:
                assert fused.bonus == 0.0
                continue
            assert set(fused.contributions) <= set(fused.sources)
            assert sum(fused.contributions.values()) + fused.bonus == pytest.approx(fused.score)

    def test_scores_are_finite_floats(self, ranker: Ranker) -> None:
        sources = {"keyword": candidates(("a", 0.0), ("b", 0.0)), "semantic": candidates(("a", -0.2))}
        for fused in ranker.fuse(sources, 10):
            assert isinstance(fused.score, float)
            assert fused.score == fused.score  # not NaN
