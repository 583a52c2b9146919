"""Peers to break on purpose: a private MariaDB or PostgreSQL server (killed, frozen,
restarted) and a small tmpfs that fills up. Never the shared database servers.

A machine without mariadbd (postgres) skips the MariaDB (PostgreSQL) faults, unless that
database is required (LABVAULT_TEST_DATABASES_REQUIRED, as in CI): then they fail, saying
why. A tmpfs needs root; without it the test fails, saying so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from labvault.testing import free_port, wait_until

from tests.conftest import REQUIRED

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"


def _version(folder: Path) -> int:
    return int(folder.parent.name) if folder.parent.name.isdigit() else 0


POSTGRESQL_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), default=None, key=_version)


def wait_until_up(
    process: subprocess.Popen[bytes], url: str, name: str, log: Callable[[], str]
) -> None:
    """Until the server just started at ``url`` takes connections; fails with its log
    when it ends or is not up within a minute."""
    engine = sa.create_engine(url, connect_args={"connect_timeout": 2})

    def takes_connections() -> bool:
        try:
            with engine.connect():
                return True
        except sa.exc.OperationalError:
            assert process.poll() is None, f"the private {name} ended:\n{log()[-3000:]}"
            return False

    try:
        wait_until(
            takes_connections,
            60,
            message=lambda: f"the private {name} did not start:\n{log()[-3000:]}",
            interval=0.2,
        )
    finally:
        engine.dispose()


class PrivateMariaDB:
    """A MariaDB server of the test's own, in a temporary folder, on a free port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.url = f"mysql+pymysql://root@127.0.0.1:{self.port}/labvault"
        self.process: subprocess.Popen[bytes] | None = None

    def install(self) -> None:
        if not (os.path.exists(MARIADBD) and os.path.exists(INSTALL_DB)):
            reason = f"no MariaDB server here ({MARIADBD}): apt-get install mariadb-server"
            if "mariadb" in REQUIRED:
                pytest.fail(f"{reason} (required by LABVAULT_TEST_DATABASES_REQUIRED)")
            pytest.skip(reason)
        done = subprocess.run(
            [
                INSTALL_DB,
                "--no-defaults",
                "--user=root",
                f"--datadir={self.data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"mariadb-install-db failed:\n{done.stdout}{done.stderr}"
        self.start()
        engine = sa.create_engine(self.url.rsplit("/", 1)[0])
        with engine.connect() as connection:
            connection.exec_driver_sql("CREATE DATABASE labvault CHARACTER SET utf8mb4")
        engine.dispose()

    def start(self) -> None:
        log = open(self.folder / "mariadbd.log", "ab")  # noqa: SIM115 (the server's, till it ends)
        self.process = subprocess.Popen(
            [
                MARIADBD,
                "--no-defaults",
                "--user=root",
                f"--datadir={self.data}",
                f"--socket={self.folder / 'mariadbd.sock'}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
                "--skip-name-resolve",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        wait_until_up(self.process, self.url.rsplit("/", 1)[0], "MariaDB", self.log)

    def log(self) -> str:
        return (self.folder / "mariadbd.log").read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the server is gone at once (connections reset)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def freeze(self) -> None:
        """SIGSTOP: the server still accepts TCP connections but never answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=30)


class PrivatePostgreSQL:
    """A PostgreSQL server of the test's own, in a temporary folder, on a free port."""

    def __init__(self) -> None:
        # Not under pytest's tmp_path: its folders are root's alone (0700), and the server
        # runs as another user (see _as_server_user)
        self.folder = Path(tempfile.mkdtemp(prefix="labvault-postgresql-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/labvault"
        self.process: subprocess.Popen[bytes] | None = None

    def install(self) -> None:
        if POSTGRESQL_BIN is None:
            reason = (
                "no PostgreSQL server here (/usr/lib/postgresql/*/bin): apt-get install postgresql"
            )
            if "postgresql" in REQUIRED:
                pytest.fail(f"{reason} (required by LABVAULT_TEST_DATABASES_REQUIRED)")
            pytest.skip(reason)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        done = subprocess.run(
            [
                POSTGRESQL_BIN / "initdb",
                f"--pgdata={self.data}",
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.folder,
            **self._as_server_user(),
        )
        assert done.returncode == 0, f"initdb failed:\n{done.stdout}{done.stderr}"
        self.start()
        engine = sa.create_engine(self.url.rsplit("/", 1)[0] + "/postgres")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("CREATE DATABASE labvault ENCODING 'UTF8'")
        engine.dispose()

    @staticmethod
    def _as_server_user() -> dict[str, str]:
        # postgres refuses to run as root (CI runs as root): there, run it as the
        # "postgres" user, set by Popen itself so that the process is the server's (a
        # runuser in between would take the signals instead)
        return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}

    def start(self) -> None:
        assert POSTGRESQL_BIN is not None
        log = open(self.folder / "postgres.log", "ab")  # noqa: SIM115 (the server's, till it ends)
        self.process = subprocess.Popen(
            [
                POSTGRESQL_BIN / "postgres",
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.folder}",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=30",
                "-c",
                "shared_buffers=16MB",
            ],
            stdout=log,
            stderr=log,
            cwd=self.folder,
            **self._as_server_user(),
        )
        log.close()
        url = self.url.rsplit("/", 1)[0] + "/postgres"
        wait_until_up(self.process, url, "PostgreSQL", self.log)

    def log(self) -> str:
        return (self.folder / "postgres.log").read_text(errors="replace")

    def _children(self) -> list[int]:
        """The postmaster's children: each connection is served by a process of its own
        (in a process group of its own), so the server is all of them."""
        assert self.process is not None
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:  # ended meanwhile
                continue
            if int(fields[1]) == self.process.pid:
                children.append(int(stat.parent.name))
        return children

    def _signal_children(self, signum: int) -> None:
        for pid in self._children():
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                os.kill(pid, signum)

    def kill(self) -> None:
        """SIGKILL: the server is gone at once (connections reset)."""
        assert self.process is not None
        self.freeze()  # the postmaster starts no backend while its children are listed
        self._signal_children(signal.SIGKILL)
        self.process.kill()
        self.process.wait(timeout=30)

    def freeze(self) -> None:
        """SIGSTOP: the server still accepts TCP connections but never answers. The
        postmaster first, so that it starts no backend while its children stop."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self._signal_children(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self._signal_children(signal.SIGCONT)
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()  # SIGKILL ends stopped processes too
        shutil.rmtree(self.folder, ignore_errors=True)


class SmallDisk:
    """A tmpfs of ``size`` bytes mounted on a folder (needs root), unmounted afterwards."""

    def __init__(self, folder: Path, size: int) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, (
            f"cannot mount a small tmpfs to fill up (this test needs root): {done.stderr}"
        )

    def fill(self, leave: int = 0) -> None:
        """Fill the disk, leaving about ``leave`` bytes free."""
        stat = os.statvfs(self.folder)
        free = stat.f_bavail * stat.f_frsize
        with open(self.folder / ".filler", "wb") as filler:
            filler.write(b"\0" * max(0, free - leave))

    def files(self) -> list[str]:
        return sorted(
            str(path.relative_to(self.folder))
            for path in self.folder.rglob("*")
            if path.is_file() and path.name != ".filler"
        )

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.folder)], check=False)
