"""The MCP server over streamable HTTP: a real server process, the SDK's HTTP client, the token check."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import yaml
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from memmimic_core.mcp_server import TOOL_NAMES

pytestmark = pytest.mark.server


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    tmp: Path, *args: str, token: str | None = None, config_token: str | None = None
) -> subprocess.Popen[str]:
    """Start ``python -m memmimic_core.mcp_server --http`` with a temp config.

    :param token: passed in ``MEMMIMIC_SERVER_TOKEN``.
    :param config_token: written to the config as ``server.token``.
    """
    config = tmp / "memmimic.yaml"
    settings: dict[str, Any] = {"data_dir": str(tmp / "data")}
    if config_token:
        settings["server"] = {"token": config_token}
    config.write_text(yaml.safe_dump(settings))
    env = {k: v for k, v in os.environ.items() if k != "MEMMIMIC_SERVER_TOKEN"}
    if token:
        env["MEMMIMIC_SERVER_TOKEN"] = token
    with (tmp / "server.log").open("w") as log:  # a file, not a pipe: a full pipe would block the server
        return subprocess.Popen(
            [sys.executable, "-m", "memmimic_core.mcp_server", "--http", "--config", str(config), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
        )


def wait_until_listening(proc: subprocess.Popen[str], port: int, timeout: float = 60.0) -> None:
    """Block until the server accepts connections (or fail with its stderr)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not start listening")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """One server with a token for the whole module: (url, token)."""
    token = secrets.token_urlsafe(24)
    port = free_port()
    proc = start(tmp_path_factory.mktemp("http"), "--port", str(port), token=token)
    try:
        wait_until_listening(proc, port)
        yield f"http://127.0.0.1:{port}/mcp", token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def raw_post(url: str, headers: dict[str, str]) -> int:
    """POST an initialize request without the SDK; return the HTTP status."""
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
    ).encode()
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def session_call(url: str, token: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Open one SDK client session with the token and run ``calls`` in order."""
    out: list[Any] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        for tool, args in calls:
            if tool == "list_tools":
                out.append(sorted(t.name for t in (await session.list_tools()).tools))
            else:
                out.append(await session.call_tool(tool, args))
    return out


def test_requests_without_the_token_get_401(server: tuple[str, str]) -> None:
    url, token = server
    assert raw_post(url, {}) == 401
    assert raw_post(url, {"Authorization": "Bearer wrong-token-of-some-length"}) == 401
    assert raw_post(url, {"Authorization": token}) == 401  # no "Bearer " scheme
    assert raw_post(url, {"Authorization": f"Bearer {token}"}) == 200


def test_lists_the_fourteen_tools_and_calls_them(server: tuple[str, str]) -> None:
    url, token = server
    script: list[tuple[str, dict[str, Any]]] = [
        ("list_tools", {}),
        ("remember", {"content": "The staging cluster runs Kubernetes 1.31.", "namespace": "http"}),
        ("recall_cxd", {"query": "staging cluster", "namespace": "http"}),
        ("recall_cxd", {"query": "x", "limit": -1}),
    ]

    async def main() -> list[Any]:
        return await session_call(url, token, script)

    names, stored, hits, bad = anyio.run(main)
    assert names == sorted(TOOL_NAMES)
    assert not stored.is_error and stored.structured_content["id"].startswith("mem_")
    assert hits.structured_content["hits"][0]["id"] == stored.structured_content["id"]
    assert bad.is_error and "limit" in bad.content[0].text and "Traceback" not in bad.content[0].text


def test_several_clients_at_once(server: tuple[str, str]) -> None:
    url, token = server
    results: dict[int, list[Any]] = {}

    async def client(n: int) -> None:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("remember", {"content": f"client {n} stored fact number {i}", "namespace": f"h{n}"})
            for i in range(4)
        ]
        calls.append(("recall_cxd", {"query": f"client {n} fact", "namespace": f"h{n}", "limit": 10}))
        results[n] = await session_call(url, token, calls)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for n in range(4):
                tg.start_soon(client, n)

    anyio.run(main)
    for out in results.values():
        assert all(not r.is_error for r in out)
        assert out[-1].structured_content["total"] == 4  # namespaces stay apart


def test_binding_beyond_loopback_requires_a_token(tmp_path: Path) -> None:
    proc = start(tmp_path, "--host", "0.0.0.0", "--port", str(free_port()))
    assert proc.wait(timeout=60) == 2
    err = (tmp_path / "server.log").read_text()
    assert "token" in err and "Traceback" not in err


def test_binding_beyond_loopback_with_a_token_serves_only_authorized_requests(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(24)
    port = free_port()
    proc = start(tmp_path, "--host", "0.0.0.0", "--port", str(port), config_token=token)  # server.token
    try:
        wait_until_listening(proc, port)
        url = f"http://127.0.0.1:{port}/mcp"
        assert raw_post(url, {}) == 401
        assert raw_post(url, {"Authorization": f"Bearer {token}"}) == 200
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_every_tool_over_http_with_good_and_bad_arguments(server: tuple[str, str]) -> None:
    url, token = server
    ns = {"namespace": "every"}

    async def main() -> dict[str, tuple[Any, Any]]:
        headers = {"Authorization": f"Bearer {token}"}
        out: dict[str, tuple[Any, Any]] = {}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as s,
        ):
            await s.initialize()

            async def both(tool: str, good: dict[str, Any], bad: dict[str, Any]) -> Any:
                out[tool] = (await s.call_tool(tool, good), await s.call_tool(tool, bad))
                return out[tool][0].structured_content

            fact = "The staging cluster runs Kubernetes 1.31 on three nodes."
            mid = (await both("remember", {"content": fact, **ns}, {"content": ""}))["id"]
            quality = {"content": "Backups of the staging cluster run at 02:00 UTC.", **ns}
            await both("remember_with_quality", quality, {"content": "x", "min_quality": 2})
            await both("recall_cxd", {"query": "staging cluster", **ns}, {"query": "x", "limit": 0})
            await both("think_with_memory", {"query": "staging cluster", **ns}, {"query": "x", "limit": 0})
            await both("socratic_dialogue", {"topic": "staging cluster", **ns}, {"topic": "x", "depth": 0})
            await both("analyze_memory_patterns", ns, {"top": 0})
            await both("status", ns, {"detail": "very"})
            await both(
                "save_tale",
                {"name": "cluster", "content": f"See {mid}.", **ns},
                {"name": "../x", "content": "x"},
            )
            await both("tales", ns, {"cursor": "not-a-cursor"})
            await both("load_tale", {"name": "cluster", **ns}, {"name": "a/b"})
            await both("context_tale", {"query": "staging", **ns}, {"query": "x", "limit": 0})
            await both(
                "update_memory_guided", {"memory_id": mid, "importance": 0.9, **ns}, {"memory_id": "../x"}
            )
            await both("delete_memory_guided", {"memory_id": mid, **ns}, {"memory_id": mid, "mode": "shred"})
            await both("delete_tale", {"name": "cluster", **ns}, {"name": "bad\x07name"})
        return out

    out = anyio.run(main)
    assert sorted(out) == sorted(TOOL_NAMES)
    for tool, (good, bad) in out.items():
        assert not good.is_error and good.structured_content is not None, (tool, good.content)
        text = bad.content[0].text
        assert bad.is_error and text and "Traceback" not in text and 'File "' not in text, (tool, text)
    assert out["remember_with_quality"][0].structured_content["action"] == "stored"
    assert out["status"][0].structured_content["namespace_memories"] == 2
    assert out["load_tale"][1].content[0].text.count("looks like a path") == 1
