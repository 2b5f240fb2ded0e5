"""What the root options decide, and the store every command opens lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ..config import MemMimicConfig
    from ..engine import MemMimic

__all__ = ["CliState", "ConfigOption", "JsonOption", "NamespaceOption", "state_of"]

CONFIG_HELP = "YAML config file (default: --config before the command, or MEMMIMIC_CONFIG)."

NAMESPACE_HELP = (
    "Namespace to read and write (default: --namespace before the command, MEMMIMIC_NAMESPACE, "
    "or the config's `namespace`)."
)

NamespaceOption = Annotated[
    str | None, typer.Option("--namespace", "-n", metavar="NAME", help=NAMESPACE_HELP, show_default=False)
]
"""The ``--namespace`` option every command that reads or writes memories accepts."""

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", metavar="FILE", help=CONFIG_HELP, show_default=False, dir_okay=False),
]
"""The ``--config`` option every command that opens the store accepts (no ``-c``: tales use it)."""

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
"""The ``--json`` switch."""


@dataclass
class CliState:
    """The root options (``--config``, ``--namespace``) and the store opened from them.

    The store is opened on first use, so ``--help``, ``config`` and ``plugins`` never touch
    storage, and closed by the root command once the subcommand is done.
    """

    config_path: Path | None = None
    namespace: str | None = None
    _store: MemMimic | None = field(default=None, repr=False)

    def config(self) -> MemMimicConfig:
        """The effective config (file or ``MEMMIMIC_CONFIG``, then environment overrides)."""
        from ..config import load_config

        return load_config(self.config_path)

    def store(self) -> MemMimic:
        """The MemMimic store, opened on first call."""
        if self._store is None:
            from ..engine import MemMimic

            self._store = MemMimic(self.config())
        return self._store

    def ns(self, namespace: str | None = None) -> str | None:
        """The namespace a command works in: its own option, else the root's, else the config's."""
        return namespace if namespace is not None else self.namespace

    def close(self) -> None:
        """Close the store if it was opened."""
        store, self._store = self._store, None
        if store is not None:
            store.close()


def state_of(ctx: typer.Context, config: Path | None = None) -> CliState:
    """The :class:`CliState` of the running command (a default one outside the root app).

    :param config: the command's own ``--config``; it wins over the root's and ``MEMMIMIC_CONFIG``.
    """
    obj = ctx.find_object(CliState)
    if obj is None:
        obj = CliState()
        ctx.find_root().obj = obj
    if config is not None:
        obj.config_path = config
    return obj
