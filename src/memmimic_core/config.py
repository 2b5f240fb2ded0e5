"""Configuration: one YAML file, every key optional, validated by pydantic (DESIGN §7).

Precedence, lowest first: defaults → the YAML file (``--config`` or ``MEMMIMIC_CONFIG``) →
environment overrides ``MEMMIMIC_SECTION__KEY=value`` (values parsed as YAML scalars).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from platformdirs import user_data_dir
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .registry import format_validation_error

__all__ = [
    "AlertsConfig",
    "BackendSection",
    "MemMimicConfig",
    "MemoryConfig",
    "PerformanceConfig",
    "WarmupConfig",
    "load_config",
]

CONFIG_ENV = "MEMMIMIC_CONFIG"
HOME_ENV = "MEMMIMIC_HOME"
_NOT_OVERRIDES = {CONFIG_ENV, HOME_ENV, "MEMMIMIC_DISABLE_PLUGINS"}


#: Words dropped from queries (and from the keyword index, so both sides agree): Lucene's
#: English list plus interrogatives and auxiliaries, the words every question has and no
#: answer needs ("When did Caroline go ..." keeps "Caroline" and "go").
_WORDS = """
a an and are as at be but by for if in into is it no not of on or such that the their then there
these they this to was will with
what when where which who whom whose why how
do does did has have had would could should can might may been being were am
"""
QUERY_STOPWORDS: tuple[str, ...] = tuple(_WORDS.split())


class BackendSection(BaseModel):
    """``{backend: NAME, …options}``: the options go to the backend's own ``Options`` model."""

    model_config = ConfigDict(extra="allow", frozen=True)

    backend: str

    @property
    def options(self) -> dict[str, Any]:
        """The backend's options (every key but ``backend`` and the core's own keys)."""
        return dict(self.model_extra or {})


class StorageSection(BackendSection):
    """The storage backend: ``sqlite`` (one file under data_dir) or ``postgresql``."""

    backend: str = "sqlite"


class TextIndexSection(BackendSection):
    """The keyword index."""

    backend: str = "tantivy"


class VectorIndexSection(BackendSection):
    """The vector index."""

    backend: str = "faiss"


class EmbedderSection(BackendSection):
    """The embedder, plus the core's embedding options."""

    backend: str = "sentence-transformers"
    write_behind: bool = Field(
        default=True,
        description="remember returns once the record is durable; vectors are computed in the background",
    )
    batch_size: int = Field(
        default=512,
        ge=1,
        le=4096,
        description="texts per embedder call (sorted by length inside it: larger batches pad less)",
    )
    cache_size: int = Field(default=4096, ge=0, description="query embeddings kept in memory (0: off)")


class ExpanderSection(BackendSection):
    """One query expander."""

    backend: str = "none"


class RankerSection(BackendSection):
    """The fusion ranker."""

    backend: str = "weighted"


class CacheSection(BackendSection):
    """The cache backend (result, embedding and classification pools)."""

    backend: str = "tiered"


class ClassifierSection(BackendSection):
    """The CXD classifier."""

    backend: str = "cxd"


class AlertsConfig(BaseModel):
    """Thresholds reported as warnings in status."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    p95_ms: dict[str, float] = Field(
        default_factory=lambda: {"remember": 50.0, "recall": 200.0, "get": 20.0},
        description="p95 latency per operation, in milliseconds",
    )
    error_rate: float = Field(default=0.01, ge=0, le=1, description="errors / operations")
    pool_utilization: float = Field(default=0.9, ge=0, le=1, description="connection pool checkouts / size")
    rss_mb: float = Field(default=1024.0, gt=0, description="resident memory of the process, in MiB")


class WarmupConfig(BaseModel):
    """Predictive warm-up: re-run the most frequent recent queries when a store opens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=False,
        description="at open, recall the most frequent logged queries in the background "
        "(fills the result and query-embedding caches, loads the model off the first caller's path)",
    )
    queries: int = Field(default=20, ge=1, le=1000, description="how many logged queries to re-run")
    log: bool = Field(
        default=True, description="count unfiltered recalls in <data_dir>/query-log.json (what warm-up reads)"
    )
    log_size: int = Field(default=500, ge=10, le=100_000, description="distinct queries the log keeps")


