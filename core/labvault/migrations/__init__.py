"""Alembic migrations shipped with the package; run by `labvault db upgrade`."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from labvault.db import create_engine

HERE = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory(str(HERE)).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_up_to_date(database_url: str) -> bool:
    engine = create_engine(database_url)
    try:
        return current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def create_schema(engine: sa.Engine) -> None:
    """Make every table of the models at once and record the schema as the newest
    revision (for tests: the migrations make the very same schema, as their test checks)."""
    from labvault.models import metadata

    metadata.create_all(engine)
    with engine.begin() as connection:
        MigrationContext.configure(connection).stamp(ScriptDirectory(str(HERE)), "head")
