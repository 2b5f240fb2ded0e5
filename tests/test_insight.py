"""Thinking aids computed from the store: groups, gaps, contradictions, questions, distributions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memmimic_core.engine import MemMimic
from memmimic_core.insight import (
    analyze_memory_patterns,
    context_tale,
    socratic_dialogue,
    tale_citations,
    think_with_memory,
)

PORT_8080 = "The deploy server listens on port 8080 behind nginx."
PORT_9090 = "The deploy server listens on port 9090 behind nginx."
NOT_8080 = "The deploy server does not listen on port 8080 behind nginx."
OTHER = "Alice prefers short answers with code examples."


@pytest.fixture
def mm(tmp_path: Path) -> Iterator[MemMimic]:
    """A store on the model-free defaults."""
    with MemMimic({"data_dir": str(tmp_path)}) as memory:
        yield memory


def test_think_reports_gaps_for_query_terms_no_memory_covers(mm: MemMimic) -> None:
    mm.remember(PORT_8080)
    result = think_with_memory(mm, "deploy port kubernetes")
    assert [g.term for g in result.gaps] == ["kubernetes"]
    assert any("kubernetes" in q for q in result.questions)


def test_think_points_to_memories_outside_the_results_that_cover_a_gap(mm: MemMimic) -> None:
    mm.remember(PORT_8080)
    elsewhere = mm.remember("Kubernetes upgrades happen on Fridays.")
    result = think_with_memory(mm, "deploy port kubernetes", limit=1)
    assert result.gaps[0].term == "kubernetes" and result.gaps[0].elsewhere == [elsewhere]


def test_think_finds_contradictions_by_numbers_and_by_negation(mm: MemMimic) -> None:
    a, b, c = mm.remember(PORT_8080), mm.remember(PORT_9090), mm.remember(NOT_8080)
    result = think_with_memory(mm, "deploy server port nginx")
    kinds = {(frozenset((x.a, x.b)), x.kind) for x in result.contradictions}
    assert (frozenset((a, b)), "numbers") in kinds
    assert (frozenset((a, c)), "negation") in kinds
    assert any("Which holds" in q for q in result.questions)


def test_think_groups_by_function_and_age(mm: MemMimic) -> None:
    ids = {mm.remember(PORT_8080), mm.remember(OTHER)}
    result = think_with_memory(mm, "deploy answers")
    assert {i for group in result.by_function.values() for i in group} == ids
    assert set(result.by_age) == {"last_day"}


def test_think_on_an_empty_store_asks_what_to_remember(mm: MemMimic) -> None:
    result = think_with_memory(mm, "anything at all")
    assert result.memories == [] and "Nothing stored matches" in result.questions[0]


def test_socratic_rounds_follow_the_stages_up_to_depth(mm: MemMimic) -> None:
    for text in (PORT_8080, PORT_9090, NOT_8080):
        mm.remember(text)
    full = socratic_dialogue(mm, "deploy server port", depth=5)
    assert [r.stage for r in full.rounds] == [
        "clarify",
        "evidence",
        "contradiction",
        "implication",
        "assumption",
    ]
    assert all(r.basis for r in full.rounds)
    assert len(socratic_dialogue(mm, "deploy server port", depth=2).rounds) == 2


def test_socratic_clarify_names_terms_nothing_mentions(mm: MemMimic) -> None:
    mm.remember(PORT_8080)
    first = socratic_dialogue(mm, "deploy zeppelin", depth=1).rounds[0]
    assert first.stage == "clarify" and "zeppelin" in first.question


def test_patterns_count_types_status_tags_and_duplicates(mm: MemMimic) -> None:
    mm.remember(PORT_8080, memory_type="technical", tags=["ops"])
    mm.remember(PORT_8080, memory_type="technical", tags=["ops", "web"])
    archived = mm.remember(OTHER)
    mm.update(archived, status="archived")
    result = analyze_memory_patterns(mm)
    assert result.total == 3
    assert result.by_type == {"technical": 2, "interaction": 1}
    assert result.by_status == {"active": 2, "archived": 1}
    assert result.top_tags == {"ops": 2, "web": 1}
    assert result.duplicate_groups == 1
    assert result.by_access == {"never": 3}
    assert any("never recalled" in o for o in result.observations)


def test_patterns_of_an_empty_namespace(mm: MemMimic) -> None:
    result = analyze_memory_patterns(mm, namespace="empty")
    assert result.total == 0 and result.observations == ["the namespace holds no memories"]


def test_context_tale_writes_nothing_unless_asked(mm: MemMimic) -> None:
    mid = mm.remember(PORT_8080)
    draft = context_tale(mm, "deploy server")
    assert mid in draft.cited and f"[{mid}]" in draft.text and draft.saved_as is None
    assert mm.tales.list() == []
    saved = context_tale(mm, "deploy server", save_as="deploy")
    assert saved.saved_as == "deploy" and saved.version == 1
    assert mm.tales.load("deploy").content == saved.text


def test_context_tale_stays_within_the_budget(mm: MemMimic) -> None:
    for i in range(10):
        mm.remember(f"Deploy step {i}: " + "check the health endpoint and the logs. " * 10)
    draft = context_tale(mm, "deploy step", max_tokens=200)
    assert draft.omitted > 0 and len(draft.text) <= 200 * 4 + 100


def test_tale_citations_by_id_and_by_quote(mm: MemMimic) -> None:
    mid = mm.remember(PORT_8080)
    mm.tales.save("by id", f"See {mid}.")
    mm.tales.save("by quote", f"Remember: {PORT_8080} That matters.")
    mm.tales.save("unrelated", "Nothing to see.")
    cited = {c["name"]: c["cites_by"] for c in tale_citations(mm, mm.get(mid), "default")}
    assert cited == {"by id": ["id"], "by quote": ["quote"]}
