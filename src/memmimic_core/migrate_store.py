"""Copy a whole store to another storage backend (``memmimic migrate-store``), verified.

The Storage protocol has no "write a raw record" method, so the copy uses an optional
capability of a backend: ``export_records(batch_size)`` yields ``(table, rows)`` batches and
``import_records(batches)`` writes them into an empty store (the SQL storages, ``sqlite`` and
``postgresql``, both have them). Every memory keeps its id, timestamps, embedding and
fingerprint, metadata, tags, status, supersession fields and access statistics; history
entries and every tale version come along. At the end both stores are read again and
compared table by table: row counts and a SHA-256 over the canonical rows in key order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from os import PathLike
from typing import Any

from .config import MemMimicConfig, load_config
from .errors import InvalidInputError, MemMimicError
from .plugins import build_plugin_manager, collect_backends
from .protocols import BackendContext, Storage

__all__ = ["MigrationReport", "digest_store", "migrate_store", "open_storage"]

Batches = Iterable[tuple[str, list[dict[str, Any]]]]
Progress = Callable[[str, int, int], None]  # (phase, memories done, total): copying / verifying …


@dataclass
class MigrationReport:
    """What was copied and whether both stores now hold the same records."""

    source: dict[str, Any]
    target: dict[str, Any]
    copied: dict[str, int] = field(default_factory=dict)
    source_counts: dict[str, int] = field(default_factory=dict)
    target_counts: dict[str, int] = field(default_factory=dict)
    source_checksums: dict[str, str] = field(default_factory=dict)
    target_checksums: dict[str, str] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        """True when every table has the same row count and checksum on both sides."""
        return self.source_counts == self.target_counts and self.source_checksums == self.target_checksums

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "source": self.source,
            "target": self.target,
            "copied": self.copied,
            "counts": {"source": self.source_counts, "target": self.target_counts},
            "checksums": {"source": self.source_checksums, "target": self.target_checksums},
            "verified": self.verified,
        }


def open_storage(config: MemMimicConfig | Mapping[str, Any] | str | PathLike[str]) -> Storage:
    """Build only the storage backend a config names (no embedder, no index)."""
    cfg = load_config(config)
    backends = collect_backends(build_plugin_manager())
    try:
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"data_dir {str(cfg.data_dir)!r} cannot be created: {exc}") from None
    context = BackendContext(data_dir=cfg.data_dir, settings=cfg.to_dict())
    storage: Storage = backends["storage"].create(
        cfg.storage.backend, cfg.storage.options, context, "storage"
    )
    context.storage = storage
    return storage


def _capability(storage: Storage, method: str, role: str) -> Callable[..., Any]:
    found = getattr(storage, method, None)
    if not callable(found):
        raise MemMimicError(
            f"the {role} storage {getattr(storage, 'name', type(storage).__name__)!r} can't be "
            f"migrated: it has no {method}() (the sqlite and postgresql storages have it); use "
            "`memmimic export --with-embeddings` and `memmimic import` instead"
        )
    return found


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "sha256:" + hashlib.sha256(bytes(value)).hexdigest()
    if isinstance(value, float):
        return repr(value)
    return value


def _row_bytes(row: Mapping[str, Any]) -> bytes:
    data = {key: _canonical(value) for key, value in sorted(row.items())}
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8") + b"\n"


def digest_store(
    storage: Storage, batch_size: int = 1000, progress: Progress | None = None, phase: str = "verifying"
) -> tuple[dict[str, int], dict[str, str]]:
    """Return row counts and SHA-256 checksums per table over the store's exported records."""
    export = _capability(storage, "export_records", "")
    total = storage.count(None)
    counts: dict[str, int] = {}
    hashes: dict[str, Any] = {}
    for table, rows in export(batch_size):
        h = hashes.setdefault(table, hashlib.sha256())
        counts[table] = counts.get(table, 0) + len(rows)
        for row in rows:
            h.update(_row_bytes(row))
        if progress is not None and table == "memories":
            progress(phase, counts[table], total)
    return counts, {table: h.hexdigest() for table, h in hashes.items()}


def _describe(storage: Storage) -> dict[str, Any]:
    stats = storage.stats()
    keys = ("backend", "path", "url", "schema")
    return {"backend": getattr(storage, "name", "?"), **{k: stats[k] for k in keys if k in stats}}


def migrate_store(
    source: Storage,
    target: Storage,
    *,
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> MigrationReport:
    """Copy every record of ``source`` into the empty ``target`` and verify the copy.

    :raises MemMimicError: a backend lacks the capability, or the target is not empty.
    """
    export = _capability(source, "export_records", "source")
    importer = _capability(target, "import_records", "target")
    if target.count(None) or any(target.list_tales(ns, include_deleted=True) for ns in target.namespaces()):
        raise InvalidInputError(
            f"the target store is not empty ({target.count(None)} memories in "
            f"{len(target.namespaces())} namespaces); migrate-store copies into an empty store only"
        )
    report = MigrationReport(source=_describe(source), target=_describe(target))
    total = source.count(None)

    def counted(batches: Batches) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        done = 0
        for table, rows in batches:
            yield table, rows
            if table == "memories":
                done += len(rows)
                if progress is not None:
                    progress("copying", done, total)

    report.copied = dict(importer(counted(export(batch_size))))
    report.source_counts, report.source_checksums = digest_store(
        source, batch_size, progress, "verifying source"
    )
    report.target_counts, report.target_checksums = digest_store(
        target, batch_size, progress, "verifying target"
    )
    return report
