"""The classifier contract: subclass :class:`ClassifierContract` to test a CXD classifier.

Either name a registered backend (``backend_name = "my-classifier"``, ``backend_options``)
or override the ``classifier`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pytest

from ..models import CXD_FUNCTIONS
from ..plugins import Backends
from ..protocols import BackendContext, Classifier
from ._support import build_backend, close_backend

__all__ = ["ClassifierContract"]

TEXTS = (
    "First run the migrations, then restart the server and check the logs.",
    "This relates to the project we discussed last week with the design team.",
    "The benchmark measured 1,982 questions with a recall@10 of 0.625.",
)
HOSTILE = ("", "   ", "🎉🚀🔥", "x" * 20_000, '"quotes" AND (parentheses', "\ufffd\u200b")


class ClassifierContract:
    """Behaviour every classifier must show: one answer per text, in range, never raising."""

    backend_name: ClassVar[str | None] = None
    backend_options: ClassVar[Mapping[str, Any]] = {}
    #: tolerance for a confidence in a batch vs one by one (a classifier over a dynamically
    #: quantized embedder sees vectors that depend a little on their batch-mates)
    batch_confidence_atol: ClassVar[float] = 1e-4

    @pytest.fixture
    def classifier(
        self, memmimic_backends: Backends, backend_context: BackendContext
    ) -> Iterator[Classifier]:
        """The classifier under test (built from ``backend_name`` unless overridden)."""
        backend = build_backend(self, memmimic_backends, "classifier", backend_context)
        yield backend
        close_backend(backend)

    @staticmethod
    def assert_valid(result: tuple[str | None, float | None]) -> None:
        """A result is (None, None) or (a CXD function, a confidence in [0, 1])."""
        function, confidence = result
        if function is None:
            assert confidence is None, "an undecided result has no confidence"
            return
        assert function in CXD_FUNCTIONS
        assert confidence is not None
        assert 0.0 <= confidence <= 1.0

    def test_satisfies_the_protocol(self, classifier: Classifier) -> None:
        assert isinstance(classifier, Classifier)

    def test_one_result_per_text(self, classifier: Classifier) -> None:
        results = classifier.classify(list(TEXTS))
        assert len(results) == len(TEXTS)
        for result in results:
            self.assert_valid(result)

    def test_empty_batch_gives_nothing(self, classifier: Classifier) -> None:
        assert classifier.classify([]) == []

    def test_batch_equals_one_by_one(self, classifier: Classifier) -> None:
        batch = classifier.classify(list(TEXTS))
        for text, result in zip(TEXTS, batch, strict=True):
            (single,) = classifier.classify([text])
            assert single[0] == result[0]
            if result[1] is not None:
                assert single[1] == pytest.approx(result[1], abs=self.batch_confidence_atol)

    def test_same_text_same_answer(self, classifier: Classifier) -> None:
        assert classifier.classify(list(TEXTS)) == classifier.classify(list(TEXTS))

    @pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
    def test_hostile_text_never_raises(self, classifier: Classifier, text: str) -> None:
        (result,) = classifier.classify([text])
        self.assert_valid(result)

    def test_close_is_safe(self, classifier: Classifier) -> None:
        classifier.classify([TEXTS[0]])
        classifier.close()
