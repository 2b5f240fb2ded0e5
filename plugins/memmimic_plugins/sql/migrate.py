"""Run the Alembic migrations programmatically, on a connection the storage already holds."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

__all__ = ["SCRIPT_LOCATION", "alembic_config", "current_revision", "head_revision", "upgrade"]

SCRIPT_LOCATION = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None, schema: str | None = None) -> Config:
    """Return an Alembic config built in code: the scripts live inside this package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    """Return the newest migration's revision id."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations package has no revision"
    return head


def current_revision(connection: Connection, schema: str | None = None) -> str | None:
    """Return the revision the database is at (``None`` when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    opts = {"version_table_schema": schema} if schema else {}
    return MigrationContext.configure(connection, opts=opts).get_current_revision()


def upgrade(connection: Connection, schema: str | None = None) -> None:
    """Upgrade the database to the newest revision inside the caller's transaction."""
    from alembic import command

    command.upgrade(alembic_config(connection, schema), "head")
