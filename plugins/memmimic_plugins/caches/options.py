"""Options shared by every cache backend: pools with byte budgets and TTLs, pressure thresholds."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ByteSize, ConfigDict, Field, model_validator

from memmimic_core.errors import InvalidInputError
from memmimic_core.protocols import BackendOptions

__all__ = ["DEFAULT_POOLS", "CacheOptions", "PoolOptions", "check_entry", "check_pool"]

MiB = 1024 * 1024
_POOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class PoolOptions(BaseModel):
    """One pool: its byte budget and the default time to live of its entries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_bytes: ByteSize = Field(description="byte budget of the pool (`64MiB` or an integer)")
    ttl_seconds: float | None = Field(default=None, gt=0, description="default TTL (None: no expiry)")


DEFAULT_POOLS: dict[str, dict[str, Any]] = {
    "results": {"max_bytes": 64 * MiB, "ttl_seconds": 300.0},
    "embeddings": {"max_bytes": 64 * MiB, "ttl_seconds": 86400.0},
    "classifications": {"max_bytes": 8 * MiB, "ttl_seconds": 86400.0},
}
"""The pools the engine uses: search results, query embeddings, CXD classifications."""

DEFAULT_POOL: dict[str, Any] = {"max_bytes": 16 * MiB, "ttl_seconds": 3600.0}


class CacheOptions(BackendOptions):
    """Budgets and memory-pressure thresholds common to the cache backends.

    ``pools`` is merged over the defaults key by key: ``{results: {ttl_seconds: 60}}`` keeps
    the results pool's 64 MiB budget. A pool not named gets ``default_pool``'s settings.
    """

    pools: dict[str, PoolOptions] = Field(default_factory=dict, description="budget and TTL per pool")
    default_pool: PoolOptions = Field(
        default_factory=lambda: PoolOptions(**DEFAULT_POOL), description="settings of pools not named"
    )
    total_max_bytes: ByteSize = Field(default=ByteSize(256 * MiB), description="budget across all pools")
    warning_threshold: float = Field(
        default=0.8, gt=0, le=1, description="utilization that starts a cleanup down to target_ratio"
    )
    target_ratio: float = Field(default=0.7, gt=0, lt=1, description="utilization a cleanup aims for")
    emergency_threshold: float = Field(
        default=0.95, gt=0, le=1, description="utilization that evicts aggressively (to emergency_ratio)"
    )
    emergency_ratio: float = Field(default=0.5, gt=0, lt=1, description="utilization an emergency aims for")

    @model_validator(mode="before")
    @classmethod
    def _merge_pool_defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        user = data.get("pools") or {}
        if not isinstance(user, Mapping):
            return data
        base_default = data.get("default_pool", DEFAULT_POOL)
        if isinstance(base_default, PoolOptions):
            base_default = base_default.model_dump()
        pools: dict[str, Any] = {name: dict(values) for name, values in DEFAULT_POOLS.items()}
        for name, values in user.items():
            if isinstance(values, PoolOptions):
                values = values.model_dump()
            if isinstance(values, Mapping):
                base = pools.get(str(name), base_default)
                pools[str(name)] = {**dict(base), **dict(values)}
            else:
                pools[str(name)] = values
        data["pools"] = pools
        return data

    @model_validator(mode="after")
    def _check_thresholds(self) -> CacheOptions:
        if not self.emergency_ratio <= self.target_ratio < self.warning_threshold <= self.emergency_threshold:
            raise ValueError(
                "thresholds must satisfy emergency_ratio <= target_ratio < warning_threshold "
                f"<= emergency_threshold (got {self.emergency_ratio}, {self.target_ratio}, "
                f"{self.warning_threshold}, {self.emergency_threshold})"
            )
        for name in self.pools:
            if not _POOL_NAME.match(name):
                raise ValueError(f"pool name {name!r} must be 1-64 characters of A-Z a-z 0-9 _ . -")
        return self

    def pool(self, name: str) -> PoolOptions:
        """Return the settings of pool ``name`` (``default_pool`` for a pool not configured)."""
        return self.pools.get(name) or self.default_pool


def check_pool(pool: str) -> str:
    """Return ``pool`` if it is a valid pool name.

    :raises InvalidInputError: not a string of 1-64 characters of ``A-Z a-z 0-9 _ . -``.
    """
    if not isinstance(pool, str) or not _POOL_NAME.match(pool):
        raise InvalidInputError(f"cache pool name {pool!r} must be 1-64 characters of A-Z a-z 0-9 _ . -")
    return pool


def check_entry(pool: str, key: str, value: bytes | None = None, ttl: float | None = None) -> None:
    """Validate the arguments of a cache call.

    :raises InvalidInputError: a bad pool name, a key that is not a string, a value that is not
        bytes, or a TTL that is not a positive number.
    """
    check_pool(pool)
    if not isinstance(key, str):
        raise InvalidInputError(f"cache key must be a str, got {type(key).__name__}")
    if value is not None and not isinstance(value, (bytes, bytearray, memoryview)):
        raise InvalidInputError(f"cache value must be bytes, got {type(value).__name__}")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0):
        raise InvalidInputError(f"cache ttl must be a positive number of seconds, got {ttl!r}")
