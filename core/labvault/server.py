"""Running the app under gunicorn from `labvault serve`.

gunicorn refuses some requests before the app sees them (a request line over 4094
bytes: 414, headers too large: 431, a malformed request: 400); `labvault serve` has it
answer those in labvault's JSON error shape too, so that every error a client gets is
one it can read the same way.

Its access log never shows a secret a URL carries: the values of query parameters such
as ``code``, ``state`` and ``*token`` (sign-in callbacks, links sent by mail) are
redacted in the request line, the query string and the referrer.
"""

from __future__ import annotations

import json
import re
from typing import Any

import gunicorn.util
from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from werkzeug.serving import WSGIRequestHandler

#: Query parameters whose values no log line shows.
_SECRET_PARAMETERS = re.compile(
    r"(?i)([?&;](?:code|state|nonce|key|secret|password|code_verifier|[a-z_]*token)=)[^&;#\s]*"
)
REDACTED = "[redacted]"


def redact_url(text: str) -> str:
    """``text`` (a URL, a request line) with the values of secret query parameters hidden."""
    return _SECRET_PARAMETERS.sub(rf"\1{REDACTED}", text)


class RedactingLogger(Logger):
    """gunicorn's logger, whose access log lines hide the secrets URLs carry."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name in ("r", "f"):
            if isinstance(atoms.get(name), str):
                atoms[name] = redact_url(atoms[name])
        if atoms.get("q"):
            atoms["q"] = redact_url("?" + atoms["q"])[1:]
        return atoms


class RedactingRequestHandler(WSGIRequestHandler):
    """The development server's request handler, whose log lines hide the same secrets."""

    def log(self, type: str, message: str, *args: Any) -> None:
        args = tuple(redact_url(arg) if isinstance(arg, str) else arg for arg in args)
        super().log(type, message, *args)


class _Gunicorn(BaseApplication):
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # newer gunicorn settings are skipped on older ones
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def _post_fork(_server: Any, _worker: Any, app: Flask) -> None:
    # connections must not be shared across processes: each worker opens its own
    app.extensions["labvault"].database.engine.dispose(close=False)


def _write_json_error(sock: Any, status: int, reason: str, message: str) -> None:
    """gunicorn's ``util.write_error``, with a JSON body instead of an HTML page."""
    body = json.dumps(
        {"code": status, "status": reason, "message": message or reason}, ensure_ascii=True
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    gunicorn.util.write_nonblock(sock, head + body)


def run_gunicorn(app: Flask, *, bind: str, workers: int) -> None:
    gunicorn.util.write_error = _write_json_error  # gunicorn has no setting for it
    _Gunicorn(
        app,
        {
            "bind": bind,
            "workers": workers,
            "post_fork": lambda server, worker: _post_fork(server, worker, app),
            "accesslog": "-",
            "logger_class": RedactingLogger,
            # gunicorn >= 25 otherwise opens a control socket at one fixed path per user
            # ($XDG_RUNTIME_DIR or ~/.gunicorn), so two servers on a host would fight over it
            "control_socket_disable": True,
            # gunicorn would take X-Forwarded-Proto (and SCRIPT_NAME) from any process on
            # this host; labvault decides which forwarded headers to trust (PROXY_HOPS)
            "forwarded_allow_ips": "",
        },
    ).run()
