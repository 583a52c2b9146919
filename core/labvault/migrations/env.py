"""Alembic environment: runs against the engine labvault would use for DATABASE_URL."""

from __future__ import annotations

from typing import Any

from alembic import context

from labvault.db import create_engine
from labvault.items.models import is_search_object
from labvault.models import metadata


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
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
