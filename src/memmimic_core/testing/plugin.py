"""Pytest plugin (entry point ``pytest11``): fixtures shared by every contract suite."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..plugins import Backends, build_plugin_manager, collect_backends
from ..protocols import BackendContext, Storage

STORAGE_ENV = "MEMMIMIC_TEST_STORAGE"
STORAGE_OPTIONS_ENV = "MEMMIMIC_TEST_STORAGE_OPTIONS"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("memmimic", "MemMimic contract suites")
    group.addoption(
        "--memmimic-storage",
        default=os.environ.get(STORAGE_ENV, "sqlite"),
        help=f"storage backend the contract suites run on (default: ${STORAGE_ENV} or sqlite)",
    )
    group.addoption(
        "--memmimic-storage-options",
        default=os.environ.get(STORAGE_OPTIONS_ENV, "{}"),
        help=f"JSON options of that backend (default: ${STORAGE_OPTIONS_ENV} or {{}})",
    )


@pytest.fixture(scope="session")
def memmimic_backends() -> Backends:
    """Every backend the installed plugins register."""
    return collect_backends(build_plugin_manager())


@pytest.fixture
def backend_context(tmp_path: Path) -> BackendContext:
    """A fresh context whose data_dir is a temporary folder."""
    data_dir = tmp_path / "memmimic-data"
    data_dir.mkdir()
    return BackendContext(data_dir=data_dir, store_id=f"test-{tmp_path.name}")


@pytest.fixture
def storage_name(request: pytest.FixtureRequest) -> str:
    """The storage backend name the suites run on."""
    return str(request.config.getoption("--memmimic-storage"))


@pytest.fixture
def storage_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The options of that storage backend."""
    raw = str(request.config.getoption("--memmimic-storage-options"))
    options = json.loads(raw) if raw.strip() else {}
    if not isinstance(options, dict):
        raise pytest.UsageError("--memmimic-storage-options must be a JSON object")
    return options


@pytest.fixture
def storage(
    memmimic_backends: Backends,
    backend_context: BackendContext,
    storage_name: str,
    storage_options: dict[str, Any],
) -> Iterator[Storage]:
    """A fresh, empty storage of the selected backend, wired into ``backend_context``.

    On ``postgresql`` without a ``schema`` option, each test gets a throwaway schema.
    """
    throwaway = storage_name == "postgresql" and "schema" not in storage_options
    if throwaway:
        storage_options = {**storage_options, "schema": f"mm_test_{uuid.uuid4().hex[:12]}"}
    backend: Storage = memmimic_backends["storage"].create(
        storage_name, storage_options, backend_context, "storage"
    )
    backend_context.storage = backend
    try:
        yield backend
    finally:
        if throwaway:
            backend.drop_schema()  # type: ignore[attr-defined]
        backend.close()
