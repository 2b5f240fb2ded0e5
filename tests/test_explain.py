"""recall(explain=True): each hit's breakdown, matched terms, neighbour lift and its time window."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from memmimic_core import hookimpl
from memmimic_core.cli.app import build_app
from memmimic_core.engine import MemMimic
from memmimic_core.mcp_server.schemas import hit_view
from memmimic_core.models import Explanation, Hit, SourceScore, WeightedTerm
from memmimic_core.protocols import BackendContext, BackendOptions
from memmimic_core.search import hits_from_json, hits_to_json
from memmimic_plugins.sql.schema import memories
from tests.conftest import model_free_config

WEIGHTS = {"keyword": 0.6, "semantic": 0.4, "expansion": 0.25}


class TableExpander:
    """A real expander plugin backend: a fixed synonym table, one weight per synonym."""

    name: ClassVar[str] = "test-table"

    class Options(BackendOptions):
        """The synonym table."""

        table: dict[str, dict[str, float]] = {"car": {"automobile": 0.6, "motor vehicle": 0.3}}

    def __init__(self, options: Options, context: BackendContext | None = None) -> None:
        self.table = options.table

    def expand(self, text: str) -> list[WeightedTerm]:
        words = re.findall(r"\w+", text.lower())
        return [
            WeightedTerm(term=alt, weight=weight, source=word)
            for word in words
            for alt, weight in self.table.get(word, {}).items()
        ]

    def close(self) -> None:
        pass


class TablePlugin:
    """Registers :class:`TableExpander` (``MemMimic(config, plugins=[TablePlugin()])``)."""

    @hookimpl
    def memmimic_register_expander(self, register: Any) -> None:
        register(TableExpander)


def store(tmp_path: Path, **ranker: Any) -> MemMimic:
    """A model-free store with the table expander and a weighted ranker (``ranker`` overrides)."""
    options = {"backend": "weighted", "weights": WEIGHTS, "convergence_bonus": 0.0, **ranker}
    config = model_free_config(tmp_path / "store", expanders=[{"backend": "test-table"}], ranker=options)
    return MemMimic(config, plugins=[TablePlugin()])


def by_content(hits: list[Hit]) -> dict[str, Hit]:
    return {h.memory.content: h for h in hits}


def set_created_at(mm: MemMimic, memory_id: str, when: Any) -> None:
    """Backdate a memory in the SQLite file, as if it had been written at ``when``."""
    engine = sa.create_engine(f"sqlite:///{mm.storage.stats()['path']}")
    try:
        with engine.begin() as conn:
            conn.execute(sa.update(memories).where(memories.c.id == memory_id).values(created_at=when))
    finally:
        engine.dispose()


# -- explanations through the engine ------------------------------------------------------


def test_without_explain_hits_carry_no_explanation(tmp_path: Path) -> None:
    with store(tmp_path) as mm:
        mm.remember_many(["the car is parked outside", "my automobile broke down"])
        hits = mm.recall("car")
        assert hits and all(h.explanation is None for h in hits)
        assert all("explanation" not in h.to_dict() for h in hits)


def test_keyword_and_expansion_by_hand(tmp_path: Path) -> None:
    """Keyword finds only the car note, expansion only the automobile note: one candidate each,
    so each normalizes to 1.0; the divisor is the weights of the two sources, 0.6 + 0.25."""
    with store(tmp_path) as mm:
        mm.remember_many(["the car is parked outside", "my automobile broke down", "a lemon cake recipe"])
        hits = by_content(mm.recall("car", sources=["keyword", "expansion"], explain=True))
        assert set(hits) == {"the car is parked outside", "my automobile broke down"}
        car = hits["the car is parked outside"].explanation
        auto = hits["my automobile broke down"].explanation
        assert car is not None and auto is not None
        assert car.contributions == pytest.approx({"keyword": 0.6 / 0.85})
        assert car.score == pytest.approx(0.6 / 0.85)
        assert car.matched_query_terms == ("car",)
        assert car.matched_expanded_terms == ()
        assert auto.contributions == pytest.approx({"expansion": 0.25 / 0.85})
        assert auto.matched_query_terms == ()
        assert auto.matched_expanded_terms == (WeightedTerm("automobile", 0.6, "car"),)
        for explanation in (car, auto):
            assert explanation.bonus == 0.0
            assert explanation.context_lift == 0.0
            assert explanation.lifted_by is None


def test_every_source_with_a_bonus_adds_up(tmp_path: Path) -> None:
    """All three sources and a 0.1 bonus: each share is weight × normalized / Σ weights."""
    with store(tmp_path, convergence_bonus=0.1) as mm:
        mm.remember_many(
            ["the car is parked outside", "my automobile broke down", "cars everywhere", "a lemon cake"]
        )
        hits = mm.recall("car", explain=True)
        answered = {name for h in hits for name in h.sources}
        assert answered == {"keyword", "semantic", "expansion"}
        total = sum(WEIGHTS.values())
        for hit in hits:
            x = hit.explanation
            assert x is not None
            assert x.score == hit.score
            assert x.sources == hit.sources
            assert x.contributions == pytest.approx(
                {name: WEIGHTS[name] * s.normalized / total for name, s in hit.sources.items()}
            )
            assert x.bonus == pytest.approx(0.1 * (len(hit.sources) - 1))
            assert sum(x.contributions.values()) + x.bonus == pytest.approx(hit.score)
        # "cars" matches "car" through the index's stemming: reported as the query word
        cars = by_content(hits)["cars everywhere"].explanation
        assert cars is not None and cars.matched_query_terms == ("car",)


def test_a_multi_word_expanded_term_reports_its_weight(tmp_path: Path) -> None:
    with store(tmp_path) as mm:
        mm.remember_many(["a motor vehicle was stolen", "the motor hums"])
        hits = by_content(mm.recall("car", sources=["expansion"], explain=True))
        assert set(hits) == {"a motor vehicle was stolen"}
        x = hits["a motor vehicle was stolen"].explanation
        assert x is not None
        assert x.matched_expanded_terms == (WeightedTerm("motor vehicle", 0.3, "car"),)
        assert "motor vehicle (weight 0.3, from car)" in str(x)


def test_the_rrf_breakdown(tmp_path: Path) -> None:
    config = model_free_config(
        tmp_path / "store", ranker={"backend": "rrf", "k": 60, "weights": {"keyword": 2}}
    )
    with MemMimic(config) as mm:
        mm.remember_many(["zebra crossing", "zebra zebra stripes", "a lemon cake"])
        hits = mm.recall("zebra", sources=["keyword"], explain=True)
        assert [h.memory.content for h in hits] == ["zebra zebra stripes", "zebra crossing"]
        for hit, rank in zip(hits, (1, 2), strict=True):
            assert hit.explanation is not None
            assert hit.explanation.contributions == pytest.approx({"keyword": 2 / (60 + rank)})
            assert hit.explanation.bonus == 0.0
        assert [h.score for h in hits] == pytest.approx([2 / 61, 2 / 62])


# -- the neighbour lift and its time window -----------------------------------------------


TURNS = ["unrelated words", "where did the zebra go", "to the river", "far away"]


def test_explain_names_the_neighbour_that_lifted_a_hit(tmp_path: Path) -> None:
    with store(tmp_path, context_weight=0.3) as mm:
        mm.remember_many(TURNS)
        hits = mm.recall("zebra", sources=["keyword"], explain=True)
        zebra, *neighbours = hits
        assert zebra.memory.content == "where did the zebra go"
        assert zebra.explanation is not None and zebra.explanation.lifted_by is None
        assert zebra.explanation.contributions == pytest.approx({"keyword": 1.0})
        assert {h.memory.content for h in neighbours} == {"unrelated words", "to the river"}
        for hit in neighbours:
            x = hit.explanation
            assert x is not None
            assert x.lifted_by == zebra.id
            assert x.context_lift == pytest.approx(0.3 * zebra.score)
            assert x.score == pytest.approx(0.3 * zebra.score) == hit.score
            assert x.contributions == {}
            assert f"lifted by neighbour {zebra.id}" in str(x)


def test_turns_remembered_one_by_one_lift_each_other(tmp_path: Path) -> None:
    with store(tmp_path, context_weight=0.3) as mm:
        for turn in TURNS:
            mm.remember(turn)
        hits = mm.recall("zebra", sources=["keyword"])
        assert [h.memory.content for h in hits[:1]] == ["where did the zebra go"]
        lifted = {h.memory.content: h.score for h in hits[1:]}
        assert lifted == pytest.approx(
            {"unrelated words": 0.3 * hits[0].score, "to the river": 0.3 * hits[0].score}
        )


DAY = 86_400


@pytest.mark.parametrize(
    ("window", "offsets", "lifted"),
    [
        # notes written days apart never lift each other
        (600, (0, 3 * DAY, 6 * DAY, 9 * DAY), set()),
        # a conversation remembered over a quarter of an hour: turns 500 s apart, inside the window
        (600, (0, 500, 1000, 1500), {"unrelated words", "to the river"}),
        # 700 s apart: just outside it
        (600, (0, 700, 1400, 2100), set()),
        # an old note stored just before a new exchange: only the exchange's own turn lifts
        (600, (0, 3 * DAY, 3 * DAY + 60, 9 * DAY), {"to the river"}),
        # 0: no time limit, adjacency alone (the behaviour before the window)
        (0, (0, 3 * DAY, 6 * DAY, 9 * DAY), {"unrelated words", "to the river"}),
    ],
)
def test_only_memories_stored_close_in_time_are_neighbours(
    tmp_path: Path, window: float, offsets: tuple[int, ...], lifted: set[str]
) -> None:
    """Each of TURNS is backdated to its offset (seconds); the zebra turn is the only match."""
    with store(tmp_path, context_weight=0.3, context_window_seconds=window) as mm:
        ids = mm.remember_many(TURNS)
        start = mm.get(ids[0]).created_at - timedelta(days=30)
        for memory_id, offset in zip(ids, offsets, strict=True):
            set_created_at(mm, memory_id, start + timedelta(seconds=offset))
        hits = mm.recall("zebra", sources=["keyword"], explain=True)
        assert hits[0].memory.content == "where did the zebra go"
        assert {h.memory.content for h in hits[1:]} == lifted
        for hit in hits[1:]:
            assert hit.score == pytest.approx(0.3 * hits[0].score)
            assert hit.explanation is not None and hit.explanation.lifted_by == hits[0].id


# -- JSON, the result cache, the CLI and MCP ----------------------------------------------


def test_explanations_survive_the_json_round_trip(tmp_path: Path) -> None:
    with store(tmp_path, context_weight=0.3, convergence_bonus=0.1) as mm:
        mm.remember_many(["the car is parked outside", "my automobile broke down", "a lemon cake recipe"])
        hits = mm.recall("car", explain=True)
    assert any(h.explanation and h.explanation.lifted_by for h in hits)
    assert any(h.explanation and h.explanation.matched_expanded_terms for h in hits)
    assert hits_from_json(hits_to_json(hits)) == hits
    plain = [Hit(memory=h.memory, score=h.score, sources=h.sources) for h in hits]
    assert hits_from_json(hits_to_json(plain)) == plain


def test_cached_results_keep_their_explanations(tmp_path: Path) -> None:
    """A second store on the same disk cache decodes the first one's JSON, explanation included."""
    config = model_free_config(
        tmp_path / "store",
        expanders=[{"backend": "test-table"}],
        ranker={"backend": "weighted", "weights": WEIGHTS, "context_weight": 0.3},
        cache={"backend": "diskcache"},
    )
    with MemMimic(config, plugins=[TablePlugin()]) as mm:
        mm.remember_many(["the car is parked outside", "my automobile broke down", "a lemon cake recipe"])
        first = mm.recall("car", explain=True)
        plain = mm.recall("car")
    assert all(h.explanation is not None for h in first)
    assert all(h.explanation is None for h in plain)  # explain is part of the cache key
    with MemMimic(config, plugins=[TablePlugin()]) as mm:
        again = mm.recall("car", explain=True)
        assert mm.cache.stats()["pools"]["results"]["hits"] == 1
    assert again == first


