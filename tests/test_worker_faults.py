"""Workers killed and servers stopped while requests are in flight: nothing acknowledged
is lost, nothing half-done is kept, and the server goes on.

`labvault serve --workers 2` (gunicorn) as a deployer runs it:
- SIGTERM to the server while uploads are in flight: each finishes (201) and is kept;
- SIGKILL of the workers in the middle of an upload: the item is as it was (no file, no
  version), and the next upload lands;
- SIGKILL of the workers in the middle of an edit that waits inside its transaction
  (MariaDB; the item's row held by another connection): the edit is not applied, its
  lock goes with its connection, and the next edit lands at once;
- SIGKILL of the workers in the middle of an inventory import (ChemInventory, 3,000
  rows): no item, version or import record of it, and the same import then lands whole;
- SIGKILL of the workers in the middle of a backup started through the API (it runs in
  the worker after the 202): no snapshot of it, its strategy is not shown running, and
  the next run takes the dead run's lock, lands whole and verifies.
"""

from __future__ import annotations

import http.client as httpclient
import json
import os
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from labvault.testing import wait_for_text, wait_until, within

from tests.test_cli import Server, Site, make_site, new_user_token
from tests.test_concurrency import http, multipart_file

#: The ``serve`` fixture: (site, server, token) of a site served with the given settings.
Serve = Callable[..., tuple[Site, Server, str]]


