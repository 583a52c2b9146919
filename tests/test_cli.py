"""The real ``labvault`` command, run as a deployer runs it: a subprocess per command.

Each test gets its own folder with a config.py (pointed to by LABVAULT_CONFIG) and runs
the command there. Every failing command must say what is wrong in one line (a config
report lists each problem) and never show a traceback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from labvault.testing import free_port, wait_until_ready

REPO = Path(__file__).resolve().parents[1]
SECRET_KEY = "cli-test-secret-key-0123456789abcdefghij"
SERVER_START_TIMEOUT = 30.0
#: gunicorn's graceful_timeout: a worker SIGTERM reaches in its first moments (forked, its
#: signal handlers not yet its own) keeps running, and the master waits this long before
#: it kills it (seen once in about 45 full runs on a busy machine).
GUNICORN_GRACEFUL_TIMEOUT = 30.0
API_KEY = re.compile(r"\blvk_[A-Za-z0-9_-]+")
T = TypeVar("T")


def labvault_command() -> list[str]:
    """The installed console script (the venv's one first), else ``python -m labvault``."""
    script = Path(sys.executable).parent / "labvault"
    if script.is_file():
        return [str(script)]
    found = shutil.which("labvault")
    return [found] if found else [sys.executable, "-m", "labvault"]


@dataclass
class Site:
    """A deployment folder: config.py, instance folder and SQLite database."""

    root: Path
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.root / "config.py"

    @property
    def database_path(self) -> Path:
        return self.root / "labvault.db"

    def write_config(self) -> None:
        lines = [f"{name} = {value!r}" for name, value in self.settings.items()]
        self.config_path.write_text("\n".join(lines) + "\n")

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        # the developer's own LABVAULT_* settings must not leak into the tests
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABVAULT_")}
        env["LABVAULT_CONFIG"] = str(self.config_path)
        env.update(extra or {})
        return env

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*labvault_command(), *args],
            cwd=self.root,
            env=self.environ(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = self.run(*args, env=env)
        assert result.returncode == 0, f"labvault {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    def fail(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run a command that must fail cleanly; return its stderr."""
        result = self.run(*args, env=env)
        assert result.returncode != 0, f"labvault {' '.join(args)} succeeded:\n{result.stdout}"
        assert "Traceback" not in result.stderr, result.stderr
        assert "Traceback" not in result.stdout, result.stdout
        return result.stderr

    def fail_one_line(self, *args: str, env: dict[str, str] | None = None) -> str:
        stderr = self.fail(*args, env=env)
        lines = stderr.strip().splitlines()
        assert len(lines) == 1, stderr
        return lines[0]


def in_parallel(*calls: Callable[[], T]) -> list[T]:
    """Run independent commands side by side (each is mostly interpreter start-up)."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def make_site(root: Path) -> Site:
    root.mkdir(parents=True, exist_ok=True)
    site = Site(
        root,
        {
            "IDENTIFIER_PREFIX": "lab",
            "SECRET_KEY": SECRET_KEY,
            "INSTANCE_PATH": str(root / "instance"),
            "DATABASE_URL": f"sqlite:///{root / 'labvault.db'}",
        },
    )
    site.write_config()
    return site


def new_user_token(site: Site, email: str, role: str = "user") -> str:
    """Create a user of an upgraded site and an access token for it, in this process
    (0.2 s, where `labvault users create` and `labvault tokens issue` take 1.5 s)."""
    from labvault.app import create_app
    from labvault.auth.models import Role
    from labvault.auth.service import start_session
    from labvault.users.service import create_user
    from labvault.web.session import get_session

    app = create_app(site.settings)
    try:
        with app.app_context():
            session = get_session()
            user = create_user(session, email, role=Role(role))
            hours = dt.timedelta(hours=4)
            signer = app.extensions["labvault"].signer
            token: str = start_session(
                session, signer, user, hours, access_lifetime=hours
            ).access_token
            return token
    finally:
        app.extensions["labvault"].database.dispose()


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """A valid configuration with an empty (not yet upgraded) database."""
    return make_site(tmp_path / "site")


@pytest.fixture(scope="module")
def upgraded_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `labvault db upgrade` per module; tests get a copy of its database."""
    template = make_site(tmp_path_factory.mktemp("template"))
    template.ok("db", "upgrade")
    return template.database_path


@pytest.fixture
def upgraded_site(site: Site, upgraded_database: Path) -> Site:
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{upgraded_database}{suffix}")
        if source.exists():
            shutil.copyfile(source, f"{site.database_path}{suffix}")
    return site


def schema_of(database: Path) -> tuple[set[str], str | None]:
    """The tables of a SQLite database and its Alembic revision."""
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            revision = None
            if "alembic_version" in tables:
                revision = connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
        return tables, revision
    finally:
        engine.dispose()


# --- db and config -----------------------------------------------------------------


def test_db_upgrade_creates_the_tables_and_can_run_again(site: Site) -> None:
    from labvault.migrations import head_revision
    from labvault.models import metadata

    out = site.ok("db", "upgrade")
    assert out.strip() == f"database is at revision {head_revision()}; search: sqlite-fts5"
    tables, revision = schema_of(site.database_path)
    assert set(metadata.tables) <= tables
    assert revision == head_revision()

    assert site.ok("db", "upgrade") == out
    assert schema_of(site.database_path) == (tables, revision)


def test_python_dash_m_runs_the_same_command(site: Site) -> None:
    from labvault import __version__

    result = subprocess.run(
        [sys.executable, "-m", "labvault", "--version"],
        cwd=site.root,
        env=site.environ(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert __version__ in result.stdout


def test_config_check_accepts_a_valid_config(site: Site) -> None:
    out = site.ok("config", "check")
    assert str(site.config_path) in out
    assert "configuration is valid\nsearch: sqlite-fts5\n" in out


def test_config_check_reports_every_problem_with_its_key_path(site: Site) -> None:
    site.settings["IDENTIFIER_PREFIX"] = "Lab-1"
    site.settings["DEPLOYMENT_METADATA"] = {"homepage": "not a url"}
    site.settings["IDENTIFER_PREFIX"] = "lab"
    site.settings["PLUGINS"] = ["no_such_plugin"]
    site.write_config()

    report = site.fail("config", "check")

    assert "4 problems" in report
    problems = [line.strip() for line in report.splitlines() if line.strip().startswith("- ")]
    assert len(problems) == 4, report
    assert any(p.startswith("- IDENTIFIER_PREFIX: ") for p in problems)
    assert "- IDENTIFER_PREFIX: unknown setting (did you mean IDENTIFIER_PREFIX?)" in problems
    assert any(p.startswith("- DEPLOYMENT_METADATA.homepage: ") for p in problems)
    assert any(
        p.startswith("- PLUGINS: ") and "'no_such_plugin' is not installed" in p for p in problems
    )


def test_environment_overrides_the_config_file_and_is_json_decoded(site: Site) -> None:
    site.settings["IDENTIFIER_PREFIX"] = "NOT valid"
    site.write_config()

    report = site.fail(
        "config",
        "check",
        env={"LABVAULT_IDENTIFIER_PREFIX": "good", "LABVAULT_PLUGINS": '["nope"]'},
    )

    # the file's bad prefix is overridden; the JSON list is decoded and its name checked
    assert "IDENTIFIER_PREFIX" not in report
    assert "1 problem:" in report
    assert "PLUGINS: plugin 'nope' is not installed" in report


def test_dotenv_in_the_working_directory_is_read(site: Site) -> None:
    del site.settings["SECRET_KEY"]
    site.write_config()
    (site.root / ".env").write_text(f"LABVAULT_SECRET_KEY={SECRET_KEY}\n")

    assert "configuration is valid" in site.ok("config", "check")


def test_secret_key_is_required_in_production_and_generated_once_in_dev(site: Site) -> None:
    del site.settings["SECRET_KEY"]
    site.write_config()
    key_file = Path(site.settings["INSTANCE_PATH"]) / "secret_key"

    report = site.fail("config", "check")
    assert "SECRET_KEY: required in production" in report
    assert not key_file.exists()

    site.ok("--dev", "config", "check")
    key = key_file.read_text()
    assert len(key) >= 32
    assert key_file.stat().st_mode & 0o777 == 0o600

    site.ok("--dev", "config", "check")
    assert key_file.read_text() == key


def install_demo_plugin(folder: Path) -> dict[str, str]:
    """A plugin distribution on PYTHONPATH (metadata and module); the env to find it."""
    folder.mkdir()
    (folder / "labvault_demo.py").write_text(
        '"""A plugin with no hooks."""\nLABVAULT_PLUGIN_API = ">=2.0,<3"\n'
    )
    dist_info = folder / "labvault_demo-1.2.3.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: labvault-demo\nVersion: 1.2.3\n"
    )
    (dist_info / "entry_points.txt").write_text("[labvault.plugins]\ndemo = labvault_demo\n")
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path}


def test_plugins_lists_what_is_installed_and_enabled(site: Site) -> None:
    from labvault.loader import installed_plugins

    demo_env = install_demo_plugin(site.root / "site-packages")
    none_out, demo_out = in_parallel(
        lambda: site.ok("plugins"),
        lambda: site.ok("plugins", env={**demo_env, "LABVAULT_PLUGINS": '["demo"]'}),
    )

    installed = installed_plugins()  # in the venv: none, unless plugins were installed
    if not installed:
        assert none_out.strip() == "no plugins installed"
    for name in installed:
        assert re.search(rf"^{re.escape(name)}\s.*\sno$", none_out, re.MULTILINE), none_out
    header, *rows, provides = demo_out.splitlines()
    assert header.split() == ["name", "distribution", "version", "plugin_api", "enabled"]
    assert ["demo", "labvault-demo", "1.2.3", ">=2.0,<3", "yes"] in [row.split() for row in rows]
    assert provides == "this labvault provides plugin API 2.1"


# --- users and tokens --------------------------------------------------------------


def test_users_are_created_listed_and_changed(upgraded_site: Site) -> None:
    site = upgraded_site
    created = site.ok("users", "create", "Grace@Lab.org", "--role", "admin", "--name", "Grace H")
    assert created.strip() == "created user 1 grace@lab.org (admin)"

    duplicate, invalid, unknown = in_parallel(
        lambda: site.fail_one_line("users", "create", "grace@lab.org"),
        lambda: site.fail_one_line("users", "create", "not-an-email"),
        lambda: site.fail_one_line("users", "deactivate", "nobody@lab.org"),
    )
    assert duplicate == "error: a user with email 'grace@lab.org' already exists"
    assert "not a valid email address" in invalid
    assert unknown == "error: no user with email 'nobody@lab.org'"

    out = site.ok("users", "set-role", "grace@lab.org", "manager")
    assert out.strip() == "grace@lab.org is now manager"
    out = site.ok("users", "deactivate", "grace@lab.org")
    assert out.strip() == "grace@lab.org is deactivated"
    assert site.ok("users", "activate", "1").strip() == "grace@lab.org is active"
    assert site.fail_one_line("users", "activate", "7") == "error: no user with id '7'"
    out = site.ok("users", "deactivate", "1")
    assert out.strip() == "grace@lab.org is deactivated"

    header, *rows = site.ok("users", "list").splitlines()
    assert header.split() == ["id", "email", "name", "role", "status"]
    assert [row.split() for row in rows] == [
        ["1", "grace@lab.org", "Grace", "H", "manager", "deactivated"]
    ]


def test_tokens_issue_prints_a_working_token_alone(upgraded_site: Site) -> None:
    from labvault.app import create_app
    from labvault.auth.models import Role, Status
    from labvault.users.service import create_user, find_user, update_user
    from labvault.web.session import get_session

    site = upgraded_site
    app = create_app(site.settings)
    client = app.test_client()
    try:
        with app.app_context():
            create_user(get_session(), "ada@lab.org", role=Role.ADMIN)

        out = site.ok("tokens", "issue", "--user", "ada@lab.org")
        assert out.count("\n") == 1
        token = out.strip()
        response = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.json
        assert response.get_json()["email"] == "ada@lab.org"

        with app.app_context():
            session = get_session()
            user = find_user(session, "ada@lab.org", for_update=True)
            update_user(session, app.extensions["labvault"].signer, user, status=Status.DEACTIVATED)
        error = site.fail_one_line("tokens", "issue", "--user", "ada@lab.org")
        assert error == "error: ada@lab.org is deactivated"
        response = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        # the token's session was revoked with the account: reactivating does not revive it
        with app.app_context():
            session = get_session()
            user = find_user(session, "ada@lab.org", for_update=True)
            update_user(session, app.extensions["labvault"].signer, user, status=Status.ACTIVE)
        response = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
    finally:
        app.extensions["labvault"].database.dispose()


def test_commands_and_serve_before_db_upgrade_say_to_run_it(site: Site) -> None:
    bind = f"127.0.0.1:{free_port()}"
    errors = in_parallel(
        lambda: site.fail_one_line("users", "list"),
        lambda: site.fail_one_line("tokens", "issue", "--user", "ada@lab.org"),
        lambda: site.fail_one_line("serve", "--bind", bind),
    )
    for error in errors:
        assert "run `labvault db upgrade`" in error


# --- serve -------------------------------------------------------------------------


class Server:
    """A `labvault serve` process in its own session, so all its children can be stopped."""

    def __init__(self, site: Site, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        # gunicorn serves under the prefix its environment's SCRIPT_NAME names
        prefix = (env or {}).get("SCRIPT_NAME", "")
        self.base_url = f"http://127.0.0.1:{self.port}{prefix}"
        self.output = site.root / f"serve-{self.port}.log"
        with self.output.open("w") as log:
            self.process = subprocess.Popen(
                [*labvault_command(), "serve", "--bind", f"127.0.0.1:{self.port}", *args],
                cwd=site.root,
                env=site.environ(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.stopped = False

    def log(self) -> str:
        return self.output.read_text()

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(self.base_url + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read() or b"null")

    def wait_until_ready(self) -> None:
        wait_until_ready(self.base_url, self.process, self.log, SERVER_START_TIMEOUT)

    def terminate(self) -> int:
        """SIGTERM to the server's process group; returns the exit status of the command."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=GUNICORN_GRACEFUL_TIMEOUT + 15)
        finally:
            self.kill()

    def kill(self) -> None:
        """Whatever is left of the group (workers, reloader child) must not outlive the test."""
        if self.stopped:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)
        self.stopped = True


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def test_serve_runs_gunicorn_and_stops_on_sigterm(
    upgraded_site: Site, servers: list[Server]
) -> None:
    server = Server(upgraded_site, "--workers", "2")
    servers.append(server)
    server.wait_until_ready()

    assert server.get("/health/ready") == (200, {"status": "ok", "checks": {"database": "ok"}})
    status, info = server.get("/info")
    assert status == 200
    assert info["identifier_prefix"] == "lab"
    # refused by gunicorn before the app sees it, in labvault's JSON error shape all the same
    # the access log hides what a sign-in callback or a mailed link carries
    server.get("/auth/campus/callback?code=c0de-s3cret&state=st4te-s3cret&page=2")
    server.get("/auth/email/verify?token=t0ken-s3cret")
    status, refused = server.get("/items?q=" + "x" * 5000)
    assert (status, refused["code"], refused["status"]) == (414, 414, "URI Too Long")
    assert refused["message"]

    assert server.terminate() == 0
    log = server.log()
    assert log.count("Booting worker") == 2
    assert "Traceback" not in log
    assert "code=[redacted]&state=[redacted]&page=2" in log
    assert "token=[redacted]" in log and "s3cret" not in log
    # no gunicorn control socket at a per-user path another server could take over
    assert "Control socket" not in log


@pytest.mark.shows_a_secret("lvk_")  # the first admin key, printed once on purpose
def test_serve_dev_upgrades_and_prints_the_first_admin_key_once(
    site: Site, servers: list[Server]
) -> None:
    first = Server(site, "--dev")
    servers.append(first)
    first.wait_until_ready()
    keys = API_KEY.findall(first.log())
    assert len(keys) == 1, first.log()
    status, me = first.get("/users/me", token=keys[0])
    assert status == 200, me
    assert me["email"] == "admin@localhost"
    assert me["role"] == "admin"
    first.get("/auth/campus/callback?code=c0de-s3cret&state=st4te-s3cret")
    first.terminate()
    assert "code=[redacted]&state=[redacted]" in first.log()
    assert "s3cret" not in first.log()

    second = Server(site, "--dev")
    servers.append(second)
    second.wait_until_ready()
    second.terminate()
    assert API_KEY.search(second.log()) is None, second.log()
    assert "Traceback" not in first.log() + second.log()


# --- the README's promise ------------------------------------------------------------


def test_readme_first_screen_shows_make_run_and_make_test() -> None:
    readme = (REPO / "README.md").read_text()
    first_screen = readme.split("\n---\n", 1)[0].splitlines()[:30]
    commands = [line.strip() for line in first_screen if line.startswith("    ")]
    assert commands == ["make run", "make test"]

    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)


def test_ci_runs_make_test() -> None:
    ci = REPO / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    steps = [
        line.strip()
        for line in ci.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert "make test" in steps


# --- file sources ----------------------------------------------------------------------


def test_sources_sync_rebuilds_listings_and_sources_list_shows_them(upgraded_site: Site) -> None:
    from labvault.testing import make_source_tree

    site = upgraded_site
    (site.root / "tree").mkdir()
    make_source_tree(site.root / "tree")
    site.settings["FILE_SOURCES"] = {
        "xrd": {"type": "local", "path": str(site.root / "tree")},
        "gone": {"type": "local", "path": str(site.root / "unmounted")},
    }
    site.write_config()

    header, *rows = site.ok("sources", "list").splitlines()
    assert header.split() == ["name", "type", "entries", "built", "last", "error"]
    assert [row.split() for row in rows] == [
        ["xrd", "local", "0", "never", "-"],
        ["gone", "local", "0", "never", "-"],
    ]

    synced = site.run("sources", "sync", "xrd")
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.splitlines()[0].startswith("xrd: 7 entries in ")
    assert synced.stdout.splitlines()[-1] == "synced 1 of 1 source(s), 7 entries, 0 failed"
    assert "xrd: 7 entries" in synced.stderr  # the progress

    failed = site.run("sources", "sync")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "gone: failed: gone: the folder " in failed.stderr and "is it mounted?" in failed.stderr
    assert failed.stdout.splitlines()[-1] == "synced 1 of 2 source(s), 7 entries, 1 failed"
    listed = {row.split()[0]: row for row in site.ok("sources", "list").splitlines()[1:]}
    name, kind, count, age, *_ = listed["xrd"].split()
    # the age in seconds: a busy machine takes a while between the sync and the list
    assert (name, kind, count) == ("xrd", "local", "7") and int(age) <= 30
    assert listed["gone"].endswith("is missing; is it mounted?")
    assert site.fail_one_line("sources", "sync", "nope") == "error: no file source 'nope'"


# --- inventory -------------------------------------------------------------------------


def test_inventory_import_reports_and_a_dry_run_writes_nothing(upgraded_site: Site) -> None:
    site = upgraded_site
    site.settings["PLUGINS"] = ["inventory_cheminventory"]
    site.settings["INVENTORY_IMPORTERS"] = {"stores": {"type": "cheminventory"}}
    site.write_config()
    site.ok("users", "create", "keeper@lab.org", "--role", "manager")
    export = site.root / "export.csv"
    export.write_text(
        "Barcode,Container Name,Supplier,Substance CAS,Location\n"
        "CH-1,acetone,Sigma,67-64-1,cabinet A\n"
        ",nameless,Sigma,,\n"
        "CH-2,ethanol,Merck,64-17-5,cabinet B\n"
    )
    command = ("inventory", "import", "stores", str(export), "--user", "keeper@lab.org")

    dry = site.ok(*command, "--dry-run").splitlines()
    real = site.ok(*command).splitlines()
    again = site.ok(*command).splitlines()

    assert dry[0].startswith("row 3 Barcode: rejected: no barcode")
    assert dry[-1] == (
        "dry run, nothing written: 2 created, 0 updated, 0 unchanged, 0 missing, 1 rejected"
    )
    assert real[-1] == "2 created, 0 updated, 0 unchanged, 0 missing, 1 rejected"
    assert again[-1] == "0 created, 0 updated, 2 unchanged, 0 missing, 1 rejected"
    site.ok("users", "create", "plain@lab.org")
    not_a_manager = site.fail_one_line(*command[:4], "--user", "plain@lab.org")
    assert not_a_manager == "error: plain@lab.org is not an active manager or admin"
    unknown = site.fail_one_line(*command[:4], "--user", "nobody@lab.org")
    assert unknown == "error: no user with email 'nobody@lab.org'"


# --- what a command costs ----------------------------------------------------------------

#: What a command that serves no HTTP does without: Flask, flask-smorest and apispec (the
#: app and its API documents), the app factory, and the heavy libraries of plugins.
NOT_NEEDED = (
    "flask",
    "flask_smorest",
    "apispec",
    "labvault.app",
    "labvault.backups.runs",
    "requests",
    "authlib",
    "openpyxl",
    "numpy",
)

#: Run ``labvault ARGS`` in-process; then print which of NOT_NEEDED the command imported,
#: as JSON on stderr's last line.
IMPORTS_OF_A_COMMAND = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(
    sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)
), file=sys.stderr))
from labvault.cli import main
main(sys.argv[2:])
"""


def imports_of(
    site: Site, *args: str, modules: tuple[str, ...] = NOT_NEEDED
) -> tuple[str, list[str]]:
    """The output of ``labvault ARGS`` and which of ``modules`` it imported."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS_OF_A_COMMAND, json.dumps(modules), *args],
        cwd=site.root,
        env=site.environ(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported: list[str] = json.loads(result.stderr.strip().splitlines()[-1])
    return result.stdout, imported


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--help"], "Commands:"),
        (["audit"], "no audit events"),
        (["users", "--help"], "create"),
        (["users", "list"], "no users"),
        (["backup", "due"], "no backup is due"),
        (["items", "check-type", "sample"], "all 0 items of type sample validate"),
    ],
)
def test_commands_that_need_no_app_import_neither_flask_nor_the_api_docs(
    upgraded_site: Site, args: list[str], says: str
) -> None:
    output, imported = imports_of(upgraded_site, *args)
    assert says in output
    assert imported == []


def test_a_command_on_the_runtime_imports_no_heavy_library_of_an_enabled_plugin(
    upgraded_site: Site,
) -> None:
    site = upgraded_site
    site.settings.update(
        PLUGINS=["auth_github", "inventory_cheminventory"],
        PUBLIC_URL="https://lab.example.org",
        AUTH_PROVIDERS={
            "github": {"type": "github", "client_id": "lab-app", "client_secret": "s" * 40}
        },
        INVENTORY_IMPORTERS={"stores": {"type": "cheminventory"}},
        BACKUP_STRATEGIES={
            "nightly": {
                "frequency": "1d",
                "retention": 2,
                "target": {"type": "local", "path": str(site.root / "backups")},
            }
        },
    )
    site.write_config()
    site.ok("users", "create", "keeper@lab.org", "--role", "manager")
    assert "(strategy nightly): 1 rows" in site.ok("backup", "create", "--strategy", "nightly")

    # the plugins are enabled (imported, their types registered), their libraries are not
    plugins = ("labvault_auth_github.provider", "labvault_inventory_cheminventory.sheets")
    # (`backup due` with nothing due loads no plugin at all: tests/test_startup_imports.py)
    output, imported = imports_of(site, "backup", "list", modules=NOT_NEEDED + plugins)
    assert "nightly" in output
    assert imported == sorted(plugins)
    output, imported = imports_of(site, "users", "list", modules=NOT_NEEDED + plugins)
    assert "keeper@lab.org" in output
    assert imported == sorted(plugins)


def test_the_cli_role_names_are_the_roles() -> None:
    from labvault.auth.models import Role
    from labvault.cli.users import ROLE_NAMES

    assert tuple(role.value for role in Role) == ROLE_NAMES
