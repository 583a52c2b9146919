"""The Alembic migrations produce exactly the schema the models declare, on every database."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from labvault import migrations
from labvault.auth.models import User
from labvault.blocks.models import Block
from labvault.db import create_engine
from labvault.errors import LabvaultError
from labvault.items.models import Item, ItemFieldValue
from labvault.models import metadata
from labvault.search import is_search_object
from labvault.search.service import apply_search
from sqlalchemy.orm import Session

from tests.conftest import check_mroonga, server_database


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
            # As in migrations/env.py: the full-text search objects (FTS5 and its shadow
            # tables, FULLTEXT and GIN indexes) are made by DDL outside the metadata, so the
            # comparison would list them as extra; test_search_objects checks them instead.
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, *_: not is_search_object(name),
                },
            )
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def test_migrations_produce_exactly_the_models_schema(empty_database):
    migrations.upgrade(empty_database)
    assert schema_differences(empty_database) == []
    assert migrations.is_up_to_date(empty_database)


def search_objects(url: str) -> set[tuple[str, ...]]:
    """The full-text search tables, triggers and indexes of a database, as it defines them."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            dialect = conn.dialect.name
            if dialect == "sqlite":
                rows = conn.execute(sa.text("SELECT type, name, sql FROM sqlite_master")).all()
                return {
                    (kind, name, " ".join((sql or "").split()))
                    for kind, name, sql in rows
                    if name.startswith(
                        "items_fts"
                    )  # with the triggers, which is_search_object skips
                }
            if dialect == "postgresql":
                rows = conn.execute(
                    sa.text(
                        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'items' "
                        "UNION SELECT column_name, generation_expression "
                        "FROM information_schema.columns WHERE table_name = 'items'"
                    )
                ).all()
            else:
                rows = conn.execute(
                    sa.text(
                        "SELECT index_name, index_type, seq_in_index, column_name "
                        "FROM information_schema.statistics "
                        "WHERE table_schema = DATABASE() AND table_name = 'items'"
                    )
                ).all()
            return {tuple(str(value) for value in row) for row in rows if is_search_object(row[0])}
    finally:
        engine.dispose()


EXPECTED_SEARCH_OBJECTS = {
    "sqlite": {
        "items_fts",
        "items_fts_data",
        "items_fts_idx",
        "items_fts_docsize",
        "items_fts_config",
        "items_fts_insert",
        "items_fts_update",
        "items_fts_delete",
    },
    "mysql": {"ft_items_search", "ft_items_search_title"},
    "postgresql": {"ft_items_search", "search_vector"},
}


def test_search_objects_are_those_the_models_make(empty_database, tmp_path):
    # InnoDB FULLTEXT on MariaDB: the objects of the models (Mroonga's are tested below)
    migrations.upgrade(empty_database, "head", "innodb")
    migrated = search_objects(empty_database)
    dialect = sa.make_url(empty_database).get_backend_name()
    names = {row[1] if dialect == "sqlite" else row[0] for row in migrated}
    assert names == EXPECTED_SEARCH_OBJECTS[dialect]

    # metadata.create_all (test apps) must make the same objects, by the same definitions
    if dialect == "sqlite":
        created_url = f"sqlite:///{tmp_path / 'created.db'}"
        other = None
    else:
        other = server_database("mariadb" if dialect == "mysql" else dialect)
        created_url = other.url
    try:
        engine = create_engine(created_url)
        try:
            metadata.create_all(engine)
        finally:
            engine.dispose()
        assert search_objects(created_url) == migrated
    finally:
        if other is not None:
            other.drop()


