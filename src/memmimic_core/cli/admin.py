"""Store and installation commands: status, metrics, plugins, reembed, config show / check."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import output
from .state import ConfigOption, JsonOption, state_of

if TYPE_CHECKING:
    from ..config import MemMimicConfig

__all__ = ["effective_config", "find_config_problems", "register"]

config_app = typer.Typer(
    name="config", help="Show or check the configuration.", no_args_is_help=True, add_completion=False
)


def status(ctx: typer.Context, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show counts per namespace, backends, index and embedder state, and warnings."""
    info = state_of(ctx, config).store().status()
    if as_json:
        output.print_json(info)
        return
    shown = {key: value for key, value in info.items() if key not in ("metrics", "warnings")}
    output.print_mapping(shown, title="MemMimic status")
    for warning in info.get("warnings") or []:
        output.warn(str(warning))


def metrics(
    ctx: typer.Context,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    prometheus: Annotated[bool, typer.Option("--prometheus", help="Print Prometheus text format.")] = False,
) -> None:
    """Show the metrics of this process's operations, caches, pools and indexes.

    A CLI run is one short process: its latencies are those of opening the store and this
    command. Long-running processes (the server) expose the interesting figures.
    """
    if as_json and prometheus:
        raise typer.BadParameter("give --json or --prometheus, not both", param_hint="--prometheus")
    store = state_of(ctx, config).store()
    if prometheus:
        print(store.prometheus(), end="")
        return
    snapshot = store.metrics_snapshot()
    if as_json:
        output.print_json(snapshot)
    else:
        print_nested(snapshot, "metrics")


def print_nested(data: Mapping[str, Any], title: str) -> None:
    """Print a mapping: scalars in one table, each mapping of mappings as its own table."""
    from rich.table import Table

    scalars: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and value and all(isinstance(v, Mapping) for v in value.values()):
            columns: list[str] = []
            for row in value.values():
                columns.extend(c for c in row if c not in columns)
            table = Table(title=f"{title}: {key}", header_style="bold")
            table.add_column("name")
            for column in columns:
                table.add_column(str(column), justify="right")
            for name, row in value.items():
                table.add_row(str(name), *(_cell(row.get(c)) for c in columns))
            output.stdout_console().print(table)
        else:
            scalars[key] = value
    if scalars:
        output.print_mapping(scalars, title=title)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def plugins(as_json: JsonOption = False) -> None:
    """List installed plugins: distribution, version, hooks and the backends each registers."""
    from ..plugins import build_plugin_manager, collect_backends, describe_plugins

    pm = build_plugin_manager()
    infos = [info.to_dict() for info in describe_plugins(pm, collect_backends(pm))]
    if as_json:
        output.print_json(infos)
        return
    from rich.table import Table

    table = Table(header_style="bold")
    for column in ("plugin", "distribution", "version", "backends", "hooks"):
        table.add_column(column, overflow="fold")
    for info in infos:
        backends = "\n".join(f"{kind}: {', '.join(names)}" for kind, names in info["backends"].items())
        hooks = "\n".join(h.removeprefix("memmimic_") for h in info["hooks"])
        table.add_row(
            info["name"], info["distribution"] or "-", info["version"] or "-", backends or "-", hooks
        )
    output.stdout_console().print(table)


def reembed(ctx: typer.Context, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Re-embed every memory whose vector is missing or was made by another embedder."""
    store = state_of(ctx, config).store()
    with output.progress_bar() as bar:
        task = bar.add_task("re-embedding", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        count = store.reembed(progress=progress)
        bar.update(task, completed=count, total=count)
    if as_json:
        output.print_json({"reembedded": count})
    else:
        print(f"re-embedded {count} memories")


@config_app.command("show")
def config_show(ctx: typer.Context, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Print the effective config, defaults (backend options too) filled in (YAML unless --json)."""
    data = effective_config(state_of(ctx, config).config())
    if as_json:
        output.print_json(data)
    else:
        import yaml

        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")


def effective_config(config: MemMimicConfig) -> dict[str, Any]:
    """The config as plain data, each backend section completed with its backend's option defaults."""
    from ..plugins import build_plugin_manager, collect_backends

    data = config.to_dict()
    backends = collect_backends(build_plugin_manager())
    for kind, section in config.sections().items():
        options = backends[kind].validate_options(section.backend, section.options, kind)
        data[kind] = {**data[kind], **options.model_dump(mode="json")}
    for i, section in enumerate(config.expanders):
        options = backends["expander"].validate_options(section.backend, section.options, f"expanders.{i}")
        data["expanders"][i] = {**data["expanders"][i], **options.model_dump(mode="json")}
    return data


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The YAML config file to check.")],
    as_json: JsonOption = False,
) -> None:
    """Validate FILE: YAML, keys, backend names and backend options; storage is not opened.

    Environment overrides are not applied: the file is checked on its own.
    """
    problems = find_config_problems(file)
    if as_json:
        output.print_json({"file": str(file), "ok": not problems, "errors": problems})
    elif not problems:
        print("OK")
    else:
        for problem in problems:
            output.error(problem)
    if problems:
        raise typer.Exit(1)


def find_config_problems(file: Path) -> list[str]:
    """Return what is wrong with the config file (empty when it is usable)."""
    from ..config import load_config
    from ..errors import MemMimicError
    from ..plugins import build_plugin_manager, collect_backends

    try:
        config = load_config(file, environ={})
    except MemMimicError as exc:
        return [str(exc)]
    backends = collect_backends(build_plugin_manager())
    checks: list[tuple[str, str, str, Mapping[str, Any]]] = [
        (kind, kind, section.backend, section.options) for kind, section in config.sections().items()
    ]
    checks += [
        ("expander", f"expanders.{i}", section.backend, section.options)
        for i, section in enumerate(config.expanders)
    ]
    problems = []
    for kind, key_path, name, options in checks:
        try:
            backends[kind].validate_options(name, options, key_path)
        except MemMimicError as exc:
            problems.append(str(exc))
    return problems


def register(app: typer.Typer) -> None:
    """Add the status, metrics, plugins, reembed and config commands to ``app``."""
    panel = "Store"
    app.command(rich_help_panel=panel)(status)
    app.command(rich_help_panel=panel)(metrics)
    app.command(rich_help_panel=panel)(reembed)
    app.command(rich_help_panel="Setup")(plugins)
    app.add_typer(config_app, rich_help_panel="Setup")
