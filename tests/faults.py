"""Peers to break on purpose: a private MariaDB server (killed, frozen, restarted) and a
small tmpfs that fills up. Never the shared database server.

A machine without mariadbd skips the MariaDB faults, unless MariaDB is required
(LABVAULT_TEST_DATABASES_REQUIRED, as in CI): then they fail, saying why. A tmpfs needs
root; without it the test fails, saying so.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from labvault.testing import free_port

from tests.conftest import REQUIRED

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"


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
        deadline = time.monotonic() + 60
        engine = sa.create_engine(self.url.rsplit("/", 1)[0], connect_args={"connect_timeout": 2})
        try:
            while True:
                try:
                    with engine.connect():
                        return
                except sa.exc.OperationalError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(
                            f"the private MariaDB did not start:\n{self.log()[-3000:]}"
                        ) from None
                    time.sleep(0.2)
        finally:
            engine.dispose()

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