def test_explanation_lines_by_hand() -> None:
    x = Explanation(
        score=0.85,
        contributions={"keyword": 0.45, "semantic": 0.2},
        bonus=0.1,
        context_lift=0.1,
        lifted_by="mem_x",
        matched_query_terms=("car",),
        matched_expanded_terms=(WeightedTerm("automobile", 0.6, "car"),),
        sources={
            "keyword": SourceScore(score=7.5, normalized=0.75, rank=2),
            "semantic": SourceScore(score=0.5, normalized=0.5, rank=3),
            "context": SourceScore(score=0.333, normalized=0.1, rank=1),
        },
    )
    assert x.lines() == [
        "final score 0.8500 = keyword 0.4500 + semantic 0.2000 + bonus 0.1000 + context 0.1000",
        "  keyword    +0.4500  (score 7.5000, rank 2, normalized 0.7500)",
        "  semantic   +0.2000  (score 0.5000, rank 3, normalized 0.5000)",
        "  bonus      +0.1000  (sources agreed)",
        "  context    +0.1000  (lifted by neighbour mem_x)",
        "  matched terms: car",
        "  matched expanded terms: automobile (weight 0.6, from car)",
    ]
    assert str(x) == "\n".join(x.lines())
    assert Explanation.from_dict(json.loads(json.dumps(x.to_dict()))) == x


