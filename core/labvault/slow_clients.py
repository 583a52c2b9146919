"""Time limits for slow clients, kept by the gunicorn worker of `labvault serve`
(:class:`labvault.server.Worker`, gunicorn's gthread worker).

gunicorn reads a request's line and headers with no time limit of its own: a sync
worker blocks in the read until its arbiter kills it (``timeout``, 30 s), a gthread
worker's thread waits as long as bytes keep dripping in. Two connections sending a
header line now and then held both sync workers of a server, and a normal request
waited 30 s. The worker

- lets a connection hold a thread for at most ``header_timeout`` seconds while its
  request line and headers arrive; one still sending them then is answered 408 and
  closed;
- lets a request's body and answer wait at most ``idle_timeout`` seconds for each read
  or write: a client that sends nothing of its body, or reads nothing of the answer, for
  that long is let go, while a large upload that keeps coming takes as long as it takes
  (the sync worker's arbiter cut every request at 30 s, uploads too);
- serves ``threads`` requests at once in each process, and waits for a new
  connection's first bytes without holding a thread (gunicorn's gthread).

This bounds what one slow connection holds, not how many an attacker opens: the
reverse proxy in front, which reads whole requests before passing them on, is the
defence (README, "Deploying").
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from typing import Any

#: Defaults of the serve options --header-timeout and --idle-timeout (seconds).
HEADER_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0


def json_error(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP answer closing the connection, with labvault's JSON error body."""
    body = json.dumps(
        {"code": status, "status": reason, "message": message or reason}, ensure_ascii=True
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    return head + body


class HeaderDeadlines:
    """Connections whose request headers are due, watched by one thread of the worker
    process. Past its deadline a connection is answered 408 and shut down for reading,
    which ends the wait of the thread reading it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._late = json_error(
            408,
            "Request Timeout",
            f"the request line and headers did not all arrive within {seconds:g} s",
        )
        self._due: dict[Any, float] = {}  # gunicorn's connection -> time.monotonic()
        self._changed = threading.Condition()
        threading.Thread(target=self._watch, name="header-deadlines", daemon=True).start()

    def arm(self, connection: Any) -> None:
        with self._changed:
            self._due[connection] = time.monotonic() + self.seconds
            self._changed.notify()

    def disarm(self, connection: Any) -> None:
        with self._changed:
            self._due.pop(connection, None)

    def _watch(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for connection, deadline in list(self._due.items()):
                    if deadline <= now:
                        del self._due[connection]
                        self._cut_off(connection.sock)
                self._changed.wait(min(self._due.values(), default=now + 60) - now)

    def _cut_off(self, sock: socket.socket) -> None:
        # never blocks: a client that reads nothing must not hold this thread either
        with contextlib.suppress(OSError, ValueError):  # gone already, or TLS (no flags)
            sock.send(self._late, socket.MSG_DONTWAIT)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD)
