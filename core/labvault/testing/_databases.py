"""Databases for test apps beyond the SQLite default: new, empty databases on the test
machine's MariaDB and PostgreSQL servers, and the plan a database makes of a list."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

#: Where the database servers of tests are, as admin URLs (the database named is unused).
SERVER_URLS = {
    "mariadb": os.environ.get(
        "LABVAULT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
    "postgresql": os.environ.get(
        "LABVAULT_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
}


def _required() -> set[str]:
    names = os.environ.get("LABVAULT_TEST_DATABASES_REQUIRED", "").split(",")
    return {name.strip() for name in names if name.strip()}


def _unavailable(kind: str, reason: str) -> None:
    """Skip the test, or fail it where CI requires that server
    (``LABVAULT_TEST_DATABASES_REQUIRED``)."""
    if kind in _required():
        pytest.fail(f"{reason} (required by LABVAULT_TEST_DATABASES_REQUIRED)")
    pytest.skip(reason)


@pytest.fixture
def labvault_make_database(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Factory: ``labvault_make_database(kind)`` -> the URL of a new, empty database of
    ``kind`` (``sqlite``, ``mariadb``, ``postgresql``), dropped after the test.

    MariaDB and PostgreSQL are the servers at ``LABVAULT_TEST_MARIADB_URL`` and
    ``LABVAULT_TEST_POSTGRESQL_URL`` (default: 127.0.0.1, as root and postgres). A server
    that cannot be reached skips the test, unless ``LABVAULT_TEST_DATABASES_REQUIRED``
    (e.g. ``mariadb,postgresql``) names it: then the test fails, saying why. A plugin's
    tests run on several databases by overriding ``labvault_database_url``::

        @pytest.fixture(params=["sqlite", "mariadb", "postgresql"])
        def labvault_database_url(request, labvault_make_database):
            return labvault_make_database(request.param)
    """
    import sqlalchemy as sa

    made: list[tuple[sa.Engine, str]] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.db'}"
        if kind not in SERVER_URLS:
            raise ValueError(f"no such kind of database: {kind!r} (sqlite, mariadb, postgresql)")
        admin_url = sa.make_url(SERVER_URLS[kind])
        name = f"lv_{uuid.uuid4().hex[:12]}"
        try:
            admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                charset = " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                connection.exec_driver_sql(
                    f"CREATE DATABASE {name}{charset if kind == 'mariadb' else ''}"
                )
        except (ImportError, sa.exc.OperationalError) as exc:
            where = admin_url.render_as_string()
            _unavailable(kind, f"{kind} at {where} is not reachable: {exc}")
        made.append((admin, name))
        return admin_url.set(database=name).render_as_string(hide_password=False)

    yield make
    for admin, name in made:
        with admin.connect() as connection:
            force = " WITH (FORCE)" if admin.dialect.name == "postgresql" else ""
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        admin.dispose()


def list_plan(app: Any, user: Any, query_string: dict[str, Any]) -> str:
    """The database's plan of the statement that reads the page of ``GET /items`` with
    ``query_string`` as ``user`` (a :class:`TestUser`), as one text (``EXPLAIN QUERY
    PLAN`` on SQLite, ``EXPLAIN`` on MariaDB and PostgreSQL, PostgreSQL told not to prefer
    scanning a small table, the statistics of tables with rows gathered first), e.g. to
    check that a list reads an index::

        assert "ix_item_field_values_name_number_value_item_id" in list_plan(
            app, alice, {"type": "cycling_run", "field.c_rate": "0.5"}
        )
    """
    import sqlalchemy as sa

    sent: list[tuple[str, Any]] = []
    engine = app.extensions["labvault"].database.engine

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        response = app.test_client().get("/items", query_string=query_string, headers=user.headers)
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    assert response.status_code == 200, response.get_data(as_text=True)
    statement, parameters = next((s, p) for s, p in sent if "FROM items" in s and "LIMIT" in s)
    with engine.connect() as connection:
        dialect = engine.dialect.name
        if dialect == "sqlite":
            explain = f"EXPLAIN QUERY PLAN {statement}"
        else:
            if dialect == "postgresql":
                # the statistics autovacuum gathers on a server in use, of the tables that
                # hold rows: without them two indexes that start with the same column cost
                # the same, and either is read (an empty table's would say "no rows")
                for table in sa.inspect(connection).get_table_names():
                    if connection.exec_driver_sql(f'SELECT 1 FROM "{table}" LIMIT 1').first():
                        connection.exec_driver_sql(f'ANALYZE "{table}"')
                connection.exec_driver_sql("SET enable_seqscan = off")
            explain = f"EXPLAIN {statement}"
        rows = connection.exec_driver_sql(explain, parameters).all()
    return "\n".join(" ".join(str(value) for value in row) for row in rows)