def test_upgrade_indexes_the_items_there_are(empty_database):
    migrations.upgrade(empty_database, "0002")
    engine = create_engine(empty_database)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO items (refcode, item_id, type, name, description, status, "
                    "fields, search_title, search_body, created_at, updated_at, version) "
                    "VALUES ('lab:AAAAAA', 'lab-AAAAAA', 'sample', 'Old sample', '', "
                    "'planned', '{}', 'Old sample lab-AAAAAA lab:AAAAAA', "
                    "'made before 0003 from CAS 64-17-5', "
                    "'2026-01-01 00:00:00', '2026-01-01 00:00:00', 1)"
                )
            )
    finally:
        engine.dispose()
    migrations.upgrade(empty_database)

    engine = create_engine(empty_database)
    try:
        with Session(engine) as session:
            for q in ("old sam", "before 0003", "lab:AAAAAA", "64-17-5", "lab-AAAAAA"):
                query, _rank = apply_search(session, sa.select(Item.refcode), q)
                assert session.scalars(query).all() == ["lab:AAAAAA"], q
            # 0004 wrote hyphenated words as one (so InnoDB indexes "64-17-5")
            texts = session.execute(sa.select(Item.search_title, Item.search_body)).one()
            assert texts == (
                "Old sample lab-AAAAAA lab:AAAAAA lab_AAAAAA",
                "made before 0003 from CAS 64-17-5 64_17_5",
            )
    finally:
        engine.dispose()


def test_upgrade_keeps_barcode_and_cas_of_the_starting_materials_there_are(empty_database):
    """0007 copied them into columns of items; 0016 moves them into item_field_values, the
    starting material's filterable fields, and drops the columns."""
    migrations.upgrade(empty_database, "0006")
    engine = create_engine(empty_database)
    insert = sa.text(
        "INSERT INTO items (refcode, item_id, type, name, description, status, fields, "
        "search_title, search_body, created_at, updated_at, version) VALUES (:refcode, "
        ":refcode, :type, 'x', '', 'available', :fields, '', '', '2026-01-01 00:00:00', "
        "'2026-01-01 00:00:00', 1)"
    )
    rows = [
        ("lab:AAAAAA", "starting_material", '{"barcode": "CH-1", "cas": "64-17-5"}'),
        ("lab:BBBBBB", "starting_material", '{"barcode": null}'),
        ("lab:CCCCCC", "sample", '{"chemical_formula": "NaCl"}'),
    ]
    try:
        with engine.begin() as conn:
            for refcode, kind, fields in rows:
                conn.execute(insert, {"refcode": refcode, "type": kind, "fields": fields})
    finally:
        engine.dispose()
    migrations.upgrade(empty_database)

    engine = create_engine(empty_database)
    try:
        with Session(engine) as session:
            found = session.execute(
                sa.select(Item.refcode, ItemFieldValue.name, ItemFieldValue.text_value)
                .join(ItemFieldValue, ItemFieldValue.item_id == Item.id)
                .order_by(Item.refcode, ItemFieldValue.name)
            ).all()
            columns = {c["name"] for c in sa.inspect(session.connection()).get_columns("items")}
    finally:
        engine.dispose()
    assert [tuple(row) for row in found] == [
        ("lab:AAAAAA", "barcode", "CH-1"),
        ("lab:AAAAAA", "cas", "64-17-5"),
    ]
    assert not {"barcode", "cas"} & columns


def test_upgrade_lets_item_ids_repeat_and_keeps_every_row(empty_database):
    """0010 drops items.item_id's unique constraint; on SQLite it makes the table anew,
    which must neither cascade to the rows that refer to items nor lose the search."""
    migrations.upgrade(empty_database, "0009")
    engine = create_engine(empty_database)
    try:
        with Session(engine) as session, session.begin():
            alice = User(email="alice@example.org", display_name="Alice")
            item = Item(
                refcode="lab:AAAAAA", item_id="S-12", type="sample", name="Old sample",
                status="planned", fields={}, search_title="Old sample S-12", search_body="",
            )  # fmt: skip
            item.creators = [alice]
            session.add_all([alice, item])
            session.flush()
            # the columns blocks had then (no type_version: 0013 adds it)
            block = {"item_id": item.id, "block_type": "comment", "data": {"text": "kept"}}
            session.execute(sa.insert(Block).values(block))
    finally:
        engine.dispose()

    migrations.upgrade(empty_database)

    engine = create_engine(empty_database)
    try:
        with Session(engine) as session, session.begin():
            old = session.scalars(sa.select(Item)).one()
            assert [creator.display_name for creator in old.creators] == ["Alice"]
            assert session.scalars(sa.select(Block.data)).all() == [{"text": "kept"}]
            # not known which type version computed it: computed again when next read
            assert session.scalars(sa.select(Block.type_version)).all() == [None]
            twin = Item(
                refcode="lab:BBBBBB", item_id="S-12", type="sample", name="Twin",
                status="planned", fields={}, search_title="Twin S-12", search_body="",
            )  # fmt: skip
            session.add(twin)
            session.flush()
            old.search_title = "Renamed sample S-12"
        with Session(engine) as session:
            for q, found in (("renamed", ["lab:AAAAAA"]), ("twin", ["lab:BBBBBB"])):
                query, _rank = apply_search(session, sa.select(Item.refcode), q)
                assert session.scalars(query).all() == found, q
            with pytest.raises(sa.exc.IntegrityError):  # foreign keys hold again
                session.execute(sa.insert(Block).values(item_id=999, block_type="comment"))
    finally:
        engine.dispose()


