"""SQLAlchemy storage backends (SQLite, PostgreSQL) sharing one schema and one set of migrations.

Layout:

- ``sqlite`` / ``postgresql``: the plugin modules; light classes with ``Options`` that build
  their store on construction (SQLAlchemy is imported then, not at start-up);
- ``facade``: forwards the Storage protocol to the store;
- ``connection``, ``base``, ``changelog``, ``embeddings``, ``tales``: the shared SQLAlchemy
  Core store (transactions and error mapping, memories, change sequence, vectors, tales);
- ``sqlite_store`` / ``postgres_store``: dialect parts (engine and pragmas or schema, locks,
  full-text search, metadata filters, stats and maintenance);
- ``schema``: the tables for queries; ``migrations``: the Alembic scripts that create them,
  run in code by ``migrate`` whenever a store is opened.
"""
