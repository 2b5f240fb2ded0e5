"""What the speed workloads run on: the machine, the corpus, and a throwaway store per run.

Kept apart from :mod:`memmimic_core.bench.speed` (the workloads) so that both stay small.
A store is real: the configured backends in a temporary ``data_dir``; a PostgreSQL storage
gets a fresh schema and a Redis cache a fresh key prefix, both removed when the run ends.
"""

from __future__ import annotations

import copy
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, InvalidInputError

__all__ = [
    "Corpus",
    "load_bench_config",
    "machine_info",
    "machine_load",
    "model_cache_dir",
    "temporary_store_config",
]

_WORDS = (
    "deploy server database backup network cache memory python config release meeting budget "
    "customer invoice schedule coffee garden travel flight hotel doctor appointment birthday "
    "project deadline review design test migration index query latency storage cluster token "
    "password rotation incident alert dashboard metric report quarter planning hiring interview "
    "kitchen recipe painting guitar concert marathon training puppy vacation beach mountain "
    "library novel poetry museum camera photo sister brother friend weekend holiday school"
)
_VOCABULARY = _WORDS.split()


def machine_info() -> dict[str, Any]:
    """The machine a figure was taken on: CPU model, cores, Python, load average, versions."""
    from .. import __version__

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": machine_load(),
        "memmimic": __version__,
        "commit": _git_commit(),
        "taken_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def machine_load() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _git_commit() -> str | None:
    """The commit measured: ``$MEMMIMIC_BENCH_COMMIT`` (a snapshot outside git), else HEAD,
    with ``+dirty`` when ``src/`` or ``plugins/`` have uncommitted changes (the figures are then
    not those of the commit alone)."""
    if os.environ.get("MEMMIMIC_BENCH_COMMIT"):
        return os.environ["MEMMIMIC_BENCH_COMMIT"]
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], capture_output=True, text=True, timeout=5, cwd=here, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return None
    top = git("rev-parse", "--show-toplevel")
    dirty = top and git("status", "--porcelain", "--", f"{top}/src", f"{top}/plugins")
    return commit + ("+dirty" if dirty else "")


def load_bench_config(path: str | Path | None) -> dict[str, Any]:
    """Read a MemMimic YAML config (``None``: the defaults) as a plain dict."""
    if path is None:
        return {}
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read benchmark config {str(p)!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"benchmark config {str(p)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"benchmark config {str(p)!r} must be a mapping")
    return data


@dataclass
class Corpus:
    """Memory texts and query texts: LoCoMo turns and questions, or synthetic sentences."""

    texts: list[str]
    queries: list[str]
    source: str

    @classmethod
    def build(cls, memories: int, queries: int, *, locomo: str | Path | None = None, seed: int = 7) -> Corpus:
        """``memories`` texts and at least ``queries`` distinct queries.

        LoCoMo turns are cycled (with a copy marker) when ``memories`` exceeds the file's turns.
        """
        rng = random.Random(seed)
        if locomo is not None:
            from .locomo import load_locomo

            if not Path(locomo).is_file():
                raise InvalidInputError(f"LoCoMo file {str(locomo)!r} does not exist")
            data = load_locomo(locomo)
            turns = [t.content for c in data.conversations for t in c.turns]
            asked = list(dict.fromkeys(q.question for c in data.conversations for q in c.questions))
            texts = [
                turns[i % len(turns)] + (f" (copy {i // len(turns)})" if i >= len(turns) else "")
                for i in range(memories)
            ]
            rng.shuffle(asked)
            while len(asked) < queries:
                asked.append(_sentence(rng, 5))
            return cls(texts, asked, f"locomo:{Path(locomo).name}")
        texts = [_sentence(rng, rng.randint(8, 20)) + f" #{i}" for i in range(memories)]
        qs = list(dict.fromkeys(_sentence(rng, rng.randint(2, 5)) for _ in range(queries * 2)))
        while len(qs) < queries:
            qs.append(_sentence(rng, 6) + f" {len(qs)}")
        return cls(texts, qs, "synthetic")


def _sentence(rng: random.Random, n: int) -> str:
    # a Zipf-like pick: common words are common, as in real text
    return " ".join(_VOCABULARY[min(int(rng.paretovariate(1.2)) - 1, len(_VOCABULARY) - 1)] for _ in range(n))


@contextmanager
def temporary_store_config(config: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """A copy of ``config`` pointing at a fresh, empty store; the store is removed afterwards."""
    cfg = copy.deepcopy(dict(config))
    tag = f"bench_{uuid.uuid4().hex[:10]}"
    tmp = Path(tempfile.mkdtemp(prefix="memmimic-speed-"))
    cfg["data_dir"] = str(tmp)
    storage = dict(cfg.get("storage") or {})
    if storage.get("backend") == "postgresql":
        storage["schema"] = tag
        cfg["storage"] = storage
    embedder = dict(cfg.get("embedder") or {})
    if embedder.get("backend") == "sentence-transformers" and "cache_dir" not in embedder:
        # the ONNX export is made once per machine, not once per throwaway store
        embedder["cache_dir"] = str(model_cache_dir())
        cfg["embedder"] = embedder
    cache = dict(cfg.get("cache") or {})
    if cache.get("backend") == "redis":
        cache["key_prefix"] = tag
        cfg["cache"] = cache
    try:
        yield cfg
    finally:
        if storage.get("backend") == "postgresql":
            _drop_schema(storage, tag)
        if cache.get("backend") == "redis":
            _drop_redis_keys(cache, tag)
        shutil.rmtree(tmp, ignore_errors=True)


def model_cache_dir() -> Path:
    """Where benchmark stores keep the ONNX export: ``$MEMMIMIC_BENCH_MODEL_CACHE`` or ~/.cache."""
    env = os.environ.get("MEMMIMIC_BENCH_MODEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "memmimic-bench" / "models"


def _drop_schema(storage: Mapping[str, Any], schema: str) -> None:
    import sqlalchemy as sa

    url = str(storage.get("url") or "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    except Exception as exc:  # cleanup must not hide the figures
        print(f"warning: could not drop schema {schema}: {exc}", file=sys.stderr)
    finally:
        engine.dispose()


def _drop_redis_keys(cache: Mapping[str, Any], prefix: str) -> None:
    try:
        import redis

        client = redis.Redis.from_url(str(cache.get("url") or "redis://127.0.0.1:6379/0"))
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        client.close()
    except Exception as exc:
        print(f"warning: could not remove redis keys {prefix}*: {exc}", file=sys.stderr)


def now() -> float:
    """A monotonic clock in seconds (``time.perf_counter``)."""
    return time.perf_counter()
