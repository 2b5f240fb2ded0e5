"""The committed index's tantivy query, and the matched terms of a hit (from its explanation)."""

from __future__ import annotations

import json
import re
from typing import Any

import tantivy

from memmimic_core.models import Filters

from .analysis import QueryTerm
from .schema import filter_clauses

__all__ = ["build_query", "matched_terms"]

CONTENT_FIELD_ID = 3  # position of ``content`` in schema.build_schema
# tantivy's explanation names each matching term as Term(field=<n>, type=Str, "<token>"); the
# simple tokenizer's tokens are alphanumeric, so they appear verbatim.
_CONTENT_TERM = re.compile(rf'Term\(field={CONTENT_FIELD_ID}, type=Str, "([^"\\]*)"\)')


def build_query(
    schema: tantivy.Schema,
    namespace: str,
    terms: list[QueryTerm],
    filters: Filters,
    exclude: tantivy.Query | None,
    boosts: dict[str, float],
) -> tantivy.Query:
    """An OR of the clauses (each boosted by its weight) under the namespace and filter clauses.

    Filters are ``const_score(…, 0)`` must-clauses, so they restrict the top-k without changing
    scores. ``exclude`` matches the documents the tail replaces; ``boosts`` rescale each token's
    idf to the statistics including the tail.
    """
    should = []
    for term in terms:
        clause = _clause(schema, term, boosts)
        if term.weight != 1.0:
            clause = tantivy.Query.boost_query(clause, term.weight)
        should.append((tantivy.Occur.Should, clause))
    must = [
        (tantivy.Occur.Must, tantivy.Query.const_score_query(clause, 0.0))
        for clause in filter_clauses(schema, namespace, filters)
    ]
    if exclude is not None:
        must.append((tantivy.Occur.MustNot, exclude))
    return tantivy.Query.boolean_query([*must, (tantivy.Occur.Must, tantivy.Query.boolean_query(should))])


def matched_terms(
    searcher: Any, query: tantivy.Query, terms: list[QueryTerm], address: Any
) -> tuple[str, ...]:
    """Return the surface words of the query clauses one hit contains (from tantivy's explain).

    Costs about 0.2 ms per hit, hence only when asked (option or ``TextQuery.want_matched``).
    """
    explanation = json.loads(query.explain(searcher, address).to_json())
    present: set[str] = set()
    pending = [explanation]
    while pending:
        node = pending.pop()
        for context in node.get("context", ()):
            present.update(_CONTENT_TERM.findall(context))
        pending.extend(node.get("details", ()))
    return tuple(term.surface for term in terms if all(t in present for t in term.tokens))


def _clause(schema: tantivy.Schema, term: QueryTerm, boosts: dict[str, float]) -> tantivy.Query:
    """The query of one clause: its token, or all its tokens for a multi-word term."""
    queries = []
    for token in term.tokens:
        query = tantivy.Query.term_query(schema, "content", token, "freq")
        boost = boosts.get(token, 1.0)
        queries.append(query if boost == 1.0 else tantivy.Query.boost_query(query, boost))
    if len(queries) == 1:
        return queries[0]
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in queries])
