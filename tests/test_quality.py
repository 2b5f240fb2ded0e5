"""Memory quality: scores, duplicates, and the store / refuse / merge / supersede policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memmimic_core.engine import MemMimic
from memmimic_core.errors import InvalidInputError
from memmimic_core.quality import QualityConfig, content_hash, parse_config, remember_with_quality, score_text

FACT = "The deploy server listens on port 8080 behind nginx."


@pytest.fixture
def mm(tmp_path: Path) -> Iterator[MemMimic]:
    """A store on the model-free defaults (sqlite, hashing embedder)."""
    with MemMimic({"data_dir": str(tmp_path)}) as memory:
        yield memory


def test_a_clear_specific_sentence_outscores_noise() -> None:
    clear, dense, _ = score_text(FACT)
    noise_clarity, noise_density, notes = score_text("asdf !!! ??")
    assert clear > 0.8 and dense > 0.7
    assert noise_clarity < 0.3 and noise_density < 0.3
    assert any("short" in n for n in notes)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_scores_stay_between_0_and_1_for_any_text(text: str) -> None:
    clarity, density, notes = score_text(text)
    assert 0.0 <= clarity <= 1.0 and 0.0 <= density <= 1.0
    assert all(isinstance(n, str) for n in notes)


def test_repetition_lowers_density_and_is_noted() -> None:
    _, varied, _ = score_text("Alice moved the backups to the Berlin data centre in May 2024.")
    _, repetitive, notes = score_text("very very very very very very good good good good")
    assert repetitive < varied
    assert any("repetitive" in n for n in notes)


def test_content_hash_matches_the_storage(mm: MemMimic) -> None:
    mid = mm.remember(FACT)
    assert mm.get(mid).content_hash == content_hash(FACT)


def test_an_exact_duplicate_is_refused_and_nothing_is_written(mm: MemMimic) -> None:
    mid = mm.remember(FACT)
    decision = remember_with_quality(mm, FACT)
    assert decision.action == "refused" and decision.memory_id == mid
    assert decision.exact_duplicates == [mid] and "content hash" in decision.reason
    assert mm.storage.count("default") == 1


def test_a_near_duplicate_supersedes_the_older_memory_by_default(mm: MemMimic) -> None:
    old = mm.remember(FACT)
    decision = remember_with_quality(mm, FACT.replace(".", "!"))
    assert decision.action == "superseded" and decision.superseded == old
    assert decision.near_duplicates[0].id == old and decision.near_duplicates[0].cosine >= 0.92
    archived = mm.get(old)
    assert archived.status == "archived" and archived.superseded_by == decision.memory_id
    assert archived.valid_to is not None
    assert [h.id for h in mm.recall("deploy server port")] == [decision.memory_id]
    assert "superseded" in (mm.history(old)[-1].reason or "")


def test_the_successor_records_what_it_supersedes(mm: MemMimic) -> None:
    old = mm.remember(FACT)
    decision = remember_with_quality(mm, FACT.lower())
    assert decision.memory_id is not None
    assert mm.get(decision.memory_id).supersedes == old


def test_merge_appends_new_sentences_and_keeps_history(mm: MemMimic) -> None:
    old = mm.remember(FACT)
    cfg = QualityConfig(near_duplicate_policy="merge", near_duplicate_threshold=0.75, related_threshold=0.5)
    decision = remember_with_quality(mm, FACT + " It restarts nightly at 03:00.", config=cfg)
    assert decision.action == "merged" and decision.memory_id == old
    merged = mm.get(old)
    assert merged.content.startswith(FACT) and "03:00" in merged.content
    assert mm.history(old)[-1].before["content"] == FACT
    assert mm.storage.count("default") == 1


def test_refuse_policy_keeps_the_store_unchanged(mm: MemMimic) -> None:
    old = mm.remember(FACT)
    decision = remember_with_quality(mm, FACT.upper(), config=QualityConfig(near_duplicate_policy="refuse"))
    assert decision.action == "refused" and decision.memory_id == old and "near duplicate" in decision.reason
    assert mm.storage.count("default") == 1


def test_store_policy_keeps_both_and_reports_the_duplicate(mm: MemMimic) -> None:
    mm.remember(FACT)
    decision = remember_with_quality(mm, FACT.lower(), config=QualityConfig(near_duplicate_policy="store"))
    assert decision.action == "stored" and decision.near_duplicates
    assert mm.storage.count("default") == 2


def test_low_quality_text_is_refused_with_the_reasons(mm: MemMimic) -> None:
    decision = remember_with_quality(mm, "ok")
    assert decision.action == "refused" and decision.memory_id is None
    assert "below" in decision.reason and "short" in decision.reason
    assert mm.storage.count("default") == 0
    kept = remember_with_quality(mm, "ok", config=QualityConfig(low_quality_policy="store"))
    assert kept.action == "stored"


def test_related_memories_are_reported_beside_a_stored_one(mm: MemMimic) -> None:
    other = mm.remember(FACT)
    decision = remember_with_quality(mm, "The deploy server listens on port 9090 behind nginx.")
    assert decision.action == "stored"
    assert [r.id for r in decision.related] == [other]
    assert 0.75 <= decision.related[0].cosine < 0.92


def test_dry_run_writes_nothing(mm: MemMimic) -> None:
    mm.remember(FACT)
    decision = remember_with_quality(mm, FACT + "!", dry_run=True)
    assert decision.action == "assessed" and decision.reason.startswith("would be superseded")
    assert mm.storage.count("default") == 1 and mm.storage.count("default") == 1


def test_namespaces_do_not_see_each_others_duplicates(mm: MemMimic) -> None:
    mm.remember(FACT, namespace="a")
    assert remember_with_quality(mm, FACT, namespace="b").action == "stored"


def test_bad_settings_name_the_key() -> None:
    with pytest.raises(InvalidInputError, match="near_duplicate_policy"):
        parse_config({"near_duplicate_policy": "explode"})
    with pytest.raises(InvalidInputError, match="related_threshold"):
        parse_config({"related_threshold": 0.99, "near_duplicate_threshold": 0.9})
    assert parse_config({"min_quality": 0.5}).min_quality == 0.5