def insert_accounts(url: str, emails: list[str | None], identity_emails: list[str]) -> None:
    """Users (ids 1, 2, ...) and identities of user 1, as a release before 0011 stored them."""
    engine = create_engine(url)
    user = sa.text(
        "INSERT INTO users (id, email, display_name, role, status, created_at, updated_at) "
        "VALUES (:id, :email, 'x', 'user', 'active', '2026-01-01 00:00:00', "
        "'2026-01-01 00:00:00')"
    )
    identity = sa.text(
        "INSERT INTO identities (user_id, provider, subject, email, email_verified, "
        "display_name, first_sign_in_at, last_sign_in_at) VALUES (1, 'uni', :subject, "
        ":email, true, '', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
    )
    try:
        with engine.begin() as conn:
            for number, email in enumerate(emails, 1):
                conn.execute(user, {"id": number, "email": email})
            for number, email in enumerate(identity_emails):
                conn.execute(identity, {"subject": f"s{number}", "email": email})
    finally:
        engine.dispose()


def stored_addresses(url: str) -> tuple[list[str | None], list[str | None]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            users = conn.scalars(sa.text("SELECT email FROM users ORDER BY id")).all()
            identities = conn.scalars(sa.text("SELECT email FROM identities ORDER BY id")).all()
            return list(users), list(identities)
    finally:
        engine.dispose()


def test_upgrade_stores_the_addresses_there_are_in_their_normal_form(empty_database):
    migrations.upgrade(empty_database, "0010")
    # what str.lower() let through before: fullwidth letters, a sharp s
    insert_accounts(
        empty_database,
        ["\uff4b\uff41\uff54\uff45@example.org", "straße@lab.org", None],
        ["\uff2bATE@EXAMPLE.ORG", "not an address"],
    )
    migrations.upgrade(empty_database)

    assert stored_addresses(empty_database) == (
        ["kate@example.org", "strasse@lab.org", None],
        ["kate@example.org", "not an address"],
    )
    # compared exactly from now on, whatever the database's collation says
    engine = create_engine(empty_database)
    try:
        with engine.connect() as conn:
            for other in ("käte@example.org", "KATE@example.org", "kate@example.org "):
                found = conn.scalars(sa.text("SELECT id FROM users WHERE email = :e"), {"e": other})
                assert found.all() == [], other
    finally:
        engine.dispose()


def test_upgrade_refuses_two_accounts_whose_addresses_become_one(empty_database):
    migrations.upgrade(empty_database, "0010")
    # MATHEMATICAL BOLD SMALL K: two addresses before, one once normalized
    emails = ["\U0001d424ate@example.org", "bob@example.org", "kate@example.org"]
    insert_accounts(empty_database, emails, ["\U0001d424ate@example.org"])

    with pytest.raises(LabvaultError) as refused:
        migrations.upgrade(empty_database)

    assert str(refused.value) == (
        "users 1 and 3 have the same email address once normalized (kate@example.org): "
        "give one of them another address or none (UPDATE users SET email = NULL WHERE "
        "id = 3), then upgrade again"
    )
    assert stored_addresses(empty_database) == (emails, ["\U0001d424ate@example.org"])
    engine = create_engine(empty_database)
    try:
        assert migrations.current_revision(engine) == "0010"
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_downgrade_reverses_it(empty_database):
    migrations.upgrade(empty_database)
    migrations.upgrade(empty_database)

    migrations.remove_all(empty_database)  # Mroonga's objects, then every migration down
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


def mariadb_search_objects(url: str) -> dict[str, set[str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = connection.execute(
                sa.text(
                    "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'items_search%'"
                )
            )
            triggers = connection.execute(
                sa.text(
                    "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
                    "WHERE TRIGGER_SCHEMA = DATABASE()"
                )
            )
            found = {
                "tables": {f"{name} {engine}" for name, engine in tables},
                "triggers": {name for (name,) in triggers},
            }
        found["indexes"] = {row[0] for row in search_objects(url)}
        return found
    finally:
        engine.dispose()


def test_upgrade_builds_mroonga_where_mariadb_has_it_and_innodb_fulltext_back(request):
    database = server_database("mariadb")
    check_mroonga(database.url)
    mroonga = {
        "tables": {"items_search Mroonga", "items_search_pending InnoDB"},
        "triggers": {
            f"{table}_search_{when}"
            for table in ("items", "item_creators", "collection_items")
            for when in ("insert", "update", "delete")
            if when != "update" or table == "items"
        },
        "indexes": set(),  # InnoDB's FULLTEXT indexes would only slow writes
    }
    try:
        assert migrations.upgrade(database.url) == "mroonga"
        assert mariadb_search_objects(database.url) == mroonga
        assert migrations.upgrade(database.url) == "mroonga"  # again: nothing changes
        assert mariadb_search_objects(database.url) == mroonga
        assert schema_differences(database.url) == []

        assert migrations.upgrade(database.url, "head", "innodb") == "innodb"
        assert mariadb_search_objects(database.url) == {
            "tables": set(),
            "triggers": set(),
            "indexes": {"ft_items_search", "ft_items_search_title"},
        }
        assert migrations.upgrade(database.url, "head", "auto") == "mroonga"
        assert mariadb_search_objects(database.url) == mroonga
    finally:
        database.drop()


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


def installation_ids(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = sa.text("SELECT installation_id FROM installation")
            return [row[0] for row in connection.execute(query)]
    finally:
        engine.dispose()


def test_every_database_gets_an_installation_id_that_a_downgrade_removes(empty_database):
    migrations.upgrade(empty_database, "0013")
    migrations.upgrade(empty_database)
    (first,) = installation_ids(empty_database)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", first)

    migrations.upgrade(empty_database, "head")  # nothing to do: the id stays
    assert installation_ids(empty_database) == [first]
    migrations.remove_all(empty_database)  # what a restore over a database does
    engine = create_engine(empty_database)
    try:
        assert not {"installation", "backup_states"} & set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    migrations.upgrade(empty_database)
    (second,) = installation_ids(empty_database)
    assert second != first


def _sqlite_statistics(url: str) -> list[str] | None:
    """The indexes of items SQLite has statistics of (None: it has never analyzed)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            stat1 = "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
            if conn.exec_driver_sql(stat1).first():
                found = conn.exec_driver_sql("SELECT idx FROM sqlite_stat1 WHERE tbl = 'items'")
                return sorted(str(idx) for (idx,) in found)
            return None
    finally:
        engine.dispose()


def test_upgrade_analyzes_the_items_id_index_where_sqlite_has_statistics(tmp_path):
    """0020's index would be left alone by SQLite's planner without statistics while the
    other indexes have some; a database never analyzed is left to labvault, which
    analyzes it whole when it connects."""
    analyzed, never = (f"sqlite:///{tmp_path / name}" for name in ("analyzed.db", "never.db"))
    for url in (analyzed, never):
        migrations.upgrade(url, "0017")
    with contextlib.closing(sqlite3.connect(tmp_path / "analyzed.db")) as conn, conn:
        conn.execute(  # an item, then the statistics of its indexes
            "INSERT INTO items (refcode, item_id, type, name, description, status, fields, "
            "search_title, search_body, created_at, updated_at, version) VALUES ('lab:AAAAAA', "
            "'lab-AAAAAA', 'sample', 'Old', '', 'planned', '{}', '', '', "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00', 1)"
        )
        conn.execute("ANALYZE")
    before = _sqlite_statistics(analyzed)
    assert before and "ix_items_id_type_deleted_at" not in before

    for url in (analyzed, never):
        migrations.upgrade(url)

    assert _sqlite_statistics(analyzed) == sorted([*before, "ix_items_id_type_deleted_at"])
    assert _sqlite_statistics(never) is None
