"""Alembic environment: runs against the engine labvault would use for DATABASE_URL."""

from __future__ import annotations

from alembic import context

from labvault.db import create_engine
from labvault.models import metadata

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
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
