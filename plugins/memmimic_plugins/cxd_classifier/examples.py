"""The canonical CXD examples and their embeddings, cached on disk per embedder fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from memmimic_core.errors import ConfigError
from memmimic_core.models import CXD_FUNCTIONS
from memmimic_core.protocols import Embedder

__all__ = ["DEFAULT_EXAMPLES", "CanonicalExamples", "ExampleVectors"]

DEFAULT_EXAMPLES = Path(__file__).with_name("examples.json")


@dataclass(frozen=True)
class CanonicalExamples:
    """Example texts with their function, and a digest that changes when any of them does."""

    texts: tuple[str, ...]
    labels: npt.NDArray[np.int64]  # index into CXD_FUNCTIONS
    digest: str

    @classmethod
    def load(cls, path: Path | None = None) -> CanonicalExamples:
        """Read ``{"examples": {"CONTROL": [...], "CONTEXT": [...], "DATA": [...]}}`` from JSON.

        :raises ConfigError: the file is missing, not JSON, or lacks a class.
        """
        path = path or DEFAULT_EXAMPLES
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            examples = raw["examples"]
            texts: list[str] = []
            labels: list[int] = []
            for index, function in enumerate(CXD_FUNCTIONS):
                items = [str(t).strip() for t in examples[function] if str(t).strip()]
                if not items:
                    raise KeyError(function)
                texts.extend(items)
                labels.extend([index] * len(items))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"classifier.examples: {str(path)!r} is not a CXD example file "
                f"({type(exc).__name__}: {exc}); it needs "
                '{"examples": {"CONTROL": [...], "CONTEXT": [...], "DATA": [...]}}'
            ) from None
        digest = hashlib.sha256(
            "\x1f".join(f"{lab}\x1e{t}" for lab, t in zip(labels, texts, strict=True)).encode()
        ).hexdigest()
        return cls(tuple(texts), np.asarray(labels, dtype=np.int64), digest[:16])


class ExampleVectors:
    """The examples embedded by one embedder: computed once, kept in memory and on disk.

    The file is ``<cache dir>/examples-<hash of fingerprint and examples>.npy`` in each cache dir
    (the store's, then the user's), written atomically: the first good copy is used, absent or
    damaged copies are rewritten, and with none the examples are embedded.
    """

    def __init__(self, examples: CanonicalExamples, cache_dirs: Sequence[Path] = ()) -> None:
        self.examples = examples
        self.cache_dirs = list(cache_dirs)
        self._lock = threading.Lock()
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}

    def paths_for(self, fingerprint: str) -> list[Path]:
        """Return the cache files of an embedder fingerprint, one per cache dir, first looked at first."""
        key = hashlib.sha256(f"{fingerprint}\x1f{self.examples.digest}".encode()).hexdigest()[:20]
        return [folder / f"examples-{key}.npy" for folder in self.cache_dirs]

    def get(self, embedder: Embedder) -> npt.NDArray[np.float32]:
        """Return the (n_examples, dimension) vectors of the examples for ``embedder``."""
        fingerprint = embedder.fingerprint
        vectors = self._vectors.get(fingerprint)
        if vectors is not None:
            return vectors
        with self._lock:
            vectors = self._vectors.get(fingerprint)
            if vectors is None:
                vectors = self._load_or_embed(embedder, fingerprint)
                self._vectors[fingerprint] = vectors
        return vectors

    def _load_or_embed(self, embedder: Embedder, fingerprint: str) -> npt.NDArray[np.float32]:
        expected = (len(self.examples.texts), embedder.dimension)
        copies = [(path, _read(path, expected)) for path in self.paths_for(fingerprint)]
        vectors = next((found for _, found in copies if found is not None), None)
        if vectors is None:
            vectors = np.ascontiguousarray(embedder.embed(list(self.examples.texts)), dtype=np.float32)
        for path, found in copies:
            if found is None:  # an absent or damaged copy is (re)written
                _write(path, vectors)
        return vectors


def _read(path: Path, expected: tuple[int, int]) -> npt.NDArray[np.float32] | None:
    """The cached vectors at ``path`` when present and of the expected shape, else ``None``."""
    if not path.is_file():
        return None
    try:
        cached = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # damaged: recomputed or taken from another copy
    if cached.shape == expected and cached.dtype == np.float32:
        return np.ascontiguousarray(cached)
    return None


def _write(path: Path, vectors: npt.NDArray[np.float32]) -> None:
    """Write ``vectors`` to ``path`` atomically; a read-only place only costs a re-embed later."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npy")
        np.save(tmp, vectors, allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        pass
