"""The Alembic migrations produce exactly the schema the models declare, on every database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from labvault import migrations
from labvault.db import create_engine
from labvault.models import metadata

from tests.conftest import server_database


@pytest.fixture(params=["sqlite", "mariadb", "postgresql"])
def empty_database(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    database = server_database(request.param)
    try:
        yield database.url
    finally:
        database.drop()


def schema_differences(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def test_migrations_produce_exactly_the_models_schema(empty_database):
    migrations.upgrade(empty_database)
    assert schema_differences(empty_database) == []
    assert migrations.is_up_to_date(empty_database)


def test_upgrade_is_idempotent_and_downgrade_reverses_it(empty_database):
    migrations.upgrade(empty_database)
    migrations.upgrade(empty_database)
    from alembic import command

    command.downgrade(migrations.alembic_config(empty_database), "base")
    engine = create_engine(empty_database)
    try:
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    assert not migrations.is_up_to_date(empty_database)
    migrations.upgrade(empty_database)
    assert schema_differences(empty_database) == []


def test_a_model_change_without_migration_is_detected(empty_database):
    migrations.upgrade(empty_database)
    extra = sa.Table("not_migrated", metadata, sa.Column("id", sa.Integer, primary_key=True))
    try:
        differences = schema_differences(empty_database)
    finally:
        metadata.remove(extra)
    assert [d[0] for d in differences] == ["add_table"]


def test_mariadb_tables_are_utf8mb4(request):
    database = server_database("mariadb")
    try:
        migrations.upgrade(database.url)
        engine = create_engine(database.url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT table_name, table_collation FROM information_schema.tables "
                        "WHERE table_schema = :schema AND table_name != 'alembic_version'"
                    ),
                    {"schema": database.name},
                ).all()
                conn.execute(
                    sa.text(
                        "INSERT INTO users (email, display_name, role, status, created_at, "
                        "updated_at) VALUES ('z@example.org', 'Zoë 🧪 Ångström', 'user', 'active', "
                        "NOW(), NOW())"
                    )
                )
                name = conn.execute(sa.text("SELECT display_name FROM users")).scalar_one()
        finally:
            engine.dispose()
    finally:
        database.drop()
    assert rows and all(collation.startswith("utf8mb4") for _, collation in rows)
    assert name == "Zoë 🧪 Ångström"
