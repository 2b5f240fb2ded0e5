"""``memmimic tales …``: named, versioned narratives kept in the database."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import output
from .state import ConfigOption, JsonOption, NamespaceOption, state_of

__all__ = ["register", "tales_app"]

tales_app = typer.Typer(
    name="tales",
    help="Save, show, list and delete tales (versioned narratives).",
    no_args_is_help=True,
    add_completion=False,
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The tale's name.")]


@tales_app.command("list")
def list_tales(
    ctx: typer.Context,
    category: Annotated[str | None, typer.Option("--category", help="Only tales of this category.")] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Only tales whose name or content match.")
    ] = None,
    deleted: Annotated[bool, typer.Option("--deleted", help="Include soft-deleted tales.")] = False,
    namespace: NamespaceOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the latest version of each tale."""
    state = state_of(ctx, config)
    tales = state.store().tales.list(
        category=category, query=query, include_deleted=deleted, namespace=state.ns(namespace)
    )
    if as_json:
        output.print_json([tale.to_dict() for tale in tales])
    else:
        output.print_tales(tales)


@tales_app.command("show")
def show(
    ctx: typer.Context,
    name: NameArgument,
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="A given version (default: latest).")
    ] = None,
    namespace: NamespaceOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a tale (its latest version unless --version)."""
    state = state_of(ctx, config)
    tale = state.store().tales.load(name, version=version, namespace=state.ns(namespace))
    if as_json:
        output.print_json(tale.to_dict())
    else:
        output.print_tale(tale)


@tales_app.command("save")
def save(
    ctx: typer.Context,
    name: NameArgument,
    content: Annotated[str | None, typer.Option("--content", "-c", help="The tale's text.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the text from this file ('-': standard input).")
    ] = None,
    category: Annotated[str, typer.Option("--category", help="A category for the tale.")] = "general",
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", metavar="TAG", help="A tag (repeat for several).")
    ] = None,
    namespace: NamespaceOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Save a tale from --content, --file or standard input; saving again adds a version."""
    text = _read_content(content, file)
    state = state_of(ctx, config)
    tale = state.store().tales.save(
        name, text, category=category, tags=tag or None, namespace=state.ns(namespace)
    )
    if as_json:
        output.print_json(tale.to_dict())
    else:
        print(f"saved {tale.name} v{tale.version}")


def _read_content(content: str | None, file: Path | None) -> str:
    if content is not None and file is not None:
        raise typer.BadParameter("give --content or --file, not both", param_hint="--content")
    if content is not None:
        return content
    if file is not None and str(file) != "-":
        try:
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {str(file)!r}: {exc}", param_hint="--file") from None
    if file is None and sys.stdin.isatty():
        raise typer.BadParameter(
            "give the text with --content, --file, or on standard input", param_hint="--content"
        )
    return sys.stdin.read()


@tales_app.command("delete")
def delete(
    ctx: typer.Context,
    name: NameArgument,
    purge: Annotated[
        bool, typer.Option("--purge", help="Delete every version for good (not restorable).")
    ] = False,
    namespace: NamespaceOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a tale (restorable with `tales restore` unless --purge)."""
    state = state_of(ctx, config)
    ns = state.ns(namespace)
    found = state.store().tales.delete(name, purge=purge, namespace=ns)
    if not found:
        from ..errors import NotFoundError

        raise NotFoundError(f"no tale {name!r} in namespace {ns or state.store().config.namespace!r}")
    if as_json:
        output.print_json({"name": name, "deleted": True, "purged": purge})
    else:
        print(f"{'purged' if purge else 'deleted'} {name}")


@tales_app.command("restore")
def restore(
    ctx: typer.Context,
    name: NameArgument,
    namespace: NamespaceOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Undo the soft delete of a tale."""
    state = state_of(ctx, config)
    tale = state.store().tales.restore(name, namespace=state.ns(namespace))
    if as_json:
        output.print_json(tale.to_dict())
    else:
        print(f"restored {tale.name} v{tale.version}")


@tales_app.command("versions")
def versions(
    ctx: typer.Context,
    name: NameArgument,
    namespace: NamespaceOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List every version of a tale, oldest first."""
    state = state_of(ctx, config)
    tales = state.store().tales.versions(name, namespace=state.ns(namespace))
    if as_json:
        output.print_json([tale.to_dict() for tale in tales])
    else:
        output.print_tales(tales, versions=True)


def register(app: typer.Typer) -> None:
    """Add ``tales`` to ``app``."""
    app.add_typer(tales_app, rich_help_panel="Memories")
