"""Export the packaged weights to ONNX once, offline, and cache the graph.

The export needs torch and transformers, so it runs in a child process
(``python -m memmimic_plugins.minilm.onnx_export``): the process that embeds then holds only
onnxruntime and tokenizers, never the PyTorch stack. Files are written to a temporary name
and moved into place with ``os.replace``, so concurrent exports and crashes never leave a
half-written graph behind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from memmimic_core.errors import MissingResourceError

from .model_files import INT8_TAG, ModelFiles, offline_environ

__all__ = ["EXPORT_FORMAT", "OPSET", "cached_onnx_path", "ensure_onnx"]

OPSET = 17
EXPORT_FORMAT = 2  # bump when the exported graph changes shape or meaning
_OUTPUT = "last_hidden_state"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cached_onnx_path(files: ModelFiles, cache_dir: Path, *, quantized: bool) -> Path:
    """Return where the graph of ``files`` is cached: keyed by model path, weights and format."""
    weights = files.weights.stat()
    key = json.dumps(
        [str(files.path), files.weights_digest, weights.st_size, weights.st_mtime_ns, OPSET, EXPORT_FORMAT]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    suffix = INT8_TAG if quantized else "fp32"
    return cache_dir / f"{files.display_name}-{digest}-{suffix}.onnx"


def ensure_onnx(files: ModelFiles, cache_dir: Path, *, quantized: bool, timeout: float = 900.0) -> Path:
    """Return the cached ONNX graph, exporting (and quantizing) it first when absent.

    :raises MissingResourceError: the export failed (torch missing, broken weights, …).
    """
    fp32 = cached_onnx_path(files, cache_dir, quantized=False)
    target = cached_onnx_path(files, cache_dir, quantized=quantized)
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", __name__, "--model", str(files.path), "--out", str(fp32)]
    if quantized:
        command += ["--int8-out", str(target)]
    try:
        done = subprocess.run(
            command, env=offline_environ(), capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingResourceError(f"exporting the embedding model to ONNX failed: {exc}") from None
    if done.returncode != 0 or not target.is_file():
        tail = " | ".join((done.stderr or "").strip().splitlines()[-3:])
        raise MissingResourceError(
            f"exporting the embedding model at {files.path} to ONNX failed ({tail or 'no output'}); "
            "torch and transformers are needed once for the export, or set `embedder.runtime: torch`"
        )
    return target


def _atomic_target(out: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    os.close(fd)
    os.chmod(name, 0o644)
    return Path(name)


def export_fp32(model_dir: Path, out: Path) -> None:
    """Export the transformer of ``model_dir`` to ``out`` (opset 17, dynamic batch and sequence)."""
    os.environ.update(offline_environ({}))
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class KeywordWrapper(torch.nn.Module):
        """transformers 5 rejects positional ``token_type_ids``: call it by keyword."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            output = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return output.last_hidden_state

    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in (*_INPUTS, _OUTPUT)}
    tmp = _atomic_target(out)
    try:
        with torch.no_grad():
            torch.onnx.export(
                KeywordWrapper(model),
                (sample, sample, torch.zeros_like(sample)),
                str(tmp),
                dynamo=False,
                opset_version=OPSET,
                input_names=list(_INPUTS),
                output_names=[_OUTPUT],
                dynamic_axes=axes,
            )
        fuse_bert_graph(tmp, model_dir)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def fuse_bert_graph(graph: Path, model_dir: Path) -> None:
    """Rewrite ``graph`` in place with ONNX Runtime's BERT fusions (attention, layer norm, GELU).

    Measured here: about 1.2× the throughput and 0.7× the single-query latency of the plain
    export, cosine 1.0000 to it. A model the optimizer can't handle keeps the plain graph.
    """
    try:
        from onnxruntime.transformers import optimizer

        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert":
            return
        fused = optimizer.optimize_model(
            str(graph),
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
            opt_level=1,
            use_gpu=False,
        )
        fused.save_model_to_file(str(graph))
    except Exception as exc:  # the plain graph is still correct, only slower
        print(f"graph fusion skipped: {exc}", file=sys.stderr)


def quantize_int8(fp32: Path, out: Path) -> None:
    """Write an int8 dynamically quantized copy of ``fp32`` to ``out``, weights per channel.

    Per-tensor weight scales cost too much accuracy on MiniLM (mean cosine 0.953 to the fp32
    vectors on LoCoMo turns); one scale per output channel keeps it at ~0.99. The quantizer
    writes a shape-inferred copy next to its input, so it works on a private link to ``fp32``
    in a directory of its own: processes exporting at once never read each other's files.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # the private directory also holds the output until it is complete, and goes on any failure
    with tempfile.TemporaryDirectory(prefix=".quantize-", dir=out.parent) as work:
        source, target = Path(work) / fp32.name, Path(work) / out.name
        try:
            os.link(fp32, source)
        except OSError:  # another file system, or links not allowed
            shutil.copyfile(fp32, source)
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # fused ops lack shapes
        )
        os.chmod(target, 0o644)
        os.replace(target, out)


def main(argv: list[str] | None = None) -> int:
    """Command line of the child process that ``ensure_onnx`` starts."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--int8-out", type=Path)
    args = parser.parse_args(argv)
    if not args.out.is_file():
        export_fp32(args.model, args.out)
    if args.int8_out is not None and not args.int8_out.is_file():
        quantize_int8(args.out, args.int8_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
