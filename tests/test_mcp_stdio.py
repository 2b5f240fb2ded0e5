"""The MCP server over stdio, driven by the SDK's real client (a server subprocess per test)."""

from __future__ import annotations

import json
import re
import subprocess
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
    """A config on the default (embedded) backends, with its data in a temp dir."""
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
        assert "content" in await fails(s, "tales", content="everything")
        assert "cursor" in await fails(s, "tales", cursor="not-a-cursor")
        assert "not both" in await fails(s, "delete_tale", name="x", purge=True, restore=True)
        assert "namespace" in await fails(s, "status", namespace="")
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


FACT = "The deploy server listens on port 8080 behind nginx."
FACT_9090 = "The deploy server listens on port 9090 behind nginx."


def test_tales_keep_versions_and_are_deleted_softly_restored_and_purged(config_path: Path) -> None:
    async def scenario(s: ClientSession) -> None:
        long_text = " ".join(f"Day {i}: the road went on to Porto." for i in range(150))
        assert (await call(s, "save_tale", name="journey", content="It began in Lisbon."))["version"] == 1
        assert (await call(s, "save_tale", name="journey", content=long_text, category="saga"))[
            "version"
        ] == 2
        await call(s, "save_tale", name="recipes", content="Bake the bread at 220 degrees.", category="howto")
        first = await call(s, "load_tale", name="journey", version=1)
        assert first["tale"]["content"] == "It began in Lisbon." and first["versions"] == 2
        assert "no version 3" in await fails(s, "load_tale", name="journey", version=3)
        text, cursor, slices = "", None, 0
        while slices == 0 or cursor:
            page = await call(s, "load_tale", name="journey", max_tokens=200, cursor=cursor)
            text, cursor, slices = text + page["tale"]["content"], page["cursor"], slices + 1
        assert text == long_text and slices > 1
        assert [t["name"] for t in (await call(s, "tales", query="Porto"))["tales"]] == ["journey"]
        assert [t["name"] for t in (await call(s, "tales", category="howto"))["tales"]] == ["recipes"]
        names: list[str] = []
        cursor = None
        while not names or cursor:
            listed = await call(s, "tales", max_tokens=50, cursor=cursor)
            names, cursor = names + [t["name"] for t in listed["tales"]], listed["cursor"]
        assert sorted(names) == ["journey", "recipes"] and len(names) == 2

        gone = await call(s, "delete_tale", name="journey")
        assert gone["action"] == "deleted" and gone["existed"] and "restore" in gone["message"]
        assert [t["name"] for t in (await call(s, "tales"))["tales"]] == ["recipes"]
        hidden = (await call(s, "tales", include_deleted=True))["tales"]
        assert {t["name"]: t["deleted"] for t in hidden} == {"journey": True, "recipes": False}
        assert "no tale named 'journey'" in await fails(s, "load_tale", name="journey")
        back = await call(s, "delete_tale", name="journey", restore=True)
        assert back["action"] == "restored" and "version 2" in back["message"]
        assert (await call(s, "load_tale", name="journey", version=1))["versions"] == 2
        assert (await call(s, "delete_tale", name="journey", purge=True))["action"] == "purged"
        assert "no tale named 'journey'" in await fails(s, "load_tale", name="journey")
        assert "no tale named 'journey'" in await fails(s, "delete_tale", name="journey", restore=True)
        assert not (await call(s, "delete_tale", name="journey"))["existed"]

        assert "1 to 200 characters" in await fails(s, "save_tale", name="x" * 201, content="x")
        for bad in ("a..b", "c\\d", "/abs", "..", "tab\tname"):
            message = await fails(s, "save_tale", name=bad, content="x")
            assert "looks like a path" in message or "control characters" in message, bad
        assert [t["name"] for t in (await call(s, "tales", include_deleted=True))["tales"]] == ["recipes"]

    run(config_path, scenario)


