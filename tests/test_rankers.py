"""The ``weighted`` and ``rrf`` rankers: the ranker contract plus their arithmetic by hand."""

from __future__ import annotations

import pytest

from memmimic_core.errors import ConfigError
from memmimic_core.plugins import Backends
from memmimic_core.protocols import BackendContext
from memmimic_core.testing.ranker import RankerContract, candidates, ids
from memmimic_plugins.rankers import RrfRanker, WeightedRanker


class TestWeightedContract(RankerContract):
    backend_name = "weighted"


class TestWeightedMaxNormalizationContract(RankerContract):
    backend_name = "weighted"
    backend_options = {"normalization": "max", "convergence_bonus": 0.0}


class TestRrfContract(RankerContract):
    backend_name = "rrf"


def weighted(**options: object) -> WeightedRanker:
    return WeightedRanker(WeightedRanker.Options(**options))  # type: ignore[arg-type]


def test_weighted_fusion_of_three_candidates_by_hand() -> None:
    """keyword a=10, b=6, c=2; semantic b=0.9, c=0.5; default weights 0.5 / 0.5, bonus 0.1.

    minmax: keyword a=1, b=0.5, c=0; semantic b=1, c=0. Both sources returned something, so
    the divisor is 0.5 + 0.5 = 1.0.
      a = 0.5*1 / 1                        = 0.5
      b = (0.5*0.5 + 0.5*1) / 1 + 0.1*1    = 0.85
      c = (0.5*0 + 0.5*0) / 1 + 0.1*1      = 0.1
    """
    sources = {
        "keyword": candidates(("a", 10.0), ("b", 6.0), ("c", 2.0)),
        "semantic": candidates(("b", 0.9), ("c", 0.5)),
    }
    fused = weighted().fuse(sources, 10)
    assert ids(fused) == ["b", "a", "c"]
    assert [f.score for f in fused] == pytest.approx([0.85, 0.5, 0.1])
    b = fused[0]
    assert b.sources["keyword"].normalized == pytest.approx(0.5)
    assert b.sources["keyword"].rank == 2
    assert b.sources["semantic"].normalized == pytest.approx(1.0)
    assert b.sources["semantic"].rank == 1


def test_weighted_with_max_normalization_by_hand() -> None:
    """max: keyword a=1, b=0.6, c=0.2; semantic b=1, c=0.5/0.9; weights keyword 1, semantic 3."""
    sources = {
        "keyword": candidates(("a", 10.0), ("b", 6.0), ("c", 2.0)),
        "semantic": candidates(("b", 0.9), ("c", 0.5)),
    }
    ranker = weighted(normalization="max", weights={"keyword": 1.0, "semantic": 3.0}, convergence_bonus=0.0)
    by_id = {f.memory_id: f.score for f in ranker.fuse(sources, 10)}
    assert by_id["a"] == pytest.approx(1.0 / 4)
    assert by_id["b"] == pytest.approx((0.6 + 3.0) / 4)
    assert by_id["c"] == pytest.approx((0.2 + 3.0 * 0.5 / 0.9) / 4)


def test_a_single_candidate_normalizes_to_one() -> None:
    (fused,) = weighted().fuse({"semantic": candidates(("only", 0.12))}, 10)
    assert fused.sources["semantic"].normalized == 1.0
    assert fused.score == pytest.approx(1.0)


def test_the_divisor_counts_only_sources_that_returned_something() -> None:
    (fused,) = weighted().fuse({"keyword": candidates(("a", 3.0)), "semantic": []}, 10)
    assert fused.score == pytest.approx(1.0)


def test_unknown_sources_get_the_default_weight() -> None:
    ranker = weighted(default_weight=0.25, convergence_bonus=0.0)
    assert ranker.weight("my-source") == 0.25
    sources = {"keyword": candidates(("a", 1.0)), "my-source": candidates(("b", 1.0))}
    by_id = {f.memory_id: f.score for f in ranker.fuse(sources, 10)}
    assert by_id["a"] == pytest.approx(0.5 / 0.75)
    assert by_id["b"] == pytest.approx(0.25 / 0.75)


def test_the_convergence_bonus_grows_with_each_agreeing_source() -> None:
    sources = {name: candidates(("x", 1.0)) for name in ("keyword", "semantic", "expansion")}
    (fused,) = weighted(convergence_bonus=0.1).fuse(sources, 10)
    assert fused.score == pytest.approx(1.0 + 0.2)


def test_a_zero_weight_source_explains_but_neither_scores_nor_earns_a_bonus() -> None:
    sources = {"keyword": candidates(("a", 1.0)), "expansion": candidates(("a", 1.0), ("b", 0.5))}
    fused = weighted(weights={"keyword": 1.0, "expansion": 0.0}).fuse(sources, 10)
    by_id = {f.memory_id: f for f in fused}
    assert by_id["a"].score == pytest.approx(1.0)
    assert by_id["b"].score == 0.0
    assert "expansion" in by_id["a"].sources


def test_ties_are_broken_by_memory_id() -> None:
    sources = {"keyword": candidates(("c", 1.0), ("a", 1.0), ("b", 1.0))}
    assert ids(weighted().fuse(sources, 10)) == ["a", "b", "c"]
    assert ids(
        RrfRanker().fuse({"keyword": candidates(("z", 1.0)), "semantic": candidates(("y", 1.0))}, 10)
    ) == [
        "y",
        "z",
    ]


def test_non_finite_scores_do_not_break_fusion() -> None:
    sources = {"keyword": candidates(("a", float("inf")), ("b", 1.0), ("c", float("nan")))}
    assert ids(weighted().fuse(sources, 10)) == ["a", "b", "c"]


def test_limit_zero_gives_nothing() -> None:
    assert weighted().fuse({"keyword": candidates(("a", 1.0))}, 0) == []


