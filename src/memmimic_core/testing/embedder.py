"""The embedder contract: subclass :class:`EmbedderContract` to test an embedder.

Either name a registered backend::

    class TestMyEmbedder(EmbedderContract):
        backend_name = "my-embedder"
        backend_options = {"device": "cpu"}

or override the ``embedder`` fixture to build it yourself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import pytest

from ..plugins import Backends
from ..protocols import BackendContext, Embedder
from ._support import build_backend, close_backend

__all__ = ["EmbedderContract"]

SENTENCES = (
    "The cat sat on the warm windowsill all afternoon.",
    "Quarterly revenue grew by twelve percent in Europe.",
    "Remember to water the tomato plants before the trip.",
    "The database migration failed because of a locked table.",
    "She plays the violin in the city orchestra on Sundays.",
    "Rust's borrow checker prevents data races at compile time.",
)


class EmbedderContract:
    """Behaviour every embedder must show: shape, dtype, unit norm, determinism, batching."""

    backend_name: ClassVar[str | None] = None
    backend_options: ClassVar[Mapping[str, Any]] = {}
    #: tolerance for batch vs one-by-one results (neural models pad batches)
    batch_atol: ClassVar[float] = 1e-4
    #: when set, batch and one-by-one rows need only this cosine instead of ``batch_atol``
    #: (dynamically quantized models scale activations per batch, so batch-mates matter)
    batch_min_cosine: ClassVar[float | None] = None

    @pytest.fixture
    def embedder(self, memmimic_backends: Backends, backend_context: BackendContext) -> Iterator[Embedder]:
        """The embedder under test (built from ``backend_name`` unless overridden)."""
        backend = build_backend(self, memmimic_backends, "embedder", backend_context)
        yield backend
        close_backend(backend)

    def test_satisfies_the_protocol(self, embedder: Embedder) -> None:
        assert isinstance(embedder, Embedder)
        assert isinstance(type(embedder).name, str) and type(embedder).name

    def test_dimension_is_a_positive_int(self, embedder: Embedder) -> None:
        assert isinstance(embedder.dimension, int)
        assert embedder.dimension > 0

    def test_shape_is_texts_by_dimension(self, embedder: Embedder) -> None:
        vectors = embedder.embed(list(SENTENCES[:3]))
        assert vectors.shape == (3, embedder.dimension)

    def test_dtype_is_float32(self, embedder: Embedder) -> None:
        assert embedder.embed(["hello world"]).dtype == np.float32

    def test_rows_have_unit_norm(self, embedder: Embedder) -> None:
        vectors = embedder.embed(list(SENTENCES))
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)

    def test_same_text_same_vector(self, embedder: Embedder) -> None:
        first = embedder.embed([SENTENCES[0]])
        second = embedder.embed([SENTENCES[0]])
        np.testing.assert_allclose(first, second, atol=1e-6)

    def test_batch_equals_one_by_one(self, embedder: Embedder) -> None:
        batch = embedder.embed(list(SENTENCES))
        single = np.vstack([embedder.embed([text]) for text in SENTENCES])
        if self.batch_min_cosine is None:
            np.testing.assert_allclose(batch, single, atol=self.batch_atol)
        else:
            cosines = (batch * single).sum(axis=1)
            assert cosines.min() >= self.batch_min_cosine, cosines

    def test_accepts_any_sequence(self, embedder: Embedder) -> None:
        assert embedder.embed(tuple(SENTENCES[:2])).shape == (2, embedder.dimension)

    def test_empty_batch_gives_an_empty_matrix(self, embedder: Embedder) -> None:
        vectors = embedder.embed([])
        assert vectors.shape == (0, embedder.dimension)
        assert vectors.dtype == np.float32

    @pytest.mark.parametrize(
        "text",
        [
            "Grüße aus Köln, naïve café",
            "日本語のテキストも大丈夫",
            "🎉🚀🔥",
            "emoji inside 🎉 a sentence",
            "   ",
            "?!.,;:()[]{}",
            "long " * 5_000,
        ],
        ids=["accents", "cjk", "emoji-only", "emoji-inline", "blank", "punctuation", "very-long"],
    )
    def test_unusual_text_gives_a_finite_unit_vector(self, embedder: Embedder, text: str) -> None:
        vectors = embedder.embed([text])
        assert vectors.shape == (1, embedder.dimension)
        assert np.isfinite(vectors).all()
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)

    def test_fingerprint_is_a_stable_nonempty_string(self, embedder: Embedder) -> None:
        fingerprint = embedder.fingerprint
        assert isinstance(fingerprint, str) and fingerprint.strip()
        embedder.embed(list(SENTENCES))
        assert embedder.fingerprint == fingerprint

    def test_dimension_is_stable(self, embedder: Embedder) -> None:
        dimension = embedder.dimension
        embedder.embed(list(SENTENCES))
        assert embedder.dimension == dimension

    def test_a_text_is_most_similar_to_itself(self, embedder: Embedder) -> None:
        vectors = embedder.embed(list(SENTENCES))
        similarity = vectors @ vectors.T
        assert list(similarity.argmax(axis=1)) == list(range(len(SENTENCES)))

    def test_close_is_safe(self, embedder: Embedder) -> None:
        embedder.embed(["before close"])
        embedder.close()
