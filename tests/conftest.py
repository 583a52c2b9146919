"""The core's test setup: every app test runs on SQLite, MariaDB and PostgreSQL.

MariaDB and PostgreSQL are the servers of the test machine. A database server that is
absent skips its tests on a developer's machine; with
``LABVAULT_TEST_DATABASES_REQUIRED=mariadb,postgresql`` (set by CI) it fails them instead,
saying why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.app import create_app
from labvault.errors import ConfigError
from labvault.migrations import create_schema
from labvault.testing import TEST_SECRET_KEY

from tests import route_coverage
from tests.backup_lab import Site, populate
from tests.plugin_dists import app_settings, plugin_dists

SERVER_URLS = {
    "mariadb": os.environ.get(
        "LABVAULT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
    "postgresql": os.environ.get(
        "LABVAULT_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
}
REQUIRED = {
    name.strip()
    for name in os.environ.get("LABVAULT_TEST_DATABASES_REQUIRED", "").split(",")
    if name.strip()
}


class ServerDatabase:
    """A throwaway database on a database server, for one test session."""

    def __init__(self, kind: str) -> None:
        kind = kind.split("-")[0]  # "mariadb-innodb" is a database of the MariaDB server
        self.kind = kind
        self.admin_url = sa.make_url(SERVER_URLS[kind])
        self.name = f"lv_{uuid.uuid4().hex[:12]}"
        self.url = self.admin_url.set(database=self.name).render_as_string(hide_password=False)
        self._admin = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")

    def create(self) -> None:
        extra = (
            " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" if self.kind == "mariadb" else ""
        )
        with self._admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {self.name}{extra}"))

    def drop(self) -> None:
        with self._admin.connect() as conn:
            if self.kind == "postgresql":
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)"))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {self.name}"))
        self._admin.dispose()


def server_database(kind: str) -> ServerDatabase:
    """Create a database on the server or skip/fail (CI) with the reason."""
    database = ServerDatabase(kind)
    try:
        database.create()
    except sa.exc.OperationalError as exc:
        reason = f"{kind} at {database.admin_url.render_as_string()} is not reachable: {exc.orig}"
        if database.kind in REQUIRED:
            pytest.fail(f"{reason} (required by LABVAULT_TEST_DATABASES_REQUIRED)")
        pytest.skip(reason)
    return database


def check_mroonga(url: str, *, skip: bool = True) -> None:
    """Skip a test that needs Mroonga on a MariaDB server without it (unless ``skip`` is
    False: then the test runs with InnoDB FULLTEXT); CI requires it
    (``mroonga`` in LABVAULT_TEST_DATABASES_REQUIRED): there it fails, saying how to add it."""
    from labvault.search import mroonga_available

    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            present = mroonga_available(connection)
    finally:
        engine.dispose()
    if present:
        return
    reason = (
        "MariaDB has no Mroonga engine (apt-get install mariadb-plugin-mroonga, then "
        "INSTALL SONAME 'ha_mroonga')"
    )
    if "mroonga" in REQUIRED:
        pytest.fail(f"{reason}, required by LABVAULT_TEST_DATABASES_REQUIRED")
    if skip:
        pytest.skip(reason)


def server_url(kind: str, created: dict[str, ServerDatabase]) -> str:
    """The URL of this session's database on the ``kind`` server, made on first use."""
    if kind not in created:
        created[kind] = server_database(kind)
    return created[kind].url


@pytest.fixture(scope="session")
def _server_databases() -> Iterator[dict[str, ServerDatabase]]:
    created: dict[str, ServerDatabase] = {}
    yield created
    for database in created.values():
        database.drop()


class EmptiedDatabase:
    """A database of this test session whose tables are emptied before each test.

    The tables are made once; emptying them is one round trip (a DELETE per table) over
    a connection kept open, since opening one (a PostgreSQL backend, say) costs more
    than the DELETEs.
    """

    def __init__(self, url: str, search_engine: str = "auto") -> None:
        from labvault import search
        from labvault.db import normalize_url
        from labvault.models import metadata
        from labvault.search.ddl import PENDING_TABLE, SEARCH_TABLE

        self.url = url
        parsed = normalize_url(url)
        connect_args: dict[str, Any] = {}
        if parsed.get_backend_name() in ("mysql", "mariadb"):
            from pymysql.constants import CLIENT

            connect_args["client_flag"] = CLIENT.MULTI_STATEMENTS
        self.engine = sa.create_engine(
            parsed, connect_args=connect_args, poolclass=sa.pool.StaticPool
        )
        metadata.create_all(self.engine)
        tables = [table.name for table in reversed(metadata.sorted_tables)]
        if search.ensure(self.engine, search_engine) == "mroonga":
            tables += [SEARCH_TABLE, PENDING_TABLE]
        self._statements = "; ".join(f"DELETE FROM {table}" for table in tables)

    def empty(self) -> None:
        with self.engine.begin() as connection:
            cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            if self.engine.dialect.name == "sqlite":
                cursor.executescript(self._statements)
            else:
                cursor.execute(self._statements)
                while cursor.nextset():  # PyMySQL runs the next statement when asked for it
                    pass
            cursor.close()

    def dispose(self) -> None:
        self.engine.dispose()


@pytest.fixture(scope="session")
def _databases(
    tmp_path_factory: pytest.TempPathFactory, _server_databases: dict[str, ServerDatabase]
) -> Iterator[dict[str, EmptiedDatabase]]:
    opened: dict[str, EmptiedDatabase] = {}
    yield opened
    for database in opened.values():
        database.dispose()


