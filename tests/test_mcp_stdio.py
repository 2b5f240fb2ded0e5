"""The MCP server over stdio, driven by the SDK's real client (a server subprocess per test)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from memmimic_core.mcp_server import TOOL_NAMES

pytestmark = pytest.mark.server

Scenario = Callable[[ClientSession], Coroutine[Any, Any, None]]


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """A config on the model-free defaults, with its data in a temp dir."""
    path = tmp_path / "memmimic.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data")}))
    return path


def params(config: Path) -> StdioServerParameters:
    """Launch ``python -m memmimic_core.mcp_server`` with ``config``."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "memmimic_core.mcp_server", "--config", str(config)],
        env={"MEMMIMIC_DISABLE_PLUGINS": ""},
    )


def run(config: Path, *scenarios: Scenario) -> None:
    """Start one server; run each scenario in its own client session, concurrently."""

    async def main() -> None:
        async with stdio_client(params(config)) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            async with anyio.create_task_group() as tg:
                for scenario in scenarios:
                    tg.start_soon(scenario, session)

    anyio.run(main)


async def call(session: ClientSession, tool: str, **args: Any) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured result."""
    result = await session.call_tool(tool, args)
    text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
    assert not result.is_error, f"{tool} failed: {text}"
    assert result.structured_content is not None
    return result.structured_content


async def fails(session: ClientSession, tool: str, **args: Any) -> str:
    """Call a tool that must fail; return its error message (which must not be a traceback)."""
    result = await session.call_tool(tool, args)
    assert result.is_error, f"{tool} accepted {args}"
    text = result.content[0].text  # type: ignore[union-attr]
    assert "Traceback" not in text and 'File "' not in text
    return text


def test_lists_exactly_the_fourteen_tools_with_schemas(config_path: Path) -> None:
    async def scenario(session: ClientSession) -> None:
        tools = (await session.list_tools()).tools
        assert sorted(t.name for t in tools) == sorted(TOOL_NAMES)
        for t in tools:
            assert t.description and len(t.description) > 40, t.name
            assert t.input_schema["type"] == "object"
            assert t.output_schema is not None, t.name
            assert t.input_schema.get("additionalProperties") is False, t.name
        recall = next(t for t in tools if t.name == "recall_cxd")
        props = recall.input_schema["properties"]
        assert {"query", "max_tokens", "cursor", "content", "namespace"} <= set(props)

    run(config_path, scenario)


def test_every_tool_answers_good_arguments(config_path: Path) -> None:
    async def scenario(s: ClientSession) -> None:
        a = await call(
            s, "remember", content="The deploy server listens on port 8080 behind nginx.", tags=["ops"]
        )
        await call(s, "remember", content="We decided to move the database to PostgreSQL 16 in March.")
        q = await call(
            s, "remember_with_quality", content="The deploy server listens on port 8080 behind nginx."
        )
        assert q["action"] == "refused" and q["memory_id"] == a["id"] and "exact duplicate" in q["reason"]
        hits = await call(s, "recall_cxd", query="deploy port", content="metadata")
        assert hits["hits"][0]["id"] == a["id"] and hits["hits"][0]["content"] is None
        think = await call(s, "think_with_memory", query="deploy port kubernetes")
        assert [g["term"] for g in think["gaps"]] == ["kubernetes"]
        assert (await call(s, "socratic_dialogue", topic="deploy server", depth=2))["rounds"]
        assert (await call(s, "analyze_memory_patterns"))["total"] == 2
        status = await call(s, "status", detail=True)
        assert status["total_memories"] == 2 and "metrics" in status["detail"]
        saved = await call(
            s, "save_tale", name="ops notes", content=f"Port lives in {a['id']}.", category="ops"
        )
        assert saved["version"] == 1
        assert (await call(s, "tales"))["tales"][0]["name"] == "ops notes"
        assert (await call(s, "load_tale", name="ops notes"))["tale"]["content"].startswith("Port lives")
        draft = await call(s, "context_tale", query="deploy")
        assert a["id"] in draft["cited"] and draft["saved_as"] is None
        preview = await call(s, "update_memory_guided", memory_id=a["id"], importance=0.9)
        assert not preview["applied"] and preview["impact"]["tales"][0]["name"] == "ops notes"
        done = await call(s, "update_memory_guided", memory_id=a["id"], importance=0.9, confirm=True)
        assert done["applied"] and done["after"]["importance"] == 0.9
        gone = await call(s, "delete_memory_guided", memory_id=a["id"], confirm=True)
        assert gone["applied"]
        assert (await call(s, "delete_tale", name="ops notes"))["action"] == "deleted"

    run(config_path, scenario)


def test_bad_arguments_give_clear_errors(config_path: Path) -> None:
    async def scenario(s: ClientSession) -> None:
        assert "limit" in await fails(s, "recall_cxd", query="x", limit=0)
        assert "namepsace" in await fails(s, "recall_cxd", query="x", namepsace="typo")
        assert "query is empty" in await fails(s, "recall_cxd", query="   ")
        assert "cursor" in await fails(s, "recall_cxd", query="x", cursor="not-a-cursor")
        assert "content" in await fails(s, "remember")
        assert "content is empty" in await fails(s, "remember", content="")
        assert "importance" in await fails(s, "remember", content="x y z", importance=3)
        assert "near_duplicate_policy" in await fails(
            s, "remember_with_quality", content="a b c", near_duplicate_policy="explode"
        )
        assert "query" in await fails(s, "think_with_memory")
        assert "depth" in await fails(s, "socratic_dialogue", topic="x", depth=9)
        assert "top" in await fails(s, "analyze_memory_patterns", top=0)
        assert "detail" in await fails(s, "status", detail="very")
        assert "looks like a path" in await fails(s, "save_tale", name="../../etc/passwd", content="x")
        assert "looks like a path" in await fails(s, "load_tale", name="a/b")
        assert "no tale named 'nothing here'" in await fails(s, "load_tale", name="nothing here")
        assert "control characters" in await fails(s, "delete_tale", name="bad\x07name")
        assert "query" in await fails(s, "context_tale")
        assert "no memory" in await fails(s, "update_memory_guided", memory_id="mem_missing", importance=0.2)
        assert "not a memory id" in await fails(s, "delete_memory_guided", memory_id="../x")
        assert "mode" in await fails(s, "delete_memory_guided", memory_id="mem_x", mode="shred")

    run(config_path, scenario)


def test_reads_respect_the_token_budget_and_continue_with_a_cursor(config_path: Path) -> None:
    async def scenario(s: ClientSession) -> None:
        for i in range(6):
            await call(
                s, "remember", content=f"Release note {i}: " + "the parser handles nested quotes. " * 20
            )
        first = await call(s, "recall_cxd", query="release note parser", max_tokens=300)
        assert 1 <= len(first["hits"]) < 6 and first["estimated_tokens"] <= 300 + 100
        seen = [h["id"] for h in first["hits"]]
        cursor = first["cursor"]
        while cursor:
            page = await call(s, "recall_cxd", query="release note parser", max_tokens=300, cursor=cursor)
            seen += [h["id"] for h in page["hits"]]
            cursor = page["cursor"]
        assert len(seen) == len(set(seen)) == 6
        other = await fails(s, "recall_cxd", query="something else", cursor=first["cursor"])
        assert "another request" in other

    run(config_path, scenario)


def test_several_concurrent_clients_share_one_server(config_path: Path) -> None:
    async def writer(n: int) -> Scenario:
        async def scenario(s: ClientSession) -> None:
            for i in range(5):
                await call(
                    s,
                    "remember",
                    content=f"client {n} fact {i}: the value is {n * 100 + i}",
                    namespace=f"c{n}",
                )

        return scenario

    async def main() -> None:
        async with stdio_client(params(config_path)) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            async with anyio.create_task_group() as tg:
                for n in range(4):
                    tg.start_soon(await writer(n), session)
            status = await call(session, "status")
            assert status["memories"] == {f"c{n}": 5 for n in range(4)}

    anyio.run(main)
