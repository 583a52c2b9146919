"""Slow clients under `labvault serve`: a connection whose request headers have not all
arrived --header-timeout seconds after a worker thread took it up is answered 408 and
closed, so clients dripping header lines hold no thread past it and a normal request is
answered meanwhile; a client that sends nothing of its body (or reads nothing of the
answer) for --idle-timeout seconds is let go; a large upload that keeps coming takes as
long as it takes.

The reverse proxy in front is the real defence (README, "Deploying"): it reads whole
requests before passing them on. Slow clients do not differ between databases: these
tests run on SQLite.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from typing import Any

import pytest

from tests.test_concurrency import multipart_file
from tests.test_files import new_item

HEADER_TIMEOUT = 1.0
#: How late an answer may come on a loaded test machine, beyond the bound it keeps.
MARGIN = 1.5


@pytest.fixture
def labvault_database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'labvault.db'}"


def port_of(served: Any) -> int:
    return int(served.base_url.rsplit(":", 1)[1])


class DrippingClient(threading.Thread):
    """A connection that sends a request line, then one header line every 0.2 s, as long
    as the server keeps it open; notes when it was closed and what the server said."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.opened = time.monotonic()
        self.answer = b""
        self.closed_after: float | None = None

    def run(self) -> None:
        self.sock.settimeout(0.2)
        try:
            self.sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: labvault\r\n")
            while time.monotonic() - self.opened < 30:
                self.sock.sendall(b"X-Drip: 1\r\n")
                try:
                    received = self.sock.recv(4096)
                except TimeoutError:
                    continue
                self.answer += received
                if not received:
                    break
        except OSError:  # reset while sending: closed by the server too
            pass
        self.closed_after = time.monotonic() - self.opened
        self.sock.close()


def timed_get(port: int, path: str) -> tuple[int, float]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", path)
    status = connection.getresponse().status
    connection.close()
    return status, time.monotonic() - started


@pytest.fixture
def served(labvault_serve: Any) -> Any:
    """One worker with two threads: two dripping clients would take all it has."""
    return labvault_serve(
        workers=1, serve_options=["--threads", "2", "--header-timeout", str(HEADER_TIMEOUT)]
    )


def test_dripping_headers_hold_no_worker_past_the_header_timeout(served):
    port = port_of(served)
    drippers = [DrippingClient(port) for _ in range(2)]  # as many as there are threads
    for dripper in drippers:
        dripper.start()
    time.sleep(0.3)

    status, took = timed_get(port, "/health/live")
    for dripper in drippers:
        dripper.join(timeout=30)

    assert status == 200
    assert took < HEADER_TIMEOUT + MARGIN, f"a normal request waited {took:.1f} s"
    for dripper in drippers:
        assert dripper.closed_after is not None
        assert dripper.closed_after < HEADER_TIMEOUT + MARGIN, dripper.closed_after
        assert dripper.answer.startswith(b"HTTP/1.1 408 "), dripper.answer
        assert b'"code": 408' in dripper.answer
    assert "Traceback" not in served.log()


def test_a_body_that_stops_coming_is_let_go_after_the_idle_timeout(labvault_serve):
    served = labvault_serve(workers=1, serve_options=["--threads", "1", "--idle-timeout", "1"])
    connection = http.client.HTTPConnection("127.0.0.1", port_of(served), timeout=30)
    connection.putrequest("POST", "/auth/refresh")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", "100")
    connection.endheaders()
    connection.send(b'{"refresh_token": "')  # and then nothing more
    started = time.monotonic()

    answer = connection.getresponse()
    took = time.monotonic() - started

    assert answer.status == 400
    assert json.loads(answer.read())["code"] == 400
    assert took < 1 + MARGIN, f"the stalled body held the thread {took:.1f} s"
    assert timed_get(port_of(served), "/health/live")[0] == 200
    assert "Traceback" not in served.log()


def test_a_large_upload_may_take_longer_than_both_timeouts(
    labvault_make_app, labvault_make_user, labvault_serve
):
    app = labvault_make_app()
    user = labvault_make_user(app)
    refcode = new_item(app.test_client(), user)
    served = labvault_serve(
        workers=1, serve_options=["--header-timeout", "1", "--idle-timeout", "1"]
    )
    body, headers = multipart_file("slow.bin", os.urandom(4 * 1024 * 1024))

    connection = http.client.HTTPConnection("127.0.0.1", port_of(served), timeout=30)
    connection.putrequest("POST", f"/items/{refcode}/files")
    for name, value in {**headers, **user.headers, "Content-Length": str(len(body))}.items():
        connection.putheader(name, value)
    connection.endheaders()
    started = time.monotonic()
    pieces = 12
    for n in range(pieces):  # 3 s in all, never idle for a second
        connection.send(body[n * len(body) // pieces : (n + 1) * len(body) // pieces])
        time.sleep(0.25)
    answer = connection.getresponse()

    assert time.monotonic() - started > 2.5
    assert answer.status == 201, answer.read()
    assert json.loads(answer.read())["size"] == 4 * 1024 * 1024
