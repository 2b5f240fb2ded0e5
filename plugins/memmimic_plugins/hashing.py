"""The ``hashing`` embedder: deterministic, model-free vectors by signed feature hashing.

Each text becomes a bag of features (lower-cased word unigrams and the character n-grams of
each word, with ``<`` and ``>`` marking the word's edges). Every feature is hashed with
BLAKE2b (stable across processes, unlike Python's salted ``hash()``) to a dimension and a
sign; the row is the weighted sum, L2-normalized. Texts sharing words or word pieces get
similar vectors, so recall works end to end without a model: for tests and tiny installs.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from memmimic_core import hookimpl
from memmimic_core.errors import InvalidInputError
from memmimic_core.models import Vector
from memmimic_core.protocols import BackendContext, BackendOptions, Embedder
from memmimic_core.registry import BackendRegistry

__all__ = ["HashingEmbedder"]

_WORD = re.compile(r"\w+")
_EMPTY_FEATURE = "\x00empty"
_WORD_CACHE_SIZE = 100_000


@lru_cache(maxsize=262_144)
def _slot(feature: str, dimension: int) -> tuple[int, float]:
    """Return the (dimension, sign) a feature hashes to; stable across runs and machines."""
    digest = hashlib.blake2b(feature.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dimension, (1.0 if value >> 63 else -1.0)


class HashingEmbedder:
    """Signed feature hashing of word unigrams and character n-grams: no model, no download."""

    name: ClassVar[str] = "hashing"

    class Options(BackendOptions):
        """Options of the ``hashing`` embedder."""

        dimension: int = Field(default=384, ge=8, le=65_536, description="the vectors' dimension")
        char_ngram: int = Field(
            default=3, ge=0, le=8, description="length of the word pieces hashed beside whole words (0: off)"
        )
        char_weight: float = Field(
            default=1.0,
            ge=0.0,
            description="weight of a word's pieces (together) relative to the word itself (1.0)",
        )

    def __init__(self, options: Options | None = None, context: BackendContext | None = None) -> None:
        self.options = options or self.Options()
        self._dimension = self.options.dimension
        self._cache: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}

    @property
    def dimension(self) -> int:
        """The vectors' dimension."""
        return self._dimension

    @property
    def fingerprint(self) -> str:
        """``hashing:v1:dim=…`` plus the feature settings: vectors differ when these do."""
        o = self.options
        return f"hashing:v1:dim={o.dimension}:char={o.char_ngram}:cw={o.char_weight:g}"

    def features(self, text: str) -> list[tuple[str, float]]:
        """Return the weighted features of ``text`` (words and the n-grams of each word)."""
        out: list[tuple[str, float]] = []
        for word in self._words(text):
            out.extend(self._word_features(word))
        return out

    @staticmethod
    def _words(text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        if not words:
            # no word characters (emoji, punctuation): hash the characters themselves
            words = [ch for ch in text if not ch.isspace()]
        return words

    def _word_features(self, word: str) -> list[tuple[str, float]]:
        out = [("w:" + word, 1.0)]
        n = self.options.char_ngram
        if n and self.options.char_weight > 0:
            padded = f"<{word}>"
            grams = [padded[i : i + n] for i in range(max(1, len(padded) - n + 1))]
            weight = self.options.char_weight / math.sqrt(len(grams))
            out.extend(("c:" + gram, weight) for gram in grams)
        return out

    def _word_slots(self, word: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Return the (columns, signed weights) one word adds; memoized per embedder."""
        slots = self._cache.get(word)
        if slots is None:
            features = self._word_features(word)
            cols = np.empty(len(features), dtype=np.int64)
            vals = np.empty(len(features), dtype=np.float64)
            for i, (feature, weight) in enumerate(features):
                col, sign = _slot(feature, self._dimension)
                cols[i], vals[i] = col, sign * weight
            slots = (cols, vals)
            if len(self._cache) >= _WORD_CACHE_SIZE:
                self._cache.clear()
            self._cache[word] = slots
        return slots

    def embed(self, texts: Sequence[str]) -> Vector:
        """Return an (n, dimension) float32 array of L2-normalized rows."""
        if isinstance(texts, str):
            raise InvalidInputError("embed() takes a sequence of texts, not a single string")
        dim, n = self._dimension, len(texts)
        cols: list[npt.NDArray[np.int64]] = []
        vals: list[npt.NDArray[np.float64]] = []
        per_row: list[int] = []
        cache = self._cache
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidInputError(f"embed() takes strings, got {type(text).__name__} at position {row}")
            count = 0
            for word in self._words(text):
                c, v = cache.get(word) or self._word_slots(word)
                cols.append(c)
                vals.append(v)
                count += len(c)
            per_row.append(count)
        if cols:
            flat = np.repeat(np.arange(n, dtype=np.int64) * dim, per_row) + np.concatenate(cols)
            out = np.bincount(flat, weights=np.concatenate(vals), minlength=n * dim).reshape(n, dim)
        else:
            out = np.zeros((n, dim), dtype=np.float64)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        # empty text, or features that cancel out exactly: give the row a fixed unit vector
        zero = norms[:, 0] == 0
        if zero.any():
            out[zero, _slot(_EMPTY_FEATURE, dim)[0]] = 1.0
            norms[zero] = 1.0
        return (out / norms).astype(np.float32)

    def close(self) -> None:
        """Nothing to release."""


@hookimpl
def memmimic_register_embedder(register: BackendRegistry[Embedder]) -> None:
    """Register the ``hashing`` embedder."""
    register(HashingEmbedder)
