"""The ``memmimic`` command line, through typer's runner, on a real store in a tmp dir."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner, Result

from memmimic_core import hookimpl
from memmimic_core.cli.app import build_app

Invoke = Callable[..., Result]


def store_config(data_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A config on the model-free backends."""
    config: dict[str, Any] = {
        "data_dir": str(data_dir),
        "embedder": {"backend": "hashing"},
        "vector_index": {"backend": "numpy"},
        "text_index": {"backend": "storage"},
        "cache": {"backend": "none"},
        "classifier": {"backend": "none"},
        "expanders": [],
    }
    config.update(overrides)
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MEMMIMIC_* variable of the caller's shell leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("MEMMIMIC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "160")


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path / "memmimic.yaml", store_config(tmp_path / "store"))


@pytest.fixture
def app() -> typer.Typer:
    return build_app()


@pytest.fixture
def cli(app: typer.Typer, config_file: Path) -> Iterator[Invoke]:
    """Run ``memmimic --config FILE ARGS…`` and return typer's result."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, ["--config", str(config_file), *args], input=input, env=env)

    yield invoke


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def remember(cli: Invoke, text: str, *args: str) -> str:
    return ok(cli("remember", text, *args)).stdout.strip()


def assert_one_line_error(result: Result, *fragments: str, code: int = 1) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output


# help and version ---------------------------------------------------------------------


def test_help_lists_every_command(app: typer.Typer) -> None:
    result = ok(CliRunner().invoke(app, ["--help"]))
    for command in (
        "remember",
        "recall",
        "get",
        "update",
        "forget",
        "history",
        "status",
        "metrics",
        "plugins",
        "config",
        "reembed",
        "tales",
        "export",
        "import",
    ):
        assert command in result.stdout


def test_version_prints_the_package_version(app: typer.Typer) -> None:
    from memmimic_core import __version__

    assert __version__ in ok(CliRunner().invoke(app, ["--version"])).stdout


# memories ----------------------------------------------------------------------------


def test_remember_prints_an_id_that_get_finds_at_once(cli: Invoke) -> None:
    memory_id = remember(cli, "The deploy runs on Fridays")
    assert memory_id.startswith("mem_")
    shown = json.loads(ok(cli("get", memory_id, "--json")).stdout)
    assert shown["id"] == memory_id
    assert shown["content"] == "The deploy runs on Fridays"


def test_remember_stores_type_importance_tags_and_metadata(cli: Invoke) -> None:
    out = ok(
        cli(
            "remember",
            "Use ruff for linting",
            "--type",
            "technical",
            "--importance",
            "0.9",
            "--tag",
            "python",
            "--tag",
            "lint",
            "--metadata",
            '{"source": "chat"}',
            "--json",
        )
    )
    memory_id = json.loads(out.stdout)["id"]
    shown = json.loads(ok(cli("get", memory_id, "--json")).stdout)
    assert shown["memory_type"] == "technical"
    assert shown["importance"] == pytest.approx(0.9)
    assert sorted(shown["tags"]) == ["lint", "python"]
    assert shown["metadata"] == {"source": "chat"}


def test_remember_reads_standard_input_for_dash(cli: Invoke) -> None:
    memory_id = ok(cli("remember", "-", input="from a pipe\n")).stdout.strip()
    assert json.loads(ok(cli("get", memory_id, "--json")).stdout)["content"].strip() == "from a pipe"


def test_get_prints_fields_and_content(cli: Invoke) -> None:
    memory_id = remember(cli, "Coffee beans come from Ethiopia")
    out = ok(cli("get", memory_id)).stdout
    assert memory_id in out
    assert "Coffee beans come from Ethiopia" in out


def test_recall_json_is_a_list_of_hits_with_per_source_scores(cli: Invoke) -> None:
    memory_id = remember(cli, "The quarterly report is due in March")
    remember(cli, "Lunch is at noon")
    hits = json.loads(ok(cli("recall", "quarterly report", "--json")).stdout)
    assert isinstance(hits, list) and hits
    assert hits[0]["id"] == memory_id
    assert {"id", "score", "sources", "matched_terms", "memory"} <= set(hits[0])
    assert "keyword" in hits[0]["sources"]
    assert {"score", "normalized", "rank"} <= set(hits[0]["sources"]["keyword"])


def test_recall_table_shows_rank_id_scores_sources_and_snippet(cli: Invoke) -> None:
    memory_id = remember(cli, "Backups run nightly at two in the morning")
    out = ok(cli("recall", "backups nightly")).stdout
    for column in ("#", "id", "score", "keyword", "semantic", "expansion", "content"):
        assert column in out
    assert memory_id in out
    assert "Backups run nightly" in out


def test_recall_on_a_narrow_terminal_prints_two_lines_per_hit(cli: Invoke) -> None:
    memory_id = remember(cli, "Narrow terminals still show the content")
    lines = ok(cli("recall", "narrow terminals", env={"COLUMNS": "80"})).stdout.strip().splitlines()
    assert memory_id in lines[0] and "keyword" in lines[0] and "semantic" in lines[0]
    assert "Narrow terminals still show the content" in lines[1]


def test_recall_explain_shows_normalized_scores_and_matched_terms(cli: Invoke) -> None:
    remember(cli, "Kubernetes clusters need monitoring")
    out = ok(cli("recall", "kubernetes monitoring", "--explain")).stdout
    assert "normalized" in out
    assert "matched terms:" in out
    assert "kubernetes" in out.lower()


def test_recall_with_no_match_says_so(cli: Invoke) -> None:
    assert "no memories matched" in ok(cli("recall", "anything")).stdout


def test_recall_filters_by_type_and_tag(cli: Invoke) -> None:
    tech = remember(cli, "Deploy the service with docker", "--type", "technical", "--tag", "ops")
    remember(cli, "Deploy the birthday plan", "--type", "interaction")
    by_type = json.loads(ok(cli("recall", "deploy", "--type", "technical", "--json")).stdout)
    assert [h["id"] for h in by_type] == [tech]
    by_tag = json.loads(ok(cli("recall", "deploy", "--tag", "ops", "--json")).stdout)
    assert [h["id"] for h in by_tag] == [tech]


def test_recall_filters_by_time_range(cli: Invoke) -> None:
    memory_id = remember(cli, "Time filtered memory")
    assert (
        json.loads(ok(cli("recall", "filtered", "--since", "2000-01-01", "--json")).stdout)[0]["id"]
        == memory_id
    )
    assert json.loads(ok(cli("recall", "filtered", "--until", "2000-01-01", "--json")).stdout) == []


def test_archived_memories_leave_default_recall_but_stay_findable(cli: Invoke) -> None:
    memory_id = remember(cli, "An archived fact about zebras")
    ok(cli("update", memory_id, "--status", "archived", "--reason", "old"))
    assert json.loads(ok(cli("recall", "zebras", "--json")).stdout) == []
    assert [h["id"] for h in json.loads(ok(cli("recall", "zebras", "--archived", "--json")).stdout)] == [
        memory_id
    ]
    assert [h["id"] for h in json.loads(ok(cli("recall", "zebras", "--any-status", "--json")).stdout)] == [
        memory_id
    ]


def test_update_changes_content_and_history_keeps_the_old_value(cli: Invoke) -> None:
    memory_id = remember(cli, "The meeting is on Monday")
    updated = json.loads(
        ok(
            cli("update", memory_id, "--content", "The meeting is on Tuesday", "--reason", "moved", "--json")
        ).stdout
    )
    assert updated["content"] == "The meeting is on Tuesday"
    entries = json.loads(ok(cli("history", memory_id, "--json")).stdout)
    assert len(entries) == 1
    assert entries[0]["reason"] == "moved"
    assert entries[0]["before"]["content"] == "The meeting is on Monday"
    assert entries[0]["after"]["content"] == "The meeting is on Tuesday"
    table = ok(cli("history", memory_id)).stdout
    assert "moved" in table and "content" in table


def test_update_sets_type_importance_tags(cli: Invoke) -> None:
    memory_id = remember(cli, "Retag me")
    ok(cli("update", memory_id, "--type", "milestone", "--importance", "0.2", "--tag", "new"))
    shown = json.loads(ok(cli("get", memory_id, "--json")).stdout)
    assert (shown["memory_type"], shown["importance"], shown["tags"]) == (
        "milestone",
        pytest.approx(0.2),
        ["new"],
    )


def test_forget_removes_the_memory(cli: Invoke) -> None:
    memory_id = remember(cli, "Forget me soon")
    assert memory_id in ok(cli("forget", memory_id)).stdout
    assert_one_line_error(cli("get", memory_id), memory_id)


# namespaces --------------------------------------------------------------------------


def test_namespace_option_works_before_and_after_the_command(cli: Invoke) -> None:
    memory_id = remember(cli, "Project alpha uses PostgreSQL", "--namespace", "work")
    after = json.loads(ok(cli("recall", "postgresql", "--namespace", "work", "--json")).stdout)
    before = json.loads(ok(cli("--namespace", "work", "recall", "postgresql", "--json")).stdout)
    assert [h["id"] for h in after] == [h["id"] for h in before] == [memory_id]


def test_namespaces_isolate(cli: Invoke) -> None:
    memory_id = remember(cli, "Secret of namespace one", "-n", "one")
    assert json.loads(ok(cli("recall", "secret", "-n", "two", "--json")).stdout) == []
    assert json.loads(ok(cli("recall", "secret", "--json")).stdout) == []
    assert_one_line_error(cli("get", memory_id, "-n", "two"), "two")
    assert_one_line_error(cli("forget", memory_id), "default")
    ok(cli("get", memory_id, "-n", "one"))


def test_namespace_from_the_environment(cli: Invoke) -> None:
    env = {"MEMMIMIC_NAMESPACE": "envns"}
    memory_id = ok(cli("remember", "Namespaced by env", env=env)).stdout.strip()
    assert json.loads(ok(cli("get", memory_id, "-n", "envns", "--json")).stdout)["namespace"] == "envns"
    assert json.loads(ok(cli("recall", "namespaced", "--json", env=env)).stdout)[0]["id"] == memory_id


def test_subcommand_namespace_wins_over_the_root_one(cli: Invoke) -> None:
    memory_id = remember(cli, "Inner namespace wins", "-n", "inner")
    hits = json.loads(ok(cli("-n", "outer", "recall", "inner", "-n", "inner", "--json")).stdout)
    assert [h["id"] for h in hits] == [memory_id]


# --config after the command ----------------------------------------------------------

STORE_COMMANDS = [
    ["remember"],
    ["recall"],
    ["get"],
    ["update"],
    ["forget"],
    ["history"],
    ["status"],
    ["metrics"],
    ["reembed"],
    ["maintain"],
    ["serve"],
    ["export"],
    ["import"],
    ["config", "show"],
    *(["tales", name] for name in ("list", "show", "save", "delete", "restore", "versions")),
]


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=" ".join)
def test_every_store_command_takes_config_after_its_name(app: typer.Typer, command: list[str]) -> None:
    assert "--config" in ok(CliRunner().invoke(app, [*command, "--help"])).stdout


def test_config_after_the_command_opens_that_store(app: typer.Typer, config_file: Path) -> None:
    runner = CliRunner()
    memory_id = ok(
        runner.invoke(app, ["remember", "Configured after the name", "--config", str(config_file)])
    )
    memory_id_text = memory_id.stdout.strip()
    hits = json.loads(
        ok(runner.invoke(app, ["recall", "configured", "--config", str(config_file), "--json"])).stdout
    )
    assert [h["id"] for h in hits] == [memory_id_text]
    shown = ok(
        runner.invoke(app, ["get", memory_id_text, "--json"], env={"MEMMIMIC_CONFIG": str(config_file)})
    )
    assert json.loads(shown.stdout)["content"] == "Configured after the name"


def test_command_config_wins_over_the_root_one_and_the_environment(
    app: typer.Typer, config_file: Path, tmp_path: Path
) -> None:
    other = write_config(
        tmp_path / "other.yaml", store_config(tmp_path / "other-store", namespace="elsewhere")
    )
    env = {"MEMMIMIC_CONFIG": str(config_file)}
    runner = CliRunner()
    shown = yaml.safe_load(ok(runner.invoke(app, ["config", "show", "--config", str(other)], env=env)).stdout)
    assert (shown["data_dir"], shown["namespace"]) == (str(tmp_path / "other-store"), "elsewhere")
    args = ["--config", str(config_file), "config", "show", "--config", str(other), "--json"]
    assert json.loads(ok(runner.invoke(app, args)).stdout)["namespace"] == "elsewhere"


def test_missing_config_after_the_command_is_one_error_line(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["status", "--config", str(tmp_path / "nope.yaml")])
    assert_one_line_error(result, "nope.yaml", "does not exist")


# status, metrics, plugins, config ----------------------------------------------------


def test_status_json_counts_memories_per_namespace(cli: Invoke) -> None:
    remember(cli, "one")
    remember(cli, "two", "-n", "other")
    status = json.loads(ok(cli("status", "--json")).stdout)
    assert status["memories"] == {"default": 1, "other": 1}
    assert status["total_memories"] == 2
    assert status["backends"]["storage"] == "sqlite"
    assert isinstance(status["warnings"], list)


def test_status_table_names_the_backends(cli: Invoke) -> None:
    out = ok(cli("status")).stdout
    assert "sqlite" in out and "hashing" in out and "numpy" in out


def test_metrics_json_is_a_mapping(cli: Invoke) -> None:
    assert isinstance(json.loads(ok(cli("metrics", "--json")).stdout), dict)
    ok(cli("metrics"))


def test_metrics_prometheus_is_text_format(cli: Invoke) -> None:
    out = ok(cli("metrics", "--prometheus")).stdout
    assert "# TYPE" in out or "# HELP" in out


def test_plugins_lists_default_backends_with_their_plugin(cli: Invoke) -> None:
    infos = json.loads(ok(cli("plugins", "--json")).stdout)
    by_name = {info["name"]: info for info in infos}
    assert "sqlite" in by_name["sqlite"]["backends"]["storage"]
    assert by_name["sqlite"]["distribution"] == "memmimic"
    assert "memmimic_register_storage" in by_name["sqlite"]["hooks"]
    assert "sqlite" in ok(cli("plugins")).stdout


def test_config_show_prints_yaml_with_defaults_filled_in(cli: Invoke, tmp_path: Path) -> None:
    shown = yaml.safe_load(ok(cli("config", "show")).stdout)
    assert shown["data_dir"] == str(tmp_path / "store")
    assert shown["storage"]["backend"] == "sqlite"
    assert "pool_size" in shown["storage"]  # the backend's own option defaults
    assert shown["memory"]["max_recall_limit"] == 1000
    assert json.loads(ok(cli("config", "show", "--json")).stdout) == shown


def test_config_check_accepts_a_good_file(cli: Invoke, config_file: Path) -> None:
    assert ok(cli("config", "check", str(config_file))).stdout.strip() == "OK"


def test_config_check_reports_invalid_yaml_with_line_and_column(cli: Invoke, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("storage:\n  backend: sqlite\n  pool_size: [1, 2\n", encoding="utf-8")
    assert_one_line_error(cli("config", "check", str(bad)), "invalid YAML", "line", "column")


def test_config_check_reports_an_unknown_backend_and_bad_options(cli: Invoke, tmp_path: Path) -> None:
    bad = write_config(
        tmp_path / "bad.yaml",
        {"storage": {"backend": "nope"}, "vector_index": {"backend": "numpy", "bogus": 1}},
    )
    result = cli("config", "check", str(bad))
    assert result.exit_code == 1
    assert "the storage backend 'nope' can't be found (registered:" in result.stderr
    assert "vector_index.bogus" in result.stderr
    assert "Traceback" not in result.output
    report = json.loads(cli("config", "check", str(bad), "--json").stdout)
    assert report["ok"] is False and len(report["errors"]) == 2


def test_config_check_does_not_create_the_data_dir(cli: Invoke, tmp_path: Path) -> None:
    other = write_config(tmp_path / "other.yaml", store_config(tmp_path / "never"))
    ok(cli("config", "check", str(other)))
    assert not (tmp_path / "never").exists()


# errors ------------------------------------------------------------------------------


def test_unknown_id_is_one_error_line(cli: Invoke) -> None:
    assert_one_line_error(cli("get", "mem_doesnotexist"), "mem_doesnotexist")
    assert_one_line_error(cli("history", "mem_doesnotexist"), "mem_doesnotexist")
    assert_one_line_error(cli("update", "mem_doesnotexist", "--content", "x"), "mem_doesnotexist")


def test_malformed_id_is_one_error_line(cli: Invoke) -> None:
    assert_one_line_error(cli("get", "not an id"), "not a memory id")


def test_empty_content_is_one_error_line(cli: Invoke) -> None:
    assert_one_line_error(cli("remember", "   "), "empty")


def test_update_without_changes_is_one_error_line(cli: Invoke) -> None:
    memory_id = remember(cli, "Unchanged")
    assert_one_line_error(cli("update", memory_id), "nothing to update")


def test_bad_limit_is_an_error(cli: Invoke) -> None:
    assert_one_line_error(cli("recall", "x", "--limit", "0"), "limit")
    assert_one_line_error(cli("recall", "x", "--limit", "100000"), "limit")
    usage = cli("recall", "x", "--limit", "many")
    assert usage.exit_code == 2
    assert "--limit" in usage.stderr


def test_bad_metadata_is_a_usage_error(cli: Invoke) -> None:
    result = cli("remember", "x", "--metadata", "{not json")
    assert result.exit_code == 2
    assert "--metadata" in result.stderr


def test_archived_and_any_status_together_is_a_usage_error(cli: Invoke) -> None:
    assert cli("recall", "x", "--archived", "--any-status").exit_code == 2


def test_bad_cxd_and_bad_time_are_one_error_line(cli: Invoke) -> None:
    assert_one_line_error(cli("recall", "x", "--cxd", "feelings"), "cxd_function")
    assert_one_line_error(cli("recall", "x", "--since", "yesterday-ish"), "since")


def test_invalid_yaml_config_names_line_and_column(app: typer.Typer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data_dir: /tmp/x\nstorage: {backend: sqlite\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["--config", str(bad), "status"])
    assert_one_line_error(result, "invalid YAML", "line 3", "column")


def test_unknown_backend_names_kind_name_and_registered(app: typer.Typer, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", store_config(tmp_path / "s", vector_index={"backend": "annoy"}))
    result = CliRunner().invoke(app, ["--config", str(cfg), "recall", "x"])
    assert_one_line_error(result, "the vector_index backend 'annoy' can't be found", "numpy", "installed?")


def test_missing_config_file_is_one_error_line(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--config", str(tmp_path / "nope.yaml"), "status"])
    assert_one_line_error(result, "does not exist")


def test_config_from_the_environment(app: typer.Typer, config_file: Path) -> None:
    runner = CliRunner()
    out = ok(runner.invoke(app, ["remember", "via env"], env={"MEMMIMIC_CONFIG": str(config_file)}))
    shown = ok(runner.invoke(app, ["--config", str(config_file), "get", out.stdout.strip(), "--json"]))
    assert json.loads(shown.stdout)["content"] == "via env"


# tales -------------------------------------------------------------------------------


def test_tales_save_show_versions_list(cli: Invoke) -> None:
    assert "v1" in ok(cli("tales", "save", "journey", "--content", "It began.", "--tag", "epic")).stdout
    assert (
        "v2" in ok(cli("tales", "save", "journey", "--content", "It went on.", "--category", "saga")).stdout
    )
    latest = json.loads(ok(cli("tales", "show", "journey", "--json")).stdout)
    assert (latest["version"], latest["content"], latest["category"]) == (2, "It went on.", "saga")
    assert "It began." in ok(cli("tales", "show", "journey", "--version", "1")).stdout
    assert [t["version"] for t in json.loads(ok(cli("tales", "versions", "journey", "--json")).stdout)] == [
        1,
        2,
    ]
    assert [t["name"] for t in json.loads(ok(cli("tales", "list", "--json")).stdout)] == ["journey"]
    assert "journey" in ok(cli("tales", "list")).stdout


def test_tales_save_from_file_and_stdin(cli: Invoke, tmp_path: Path) -> None:
    source = tmp_path / "tale.txt"
    source.write_text("Written in a file.", encoding="utf-8")
    ok(cli("tales", "save", "filed", "--file", str(source)))
    assert json.loads(ok(cli("tales", "show", "filed", "--json")).stdout)["content"] == "Written in a file."
    ok(cli("tales", "save", "piped", input="Read from stdin."))
    assert json.loads(ok(cli("tales", "show", "piped", "--json")).stdout)["content"] == "Read from stdin."


def test_tales_delete_restore_and_purge(cli: Invoke) -> None:
    ok(cli("tales", "save", "fleeting", "--content", "Soon gone."))
    ok(cli("tales", "delete", "fleeting"))
    assert json.loads(ok(cli("tales", "list", "--json")).stdout) == []
    assert [t["name"] for t in json.loads(ok(cli("tales", "list", "--deleted", "--json")).stdout)] == [
        "fleeting"
    ]
    ok(cli("tales", "restore", "fleeting"))
    assert json.loads(ok(cli("tales", "show", "fleeting", "--json")).stdout)["content"] == "Soon gone."
    ok(cli("tales", "delete", "fleeting", "--purge"))
    assert_one_line_error(cli("tales", "show", "fleeting"), "fleeting")


def test_tales_are_per_namespace(cli: Invoke) -> None:
    ok(cli("tales", "save", "private", "--content", "Mine.", "-n", "me"))
    assert json.loads(ok(cli("tales", "list", "--json")).stdout) == []
    assert len(json.loads(ok(cli("--namespace", "me", "tales", "list", "--json")).stdout)) == 1


def test_tale_name_that_looks_like_a_path_is_refused(cli: Invoke) -> None:
    assert_one_line_error(cli("tales", "save", "../../etc/passwd", "--content", "x"), "path")


def test_tale_delete_of_a_missing_tale_is_an_error(cli: Invoke) -> None:
    assert_one_line_error(cli("tales", "delete", "ghost"), "ghost")


# export, import, reembed -------------------------------------------------------------


def test_export_then_import_into_another_embedder_keeps_every_field(
    cli: Invoke, app: typer.Typer, tmp_path: Path
) -> None:
    a = remember(
        cli, "Exported memory about owls", "--type", "technical", "--tag", "birds", "--metadata", '{"k": 1}'
    )
    b = remember(cli, "Archived memory about bats", "-n", "night")
    ok(cli("update", b, "--status", "archived", "-n", "night"))
    dump = tmp_path / "dump.jsonl"
    assert "exported 2" in ok(cli("export", str(dump), "--all-namespaces", "--with-embeddings")).stdout
    records = [json.loads(line) for line in dump.read_text(encoding="utf-8").splitlines()]
    assert {r["id"] for r in records} == {a, b}
    assert all(len(r["embedding"]) == 384 and r["embedder"].startswith("hashing") for r in records)

    other = write_config(
        tmp_path / "other.yaml",
        store_config(tmp_path / "other", embedder={"backend": "hashing", "dimension": 64}),
    )
    result = ok(CliRunner().invoke(app, ["--config", str(other), "import", str(dump), "--json"]))
    assert json.loads(result.stdout)["imported"] == 2
    runner = CliRunner()
    owls = json.loads(ok(runner.invoke(app, ["--config", str(other), "recall", "owls", "--json"])).stdout)
    assert owls[0]["memory"]["tags"] == ["birds"]
    assert owls[0]["memory"]["metadata"] == {"k": 1}
    assert owls[0]["memory"]["memory_type"] == "technical"
    assert "semantic" in owls[0]["sources"]  # re-embedded by the new store's embedder
    bats = runner.invoke(
        app, ["--config", str(other), "recall", "bats", "-n", "night", "--archived", "--json"]
    )
    assert json.loads(ok(bats).stdout)[0]["memory"]["status"] == "archived"


def test_export_one_namespace_to_stdout(cli: Invoke) -> None:
    remember(cli, "in default")
    remember(cli, "in other", "-n", "other")
    lines = ok(cli("export", "-")).stdout.strip().splitlines()
    assert [json.loads(line)["content"] for line in lines] == ["in default"]


def test_import_into_a_given_namespace(cli: Invoke, tmp_path: Path) -> None:
    dump = tmp_path / "in.jsonl"
    dump.write_text(
        '{"content": "imported one"}\n\n{"content": "imported two", "tags": ["t"]}\n', encoding="utf-8"
    )
    ok(cli("import", str(dump), "--namespace", "target"))
    assert len(json.loads(ok(cli("recall", "imported", "-n", "target", "--json")).stdout)) == 2


def test_import_of_a_bad_line_names_it_and_writes_nothing(cli: Invoke, tmp_path: Path) -> None:
    dump = tmp_path / "bad.jsonl"
    dump.write_text('{"content": "fine"}\n{"content": \n', encoding="utf-8")
    assert_one_line_error(cli("import", str(dump)), "line 2")
    assert json.loads(ok(cli("status", "--json")).stdout)["total_memories"] == 0


def test_reembed_after_an_embedder_change(app: typer.Typer, tmp_path: Path) -> None:
    runner = CliRunner()
    first = write_config(
        tmp_path / "a.yaml", store_config(tmp_path / "s", embedder={"backend": "hashing", "dimension": 64})
    )
    ok(runner.invoke(app, ["--config", str(first), "remember", "Embedded twice"]))
    second = write_config(
        tmp_path / "b.yaml", store_config(tmp_path / "s", embedder={"backend": "hashing", "dimension": 128})
    )
    status = json.loads(ok(runner.invoke(app, ["--config", str(second), "status", "--json"])).stdout)
    assert any("reembed" in w for w in status["warnings"])
    assert json.loads(ok(runner.invoke(app, ["--config", str(second), "reembed", "--json"])).stdout) == {
        "reembedded": 1
    }
    status = json.loads(ok(runner.invoke(app, ["--config", str(second), "status", "--json"])).stdout)
    assert not any("reembed" in w for w in status["warnings"])


# plugin commands and the error policy ------------------------------------------------


class CommandPlugin:
    """A real plugin adding commands through the ``memmimic_register_commands`` hook."""

    @hookimpl
    def memmimic_register_commands(self, app: typer.Typer) -> None:
        @app.command("hello")
        def hello(name: str = "world") -> None:
            """Say hello."""
            print(f"hello {name}")

        @app.command("crash")
        def crash() -> None:
            """Fail unexpectedly."""
            raise RuntimeError("boom")

        @app.command("interrupt")
        def interrupt() -> None:
            """Act as if Ctrl-C was pressed."""
            raise KeyboardInterrupt

        @app.command("refuse")
        def refuse() -> None:
            """Fail on purpose."""
            from memmimic_core.errors import InvalidInputError

            raise InvalidInputError("refused\non purpose")


@pytest.fixture
def plugin_app() -> typer.Typer:
    return build_app(plugins=[CommandPlugin()])


def test_plugins_add_commands(plugin_app: typer.Typer) -> None:
    runner = CliRunner()
    assert "hello" in ok(runner.invoke(plugin_app, ["--help"])).stdout
    assert ok(runner.invoke(plugin_app, ["hello", "--name", "memmimic"])).stdout.strip() == "hello memmimic"


def test_plugin_command_errors_follow_the_policy(plugin_app: typer.Typer) -> None:
    assert_one_line_error(CliRunner().invoke(plugin_app, ["refuse"]), "refused on purpose")


def test_unexpected_exception_is_one_internal_error_line_exit_3(plugin_app: typer.Typer) -> None:
    result = CliRunner().invoke(plugin_app, ["crash"])
    assert result.exit_code == 3
    assert (
        result.stderr.strip()
        == "internal error: RuntimeError: boom (run with MEMMIMIC_DEBUG=1 for the traceback)"
    )


def test_memmimic_debug_reraises(plugin_app: typer.Typer) -> None:
    result = CliRunner().invoke(plugin_app, ["crash"], env={"MEMMIMIC_DEBUG": "1"})
    assert isinstance(result.exception, RuntimeError)


def test_keyboard_interrupt_exits_130_quietly(plugin_app: typer.Typer) -> None:
    result = CliRunner().invoke(plugin_app, ["interrupt"])
    assert result.exit_code == 130
    assert result.stderr.strip() == ""