def worker_pids(server: Server) -> list[int]:
    """The gunicorn workers: the children of the `labvault serve` process."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    return [int(pid) for pid in children.read_text().split()]


def kill_workers(server: Server) -> None:
    """SIGKILL every gunicorn worker, then wait until gunicorn has reaped them all and
    started two new ones (the processes, as /proc lists the server's children)."""
    killed = set(worker_pids(server))
    for pid in killed:
        os.kill(pid, signal.SIGKILL)

    def replaced() -> bool:
        workers = set(worker_pids(server))
        return not workers & killed and len(workers) >= 2

    wait_until(replaced, 30, message=lambda: server.log()[-3000:])


def uploads_being_read(site: Site, count: int) -> list[Path]:
    """Until ``count`` uploads are being written into the file store's temp folder (the
    workers are reading their bodies: werkzeug streams a file part there)."""
    temp = Path(site.settings["INSTANCE_PATH"]) / "files" / "tmp"

    def being_read() -> list[Path]:
        found = [p for p in temp.glob("*") if p.is_file() and p.stat().st_size > 0]
        return found if len(found) >= count else []

    return wait_until(being_read, 30, message=f"{count} uploads not being read in {temp}")


def sqlite_write_lock_taken(site: Site) -> bool:
    """Whether a write transaction holds the site's SQLite database now: BEGIN IMMEDIATE
    of our own is refused at once (and ended at once when it is not)."""
    database = sqlite3.connect(site.settings["DATABASE_URL"].removeprefix("sqlite:///"), 0)
    try:
        database.execute("BEGIN IMMEDIATE")
        database.rollback()
        return False
    except sqlite3.OperationalError as error:
        assert "locked" in str(error), error
        return True
    finally:
        database.close()


class SlowUpload:
    """An upload whose body is sent in two halves, the second when told."""

    def __init__(self, server: Server, token: str, refcode: str, name: str, size: int) -> None:
        body, headers = multipart_file(name, os.urandom(size))
        self.first, self.rest = body[: len(body) // 2], body[len(body) // 2 :]
        self.connection = httpclient.HTTPConnection("127.0.0.1", server.port, timeout=60)
        self.connection.putrequest("POST", f"/items/{refcode}/files")
        self.connection.putheader("Authorization", f"Bearer {token}")
        self.connection.putheader("Content-Type", headers["Content-Type"])
        self.connection.putheader("Content-Length", str(len(body)))
        self.connection.endheaders()
        self.connection.send(self.first)

    def finish(self) -> tuple[int, Any]:
        self.connection.send(self.rest)
        response = self.connection.getresponse()
        raw = response.read()
        self.connection.close()
        return response.status, json.loads(raw) if raw else None


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Factory: an upgraded site with ``settings`` served by 2 workers, and the token of
    a user with ``role``; the server is killed after the test."""
    servers: list[Server] = []

    def start(role: str = "user", **settings: Any) -> tuple[Site, Server, str]:
        site = make_site(tmp_path / "site")
        site.settings.update(settings)
        site.write_config()
        site.ok("db", "upgrade")
        token = new_user_token(site, f"{role}@lab.org", role=role)
        servers.append(Server(site, "--workers", "2"))
        servers[-1].wait_until_ready()
        return site, servers[-1], token

    yield start
    for server in servers:
        server.kill()


@pytest.fixture
def served_site(serve: Serve) -> tuple[Site, Server, str]:
    return serve()


def ok(server: Server, token: str, method: str, path: str, body: Any = None, **headers: str):
    status, answer_headers, answer = http(method, server.base_url + path, token, body, headers)
    assert status < 300, (method, path, status, answer, server.log()[-3000:])
    return answer_headers, answer


def test_sigterm_lets_uploads_in_flight_finish(served_site: tuple[Site, Server, str]) -> None:
    site, server, token = served_site
    _, item = ok(server, token, "POST", "/items", {"type": "sample", "name": "busy"})
    uploads = [
        SlowUpload(server, token, item["refcode"], f"part{n}.raw", 2 * 1024 * 1024)
        for n in range(2)  # both in flight at once, on one worker or on two
    ]
    uploads_being_read(site, 2)  # the workers are reading both bodies
    os.kill(server.process.pid, signal.SIGTERM)
    # gunicorn has taken the signal: it signals its workers in the same breath
    wait_for_text(server.log, "Handling signal: term")
    answers = [upload.finish() for upload in uploads]
    assert [status for status, _ in answers] == [201, 201], answers
    assert server.process.wait(timeout=60) == 0
    assert "Traceback" not in server.log()

    again = Server(site, "--workers", "1")
    try:
        again.wait_until_ready()
        _, files = ok(again, token, "GET", f"/items/{item['refcode']}/files")
        assert sorted(f["name"] for f in files) == ["part0.raw", "part1.raw"]
        assert sorted(f["size"] for f in files) == [2 * 1024 * 1024] * 2
    finally:
        again.kill()


def test_a_worker_killed_mid_upload_keeps_nothing_of_it(
    served_site: tuple[Site, Server, str],
) -> None:
    site, server, token = served_site
    _, item = ok(server, token, "POST", "/items", {"type": "sample", "name": "cut off"})
    refcode = item["refcode"]
    upload = SlowUpload(server, token, refcode, "cut.raw", 4 * 1024 * 1024)
    uploads_being_read(site, 1)
    kill_workers(server)
    with pytest.raises((ConnectionError, httpclient.HTTPException, OSError)):
        upload.finish()

    _, files = ok(server, token, "GET", f"/items/{refcode}/files")
    assert files == []
    _, stored = ok(server, token, "GET", f"/items/{refcode}")
    assert stored["version"] == item["version"]
    store = Path(site.settings["INSTANCE_PATH"]) / "files"
    kept = [p.relative_to(store).parts[0] for p in store.rglob("*") if p.is_file()]
    assert kept == ["tmp"]  # no content: only the cut upload's temp file...
    site.ok("files", "gc", "--grace-seconds", "0")
    assert [p for p in store.rglob("*") if p.is_file()] == []  # ...which gc removes

    body, headers = multipart_file("whole.raw", b"all of it")
    status, _, answer = http(
        "POST", f"{server.base_url}/items/{refcode}/files", token, body, headers
    )
    assert status == 201, answer
    _, stored = ok(server, token, "GET", f"/items/{refcode}")
    assert stored["version"] == item["version"] + 1


def test_a_worker_killed_mid_edit_applies_nothing_and_holds_no_lock(tmp_path: Path) -> None:
    from tests.conftest import server_database

    database = server_database("mariadb")
    site = make_site(tmp_path / "site")
    site.settings["DATABASE_URL"] = database.url
    site.write_config()
    server = None
    holder = sa.create_engine(database.url)
    try:
        site.ok("db", "upgrade")
        token = new_user_token(site, "editor@lab.org")
        server = Server(site, "--workers", "2")
        server.wait_until_ready()
        made, item = ok(server, token, "POST", "/items", {"type": "sample", "name": "before"})
        url = f"{server.base_url}/items/{item['refcode']}"

        answers: list[Any] = []
        with holder.connect() as connection, connection.begin():
            # the edit's transaction waits for this row lock, inside its work
            connection.execute(
                sa.text("SELECT id FROM items WHERE refcode = :r FOR UPDATE"),
                {"r": item["refcode"]},
            )
            editor = threading.Thread(
                target=lambda: answers.append(
                    _try(
                        lambda: http(
                            "PATCH", url, token, {"name": "lost"}, {"If-Match": made["ETag"]}
                        )
                    )
                )
            )
            editor.start()
            wait_until(  # the edit waits for the row, inside its transaction
                lambda: waiting_for_a_lock(holder, database.name),
                30,
                message=lambda: f"{statements(holder, database.name)}\n{server.log()[-3000:]}",
            )
            kill_workers(server)
            editor.join(timeout=30)
        assert answers and isinstance(answers[0], Exception), answers

        headers, stored = ok(server, token, "GET", f"/items/{item['refcode']}")
        assert (stored["name"], stored["version"]) == ("before", item["version"])
        with within(5):  # the dead edit's lock went with its connection: no wait for it
            _, changed = ok(
                server,
                token,
                "PATCH",
                f"/items/{item['refcode']}",
                {"name": "after"},
                **{"If-Match": headers["ETag"]},
            )
        assert changed["name"] == "after"
    finally:
        holder.dispose()
        if server is not None:
            server.kill()
        database.drop()


def statements(engine: sa.Engine, database: str) -> list[Any]:
    """What the other connections to ``database`` are running: state, statement and the
    state of its transaction (MariaDB)."""
    query = sa.text(
        "SELECT p.STATE, p.INFO, t.trx_state FROM information_schema.PROCESSLIST p"
        " LEFT JOIN information_schema.INNODB_TRX t ON p.ID = t.trx_mysql_thread_id"
        " WHERE p.DB = :db AND p.ID <> CONNECTION_ID()"
    )
    with engine.connect() as connection:
        return list(connection.execute(query, {"db": database}).all())


def waiting_for_a_lock(engine: sa.Engine, database: str) -> list[Any]:
    """The statements on ``database`` that run to lock rows for update: while another
    connection holds the rows, they wait for it (in the optimizer's "Statistics" when it
    reads the row by its key, not always listed as a LOCK WAIT transaction yet)."""
    return [row for row in statements(engine, database) if "FOR UPDATE" in (row.INFO or "")]


def _try(call: Any) -> Any:
    try:
        return call()
    except Exception as error:  # the answer is the error
        return error


def chemical_export(rows: int) -> bytes:
    """A ChemInventory CSV export of ``rows`` containers."""
    header = "Barcode,Container Name,Container Size,Unit,Supplier,Location,Substance CAS"
    lines = [f"CH-{n:07d},acetone {n},500,mL,Sigma,cabinet {n % 40},67-64-1" for n in range(rows)]
    return "\n".join([header, *lines]).encode() + b"\n"


def test_a_worker_killed_mid_import_imports_nothing(serve: Serve) -> None:
    site, server, token = serve(
        "manager",
        PLUGINS=["inventory_cheminventory"],
        INVENTORY_IMPORTERS={"stores": {"type": "cheminventory"}},
    )
    content = chemical_export(3000)
    body, headers = multipart_file("export.csv", content)
    boundary = headers["Content-Type"].split("boundary=")[1]
    body = (  # the importer's name, as a second form field
        f'--{boundary}\r\nContent-Disposition: form-data; name="importer"\r\n\r\nstores\r\n'
    ).encode() + body
    url = f"{server.base_url}/inventory/imports"
    answers: list[Any] = []
    importer = threading.Thread(
        target=lambda: answers.append(_try(lambda: http("POST", url, token, body, headers)))
    )
    importer.start()
    # the import is writing its items (3,000 take several seconds), in one transaction
    wait_until(lambda: sqlite_write_lock_taken(site), 30)
    kill_workers(server)
    importer.join(timeout=60)
    assert answers and isinstance(answers[0], Exception), answers

    _, listed = ok(server, token, "GET", "/items?type=starting_material")
    assert listed == []  # nothing of the cut import
    _, imports = ok(server, token, "GET", "/inventory/imports")
    assert imports == []

    status, _, report = http("POST", url, token, body, headers)
    assert status == 201, report
    assert report["counts"]["created"] == 3000


def test_a_backup_whose_worker_is_killed_is_taken_up_again_and_lands_once(
    tmp_path: Path, serve: Serve
) -> None:
    repository = tmp_path / "repository"
    target = {"type": "local", "path": str(repository)}
    site, server, token = serve(
        "admin",
        BACKUP_STRATEGIES={"nightly": {"target": target, "frequency": "1d", "retention": 3}},
    )
    _, item = ok(server, token, "POST", "/items", {"type": "sample", "name": "raw data"})
    files = 48
    for n in range(files):  # incompressible, so the backup takes a while
        body, headers = multipart_file(f"scan{n}.raw", os.urandom(1024 * 1024))
        ok(server, token, "POST", f"/items/{item['refcode']}/files", body, **headers)

    headers, started = ok(server, token, "POST", "/backups/nightly")
    assert started["running"] is True  # the run goes on in the worker after the answer
    contents = repository / "contents"
    wait_until(
        lambda: contents.is_dir() and any(p.is_file() for p in contents.rglob("*")),
        60,
        message=lambda: server.log()[-3000:],
        interval=0.005,
    )
    kill_workers(server)  # the run has stored some of the files' contents
    assert not list(repository.glob("snapshots/*/manifest.json")), (
        "the backup finished before it could be killed"
    )
    # its job is taken up again by a worker gunicorn started anew: the killed run's lock
    # is taken over (its holder is gone), and the new attempt lands one snapshot
    state = wait_until(
        lambda: (
            (state := ok(server, token, "GET", headers["Location"])[1])["running"] is False
            and state
        ),
        120,
        interval=0.1,
        message=lambda: server.log()[-3000:],
    )
    report = state["last_report"]
    assert state["last_error"] is None and report["files"] == files
    assert report["files_uploaded"] + report["files_reused"] == files
    assert [s["snapshot"] for s in state["snapshots"]] == [report["snapshot"]]
    assert state["snapshots"][0]["files"] == files
    _, job = ok(server, token, "GET", f"/jobs/{started['job']}")
    assert (job["state"], job["attempts"], job["result"]) == ("succeeded", 2, report)
    verified = site.ok("backup", "verify", "--strategy", "nightly")
    assert f"verified 1 snapshot(s), {files} files" in verified, verified
    _, events = ok(server, token, "GET", "/audit?action=backup.succeeded")
    assert len(events) == 1  # the run finished once
    assert "Traceback" not in server.log()
