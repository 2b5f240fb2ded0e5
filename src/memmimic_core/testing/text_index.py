"""The text index contract: subclass :class:`TextIndexContract` to test a keyword index.

The suite writes memories through the ``storage`` fixture (the storage chosen with
``--memmimic-storage``, sqlite by default) and searches them through your index after
``sync()``. Name a registered backend (``backend_name = "my-index"``, ``backend_options``)
or override ``make_text_index``: a fixture returning a function that builds a new index
instance on the test's storage (the suite builds two to act as two processes).
Needs ``hypothesis``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..models import Candidate, MemoryPatch, NewMemory, TextQuery, WeightedTerm
from ..plugins import Backends
from ..protocols import BackendContext, Storage, TextIndex
from ._support import build_backend, close_backend

__all__ = ["TextIndexContract"]

HOSTILE = (
    '"',
    '"unbalanced quote',
    "'single'",
    "AND",
    "OR NOT",
    "running AND",
    "NEAR(running park)",
    "NEAR/3",
    "*",
    "run*",
    "-running",
    "^running",
    "(",
    ")",
    "((running",
    "running)",
    "content:running",
    "col:val OR",
    "a AND (b OR",
    "🎉",
    "running 🎉 park",
    "\\",
    "%_",
    "\u0000",
    "\ufffd",
    "x" * 5_000,
    "running " * 700,
)


def ids(found: list[Candidate]) -> list[str]:
    """The memory ids of a result list, in order."""
    return [c.memory_id for c in found]


class TextIndexContract:
    """Behaviour every text index must show: stemming, isolation, hostile queries, catching up."""

    backend_name: ClassVar[str | None] = None
    backend_options: ClassVar[Mapping[str, Any]] = {}

    @pytest.fixture
    def make_text_index(
        self, memmimic_backends: Backends, backend_context: BackendContext, storage: Storage
    ) -> Iterator[Callable[[], TextIndex]]:
        """Return a function that builds a new index instance on the test's storage."""
        made: list[TextIndex] = []

        def make() -> TextIndex:
            made.append(build_backend(self, memmimic_backends, "text_index", backend_context))
            return made[-1]

        yield make
        for index in made:
            close_backend(index)

    @pytest.fixture
    def text_index(self, make_text_index: Callable[[], TextIndex]) -> TextIndex:
        """The text index under test."""
        return make_text_index()

    @staticmethod
    def add(storage: Storage, namespace: str, *contents: str) -> list[str]:
        """Store memories and return their ids."""
        return [m.id for m in storage.add([NewMemory(namespace=namespace, content=c) for c in contents])]

    @staticmethod
    def search(index: TextIndex, namespace: str, text: str = "", limit: int = 10, **kw: Any) -> list[str]:
        """Sync, then search and return the ids found."""
        index.sync()
        return ids(index.search(namespace, TextQuery(text=text, **kw), limit))

    # -- the basics -------------------------------------------------------------------------

    def test_satisfies_the_protocol(self, text_index: TextIndex) -> None:
        assert isinstance(text_index, TextIndex)

    def test_finds_a_stored_memory(self, storage: Storage, text_index: TextIndex) -> None:
        (kept,) = self.add(storage, "ns", "The quick brown fox jumps over the lazy dog")
        self.add(storage, "ns", "Completely unrelated sentence about taxes")
        assert self.search(text_index, "ns", "fox") == [kept]

    def test_empty_index_finds_nothing(self, text_index: TextIndex) -> None:
        assert self.search(text_index, "ns", "anything") == []

    @pytest.mark.parametrize("query", ["", "   "])
    def test_empty_query_gives_nothing(self, storage: Storage, text_index: TextIndex, query: str) -> None:
        self.add(storage, "ns", "some content to not find")
        assert self.search(text_index, "ns", query) == []

    @pytest.mark.parametrize("query", ["runs", "running", "run"])
    def test_finds_stemmed_variants(self, storage: Storage, text_index: TextIndex, query: str) -> None:
        running, runs = self.add(storage, "ns", "She was running in the park", "He runs every morning")
        self.add(storage, "ns", "A quiet afternoon with a book")
        assert sorted(self.search(text_index, "ns", query)) == sorted([running, runs])

    def test_best_match_first(self, storage: Storage, text_index: TextIndex) -> None:
        both, one = self.add(storage, "ns", "python packaging with python wheels", "a snake called python")
        self.add(storage, "ns", "nothing relevant at all")
        assert self.search(text_index, "ns", "python packaging") == [both, one]

    def test_scores_descend(self, storage: Storage, text_index: TextIndex) -> None:
        self.add(storage, "ns", "apple apple apple", "apple pie", "apple and pear and plum", "no fruit")
        text_index.sync()
        scores = [c.score for c in text_index.search("ns", TextQuery(text="apple"), 10)]
        assert len(scores) == 3
        assert scores == sorted(scores, reverse=True)

    def test_limit_is_honoured(self, storage: Storage, text_index: TextIndex) -> None:
        self.add(storage, "ns", *[f"meeting notes number {i}" for i in range(8)])
        assert len(self.search(text_index, "ns", "meeting", limit=3)) == 3

    # -- namespaces -------------------------------------------------------------------------

    def test_namespaces_are_isolated(self, storage: Storage, text_index: TextIndex) -> None:
        (mine,) = self.add(storage, "alice", "the secret launch plan")
        (theirs,) = self.add(storage, "bob", "the secret launch plan")
        assert self.search(text_index, "alice", "secret launch") == [mine]
        assert self.search(text_index, "bob", "secret launch") == [theirs]
        assert self.search(text_index, "carol", "secret launch") == []

    # -- the query is data ------------------------------------------------------------------

    def test_hostile_queries_never_raise(self, storage: Storage, text_index: TextIndex) -> None:
        self.add(storage, "ns", "She was running in the park", 'C++ and "quotes" (parentheses) AND NOT')
        text_index.sync()
        failures = []
        for query in HOSTILE:
            try:
                found = text_index.search("ns", TextQuery(text=query), 10)
            except Exception as exc:  # report every failing query, not just the first
                failures.append(f"{query[:40]!r}: {type(exc).__name__}: {exc}")
            else:
                if not isinstance(found, list):
                    failures.append(f"{query[:40]!r}: returned {type(found).__name__}, not a list")
        assert not failures, "hostile queries failed:\n" + "\n".join(failures)

    def test_operator_words_are_searched_as_words(self, storage: Storage, text_index: TextIndex) -> None:
        (kept,) = self.add(storage, "ns", 'notes with "quotes" and (parentheses)')
        self.add(storage, "ns", "something else entirely")
        assert self.search(text_index, "ns", '"quotes"') == [kept]
        assert self.search(text_index, "ns", "(parentheses") == [kept]

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(query=st.text(max_size=80))
    def test_any_text_is_a_valid_query(self, storage: Storage, text_index: TextIndex, query: str) -> None:
        if not storage.count("hypo"):
            self.add(storage, "hypo", "She was running in the park", "quotes \" and ' and (parens)")
        text_index.sync()
        assert isinstance(text_index.search("hypo", TextQuery(text=query), 5), list)

    # -- weighted terms ---------------------------------------------------------------------

    def test_weighted_terms_find_documents_with_only_the_expanded_term(
        self, storage: Storage, text_index: TextIndex
    ) -> None:
        (auto,) = self.add(storage, "ns", "my automobile broke down on the highway")
        self.add(storage, "ns", "a recipe for lemon cake")
        terms = (WeightedTerm("automobile", 0.5, "car"),)
        assert self.search(text_index, "ns", "car", terms=terms) == [auto]

    def test_terms_alone_are_a_query(self, storage: Storage, text_index: TextIndex) -> None:
        (auto,) = self.add(storage, "ns", "my automobile broke down")
        terms = (WeightedTerm("automobile", 0.5, "car"),)
        assert self.search(text_index, "ns", "", terms=terms) == [auto]

    # -- matched terms (explain) ---------------------------------------------------------

    @staticmethod
    def matched(index: TextIndex, namespace: str, text: str = "", **kw: Any) -> dict[str, set[str]]:
        """Sync, search with ``want_matched`` and return each hit's matched terms, case-folded."""
        index.sync()
        found = index.search(namespace, TextQuery(text=text, want_matched=True, **kw), 10)
        return {c.memory_id: {t.casefold() for t in c.matched_terms} for c in found}

    def test_matched_terms_are_query_words_or_expanded_terms(
        self, storage: Storage, text_index: TextIndex
    ) -> None:
        self.add(
            storage,
            "ns",
            "She was running in the park",
            "He runs every morning",
            "my automobile broke down near the Park",
            "a recipe for lemon cake",
        )
        terms = (WeightedTerm("automobile", 0.5, "car"), WeightedTerm("motor car", 0.4, "car"))
        found = self.matched(text_index, "ns", "Running PARK", terms=terms)
        assert len(found) == 3
        allowed = {"running", "park", "automobile", "motor car"}
        for memory_id, reported in found.items():
            assert reported, f"{memory_id} was found but reports no matched term"
            assert reported <= allowed, f"{memory_id} reports {reported - allowed}, not in the query"

    def test_a_memory_matched_by_one_word_reports_that_word(
        self, storage: Storage, text_index: TextIndex
    ) -> None:
        runs, park, both = self.add(
            storage, "ns", "He runs every morning", "a quiet afternoon in the park", "running in the park"
        )
        self.add(storage, "ns", "a recipe for lemon cake")
        found = self.matched(text_index, "ns", "Running park")
        assert found == {runs: {"running"}, park: {"park"}, both: {"running", "park"}}

    def test_a_memory_matched_by_an_expanded_term_reports_that_term(
        self, storage: Storage, text_index: TextIndex
    ) -> None:
        auto, car = self.add(storage, "ns", "my automobiles broke down", "the car is red")
        self.add(storage, "ns", "a recipe for lemon cake")
        terms = (WeightedTerm("automobile", 0.5, "car"), WeightedTerm("lorry", 0.5, "truck"))
        assert self.matched(text_index, "ns", "", terms=terms) == {auto: {"automobile"}}
        assert self.matched(text_index, "ns", "car", terms=terms) == {auto: {"automobile"}, car: {"car"}}

    # -- catching up ------------------------------------------------------------------------

    def test_sync_returns_a_count_and_lag_is_zero_after(
        self, storage: Storage, text_index: TextIndex
    ) -> None:
        self.add(storage, "ns", "one", "two")
        applied = text_index.sync()
        assert isinstance(applied, int) and applied >= 0
        assert text_index.lag() == 0

    def test_updates_are_reflected_after_sync(self, storage: Storage, text_index: TextIndex) -> None:
        (mid,) = self.add(storage, "ns", "the meeting is on tuesday")
        assert self.search(text_index, "ns", "tuesday") == [mid]
        storage.update(mid, "ns", MemoryPatch(content="the meeting moved to friday"))
        assert self.search(text_index, "ns", "tuesday") == []
        assert self.search(text_index, "ns", "friday") == [mid]

    def test_deletes_are_reflected_after_sync(self, storage: Storage, text_index: TextIndex) -> None:
        gone, kept = self.add(storage, "ns", "delete this banana note", "keep this banana note")
        assert sorted(self.search(text_index, "ns", "banana")) == sorted([gone, kept])
        storage.delete(gone, "ns")
        assert self.search(text_index, "ns", "banana") == [kept]

    def test_a_second_instance_catches_up(
        self, storage: Storage, make_text_index: Callable[[], TextIndex]
    ) -> None:
        first, second = make_text_index(), make_text_index()
        first.sync()
        second.sync()
        (mid,) = self.add(storage, "ns", "written while both indexes were open: zebra")
        assert self.search(second, "ns", "zebra") == [mid]
        assert self.search(first, "ns", "zebra") == [mid]

    def test_stats_is_a_dict(self, text_index: TextIndex) -> None:
        text_index.sync()
        assert isinstance(text_index.stats(), dict)
