"""``memmimic export`` / ``memmimic import``: memories as JSON lines."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from . import output
from .state import ConfigOption, JsonOption, NamespaceOption, state_of

__all__ = ["read_records", "register"]

IMPORTED_FIELDS = ("content", "memory_type", "importance", "metadata", "tags")


def export(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE.jsonl", help="Where to write ('-': standard output).")
    ],
    with_embeddings: Annotated[
        bool, typer.Option("--with-embeddings", help="Include each vector (with its embedder fingerprint).")
    ] = False,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", help="Export every namespace.")] = False,
    namespace: NamespaceOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write the memories of a namespace (or all) as JSON lines, one memory per line."""
    from .. import validation

    state = state_of(ctx, config)
    store = state.store()
    ns = None if all_namespaces else validation.check_namespace(state.ns(namespace) or store.config.namespace)
    batches = store.storage.iter_memories(ns, with_embedding=with_embeddings)
    if str(file) == "-":
        count = _write(sys.stdout, batches, with_embeddings, None)
    else:
        tmp = file.with_name(f".{file.name}.tmp")
        try:
            with tmp.open("w", encoding="utf-8") as out, output.progress_bar() as bar:
                task = bar.add_task("exporting", total=store.storage.count(ns))
                count = _write(out, batches, with_embeddings, lambda n: bar.update(task, advance=n))
                bar.update(task, total=count, completed=count)
            os.replace(tmp, file)  # a reader never sees half a file
        except OSError as exc:
            from ..errors import InvalidInputError

            tmp.unlink(missing_ok=True)
            raise InvalidInputError(f"cannot write {str(file)!r}: {exc.strerror or exc}") from None
    if as_json:
        output.print_json({"exported": count, "file": str(file)})
    elif str(file) != "-":
        print(f"exported {count} memories to {file}")


def _write(out: IO[str], batches: Iterator[list[Any]], with_embeddings: bool, advance: Any) -> int:
    count = 0
    for batch in batches:
        for memory in batch:
            out.write(json.dumps(memory.to_dict(with_embedding=with_embeddings), ensure_ascii=False) + "\n")
        count += len(batch)
        if advance is not None:
            advance(len(batch))
    return count


def read_records(lines: Iterator[str], source: str) -> list[dict[str, Any]]:
    """Parse exported JSON lines into records, naming the line of any problem.

    :raises InvalidInputError: a line is not JSON, not an object, or has no ``content``.
    """
    from ..errors import InvalidInputError

    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{source} line {number}: invalid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or "content" not in record:
            raise InvalidInputError(f"{source} line {number}: expected a JSON object with 'content'")
        records.append(record)
    return records


def import_(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE.jsonl", help="A file from `memmimic export` ('-': stdin).")
    ],
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            metavar="NAME",
            help="Import everything into this namespace (default: each record's own).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store the memories of an export; all or nothing, re-embedded by this store's embedder.

    Content, type, importance, metadata, tags and archived status are kept; ids and
    timestamps are new.
    """
    state = state_of(ctx, config)
    source = "<stdin>" if str(file) == "-" else str(file)
    if str(file) == "-":
        records = read_records(iter(sys.stdin), source)
    else:
        from ..errors import InvalidInputError

        try:
            with file.open(encoding="utf-8") as handle:
                records = read_records(iter(handle), source)
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"cannot read {source!r}: {exc}") from None
    target = state.ns(namespace)
    items = []
    for record in records:
        item = {key: record[key] for key in IMPORTED_FIELDS if record.get(key) is not None}
        ns = target if target is not None else record.get("namespace")
        if ns is not None:
            item["namespace"] = ns
        items.append(item)
    store = state.store()
    with output.progress_bar() as bar:
        task = bar.add_task("importing", total=len(items))
        ids = store.remember_many(
            items, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
        bar.update(task, completed=len(ids))
    for record, item, new_id in zip(records, items, ids, strict=True):
        if record.get("status") == "archived":
            store.update(
                new_id, status="archived", reason="imported as archived", namespace=item.get("namespace")
            )
    if as_json:
        output.print_json({"imported": len(ids), "ids": ids})
    else:
        print(f"imported {len(ids)} memories from {source}")


def register(app: typer.Typer) -> None:
    """Add ``export`` and ``import`` to ``app``."""
    app.command("export", rich_help_panel="Store")(export)
    app.command("import", rich_help_panel="Store")(import_)
