"""``memmimic bench quality``: score recall configurations on LoCoMo-format conversations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from . import output

__all__ = ["bench_app", "register"]

bench_app = typer.Typer(
    name="bench",
    help="Built-in benchmarks.",
    no_args_is_help=True,
    add_completion=False,
)


def _expander_names() -> list[str]:
    from ..plugins import build_plugin_manager, collect_backends

    return list(collect_backends(build_plugin_manager())["expander"].names)


def _yaml_config(path: Path) -> dict[str, Any]:
    import yaml

    from ..errors import InvalidInputError

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInputError(f"cannot read config {str(path)!r}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"config {str(path)!r} must be a YAML mapping")
    data.pop("data_dir", None)  # each configuration gets its own temporary store
    return data


@bench_app.command("quality")
def quality(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="LoCoMo-format JSON (e.g. locomo10.json).", dir_okay=False)
    ],
    configs: Annotated[
        list[Path] | None,
        typer.Option(
            "--config",
            metavar="YAML",
            help="A configuration to score (repeatable; named after the file).",
            dir_okay=False,
        ),
    ] = None,
    presets: Annotated[
        list[str] | None,
        typer.Option("--preset", metavar="NAME", help="A built-in preset to score (repeatable)."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json-out", metavar="FILE", help="Write the full report as JSON.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", metavar="FILE.png", help="Write a recall@10 bar chart.")
    ] = None,
    limit_conversations: Annotated[
        int | None,
        typer.Option("--limit-conversations", metavar="N", min=1, help="Use only the first N conversations."),
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option("--work-dir", metavar="DIR", help="Where the temporary stores go.", file_okay=False),
    ] = None,
    keep_stores: Annotated[
        Path | None,
        typer.Option(
            "--keep-stores",
            metavar="DIR",
            help="Keep the ingested stores in DIR and reuse them on the next run.",
            file_okay=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Store each conversation's turns as memories, recall every question, score the rankings.

    With neither --config nor --preset, every built-in preset runs (expansion only when a
    `wordnet` expander is installed). Presets: keyword, keyword-stopwords, semantic, expansion,
    weighted, rrf, default, proposed, proposed+wordnet.
    """
    from ..bench.locomo import load_locomo
    from ..bench.presets import PRESETS, Preset
    from ..bench.quality import run_quality
    from ..bench.report import markdown_tables, write_json, write_plot
    from ..errors import InvalidInputError

    chosen: list[Preset] = []
    for name in presets or []:
        if name not in PRESETS:
            raise InvalidInputError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
        chosen.append(PRESETS[name])
    for path in configs or []:
        chosen.append(Preset(path.stem, f"config file {path}", _yaml_config(path)))
    if not chosen:
        has_wordnet = "wordnet" in _expander_names()
        chosen = [p for p in PRESETS.values() if has_wordnet or "wordnet" not in json.dumps(p.config)]
        if not has_wordnet:
            output.stderr_console().print(
                "note: no `wordnet` expander installed; skipping the presets that use it"
            )
    dataset = load_locomo(file, limit_conversations)
    console = output.stderr_console()
    report = run_quality(
        dataset,
        chosen,
        dataset_name=str(file),
        work_dir=work_dir,
        keep_stores=keep_stores,
        progress=None if quiet else (lambda msg: console.print(msg, markup=False, highlight=False)),
    )
    notes = report.evidence_notes
    print(
        f"{report.conversations} conversations, {report.turns} turns, {report.questions} questions; "
        f"evidence: {len(notes['split'])} strings split, {len(notes['rewritten'])} ids rewritten, "
        f"{len(notes['dropped'])} dropped\n"
    )
    print(markdown_tables(report))
    if json_out is not None:
        write_json(report, json_out)
    if plot is not None:
        write_plot(report, plot)


def register(app: typer.Typer) -> None:
    """Add the ``bench`` command group to the ``memmimic`` application."""
    app.add_typer(bench_app, name="bench")
