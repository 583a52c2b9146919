"""Leases held by a process: who holds one (``host:pid``), whether that process is gone,
and renewing a lease in the background while work goes on.

A backup strategy's lock and a job's claim are leases: taken for a while, renewed by
their holder, and taken over once they lapse, or at once when their holder was a
process of this host that no longer runs (killed, or its machine's worker restarted).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def holder() -> str:
    """This process, as a lease names its holder: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_gone(name: str | None) -> bool:
    """The lease's holder was a process of this host that no longer runs."""
    host, _, pid = (name or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed process its parent has not reaped yet (Linux) is gone too
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


@contextmanager
def renewing(every: float, renew: Callable[[], None], name: str) -> Iterator[None]:
    """Call ``renew`` every ``every`` seconds on a thread of its own (named ``name``)
    while the ``with`` block runs; ``renew`` handles its own errors."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            renew()

    renewer = threading.Thread(target=loop, name=name, daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
