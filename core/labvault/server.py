"""Running the app under gunicorn from `labvault serve`: :class:`Worker` is gunicorn's
gthread worker with the time limits of :mod:`labvault.slow_clients`.

gunicorn refuses some requests before the app sees them (a request line over 4094
bytes: 414, headers too large: 431, a malformed request: 400); `labvault serve` has it
answer those in labvault's JSON error shape too, so that every error a client gets is
one it can read the same way.

Its access log never shows a secret a URL carries: the values of query parameters such
as ``code``, ``state`` and ``*token`` (sign-in callbacks, links sent by mail) are
redacted in the request line, the query string and the referrer.

gunicorn's own ``GUNICORN_CMD_ARGS`` is read as gunicorn's command line reads it
(:func:`gunicorn_settings`), but gunicorn's ``BaseApplication`` ignores it, so it is
merged here: `labvault serve`'s defaults, then ``GUNICORN_CMD_ARGS``, then the options
given to `labvault serve` (as gunicorn's command line beats ``GUNICORN_CMD_ARGS``). The
settings that keep labvault's protections (:data:`RESERVED`) are refused there.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import gunicorn.util
from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.serving import WSGIRequestHandler

from labvault.errors import LabvaultError
from labvault.slow_clients import HEADER_TIMEOUT, IDLE_TIMEOUT, HeaderDeadlines, json_error

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


_OWN_WORKER = (
    "labvault serve runs its own worker (labvault.server.Worker), which keeps the limits "
    "for slow clients: use --threads, --header-timeout and --idle-timeout"
)
_FORWARDED = (
    "labvault decides which forwarded headers to trust (PROXY_HOPS and PROXY_HEADERS in "
    "config.py); gunicorn trusts none"
)
_TOO_LATE = "has no effect under labvault serve, which builds the app before gunicorn starts"

#: gunicorn settings that GUNICORN_CMD_ARGS may not set, and why.
RESERVED: dict[str, str] = {
    "worker_class": _OWN_WORKER,
    "logger_class": "labvault's logger keeps the secrets URLs carry out of the access log",
    "forwarded_allow_ips": _FORWARDED,
    "forwarder_headers": _FORWARDED,
    "config": "labvault serve reads no gunicorn config file: put gunicorn's settings in "
    "GUNICORN_CMD_ARGS itself",
    "paste": "labvault serve serves labvault",
    "raw_paste_global_conf": "labvault serve serves labvault",
    "raw_env": "set environment variables before labvault serve starts: it reads its "
    "settings before gunicorn does",
    "chdir": _TOO_LATE,
    "pythonpath": _TOO_LATE,
    "reload": _TOO_LATE + " (a restarted worker runs the same code)",
    "check_config": _TOO_LATE + " (labvault config check checks labvault's settings)",
    "print_config": _TOO_LATE,
}


@dataclass
class GunicornSettings:
    """gunicorn's settings for `labvault serve`, in the order they are applied."""

    values: dict[str, Any]
    #: The settings GUNICORN_CMD_ARGS sets (as written there), that an option does not.
    from_environment: dict[str, Any] = field(default_factory=dict)
    #: Settings of GUNICORN_CMD_ARGS that an option given to `labvault serve` overrides.
    overridden: list[str] = field(default_factory=list)


def _flag(config: Config, name: str) -> str:
    """gunicorn's command-line flag of setting ``name`` (its long form)."""
    return str(config.settings[name].cli[-1])


def _refuse(message: str) -> NoReturn:
    raise LabvaultError(f"GUNICORN_CMD_ARGS: {message}")


def _parse_cmd_args(config: Config, text: str) -> dict[str, Any]:
    """The settings ``text`` (gunicorn's command-line syntax) sets, each checked by gunicorn."""
    try:
        words = shlex.split(text)
    except ValueError as error:
        _refuse(f"cannot be split into arguments: {error}")
    parser = config.parser()
    parser.error = _refuse  # argparse would print its usage and exit
    arguments = vars(parser.parse_args(words))
    if arguments.pop("args", None):
        _refuse(f"names an app ({' '.join(words)}): labvault serve serves labvault")
    found = {name: value for name, value in arguments.items() if value is not None}
    for name, value in found.items():
        if name in RESERVED:
            _refuse(f"{_flag(config, name)} cannot be set here: {RESERVED[name]}")
        try:
            config.set(name, value)
        except (ValueError, TypeError) as error:
            _refuse(f"{_flag(config, name)} {value}: {error}")
        if name in ("workers", "threads") and config.settings[name].get() < 1:
            _refuse(f"{_flag(config, name)} must be at least 1")
    return found


