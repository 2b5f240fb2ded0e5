"""``memmimic bench-speed``: time named workloads on one configuration and write JSON.

    memmimic bench-speed --workload all --config benchmarks/matrix/sqlite-storage-numpy-hashing-tiered.yaml \\
        --memories 1000 --json-out benchmarks/results/raw/sqlite-storage-numpy-hashing-tiered-1000.json

The store is a fresh one in a temporary folder (a fresh schema on PostgreSQL, a fresh key prefix
on Redis), removed afterwards: the benchmark never touches your own memories.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import output

__all__ = ["bench_speed", "register"]


def bench_speed(
    ctx: typer.Context,
    workload: Annotated[
        str,
        typer.Option(
            "--workload",
            "-w",
            help="ingest, recall-cold, recall-keyword, recall-warm, recall-cached, get, remember, mixed "
            "or all.",
        ),
    ] = "all",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            metavar="YAML",
            help="The configuration to measure (default: the root --config, else the defaults).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    memories: Annotated[int, typer.Option("--memories", "-m", help="Store size.", min=1)] = 1000,
    repeats: Annotated[int, typer.Option("--repeats", "-r", help="Runs per figure (median).", min=1)] = 3,
    ingest_repeats: Annotated[
        int | None,
        typer.Option("--ingest-repeats", help="Ingest runs (default: --repeats).", min=1, show_default=False),
    ] = None,
    queries: Annotated[int, typer.Option("--queries", help="Recalls per run.", min=1)] = 30,
    gets: Annotated[int, typer.Option("--gets", help="Gets per run.", min=1)] = 200,
    batch: Annotated[int, typer.Option("--batch", help="Memories per remember_many call.", min=1)] = 500,
    clients: Annotated[
        str, typer.Option("--clients", help="Comma-separated client counts of the mixed workload.")
    ] = "1,4,10",
    duration: Annotated[
        float, typer.Option("--mixed-seconds", "--duration", help="Seconds per mixed run.", min=0.1)
    ] = 3.0,
    mode: Annotated[
        str,
        typer.Option(
            "--mode", help="Mixed clients: threads (one store) or processes (each opens the store)."
        ),
    ] = "threads",
    locomo: Annotated[
        Path | None,
        typer.Option(
            "--locomo",
            metavar="JSON",
            help="Use LoCoMo turns and questions as memories and queries (default: synthetic text).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Combination name (default: the config file's name).", show_default=False
        ),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json-out", "-o", metavar="FILE", help="Write the result here.", show_default=False),
    ] = None,
) -> None:
    """Time one configuration: ingest, recall cold / warm / cached, get, mixed read/write."""
    from ..bench.speed import SpeedSettings, run_speed, write_json
    from ..bench.speed_env import load_bench_config
    from ..errors import InvalidInputError

    if config is None and ctx.obj is not None:
        config = getattr(ctx.obj, "config_path", None)
    try:
        counts = tuple(int(x) for x in clients.split(",") if x.strip())
    except ValueError:
        raise InvalidInputError(f"--clients must be comma-separated integers, got {clients!r}") from None
    settings = SpeedSettings(
        workload=workload,
        config=load_bench_config(config),
        combination=name or (config.stem if config is not None else "default"),
        memories=memories,
        repeats=repeats,
        ingest_repeats=ingest_repeats,
        queries=queries,
        gets=gets,
        batch=batch,
        clients=counts,
        duration=duration,
        mode=mode,
        locomo=str(locomo) if locomo is not None else None,
    )
    settings.check()
    err = output.stderr_console()
    result = run_speed(settings, progress=lambda msg: err.print(f"[dim]{settings.combination}: {msg}[/dim]"))
    if json_out is not None:
        write_json(result, json_out)
        print(f"wrote {json_out}", file=sys.stderr)
    rows = []
    for key, fig in result["workloads"].items():
        if key == "mixed":
            for c, sub in fig["clients"].items():
                rows.append((f"mixed x{c}", sub))
        elif "skipped" not in fig:
            rows.append((key, fig))
    for label, fig in rows:
        extra = f"  cpu {fig['cpu_ms_per_op']:8.3f} ms/op" if "cpu_ms_per_op" in fig else ""
        extra += f"  errors {fig['errors']}" if "errors" in fig else ""
        print(
            f"{settings.combination} {label:<14} p50 {fig['p50_ms']:9.3f} ms  p95 {fig['p95_ms']:9.3f} ms  "
            f"{fig['ops_s']:10.1f} ops/s{extra}"
        )
        for error in fig.get("first_errors") or []:
            print(f"    error: {error}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    """Add ``bench-speed`` to ``app``."""
    app.command("bench-speed", rich_help_panel="Benchmarks")(bench_speed)
