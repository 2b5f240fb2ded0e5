"""``memmimic migrate-store --from A.yaml --to B.yaml``: copy a whole store to another backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import output
from .state import JsonOption

if TYPE_CHECKING:
    from rich.progress import TaskID

__all__ = ["migrate_store", "register"]


def migrate_store(
    source: Annotated[
        Path,
        typer.Option("--from", metavar="A.yaml", dir_okay=False, help="Config of the store to copy from."),
    ],
    target: Annotated[
        Path,
        typer.Option(
            "--to", metavar="B.yaml", dir_okay=False, help="Config of the empty store to copy into."
        ),
    ],
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per transaction.")] = 1000,
    as_json: JsonOption = False,
) -> None:
    """Copy every memory (with embeddings and history) and every tale version from one store into
    another, empty one (SQLite → PostgreSQL or back), then verify counts and checksums.

    Only the storage sections of the two configs are used. Stop writers to the source first.
    """
    from ..errors import MemMimicError
    from ..migrate_store import migrate_store as run
    from ..migrate_store import open_storage

    src = open_storage(source)
    try:
        dst = open_storage(target)
        try:
            with output.progress_bar() as bar:
                tasks: dict[str, TaskID] = {}

                def progress(phase: str, done: int, total: int) -> None:
                    if phase not in tasks:
                        tasks[phase] = bar.add_task(phase, total=total)
                    bar.update(tasks[phase], completed=done)

                report = run(src, dst, batch_size=batch_size, progress=progress)
                for task in tasks.values():
                    bar.update(task, completed=bar.tasks[task].total)
        finally:
            dst.close()
    finally:
        src.close()
    if as_json:
        output.print_json(report.to_dict())
    else:
        copied = ", ".join(f"{n} {table}" for table, n in report.copied.items())
        print(f"copied {copied}")
        print(f"from {_where(report.source)} to {_where(report.target)}")
        for table in dict.fromkeys([*report.copied, *report.source_counts]):
            mark = (
                "ok"
                if (
                    report.source_counts.get(table) == report.target_counts.get(table)
                    and report.source_checksums.get(table) == report.target_checksums.get(table)
                )
                else "MISMATCH"
            )
            print(
                f"  {table:<15} {report.target_counts.get(table, 0):>9} rows  "
                f"sha256 {report.target_checksums.get(table, '-')[:16]}  {mark}"
            )
    if not report.verified:
        raise MemMimicError(
            "the copy does not match the source (see the counts and checksums above); "
            "was the source written to during the migration?"
        )


def _where(described: dict[str, object]) -> str:
    place = described.get("path") or described.get("url") or "?"
    schema = described.get("schema")
    return f"{described.get('backend')} {place}" + (f" (schema {schema})" if schema else "")


def register(app: typer.Typer) -> None:
    """Add ``migrate-store`` to ``app``."""
    app.command("migrate-store", rich_help_panel="Store")(migrate_store)
