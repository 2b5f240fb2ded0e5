"""The ``storage`` text index: the text-index contract on the storage's own full-text search."""

from __future__ import annotations

from pathlib import Path

import pytest

from memmimic_core.errors import ConfigError
from memmimic_core.models import NewMemory, TextQuery
from memmimic_core.protocols import BackendContext, Storage
from memmimic_core.testing.text_index import TextIndexContract
from memmimic_plugins.storage_text import StorageTextIndex


class TestStorageTextIndexContract(TextIndexContract):
    backend_name = "storage"


def test_it_is_never_behind(storage: Storage, backend_context: BackendContext) -> None:
    index = StorageTextIndex(None, backend_context)
    storage.add([NewMemory(namespace="ns", content="written just now")])
    assert index.lag() == 0
    assert index.sync() == 0
    assert [c.memory_id for c in index.search("ns", TextQuery(text="written"), 5)]


def test_stats_name_the_storage(storage: Storage, backend_context: BackendContext) -> None:
    stats = StorageTextIndex(None, backend_context).stats()
    assert stats == {"kind": "storage", "storage": storage.name}


def test_limit_zero_gives_nothing(storage: Storage, backend_context: BackendContext) -> None:
    storage.add([NewMemory(namespace="ns", content="something")])
    assert StorageTextIndex(None, backend_context).search("ns", TextQuery(text="something"), 0) == []


def test_without_a_storage_it_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs the store's storage"):
        StorageTextIndex(None, BackendContext(data_dir=tmp_path))
