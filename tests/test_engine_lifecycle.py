"""Derived state across processes and restarts: catch-up, write-behind, embedder changes, async."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from memmimic_core.aio import AsyncMemMimic
from memmimic_core.engine import MemMimic
from tests.conftest import model_free_config


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout
    )


def test_another_process_sees_writes_without_restart(tmp_path: Path) -> None:
    config = model_free_config(tmp_path)
    with MemMimic(config) as reader:
        assert reader.recall("zebra crossing") == []
        result = run_python(
            f"""
            from memmimic_core.engine import MemMimic
            with MemMimic({config!r}) as m:
                print(m.remember("the zebra crossing near the school was repainted"))
            """
        )
        assert result.returncode == 0, result.stderr
        new_id = result.stdout.strip()
        hits = reader.recall("zebra crossing")
        assert [h.id for h in hits] == [new_id]
        assert set(hits[0].sources) >= {"keyword", "semantic"}
        forget = run_python(
            f"""
            from memmimic_core.engine import MemMimic
            with MemMimic({config!r}) as m:
                m.forget({new_id!r})
            """
        )
        assert forget.returncode == 0, forget.stderr
        assert reader.recall("zebra crossing") == []


def write_behind_config(tmp_path: Path) -> dict[str, Any]:
    return model_free_config(tmp_path, embedder={"backend": "hashing", "write_behind": True})


def test_write_behind_keeps_read_your_writes(tmp_path: Path) -> None:
    with MemMimic(write_behind_config(tmp_path)) as m:
        mid = m.remember("penguins huddle together to stay warm")
        hits = m.recall("penguins huddle warm", sources=["semantic"])
        assert [h.id for h in hits] == [mid]


def test_flush_embeds_what_write_behind_left_pending(tmp_path: Path) -> None:
    with MemMimic(write_behind_config(tmp_path)) as m:
        m._embedding.notify_written = lambda *_: None  # type: ignore[method-assign]  # no worker: all pending
        ids = m.remember_many(["glaciers carve valleys", "rivers carry silt"])
        assert {x.id for x in m.storage.unembedded(10, None)} == set(ids)
        assert m.flush() == 2
        assert m.storage.unembedded(10, None) == []
        assert all(m.get(i).embedder for i in ids)
        assert m.flush() == 0


def test_read_your_writes_queries_storage_only_where_this_process_wrote(tmp_path: Path) -> None:
    with MemMimic(write_behind_config(tmp_path)) as m:
        svc = m._embedding  # no remember() here, so no background worker races the checks below
        m.storage.add([m._new_memory("left unembedded by a crash", None)])
        assert svc.catch_up_pending("default") == 1  # first look at a namespace since start
        m.storage.add([m._new_memory("written by another process", None)])
        assert svc.catch_up_pending("default") == 0  # nothing written here since: no query
        assert len(m.storage.unembedded(10, "default")) == 1  # its own worker embeds that one
        svc._dirty.add("default")  # what notify_written records after this process's write
        assert svc.catch_up_pending("default") == 1
        assert m.storage.unembedded(10, None) == []


def test_write_behind_crash_loses_nothing(tmp_path: Path) -> None:
    config = write_behind_config(tmp_path)
    crashed = run_python(
        f"""
        import os
        from memmimic_core.engine import MemMimic
        m = MemMimic({config!r})
        m._embedding.notify_written = lambda *_: None  # the worker never gets to run
        print(m.remember("volcanoes erupt molten lava"), flush=True)
        os._exit(9)  # die before any embedding is written
        """
    )
    assert crashed.returncode == 9, crashed.stderr
    mid = crashed.stdout.strip()
    with MemMimic(config) as m:
        assert m.get(mid).embedding is None or m.get(mid).embedder is None
        hits = m.recall("volcanoes erupt molten lava", sources=["semantic"])
        assert [h.id for h in hits] == [mid]


def test_embedder_change_is_detected_and_reembed_fixes_it(tmp_path: Path) -> None:
    with MemMimic(model_free_config(tmp_path)) as m:
        mid = m.remember("lighthouses guide ships at night")
    other = model_free_config(tmp_path, embedder={"backend": "hashing", "dimension": 128})
    with MemMimic(other) as m:
        status = m.status()
        assert any("memmimic reembed" in w for w in status["warnings"])
        hit = m.recall("lighthouses guide ships")[0]
        assert "semantic" not in hit.sources
        seen: list[tuple[int, int]] = []
        assert m.reembed(progress=lambda d, t: seen.append((d, t))) == 1
        assert seen[-1] == (1, 1)
        assert m.status()["warnings"] == []
        hit = m.recall("lighthouses guide ships")[0]
        assert hit.id == mid
        assert "semantic" in hit.sources


def test_restart_rebuilds_in_memory_indexes(tmp_path: Path) -> None:
    config = model_free_config(tmp_path)
    with MemMimic(config) as m:
        ids = m.remember_many(["alpha centauri is a star system", "beta testing starts monday"])
    with MemMimic(config) as m:
        assert m.recall("alpha centauri star", sources=["semantic"])[0].id == ids[0]


def test_async_api_does_not_block_the_loop(tmp_path: Path) -> None:
    async def scenario() -> dict[str, Any]:
        async with AsyncMemMimic(model_free_config(tmp_path)) as memory:
            task = asyncio.create_task(memory.remember_many([f"async note {i}" for i in range(3000)]))
            turns = 0
            while not task.done():
                turns += 1
                await asyncio.sleep(0)
            ids = await task
            hits = await memory.recall("async note 42", limit=3)
            got = await memory.get(ids[0])
            return {"turns": turns, "ids": len(ids), "hits": len(hits), "first": got.content}

    result = asyncio.run(scenario())
    assert result["turns"] > 1  # the loop kept running while the batch was written
    assert result["ids"] == 3000
    assert result["hits"] == 3
    assert result["first"] == "async note 0"
    assert json.dumps(result)


def test_closing_during_a_backlog_stops_the_worker_and_embeds_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = write_behind_config(tmp_path)
    with MemMimic(config) as m:
        m.remember_many([f"backlog note number {i}" for i in range(3000)])  # wakes the worker
    assert "background embedding failed" not in caplog.text
    assert "did not stop" not in caplog.text
    with MemMimic(config) as m:
        assert m.storage.unembedded(10, None) == []  # close embedded what the worker left
