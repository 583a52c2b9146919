"""The test kit plugin authors use (``labvault.testing``): each helper does what its
docstring says, both when what it waits for comes and when it does not."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import labvault.testing
import pytest
from labvault.db import utcnow
from labvault.plugin import Unavailable
from labvault.testing import (
    Clock,
    free_port,
    port_is_open,
    unavailable_within,
    wait_for_port,
    wait_for_text,
    wait_until,
    wait_until_ready,
    within,
)


def later(seconds: float, action) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_everything_public_is_exported_documented_and_from_a_private_module():
    for name in labvault.testing.__all__:
        value = getattr(labvault.testing, name)
        if callable(value):
            assert (value.__doc__ or "").strip(), f"{name} has no docstring"
            module = getattr(value, "__module__", "")
            assert module.startswith("labvault.testing._"), (name, module)
    modules = sorted(p.stem for p in Path(labvault.testing.__file__).parent.glob("_*.py"))
    assert modules == [
        "__init__",
        "_apps",
        "_backups",
        "_browser",
        "_clock",
        "_databases",
        "_file_sources",
        "_file_stores",
        "_serving",
        "_waiting",
    ]


def test_wait_until_returns_the_first_true_value_once_it_comes():
    found: list[int] = []
    later(0.2, lambda: found.append(7))
    started = time.monotonic()
    assert wait_until(lambda: found and found[0], 5) == 7
    assert 0.15 < time.monotonic() - started < 2


def test_wait_until_fails_after_its_timeout_with_its_message():
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"not so after 0\.3 s: the log says nothing"):
        wait_until(lambda: False, 0.3, message=lambda: "the log says nothing")
    assert 0.3 <= time.monotonic() - started < 2


def test_wait_until_lets_an_error_of_its_condition_through_at_once():
    def ended() -> bool:
        raise RuntimeError("the peer ended")

    with within(1), pytest.raises(RuntimeError, match="the peer ended"):
        wait_until(ended, 30)


def test_wait_for_text_reads_until_the_text_is_there(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("starting\n")
    later(0.2, lambda: log.write_text("starting\nready\n"))
    assert wait_for_text(log.read_text, "ready", 5) == "starting\nready\n"

    with pytest.raises(AssertionError, match="'stopped' not in:\nstarting\nready"):
        wait_for_text(log.read_text, "stopped", 0.2)


def test_free_port_is_free_and_wait_for_port_sees_it_open():
    port = free_port()
    assert not port_is_open(port)
    with pytest.raises(AssertionError, match=f"nothing on 127.0.0.1:{port}"):
        wait_for_port(port, timeout=0.2)

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        later(0.2, lambda: listener.listen(1))
        wait_for_port(port, timeout=5)
        assert port_is_open(port)


def test_within_fails_a_block_that_takes_longer():
    with within(1):
        time.sleep(0.01)
    with pytest.raises(AssertionError, match=r"more than 0\.1 s"), within(0.1):
        time.sleep(0.2)


def test_unavailable_within_wants_unavailable_in_time_and_unchained_if_asked():
    with unavailable_within(1) as raised:
        raise Unavailable("cannot reach the store")
    assert str(raised.value) == "cannot reach the store"

    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"), unavailable_within(1):
        pass
    with pytest.raises(AssertionError, match=r"more than 0\.1 s"), unavailable_within(0.1):
        time.sleep(0.2)
        raise Unavailable("too late")

    with unavailable_within(1, unchained=True):
        try:
            raise OSError("the library's own error")
        except OSError:
            raise Unavailable("said plainly") from None
    with pytest.raises(AssertionError, match="the library's own error"):  # noqa: SIM117
        with unavailable_within(1, unchained=True):
            try:
                raise OSError("the library's own error")
            except OSError as error:
                raise Unavailable("with the library's traceback") from error


def test_wait_until_ready_waits_for_health_and_fails_when_the_process_ends(tmp_path):
    port = free_port()
    (tmp_path / "health" / "ready").parent.mkdir()
    (tmp_path / "health" / "ready").write_text("{}")
    server = subprocess.Popen(
        [sys.executable, "-c", SLOW_SERVER, str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", server, lambda: "", timeout=20)
        assert port_is_open(port)
    finally:
        server.kill()
        server.wait()

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    with pytest.raises(pytest.fail.Exception, match="exited with 0:\nits log"):
        wait_until_ready(f"http://127.0.0.1:{free_port()}", ended, lambda: "its log")


#: A static server that starts listening only after a while, as gunicorn does.
SLOW_SERVER = """
import http.server, sys, time
time.sleep(0.3)
http.server.ThreadingHTTPServer(
    ("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler
).serve_forever()
"""


def test_the_clock_moves_the_apps_time_forward_and_keeps_it_running(labvault_clock: Clock):
    before = utcnow()
    monotonic = time.monotonic()
    labvault_clock.advance(dt.timedelta(hours=2))
    moved = utcnow()
    assert dt.timedelta(hours=2) <= moved - before < dt.timedelta(hours=2, seconds=5)
    assert abs(labvault_clock.now() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=1)
    assert time.monotonic() - monotonic < 5  # timeouts are left alone
    time.sleep(0.05)
    assert utcnow() >= moved  # it runs on
    with pytest.raises(AssertionError, match="only moves forward"):
        labvault_clock.advance(-1)


def test_a_user_of_the_kit_gets_a_signed_in_token(labvault_make_app, labvault_make_user):
    app = labvault_make_app()
    alice = labvault_make_user(app, role="manager")
    answer = app.test_client().get("/users/me", headers=alice.headers)
    assert answer.status_code == 200
    assert (answer.get_json()["email"], answer.get_json()["role"]) == (alice.email, "manager")