def emptied_database_url(
    kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    server_databases: dict[str, ServerDatabase],
    databases: dict[str, EmptiedDatabase],
) -> str:
    """The URL of this session's database of ``kind`` (``sqlite``, ``mariadb`` (searched
    with Mroonga when the server has it), ``mariadb-innodb`` (InnoDB FULLTEXT) or
    ``postgresql``), emptied."""
    if kind not in databases:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'labvault.db'}"
        else:
            url = server_url(kind, server_databases)
        if kind == "mariadb":
            check_mroonga(url, skip=False)
        databases[kind] = EmptiedDatabase(url, "innodb" if kind == "mariadb-innodb" else "auto")
    databases[kind].empty()
    return databases[kind].url


@pytest.fixture(params=["sqlite", "mariadb", "postgresql"])
def labvault_database_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _server_databases: dict[str, ServerDatabase],
    _databases: dict[str, EmptiedDatabase],
) -> str:
    """Each app test runs once per database, which is emptied before it; each worker of
    the session has its own SQLite file and server databases."""
    return emptied_database_url(request.param, tmp_path_factory, _server_databases, _databases)


@pytest.fixture
def make_database(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Factory: ``make_database(kind)`` -> the URL of a new, empty database (no tables) of
    that kind (sqlite, mariadb, postgresql), dropped after the test."""
    made: list[ServerDatabase] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.db'}"
        database = server_database(kind)
        made.append(database)
        return database.url

    yield make
    for database in made:
        database.drop()


def server_settings(folder: Path, url: str) -> dict[str, Any]:
    """The least settings of an app on the database at ``url``, its instance in ``folder``."""
    return {
        "IDENTIFIER_PREFIX": "test",
        "SECRET_KEY": TEST_SECRET_KEY,
        "INSTANCE_PATH": str(folder),
        "DATABASE_URL": url,
    }


@pytest.fixture
def make_server_app(tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """Factory: ``make_server_app(url)`` -> an app on the database at ``url`` (from
    ``make_database``), its schema created; disposed after the test."""
    apps: list[Any] = []

    def make(url: str) -> Any:
        app = create_app(server_settings(tmp_path / f"site-{len(apps)}", url))
        app.config["TESTING"] = True
        apps.append(app)
        create_schema(app.extensions["labvault"].database.engine)
        return app

    yield make
    for app in apps:
        app.extensions["labvault"].database.dispose()


@pytest.fixture
def mroonga_app(make_database: Callable[[str], str], make_server_app: Callable[[str], Any]) -> Any:
    """An app on a new MariaDB database searched with Mroonga, its schema created."""
    url = make_database("mariadb")
    check_mroonga(url)
    return make_server_app(url)


@pytest.fixture(scope="session")
def _shared_apps() -> Iterator[dict[str, Any]]:
    apps: dict[str, Any] = {}
    yield apps
    for app in apps.values():
        app.extensions["labvault"].database.dispose()


@pytest.fixture
def shared_app(
    labvault_database_url: str,
    labvault_settings: dict[str, Any],
    _shared_apps: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    """The core-only app on this test's database, built once per worker and database: a
    new app costs tens of ms (its API documents are built on first use). The database is
    emptied before each test; the app's files stay in one folder for the session (tests that look at
    the file store make their own app with ``labvault_make_app``). Named apart from
    ``labvault_app`` of labvault's pytest plugin, a new app for each test, which this
    suite no longer overrides under the same name."""
    if labvault_database_url not in _shared_apps:
        instance = tmp_path_factory.mktemp("instance")
        app = create_app({**labvault_settings, "INSTANCE_PATH": str(instance)})
        app.config["TESTING"] = True
        _shared_apps[labvault_database_url] = app
    return _shared_apps[labvault_database_url]


@pytest.fixture
def shared_client(shared_app: Any) -> Any:
    """A test client of :func:`shared_app` (one browser)."""
    return shared_app.test_client()


def pytest_configure(config: pytest.Config) -> None:
    # every documented route must be called by some test: checked at the end of a full run
    config.pluginmanager.register(route_coverage, "labvault-route-coverage")


# --- plugin tests: apps built straight from settings, once (no database matrix) ----------


@pytest.fixture
def dists(tmp_path, monkeypatch):
    """Installs plugin distributions (real dist-info folders) for one test."""
    yield from plugin_dists(tmp_path, monkeypatch)


@pytest.fixture
def make_app(tmp_path):
    """Factory of apps on SQLite in tmp_path, for tests that need no database matrix."""
    apps = []

    def make(**settings):
        app = create_app(app_settings(tmp_path, **settings))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["labvault"].database.dispose()


@pytest.fixture
def startup_problems(tmp_path):
    """Build an app that must not start; return the problems its ConfigError lists."""

    def problems(**settings):
        with pytest.raises(ConfigError) as failure:
            create_app(app_settings(tmp_path, **settings))
        return failure.value.problems

    return problems


@pytest.fixture
def lab_site(tmp_path, make_database, labvault_make_user):
    """Factory: a deployment folder (tests.backup_lab.Site) on SQLite with a lab's records
    and ``files`` files, for `labvault backup` commands run as a deployer runs them."""

    def make(name: str = "lab", files: int = 4, file_size: int = 50_000) -> Site:
        site = Site(tmp_path / name, make_database("sqlite"))
        app = site.app()
        populate(app, labvault_make_user, files=files, file_size=file_size)
        app.extensions["labvault"].database.dispose()
        return site

    return make
