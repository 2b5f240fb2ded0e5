"""Measuring a CXD classifier on a labelled set: accuracy and a confusion matrix."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from memmimic_core.errors import InvalidInputError
from memmimic_core.models import CXD_FUNCTIONS
from memmimic_core.protocols import Classifier

__all__ = ["Evaluation", "LabelledText", "evaluate", "load_labelled"]

UNDECIDED = "none"


@dataclass(frozen=True, slots=True)
class LabelledText:
    """A text and the function a person gave it."""

    text: str
    label: str


@dataclass
class Evaluation:
    """Accuracy and the confusion matrix (rows: true label, columns: predicted or ``none``)."""

    total: int = 0
    correct: int = 0
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    mistakes: list[tuple[str, str, str]] = field(default_factory=list)  # (text, label, predicted)

    @property
    def accuracy(self) -> float:
        """Share of texts classified as labelled."""
        return self.correct / self.total if self.total else 0.0

    def per_class_recall(self) -> dict[str, float]:
        """Share of each true class found."""
        out: dict[str, float] = {}
        for label, row in self.confusion.items():
            n = sum(row.values())
            out[label] = row.get(label, 0) / n if n else 0.0
        return out

    def table(self) -> str:
        """The confusion matrix as a Markdown table."""
        columns = [*CXD_FUNCTIONS, UNDECIDED]
        lines = ["| true \\ predicted | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for label in CXD_FUNCTIONS:
            row = self.confusion.get(label, {})
            lines.append(f"| {label} | " + " | ".join(str(row.get(c, 0)) for c in columns) + " |")
        return "\n".join(lines)


def load_labelled(path: Path) -> list[LabelledText]:
    """Read ``{"items": [{"text": ..., "label": ...}, ...]}``.

    :raises InvalidInputError: the file is unreadable or a label is not a CXD function.
    """
    try:
        items = json.loads(path.read_text(encoding="utf-8"))["items"]
        out = [LabelledText(str(i["text"]), str(i["label"])) for i in items]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{str(path)!r} is not a labelled CXD set: {exc}") from None
    bad = sorted({i.label for i in out} - set(CXD_FUNCTIONS))
    if bad:
        raise InvalidInputError(f"{str(path)!r}: unknown labels {bad}; allowed: {list(CXD_FUNCTIONS)}")
    return out


def evaluate(classifier: Classifier, items: Sequence[LabelledText]) -> Evaluation:
    """Classify every text in one batch and count hits per (label, prediction)."""
    result = Evaluation(confusion={label: {} for label in CXD_FUNCTIONS})
    predictions = classifier.classify([i.text for i in items])
    for item, (function, _) in zip(items, predictions, strict=True):
        predicted = function or UNDECIDED
        row = result.confusion.setdefault(item.label, {})
        row[predicted] = row.get(predicted, 0) + 1
        result.total += 1
        if predicted == item.label:
            result.correct += 1
        else:
            result.mistakes.append((item.text, item.label, predicted))
    return result