def gunicorn_settings(
    defaults: Mapping[str, Any], given: Mapping[str, Any], cmd_args: str | None
) -> GunicornSettings:
    """`labvault serve`'s ``defaults``, then ``cmd_args`` (GUNICORN_CMD_ARGS), then the
    options ``given`` on its command line: each later one wins. A LabvaultError names an
    argument of ``cmd_args`` that gunicorn does not take or that is :data:`RESERVED`."""
    from_environment = _parse_cmd_args(Config(), cmd_args) if cmd_args else {}
    overridden = [name for name in from_environment if name in given]
    taken = {name: value for name, value in from_environment.items() if name not in given}
    return GunicornSettings({**defaults, **taken, **given}, taken, overridden)


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


class Worker(ThreadWorker):
    """gunicorn's gthread worker, with ``header_timeout`` and ``idle_timeout`` (seconds)
    for slow clients; `labvault serve` makes a subclass with the values of its options.
    Run by hand: ``gunicorn -k labvault.server.Worker --threads 4 labvault.wsgi:app``."""

    header_timeout = HEADER_TIMEOUT
    idle_timeout = IDLE_TIMEOUT

    def init_process(self) -> None:
        # the watching thread belongs to this process (threads do not survive a fork)
        self.header_deadlines = HeaderDeadlines(self.header_timeout)
        super().init_process()

    def handle(self, conn: Any) -> Any:
        self.header_deadlines.arm(conn)
        try:
            return super().handle(conn)
        finally:
            self.header_deadlines.disarm(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        # gunicorn has read the request line and headers: from here on, each read of the
        # body and each write of the answer may wait idle_timeout
        self.header_deadlines.disarm(conn)
        conn.sock.settimeout(self.idle_timeout)
        try:
            return super().handle_request(req, conn)
        except TimeoutError:
            self.log.warning(
                "%s sent or read nothing for %g s: connection closed",
                conn.client[0] if isinstance(conn.client, tuple) else conn.client,
                self.idle_timeout,
            )
            return False  # the connection is closed, not kept alive


def worker_class(*, header_timeout: float, idle_timeout: float) -> type[Worker]:
    """:class:`Worker` with these timeouts (gunicorn takes a class, not an instance)."""
    return type(
        "Worker", (Worker,), {"header_timeout": header_timeout, "idle_timeout": idle_timeout}
    )


def _post_fork(_server: Any, _worker: Any, app: Flask) -> None:
    state = app.extensions["labvault"]
    # connections must not be shared across processes: each worker opens its own
    state.database.engine.dispose(close=False)
    # each worker runs jobs (threads do not survive a fork), those left unfinished first
    state.jobs.runner.start()


def _write_json_error(sock: Any, status: int, reason: str, message: str) -> None:
    """gunicorn's ``util.write_error``, with a JSON body instead of an HTML page."""
    gunicorn.util.write_nonblock(sock, json_error(status, reason, message))


#: What `labvault serve` sets unless GUNICORN_CMD_ARGS or an option says otherwise.
DEFAULTS: dict[str, Any] = {
    "accesslog": "-",
    # gunicorn >= 25 otherwise opens a control socket at one fixed path per user
    # ($XDG_RUNTIME_DIR or ~/.gunicorn), so two servers on a host would fight over it
    "control_socket_disable": True,
}


def run_gunicorn(
    app: Flask,
    settings: Mapping[str, Any],
    *,
    header_timeout: float,
    idle_timeout: float,
) -> None:
    """Serve ``app`` with gunicorn's ``settings`` (:func:`gunicorn_settings`) and
    :class:`Worker`, with these timeouts for slow clients."""
    gunicorn.util.write_error = _write_json_error  # gunicorn has no setting for it
    _Gunicorn(
        app,
        {
            **DEFAULTS,
            **settings,
            "worker_class": worker_class(header_timeout=header_timeout, idle_timeout=idle_timeout),
            "post_fork": lambda server, worker: _post_fork(server, worker, app),
            "logger_class": RedactingLogger,
            # gunicorn would take X-Forwarded-Proto (and SCRIPT_NAME) from any process on
            # this host; labvault decides which forwarded headers to trust (PROXY_HOPS)
            "forwarded_allow_ips": "",
        },
    ).run()
