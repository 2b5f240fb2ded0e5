"""tantivy's BM25, reproduced for the tail, and the committed index's statistics.

A tail document is scored as tantivy will score it once committed: same k1 and b, same idf,
same 1-byte fieldnorm quantization of the document length, and collection statistics (documents,
tokens, document frequency) of the committed index plus the tail's. tantivy counts deleted
documents in those statistics until a merge purges them, and so does the sum: a memory scores
the same just before and just after its commit (to float32 rounding).

tantivy-py exposes ``Searcher.doc_freq`` but not the total document and token counts BM25 uses;
:func:`committed_stats` reads them once per reader from the explanation of one hit.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["B", "K1", "BM25Stats", "FIELDNORMS", "bm25", "committed_stats", "fieldnorm", "idf", "idf_ratios"]

K1 = 1.2  # tantivy's BM25 parameters (tantivy/src/query/bm25.rs)
B = 0.75


def _fieldnorm_table() -> tuple[int, ...]:
    """tantivy's (Lucene's) 256 document lengths a 1-byte fieldnorm code decodes to.

    Codes below 24 are exact; above, a 3-bit mantissa with an implicit leading bit and a shift.
    """
    free = 24  # 255 - int4(2**31 - 1)
    table = []
    for code in range(256):
        if code < free:
            table.append(code)
            continue
        small = code - free
        bits, shift = small & 0x07, (small >> 3) - 1
        table.append(free + (bits if shift == -1 else (bits | 0x08) << shift))
    return tuple(table)


FIELDNORMS = _fieldnorm_table()


def fieldnorm(length: int) -> int:
    """Return the length tantivy scores a document of ``length`` tokens with (quantized)."""
    return FIELDNORMS[bisect.bisect_right(FIELDNORMS, length) - 1]


@dataclass(frozen=True, slots=True)
class BM25Stats:
    """Collection statistics of one field: documents and tokens (deleted documents included)."""

    num_docs: int
    num_tokens: float

    @property
    def avgdl(self) -> float:
        """The average field length (tantivy: total tokens / total documents)."""
        return self.num_tokens / self.num_docs if self.num_docs else 0.0


def idf(doc_freq: int, num_docs: int) -> float:
    """tantivy's idf: ln(1 + (N − n + 0.5) / (n + 0.5))."""
    return math.log(1.0 + (num_docs - doc_freq + 0.5) / (doc_freq + 0.5))


def bm25(tf: int, length: int, doc_freq: int, stats: BM25Stats) -> float:
    """tantivy's BM25 of one term in one document: idf · (k1+1) · tf / (tf + k1·(1−b+b·dl/avgdl))."""
    avgdl = stats.avgdl or 1.0
    norm = K1 * (1.0 - B + B * fieldnorm(length) / avgdl)
    return idf(doc_freq, stats.num_docs) * (1.0 + K1) * tf / (tf + norm)


def idf_ratios(
    committed_df: dict[str, int], tail_df: dict[str, int], committed: BM25Stats, combined: BM25Stats
) -> dict[str, float]:
    """Per token, the combined idf over the committed one: the boost that makes tantivy score
    committed documents with the statistics the tail's documents are scored with.

    (The average length stays the committed one there: with a tail much smaller than the index,
    it barely moves.)
    """
    ratios = {}
    for token, df in committed_df.items():
        if df > 0 and committed.num_docs > 0:
            ratios[token] = idf(df + tail_df.get(token, 0), combined.num_docs) / idf(df, committed.num_docs)
    return ratios


def committed_stats(
    searcher: Any, schema: Any, hints: Iterable[str] = (), field: str = "content"
) -> BM25Stats:
    """Return the BM25 statistics of ``field`` in the index ``searcher`` reads.

    Explains one hit of a term the field holds (``N`` and ``avgdl`` of tantivy's explanation):
    one of ``hints`` (the query's tokens, rarest first) when the index holds one, else a term
    from the dictionary (~2 ms at 10k documents). Falls back to the live document count and no
    tokens when nothing can be explained.
    """
    import tantivy

    if searcher is None or searcher.num_docs == 0:
        return BM25Stats(0, 0.0)
    held = sorted((df, token) for token in set(hints) if (df := int(searcher.doc_freq(field, token))) > 0)
    candidates = [token for _, token in held[:4]]
    candidates += [term for term, _ in searcher.terms_with_prefix(field, "", limit=16)] if not held else []
    for term in candidates:
        query = tantivy.Query.term_query(schema, field, term, "freq")
        hits = searcher.search(query, 1, count=False).hits
        if not hits:
            continue  # a term only deleted documents hold
        found = _explained(json.loads(query.explain(searcher, hits[0][1]).to_json()))
        if found is not None:
            num_docs, avgdl = found
            return BM25Stats(num_docs, avgdl * num_docs)
    if held:  # only deleted documents hold the hints: look in the dictionary
        return committed_stats(searcher, schema, (), field)
    return BM25Stats(searcher.num_docs, 0.0)


def _explained(node: dict[str, Any]) -> tuple[int, float] | None:
    values: dict[str, float] = {}
    pending = [node]
    while pending:
        item = pending.pop()
        head = str(item.get("description", "")).split(",", 1)[0]
        if head in ("N", "avgdl"):
            values[head] = float(item["value"])
        pending.extend(item.get("details", ()))
    if "N" not in values or "avgdl" not in values:
        return None
    return round(values["N"]), values["avgdl"]
