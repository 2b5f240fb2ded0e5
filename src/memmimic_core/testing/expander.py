"""The expander contract: subclass :class:`ExpanderContract` to test a query expander.

Either name a registered backend (``backend_name = "my-expander"``, ``backend_options``) or
override the ``expander`` fixture. Set ``max_terms`` to your backend's bound if it is tighter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pytest

from ..models import WeightedTerm
from ..plugins import Backends
from ..protocols import BackendContext, Expander
from ._support import build_backend, close_backend

__all__ = ["ExpanderContract"]

QUERIES = (
    "car accident on the highway",
    "happy birthday party with friends",
    "how do I fix a broken database migration",
)
HOSTILE = (
    "",
    "   ",
    '"unbalanced quote',
    "AND OR NOT NEAR * - ^ ( )",
    "🎉🚀 party",
    "x" * 5_000,
    "word " * 1_000,
    "\u0000\ufffd odd characters",
)


class ExpanderContract:
    """Behaviour every expander must show: bounded, weighted, new terms only, never raising."""

    backend_name: ClassVar[str | None] = None
    backend_options: ClassVar[Mapping[str, Any]] = {}
    #: the most terms any single query may produce
    max_terms: ClassVar[int] = 200

    @pytest.fixture
    def expander(self, memmimic_backends: Backends, backend_context: BackendContext) -> Iterator[Expander]:
        """The expander under test (built from ``backend_name`` unless overridden)."""
        backend = build_backend(self, memmimic_backends, "expander", backend_context)
        yield backend
        close_backend(backend)

    def test_satisfies_the_protocol(self, expander: Expander) -> None:
        assert isinstance(expander, Expander)

    @pytest.mark.parametrize("query", QUERIES)
    def test_returns_weighted_terms(self, expander: Expander, query: str) -> None:
        terms = expander.expand(query)
        assert isinstance(terms, list)
        for term in terms:
            assert isinstance(term, WeightedTerm)
            assert term.term.strip()
            assert 0.0 < term.weight <= 1.0

    @pytest.mark.parametrize("query", QUERIES)
    def test_never_returns_the_query_words(self, expander: Expander, query: str) -> None:
        words = set(re.findall(r"\w+", query.lower()))
        for term in expander.expand(query):
            assert term.term.lower() not in words

    @pytest.mark.parametrize("query", QUERIES)
    def test_same_query_same_terms(self, expander: Expander, query: str) -> None:
        assert expander.expand(query) == expander.expand(query)

    @pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
    def test_hostile_text_never_raises(self, expander: Expander, query: str) -> None:
        terms = expander.expand(query)
        assert isinstance(terms, list)
        assert len(terms) <= self.max_terms

    def test_empty_text_gives_nothing(self, expander: Expander) -> None:
        assert expander.expand("") == []

    def test_number_of_terms_is_bounded(self, expander: Expander) -> None:
        long_query = " ".join(QUERIES * 20)
        assert len(expander.expand(long_query)) <= self.max_terms

    def test_close_is_safe(self, expander: Expander) -> None:
        expander.expand(QUERIES[0])
        expander.close()
