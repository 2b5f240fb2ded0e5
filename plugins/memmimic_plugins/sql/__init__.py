"""SQLAlchemy storage backends (SQLite, PostgreSQL) sharing one schema and one set of migrations."""
