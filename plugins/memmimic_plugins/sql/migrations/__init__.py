"""Alembic migrations of the SQL storages (run in code by ``memmimic_plugins.sql.migrate``)."""
