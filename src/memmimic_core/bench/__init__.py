"""Built-in benchmarks: ``memmimic bench quality`` scores recall on LoCoMo-format data."""

from __future__ import annotations

from .locomo import Dataset, load_locomo, normalize_evidence
from .metrics import question_metrics
from .presets import PRESETS, Preset
from .quality import QualityReport, run_quality

__all__ = [
    "PRESETS",
    "Dataset",
    "Preset",
    "QualityReport",
    "load_locomo",
    "normalize_evidence",
    "question_metrics",
    "run_quality",
]
