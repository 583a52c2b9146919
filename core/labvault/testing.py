"""pytest plugin (entry point ``pytest11``): fixtures to test labvault and its plugins,
and :class:`FileSourceContract` and :class:`BackupTargetContract`, the tests every file
source and backup target type passes (the first, with :func:`make_source_tree` and
:func:`flipping_link`, lives in :mod:`labvault.source_contract`).

A plugin's tests can build an app with the plugin enabled and the settings it needs::

    def test_my_block_type(labvault_make_app, labvault_make_user):
        app = labvault_make_app(PLUGINS=["my_plugin"], BLOCK_TYPES={"xrd": {...}})
        alice = labvault_make_user(app, role="manager")
        response = app.test_client().get("/info", headers=alice.headers)

Apps use a fresh SQLite database in ``tmp_path`` unless ``labvault_database_url`` is
overridden (the core's own suite also runs on MariaDB and PostgreSQL that way). Their
``PUBLIC_URL`` is ``http://localhost``, where the test client sends its requests; a
server of :func:`labvault_serve` is at its own address. A sign-in belongs to the browser
that started it (a cookie): one test client, or one ``requests.Session``, is one browser.
:func:`page_form` reads the form of a sign-in page, and ``labvault_chromium`` is a
headless Chromium (Debian's ``chromium``, driven by Playwright) for what only a real
browser shows.
:func:`run_backup` runs a backup strategy through the API and waits for its end (a
backup target's tests read its ``last_report``); :func:`instances_of` gives the
instances of one kind an app's settings configure.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytest.register_assert_rewrite("labvault.source_contract")

from labvault.source_contract import (  # noqa: E402  (its asserts rewritten, as ours)
    FileSourceContract as FileSourceContract,
)
from labvault.source_contract import flipping_link as flipping_link  # noqa: E402
from labvault.source_contract import make_source_tree as make_source_tree  # noqa: E402

TEST_SECRET_KEY = "labvault-test-secret-key-0123456789abcdef"
#: Where test apps say they are served: where Flask's test client sends its requests.
TEST_PUBLIC_URL = "http://localhost"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_emails = itertools.count(1)
T = TypeVar("T")


@dataclass(frozen=True)
class TestUser:
    """A user created for a test, with a ready bearer token."""

    __test__ = False  # not a test class, despite the name

    id: int
    email: str
    role: str
    status: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def labvault_database_url(tmp_path: Path) -> str:
    """Database URL for test apps; override it to test on another database."""
    return f"sqlite:///{tmp_path / 'labvault.db'}"


@pytest.fixture
def labvault_settings(tmp_path: Path, labvault_database_url: str) -> dict[str, Any]:
    """The settings every test app starts from."""
    return {
        "IDENTIFIER_PREFIX": "test",
        "SECRET_KEY": TEST_SECRET_KEY,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": labvault_database_url,
    }


@pytest.fixture
def labvault_make_app(labvault_settings: dict[str, Any]) -> Iterator[Callable[..., Any]]:
    """Factory: ``labvault_make_app(PLUGINS=[...], **settings)`` -> app with tables created,
    served (``PUBLIC_URL``) where the test client sends its requests unless given."""
    from labvault.app import create_app
    from labvault.migrations import create_schema

    apps: list[Any] = []

    def make(**overrides: Any) -> Any:
        app = create_app({**labvault_settings, "PUBLIC_URL": TEST_PUBLIC_URL, **overrides})
        app.config["TESTING"] = True
        apps.append(app)
        create_schema(app.extensions["labvault"].database.engine)
        return app

    yield make
    for app in apps:
        app.extensions["labvault"].database.dispose()


@pytest.fixture
def labvault_app(labvault_make_app: Callable[..., Any]) -> Any:
    """An app with the core only."""
    return labvault_make_app()


@pytest.fixture
def labvault_client(labvault_app: Any) -> Any:
    return labvault_app.test_client()


def instances_of(app: Any, base: type[T]) -> dict[str, T]:
    """The instances ``app``'s settings configure of the kind whose base class is
    ``base``, by instance name, e.g. ``instances_of(app, FileSource)["nas"].options``."""
    from labvault.registry import KINDS

    (kind,) = [kind for kind in KINDS if kind.base is base]
    return app.extensions["labvault"].registry.instances_of(kind)


@pytest.fixture
def labvault_make_user() -> Callable[..., TestUser]:
    """Factory: ``labvault_make_user(app, role="user", status="active")`` -> TestUser,
    whose token is the access token of a session of its own (revoked like any)."""
    from labvault.auth.models import Role, Status
    from labvault.auth.service import start_session
    from labvault.users.service import create_user
    from labvault.web.session import get_session

    def make(
        app: Any, role: str = "user", status: str = "active", email: str | None = None
    ) -> TestUser:
        email = email or f"user{next(_emails)}@example.org"
        with app.app_context():
            session = get_session()
            user = create_user(session, email, role=Role(role), status=Status(status))
            # a signed-in session of the user's, as a sign-in starts (a refresh-token row)
            token = start_session(session, app.extensions["labvault"].signer, user).access_token
            return TestUser(user.id, user.email or email, role, status, token)

    return make


def run_backup(client: Any, headers: dict[str, str], strategy: str, timeout: float = 120) -> Any:
    """Run a backup strategy through the API as an admin (``headers``) and wait for it:
    ``POST /backups/<strategy>`` answers 202 at once and the run goes on in the server.
    Its state (``GET /backups/<strategy>``) once it has ended."""
    started = client.post(f"/backups/{strategy}", headers=headers)
    assert started.status_code == 202, started.get_json()
    assert started.get_json()["running"] is True
    return wait_for_backup(client, headers, strategy, timeout)


def wait_for_backup(
    client: Any, headers: dict[str, str], strategy: str, timeout: float = 120
) -> Any:
    """The state of a backup strategy (``GET /backups/<strategy>``) once it is not
    ``running``; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(f"/backups/{strategy}", headers=headers).get_json()
        if not state["running"]:
            return state
        assert time.monotonic() < deadline, f"backup {strategy} still running: {state}"
        time.sleep(0.05)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServedApp:
    """A ``labvault serve`` process (gunicorn) started by :func:`labvault_serve`."""

    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        """Everything the server wrote (its log and gunicorn's access log)."""
        return self.log_path.read_text()

    def stop(self) -> None:
        """Kill the server and its workers at once. A test's server has nothing to keep,
        and even gunicorn's quick shutdown (SIGINT) takes about a second of CPU per
        server, finalizing each worker's interpreter; the database drops connections
        whose process is gone as soon as their sockets close."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _wait_until_ready(served: ServedApp, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if served.process.poll() is not None:
            pytest.fail(f"labvault serve exited with {served.process.returncode}:\n{served.log()}")
        try:
            with urllib.request.urlopen(served.base_url + "/health/ready", timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"labvault serve not ready after {timeout} s:\n{served.log()}")
        time.sleep(0.05)


@pytest.fixture
def labvault_serve(
    tmp_path: Path, labvault_settings: dict[str, Any]
) -> Iterator[Callable[..., ServedApp]]:
    """Factory: ``labvault_serve(workers=2, env={...}, serve_options=[...], **settings)``
    -> a running server.

    The settings are written to a config.py, its tables are made, and ``labvault serve``
    runs gunicorn on a free loopback port until the test ends; ``env`` adds environment
    variables (for secrets given as ``{"env": NAME}``), ``serve_options`` options of
    `labvault serve` (``["--threads", "1"]``). ``PUBLIC_URL`` is the server's own
    address unless given. Use it for flows that cross workers; ``labvault_make_app`` is
    faster for everything else.
    """
    from labvault.app import create_app
    from labvault.migrations import create_schema

    served: list[ServedApp] = []

    def serve(
        workers: int = 2,
        env: dict[str, str] | None = None,
        serve_options: Sequence[str] = (),
        **overrides: Any,
    ) -> ServedApp:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        settings = {**labvault_settings, "PUBLIC_URL": base_url, **overrides}
        folder = tmp_path / f"served-{len(served)}"
        folder.mkdir()
        config = folder / "config.py"
        config.write_text("".join(f"{name} = {value!r}\n" for name, value in settings.items()))
        environ = {**os.environ, **(env or {}), "LABVAULT_CONFIG": str(config)}
        with _patched_environ(env or {}):  # a config problem fails here, with its report
            database = create_app(settings).extensions["labvault"].database
        create_schema(database.engine)  # up to date, as `labvault serve` checks
        database.dispose()
        log_path = folder / "serve.log"
        script = Path(sys.executable).parent / "labvault"
        command = [str(script)] if script.is_file() else [sys.executable, "-m", "labvault"]
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [
                    *command,
                    "serve",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    str(workers),
                    *serve_options,
                ],
                cwd=folder,
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = ServedApp(base_url, log_path, process)
        served.append(server)
        _wait_until_ready(server)
        return server

    yield serve
    for server in served:
        server.stop()


@contextlib.contextmanager
def _patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- sign-in pages in a browser ------------------------------------------------------------


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.actions: list[str] = []
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "form" and (named.get("method") or "").lower() == "post":
            self.actions.append(named.get("action") or "")
        elif tag == "input" and named.get("type") == "hidden" and named.get("name"):
            self.fields[str(named["name"])] = named.get("value") or ""


def page_form(html: str) -> tuple[str, dict[str, str]]:
    """The one form of a sign-in page (an email link's, a link's confirmation): where it
    posts and the hidden fields a browser sends with it."""
    reader = _FormReader()
    reader.feed(html)
    assert len(reader.actions) == 1, f"expected one form that posts in:\n{html}"
    return reader.actions[0], reader.fields


@pytest.fixture(scope="module")
def labvault_chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright ``Browser``): Debian's ``chromium`` package,
    never Playwright's own download. Each test opens a context of its own."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package "
            "(apt-get install -y --no-install-recommends chromium; .ci/run does it). "
            "Playwright's own browser download is not used."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


# --- backup targets: the contract every type keeps -----------------------------------------


class _Breaks(io.RawIOBase):
    """A stream that gives ``good`` bytes and then fails, as a dying upload does."""

    def __init__(self, good: bytes) -> None:
        self._good = io.BytesIO(good)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._good.read(len(buffer))
        if not chunk:
            raise OSError("the stream broke")
        buffer[: len(chunk)] = chunk
        return len(chunk)


class BackupTargetContract:
    """What every backup target type must do, as tests: subclass it in a test module and
    give it a fixture ``backup_target`` (an empty target, ready to use)."""

    def test_put_keeps_the_bytes_and_get_gives_them_back(self, backup_target: Any) -> None:
        large = os.urandom(3 * 1024 * 1024 + 5)

        assert backup_target.put("snapshots/one/manifest.json", io.BytesIO(b'{"a": 1}')) == 8
        assert backup_target.put("contents/ab/abcdef", io.BytesIO(large)) == len(large)

        with backup_target.get("snapshots/one/manifest.json") as stream:
            assert stream.read() == b'{"a": 1}'
        with backup_target.get("contents/ab/abcdef") as stream:
            assert stream.read() == large

    def test_put_replaces_and_delete_removes(self, backup_target: Any) -> None:
        from labvault.plugin import NotFound

        backup_target.put("k/v", io.BytesIO(b"old"))
        backup_target.put("k/v", io.BytesIO(b"new"))
        with backup_target.get("k/v") as stream:
            assert stream.read() == b"new"
        assert backup_target.exists("k/v") and not backup_target.exists("k/w")

        backup_target.delete("k/v")
        backup_target.delete("k/v")  # nothing there: no error
        assert not backup_target.exists("k/v")
        with pytest.raises(NotFound):
            backup_target.get("k/v")

    def test_list_gives_the_keys_under_a_prefix_in_order(self, backup_target: Any) -> None:
        for key in ("b/2", "a/1", "b/10", "b/1/x", "c"):
            backup_target.put(key, io.BytesIO(key.encode()))

        assert list(backup_target.list()) == ["a/1", "b/1/x", "b/10", "b/2", "c"]
        assert list(backup_target.list("b/1")) == ["b/1/x", "b/10"]
        assert list(backup_target.list("nothing/")) == []

    def test_a_failed_put_leaves_nothing_behind(self, backup_target: Any) -> None:
        backup_target.put("kept", io.BytesIO(b"whole"))

        for key in ("kept", "new"):
            with pytest.raises(OSError, match="the stream broke"):
                backup_target.put(key, io.BufferedReader(_Breaks(b"x" * 100_000)))

        with backup_target.get("kept") as stream:
            assert stream.read() == b"whole"
        assert not backup_target.exists("new")
        assert list(backup_target.list()) == ["kept"]
