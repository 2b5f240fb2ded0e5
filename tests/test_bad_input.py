"""Bad input on every write path: a MemMimicError naming the problem, and nothing changed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from memmimic_core.aio import AsyncMemMimic
from memmimic_core.engine import MemMimic
from memmimic_core.errors import InvalidInputError, NotFoundError
from tests.conftest import model_free_config

LIMIT = 64
BAD_CONTENT = {
    "empty": ("", "empty"),
    "whitespace": (" \n\t ", "empty"),
    "nul": ("a\x00b", "NUL"),
    "surrogate": ("bad \udc80 half", "surrogate"),
    "over-limit": ("x" * (LIMIT + 1), "over the limit"),
    "not-text": (3.5, "must be text"),
}


@pytest.fixture
def small(tmp_path: Path) -> Iterator[MemMimic]:
    with MemMimic(model_free_config(tmp_path, memory={"max_content_bytes": LIMIT})) as store:
        yield store


@pytest.mark.parametrize("case", BAD_CONTENT.values(), ids=BAD_CONTENT.keys())
def test_update_with_bad_content_changes_nothing(small: MemMimic, case: tuple[object, str]) -> None:
    content, fragment = case
    memory_id = small.remember("the original wording")
    with pytest.raises(InvalidInputError, match=fragment):
        small.update(memory_id, content=content, importance=0.9)  # type: ignore[arg-type]
    kept = small.get(memory_id)
    assert (kept.content, kept.importance) == ("the original wording", 0.5)
    assert small.history(memory_id) == []


def test_content_at_the_default_limit_is_kept_and_one_byte_more_refused(tmp_path: Path) -> None:
    with MemMimic(model_free_config(tmp_path)) as store:
        assert store.config.memory.max_content_bytes == 1_000_000
        store.remember("é" * 500_000)  # 1,000,000 UTF-8 bytes
        with pytest.raises(InvalidInputError, match="1,000,001 bytes, over the limit of 1,000,000"):
            store.remember("é" * 500_000 + "x")
        assert store.status()["total_memories"] == 1


def test_unknown_ids_name_the_id_on_every_call(memory: MemMimic) -> None:
    kept = memory.remember("a memory that must stay as it is")
    calls = {
        "get": lambda: memory.get("mem_unknown"),
        "update": lambda: memory.update("mem_unknown", importance=0.1),
        "forget": lambda: memory.forget("mem_unknown"),
        "history": lambda: memory.history("mem_unknown"),
    }
    for name, call in calls.items():
        with pytest.raises(NotFoundError, match="mem_unknown"):
            call()
        assert memory.get(kept).content == "a memory that must stay as it is", name
    assert memory.status()["total_memories"] == 1


@pytest.mark.parametrize("limit", [0, -5, 1001, 10**12])
def test_limits_outside_one_to_the_maximum_are_refused(memory: MemMimic, limit: int) -> None:
    memory.remember("something to find")
    with pytest.raises(InvalidInputError, match=r"limit must be between 1 and 1000"):
        memory.recall("something", limit=limit)


def test_the_async_twin_offers_every_call_as_a_coroutine(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with AsyncMemMimic(model_free_config(tmp_path)) as memory:
            memory_id = await memory.remember("the first draft", tags=["async"])
            (first,) = await memory.remember_many(["a second note"])
            assert [h.id for h in await memory.recall("first draft", limit=1)] == [memory_id]
            await memory.update(memory_id, content="the final text", reason="edited")
            assert (await memory.get(memory_id)).content == "the final text"
            assert [entry.reason for entry in await memory.history(memory_id)] == ["edited"]
            assert (await memory.status())["total_memories"] == 2
            await memory.forget(first)
            with pytest.raises(NotFoundError):
                await memory.get(first)
            with pytest.raises(InvalidInputError):
                await memory.remember("")

    asyncio.run(scenario())