def test_remember_with_quality_stores_supersedes_refuses_and_merges(config_path: Path) -> None:
    async def scenario(s: ClientSession) -> None:
        stored = await call(s, "remember_with_quality", content=FACT)
        assert stored["action"] == "stored" and stored["memory_id"]
        assert set(stored["scores"]) >= {"clarity", "density", "uniqueness", "overall"}
        newer = await call(s, "remember_with_quality", content=FACT.replace(".", "!"))
        assert newer["action"] == "superseded" and newer["superseded"] == stored["memory_id"]
        assert (
            "near duplicate" in newer["reason"] and newer["near_duplicates"][0]["id"] == stored["memory_id"]
        )
        hits = await call(s, "recall_cxd", query="deploy server port")
        assert [h["id"] for h in hits["hits"]] == [newer["memory_id"]]
        assert hits["hits"][0]["supersedes"] == stored["memory_id"]
        every = await call(s, "recall_cxd", query="deploy server port", include_archived=True)
        old = next(h for h in every["hits"] if h["id"] == stored["memory_id"])
        assert old["status"] == "archived" and old["superseded_by"] == newer["memory_id"] and old["valid_to"]

        refused = await call(s, "remember_with_quality", content=FACT.upper(), near_duplicate_policy="refuse")
        assert refused["action"] == "refused" and refused["memory_id"] == newer["memory_id"]
        low = await call(s, "remember_with_quality", content="ok")
        assert low["action"] == "refused" and "below" in low["reason"]
        dry = await call(s, "remember_with_quality", content="Backups run at 02:00 in Berlin.", dry_run=True)
        assert dry["action"] == "assessed" and dry["reason"].startswith("would be stored")
        merged = await call(
            s,
            "remember_with_quality",
            content=FACT.replace(".", "!") + " It restarts nightly at 03:00.",
            near_duplicate_policy="merge",
            near_duplicate_threshold=0.75,
            related_threshold=0.5,
        )
        assert merged["action"] == "merged" and merged["memory_id"] == newer["memory_id"]
        text = (await call(s, "recall_cxd", query="deploy restarts nightly"))["hits"][0]["content"]
        assert text.startswith(FACT.replace(".", "!")) and "03:00" in text
        assert (await call(s, "status"))["namespace_memories"] == 2  # refusals and dry runs wrote nothing

    run(config_path, scenario)


def test_guided_changes_show_their_impact_and_apply_only_with_confirm(config_path: Path) -> None:
    async def scenario(s: ClientSession) -> None:
        a = (await call(s, "remember", content=FACT))["id"]
        b = (await call(s, "remember", content=FACT_9090))["id"]
        await call(s, "save_tale", name="ops", content=f"Quoting: {FACT}")
        preview = await call(s, "delete_memory_guided", memory_id=a)
        assert not preview["applied"] and "would be forgotten" in preview["message"]
        assert "1 tale(s) cite it" in preview["message"]
        assert preview["impact"]["tales"] == [{"name": "ops", "version": 1, "cites_by": ["quote"]}]
        assert b in [r["id"] for r in preview["impact"]["related"]]
        assert (await call(s, "recall_cxd", query="deploy server"))["total"] == 2

        same = await call(s, "update_memory_guided", memory_id=a, importance=preview["memory"]["importance"])
        assert not same["applied"] and same["changes"] == {} and "nothing would change" in same["message"]
        dup = await call(s, "update_memory_guided", memory_id=a, content=FACT_9090)
        assert not dup["applied"] and [n["id"] for n in dup["impact"]["near_duplicates_after"]] == [b]
        assert dup["changes"]["content"] == {"before": FACT, "after": FACT_9090}
        edited = "The deploy server listens on port 8443 behind nginx."
        done = await call(
            s, "update_memory_guided", memory_id=a, content=edited, reason="moved to TLS", confirm=True
        )
        assert done["applied"] and done["after"]["content"] == edited and done["memory"]["content"] == FACT
        again = await call(s, "update_memory_guided", memory_id=a, importance=0.1)
        assert again["impact"]["history_entries"] == 1  # the update kept history

        archived = await call(s, "delete_memory_guided", memory_id=b, mode="archive", confirm=True)
        assert archived["applied"] and archived["after"]["status"] == "archived"
        assert [h["id"] for h in (await call(s, "recall_cxd", query="port 9090"))["hits"]] == [a]
        await call(s, "update_memory_guided", memory_id=b, status="active", confirm=True)
        assert (await call(s, "recall_cxd", query="deploy server"))["total"] == 2

        forgot = await call(s, "delete_memory_guided", memory_id=a, confirm=True)
        assert forgot["applied"] and forgot["action"] == "forget"
        assert "no memory" in await fails(s, "update_memory_guided", memory_id=a, importance=0.2)
        assert [h["id"] for h in (await call(s, "recall_cxd", query="deploy server"))["hits"]] == [b]

    run(config_path, scenario)


