"""The ``cxd`` classifier: CONTROL / CONTEXT / DATA from lexical patterns and canonical examples.

Two signals, each a probability over the three functions:

- **lexical**: weighted English markers per class (:mod:`.patterns`), softmaxed;
- **embedding**: cosine similarity of the text to canonical examples of each class
  (``examples.json``, embedded once per embedder fingerprint and cached as ``.npy`` under
  ``<data_dir>/cxd`` and a per-user cache, so a new store does not embed them again), the mean
  of the ``top_k`` nearest per class, softmaxed.

They are fused as a weighted mean (a signal that abstains, such as the lexical one when no
pattern matches, leaves the decision to the other). The function is the most probable class,
the confidence its probability. Without an embedder (or with ``embedding: false``) the
lexical signal decides alone. What each class means: docs/cxd.md.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from memmimic_core import hookimpl
from memmimic_core.errors import InvalidInputError
from memmimic_core.models import CXD_FUNCTIONS, Vector
from memmimic_core.protocols import BackendContext, BackendOptions, Classifier, Embedder
from memmimic_core.registry import BackendRegistry
from memmimic_core.user_cache import model_cache_dir

from .examples import CanonicalExamples, ExampleVectors
from .patterns import lexical_scores

__all__ = ["CxdClassifier"]

_HAS_WORD = re.compile(r"\w")
#: on an exact tie the plainer reading wins: DATA, then CONTEXT, then CONTROL
_TIE_ORDER = (CXD_FUNCTIONS.index("DATA"), CXD_FUNCTIONS.index("CONTEXT"), CXD_FUNCTIONS.index("CONTROL"))

Matrix = npt.NDArray[np.float64]


def _softmax(scores: Matrix, temperature: float) -> Matrix:
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: Matrix = e / e.sum(axis=1, keepdims=True)
    return out


class CxdClassifier:
    """Lexical patterns fused with nearest canonical examples in embedding space."""

    name: ClassVar[str] = "cxd"

    class Options(BackendOptions):
        """Options of the ``cxd`` classifier."""

        embedding: bool = Field(default=True, description="use the embedding signal when an embedder exists")
        lexical_weight: float = Field(default=0.5, ge=0.0, description="weight of the lexical signal")
        embedding_weight: float = Field(default=0.5, ge=0.0, description="weight of the embedding signal")
        top_k: int = Field(default=3, ge=1, le=50, description="nearest examples averaged per class")
        temperature: float = Field(
            default=0.1, gt=0.0, description="softmax temperature of the per-class cosine similarities"
        )
        lexical_temperature: float = Field(
            default=1.0, gt=0.0, description="softmax temperature of the summed pattern weights"
        )
        min_confidence: float = Field(
            default=0.0, ge=0.0, le=1.0, description="below this confidence a text stays unclassified"
        )
        examples: Path | None = Field(
            default=None, description="a JSON file of canonical examples (default: the packaged set)"
        )
        max_chars: int = Field(default=2000, ge=1, description="characters of a text looked at")
        batch_size: int = Field(default=64, ge=1, description="texts embedded per call")
        shared_cache: bool = Field(
            default=True,
            description="also cache the examples' vectors per user, for new stores (else per store only)",
        )
        shared_cache_dir: Path | None = Field(
            default=None,
            description="that per-user cache (default: cxd in $MEMMIMIC_MODEL_CACHE or the user model cache)",
        )

    def __init__(self, options: Options | None = None, context: BackendContext | None = None) -> None:
        self.options = options or self.Options()
        self._context = context
        self._examples = CanonicalExamples.load(self.options.examples)
        cache_dirs = [context.data_dir / "cxd"] if context is not None else []
        if self.options.shared_cache:
            cache_dirs.append(self._shared_cache_dir())
        self._vectors = ExampleVectors(self._examples, cache_dirs)
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()

    def _shared_cache_dir(self) -> Path:
        """Where every store of this user finds the examples' vectors (beside the ONNX export)."""
        if self.options.shared_cache_dir is not None:
            return Path(self.options.shared_cache_dir).expanduser()
        return model_cache_dir() / "cxd"

    @property
    def uses_embeddings(self) -> bool:
        """Whether the embedding signal is on (option set and an embedder configured)."""
        o = self.options
        return (
            o.embedding
            and o.embedding_weight > 0
            and self._context is not None
            and (self._context.embedder is not None)
        )

    def _get_embedder(self) -> Embedder:
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    assert self._context is not None and self._context.embedder is not None
                    self._embedder = self._context.embedder()
        return self._embedder

    def probabilities(self, texts: Sequence[str], vectors: Vector | None = None) -> dict[str, Matrix]:
        """Return each signal's and the fused (n, 3) probabilities, columns in CXD_FUNCTIONS order.

        Keys: ``lexical``, ``embedding`` (only when used) and ``fused``; rows of texts without
        a word character are uniform. ``vectors``: the texts' embeddings by the configured
        embedder, when the caller has them already (saves embedding twice).
        """
        if isinstance(texts, str):
            raise InvalidInputError("classify() takes a sequence of texts, not a single string")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidInputError(
                    f"classify() takes strings, got {type(text).__name__} at position {i}"
                )
        o = self.options
        clipped = [t[: o.max_chars] for t in texts]
        n = len(clipped)
        raw = np.array([lexical_scores(t) for t in clipped], dtype=np.float64).reshape(n, 3)
        lexical = _softmax(raw, o.lexical_temperature) if n else np.zeros((0, 3))
        lexical_w = np.where(raw.sum(axis=1) > 0, o.lexical_weight, 0.0)
        out: dict[str, Matrix] = {"lexical": lexical}
        numerator = lexical * lexical_w[:, None]
        denominator = lexical_w.copy()
        if self.uses_embeddings and n:
            embedding = self._embedding_probabilities(clipped, vectors)
            out["embedding"] = embedding
            numerator += embedding * o.embedding_weight
            denominator += o.embedding_weight
        fused = np.full((n, 3), 1.0 / 3.0)
        decided = denominator > 0
        fused[decided] = numerator[decided] / denominator[decided, None]
        out["fused"] = fused
        return out

    def _embedding_probabilities(self, texts: list[str], vectors: Vector | None) -> Matrix:
        embedder = self._get_embedder()
        examples = self._vectors.get(embedder)
        o = self.options
        if vectors is not None:
            embedded = np.asarray(vectors, dtype=np.float32)
            if embedded.shape != (len(texts), examples.shape[1]):
                raise InvalidInputError(
                    f"classify_embedded(): vectors of shape {embedded.shape} do not match "
                    f"{len(texts)} texts of dimension {examples.shape[1]}"
                )
        else:
            embedded = np.vstack(
                [
                    np.asarray(embedder.embed(texts[i : i + o.batch_size]), dtype=np.float32)
                    for i in range(0, len(texts), o.batch_size)
                ]
            )
        # (n, n_examples) cosines, rows are normalized. einsum's own loop, not `@`: numpy's
        # OpenBLAS splits even this small product over both cores, and its helper thread then
        # spins ~0.1 s waiting for more, on top of the encoder working on the next batch
        # (measured: 0.29 CPU-s per 2,000 memories, the encoder 5 % slower); 1.7 ms a batch of 512
        sims = np.einsum("ij,kj->ik", embedded, examples).astype(np.float64)
        per_class = np.empty((len(texts), len(CXD_FUNCTIONS)))
        for index in range(len(CXD_FUNCTIONS)):
            columns = sims[:, self._examples.labels == index]
            k = min(o.top_k, columns.shape[1])
            per_class[:, index] = np.sort(columns, axis=1)[:, -k:].mean(axis=1)
        return _softmax(per_class, o.temperature)

    def classify(self, texts: Sequence[str]) -> list[tuple[str | None, float | None]]:
        """Return (function, confidence) per text; (None, None) for texts without words.

        :raises InvalidInputError: ``texts`` is a string or holds a non-string.
        """
        return self.classify_embedded(texts, None)

    def classify_embedded(
        self, texts: Sequence[str], vectors: Vector | None
    ) -> list[tuple[str | None, float | None]]:
        """Like :meth:`classify`, reusing ``vectors`` (the configured embedder's, one row per text).

        For a write path that embeds the texts anyway: the classifier then embeds nothing.
        """
        if len(texts) == 0:
            return []
        fused = self.probabilities(texts, vectors)["fused"]
        results: list[tuple[str | None, float | None]] = []
        for text, row in zip(texts, fused, strict=True):
            if not _HAS_WORD.search(text[: self.options.max_chars]):
                results.append((None, None))
                continue
            best = max(_TIE_ORDER, key=lambda i: row[i])  # max() keeps the first of equals
            confidence = round(float(row[best]), 6)
            if confidence < self.options.min_confidence:
                results.append((None, None))
            else:
                results.append((CXD_FUNCTIONS[best], min(1.0, max(0.0, confidence))))
        return results

    def close(self) -> None:
        """Drop the reference to the embedder (the engine owns and closes it)."""
        self._embedder = None


@hookimpl
def memmimic_register_classifier(register: BackendRegistry[Classifier]) -> None:
    """Register the ``cxd`` classifier."""
    register(CxdClassifier)
