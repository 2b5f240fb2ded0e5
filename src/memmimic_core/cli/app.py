"""The ``memmimic`` application: root options, command modules, plugin commands, error policy.

Error policy: a :class:`~memmimic_core.errors.MemMimicError` prints one red ``error: …`` line
on stderr and exits 1; usage errors are typer's (exit 2); Ctrl-C exits 130 quietly; anything
else prints one ``internal error: …`` line and exits 3. ``MEMMIMIC_DEBUG=1`` re-raises any error
(MemMimicError included) with its traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from . import admin, bench, bench_speed, memories, migrate, output, server, tales, transfer
from .state import NAMESPACE_HELP, CliState

__all__ = ["EXIT_ERROR", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "MemMimicGroup", "build_app", "run"]

DEBUG_ENV = "MEMMIMIC_DEBUG"
EXIT_ERROR = 1
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


def debug_enabled() -> bool:
    """Whether ``MEMMIMIC_DEBUG`` asks for tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


class MemMimicGroup(TyperGroup):
    """The root group: closes the store after the command and applies the error policy.

    Errors are handled here rather than in each command so that commands added by plugins
    and sub-apps (``config``, ``tales``) follow the same policy.
    """

    def invoke(self, ctx: Any) -> Any:
        """Run the command, then close the store; turn errors into one line and an exit code."""
        from ..errors import MemMimicError

        try:
            try:
                result = super().invoke(ctx)
            except BaseException:
                _close_quietly(ctx.obj)  # the command's own error is the one to report
                raise
            if isinstance(ctx.obj, CliState):
                ctx.obj.close()
            return result
        except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own: usage errors, exits
            raise
        except MemMimicError as exc:
            if debug_enabled():
                raise
            output.error(str(exc) or type(exc).__name__)
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:  # `memmimic … | head`: typer quiets the closed pipe
            raise
        except Exception as exc:
            if debug_enabled():
                raise
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            output.stderr_console().print(
                f"[red]internal error:[/red] {_escape(detail)} (run with {DEBUG_ENV}=1 for the traceback)",
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_INTERNAL) from None


def _close_quietly(state: object) -> None:
    if isinstance(state, CliState):
        with contextlib.suppress(Exception):
            state.close()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(" ".join(text.split()))


ROOT_HELP = (
    "MemMimic: persistent, searchable memory for AI assistants.\n\n"
    "--config and --namespace go before the command (`memmimic -n work recall ...`); every command "
    "that reads or writes memories also takes them after its name (`memmimic recall ... -n work`)."
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        print(f"memmimic {__version__}")
        raise typer.Exit()


def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            envvar="MEMMIMIC_CONFIG",
            help="YAML config file.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            metavar="NAME",
            envvar="MEMMIMIC_NAMESPACE",
            help=NAMESPACE_HELP,
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Set the options every command shares (see ROOT_HELP)."""
    ctx.obj = CliState(config_path=config, namespace=namespace)


def build_app(*, plugins: Iterable[object] = (), plugin_commands: bool = True) -> typer.Typer:
    """Build the ``memmimic`` application.

    :param plugins: extra plugin objects whose ``memmimic_register_commands`` hook runs too.
    :param plugin_commands: call the installed plugins' ``memmimic_register_commands`` hook.
    """
    app = typer.Typer(
        name="memmimic",
        cls=MemMimicGroup,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback(help=ROOT_HELP)(root)
    memories.register(app)
    tales.register(app)
    transfer.register(app)
    migrate.register(app)
    admin.register(app)
    server.register(app)
    bench.register(app)
    bench_speed.register(app)
    if plugin_commands:
        from ..plugins import build_plugin_manager

        pm = build_plugin_manager(plugins=plugins)
        pm.hook.memmimic_register_commands(app=app)
    return app


def run(argv: list[str] | None = None) -> None:
    """Build the application and run it (the console script's entry point)."""
    from ..errors import MemMimicError

    try:
        app = build_app()
    except MemMimicError as exc:  # e.g. two plugins registering one name
        if debug_enabled():
            raise
        output.error(str(exc))
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # a broken plugin
        if debug_enabled():
            raise
        output.stderr_console().print(
            f"[red]internal error:[/red] {_escape(f'{type(exc).__name__}: {exc}')} "
            f"(run with {DEBUG_ENV}=1 for the traceback)",
            soft_wrap=True,
        )
        sys.exit(EXIT_INTERNAL)
    app(args=argv, prog_name="memmimic")
