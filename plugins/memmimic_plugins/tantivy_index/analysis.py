"""Text analysis shared by indexing and querying, so both sides see the same terms.

One tantivy ``TextAnalyzer`` is built from the options and registered on the index under a
name derived from its settings; queries are analyzed with the very same object, so stemming,
stopwords and lowercasing can never differ between the two sides.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import tantivy

from memmimic_core.models import TextQuery

__all__ = ["Analysis", "QueryTerm", "build_analysis"]

MAX_TOKEN_CHARS = 40  # as tantivy's own ``default`` and ``en_stem`` analyzers


@dataclass(frozen=True, slots=True)
class QueryTerm:
    """One query clause: its analyzed tokens (all required), weight and the user's words."""

    tokens: tuple[str, ...]
    weight: float
    surface: str


class Analysis:
    """The analyzer of one index and the query-side helpers built on it."""

    def __init__(self, tokenizer: str, stopwords: str | Sequence[str], ascii_fold: bool) -> None:
        stemmer = _stemmer_language(tokenizer)
        builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        builder = builder.filter(tantivy.Filter.remove_long(MAX_TOKEN_CHARS))
        builder = builder.filter(tantivy.Filter.lowercase())
        if ascii_fold:
            builder = builder.filter(tantivy.Filter.ascii_fold())
        if isinstance(stopwords, str):
            if stopwords != "none":
                builder = builder.filter(tantivy.Filter.stopword(stopwords))
        elif stopwords:
            builder = builder.filter(tantivy.Filter.custom_stopword([w.lower() for w in stopwords]))
        if stemmer is not None:
            builder = builder.filter(tantivy.Filter.stemmer(stemmer))
        self.analyzer = builder.build()
        self._surface = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).build()
        settings = {
            "tokenizer": tokenizer,
            "stopwords": stopwords if isinstance(stopwords, str) else sorted(stopwords),
            "ascii_fold": ascii_fold,
            "max_token_chars": MAX_TOKEN_CHARS,
        }
        self.signature = json.dumps(settings, sort_keys=True)
        digest = hashlib.sha256(self.signature.encode()).hexdigest()[:12]
        self.name = f"memmimic_{digest}"

    def analyze(self, text: str) -> list[str]:
        """Return the index terms of ``text``."""
        return list(self.analyzer.analyze(_clean(text)))

    def query_terms(self, query: TextQuery, max_terms: int) -> list[QueryTerm]:
        """Return the distinct clauses of a query with their weights (the highest wins).

        Each word of the text is a clause of weight 1.0; each weighted term keeps its weight,
        and a term of several words needs all of them. Nothing in the text is syntax.
        """
        found: dict[tuple[str, ...], QueryTerm] = {}

        def add(tokens: tuple[str, ...], weight: float, surface: str) -> None:
            known = found.get(tokens)
            if known is None:
                if len(found) < max_terms:
                    found[tokens] = QueryTerm(tokens, weight, surface)
            elif weight > known.weight:
                found[tokens] = QueryTerm(tokens, weight, known.surface)

        for word in self._surface.analyze(_clean(query.text)):
            for token in self.analyzer.analyze(word):
                add((token,), 1.0, word.lower())
        for term in query.terms:
            weight = float(term.weight)
            if not weight > 0.0:  # also drops NaN
                continue
            tokens = tuple(dict.fromkeys(self.analyze(term.term)))
            if tokens:
                add(tokens, min(weight, 1.0), " ".join(self._surface.analyze(_clean(term.term))).lower())
        return list(found.values())


def build_analysis(tokenizer: str, stopwords: str | Sequence[str], ascii_fold: bool) -> Analysis:
    """Build the analysis of an index from its options."""
    return Analysis(tokenizer, stopwords, ascii_fold)


def _stemmer_language(tokenizer: str) -> str | None:
    if tokenizer == "default":
        return None
    if tokenizer == "en_stem":
        return "english"
    return tokenizer.removeprefix("stem_")


def _clean(text: str) -> str:
    """Make any Python string safe for Rust: lone surrogates become "?"."""
    return text.encode("utf-8", "replace").decode("utf-8") if text else ""
