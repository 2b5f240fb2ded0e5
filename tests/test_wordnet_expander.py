"""The ``wordnet`` expander: contract suite, sense-weighted synonyms, bounds, set-up and errors.

Needs the WordNet corpus built by ``python -m memmimic_core.wordnet_setup`` (``make demo``);
without it these tests skip, and fail when CI=true.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memmimic_core.engine import MemMimic
from memmimic_core.errors import MissingResourceError
from memmimic_core.testing.expander import ExpanderContract
from memmimic_core.wordnet_setup import LEXNAMES, build_corpus, corpus_dir, default_data_dir, main
from memmimic_plugins.wordnet_expander import STOPWORDS, WordNetExpander

from .conftest import IN_CI, model_free_config

DEBIAN_WORDNET = Path("/usr/share/wordnet")


def _require_wordnet() -> None:
    if (corpus_dir(default_data_dir()) / "lexnames").is_file():
        return
    message = f"WordNet is not set up in {default_data_dir()}; run `python -m memmimic_core.wordnet_setup`"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: must not skip)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def wordnet() -> WordNetExpander:
    """One default expander for the module (WordNet loads once per process)."""
    _require_wordnet()
    return WordNetExpander()


def make(**options: Any) -> WordNetExpander:
    """An expander with these options."""
    _require_wordnet()
    return WordNetExpander(WordNetExpander.Options(**options))


class TestWordNetContract(ExpanderContract):
    backend_name = "wordnet"
    max_terms = 12

    @pytest.fixture(autouse=True)
    def _needs_wordnet(self) -> None:
        _require_wordnet()


def terms_of(expander: WordNetExpander, text: str) -> list[str]:
    return [t.term for t in expander.expand(text)]


def test_car_expands_to_automobile(wordnet: WordNetExpander) -> None:
    terms = wordnet.expand("car")
    assert "automobile" in [t.term for t in terms]
    assert all(t.source == "car" for t in terms)


def test_a_synonym_of_a_rare_sense_is_left_out(wordnet: WordNetExpander) -> None:
    # `machine` is a lemma of car.n.01 but mostly means something else
    assert "machine" not in terms_of(wordnet, "car")


def test_the_most_frequent_sense_weighs_most(wordnet: WordNetExpander) -> None:
    weights = {t.term: t.weight for t in wordnet.expand("car")}
    assert weights["automobile"] == max(weights.values())


def test_inflected_words_are_lemmatized(wordnet: WordNetExpander) -> None:
    assert "automobile" in terms_of(wordnet, "cars")


def test_stopwords_and_question_words_are_ignored(wordnet: WordNetExpander) -> None:
    assert wordnet.expand("what when where who why how is the of and") == []
    assert {"what", "when", "where", "who", "why", "how", "which"} <= STOPWORDS
    assert wordnet.content_words("How did the car break?") == ["car", "break"]


def test_names_inside_a_sentence_are_not_expanded(wordnet: WordNetExpander) -> None:
    assert wordnet.content_words("When did Caroline go to the LGBTQ group?") == ["group"]
    assert "caroline" in make(skip_names=False).content_words("When did Caroline go?")


def test_weights_are_at_most_the_weight_option() -> None:
    expander = make(weight=0.3)
    terms = expander.expand("car accident on the highway with a big movie star")
    assert terms
    assert all(0 < t.weight <= 0.3 for t in terms)


def test_max_terms_is_honoured() -> None:
    assert len(make(max_terms=2).expand("big car movie film happy accident highway")) == 2
    assert make(max_terms=0).expand("car") == []


def test_max_synonyms_per_term_is_honoured() -> None:
    terms = make(max_synonyms_per_term=1).expand("car movie big")
    sources = [t.source for t in terms]
    assert len(sources) == len(set(sources))


def test_results_are_best_first(wordnet: WordNetExpander) -> None:
    weights = [t.weight for t in wordnet.expand("car accident on the highway with a big movie")]
    assert weights == sorted(weights, reverse=True)


def test_multiword_lemmas_only_when_asked() -> None:
    assert not any(" " in t or "_" in t for t in terms_of(make(min_score=0.0), "highway car"))
    assert "main road" in terms_of(make(multiword=True, min_score=0.0), "highway")


def test_pos_filter_restricts_senses() -> None:
    # `big` is an adjective: with nouns only it has no synonyms
    assert make(pos=["noun"]).expand("big") == []
    assert make(pos=["adjective"]).expand("big")


def test_concurrent_expansion_matches_sequential(wordnet: WordNetExpander) -> None:
    queries = ["car accident", "big movie", "broken database", "happy party", "old friends", "quick fix"]
    expected = {q: make(cache_size=0).expand(q) for q in queries}
    fresh = make()
    results: dict[str, list[Any]] = {}
    errors: list[BaseException] = []

    def run(query: str) -> None:
        try:
            results[query] = fresh.expand(query)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(q,)) for q in queries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results == expected


def test_missing_data_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MissingResourceError) as info:
        WordNetExpander(WordNetExpander.Options(data_dir=tmp_path))
    message = str(info.value)
    assert str(tmp_path) in message
    assert "make demo" in message
    assert "python -m memmimic_core.wordnet_setup" in message
    assert "apt-get install -y wordnet-base wordnet-sense-index" in message


def test_default_data_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEMMIMIC_NLTK_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path
    with pytest.raises(MissingResourceError, match="wordnet_setup"):
        WordNetExpander()


def test_lexnames_lists_the_45_lexicographer_files() -> None:
    assert [n for n, _, _ in LEXNAMES] == list(range(45))
    assert {p for _, name, p in LEXNAMES if name.startswith("noun.")} == {1}
    assert {p for _, name, p in LEXNAMES if name.startswith("verb.")} == {2}


@pytest.mark.skipif(not (DEBIAN_WORDNET / "data.noun").is_file(), reason="Debian wordnet-base not installed")
def test_setup_builds_a_complete_corpus(tmp_path: Path) -> None:
    folder = build_corpus(DEBIAN_WORDNET, tmp_path)
    assert folder == corpus_dir(tmp_path)
    assert len((folder / "lexnames").read_text().splitlines()) == 45
    for name in ("data.noun", "index.verb", "adj.exc", "index.sense", "cntlist.rev"):
        assert (folder / name).is_file() and not (folder / name).is_symlink()
    # every lexicographer file number the data uses names a file of the same part of speech
    lex_pos = {n: p for n, _, p in LEXNAMES}
    pos_of = {"noun": {1}, "verb": {2}, "adj": {3}, "adv": {4}}
    for pos, allowed in pos_of.items():
        with (folder / f"data.{pos}").open(encoding="utf-8") as fh:
            numbers = {int(line.split()[1]) for line in fh if not line.startswith(" ")}
        assert {lex_pos[n] for n in numbers} == allowed
    assert build_corpus(DEBIAN_WORDNET, tmp_path) == folder  # idempotent


def test_setup_command_reports_a_missing_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--source", str(tmp_path / "nowhere"), "--target", str(tmp_path), "--no-check"]) == 2
    assert "apt-get install -y wordnet-base" in capsys.readouterr().err


def test_expansion_never_contains_query_words_case_insensitively(wordnet: WordNetExpander) -> None:
    text = "Automobile CAR auto Film movie"
    words = {w.lower() for w in re.findall(r"\w+", text)}
    assert not words & set(terms_of(wordnet, text))


def test_recall_finds_a_memory_through_a_synonym(wordnet: WordNetExpander, tmp_path: Path) -> None:
    with MemMimic(model_free_config(tmp_path / "store", expanders=["wordnet"])) as store:
        bought = store.remember("I bought a new automobile last week.")
        store.remember("The weather is nice today.")
        hits = {h.memory.id: h for h in store.recall("car")}
        assert bought in hits
        assert "automobile" in hits[bought].matched_terms
        assert "expansion" in hits[bought].sources


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_any_text_gives_bounded_new_terms(wordnet: WordNetExpander, text: str) -> None:
    terms = wordnet.expand(text)
    assert len(terms) <= wordnet.options.max_terms
    words = {w.lower() for w in re.findall(r"\w+", text)}
    for term in terms:
        assert 0 < term.weight <= wordnet.options.weight
        assert term.term not in words


def test_extra_stopwords_are_not_expanded() -> None:
    assert "automobile" in terms_of(make(), "car movie")
    assert "automobile" not in terms_of(make(extra_stopwords=["Car"]), "car movie")
