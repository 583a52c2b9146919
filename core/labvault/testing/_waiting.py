"""Waiting for something to happen, never for a fixed time: :func:`wait_until` polls a
condition, :func:`wait_for_text` a growing text (a log), :func:`wait_for_port` a port;
:func:`within` and :func:`unavailable_within` bound how long a block takes."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from labvault.plugin import Unavailable

T = TypeVar("T")

#: How often a condition is looked at again: short beside what tests wait for.
POLL_SECONDS = 0.02


def wait_until(
    condition: Callable[[], T],
    timeout: float = 10.0,
    *,
    message: str | Callable[[], str] = "",
    interval: float = POLL_SECONDS,
) -> T:
    """Call ``condition`` until it returns something true, and return that.

    Fails the test (``AssertionError``) when ``timeout`` seconds pass first, with
    ``message`` (a text, or a function giving one then: the end of a server's log).
    An exception ``condition`` raises is not caught: what cannot come true must fail at
    once, e.g. ``assert process.poll() is None`` inside it.
    """
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            said = message() if callable(message) else message
            raise AssertionError(f"not so after {timeout:g} s: {said or condition}")
        time.sleep(interval)
    return value


def wait_for_text(read: Callable[[], str], text: str, timeout: float = 10.0) -> str:
    """Read ``read()`` (a log, a page) until it contains ``text``; returns what was read
    then. Fails after ``timeout`` seconds, showing what there was."""
    found: list[str] = [""]

    def contains() -> bool:
        found[0] = read()
        return text in found[0]

    wait_until(contains, timeout, message=lambda: f"{text!r} not in:\n{found[0]}")
    return found[0]


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host``:``port`` now."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    """Until something accepts TCP connections on ``host``:``port`` (a peer just
    started); fails after ``timeout`` seconds."""
    wait_until(lambda: port_is_open(port, host), timeout, message=f"nothing on {host}:{port}")


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """The ``with`` block must end (returning or raising) within ``seconds``: a call
    that must not wait for a timeout. Fails the test otherwise, saying how long it took."""
    started = time.monotonic()
    try:
        yield
    finally:
        took = time.monotonic() - started
        assert took < seconds, f"took {took:.1f} s, more than {seconds:g} s"


@contextlib.contextmanager
def unavailable_within(
    seconds: float, *, unchained: bool = False
) -> Iterator[pytest.ExceptionInfo[Unavailable]]:
    """The ``with`` block must raise :class:`~labvault.plugin.Unavailable` within
    ``seconds`` (a peer that is away, silent or cut off: the plugin's timeouts hold);
    gives the ``pytest.ExceptionInfo`` to read its message.

    ``unchained``: the library's own exception must not be chained to it (``raise ...
    from None``), so that the log shows the plugin's message without the library's
    traceback.
    """
    with within(seconds), pytest.raises(Unavailable) as raised:
        yield raised
    if unchained:
        error = raised.value
        assert error.__cause__ is None and error.__suppress_context__, repr(error.__context__)