def test_status_and_thinking_take_a_namespace_and_report_what_the_budget_left_out(config_path: Path) -> None:
    async def scenario(s: ClientSession) -> None:
        for i in range(8):
            await call(s, "remember", content=f"Release {i}: " + "the parser handles nested quotes. " * 20)
        await call(s, "remember", content=FACT, namespace="ops")
        ops = await call(s, "status", namespace="ops")
        assert (ops["namespace"], ops["namespace_memories"]) == ("ops", 1)
        assert ops["memories"] == {"default": 8, "ops": 1}
        assert (await call(s, "status", namespace="nobody"))["namespace_memories"] == 0
        think = await call(s, "think_with_memory", query="release parser", max_tokens=200)
        assert think["omitted"] > 0 and len(think["memories"]) + think["omitted"] == 8
        assert think["memories"][0]["truncated"] or len(think["memories"]) > 1
        wide = await call(
            s, "think_with_memory", query="release parser", content="metadata", max_tokens=20000
        )
        assert wide["omitted"] == 0 and len(wide["memories"]) == 8
        assert (await call(s, "think_with_memory", query="deploy port", namespace="ops"))["memories"][0][
            "content"
        ] == FACT
        socratic = await call(s, "socratic_dialogue", topic="release parser", content="full", max_tokens=200)
        assert socratic["omitted"] > 0

    run(config_path, scenario)


def test_the_server_starts_without_loading_the_model(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from memmimic_core.engine import MemMimic\n"
        "from memmimic_core.mcp_server import build_server\n"
        "with MemMimic({'data_dir': sys.argv[1]}) as m:\n"
        "    build_server(m)\n"
        "    heavy = {'torch', 'onnxruntime', 'transformers', 'sentence_transformers'}\n"
        "    print(sorted(k for k in sys.modules if k.split('.')[0] in heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"


def claude_desktop_configs() -> list[dict[str, Any]]:
    """The Claude Desktop configs printed in README.md and docs/mcp.md."""
    root = Path(__file__).parent.parent
    found = []
    for doc in (root / "README.md", root / "docs" / "mcp.md"):
        blocks = re.findall(r"```json\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
        found += [json.loads(b) for b in blocks if '"mcpServers"' in b]
    return found


def test_the_documented_claude_desktop_config_launches_a_working_server(tmp_path: Path) -> None:
    configs = claude_desktop_configs()
    assert len(configs) == 2 and configs[0] == configs[1]
    entry = configs[0]["mcpServers"]["memmimic"]
    assert entry["command"].endswith("/.venv/bin/memmimic")
    script = Path(sys.executable).parent / "memmimic"
    assert script.exists(), f"the console script {script} is not installed"
    launch = StdioServerParameters(
        command=str(script), args=entry["args"], env={"MEMMIMIC_HOME": str(tmp_path / "home")}
    )

    async def main() -> None:
        async with stdio_client(launch) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            assert sorted(t.name for t in (await session.list_tools()).tools) == sorted(TOOL_NAMES)
            stored = await call(session, "remember", content=FACT)
            assert (await call(session, "recall_cxd", query="deploy port"))["hits"][0]["id"] == stored["id"]

    anyio.run(main)