def test_mcp_hit_view_carries_the_explanation(tmp_path: Path) -> None:
    with store(tmp_path) as mm:
        mm.remember_many(["the car is parked outside", "my automobile broke down"])
        hits = by_content(mm.recall("car", sources=["keyword", "expansion"], explain=True))
        plain = mm.recall("car")
    view = hit_view(hits["my automobile broke down"], "metadata").model_dump()
    assert view["explanation"] == {
        "contributions": pytest.approx({"expansion": 0.25 / 0.85}),
        "bonus": 0.0,
        "context_lift": 0.0,
        "lifted_by": None,
        "matched_terms": [],
        "matched_expanded_terms": [{"term": "automobile", "weight": 0.6, "source": "car"}],
    }
    assert hit_view(plain[0], "full").explanation is None


def test_cli_recall_explain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MEMMIMIC_CONFIG", "MEMMIMIC_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "160")
    config = model_free_config(tmp_path / "store", ranker={"backend": "weighted", "weights": WEIGHTS})
    path = tmp_path / "memmimic.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    app, runner = build_app(plugin_commands=False), CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["--config", str(path), *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    run("remember", "Kubernetes clusters need monitoring")
    run("remember", "Lemon cake needs sugar")
    out = run("recall", "kubernetes monitoring", "--explain")
    assert re.search(r"final score \d\.\d{4} = keyword \d\.\d{4} \+ semantic", out)
    assert re.search(r"keyword +\+\d\.\d{4} +\(score .*, rank 1, normalized 1\.0000\)", out)
    assert "matched terms: kubernetes, monitoring" in out
    data = json.loads(run("recall", "kubernetes monitoring", "--explain", "--json"))
    top = data[0]
    assert top["memory"]["content"] == "Kubernetes clusters need monitoring"
    x = top["explanation"]
    assert x["matched_query_terms"] == ["kubernetes", "monitoring"]
    assert sum(x["contributions"].values()) + x["bonus"] + x["context_lift"] == pytest.approx(top["score"])
    assert "explanation" not in json.loads(run("recall", "kubernetes monitoring", "--json"))[0]


def test_memories_of_another_type_are_not_neighbours(tmp_path: Path) -> None:
    with store(tmp_path, context_weight=0.3) as mm:
        mm.remember("the deploy script lives in ops/deploy.sh", memory_type="technical")
        mm.remember("maria prefers short status updates")  # a minute later, another kind of note
        mm.remember("run the migrations before the deploy", memory_type="technical")
        hits = mm.recall("deploy script", sources=["keyword"])
        assert "maria prefers short status updates" not in [h.memory.content for h in hits]
        assert all(set(h.sources) != {"context"} for h in hits)  # nothing entered by adjacency alone