def test_rrf_by_hand() -> None:
    """k=60: a = 1/61 + 1/63, b = 1/62 + 1/61, c = 1/63, d = 1/62."""
    sources = {
        "keyword": candidates(("a", 5.0), ("b", 4.0), ("c", 3.0)),
        "semantic": candidates(("b", 0.9), ("d", 0.8), ("a", 0.7)),
    }
    fused = RrfRanker().fuse(sources, 10)
    assert ids(fused) == ["b", "a", "d", "c"]
    assert [f.score for f in fused] == pytest.approx([1 / 62 + 1 / 61, 1 / 61 + 1 / 63, 1 / 62, 1 / 63])
    assert fused[0].sources["semantic"].normalized == pytest.approx(1.0)
    assert fused[0].sources["keyword"].normalized == pytest.approx(61 / 62)


def test_rrf_k_and_weights_from_options() -> None:
    ranker = RrfRanker(RrfRanker.Options(k=1, weights={"semantic": 2.0}))
    sources = {"keyword": candidates(("a", 1.0)), "semantic": candidates(("b", 1.0))}
    by_id = {f.memory_id: f.score for f in ranker.fuse(sources, 10)}
    assert by_id == pytest.approx({"a": 1 / 2, "b": 2 / 2})


def test_weighted_breakdown_by_hand() -> None:
    """The by-hand case above, broken down: weight × normalized / Σ weights, then the bonus.

    weights keyword 0.6, semantic 0.4 (divisor 1.0), bonus 0.1. minmax: keyword a=1, b=0.5,
    c=0; semantic b=1, c=0.
      a: keyword 0.6*1 = 0.6
      b: keyword 0.6*0.5 = 0.3, semantic 0.4*1 = 0.4, bonus 0.1     → 0.8
      c: keyword 0, semantic 0, bonus 0.1                             → 0.1
    """
    sources = {
        "keyword": candidates(("a", 10.0), ("b", 6.0), ("c", 2.0)),
        "semantic": candidates(("b", 0.9), ("c", 0.5)),
    }
    ranker = weighted(weights={"keyword": 0.6, "semantic": 0.4}, convergence_bonus=0.1)
    by_id = {f.memory_id: f for f in ranker.fuse(sources, 10, explain=True)}
    assert by_id["a"].contributions == pytest.approx({"keyword": 0.6})
    assert by_id["a"].bonus == 0.0
    assert by_id["b"].contributions == pytest.approx({"keyword": 0.3, "semantic": 0.4})
    assert by_id["b"].bonus == pytest.approx(0.1)
    assert by_id["b"].score == pytest.approx(0.8)
    assert by_id["c"].contributions == pytest.approx({"keyword": 0.0, "semantic": 0.0})
    assert by_id["c"].bonus == pytest.approx(0.1)


def test_weighted_breakdown_divides_by_the_weights_of_the_sources_that_answered() -> None:
    """keyword 1.0, expansion 0.25 answered, semantic (0.5) did not: divisor 1.25."""
    sources = {
        "keyword": candidates(("a", 2.0), ("b", 1.0)),
        "expansion": candidates(("b", 3.0)),
        "semantic": [],
    }
    ranker = weighted(weights={"keyword": 1.0, "semantic": 0.5, "expansion": 0.25}, convergence_bonus=0.0)
    by_id = {f.memory_id: f for f in ranker.fuse(sources, 10, explain=True)}
    assert by_id["a"].contributions == pytest.approx({"keyword": 1.0 / 1.25})
    assert by_id["b"].contributions == pytest.approx({"keyword": 0.0, "expansion": 0.25 / 1.25})
    assert by_id["b"].bonus == 0.0


def test_rrf_breakdown_by_hand() -> None:
    """k=60, semantic weight 2: b = keyword 1/62 + semantic 2/61; no bonus in RRF."""
    ranker = RrfRanker(RrfRanker.Options(weights={"semantic": 2.0}))
    sources = {
        "keyword": candidates(("a", 5.0), ("b", 4.0)),
        "semantic": candidates(("b", 0.9), ("a", 0.7)),
    }
    by_id = {f.memory_id: f for f in ranker.fuse(sources, 10, explain=True)}
    assert by_id["b"].contributions == pytest.approx({"keyword": 1 / 62, "semantic": 2 / 61})
    assert by_id["a"].contributions == pytest.approx({"keyword": 1 / 61, "semantic": 2 / 62})
    assert by_id["b"].bonus == 0.0
    assert by_id["b"].score == pytest.approx(1 / 62 + 2 / 61)


def test_no_breakdown_unless_asked() -> None:
    sources = {"keyword": candidates(("a", 2.0)), "semantic": candidates(("a", 0.5))}
    for ranker in (weighted(), RrfRanker()):
        (fused,) = ranker.fuse(sources, 10)
        assert fused.contributions == {} and fused.bonus == 0.0


def test_context_window_option() -> None:
    assert WeightedRanker.Options().context_window_seconds == 600.0
    assert WeightedRanker.Options(context_window_seconds=0).context_window_seconds == 0.0


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("weighted", {"normalization": "zscore"}),
        ("weighted", {"weights": {"keyword": -1}}),
        ("weighted", {"bonus": 0.1}),
        ("weighted", {"context_window_seconds": -1}),
        ("rrf", {"k": 0}),
        ("rrf", {"weights": {"semantic": "heavy"}}),
    ],
)
def test_bad_options_are_config_errors(
    memmimic_backends: Backends, backend_context: BackendContext, name: str, options: dict[str, object]
) -> None:
    with pytest.raises(ConfigError, match=r"ranker\."):
        memmimic_backends["ranker"].create(name, options, backend_context, "ranker")
