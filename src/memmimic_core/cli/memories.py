"""Memory commands: remember, recall, get, update, forget, history."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from . import output
from .state import ConfigOption, JsonOption, NamespaceOption, state_of

__all__ = ["register"]

TagOption = Annotated[
    list[str] | None,
    typer.Option("--tag", "-t", metavar="TAG", help="A tag (repeat for several).", show_default=False),
]
MetadataOption = Annotated[
    str | None,
    typer.Option(
        "--metadata", "-m", metavar="JSON", help='Metadata as a JSON object, e.g. \'{"source": "chat"}\'.'
    ),
]


def parse_metadata(raw: str | None) -> dict[str, Any] | None:
    """Parse ``--metadata`` JSON into a dict.

    :raises typer.BadParameter: not JSON, or not a JSON object.
    """
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(
            f"not valid JSON ({exc.msg} at column {exc.colno})", param_hint="--metadata"
        ) from None
    if not isinstance(value, dict):
        raise typer.BadParameter(
            f"must be a JSON object, got {type(value).__name__}", param_hint="--metadata"
        )
    return value


def read_text_argument(text: str) -> str:
    """Return ``text``, or standard input when it is ``-``."""
    return sys.stdin.read() if text == "-" else text


def remember(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="What to remember ('-' reads standard input).")],
    memory_type: Annotated[
        str | None,
        typer.Option("--type", help="Memory type (interaction, reflection, milestone, technical, …)."),
    ] = None,
    importance: Annotated[float | None, typer.Option("--importance", help="Importance, 0 to 1.")] = None,
    tag: TagOption = None,
    metadata: MetadataOption = None,
    namespace: NamespaceOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store a memory and print its id."""
    state = state_of(ctx, config)
    memory_id = state.store().remember(
        read_text_argument(text),
        memory_type=memory_type,
        importance=importance,
        tags=tag or None,
        metadata=parse_metadata(metadata),
        namespace=state.ns(namespace),
    )
    if as_json:
        output.print_json({"id": memory_id})
    else:
        print(memory_id)


def recall(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for (words or a question).")],
    limit: Annotated[int, typer.Option("--limit", "-l", help="How many hits at most.")] = 10,
    memory_type: Annotated[str | None, typer.Option("--type", help="Only memories of this type.")] = None,
    cxd: Annotated[
        str | None,
        typer.Option(
            "--cxd", metavar="FUNCTION", help="Only memories of this CXD function: CONTROL, CONTEXT or DATA."
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", metavar="TAG", help="Only memories with this tag (repeat: all of them)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="ISO", help="Created at or after (ISO 8601).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", metavar="ISO", help="Created before (ISO 8601).")
    ] = None,
    archived: Annotated[bool, typer.Option("--archived", help="Only archived memories.")] = False,
    any_status: Annotated[bool, typer.Option("--any-status", help="Active and archived memories.")] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help=(
                "Show how each score was made (per-source share, bonus, neighbour lift) and "
                "the query and expanded terms that matched; with --json, an 'explanation' per hit."
            ),
        ),
    ] = False,
    namespace: NamespaceOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of hits.")] = False,
) -> None:
    """Find the memories that best match QUERY, with per-source scores and ranks."""
    if archived and any_status:
        raise typer.BadParameter("give --archived or --any-status, not both", param_hint="--archived")
    status = "archived" if archived else None if any_status else "active"
    state = state_of(ctx, config)
    hits = state.store().recall(
        query,
        limit,
        namespace=state.ns(namespace),
        memory_type=memory_type,
        cxd_function=cxd.upper() if cxd else None,
        tags=tag or None,
        since=since,
        until=until,
        status=status,
        explain=explain,
    )
    if as_json:
        output.print_json([hit.to_dict() for hit in hits])
    else:
        output.print_hits(hits, explain=explain)


def get(
    ctx: typer.Context,
    memory_id: Annotated[str, typer.Argument(metavar="ID", help="The memory's id.")],
    namespace: NamespaceOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one memory."""
    state = state_of(ctx, config)
    memory = state.store().get(memory_id, namespace=state.ns(namespace))
    if as_json:
        output.print_json(memory.to_dict())
    else:
        output.print_memory(memory)


def update(
    ctx: typer.Context,
    memory_id: Annotated[str, typer.Argument(metavar="ID", help="The memory's id.")],
    content: Annotated[
        str | None, typer.Option("--content", help="New content ('-' reads standard input).")
    ] = None,
    memory_type: Annotated[str | None, typer.Option("--type", help="New memory type.")] = None,
    importance: Annotated[float | None, typer.Option("--importance", help="New importance, 0 to 1.")] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", metavar="TAG", help="Replace the tags (repeat for several)."),
    ] = None,
    metadata: Annotated[
        str | None,
        typer.Option("--metadata", "-m", metavar="JSON", help="Replace the metadata (JSON object)."),
    ] = None,
    status: Annotated[str | None, typer.Option("--status", help="active or archived.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the history).")] = None,
    namespace: NamespaceOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a memory; the old values stay in its history."""
    state = state_of(ctx, config)
    memory = state.store().update(
        memory_id,
        content=read_text_argument(content) if content is not None else None,
        memory_type=memory_type,
        importance=importance,
        tags=tag or None,
        metadata=parse_metadata(metadata),
        status=status,
        reason=reason,
        namespace=state.ns(namespace),
    )
    if as_json:
        output.print_json(memory.to_dict())
    else:
        print(f"updated {memory.id}")


def forget(
    ctx: typer.Context,
    memory_id: Annotated[str, typer.Argument(metavar="ID", help="The memory's id.")],
    namespace: NamespaceOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a memory for good."""
    state = state_of(ctx, config)
    state.store().forget(memory_id, namespace=state.ns(namespace))
    if as_json:
        output.print_json({"id": memory_id, "forgotten": True})
    else:
        print(f"forgot {memory_id}")


def history(
    ctx: typer.Context,
    memory_id: Annotated[str, typer.Argument(metavar="ID", help="The memory's id.")],
    namespace: NamespaceOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the recorded changes of a memory, oldest first."""
    state = state_of(ctx, config)
    entries = state.store().history(memory_id, namespace=state.ns(namespace))
    if as_json:
        output.print_json([entry.to_dict() for entry in entries])
    else:
        output.print_history(entries)


def register(app: typer.Typer) -> None:
    """Add the memory commands to ``app``."""
    panel = "Memories"
    for command in (remember, recall, get, update, forget, history):
        app.command(rich_help_panel=panel)(command)
