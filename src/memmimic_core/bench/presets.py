"""The built-in configurations ``bench quality`` compares (``--preset NAME``).

Every preset but ``default`` starts from :data:`BENCH_BASE` (tantivy keyword index, MiniLM on
ONNX Runtime, numpy vectors, no result cache) and changes one thing; ``default`` is the
configuration MemMimic ships with, whatever ``config.py`` says at run time. ``proposed`` is the
configuration this benchmark argues the defaults should become (see docs/quality.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import QUERY_STOPWORDS

__all__ = ["BENCH_BASE", "PRESETS", "PROPOSED_DEFAULTS", "QUERY_STOPWORDS", "Preset"]


@dataclass(frozen=True)
class Preset:
    """A named configuration: config overrides plus the sources recall may use."""

    name: str
    description: str
    config: Mapping[str, Any] = field(default_factory=dict)
    sources: tuple[str, ...] | None = None


#: What every preset except ``default`` starts from. The ranker is the ``weighted`` backend with
#: its own option defaults (no neighbour lift): a section left out would get the shipped default
#: ranker, whose neighbour lift would make the single-source presets no longer "alone".
BENCH_BASE: Mapping[str, Any] = {
    "text_index": {"backend": "tantivy"},
    "embedder": {"backend": "sentence-transformers", "runtime": "onnx"},
    "vector_index": {"backend": "numpy"},
    "cache": {"backend": "none"},
    "ranker": {"backend": "weighted"},
}

#: The settings proposed as MemMimic's defaults (merged over BENCH_BASE).
PROPOSED_DEFAULTS: Mapping[str, Any] = {
    "text_index": {"backend": "tantivy", "stopwords": list(QUERY_STOPWORDS)},
    "ranker": {
        "backend": "weighted",
        "weights": {"keyword": 0.6, "semantic": 0.4, "expansion": 0.25},
        "normalization": "minmax",
        "convergence_bonus": 0.0,
        "context_weight": 0.3,
    },
}


def _over_base(overrides: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: dict(v) for k, v in BENCH_BASE.items()}
    for key, value in overrides.items():
        out[key] = value
    return out


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("keyword", "tantivy BM25, English stemming, alone", _over_base({}), ("keyword",)),
        Preset(
            "keyword-stopwords",
            "tantivy BM25 with the question stopwords, alone",
            _over_base({"text_index": PROPOSED_DEFAULTS["text_index"]}),
            ("keyword",),
        ),
        Preset("semantic", "MiniLM-L6 cosine (ONNX), alone", _over_base({}), ("semantic",)),
        Preset(
            "expansion",
            "WordNet expansion terms on the keyword index, alone",
            _over_base({"expanders": [{"backend": "wordnet"}]}),
            ("expansion",),
        ),
        Preset(
            "weighted",
            "weighted ranker with its own defaults (0.5/0.5 min-max, bonus 0.1)",
            _over_base({"ranker": {"backend": "weighted"}}),
        ),
        Preset("rrf", "reciprocal rank fusion, k=60", _over_base({"ranker": {"backend": "rrf", "k": 60}})),
        Preset("default", "MemMimic's shipped defaults (config.py as installed)", {}),
        Preset(
            "proposed",
            "question stopwords, 0.6/0.4 keyword/semantic, neighbour context 0.3",
            _over_base(PROPOSED_DEFAULTS),
        ),
        Preset(
            "proposed+wordnet",
            "proposed, plus WordNet expansion at weight 0.25",
            _over_base({**PROPOSED_DEFAULTS, "expanders": [{"backend": "wordnet"}]}),
        ),
    )
}