class PerformanceConfig(BaseModel):
    """Search and timing knobs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics: bool = Field(default=True, description="time every public operation")
    overfetch: int = Field(default=4, ge=1, le=100, description="candidates per source = limit × overfetch")
    min_candidates: int = Field(default=50, ge=1, description="lower bound of candidates per source")
    parallel_retrievers: bool = Field(
        default=False,
        description="run the semantic source (query encode + vector search) in a thread beside the "
        "keyword sources; off by default: on the embedded backends they compete for the cores the "
        "encoder uses (cold recall measured ~10 % slower in parallel on 2 cores)",
    )
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    warmup: WarmupConfig = Field(default_factory=WarmupConfig)


NearDuplicatePolicy = Literal["supersede", "merge", "refuse", "store"]


class QualityConfig(BaseModel):
    """Thresholds and policy of ``remember_with_quality`` (config key ``memory.quality``).

    The default near-duplicate policy is ``supersede``: a near copy of a stored memory is most
    often a restatement or a newer version of the same fact. Superseding keeps both (the older
    one archived with ``valid_to`` and ``superseded_by``, still searchable, with history) so
    nothing is lost, while default recall shows only the newest. ``merge`` rewrites an existing
    memory's text and ``refuse`` drops the new wording, which may carry the change that matters.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    exact_duplicate_policy: Literal["refuse", "store"] = Field(
        default="refuse", description="what to do when an active memory has the same content hash"
    )
    near_duplicate_threshold: float = Field(
        default=0.92,
        ge=0.0,
        le=1.0,
        description="cosine at or above which a stored memory is a near duplicate",
    )
    near_duplicate_policy: NearDuplicatePolicy = Field(
        default="supersede", description="supersede, merge, refuse or store a near duplicate"
    )
    related_threshold: float = Field(
        default=0.75,
        ge=0.0,
        le=1.0,
        description="cosine at or above which a stored memory is reported as related",
    )
    min_quality: float = Field(
        default=0.3, ge=0.0, le=1.0, description="content score (clarity and density) below which to refuse"
    )
    low_quality_policy: Literal["refuse", "store"] = Field(
        default="refuse", description="what to do with a candidate scoring below min_quality"
    )
    neighbours: int = Field(
        default=5, ge=1, le=100, description="how many nearest neighbours to compare against"
    )
    weights: dict[str, float] = Field(
        default_factory=lambda: {"clarity": 0.4, "density": 0.35, "uniqueness": 0.25},
        description="weights of clarity, density and uniqueness in the overall score",
    )

    @model_validator(mode="after")
    def _check(self) -> QualityConfig:
        if self.related_threshold > self.near_duplicate_threshold:
            raise ValueError("related_threshold must not exceed near_duplicate_threshold")
        allowed = {"clarity", "density", "uniqueness"}
        if set(self.weights) - allowed or not any(w > 0 for w in self.weights.values()):
            raise ValueError(f"weights must use the keys {sorted(allowed)} with at least one positive value")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("weights must not be negative")
        return self


