"""Backups restore exactly: create, wipe, restore, and every row and file byte is equal.

On each database the same way (through a strategy's repository, restored into the wiped
schema), and across them (through an archive, into a database with no tables): SQLite to
MariaDB, MariaDB to PostgreSQL, PostgreSQL to SQLite. The restored server then answers
searches (each database's own full-text index is rebuilt from the rows) and takes new
records (PostgreSQL's id sequences follow the restored ids).
"""

from __future__ import annotations

import shutil
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.backups import restore, runs
from labvault.models import metadata
from labvault.search.sqlite import FTS5_AUTOMERGE
from labvault.web.session import get_session

from tests.backup_lab import (
    backups_of,
    database_state,
    make_app,
    populate,
    restore_into,
    store_state,
    wipe_rows,
)
from tests.records import create_item


def assert_restored_server_works(app: Any, make_user: Any) -> None:
    client = app.test_client()
    with app.app_context():
        admin_id = get_session().scalar(sa.text("SELECT id FROM users WHERE role = 'admin'"))
        token = app.extensions["labvault"].signer.issue(admin_id, uuid.uuid4().hex)
    headers = {"Authorization": f"Bearer {token}"}
    found = client.get("/items?q=coin", headers=headers)
    assert found.status_code == 200 and [i["item_id"] for i in found.json] == ["cell-1"]
    new = create_item(client, make_user(app, role="admin"), name="after the restore")
    assert new["refcode"].startswith("test:")


@pytest.mark.parametrize("kind", ["sqlite", "mariadb", "postgresql"])
def test_a_strategy_snapshot_restores_every_row_and_byte(
    kind, make_database, labvault_make_user, tmp_path
):
    url = make_database(kind)
    app = make_app(tmp_path / "site", url)
    populate(app, labvault_make_user)
    with app.app_context():
        report = runs.run_strategy(get_session(), backups_of(app), "nightly")
    engine = app.extensions["labvault"].database.engine
    rows, files = database_state(engine), store_state(tmp_path / "site" / "files")
    assert report["files"] == len(files) == 4 and sum(len(r) for r in rows.values()) > 30
    schema = sqlite_schema(engine) if kind == "sqlite" else None

    wipe_rows(engine)
    shutil.rmtree(tmp_path / "site" / "files")
    with app.app_context():
        repository = backups_of(app).strategy("nightly").repository()
    source = restore.RepositorySource(repository, report["snapshot"])
    restored = restore_into(app, source, tmp_path / "work")

    assert restored.rows == sum(len(r) for r in rows.values()) and restored.files == 4
    assert database_state(engine) == rows
    assert store_state(tmp_path / "site" / "files") == files
    if schema is not None:
        assert_sqlite_rebuilt_whole(engine, schema)
    assert_restored_server_works(app, labvault_make_user)


def sqlite_schema(engine: sa.Engine) -> set[tuple[str, str, str]]:
    with engine.connect() as connection:
        return set(connection.exec_driver_sql("SELECT type, name, sql FROM sqlite_master"))


def assert_sqlite_rebuilt_whole(engine: sa.Engine, schema: set[tuple[str, str, str]]) -> None:
    """A restore into SQLite drops the indexes and FTS5's insert trigger while it loads
    and makes them again; FTS5 rebuilds without automatic merges, which it then has again."""
    assert sqlite_schema(engine) == schema
    with engine.begin() as connection:
        # raises if the index is not exactly what the items' texts make
        connection.exec_driver_sql("INSERT INTO items_fts (items_fts) VALUES ('integrity-check')")
        automerge = "SELECT v FROM items_fts_config WHERE k = 'automerge'"
        assert connection.exec_driver_sql(automerge).scalar() == FTS5_AUTOMERGE


@pytest.mark.parametrize(
    ("origin", "destination"),
    [("sqlite", "mariadb"), ("mariadb", "postgresql"), ("postgresql", "sqlite")],
)
def test_an_archive_restores_onto_another_database(
    origin, destination, make_database, labvault_make_user, tmp_path
):
    app = make_app(tmp_path / "origin", make_database(origin))
    populate(app, labvault_make_user)
    with app.app_context():
        report = runs.create_archive(backups_of(app), tmp_path / "lab.tar.gz")
    rows = database_state(app.extensions["labvault"].database.engine)
    files = store_state(tmp_path / "origin" / "files")

    other = make_app(tmp_path / "destination", make_database(destination), tables=False)
    restored = restore_into(other, restore.ArchiveSource(tmp_path / "lab.tar.gz"), tmp_path / "w")

    assert restored.snapshot == report["snapshot"]
    assert database_state(other.extensions["labvault"].database.engine) == rows
    assert store_state(tmp_path / "destination" / "files") == files
    assert_restored_server_works(other, labvault_make_user)


#: A document's text as another writer may have stored it (no spaces, characters as they
#: are): SQLAlchemy's serializer would write '{"shelf": "B2", "note": "\u00e4 \u2713"}'.
STORED_TEXT = '{"shelf":"B2","note":"ä ✓","n":[1.50,null]}'


@pytest.mark.parametrize(
    ("origin", "destination"),
    [("sqlite", "mariadb"), ("mariadb", "postgresql"), ("postgresql", "sqlite")],
)
def test_a_json_document_restores_as_the_text_it_was_stored_as(
    origin, destination, make_database, labvault_make_user, tmp_path
):
    app = make_app(tmp_path / "origin", make_database(origin))
    item = create_item(app.test_client(), labvault_make_user(app), name="odd text")
    items = metadata.tables["items"]
    engine = app.extensions["labvault"].database.engine
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE items SET fields = :text WHERE refcode = :refcode"),
            {"text": STORED_TEXT, "refcode": item["refcode"]},
        )
    with app.app_context():
        runs.create_archive(backups_of(app), tmp_path / "lab.tar.gz")

    other = make_app(tmp_path / "destination", make_database(destination), tables=False)
    restore_into(other, restore.ArchiveSource(tmp_path / "lab.tar.gz"), tmp_path / "w")

    text = sa.select(sa.cast(items.c.fields, sa.Text)).where(items.c.refcode == item["refcode"])
    texts = []
    for database in (engine, other.extensions["labvault"].database.engine):
        with database.connect() as connection:
            texts.append(connection.execute(text).scalar())
    assert texts == [STORED_TEXT, STORED_TEXT]
