"""The two ways to run the model: ONNX Runtime (default) and PyTorch sentence-transformers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memmimic_core.models import Vector

from .model_files import offline_environ

__all__ = ["OnnxEncoder", "TorchEncoder", "normalize_rows"]


def normalize_rows(matrix: np.ndarray[Any, Any]) -> Vector:
    """Return ``matrix`` as float32 with every row scaled to unit length (zero rows stay zero)."""
    out = np.ascontiguousarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    out /= norms
    return out


class OnnxEncoder:
    """Tokenizes with ``tokenizers`` and runs the exported graph with ``onnxruntime``.

    Texts are sorted by token length and batched, so a batch pads to similar lengths; mean
    pooling over the attention mask and L2 normalization happen in numpy.
    """

    def __init__(
        self, onnx_path: Path, tokenizer_json: Path, *, max_length: int, threads: int, batch_size: int
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(tokenizer_json))
        tokenizer.enable_truncation(max_length=max_length)
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # no arena: ORT's arena keeps the largest batch's tensors for the session's life (+120 MB
        # after 3,000 LoCoMo turns); with plain malloc the engine hands them back after a batch
        # (memmimic_core.memory), at no measured cost in throughput
        options.enable_cpu_mem_arena = False
        self._session = ort.InferenceSession(
            str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {item.name for item in self._session.get_inputs()}
        self._batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> Vector:
        """Return normalized float32 embeddings, one row per text, in input order."""
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(lengths, kind="stable")
        out: np.ndarray[Any, Any] | None = None
        for start in range(0, len(order), self._batch_size):
            chosen = order[start : start + self._batch_size]
            width = int(lengths[chosen].max())
            ids = np.zeros((len(chosen), width), dtype=np.int64)
            mask = np.zeros((len(chosen), width), dtype=np.int64)
            types = np.zeros((len(chosen), width), dtype=np.int64)
            for row, index in enumerate(chosen):
                encoding = encodings[index]
                size = len(encoding.ids)
                ids[row, :size] = encoding.ids
                mask[row, :size] = 1
                types[row, :size] = encoding.type_ids
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            if out is None:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[chosen] = pooled
        assert out is not None
        return normalize_rows(out)

    def close(self) -> None:
        """Drop the session."""
        self.__dict__.pop("_session", None)


class TorchEncoder:
    """Plain sentence-transformers on PyTorch, CPU (the reference the ONNX path is checked against)."""

    def __init__(self, model_dir: Path, *, max_length: int, threads: int | None, batch_size: int) -> None:
        os.environ.update(offline_environ({}))
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self._model.max_seq_length = max_length
        self._batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> Vector:
        """Return normalized float32 embeddings, one row per text, in input order."""
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return normalize_rows(np.asarray(vectors))

    def close(self) -> None:
        """Drop the model."""
        self.__dict__.pop("_model", None)