class MemoryConfig(BaseModel):
    """Limits and defaults of memories."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_content_bytes: int = Field(default=1_000_000, ge=1, description="UTF-8 size limit of one memory")
    max_recall_limit: int = Field(default=1000, ge=1, description="the largest `limit` recall accepts")
    default_type: str = Field(
        default="interaction", min_length=1, description="memory_type when none is given"
    )
    default_importance: float = Field(default=0.5, ge=0, le=1, description="importance when none is given")
    quality: QualityConfig = Field(default_factory=QualityConfig)


class ServerConfig(BaseModel):
    """The MCP server (``memmimic serve``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", description="address `serve --http` binds to")
    port: int = Field(default=8765, ge=1, le=65535, description="port of `serve --http`")
    token: str | None = Field(
        default=None, min_length=16, description="bearer token; required to bind beyond loopback"
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="serve Prometheus metrics on this port while the server runs",
    )


class MemMimicConfig(BaseModel):
    """The whole effective configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(default_factory=lambda: default_data_dir(), description="where files live")
    namespace: str = Field(default="default", min_length=1, max_length=200, description="default namespace")
    storage: StorageSection = Field(default_factory=StorageSection)
    text_index: TextIndexSection = Field(
        default_factory=lambda: TextIndexSection.model_validate(
            {"backend": "tantivy", "stopwords": list(QUERY_STOPWORDS)}
        )
    )
    vector_index: VectorIndexSection = Field(default_factory=VectorIndexSection)
    embedder: EmbedderSection = Field(default_factory=EmbedderSection)
    expanders: list[ExpanderSection] = Field(default_factory=list)
    ranker: RankerSection = Field(
        default_factory=lambda: RankerSection.model_validate(
            {
                "backend": "weighted",
                "weights": {"keyword": 0.6, "semantic": 0.4, "expansion": 0.25},
                "normalization": "minmax",
                "convergence_bonus": 0.0,
                "context_weight": 0.3,
            }
        )
    )
    cache: CacheSection = Field(default_factory=CacheSection)
    classifier: ClassifierSection = Field(default_factory=ClassifierSection)
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)

    @field_validator("data_dir", mode="before")
    @classmethod
    def _expand_data_dir(cls, value: Any) -> Any:
        if isinstance(value, str):
            return Path(os.path.expandvars(value)).expanduser()
        if isinstance(value, Path):
            return value.expanduser()
        return value

    def sections(self) -> dict[str, BackendSection]:
        """Return the single-backend sections by kind (expanders excluded)."""
        return {
            "storage": self.storage,
            "text_index": self.text_index,
            "vector_index": self.vector_index,
            "embedder": self.embedder,
            "ranker": self.ranker,
            "cache": self.cache,
            "classifier": self.classifier,
        }

    def to_dict(self) -> dict[str, Any]:
        """Return the effective config as plain data (paths as strings)."""
        return json.loads(self.model_dump_json())

    def fingerprint(self) -> str:
        """A short hash of everything that changes recall results (cache keys)."""
        data = self.to_dict()
        for key in ("data_dir", "performance", "cache", "server"):
            data.pop(key, None)
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``MEMMIMIC_HOME`` if set, else the platform's user data dir."""
    home = (os.environ if environ is None else environ).get(HOME_ENV)
    if home:
        return Path(home).expanduser()
    return Path(user_data_dir("memmimic", appauthor=False))


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML config file.

    :raises ConfigError: the file is missing, unreadable, not a mapping, or invalid YAML
        (with line and column).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(p)!r} cannot be read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(f"invalid YAML in {str(p)!r} at {where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML in {str(p)!r}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(p)!r} must hold a mapping of keys, got {type(data).__name__}")
    return data


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Turn ``MEMMIMIC_A__B=value`` variables into a nested dict ``{a: {b: value}}``."""
    env = os.environ if environ is None else environ
    top_keys = set(MemMimicConfig.model_fields)
    out: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith("MEMMIMIC_") or name in _NOT_OVERRIDES:
            continue
        path = [part.lower() for part in name[len("MEMMIMIC_") :].split("__")]
        if path[0] not in top_keys or not all(path):
            continue
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {name} conflicts with another override")
        node[path[-1]] = value
    return out


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def load_config(
    source: MemMimicConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> MemMimicConfig:
    """Build the effective config from a path, a dict, a config, or (None) ``MEMMIMIC_CONFIG``.

    :raises ConfigError: naming the key path, the bad value and what is allowed.
    """
    if isinstance(source, MemMimicConfig):
        return source
    env = os.environ if environ is None else environ
    if source is None:
        path = env.get(CONFIG_ENV)
        data: dict[str, Any] = read_yaml(path) if path else {}
    elif isinstance(source, Mapping):
        data = dict(source)
    else:
        data = read_yaml(source)
    data = _deep_merge(data, env_overrides(env))
    data.setdefault("data_dir", default_data_dir(env))
    if isinstance(data.get("expanders"), (str, dict)):
        data["expanders"] = [data["expanders"]]
    if isinstance(data.get("expanders"), list):
        data["expanders"] = [{"backend": e} if isinstance(e, str) else e for e in data["expanders"]]
    for key in ("storage", "text_index", "vector_index", "embedder", "ranker", "cache", "classifier"):
        if isinstance(data.get(key), str):  # `storage: postgresql` as a shorthand
            data[key] = {"backend": data[key]}
    try:
        return MemMimicConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, model=MemMimicConfig)) from None
