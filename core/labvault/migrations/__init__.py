"""Alembic migrations shipped with the package; run by `labvault db upgrade`."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from labvault import search
from labvault.db import create_engine

HERE = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head", search_engine: str = "auto") -> str | None:
    """Apply the migrations up to ``revision``; at the head, also build the full-text
    search of the engine the database offers (``MARIADB_SEARCH_ENGINE``) and return its
    name."""
    command.upgrade(alembic_config(database_url), revision)
    if revision != "head":
        return None
    engine = create_engine(database_url)
    try:
        return search.ensure(engine, search_engine)
    finally:
        engine.dispose()


def remove_all(database_url: str) -> None:
    """Drop every table of labvault's (Mroonga's search objects first, which no
    migration made)."""
    engine = create_engine(database_url)
    try:
        search.drop_mroonga(engine)
    finally:
        engine.dispose()
    command.downgrade(alembic_config(database_url), "base")


def head_revision() -> str | None:
    return ScriptDirectory(str(HERE)).get_current_head()


def revisions() -> set[str]:
    """Every revision of the migrations."""
    return {script.revision for script in ScriptDirectory(str(HERE)).walk_revisions()}


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_up_to_date(database_url: str) -> bool:
    engine = create_engine(database_url)
    try:
        return current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def create_schema(engine: sa.Engine, search_engine: str = "auto") -> None:
    """Make every table of the models at once and record the schema as the newest
    revision (for tests: the migrations make the very same schema, as their test checks)."""
    from labvault.models import metadata

    metadata.create_all(engine)
    with engine.begin() as connection:
        MigrationContext.configure(connection).stamp(ScriptDirectory(str(HERE)), "head")
    search.ensure(engine, search_engine)
