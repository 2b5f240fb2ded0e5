"""How the CLI prints: rich tables for people, plain JSON for scripts, one red line for errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from rich.progress import Progress

    from ..models import HistoryEntry, Hit, Memory, Tale

__all__ = [
    "error",
    "format_score",
    "print_history",
    "print_hits",
    "print_json",
    "print_mapping",
    "print_memory",
    "print_tale",
    "print_tales",
    "progress_bar",
    "snippet",
    "stderr_console",
    "stdout_console",
]

SOURCES = ("keyword", "semantic", "expansion")
WIDE = 110  # terminal columns from which recall prints one table row per hit


def stdout_console() -> Console:
    """A console on the current ``sys.stdout`` (so test runners that swap it see the output)."""
    return Console(highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    """A console on the current ``sys.stderr`` (errors, warnings and progress bars)."""
    return Console(stderr=True, highlight=False)


def error(message: str) -> None:
    """Print ``error: message`` in red on stderr, on one line whatever the terminal width."""
    text = " ".join(str(message).split())  # a multi-line message still gives one line
    stderr_console().print(f"[red]error:[/red] {escape(text)}", soft_wrap=True)


def warn(message: str) -> None:
    """Print ``warning: message`` in yellow on stderr, on one line."""
    stderr_console().print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (never wrapped, never colored)."""
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def snippet(text: str, width: int = 80) -> str:
    """One line of ``text``, shortened to ``width`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def format_score(value: float | None) -> str:
    """A score with 4 decimals (tiny ones in scientific notation), or ``-`` when absent."""
    if value is None:
        return "-"
    return f"{value:.2e}" if 0 < abs(value) < 0.0001 else f"{value:.4f}"


def _table(title: str | None = None) -> Table:
    return Table(title=title, show_lines=False, header_style="bold", expand=False)


def _source_cell(hit: Hit, name: str) -> str:
    src = hit.sources.get(name)
    return "-" if src is None else f"{format_score(src.score)} #{src.rank}"


def print_hits(hits: Sequence[Hit], *, explain: bool = False) -> None:
    """Print recall hits: rank, id, final score, per-source score and rank, a content snippet.

    A table on wide terminals; two lines per hit on narrow ones.
    """
    console = stdout_console()
    if not hits:
        console.print("no memories matched")
        return
    if console.width >= WIDE:
        table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
        table.add_column("#", justify="right")
        table.add_column("id", no_wrap=True)
        table.add_column("score", justify="right")
        for name in SOURCES:
            table.add_column(name, justify="right", no_wrap=True)
        table.add_column("content", no_wrap=True, overflow="ellipsis", ratio=1)
        for rank, hit in enumerate(hits, 1):
            cells = [_source_cell(hit, name) for name in SOURCES]
            table.add_row(
                str(rank), hit.id, format_score(hit.score), *cells, escape(snippet(hit.memory.content, 500))
            )
        console.print(table)
    else:
        for rank, hit in enumerate(hits, 1):
            sources = "  ".join(f"{name} {_source_cell(hit, name)}" for name in SOURCES)
            console.print(
                f"[bold]{rank:>2}[/bold] {hit.id}  score {format_score(hit.score)}  {sources}", soft_wrap=True
            )
            console.print(
                f"   {escape(snippet(hit.memory.content, max(20, console.width - 4)))}", soft_wrap=True
            )
    if explain:
        for rank, hit in enumerate(hits, 1):
            console.print(f"\n[bold]#{rank}[/bold] {hit.id}")
            if hit.explanation is not None:
                for line in hit.explanation.lines():
                    console.print(escape(line), soft_wrap=True)
            else:  # a hit recalled without explain=True: what it carries anyway
                console.print(f"final score {hit.score:.4f}")
                for name, src in hit.sources.items():
                    console.print(
                        f"  {name:<10} score {format_score(src.score)}  normalized "
                        f"{format_score(src.normalized)}  rank {src.rank}"
                    )
                terms = ", ".join(hit.matched_terms) if hit.matched_terms else "-"
                console.print(f"  matched terms: {escape(terms)}", soft_wrap=True)
            missing = [name for name in SOURCES if name not in hit.sources]
            if missing:
                console.print(f"  not found by: {', '.join(missing)}")


def print_memory(memory: Memory) -> None:
    """Print every field of one memory."""
    data = memory.to_dict()
    content = data.pop("content")
    print_mapping(data)
    stdout_console().print()
    print(content)


def print_mapping(data: Mapping[str, Any], title: str | None = None) -> None:
    """Print a flat key/value table (nested values as compact JSON)."""
    table = _table(title)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("value")
    for key, value in data.items():
        table.add_row(escape(str(key)), escape(format_value(value)))
    stdout_console().print(table)


def format_value(value: Any) -> str:
    """A value for a table cell: mappings as ``key: value`` lines, lists comma-separated."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        if not value:
            return "-"
        return "\n".join(f"{k}: {_compact(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_compact(v) for v in value) or "-"
    return _compact(value)


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value, ensure_ascii=False, default=str)


def print_history(entries: Sequence[HistoryEntry]) -> None:
    """Print the recorded changes of a memory, oldest first."""
    console = stdout_console()
    if not entries:
        console.print("no recorded changes")
        return
    table = _table()
    for column in ("version", "changed at", "reason", "field", "before", "after"):
        table.add_column(column)
    for entry in entries:
        fields = sorted(set(entry.before) | set(entry.after)) or ["-"]
        for i, name in enumerate(fields):
            head = (str(entry.version), entry.changed_at.isoformat(timespec="seconds"), entry.reason or "-")
            table.add_row(
                *(head if i == 0 else ("", "", "")),
                escape(name),
                escape(_short(entry.before.get(name))),
                escape(_short(entry.after.get(name))),
            )
    console.print(table)


def _short(value: Any) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return snippet(text, 60)


def print_tale(tale: Tale) -> None:
    """Print a tale's header line and its content."""
    deleted = (
        f"  [red](deleted {tale.deleted_at.isoformat(timespec='seconds')})[/red]" if tale.deleted_at else ""
    )
    tags = f"  tags: {', '.join(tale.tags)}" if tale.tags else ""
    stdout_console().print(
        f"[bold]{escape(tale.name)}[/bold]  v{tale.version}  {escape(tale.category)}{escape(tags)}{deleted}",
        soft_wrap=True,
    )
    print(tale.content)


def print_tales(tales: Iterable[Tale], *, versions: bool = False) -> None:
    """Print tales (or the versions of one tale) as a table."""
    rows = list(tales)
    console = stdout_console()
    if not rows:
        console.print("no tales")
        return
    table = _table()
    for column in ("name", "version", "category", "tags", "updated at", "content"):
        table.add_column(column)
    for tale in rows:
        name = tale.name + (" (deleted)" if tale.deleted_at and not versions else "")
        table.add_row(
            escape(name),
            str(tale.version),
            escape(tale.category),
            escape(", ".join(tale.tags)),
            tale.updated_at.strftime("%Y-%m-%d %H:%M"),
            escape(snippet(tale.content, 40)),
        )
    console.print(table)


def progress_bar() -> Progress:
    """A progress bar on stderr (stdout stays clean for ``--json``)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=False,
    )
