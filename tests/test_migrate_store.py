"""``migrate-store``: a whole store copied SQLite → PostgreSQL → SQLite, verified, nothing lost."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from memmimic_core.cli.app import build_app
from memmimic_core.engine import MemMimic
from memmimic_core.errors import InvalidInputError, MemMimicError
from memmimic_core.migrate_store import digest_store, migrate_store, open_storage
from memmimic_core.protocols import Storage
from tests.conftest import model_free_config


def fill(store: MemMimic) -> dict[str, Any]:
    """Write a bit of everything a store holds; return what to look for afterwards."""
    items: list[dict[str, Any] | str] = [
        {
            "content": "The deploy script lives in ops/deploy.sh",
            "tags": ["ops", "deploy"],
            "importance": 0.8,
        },
        {"content": "Maria prefers status updates on Fridays", "metadata": {"who": "maria", "n": 3}},
        {"content": "PostgreSQL was chosen for the team server", "memory_type": "milestone"},
    ]
    items += [f"note {i} about topic {i % 4} – ünïcödé ✓" for i in range(40)]
    ids = store.remember_many(items)
    other = store.remember("bob's private note", namespace="bob", tags=["private"])
    store.update(
        ids[0], content="The deploy script lives in ops/deploy.sh (needs the VPN)", reason="more detail"
    )
    store.update(ids[0], importance=0.95, reason="it matters")
    store.update(ids[3], status="archived", reason="old")
    newer = store.supersede(ids[2], "PostgreSQL 16 was chosen for the team server", reason="version")
    store.forget(ids[5])
    store.storage.touch(
        [ids[1], ids[1], ids[4]], "default", datetime(2026, 1, 2, 3, 4, 5, 678901, timezone.utc)
    )
    store.tales.save("onboarding", "v1 text", category="howto", tags=["team"])
    store.tales.save("onboarding", "v2 text", category="howto", tags=["team", "new"])
    store.tales.save("retired", "soon gone", category="misc")
    store.tales.delete("retired")
    store.tales.save("bob-notes", "bob's tale", namespace="bob")
    store.flush()  # write-behind embeddings land now, not halfway through a snapshot
    return {"ids": ids, "other": other, "newer": newer}


def snapshot(storage: Storage) -> dict[str, Any]:
    """Everything observable through the Storage protocol, per namespace."""
    out: dict[str, Any] = {}
    for ns in storage.namespaces():
        memories = [m for batch in storage.iter_memories(ns, with_embedding=True) for m in batch]
        out[ns] = {
            "memories": [m.to_dict(with_embedding=True) for m in memories],
            "history": {m.id: [h.to_dict() for h in storage.history(m.id, ns)] for m in memories},
            "tales": {
                t.name: [v.to_dict() for v in storage.tale_versions(ns, t.name)]
                for t in storage.list_tales(ns, include_deleted=True)
            },
            "deleted": [t.name for t in storage.list_tales(ns, include_deleted=True) if t.deleted_at],
        }
    return out


@pytest.fixture
def source(tmp_path: Path) -> Iterator[tuple[MemMimic, dict[str, Any]]]:
    with MemMimic(model_free_config(tmp_path / "source")) as store:
        yield store, fill(store)


@pytest.fixture
def pg_schema(postgres_available: None) -> Iterator[str]:
    schema = f"mm_migrate_{uuid.uuid4().hex[:10]}"
    yield schema
    storage = open_storage({"storage": {"backend": "postgresql", "schema": schema}, "data_dir": "/tmp"})
    storage.drop_schema()  # type: ignore[attr-defined]
    storage.close()


@pytest.mark.service
def test_sqlite_to_postgresql_and_back_loses_nothing(
    source: tuple[MemMimic, dict[str, Any]], pg_schema: str, tmp_path: Path
) -> None:
    store, written = source
    before = snapshot(store.storage)
    pg_config = model_free_config(tmp_path / "pg", storage={"backend": "postgresql", "schema": pg_schema})
    pg = open_storage(pg_config)
    try:
        report = migrate_store(store.storage, pg, batch_size=7)
        assert report.verified, report.to_dict()
        assert report.copied["memories"] == store.storage.count(None) == 44
        assert report.copied["tale_versions"] == 4
        assert snapshot(pg) == before
        back = open_storage(model_free_config(tmp_path / "back"))
        try:
            assert migrate_store(pg, back).verified
            assert snapshot(back) == before
        finally:
            back.close()
    finally:
        pg.close()
    # the copy is a working store: derived indexes load from its change sequence
    with MemMimic(pg_config) as copy:
        hits = copy.recall("where is the deploy script", limit=3)
        assert hits and hits[0].id == written["ids"][0]
        assert copy.status()["vector_index"]["lag"] == 0
        new = copy.remember("written after the migration")  # key sequences moved past the copy
        assert copy.get(new).content == "written after the migration"
        assert copy.get(written["newer"]).supersedes == written["ids"][2]
        assert copy.tales.load("onboarding").version == 2
        copy.tales.save("onboarding", "v3 text", category="howto")
        assert [t.version for t in copy.tales.versions("onboarding")] == [1, 2, 3]


def test_sqlite_to_sqlite_and_checksums_see_any_difference(
    source: tuple[MemMimic, dict[str, Any]], tmp_path: Path
) -> None:
    store, written = source
    target = open_storage(model_free_config(tmp_path / "target"))
    try:
        report = migrate_store(store.storage, target)
        assert report.verified
        assert report.source_checksums == report.target_checksums
        assert set(report.source_checksums) == {
            "memories",
            "memory_tags",
            "memory_history",
            "tales",
            "tale_versions",
        }
        store.storage.touch([written["ids"][1]], "default", datetime.now(timezone.utc))
        counts, sums = digest_store(store.storage)
        assert counts == report.target_counts
        assert sums["memories"] != report.target_checksums["memories"]  # access stats are checked too
    finally:
        target.close()


def test_a_non_empty_target_is_refused(source: tuple[MemMimic, dict[str, Any]], tmp_path: Path) -> None:
    store, _ = source
    with MemMimic(model_free_config(tmp_path / "busy")) as busy:
        busy.remember("already here")
        with pytest.raises(InvalidInputError, match="not empty"):
            migrate_store(store.storage, busy.storage)
        assert busy.storage.count(None) == 1


def test_a_backend_without_the_capability_is_a_clear_error(source: tuple[MemMimic, dict[str, Any]]) -> None:
    store, _ = source
    lacking = SimpleNamespace(name="custom")  # a storage class that lacks export_records / import_records
    with pytest.raises(MemMimicError, match="'custom' can't be migrated: it has no import_records"):
        migrate_store(store.storage, lacking)  # type: ignore[arg-type]


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.mark.service
def test_the_cli_copies_with_a_progress_bar_and_verifies(
    source: tuple[MemMimic, dict[str, Any]], pg_schema: str, tmp_path: Path
) -> None:
    src = write(tmp_path / "a.yaml", model_free_config(tmp_path / "source"))
    dst = write(
        tmp_path / "b.yaml",
        model_free_config(tmp_path / "pg", storage={"backend": "postgresql", "schema": pg_schema}),
    )
    runner = CliRunner()
    app = build_app()
    result = runner.invoke(app, ["migrate-store", "--from", str(src), "--to", str(dst)])
    assert result.exit_code == 0, result.output
    assert "copying" in result.stderr and "verifying target" in result.stderr
    assert "memories" in result.stdout and "ok" in result.stdout and "MISMATCH" not in result.stdout
    again = runner.invoke(app, ["migrate-store", "--from", str(src), "--to", str(dst), "--json"])
    assert again.exit_code == 1
    assert "not empty" in again.stderr


def test_the_cli_json_report(source: tuple[MemMimic, dict[str, Any]], tmp_path: Path) -> None:
    src = write(tmp_path / "a.yaml", model_free_config(tmp_path / "source"))
    dst = write(tmp_path / "b.yaml", model_free_config(tmp_path / "copy"))
    result = CliRunner().invoke(
        build_app(), ["migrate-store", "--from", str(src), "--to", str(dst), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verified"] is True
    assert report["counts"]["source"] == report["counts"]["target"]
    assert report["copied"]["memories"] == 44


def test_every_yaml_example_of_the_deployment_guide_is_a_valid_config() -> None:
    import re

    from memmimic_core.config import load_config
    from memmimic_core.plugins import build_plugin_manager, collect_backends

    text = (Path(__file__).parent.parent / "docs" / "deployment.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 4
    backends = collect_backends(build_plugin_manager())
    for block in blocks:
        config = load_config(yaml.safe_load(block), environ={})
        for kind, section in config.sections().items():
            backends[kind].validate_options(section.backend, section.options, kind)
