"""A real server for a test: ``labvault serve`` (gunicorn) on a free loopback port, and
waiting until a server answers ``/health/ready``."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labvault.testing._waiting import POLL_SECONDS, wait_until

#: How long a server may take to answer ``/health/ready`` (gunicorn, then the app's
#: startup in each worker, on a busy machine).
READY_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_ready(
    base_url: str,
    process: subprocess.Popen[Any],
    log: Callable[[], str],
    timeout: float = READY_TIMEOUT,
) -> None:
    """Until the labvault server ``process`` started at ``base_url`` answers
    ``/health/ready`` with 200. Fails the test, with ``log()``, if the process ends first
    or ``timeout`` seconds pass."""

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"labvault serve exited with {process.returncode}:\n{log()}")
        try:
            with urllib.request.urlopen(base_url + "/health/ready", timeout=5) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    try:
        wait_until(ready, timeout, interval=POLL_SECONDS)
    except AssertionError:
        pytest.fail(f"labvault serve not ready after {timeout:g} s:\n{log()}")


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


@pytest.fixture
def labvault_serve(
    tmp_path: Path, labvault_settings: dict[str, Any]
) -> Iterator[Callable[..., ServedApp]]:
    """Factory: ``labvault_serve(workers=2, env={...}, serve_options=[...], **settings)``
    -> a running server (``workers=None``: no ``--workers``, `labvault serve`'s default or
    ``GUNICORN_CMD_ARGS``'s).

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
        workers: int | None = 2,
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
                    *(["--workers", str(workers)] if workers is not None else []),
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
        wait_until_ready(base_url, process, server.log)
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
