"""Alembic environment: runs against the engine labvault would use for DATABASE_URL."""

from __future__ import annotations

from typing import Any

from alembic import context

from labvault.db import create_engine
from labvault.models import metadata
from labvault.search import is_search_object


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # The full-text search objects (SQLite's FTS5 table and its shadow tables, MariaDB's
    # FULLTEXT and PostgreSQL's GIN indexes) are made by DDL outside the metadata, which
    # cannot describe them; autogenerate would otherwise want to drop them.
    return not is_search_object(name)


config = context.config
url = config.attributes["database_url"]
engine = create_engine(url)
try:
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode makes a table anew, copies it and drops the old one; with foreign
            # keys on, that drop would first delete (and cascade to) every row referring
            # to it. The pragma takes effect only outside a transaction: before BEGIN.
            driver = connection.connection.dbapi_connection
            assert driver is not None  # checked out of the pool just now
            driver.cursor().execute("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:  # rolls the migrations back
                    raise RuntimeError(f"the migrations broke foreign keys: {broken[:10]}")
finally:
    engine.dispose()
