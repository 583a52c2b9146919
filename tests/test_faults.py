"""Faults of the database and the disk: bounded waits, clear answers, nothing lost.

- a statement that runs too long is stopped after DATABASE_TIMEOUT on every database;
- a private MariaDB server (never the shared one) killed, or frozen with SIGSTOP: each
  request answers 503 JSON with Retry-After within 15 s, /health/ready says so, and the
  server recovers once the database does, without a restart; a private PostgreSQL frozen
  likewise (psycopg's waits are bounded by the client: the server never answers);
- a full disk under FILE_DIRECTORY: an upload answers 507 and leaves nothing behind; a
  CLI command writing to a full disk says so in one line.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.app import create_app
from labvault.db import WRITE_OPTION, create_engine, fault_of
from labvault.errors import DatabaseUnavailable, StorageFull
from labvault.migrations import create_schema
from labvault.testing import TEST_SECRET_KEY

from tests.faults import PrivateMariaDB, PrivatePostgreSQL, SmallDisk
from tests.records import create_item

#: The issue's bound on the answer to a request while the database is down or hung.
ANSWER_WITHIN = 15.0


# --- statements -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "mariadb", "postgresql"])
def test_a_statement_is_stopped_after_the_timeout(kind, make_database, tmp_path):
    url = make_database(kind)
    engine = create_engine(url, timeout=1)
    holder = None
    if kind == "sqlite":  # another connection holds the write lock
        holder = create_engine(url).connect().execution_options(**{WRITE_OPTION: True})
        holder.begin()
        holder.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    started = time.monotonic()
    try:
        with pytest.raises(sa.exc.DBAPIError) as raised:
            if kind == "sqlite":  # a writer waits for the write lock at most that long
                with engine.connect().execution_options(**{WRITE_OPTION: True}) as connection:
                    connection.begin()
            else:
                sleep = "SELECT SLEEP(5)" if kind == "mariadb" else "SELECT pg_sleep(5)"
                with engine.connect() as connection:
                    connection.exec_driver_sql(sleep).all()
        waited = time.monotonic() - started
    finally:
        if holder is not None:
            holder.close()
        engine.dispose()
    assert 0.8 < waited < 4, waited
    assert isinstance(fault_of(raised.value), DatabaseUnavailable)


# --- a private MariaDB, killed and frozen -------------------------------------------------


@pytest.fixture
def private_mariadb(tmp_path):
    server = PrivateMariaDB(tmp_path / "mariadb")
    server.folder.mkdir()
    server.install()
    yield server
    server.stop()


def app_with_an_item(url: str, tmp_path: Any, make_user: Any, settings: dict[str, Any]) -> Any:
    """An app on the database at ``url`` (default DATABASE_TIMEOUT, unless ``settings``
    sets one), a user and an item."""
    app = create_app(
        {
            "IDENTIFIER_PREFIX": "test",
            "SECRET_KEY": TEST_SECRET_KEY,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": url,
            **settings,
        }
    )
    app.config["TESTING"] = True
    create_schema(app.extensions["labvault"].database.engine)
    user = make_user(app)
    item = create_item(app.test_client(), user, name="kept sample")
    return app, user, item


@pytest.fixture
def down_app(request, private_mariadb, tmp_path, labvault_make_user):
    """An app on the private MariaDB (settings from the test's parameter), a user and
    an item."""
    app, user, item = app_with_an_item(
        private_mariadb.url, tmp_path, labvault_make_user, getattr(request, "param", {})
    )
    yield app, user, item
    app.extensions["labvault"].database.dispose()


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def assert_unavailable(answer: Any, waited: float) -> None:
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.headers["Retry-After"] == str(DatabaseUnavailable.RETRY_AFTER)
    assert answer.json["message"] == "the database is unavailable; try again shortly"
    assert waited < ANSWER_WITHIN, waited


def test_a_killed_database_answers_503_at_once_and_the_server_recovers(
    down_app, private_mariadb, caplog
):
    app, user, item = down_app
    client = app.test_client()
    path = f"/items/{item['refcode']}"
    private_mariadb.kill()

    for call in (
        lambda: client.get(path, headers=user.headers),
        lambda: client.get("/items", headers=user.headers),
        lambda: client.post("/items", json={"type": "sample"}, headers=user.headers),
    ):
        answer, waited = timed(call)
        assert_unavailable(answer, waited)
        assert waited < 6  # refused at once: no timeout to wait for
    ready, waited = timed(lambda: client.get("/health/ready"))
    assert ready.status_code == 503 and waited < ANSWER_WITHIN
    assert ready.json == {"status": "unavailable", "checks": {"database": "unreachable"}}
    assert ready.headers["Retry-After"] == str(DatabaseUnavailable.RETRY_AFTER)
    assert "unhandled error" not in caplog.text  # said, not a traceback

    private_mariadb.start()  # the same data: nothing acknowledged was lost
    answer = client.get(path, headers=user.headers)
    assert answer.status_code == 200 and answer.json["name"] == "kept sample"
    assert client.get("/health/ready").status_code == 200
    assert client.post("/items", json={"type": "sample"}, headers=user.headers).status_code == 201


# the default timeout is shown above; a shorter one keeps this test quick
@pytest.mark.parametrize("down_app", [{"DATABASE_TIMEOUT": 2}], indirect=True)
def test_a_request_in_flight_when_the_database_freezes_answers_within_15_s(
    down_app, private_mariadb
):
    app, user, item = down_app
    client = app.test_client()
    answers: list[Any] = []

    def edit() -> None:
        etag = client.get(f"/items/{item['refcode']}", headers=user.headers).headers["ETag"]
        private_mariadb.freeze()  # between two statements of one request's work
        answers.append(
            timed(
                lambda: client.patch(
                    f"/items/{item['refcode']}",
                    json={"name": "changed"},
                    headers={**user.headers, "If-Match": etag},
                )
            )
        )

    worker = threading.Thread(target=edit)
    worker.start()
    worker.join(timeout=60)
    private_mariadb.thaw()
    assert not worker.is_alive()
    (answer, waited) = answers[0]
    assert_unavailable(answer, waited)
    stored = client.get(f"/items/{item['refcode']}", headers=user.headers)
    assert stored.json["name"] == "kept sample"  # not acknowledged, not written


# --- a private server frozen (either database) ---------------------------------------


@pytest.fixture
def private_postgresql():
    server = PrivatePostgreSQL()
    try:
        server.install()
        yield server
    finally:
        server.stop()


def within(seconds: float, call: Any) -> tuple[Any, float]:
    """``call()`` in a thread: what it returned (or raised), and how long it took. Fails
    when it is still waiting after ``seconds``, rather than hang the test run (the
    caller's cleanup thaws the server, which lets the thread end)."""
    outcome: list[Any] = []

    def run() -> None:
        started = time.monotonic()
        try:
            result = call()
        except Exception as exc:
            result = exc
        outcome.append((result, time.monotonic() - started))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=seconds)
    if not outcome:
        pytest.fail(f"still waiting for a frozen database after {seconds} s: the wait is unbounded")
    return outcome[0]


@pytest.mark.parametrize("kind", ["mariadb", "postgresql"])
def test_a_frozen_database_answers_503_within_15_s_and_the_server_recovers(
    kind, request, tmp_path, labvault_make_user
):
    server = request.getfixturevalue(f"private_{kind}")
    app, user, item = app_with_an_item(server.url, tmp_path, labvault_make_user, {})
    client = app.test_client()
    path = f"/items/{item['refcode']}"
    server.freeze()
    try:
        answer, waited = within(2 * ANSWER_WITHIN, lambda: client.get(path, headers=user.headers))
        assert_unavailable(answer, waited)
        ready, waited = within(2 * ANSWER_WITHIN, lambda: client.get("/health/ready"))
        assert ready.status_code == 503 and waited < ANSWER_WITHIN, waited
        assert ready.json == {"status": "unavailable", "checks": {"database": "unreachable"}}
    finally:
        server.thaw()
    answer = client.get(path, headers=user.headers)  # the same server, thawed, not restarted
    assert answer.status_code == 200 and answer.json["name"] == "kept sample"
    assert client.get("/health/ready").status_code == 200
    app.extensions["labvault"].database.dispose()


def test_a_read_from_a_frozen_postgresql_ends_after_the_timeout_and_the_pool_recovers(
    private_postgresql,
):
    engine = create_engine(private_postgresql.url, timeout=1)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar() == 1
            private_postgresql.freeze()  # between two statements, on a pooled connection
            try:
                raised, waited = within(30, lambda: connection.exec_driver_sql("SELECT 2").all())
            finally:
                private_postgresql.thaw()
            assert isinstance(raised, sa.exc.OperationalError), raised
            assert 1.8 < waited < 5, waited  # the statement's 1 s, and one more to answer
            assert "the database did not answer within 2 s" in str(raised)
            assert raised.connection_invalidated  # closed: the pool will not hand it out
            assert isinstance(fault_of(raised), DatabaseUnavailable)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT 3").scalar() == 3
    finally:
        engine.dispose()


# --- a full disk ---------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    disk = SmallDisk(tmp_path / "small", 4 * 1024 * 1024)
    yield disk
    disk.unmount()


def test_an_upload_to_a_full_disk_answers_507_and_leaves_nothing(
    labvault_make_app, labvault_make_user, small_disk
):
    app = labvault_make_app(FILE_DIRECTORY=str(small_disk.folder / "files"))
    user = labvault_make_user(app)
    client = app.test_client()
    item = create_item(client, user, name="sample with data")
    path = f"/items/{item['refcode']}/files"
    small_disk.fill(leave=64 * 1024)
    before = small_disk.files()

    answer = client.post(
        path,
        data={"file": (io.BytesIO(b"x" * 1024 * 1024), "big.raw")},
        headers=user.headers,
    )
    assert answer.status_code == 507, answer.get_data(as_text=True)
    assert answer.json["message"] == StorageFull().message
    assert small_disk.files() == before  # no temp file, no partial content
    assert client.get(path, headers=user.headers).json == []
    stored = client.get(f"/items/{item['refcode']}", headers=user.headers).json
    assert stored["version"] == item["version"]  # no version for what was not kept

    (small_disk.folder / ".filler").unlink()  # space again: the same upload lands
    answer = client.post(
        path,
        data={"file": (io.BytesIO(b"x" * 1024 * 1024), "big.raw")},
        headers=user.headers,
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)


def test_a_cli_command_writing_to_a_full_disk_says_so_in_one_line(tmp_path, small_disk):
    from tests.test_cli import make_site

    site = make_site(tmp_path / "site")
    site.ok("db", "upgrade")
    small_disk.fill(leave=0)
    archive = small_disk.folder / "backup.tar.gz"
    stderr = site.fail("backup", "create", "--output-path", str(archive))
    line = stderr.strip().splitlines()[-1]  # after the progress lines
    assert line.startswith(f"error: {StorageFull().message} ("), stderr
    assert not archive.exists() and small_disk.files() == []
