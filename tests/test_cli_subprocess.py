"""The installed ``memmimic`` console script, run as a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

Run = Callable[..., subprocess.CompletedProcess[str]]
HEAVY_MODULES = ("torch", "onnxruntime", "faiss", "sentence_transformers", "tantivy")


def console_script() -> str:
    """The ``memmimic`` script of this interpreter's environment (the editable install)."""
    beside = Path(sys.executable).parent / "memmimic"
    if beside.exists():
        return str(beside)
    found = shutil.which("memmimic")
    if found is None:
        pytest.fail("the `memmimic` console script is not installed (run `make test`, which installs it)")
    return found


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The caller's environment without MEMMIMIC_* variables, plus a config on the model-free backends."""
    config = {
        "data_dir": str(tmp_path / "store"),
        "embedder": {"backend": "hashing"},
        "vector_index": {"backend": "numpy"},
        "text_index": {"backend": "storage"},
        "cache": {"backend": "none"},
        "classifier": {"backend": "none"},
        "expanders": [],
    }
    path = tmp_path / "memmimic.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEMMIMIC_")}
    clean["MEMMIMIC_CONFIG"] = str(path)
    return clean


@pytest.fixture
def memmimic(env: dict[str, str]) -> Run:
    script = console_script()

    def run(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([script, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == expect, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    return run


def test_remember_recall_get_update_history_forget(memmimic: Run) -> None:
    memory_id = memmimic("remember", "The staging database lives on port 5433", "--tag", "ops").stdout.strip()
    assert memory_id.startswith("mem_")

    hits = json.loads(memmimic("recall", "staging database port", "--json").stdout)
    assert hits[0]["id"] == memory_id
    assert "keyword" in hits[0]["sources"]

    assert json.loads(memmimic("get", memory_id, "--json").stdout)["tags"] == ["ops"]

    memmimic("update", memory_id, "--content", "The staging database lives on port 6543", "--reason", "moved")
    entries = json.loads(memmimic("history", memory_id, "--json").stdout)
    assert [e["reason"] for e in entries] == ["moved"]
    assert entries[0]["after"]["content"].endswith("6543")

    memmimic("forget", memory_id)
    gone = memmimic("get", memory_id, expect=1)
    assert gone.stderr.strip().splitlines() == [f"error: no memory {memory_id!r} in namespace 'default'"]


def test_namespace_on_the_root_and_on_the_command(memmimic: Run) -> None:
    memory_id = memmimic("--namespace", "team", "remember", "Shared team memory").stdout.strip()
    assert (
        json.loads(memmimic("recall", "team", "--namespace", "team", "--json").stdout)[0]["id"] == memory_id
    )
    assert json.loads(memmimic("recall", "team", "--json").stdout) == []


def test_error_is_one_line_on_stderr_without_a_traceback(memmimic: Run, tmp_path: Path) -> None:
    done = memmimic("remember", "", expect=1)
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in done.stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text("storage: [sqlite\n", encoding="utf-8")
    done = memmimic("--config", str(bad), "status", expect=1)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "line 2" in lines[0] and "column" in lines[0]
    assert "Traceback" not in done.stderr


def test_usage_error_exits_2(memmimic: Run) -> None:
    done = memmimic("recall", "x", "--limit", "lots", expect=2)
    assert "Traceback" not in done.stderr


def test_help_and_status_do_not_import_the_model_stack(env: dict[str, str]) -> None:
    probe = (
        "import sys\n"
        "from memmimic_core.cli.app import run\n"
        "try:\n"
        "    run(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    for args in (["--help"], ["status", "--json"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1] == "[]", (args, done.stdout[-500:])
